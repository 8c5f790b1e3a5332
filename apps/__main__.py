"""`python -m apps -i IN -o OUT [-m MODELS] [--apps ...]`: every app over one folder (see run/suite.py)."""

from run.suite import main

# Guarded: worker processes started with spawn import this module again (as __mp_main__).
if __name__ == "__main__":
    main()
