"""Fits the segment classifier of a model (see :mod:`koocr.segments`) and saves it beside the weights.

    python tools/fit_segments.py --weights compact48                 # -> pretrained/compact48/segments.npz
    python tools/fit_segments.py --weights logs/run/best --lines 400 --seed 1

Examples are random lines (syllables, digit runs, Latin, punctuation) rendered from the
*training* fonts only, printed plain and handwriting-style with per-character distortion.
Every fifth training font of each style is kept out of the fit and reported as validation.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", default="compact48", help="shipped model name or weights folder")
    p.add_argument("--lines", type=int, default=1000, help="rendered lines per style")
    p.add_argument("--l2", type=float, default=1e-3, help="L2 penalty of the weights")
    p.add_argument("--hidden", type=int, default=64, help="tanh hidden units (0: logistic regression)")
    p.add_argument("--symbol_l2", type=float, default=1e-2, help="L2 penalty of the symbol-naming head")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.lines < 10:
        p.error(f"--lines must be >= 10. Received: {args.lines}")
    if not args.l2 >= 0:  # a negative penalty fitted a worse classifier and replaced the good one
        p.error(f"--l2 must be >= 0. Received: {args.l2}")
    if not args.symbol_l2 >= 0:
        p.error(f"--symbol_l2 must be >= 0. Received: {args.symbol_l2}")
    if args.hidden < 0:
        p.error(f"--hidden must be >= 0 (0: logistic regression). Received: {args.hidden}")

    from koocr import segments
    from koocr import weights as kweights
    from koocr.fonts import load_manifest
    from model import KoOCR

    ocr = KoOCR(weights=args.weights)
    _, meta = kweights.read_config(ocr.weights_path)
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    parts = {"fit": [], "val": []}
    for style, distortion in (("printed", None), ("handwriting", "handwriting")):
        fonts = load_manifest(style=style, split="train")
        if len(fonts) < 2:
            print(f"Need >= 2 training fonts of style {style!r}; found {len(fonts)}", file=sys.stderr)
            return 2
        val = fonts[::5]
        fit = [f for f in fonts if f not in val]
        for name, subset, count in (("fit", fit, args.lines), ("val", val, max(args.lines // 5, 10))):
            parts[name].append(
                segments.make_examples(ocr, subset, count, rng, distortion, progress=True, with_chars=True)
            )
    x_fit, g_fit, y_fit, c_fit = (np.concatenate(a) for a in zip(*parts["fit"], strict=True))
    x_val, g_val, y_val, c_val = (np.concatenate(a) for a in zip(*parts["val"], strict=True))
    clf = segments.fit(
        x_fit, g_fit, y_fit, l2=args.l2, weights_sha256=meta.get("weights_sha256", ""), hidden=args.hidden, seed=args.seed
    )
    sym = y_fit == segments.SYMBOL
    clf = segments.fit_symbols(clf, x_fit[sym], g_fit[sym], c_fit[sym], l2=args.symbol_l2)
    report = {"seconds": round(time.perf_counter() - start, 1), "hidden": args.hidden, "examples": {}, "val_recall": {}}
    for name, (x, g, y) in {"fit": (x_fit, g_fit, y_fit), "val": (x_val, g_val, y_val)}.items():
        pred = clf.log_probs(x, g).argmax(axis=1)
        report["examples"][name] = {c: int((y == k).sum()) for k, c in enumerate(segments.CLASSES)}
        report[f"{name}_accuracy"] = round(float((pred == y).mean()), 4)
        if name == "val":
            report["val_recall"] = {c: round(float((pred[y == k] == k).mean()), 4) for k, c in enumerate(segments.CLASSES)}
    # The symbol head alone on the validation fonts' symbol crops ('?' included, which it never
    # names): accuracy, and at thresholds on p(symbol | it is a symbol), how many it names and
    # how many of those rightly. read() also weighs in p(symbol class) (ReadConfig.name_symbols).
    sym = y_val == segments.SYMBOL
    names, probs = clf.name_symbols(x_val[sym], g_val[sym])
    right = np.array(names) == c_val[sym]
    report["val_symbols"] = {"crops": int(sym.sum()), "accuracy": round(float(right.mean()), 4)}
    for threshold in (0.5, 0.7, 0.9):
        named = probs >= threshold
        report["val_symbols"][f"named_at_{threshold}"] = round(float(named.mean()), 4)
        report["val_symbols"][f"right_of_named_at_{threshold}"] = round(float(right[named].mean()), 4) if named.any() else None
    path = clf.save(ocr.weights_path)
    print(json.dumps({"path": path, **report}, indent=2))
    return 0


if __name__ == "__main__":
    from koocr.cli import run

    sys.exit(run(main))
