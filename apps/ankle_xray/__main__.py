from apps.ankle_xray.app import AnkleXrayApp
from apps.batch import main

main(AnkleXrayApp)
