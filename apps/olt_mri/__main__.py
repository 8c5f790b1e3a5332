import sys

from apps.batch import run_batch
from apps.olt_mri.app import OltMriApp

sys.exit(run_batch(OltMriApp))
