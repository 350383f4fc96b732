"""``python -m koocr IMAGE ...``: the ``predict.py`` command of the repository."""

import sys

from koocr.predict import entry

sys.argv[0] = "python -m koocr"  # for --help and usage errors
sys.exit(entry())
