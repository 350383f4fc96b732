"""Evaluate a KoOCR model: accuracy, confusion matrices, Grad-CAM / CAM, speed, a report.

    python evaluate.py --weights logs/checkpoint                      # everything, ./val_data
    python evaluate.py --weights compact48 --accuracy --top_n 5 --output logs/eval
    python evaluate.py --weights compact48 --fonts fonts --font_split test \\
        --distortion auto --max_per_font 300                           # held-out fonts
    python evaluate.py --weights compact48 --class_activation --class_activation_n 16
    python evaluate.py --weights compact48 --lines val_data/lines   # CER of KoOCR.read per style

With no method flag every method runs; with some set to true only those run; with
some set to false all others run. Results go to ``<output>/metrics.json`` and
``<output>/report.md`` next to the PNGs (see :func:`koocr.evaluation.run_evaluation`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from koocr.cli import add_bool_argument, add_read_arguments, read_kwargs

METHOD_HELP = {
    "accuracy": "top-1 / top-n per source or font, per jamo, KS X 1001; wrong-example grid",
    "confusion_matrix": "jamo confusion heatmaps and the most confused syllable pairs",
    "class_activation": "Grad-CAM (and direct CAM for pooled heads) per head",
    "show_augmentation": "a grid of the augmentation presets on sample glyphs",
    "benchmark": "parameters, MACs, file size, latency and throughput",
}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--weights", default="compact48", help="shipped model name or weights folder")
    p.add_argument("--data_path", default="./val_data", help="folder of *.pickle patches")
    p.add_argument("--output", default="logs/", help="folder for metrics.json, report.md and PNGs")
    for name, text in METHOD_HELP.items():
        action = add_bool_argument(p, name, default=False, help=text)
        action.default = None  # None = not given, so "no method flag" can mean "all"
        action.help = f"{text} (default: on when no method is set to true)"
    p.add_argument("--class_activation_n", type=int, default=10, help="samples in the CAM grid")
    p.add_argument("--top_n", type=int, default=5, help="n of top-n accuracy")
    p.add_argument(
        "--decode_charset",
        default=None,
        help="restrict split-model decoding, e.g. ks2350 (default: all 11,172)",
    )
    p.add_argument("--max_samples", type=int, default=None, help="seeded subset of the patches")
    p.add_argument(
        "--fonts",
        default=None,
        help="evaluate on glyphs rendered from this font folder (with manifest.json)",
    )
    p.add_argument(
        "--font_split",
        default="test",
        choices=["train", "test", "all"],
        help="which fonts of the manifest: the held-out 'test' fonts, or 'train' / 'all'",
    )
    p.add_argument("--font_style", default="all", choices=["printed", "handwriting", "all"])
    p.add_argument(
        "--charset", default="ks2350", help="syllables rendered per font (ks2350, all, file)"
    )
    p.add_argument(
        "--distortion",
        default="none",
        choices=["none", "printed", "handwriting", "degraded", "auto"],
        help="augmentation of rendered glyphs; auto: handwriting preset for "
        "handwriting-style fonts, none for printed",
    )
    p.add_argument(
        "--max_per_font", type=int, default=None, help="seeded subset of syllables per font"
    )
    p.add_argument(
        "--lines",
        default=None,
        metavar="DIR",
        help="only report the character error rate of read() on line images with .txt truth "
        "in DIR (or in each sub-folder of DIR, e.g. printed/ and handwriting/)",
    )
    add_read_arguments(p)
    p.add_argument("--seed", type=int, default=0, help="seeds every random pick")
    p.add_argument("--batch_size", type=int, default=256)
    p.add_argument("--benchmark_repeats", type=int, default=200, help="timed single-image calls")
    p.add_argument("--benchmark_batch", type=int, default=1024, help="batch size for throughput")
    add_bool_argument(p, "progress", default=True, help="tqdm progress bars")
    add_bool_argument(p, "tta", default=False, help="test-time augmentation (predict(tta=True))")
    args = p.parse_args(argv)
    for name in (
        "top_n",
        "class_activation_n",
        "batch_size",
        "benchmark_repeats",
        "benchmark_batch",
    ):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1. Received: {getattr(args, name)}")
    for name in ("max_samples", "max_per_font"):  # optional, but 0 would evaluate nothing
        if getattr(args, name) is not None and getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1 (leave it out for all). Received: {getattr(args, name)}")
    return args


def chosen_methods(args: argparse.Namespace) -> list[str]:
    flags = {name: getattr(args, name) for name in METHOD_HELP}
    if any(v is True for v in flags.values()):
        return [n for n, v in flags.items() if v is True]
    return [n for n, v in flags.items() if v is not False]


def main(argv=None) -> int:
    args = parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    from koocr import evaluation
    from koocr.fonts import load_manifest
    from model import KoOCR

    if args.lines:
        return evaluate_lines(args)
    methods = chosen_methods(args)
    if not methods:
        print("Every method is set to false: nothing to do.", file=sys.stderr)
        return 2
    ocr = KoOCR(weights=args.weights)
    if args.fonts:
        fonts = load_manifest(
            args.fonts,
            style=None if args.font_style == "all" else args.font_style,
            split=None if args.font_split == "all" else args.font_split,
        )
        if not fonts:
            print(
                f"No {args.font_style} fonts of split {args.font_split} in {args.fonts}",
                file=sys.stderr,
            )
            return 2
        images, labels, groups = evaluation.render_font_set(
            fonts,
            args.charset,
            args.distortion,
            args.seed,
            args.max_per_font,
            progress=args.progress,
        )
        normalised = False
        description = (
            f"{len(labels)} glyphs from {len(fonts)} {args.font_split} fonts in {args.fonts} "
            f"(charset {args.charset}, distortion {args.distortion}, seed {args.seed})"
        )
    else:
        images, labels, groups = evaluation.load_patch_set(
            args.data_path, args.max_samples, args.seed
        )
        normalised = True
        description = f"{len(labels)} samples from patches in {args.data_path}"
    metrics = evaluation.run_evaluation(
        ocr,
        images,
        labels,
        groups,
        args.output,
        methods=methods,
        normalised=normalised,
        top_n=args.top_n,
        cam_n=args.class_activation_n,
        charset=args.decode_charset,
        seed=args.seed,
        batch_size=args.batch_size,
        benchmark_args={"repeats": args.benchmark_repeats, "batch": args.benchmark_batch},
        data_description=description,
        progress=args.progress,
        tta=args.tta,
    )
    summary = {
        k: metrics[k] for k in ("samples", "top1", "topn", "groups", "components") if k in metrics
    }
    if summary:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
    print(f"Wrote {os.path.join(args.output, 'report.md')} and metrics.json")
    return 0


def evaluate_lines(args: argparse.Namespace) -> int:
    """CER of ``KoOCR.read`` on each line folder; writes ``<output>/lines.json``."""
    from koocr import lines
    from model import KoOCR

    ocr = KoOCR(weights=args.weights)
    results = {}
    for folder in lines.line_folders(args.lines):
        pairs = lines.load_line_set(folder)
        metrics = lines.evaluate_line_set(
            lambda path: ocr.read(path, charset=args.decode_charset, **read_kwargs(args)).text,
            pairs,
            args.progress,
            lines.load_line_fonts(folder),
        )
        results[folder] = metrics
        multi = any("\n" in truth for _, truth in pairs)  # blocks of lines
        print(
            f"{folder}: {metrics['lines']} lines, {metrics['chars']} chars, "
            f"CER {100 * metrics['cer']:.2f} % (without spaces {100 * metrics['cer_no_spaces']:.2f} %, "
            f"symbols as written {100 * metrics['cer_symbols']:.2f} %), "
            f"{metrics['ms_per_line']:.1f} ms/line"
            + (f", line breaks right in {100 * metrics['line_breaks']:.1f} %" if multi else "")
        )
        for font, row in metrics.get("per_font", {}).items():
            print(
                f"  {font}: {row['lines']} lines, {row['chars']} chars, CER {100 * row['cer']:.2f} % "
                f"(symbols as written {100 * row['cer_symbols']:.2f} %)"
            )
    os.makedirs(args.output, exist_ok=True)
    path = os.path.join(args.output, "lines.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(
            {"weights": args.weights, **read_kwargs(args), "sets": results},
            fh,
            ensure_ascii=False,
            indent=2,
        )
    print(f"Wrote {path}")
    return 0


if __name__ == "__main__":
    from koocr.cli import run

    sys.exit(run(main))
