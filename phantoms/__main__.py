"""CLI: python -m phantoms <kind> --out DIR ... (one subcommand per phantom kind)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from phantoms.ankle_mri import generate_ankle_mri_dataset
from phantoms.broken import write_broken_inputs


def _ankle_mri(args: argparse.Namespace) -> None:
    truths = generate_ankle_mri_dataset(args.out, args.patients, args.seed, args.lesion_fraction)
    print(f"wrote {len(truths)} ankle MRI studies to {args.out}")
    if args.broken:
        wrong = write_broken_inputs(args.out / "broken", args.seed)
        print(f"wrote {len(wrong)} broken inputs to {args.out / 'broken'}")


def main(argv: list[str] | None = None) -> None:
    """Parse the subcommand and write the phantoms."""
    parser = argparse.ArgumentParser(prog="python -m phantoms", description="Synthetic DICOM studies")
    kinds = parser.add_subparsers(dest="kind", required=True)
    ankle = kinds.add_parser(
        "ankle-mri", help="ankle MRI studies, some with an osteochondral lesion of the talus"
    )
    ankle.add_argument("--out", type=Path, required=True)
    ankle.add_argument("--patients", type=int, default=6)
    ankle.add_argument("--seed", type=int, default=0)
    ankle.add_argument("--lesion-fraction", type=float, default=0.5)
    ankle.add_argument("--broken", action="store_true", help="also write broken inputs under OUT/broken")
    ankle.set_defaults(run=_ankle_mri)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    args.run(args)


if __name__ == "__main__":
    main()
