"""`python -m apps.node`: serve (C-STORE in, results out), `--pull` studies by DICOMweb, or print `status`.

python -m apps.node --config node.yaml                      serve until SIGTERM / Ctrl-C
python -m apps.node --pull --dicomweb URL --study UID ...   pull, analyse, send back, exit
python -m apps.node --pull --dicomweb URL --since 20260101 --until 20260131
python -m apps.node status --config node.yaml               the counters (status.json) and who runs
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from pathlib import Path
from typing import NoReturn

from inference.model_store import ModelError
from pacs.config import ConfigError, NodeConfig, add_node_flags
from pacs.node import LOG_FILE, STATUS_FILE, Node
from pacs.pull import PullError, fetch_study, find_studies
from run.batch import exit_now, setup_logging
from run.lock import OutputInUse, OutputNotWritable, lock_holder

__all__ = ["main", "run_node"]

logger = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m apps.node",
        description="msk-maps DICOM node: a C-STORE SCP that analyses complete studies and sends the results back.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    parser.add_argument("command", nargs="?", choices=["serve", "status"], default="serve")
    add_node_flags(parser)
    parser.add_argument("--pull", action="store_true", help="pull studies by DICOMweb instead of listening")
    parser.add_argument("--dicomweb", metavar="URL", help="pull mode: the DICOMweb service to pull from")
    parser.add_argument("--study", action="append", metavar="UID", help="pull mode: a StudyInstanceUID (repeat)")
    parser.add_argument("--since", metavar="YYYYMMDD", help="pull mode: studies from this StudyDate on")
    parser.add_argument("--until", metavar="YYYYMMDD", help="pull mode: studies up to this StudyDate")
    parser.add_argument(
        "--send-timeout", type=float, default=600.0, help="pull mode: seconds to keep retrying sends before exit (600)"
    )
    parser.add_argument("-l", "--log-level", default="INFO", type=str.upper)
    return parser


def _config(args: argparse.Namespace) -> NodeConfig:
    base = NodeConfig.from_file(args.config) if args.config else NodeConfig()
    return base.with_flags(args)


def _log_to_file(storage: Path) -> None:
    handler = logging.FileHandler(storage / LOG_FILE, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)


def _status(config: NodeConfig) -> int:
    path = config.storage / STATUS_FILE
    if not path.is_file():
        print(f"error: no {STATUS_FILE} in {config.storage}: the node never ran there", file=sys.stderr)
        return 2
    status = json.loads(path.read_text(encoding="utf-8"))
    holder = lock_holder(config.storage)
    status["running"] = bool(holder)
    print(json.dumps(status, indent=2, sort_keys=True))
    return 0


def _serve(node: Node) -> int:
    node.listen()
    node.start_sender()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: node.stop())
    logger.info(
        "Node ready: AE %s on %s:%d, calling AEs %s, results to %s; log %s",
        node.config.ae_title,
        node.config.host,
        node.config.port,
        list(node.config.calling_ae_titles),
        [str(d) for d in node.config.destinations] or "nowhere (kept in storage)",
        node.config.storage / LOG_FILE,
    )
    node.serve()
    return 0


def _pull(node: Node, args: argparse.Namespace) -> int:
    url = args.dicomweb
    node.default_destination(url)
    node.start_sender()
    uids = find_studies(url, args.study or [], args.since, args.until)
    logger.info("Pulling %d studies from %s", len(uids), url)
    for uid in uids:
        count = 0
        for _, payload in fetch_study(url, uid):
            node.accept(payload, url)
            count += 1
        logger.info("Study %s: %d instances pulled", uid, count)
    node.complete_now(uids)
    node.tick()
    deadline = time.monotonic() + args.send_timeout
    while not node.all_done(uids) and time.monotonic() < deadline:
        time.sleep(0.2)
    node.write_status()
    if not node.all_done(uids):
        print(f"error: results still queued after {args.send_timeout:.0f} s (see {STATUS_FILE})", file=sys.stderr)
        return 1
    return 0


def run_node(argv: list[str] | None = None) -> int:
    """Parse, then serve, pull or print the status; exit code (2: could not start)."""
    parser = _parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    setup_logging(args.log_level)
    # pynetdicom logs every association and every C-STORE at INFO: thousands of lines a study, none of them ours.
    logging.getLogger("pynetdicom").setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        config = _config(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.command == "status":
        return _status(config)
    if args.pull and not args.dicomweb:
        parser.error("--pull needs --dicomweb URL (and --study UID or --since/--until)")
    if not args.pull and not config.calling_ae_titles:
        print("error: no calling AE title may store: set calling_ae_titles (or --allow AE)", file=sys.stderr)
        return 2
    try:
        node = Node(config)
    except ValueError as exc:  # the selection rules (--rules) can't be read or merged
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        node.open()
    except (OutputInUse, OutputNotWritable, ModelError, ValueError) as exc:
        node.close()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _log_to_file(config.storage)
    try:
        return _pull(node, args) if args.pull else _serve(node)
    except PullError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        node.close()


def main() -> NoReturn:
    """`python -m apps.node`."""
    exit_now(run_node())
