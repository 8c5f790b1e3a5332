"""The three apps; each runs as `python -m apps.<app>`."""

import os

# DALI's OpenCV JPEG 2000 reader warns about the (absent) colour space of every grey J2K frame. OpenCV reads
# this when it loads, which happens while an app's modules are imported, so it is set before any of them.
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
