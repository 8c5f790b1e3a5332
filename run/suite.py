"""The suite: every app over one folder (`python -m apps`), and the same routing and warm apps for the DICOM node.

The folder is indexed once and each study's headers are read once to route it (`run.routing`); then each app
that got studies runs its own Holoscan graph over them, one app after another, all sharing one ModelStore, so
every model is loaded once per process and only for an app that gets a study. A study goes to every app
that accepts it; each app writes what its own entry (`python -m apps.<app>`) writes, under OUT/<app>/.

    OUT/<app>/<study folder>/...   the app's SR, SC + PNG, SEG and result.json for the study
    OUT/results.csv                one row per (study, app), with `app` and `output_dir`; one
                                   `no_matching_app` row per study no app accepts, with each app's reason
    OUT/failures.csv, OUT/run.json the whole run's (failures with the app that hit them)
"""

from __future__ import annotations

import importlib
import logging
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from time import perf_counter
from typing import NoReturn

from tqdm.contrib.logging import logging_redirect_tqdm

from apps.catalog import app_names
from dicom_in.study import InputFailure
from dicom_in.study_index import StudyIndex, index_folder, shard_of, usable_cpus
from inference.model_store import ModelError, ModelStore
from run import batch
from run.batch import BatchApplication, BatchOptions, CannotStart, begin_run
from run.ledger import RunLedger, SuiteLedger
from run.plan import RunPlan, Shard, plan_run
from run.routing import AppSelector, StudyRoute, route_study

__all__ = ["app_class", "SuiteRunner", "run_suite", "main"]

logger = logging.getLogger(__name__)


def app_class(name: str) -> type[BatchApplication]:
    """The Application class of the suite's app `name` (from apps/<name>/app.py)."""
    module = importlib.import_module(f"apps.{name}.app")
    for value in vars(module).values():
        if isinstance(value, type) and issubclass(value, BatchApplication) and value is not BatchApplication:
            if value.info.name == name:
                return value
    raise KeyError(f"apps/{name}/app.py defines no BatchApplication for {name!r}")


@dataclass
class SuiteRunner:
    """Routes studies to apps and runs each app's graph over its studies, with one warm ModelStore.

    Keep one for the life of the process (the DICOM node does): models load on an app's first study and stay.
    """

    apps: list[str]
    options: BatchOptions  # models, device, batch size, workers, progress; `output` is set per run
    store: ModelStore = field(init=False)
    selectors: list[AppSelector] = field(init=False)
    _checked: set[str] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.apps) - set(app_names()))
        if unknown:
            raise ValueError(f"unknown app(s) {unknown}; the suite has {app_names()}")
        self.store = ModelStore(self.options.models, self.options.device, optimize=self.options.optimize)
        # The rules each app's graph applies (its own, --rules merged over them): routing must agree with them.
        self.selectors = [AppSelector.for_app(app, self.options.rules) for app in self.apps]

    def warm(self, apps: list[str]) -> None:
        """Load and check the models of `apps` (once each); ModelError naming the app otherwise."""
        for app in apps:
            if app in self._checked:
                continue
            try:
                app_class(app).check_models(self.store)
            except ModelError as exc:
                raise ModelError(f"{exc} (needed by {app}; leave it out with --apps)") from exc
            self._checked.add(app)

    def route(self, index: StudyIndex, shard: Shard, progress: bool = False) -> list[StudyRoute]:
        """Route every study of `index` in this shard (headers read once per study)."""
        uids = [uid for uid in index.study_uids if shard_of(uid, shard.num_parts) == shard.part_id]
        routes = []
        with batch.progress_bar(len(uids), progress) as bar:
            bar.set_description("routing")
            for uid in uids:
                routes.append(route_study(uid, index.studies[uid], self.selectors))
                bar.update()
        return routes

    def plan(
        self, index: StudyIndex, routes: list[StudyRoute], output_root: Path, shard: Shard, resume: bool
    ) -> SuiteLedger:
        """The suite ledger with each app's plan (its studies under OUT/<app>/) and the studies no app reads."""
        ledger = SuiteLedger(
            output_root=Path(output_root),
            shard=shard,
            index_failures=list(index.failures),
            skipped_files=dict(index.skipped),
        )
        routed: dict[str, list[str]] = {app: [] for app in self.apps}
        for route in routes:
            if route.error:
                ledger.routing_failures += [InputFailure(route.study_uid, route.error, route.study_uid)]
                ledger.routing_failures += route.failures
            elif not route.apps:
                ledger.unrouted[route.study_uid] = route.summary
                ledger.routing_failures += route.failures
            for app in route.apps:
                routed[app].append(route.study_uid)
        ledger.routed = {app: uids for app, uids in routed.items() if uids}
        for app, uids in ledger.routed.items():
            app_index = StudyIndex(studies={uid: index.studies[uid] for uid in uids})
            plan = plan_run(app_index, ledger.output_root / app, shard, resume)
            info = app_class(app).info
            ledger.apps[app] = RunLedger(ledger.output_root / app, app, info.version, plan, index_failures=[])
        return ledger

    def run(self, index: StudyIndex, ledger: SuiteLedger, progress: bool = False) -> SuiteLedger:
        """Run each app's graph over its planned studies (models warmed first); the ledger records all."""
        self.warm(list(ledger.apps))
        todo = sum(len(app_ledger.plan.todo) for app_ledger in ledger.apps.values())
        batch.prepack_for_run(self.store, todo)
        with batch.progress_bar(todo, progress, unit="analysis") as bar, logging_redirect_tqdm():
            for app, app_ledger in ledger.apps.items():
                plan: RunPlan = app_ledger.plan
                app_index = StudyIndex(studies={uid: index.studies[uid] for uid in plan.todo})
                options = replace(self.options, output=app_ledger.output_root)
                cls = app_class(app)
                bar.set_description(app)
                batch.run_graph(cls(options, app_index, plan, self.store, app_ledger), bar)
        ledger.models = batch.loaded_models(self.store)
        for app_ledger in ledger.apps.values():
            app_ledger.models = ledger.models
        return ledger


def _parser():
    parser = batch.batch_parser(
        "Every msk-maps app over one folder: indexed once, each study routed to the apps whose selection "
        "accepts it, each model loaded once."
    )
    parser.add_argument(
        "--apps", nargs="+", choices=app_names(), default=app_names(), help="only these apps (default: all)"
    )
    return parser


def run_suite(argv: list[str] | None = None) -> int:
    """`python -m apps`: index, route, run the apps that got studies, write one set of run files; exit code."""
    parser = _parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    options = batch.options_from_args(parser, args)
    start = perf_counter()
    # --rules is merged over every app's rules, as `python -m apps.<app> --rules` does: narrow with --apps.
    apps = list(dict.fromkeys(args.apps))
    try:
        shard, lock, (runner, stored) = begin_run(
            options, "suite", lambda: (SuiteRunner(apps=apps, options=options), batch.stored_index(options))
        )
    except CannotStart as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with lock:
        index = stored or index_folder(options.input, processes=usable_cpus())
        routes = runner.route(index, shard, options.progress)
        ledger = runner.plan(index, routes, options.output, shard, options.resume)
        counts = {app: len(uids) for app, uids in ledger.routed.items()}
        logger.info("Routed %d studies: %s, no app %d", len(routes), counts, len(ledger.unrouted))
        try:
            runner.run(index, ledger, options.progress)
        except ModelError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        summary = ledger.finalize(perf_counter() - start)
    logger.info("suite done: %s; results in %s", summary["counts"], options.output)
    return 0


def main() -> NoReturn:
    """`python -m apps`: run the suite, then leave without tearing the interpreter down."""
    batch.exit_now(run_suite())
