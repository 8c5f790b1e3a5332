"""The batch harness every app runs under: flags, model check, index, plan, the graph, progress, run files."""

from __future__ import annotations

import argparse
import atexit
import logging
import os
import resource
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import TYPE_CHECKING, ClassVar, NoReturn, TypeVar

from holoscan.core import Application
from holoscan.schedulers import EventBasedScheduler
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from dicom_in.index_file import read_index
from dicom_in.series_selection import SelectionRules
from dicom_in.study_index import StudyIndex, index_folder, usable_cpus
from inference.model_store import ModelError, ModelStore
from run.ledger import RunFiles, RunLedger
from run.lock import OutputInUse, OutputLock, OutputNotWritable, check_writable, lock_output
from run.plan import RunPlan, Shard, plan_run, resolve_shard

if TYPE_CHECKING:
    from apps.catalog import AppInfo

__all__ = [
    "BatchOptions",
    "BatchApplication",
    "batch_parser",
    "options_from_args",
    "parse_batch_args",
    "setup_logging",
    "progress_bar",
    "open_output",
    "run_graph",
    "loaded_models",
    "prepack_for_run",
    "START_ERRORS",
    "CannotStart",
    "begin_run",
    "stored_index",
    "run_batch",
    "main",
    "exit_now",
    "holoscan_stack_limit",
]

logger = logging.getLogger(__name__)


HOLOSCAN_STACK_BYTES = 32 * 1024 * 1024
# Scheduler threads: while one study is read, earlier ones can be preprocessed, in the model and written.
# On 30 phantom studies (2 cores) 4 threads beat 3 by 7 % for onfh_mri and 2-3 % for the others, and 1
# (serial) by 1.2-1.3x.
PIPELINE_WORKERS = 4


def holoscan_stack_limit() -> None:
    """Raise this process's stack limit to the 32 MiB Holoscan wants (use as a child's preexec_fn)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
    target = HOLOSCAN_STACK_BYTES if hard == resource.RLIM_INFINITY else min(hard, HOLOSCAN_STACK_BYTES)
    resource.setrlimit(resource.RLIMIT_STACK, (max(soft, target), hard))


@dataclass(frozen=True)
class BatchOptions:
    """Everything a batch run needs to know, from flags or the MAP's HOLOSCAN_* environment."""

    input: Path
    output: Path
    models: Path
    resume: bool = False
    num_parts: int | None = None
    part_id: int | None = None
    batch_size: int | None = None  # None: the app's default_batch_size
    device: str | None = None
    progress: bool = True
    optimize: bool = True
    workers: int = PIPELINE_WORKERS
    rules: Path | None = None  # a site's selection rules, merged over the app's
    index_file: Path | None = None  # a stored index (python -m run.index) instead of scanning the input


def batch_parser(description: str) -> argparse.ArgumentParser:
    """The SDK's -i/-o/-m flags plus the batch flags, defaulting to the HOLOSCAN_*_PATH variables."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("-i", "--input", type=Path, default=os.environ.get("HOLOSCAN_INPUT_PATH"))
    parser.add_argument("-o", "--output", type=Path, default=os.environ.get("HOLOSCAN_OUTPUT_PATH"))
    parser.add_argument("-m", "--model", type=Path, default=os.environ.get("HOLOSCAN_MODEL_PATH", "models"))
    parser.add_argument("-l", "--log-level", default="INFO", type=str.upper)
    parser.add_argument("--resume", action="store_true", help="skip studies whose outputs are complete")
    parser.add_argument("--num-parts", type=int, help="split the input into N parts by StudyInstanceUID")
    parser.add_argument("--part-id", type=int, help="which part (0-based) this process does")
    parser.add_argument("--batch-size", type=int, help="images per model forward pass (default: the app's)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (logs only)")
    parser.add_argument(
        "--no-optimize", action="store_true", help="run models as exported (no TorchScript freeze/fusion)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=PIPELINE_WORKERS,
        help="scheduler threads: >1 overlaps reading, inference and writing of consecutive studies; 1 runs serially",
    )
    parser.add_argument("--rules", type=Path, help="site selection rules (JSON) merged over the app's own")
    parser.add_argument("--index", type=Path, help="read the input's study index from this file (python -m run.index)")
    return parser


def setup_logging(level: str) -> None:
    """Log lines with time, level and module; highdicom's per-module chatter only from WARNING."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # highdicom logs every module it copies at INFO: dozens of lines per output object, none of them ours.
    logging.getLogger("highdicom").setLevel(max(logging.WARNING, logging.getLogger().level))


def options_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> BatchOptions:
    """Check the parsed batch flags (parser.error on a bad one), set up logging, and gather them."""
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.input is None or args.output is None:
        parser.error("input and output are required (-i/-o or HOLOSCAN_INPUT_PATH/HOLOSCAN_OUTPUT_PATH)")
    setup_logging(args.log_level)
    return BatchOptions(
        input=args.input,
        output=args.output,
        models=args.model,
        resume=args.resume,
        num_parts=args.num_parts,
        part_id=args.part_id,
        batch_size=args.batch_size,
        device=args.device,
        progress=not args.no_progress,
        optimize=not args.no_optimize,
        workers=args.workers,
        rules=args.rules,
        index_file=args.index,
    )


def parse_batch_args(argv: list[str], description: str) -> BatchOptions:
    """Parse the SDK's -i/-o/-m flags plus the batch flags; fall back to HOLOSCAN_*_PATH variables."""
    parser = batch_parser(description)
    return options_from_args(parser, parser.parse_args(argv))


class BatchApplication(Application):
    """An SDK Application that knows its run: options, index, plan, models and ledger, set before run()."""

    # Not `name`/`version`/`options`: those are Holoscan Application properties.
    info: ClassVar[AppInfo]  # the app's name, version and models (apps.catalog)
    default_batch_size: ClassVar[int] = 16  # images per forward pass when --batch-size is not given

    @classmethod
    def check_models(cls, store: ModelStore) -> None:
        """Load every model the app needs and check its contract; raises ModelError (the run does not start)."""
        store.get_all(cls.info.models)

    @property
    def selection_rules(self) -> SelectionRules:
        """The app's selection rules with --rules merged over them (checked when the run starts)."""
        return SelectionRules.load(self.info.selection_rules, self.run_options.rules)

    @property
    def batch_size(self) -> int:
        """Images per model forward pass: --batch-size, else the app's default."""
        return self.run_options.batch_size or self.default_batch_size

    def __init__(
        self,
        options: BatchOptions,
        index: StudyIndex,
        plan: RunPlan,
        model_store: ModelStore,
        ledger: RunLedger,
    ) -> None:
        super().__init__([sys.executable, sys.argv[0]])
        self.run_options = options
        self.index = index
        self.plan = plan
        self.model_store = model_store
        self.ledger = ledger


def progress_bar(total: int, enabled: bool, unit: str = "study") -> tqdm:
    """A studies/s progress bar (stderr)."""
    return tqdm(total=total, unit=unit, disable=not enabled, file=sys.stderr, dynamic_ncols=True)


def open_output(options: BatchOptions, shard: Shard, purpose: str = "run") -> OutputLock:
    """Check that OUT can be written, lock it for this shard, and clear what a killed run of it left half-written.

    Raises OutputNotWritable or OutputInUse (one line each) before any work is done.
    """
    check_writable(options.output)
    lock = lock_output(options.output, shard, purpose)
    RunFiles(options.output, shard).clear_partials()
    return lock


def run_graph(app: BatchApplication, bar: tqdm | None = None) -> None:
    """Run one app's graph over its planned studies (pipelined on `workers` threads), ticking `bar` per study."""
    if not app.plan.todo:
        return
    # Holoscan's own scheduler chatter is noise in a batch log; HOLOSCAN_LOG_LEVEL=INFO brings it back.
    os.environ.setdefault("HOLOSCAN_LOG_LEVEL", "ERROR")
    if app.run_options.workers > 1:
        app.scheduler(EventBasedScheduler(app, name="study_pipeline", worker_thread_number=app.run_options.workers))
    if bar is not None:
        app.ledger.on_study = bar.update
    app.run()


def prepack_for_run(store: ModelStore, analyses: int) -> None:
    """MKL-DNN weights for a run of more than one analysis; a process per study does better without (the outputs
    are the same either way: see ModelStore.convert_to_mkldnn)."""
    if analyses > 1:
        store.convert_to_mkldnn()


def loaded_models(store: ModelStore) -> dict[str, dict[str, str]]:
    """run.json's models: name -> version, sha256, path of every model loaded so far."""
    return {m.name: {"version": m.meta.version, "sha256": m.sha256, "path": str(m.path)} for m in store.loaded()}


START_ERRORS = (ModelError, ValueError, OutputInUse, OutputNotWritable)  # the run can't start: one line, exit 2
PreparedT = TypeVar("PreparedT")


class CannotStart(RuntimeError):
    """The run can't start (one line for stderr; exit 2): no input, bad flags, models, rules or output."""


def begin_run(
    options: BatchOptions, purpose: str, prepare: Callable[[], PreparedT]
) -> tuple[Shard, OutputLock, PreparedT]:
    """Check the input, resolve the shard, check and lock OUT, then `prepare()` (models, rules); CannotStart if any
    of it fails, with the lock released. The caller releases the returned lock when the run ends."""
    if not options.input.exists():
        raise CannotStart(f"input {options.input} does not exist")
    lock = None
    try:
        shard = resolve_shard(options.num_parts, options.part_id)
        lock = open_output(options, shard, purpose)
        return shard, lock, prepare()
    except START_ERRORS as exc:
        if lock is not None:
            lock.release()
        raise CannotStart(str(exc)) from exc


def stored_index(options: BatchOptions) -> StudyIndex | None:
    """The input's study index read from --index (IndexFileError, one line, if it does not fit the input); None
    when the run scans the input itself."""
    if options.index_file is None:
        return None
    index = read_index(options.index_file, options.input)
    logger.info("Study index read from %s (%d studies)", options.index_file, len(index.studies))
    return index


def _checked_store(app_cls: type[BatchApplication], options: BatchOptions) -> ModelStore:
    """The app's models loaded and their contracts checked, its selection rules (with --rules) read."""
    store = ModelStore(options.models, options.device, optimize=options.optimize)
    app_cls.check_models(store)
    SelectionRules.load(app_cls.info.selection_rules, options.rules)
    return store


def run_batch(app_cls: type[BatchApplication], argv: list[str] | None = None) -> int:
    """Index, plan, check models, run the graph over the planned studies, write run files; exit code."""
    options = parse_batch_args(sys.argv[1:] if argv is None else argv, app_cls.__doc__ or app_cls.info.name)
    start = perf_counter()
    try:
        shard, lock, (store, stored) = begin_run(
            options, "run", lambda: (_checked_store(app_cls, options), stored_index(options))
        )
    except CannotStart as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with lock:
        index = stored or index_folder(options.input, processes=usable_cpus())
        plan = plan_run(index, options.output, shard, options.resume)
        prepack_for_run(store, len(plan.todo))
        ledger = RunLedger(
            output_root=options.output,
            app=app_cls.info.name,
            app_version=app_cls.info.version,
            plan=plan,
            index_failures=index.failures,
            skipped_files=index.skipped,
            models=loaded_models(store),
        )
        logger.info("%s: %d studies to do, %d files unusable", app_cls.info.name, len(plan.todo), len(index.failures))
        with progress_bar(len(plan.todo), options.progress) as bar, logging_redirect_tqdm():
            run_graph(app_cls(options, index, plan, store, ledger), bar)
        summary = ledger.finalize(perf_counter() - start)
    logger.info("%s done: %s; results in %s", app_cls.info.name, summary["counts"], options.output)
    return 0


def exit_now(code: int) -> NoReturn:
    """Leave without tearing the interpreter down (every output is written and closed by now)."""
    # Python's teardown of torch, MONAI, Holoscan and DALI took 1.2 s of a 7.5 s three-study olt_mri run (and of
    # every per-study launch) and gives nothing back. So: run the exit handlers (logging's flush among them),
    # flush the streams, and exit at once.
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(app_cls: type[BatchApplication]) -> NoReturn:
    """`python -m apps.<app>`: run the batch, then leave without tearing the interpreter down."""
    exit_now(run_batch(app_cls))
