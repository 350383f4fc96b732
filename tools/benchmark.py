"""Prints single-image latency and batched throughput of a KoOCR model.

    python tools/benchmark.py                       # the shipped default model
    python tools/benchmark.py --weights logs/compact48/best
    python tools/benchmark.py --network compact --image_size 48   # untrained, speed only
    python tools/benchmark.py --backends keras,litert,onnx        # predict(backend=...) compared
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", default=None, help="shipped name or folder (default: compact48 if shipped)")
    p.add_argument("--network", default="compact")
    p.add_argument("--image_size", type=int, default=48)
    p.add_argument("--repeats", type=int, default=300)
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--json", action="store_true", help="print the raw numbers as JSON")
    p.add_argument("--backends", default=None, help="also compare predict backends, e.g. keras,litert,onnx")
    args = p.parse_args(argv)
    for flag in ("repeats", "batch"):
        if getattr(args, flag) < 1:
            p.error(f"--{flag} must be >= 1. Received: {getattr(args, flag)}")
    chosen = {"--network", "--image_size"} & {a.split("=")[0] for a in (argv if argv is not None else sys.argv[1:])}
    if args.weights and chosen:
        p.error(f"{' and '.join(sorted(chosen))} describe an untrained network; they do not go with --weights")

    from koocr.benchmark import benchmark, compare_backends, format_backends, format_report
    from koocr.fonts import load_manifest, render_glyph
    from model import KoOCR

    weights = args.weights
    if weights is None and not chosen and "compact48" in KoOCR.pretrained_models():
        weights = "compact48"  # --network / --image_size ask for an untrained network instead
    ocr = KoOCR(weights=weights) if weights else KoOCR(network_type=args.network, image_size=args.image_size)
    font = load_manifest(split="test")[0]
    import numpy as np

    chars = [c for c in "한국어문자인식가나다라마바사아자차카타파하" if font.covers(c)]
    images = np.stack([render_glyph(font, c, size=48) for c in chars])
    result = benchmark(ocr, images, repeats=args.repeats, batch=args.batch)
    if args.backends:
        result["backends"] = compare_backends(
            ocr, images, args.backends.split(","), repeats=args.repeats, batch=args.batch
        )
    print(json.dumps(result, indent=2) if args.json else format_report(result))
    if args.backends and not args.json:
        print(format_backends(result["backends"], args.batch))
    return 0


if __name__ == "__main__":
    from koocr.cli import run

    sys.exit(run(main))
