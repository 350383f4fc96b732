"""Recognise Hangul characters with a KoOCR model.

    python predict.py samples/*.png              # the shipped default model
    python predict.py han.png --n 3 --weights logs/checkpoint --charset ks2350
    python predict.py --line sentence.png        # a word, a line or a block of lines -> text
    python predict.py --line sentence.png --boxes   # and each character's box and confidence

The command lives in ``koocr/predict.py`` (installed with pip: ``koocr`` or ``python -m koocr``).
"""

import sys

from koocr.predict import DEFAULT_WEIGHTS, main, parse_args

__all__ = ["DEFAULT_WEIGHTS", "main", "parse_args"]

if __name__ == "__main__":
    from koocr.cli import run

    sys.exit(run(main))
