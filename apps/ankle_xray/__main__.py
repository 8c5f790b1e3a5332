from apps.ankle_xray.app import AnkleXrayApp
from run.batch import main

# Guarded: worker processes started with spawn import this module again (as __mp_main__).
if __name__ == "__main__":
    main(AnkleXrayApp)
