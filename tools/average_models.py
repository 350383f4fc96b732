"""Top-1 / top-5 of two models and of their averaged jamo probabilities on the held-out sets.

    python tools/average_models.py                      # compact48 and melnyk96, all four sets
    python tools/average_models.py --sets handwriting --output logs/average.json

Each network reads the glyphs of ``tools/evaluate_pretrained.py``'s sets (same seed) through
its own normalisation and default path; the two sets of head probabilities are averaged
with equal weight (arithmetic and geometric mean) and decoded as ``predict()`` decodes. No
weight is tuned. Split-component models only. See docs/experiments.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def accuracy(ranked, labels) -> tuple[float, float]:
    """(top-1, top-5) in percent of ``decode.top_n_split`` rows against their labels."""
    top1 = sum(row[0][0] == label for row, label in zip(ranked, labels, strict=True))
    top5 = sum(label in [s for s, _ in row] for row, label in zip(ranked, labels, strict=True))
    return round(100 * top1 / len(labels), 2), round(100 * top5 / len(labels), 2)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", nargs=2, default=["compact48", "melnyk96"], metavar=("A", "B"))
    p.add_argument("--sets", default="printed_clean,printed_degraded,handwriting,outside_ks")
    p.add_argument("--max_outside", type=int, default=2000, help="outside-KS syllables per font")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", default=None, help="also write the table as JSON here")
    args = p.parse_args(argv)

    import numpy as np
    from evaluate_pretrained import build_set

    from koocr import decode
    from koocr.fonts import load_manifest
    from model import KoOCR

    models = [KoOCR(weights=w) for w in args.weights]
    if not all(m.config.split_components for m in models):
        raise ValueError("Averaging needs two split-component models (three jamo heads each)")
    fonts = load_manifest(split="test")
    names = [*args.weights, "mean", "geometric mean"]
    table = {}
    for set_name in (s for s in args.sets.split(",") if s):
        images, labels, _ = build_set(set_name, fonts, args.seed, args.max_outside)
        a, b = (m.probabilities(m.preprocess(images)[0]) for m in models)
        variants = [a, b, [(x + y) / 2 for x, y in zip(a, b, strict=True)], [np.sqrt(x * y) for x, y in zip(a, b, strict=True)]]
        table[set_name] = {n: accuracy(decode.top_n_split(v, 5, None), labels) for n, v in zip(names, variants, strict=True)}
        row = "  ".join(f"{n} {t1:.2f} / {t5:.2f} %" for n, (t1, t5) in table[set_name].items())
        print(f"{set_name} ({len(labels)} glyphs): {row}", flush=True)
    if args.output:
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with open(args.output, "w", encoding="utf-8") as fh:
            json.dump(table, fh, indent=2)
    return 0


if __name__ == "__main__":
    from koocr.cli import run

    sys.exit(run(main))
