from apps.batch import main
from apps.onfh_mri.app import OnfhMriApp

main(OnfhMriApp)
