import sys

from apps.batch import run_batch
from apps.onfh_mri.app import OnfhMriApp

sys.exit(run_batch(OnfhMriApp))
