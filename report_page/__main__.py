"""`python -m report_page OUT [OUT2 ...] [-o PAGE]`: (re)draw the batch page of one or several run folders."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from report_page.page import PAGE_NAME, write_batch_page
from report_page.sources import run_folders


def main(argv: list[str] | None = None) -> int:
    """Write the page; exit 1 when it could not be written."""
    parser = argparse.ArgumentParser(description="Draw index.html for run folders (results/failures/run files).")
    parser.add_argument("folders", nargs="+", type=Path, help="run folders, or a folder of them (demo/output)")
    parser.add_argument("-o", "--output", type=Path, help=f"the page (default: the first FOLDER/{PAGE_NAME})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    missing = [str(folder) for folder in args.folders if not folder.is_dir()]
    if missing:
        parser.error(f"not a folder: {', '.join(missing)}")
    folders = [folder for given in args.folders for folder in run_folders(given)]
    if not folders:
        parser.error(f"no run folder (with run.json) in {', '.join(map(str, args.folders))}")
    page = write_batch_page(*folders, page_path=args.output or args.folders[0] / PAGE_NAME)
    if page is None:
        return 1
    print(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
