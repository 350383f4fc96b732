"""Evaluates a model on the fonts held out of training and writes ``<output>/``.

    python tools/evaluate_pretrained.py --weights compact48 --output pretrained/compact48_evaluation

Sets (every glyph rendered from the manifest's ``test`` fonts, never seen in training):
  printed_clean     held-out printed fonts, the 2,350 KS X 1001 syllables, clean
  printed_degraded  the same glyphs degraded like scans / phone photos (grey or uneven
                    background, blur, noise, JPEG, low resolution, low contrast)
  handwriting       held-out handwriting-style fonts, KS X 1001, with the handwriting
                    distortion used for training variety (elastic, affine, stroke width)
  outside_ks        syllables outside KS X 1001 from held-out fonts covering all 11,172
                    (printed clean, handwriting distorted), a seeded sample per font
Each set gets a full ``evaluate.py``-style folder; ``summary.md`` / ``summary.json`` hold
the headline table. ``--export_chars N`` also writes N images per set with their labels
to ``val_data/chars/<set>/`` (``NNNN.png`` + ``NNNN.txt``) for ``tools/compare_tesseract.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SETS = ("printed_clean", "printed_degraded", "handwriting", "outside_ks")


def build_set(name: str, fonts, seed: int, max_outside: int):
    from koocr import hangul
    from koocr.evaluation import render_font_set

    printed = [f for f in fonts if f.style == "printed"]
    hand = [f for f in fonts if f.style == "handwriting"]
    if name == "printed_clean":
        return render_font_set(printed, "ks2350", "none", seed)
    if name == "printed_degraded":
        return render_font_set(printed, "ks2350", "degraded", seed)
    if name == "handwriting":
        return render_font_set(hand, "ks2350", "handwriting", seed)
    if name == "outside_ks":
        ks = set(hangul.ks2350())
        outside = [c for c in hangul.all_syllables() if c not in ks]
        full = [f for f in fonts if f.coverage.get("all", 0) == hangul.N_SYLLABLES]
        return render_font_set(full, outside, "auto", seed, max_per_font=max_outside)
    raise ValueError(f"Unknown set {name!r}; expected one of {SETS}")


def command_line(parser: argparse.ArgumentParser, args: argparse.Namespace) -> str:
    """The command that reproduces the run: ``--weights`` and every flag that differs from its default."""
    words = ["python", "tools/evaluate_pretrained.py", "--weights", args.weights]
    for name in ("backend", "sets", "max_outside", "seed", "export_chars", "output"):
        value = getattr(args, name)
        if value != parser.get_default(name):
            words += [f"--{name}", str(value)]
    if args.tta:
        words.append("--tta")
    return shlex.join(words)


def build_parser() -> argparse.ArgumentParser:
    from koocr.cli import add_bool_argument

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", default="compact48")
    p.add_argument("--output", default=None, help="default: pretrained/<name>_evaluation")
    p.add_argument("--sets", default=",".join(SETS))
    p.add_argument("--max_outside", type=int, default=2000, help="outside-KS syllables per font")
    p.add_argument("--export_chars", type=int, default=0, help="images per set for Tesseract")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--backend", default="auto", choices=["auto", "keras", "litert"],
        help="what runs the network: auto (the shipped LiteRT copy if any, as predict() does) or keras",
    )
    add_bool_argument(p, "tta", default=False, help="test-time augmentation (predict(tta=True))")
    return p


def main(argv=None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    set_names = [s for s in args.sets.split(",") if s]
    unknown = [s for s in set_names if s not in SETS]
    if unknown or not set_names:  # checked before any work, not when the set is reached
        p.error(f"--sets takes comma-separated names from {','.join(SETS)}. Received: {args.sets!r}")
    if args.max_outside < 1:
        p.error(f"--max_outside must be >= 1. Received: {args.max_outside}")
    if args.export_chars < 0:
        p.error(f"--export_chars must be >= 0. Received: {args.export_chars}")

    import numpy as np
    from PIL import Image

    from koocr.evaluation import run_evaluation
    from koocr.fonts import load_manifest
    from model import KoOCR

    ocr = KoOCR(weights=args.weights)
    name = os.path.basename(os.path.normpath(ocr.weights_path))
    output = args.output or os.path.join("pretrained", f"{name}_evaluation")
    fonts = load_manifest(split="test")
    runs = ocr.resolve_backend(args.backend)
    summary = {"weights": args.weights, "backend": runs, "tta": args.tta, "test_fonts": {f.name: f.style for f in fonts}, "sets": {}}
    for i, set_name in enumerate(set_names):
        start = time.time()
        images, labels, groups = build_set(set_name, fonts, args.seed, args.max_outside)
        methods = ["accuracy", "confusion_matrix", "class_activation"]
        if i == 0:
            methods += ["benchmark", "show_augmentation"]
        metrics = run_evaluation(
            ocr, images, labels, groups, os.path.join(output, set_name), methods=methods,
            seed=args.seed, backend=args.backend, tta=args.tta, data_description=f"{set_name}: held-out fonts {', '.join(sorted(set(map(str, groups))))}",
        )
        summary["sets"][set_name] = {
            "samples": metrics["samples"], "top1": metrics["top1"], "top5": metrics["topn"],
            "fonts": sorted(set(map(str, groups))), "seconds": round(time.time() - start, 1),
        }
        if "benchmark" in metrics:
            summary["benchmark"] = metrics["benchmark"]
        print(f"{set_name}: top-1 {metrics['top1']:.4f} top-5 {metrics['topn']:.4f} ({metrics['samples']} glyphs)")
        if args.export_chars:
            folder = os.path.join("val_data", "chars", set_name)
            os.makedirs(folder, exist_ok=True)
            pick = np.random.default_rng(args.seed).choice(len(labels), min(args.export_chars, len(labels)), replace=False)
            for k, j in enumerate(sorted(pick)):  # the .png + .txt layout of koocr.lines
                Image.fromarray(images[j]).save(os.path.join(folder, f"{k:04d}.png"))
                with open(os.path.join(folder, f"{k:04d}.txt"), "w", encoding="utf-8") as fh:
                    fh.write(labels[j])
    with open(os.path.join(output, "summary.json"), "w", encoding="utf-8") as fh:
        json.dump(summary, fh, ensure_ascii=False, indent=2)
    lines = [f"# {name} on held-out fonts", "", "| set | glyphs | top-1 | top-5 | fonts |", "|---|---|---|---|---|"]
    for set_name, r in summary["sets"].items():
        lines.append(
            f"| {set_name} | {r['samples']} | {100 * r['top1']:.2f} % | {100 * r['top5']:.2f} % | {', '.join(r['fonts'])} |"
        )
    if runs == "litert":
        runs += f" ({ocr.litert_copy})"
    if args.tta:
        runs += f", test-time augmentation over margins {', '.join(f'{m:.2f}' for m in ocr.tta_margins())}"
    lines += ["", f"Network run by: {runs}.", "", f"Command: `{command_line(p, args)}`", ""]
    with open(os.path.join(output, "summary.md"), "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    from koocr.cli import run

    sys.exit(run(main))
