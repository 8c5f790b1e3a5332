"""The batch harness every app runs under: flags, model check, index, plan, the graph, progress, run files."""

from __future__ import annotations

import argparse
import atexit
import logging
import os
import resource
import sys
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import TYPE_CHECKING, ClassVar, NoReturn

from holoscan.core import Application
from holoscan.schedulers import EventBasedScheduler
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from dicom_in.index_file import read_index
from dicom_in.series_selection import SelectionRules
from dicom_in.study_index import StudyIndex, index_folder, usable_cpus
from inference.model_store import ModelError, ModelStore
from run.ledger import RunLedger
from run.plan import RunPlan, plan_run, resolve_shard

if TYPE_CHECKING:
    from apps.catalog import AppInfo

__all__ = ["BatchOptions", "BatchApplication", "parse_batch_args", "run_batch", "main", "holoscan_stack_limit"]

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


def parse_batch_args(argv: list[str], description: str) -> BatchOptions:
    """Parse the SDK's -i/-o/-m flags plus the batch flags; fall back to HOLOSCAN_*_PATH variables."""
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
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.input is None or args.output is None:
        parser.error("input and output are required (-i/-o or HOLOSCAN_INPUT_PATH/HOLOSCAN_OUTPUT_PATH)")
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # highdicom logs every module it copies at INFO: dozens of lines per output object, none of them ours.
    logging.getLogger("highdicom").setLevel(max(logging.WARNING, logging.getLogger().level))
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


def _progress(total: int, enabled: bool) -> tqdm:
    """A studies/s progress bar (stderr)."""
    return tqdm(total=total, unit="study", disable=not enabled, file=sys.stderr, dynamic_ncols=True)


def run_batch(app_cls: type[BatchApplication], argv: list[str] | None = None) -> int:
    """Index, plan, check models, run the graph over the planned studies, write run files; exit code."""
    options = parse_batch_args(sys.argv[1:] if argv is None else argv, app_cls.__doc__ or app_cls.info.name)
    start = perf_counter()
    if not options.input.exists():
        print(f"error: input {options.input} does not exist", file=sys.stderr)
        return 2
    try:
        shard = resolve_shard(options.num_parts, options.part_id)
        stored = read_index(options.index_file, options.input) if options.index_file else None  # bad: IndexFileError
        store = ModelStore(options.models, options.device, optimize=options.optimize)
        app_cls.check_models(store)
        SelectionRules.load(app_cls.info.selection_rules, options.rules)
    except (ModelError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    options.output.mkdir(parents=True, exist_ok=True)
    for stale in options.output.glob(".*.partial"):  # left by a run killed while writing run-level files
        stale.unlink()
    if stored:
        logger.info("Study index read from %s (%d studies)", options.index_file, len(stored.studies))
    index = stored or index_folder(options.input, processes=usable_cpus())
    plan = plan_run(index, options.output, shard, options.resume)
    if len(plan.todo) > 1:  # a process per study does better without (same outputs: see convert_to_mkldnn)
        store.convert_to_mkldnn()
    ledger = RunLedger(
        output_root=options.output,
        app=app_cls.info.name,
        app_version=app_cls.info.version,
        plan=plan,
        index_failures=index.failures,
        skipped_files=index.skipped,
        models={m.name: {"version": m.meta.version, "sha256": m.sha256, "path": str(m.path)} for m in store.loaded()},
    )
    logger.info("%s: %d studies to do, %d files unusable", app_cls.info.name, len(plan.todo), len(index.failures))
    if plan.todo:
        # Holoscan's own scheduler chatter is noise in a batch log; HOLOSCAN_LOG_LEVEL=INFO brings it back.
        os.environ.setdefault("HOLOSCAN_LOG_LEVEL", "ERROR")
        app = app_cls(options, index, plan, store, ledger)
        if options.workers > 1:
            app.scheduler(EventBasedScheduler(app, name="study_pipeline", worker_thread_number=options.workers))
        with _progress(len(plan.todo), options.progress) as bar, logging_redirect_tqdm():
            ledger.on_study = bar.update
            app.run()
    summary = ledger.finalize(perf_counter() - start)
    counts = summary["counts"]
    logger.info("%s done: %s; results in %s", app_cls.info.name, counts, options.output)
    return 0


def main(app_cls: type[BatchApplication]) -> NoReturn:
    """`python -m apps.<app>`: run the batch, then leave without tearing the interpreter down."""
    code = run_batch(app_cls)
    # Every output is written, closed and renamed by now. Python's teardown of torch, MONAI, Holoscan and DALI
    # took 1.2 s of a 7.5 s three-study olt_mri run (and of every per-study launch) and gives nothing back.
    # So: run the exit handlers (logging's flush among them), flush the streams, and exit at once.
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
