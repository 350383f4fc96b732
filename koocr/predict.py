"""Recognise Hangul characters with a KoOCR model.

    python predict.py samples/*.png              # the shipped default model
    python predict.py han.png --n 3 --weights logs/checkpoint --charset ks2350
    python predict.py --line sentence.png        # a word, a line or a block of lines -> text
    python predict.py --line sentence.png --boxes   # and each character's box and confidence

(Installed with pip, the same command is ``koocr`` or ``python -m koocr``.)
"""

from __future__ import annotations

import argparse
import sys

from koocr import __version__
from koocr.cli import add_read_arguments, read_kwargs

DEFAULT_WEIGHTS = "compact48"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("images", nargs="*", help="image files, one character each")
    p.add_argument("--version", action="version", version=f"koocr {__version__}")
    p.add_argument("--line", action="append", default=[], metavar="IMAGE",
                   help="read a line (or block of lines) image and print its text; repeatable")
    p.add_argument("--boxes", action="store_true", help="with --line: also print each character's box")
    p.add_argument("--weights", default=DEFAULT_WEIGHTS, help="shipped model name or weights folder")
    p.add_argument("--n", type=int, default=5, help="candidates per image")
    p.add_argument("--charset", default=None, help="restrict decoding, e.g. ks2350 (default: all 11,172)")
    p.add_argument("--tta", action="store_true", help="test-time augmentation: 3 placements, ~3x slower")
    add_read_arguments(p)
    args = p.parse_args(argv)
    if not args.images and not args.line:
        p.error("give character images, or --line IMAGE")
    if args.n < 1:
        p.error(f"--n must be >= 1. Received: {args.n}")
    if args.charset is not None:  # once here, not once per image
        from koocr.hangul import load_charset

        try:
            load_charset(args.charset)
        except ValueError as err:
            p.error(f"--charset: {err}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    import numpy as np

    from koocr.ocr import KoOCR
    from koocr.preprocess import to_gray

    ocr = KoOCR(weights=args.weights)
    status = 0
    for path in args.images:
        try:
            # Read the file once: a grey uint8 copy is exactly what both calls would load.
            image = np.rint(to_gray(path)).astype(np.uint8)
            if ocr.preprocess(image)[0].min() == 255:  # the model's own normalisation
                # predict() would still rank syllables for an empty page, all of them unlikely.
                print(f"{path}: no ink found (a blank image)")
                continue
            ranked = ocr.predict(image, n=args.n, return_probs=True, charset=args.charset, tta=args.tta)
        except ValueError as err:
            print(f"{path}: error: {err}", file=sys.stderr)
            status = 1
            continue
        print(f"{path}: " + "  ".join(f"{s} {p:.3f}" for s, p in ranked))
    for path in args.line:
        try:
            result = ocr.read(path, charset=args.charset, **read_kwargs(args))
        except ValueError as err:
            print(f"{path}: error: {err}", file=sys.stderr)
            status = 1
            continue
        print(result.text if len(args.line) == 1 else f"{path}: {result.text}")
        if args.boxes:
            for c in result.chars:
                print(f"  {c.text} line={c.line} box={c.box} confidence={c.confidence:.3f}")
    return status


def entry() -> int:
    """The ``koocr`` console command."""
    from koocr.cli import run

    return run(main)
