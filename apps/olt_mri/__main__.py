from apps.batch import main
from apps.olt_mri.app import OltMriApp

main(OltMriApp)
