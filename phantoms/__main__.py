"""CLI: python -m phantoms <kind> --out DIR ... (one subcommand per phantom kind)."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable

from phantoms import ankle_xray, hip_mri
from phantoms.ankle_mri import generate_ankle_mri_dataset
from phantoms.broken import write_broken_inputs
from phantoms.cli_arguments import add_common_arguments

__all__ = ["SUBCOMMANDS", "build_parser", "main"]


def _run_ankle_mri(args: argparse.Namespace) -> str:
    truths = generate_ankle_mri_dataset(args.out, args.patients, args.seed, args.lesion_fraction)
    message = f"wrote {len(truths)} ankle MRI studies to {args.out}"
    if args.broken:
        wrong = write_broken_inputs(args.out / "broken", args.seed)
        message += f"; wrote {len(wrong)} broken inputs to {args.out / 'broken'}"
    return message


def _add_ankle_mri(kinds: argparse._SubParsersAction) -> None:
    parser = kinds.add_parser("ankle-mri", help="ankle MRI studies, some with an osteochondral lesion of the talus")
    add_common_arguments(parser)
    parser.add_argument("--lesion-fraction", type=float, default=0.5, help="share of patients with a lesion")
    parser.add_argument("--broken", action="store_true", help="also write broken inputs under OUT/broken")
    parser.set_defaults(run=_run_ankle_mri)


# One entry per phantom kind: it adds its subparser and sets `run` (args -> one-line summary).
SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    _add_ankle_mri,
    ankle_xray.add_subcommand,
    hip_mri.add_subcommand,
)


def build_parser() -> argparse.ArgumentParser:
    """The `python -m phantoms` parser with every registered phantom kind."""
    parser = argparse.ArgumentParser(prog="python -m phantoms", description="Synthetic DICOM studies")
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="KIND")
    for add in SUBCOMMANDS:
        add(kinds)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Parse the subcommand and write the phantoms."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        message = args.run(args)
    except ValueError as exc:
        parser.error(str(exc))
    print(message)


if __name__ == "__main__":
    main()
