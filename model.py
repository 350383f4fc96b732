"""The seed's entry point: ``from model import KoOCR`` (the class lives in ``koocr/ocr.py``).

Example:
    >>> from model import KoOCR
    >>> ocr = KoOCR(weights="compact48")          # a shipped model, or a folder path
    >>> ocr.predict("sample.png", n=3)            # doctest: +SKIP
    ['한', '헌', '환']
"""

from koocr.ocr import KoOCR

__all__ = ["KoOCR"]
