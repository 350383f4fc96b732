"""KoOCR against Tesseract 5 (``kor``) on the same images; prints a table, writes JSON.

    python tools/make_line_set.py --chars 200          # val_data/lines/..., val_data/chars/...
    python tools/compare_tesseract.py --weights compact48 --lines val_data/lines
    python tools/compare_tesseract.py --weights compact48 --chars val_data/chars
    python tools/compare_tesseract.py --weights compact48 --benchmark   # read() on a 20-char line

``--lines DIR``: line images with ``.txt`` truth (DIR or each of its sub-folders); KoOCR
``read()`` against ``tesseract --psm 7`` (``--psm 6`` for blocks of lines), character error rate after
:func:`koocr.lines.normalise_text` on both sides (every non-Hangul, non-space character
becomes the unknown marker ``?``; whitespace runs are one space). ``--chars DIR``: one
syllable per image; top-1 ``predict()`` against ``tesseract --psm 10``, exact match.
Needs ``apt-get install -y tesseract-ocr tesseract-ocr-kor`` (``--tesseract false`` skips it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from koocr.cli import add_bool_argument, add_read_arguments, read_kwargs  # noqa: E402


def compare_lines(
    ocr,
    folder: str,
    use_tesseract: bool,
    limit: int | None,
    progress: bool,
    read_kw: dict | None = None,
    psm: int = 7,
) -> dict:
    from koocr import lines, tesseract

    pairs = lines.load_line_set(folder)[:limit]
    fonts = lines.load_line_fonts(folder)
    row = {"set": folder, "kind": "lines", **({"psm": psm} if use_tesseract else {})}
    row["koocr"] = lines.evaluate_line_set(lambda p: ocr.read(p, **(read_kw or {})).text, pairs, progress, fonts)
    if use_tesseract:
        row["tesseract"] = lines.evaluate_line_set(lambda p: tesseract.recognise(p, psm), pairs, progress, fonts)
    return row


def compare_chars(ocr, folder: str, use_tesseract: bool, limit: int | None) -> dict:
    from koocr import lines, tesseract

    pairs = lines.load_line_set(folder)[:limit]
    row = {"set": folder, "kind": "chars"}
    readers = {"koocr": lambda p: ocr.predict(p, n=1)[0]}
    if use_tesseract:
        readers["tesseract"] = lambda p: tesseract.read_char(p).replace(" ", "")
    for name, fn in readers.items():
        hits, times = 0, []
        for path, truth in pairs:
            start = time.perf_counter()
            hits += fn(path) == truth
            times.append((time.perf_counter() - start) * 1000)
        row[name] = {"images": len(pairs), "accuracy": hits / len(pairs), "ms_per_image": float(np.median(times))}
    return row


def benchmark_line(ocr, repeats: int, length: int = 20, read_kw: dict | None = None) -> dict:
    """Median ms of ``read()`` on a rendered ``length``-syllable line (held-out printed font)."""
    from PIL import Image, ImageDraw

    from koocr.fonts import _image_font, load_manifest

    text = "오늘은 날씨가 정말 좋아서 공원에서 자전거를 탔습니다 그리고"
    text = "".join(c for i, c in enumerate(text) if sum(ch != " " for ch in text[: i + 1]) <= length).strip()
    font = next(f for f in load_manifest(style="printed", split="test") if all(f.covers(c) for c in text if c != " "))
    pil_font = _image_font(font.path, 32)
    image = Image.new("L", (int(pil_font.getlength(text)) + 20, 56), 255)
    ImageDraw.Draw(image).text((10, 40), text, font=pil_font, fill=0, anchor="ls")
    arr = np.asarray(image)
    kw = read_kw or {}
    result = ocr.read(arr, **kw)  # warm-up: traces the forward pass
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        ocr.read(arr, **kw)
        times.append((time.perf_counter() - start) * 1000)
    return {
        "text": text,
        "read": result.text,
        "syllables": sum(c != " " for c in text),
        "font": font.name,
        "image_shape": list(arr.shape),
        "median_ms": float(np.median(times)),
        "repeats": repeats,
    }


def format_table(rows: list[dict]) -> str:
    out = ["| set | images | metric | KoOCR | Tesseract | KoOCR ms | Tesseract ms |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        k, t = row["koocr"], row.get("tesseract")
        if row["kind"] == "lines":
            metric, kv, tv, kt = "CER", k["cer"], t and t["cer"], k["ms_per_line"]
            tt, n = t and t["ms_per_line"], k["lines"]
        else:
            metric, kv, tv, kt = "top-1 acc", k["accuracy"], t and t["accuracy"], k["ms_per_image"]
            tt, n = t and t["ms_per_image"], k["images"]
        tv_s = f"{100 * tv:.2f} %" if t else "-"
        tt_s = f"{tt:.0f}" if t else "-"
        out.append(f"| {row['set']} | {n} | {metric} | {100 * kv:.2f} % | {tv_s} | {kt:.1f} | {tt_s} |")
        for font, kf in k.get("per_font", {}).items():  # line sets that name their fonts
            tf = t["per_font"][font] if t else None
            tf_s = f"{100 * tf['cer']:.2f} %" if tf else "-"
            out.append(f"| {row['set']}: {font} | {kf['lines']} | {metric} | {100 * kf['cer']:.2f} % | {tf_s} | | |")
    return "\n".join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", default="compact48", help="shipped model name or weights folder")
    p.add_argument("--lines", default=None, metavar="DIR", help="line images with .txt truth (or sub-folders)")
    p.add_argument("--chars", default=None, metavar="DIR", help="single-syllable images with .txt labels (or sub-folders)")
    p.add_argument("--limit", type=int, default=None, help="first N images of each folder")
    p.add_argument(
        "--psm", type=int, default=7, choices=[6, 7],
        help="tesseract's page segmentation for --lines: 7, one line (default); 6, a block of lines",
    )
    p.add_argument("--benchmark", action="store_true", help="time read() on a 20-syllable line")
    p.add_argument("--repeats", type=int, default=50, help="timed read() calls for --benchmark")
    p.add_argument("--output", default="logs/compare_tesseract.json", help="JSON with every number")
    add_read_arguments(p)
    add_bool_argument(p, "tesseract", default=True, help="also run tesseract")
    add_bool_argument(p, "progress", default=True, help="tqdm progress bars")
    args = p.parse_args(argv)
    if not (args.lines or args.chars or args.benchmark):
        p.error("give --lines DIR, --chars DIR and/or --benchmark")
    if args.limit is not None and args.limit < 1:
        p.error(f"--limit must be >= 1 (leave it out for all). Received: {args.limit}")
    if args.repeats < 1:
        p.error(f"--repeats must be >= 1. Received: {args.repeats}")
    if os.path.isdir(args.output):  # found before the work, not when writing the JSON
        p.error(f"--output must be a JSON file path, not a folder. Received: {args.output!r}")
    from koocr import lines, tesseract
    from model import KoOCR

    if args.tesseract and not (args.lines or args.chars):
        args.tesseract = False
    if args.tesseract and not tesseract.available():
        print(f"Tesseract with Korean data is not installed; {tesseract.INSTALL_HINT}", file=sys.stderr)
        return 2
    ocr = KoOCR(weights=args.weights)
    report = {
        "weights": args.weights,
        "lm_weight": args.lm_weight,
        "name_symbols": args.name_symbols,
        "lm": args.lm,
        "tesseract": tesseract.version() if args.tesseract else None,
        "sets": [],
    }
    for folder in lines.line_folders(args.lines) if args.lines else []:
        report["sets"].append(
            compare_lines(ocr, folder, args.tesseract, args.limit, args.progress, read_kwargs(args), args.psm)
        )
    for folder in lines.line_folders(args.chars) if args.chars else []:
        report["sets"].append(compare_chars(ocr, folder, args.tesseract, args.limit))
    if report["sets"]:
        print(format_table(report["sets"]))
    if args.benchmark:
        report["benchmark"] = bench = benchmark_line(ocr, args.repeats, read_kw=read_kwargs(args))
        print(
            f"read() on a {bench['syllables']}-syllable line {tuple(bench['image_shape'])} "
            f"({bench['font']}): median {bench['median_ms']:.1f} ms over {bench['repeats']} calls; "
            f"read {bench['read']!r}"
        )
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as fh:
        json.dump(report, fh, ensure_ascii=False, indent=2)
    print(f"Wrote {args.output}")
    return 0


if __name__ == "__main__":
    from koocr.cli import run

    sys.exit(run(main))
