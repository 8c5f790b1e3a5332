from apps.onfh_mri.app import OnfhMriApp
from run.batch import main

# Guarded: worker processes started with spawn import this module again (as __mp_main__).
if __name__ == "__main__":
    main(OnfhMriApp)
