"""KoOCR: Korean (Hangul) character OCR on TensorFlow/Keras 3."""

__version__ = "0.1.0"
