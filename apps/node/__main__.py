"""`python -m apps.node`: the DICOM node (see pacs/cli.py): C-STORE in, the suite's results out; pull; status."""

from pacs.cli import main

# Guarded: worker processes started with spawn import this module again (as __mp_main__).
if __name__ == "__main__":
    main()
