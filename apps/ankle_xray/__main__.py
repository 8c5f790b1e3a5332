import sys

from apps.ankle_xray.app import AnkleXrayApp
from apps.batch import run_batch

sys.exit(run_batch(AnkleXrayApp))
