"""Build pickle patches from the shipped fonts and from real handwriting sets.

    # printed + handwriting-style fonts, 2 distorted copies per glyph, KS X 1001 only
    python crawl_data.py --printed --clova --augment 2 --charset ks2350
    # the seed's fixed placement at 96 px and two sample PNGs in logs/
    python crawl_data.py --image_test --image_size 96 --x_offset 8 --y_offset 8 --char_size 80
    # real handwriting: AIHub "한국어 글자체 이미지" and PE92/SERI95 (HGU1) files
    python crawl_data.py --AIHub --AIHub_path ./AIhub --hgu1 ./PE92 --printed false --clova false
    # your own glyph images: my_glyphs/가/1.png, or 0001.png + 0001.txt holding '가'
    python crawl_data.py --images my_glyphs --val_ratio 0.1
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
from PIL import Image

from koocr import crawl, ingest, patches
from koocr.cli import add_bool_argument, add_preset_arguments
from koocr.fonts import load_manifest, render_glyph
from koocr.preprocess import SEED_PLACEMENT, Placement, normalize


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--font_path", default=None, help="font folder with manifest.json (default: ./fonts)")
    p.add_argument("--pickle_path", default="./data", help="training patches folder")
    p.add_argument("--val_path", default="./val_data", help="validation patches folder")
    p.add_argument("--val_ratio", type=float, default=0.1, help="fraction of samples for validation")
    p.add_argument("--val_fonts", default="", help="comma-separated font names held out to val_path")
    p.add_argument("--image_size", type=int, default=96)
    p.add_argument("--margin", type=float, default=0.1, help="glyph margin when centring")
    p.add_argument("--x_offset", type=int, default=None, help="seed placement (with --y_offset, --char_size)")
    p.add_argument("--y_offset", type=int, default=None)
    p.add_argument("--char_size", type=int, default=None)
    p.add_argument("--pickle_size", type=int, default=5000, help="samples per patch file")
    add_bool_argument(p, "printed", False, "render printed fonts -> printed_*.pickle")
    add_bool_argument(p, "clova", False, "render handwriting-style fonts -> clova_*.pickle")
    add_bool_argument(p, "include_test_fonts", False, "also render fonts held out for evaluation")
    add_bool_argument(p, "image_test", False, "render two sample syllables to logs/")
    add_bool_argument(p, "AIHub", False, "ingest AIHub handwriting -> handwritten_*.pickle")
    p.add_argument("--AIHub_path", default="./AIhub")
    p.add_argument("--hgu1", default=None, help="PE92/SERI95 .hgu1 file or folder -> handwritten_*.pickle")
    p.add_argument("--images", default=None, metavar="DIR",
                   help="your own glyph images, labelled by NAME.txt beside each or by folder name (가/1.png) "
                        "-> handwritten_images_*.pickle (see --images_kind)")
    p.add_argument("--images_kind", default="handwritten", choices=["handwritten", "printed"],
                   help="which patches --images feeds: handwritten_images_* or printed_images_*")
    p.add_argument("--charset", default="ks2350", help="ks2350, all, or a file of syllables")
    p.add_argument("--augment", type=int, default=0, help="distorted copies per clean glyph")
    p.add_argument("--clova_augment", type=int, default=None, help="copies for handwriting-style fonts (default: --augment)")
    add_preset_arguments(p)
    p.add_argument("--render_size", type=int, default=None, help="font pixel size (default max(48, image_size))")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def placement_from(args) -> Placement | None:
    given = [args.x_offset, args.y_offset, args.char_size]
    if all(v is None for v in given):
        return None
    if any(v is None for v in given):
        if args.image_size not in SEED_PLACEMENT:
            raise SystemExit("--x_offset, --y_offset and --char_size go together")
        defaults = SEED_PLACEMENT[args.image_size]
        given = [d if v is None else v for v, d in zip(given, defaults, strict=True)]
    return Placement(*given)


def image_test(args, placement) -> list[str]:
    os.makedirs("logs", exist_ok=True)
    font = load_manifest(args.font_path, split="train")[0]
    out = []
    for ch in ("가", "힣"):
        img = normalize(render_glyph(font, ch), args.image_size, args.margin, placement)
        path = os.path.join("logs", f"image_test_{ch}.png")
        Image.fromarray(img).save(path)
        out.append(path)
    return out


def real_sets(args) -> list[str]:
    """The real sets this run reads, by name: AIHub, HGU1, images."""
    return [name for name, on in (("AIHub", args.AIHub), ("HGU1", args.hgu1), ("images", args.images)) if on]


def real_prefix(args, name: str) -> str:
    """The file prefix of a real set's patches: handwritten_aihub, handwritten_hgu1, handwritten_images."""
    return f"{args.images_kind if name == 'images' else 'handwritten'}_{name.lower()}"


def note_kept(args, prefix: str, train: int, val: int) -> None:
    """Names the earlier ``prefix`` patches left in an output folder this run wrote none of them to
    (a split with no sample leaves its folder untouched: it may be another run's)."""
    written = {os.path.realpath(f) for f, n in ((args.pickle_path, train), (args.val_path, val)) if n}
    for folder in dict.fromkeys((args.pickle_path, args.val_path)):
        kept = [] if os.path.realpath(folder) in written else crawl.series_patches(folder, prefix)
        if kept:
            print(
                f"note: {folder} keeps {len(kept)} {prefix}_*.pickle patch(es) of an earlier run (this run "
                "wrote none there); if they came from the same samples they overlap this run's: remove them"
            )


def ingest_real(args, placement) -> None:
    sets = []
    if args.AIHub:
        sets.append(("AIHub", ingest.read_aihub(args.AIHub_path, args.image_size, margin=args.margin, placement=placement)))
    if args.hgu1:
        sets.append(("HGU1", ingest.read_hgu1(args.hgu1, args.image_size, margin=args.margin, placement=placement)))
    if args.images:
        read = ingest.read_image_folder(args.images, args.image_size, margin=args.margin, placement=placement)
        sets.append(("images", read))
    written = []
    with crawl.PatchSet() as out:  # every set's train and val patches replaced together, or none
        for name, (images, labels, stats) in sets:
            print(f"{name}: {stats}")
            if not len(labels):
                raise ValueError(f"{name}: no labelled sample was read ({stats})")
            labels = np.asarray(labels, dtype="<U1")
            train_idx, val_idx = crawl.split_train_val(len(labels), args.val_ratio, args.seed)
            prefix = real_prefix(args, name)
            for folder, idx in ((args.pickle_path, train_idx), (args.val_path, val_idx)):
                out.add(folder, prefix, images[idx], labels[idx], args.pickle_size, args.seed)
            written.append((prefix, len(train_idx), len(val_idx)))
    for prefix, train, val in written:
        note_kept(args, prefix, train, val)


def check_outputs(args, styles) -> None:
    """Refuses, before any slow work, outputs that would break train.py: one folder for both
    splits, or patches of another image size left beside this run's."""
    fonts = [crawl.SOURCE_PREFIX[s] for s in styles]
    real = [real_prefix(args, name) for name in real_sets(args)]
    val = (fonts if args.val_ratio > 0 or args.val_fonts.strip(",") else []) + (real if args.val_ratio > 0 else [])
    crawl.check_split_folders(args.pickle_path, args.val_path, bool(val))
    crawl.check_patch_size(args.pickle_path, args.image_size, fonts + real)
    if val:
        crawl.check_patch_size(args.val_path, args.image_size, val)


def main(argv=None) -> int:
    args = parse_args(argv)
    placement = placement_from(args)
    styles = [s for s, on in (("printed", args.printed), ("handwriting", args.clova)) if on]
    # Checked before any slow work (a font crawl can take minutes, reading a real set too).
    crawl.split_train_val(0, args.val_ratio, args.seed)
    if args.images and not os.path.isdir(args.images):
        raise FileNotFoundError(f"--images: image folder not found: {args.images}")
    if styles or real_sets(args):
        crawl.check_patch_settings(args.image_size, args.margin, args.pickle_size)
        check_outputs(args, styles)
    start = time.time()
    if args.image_test:
        print("wrote", ", ".join(image_test(args, placement)))
    if styles:
        cfg = crawl.CrawlConfig(
            font_dir=args.font_path,
            pickle_path=args.pickle_path,
            val_path=args.val_path,
            val_ratio=args.val_ratio,
            val_fonts=[f for f in args.val_fonts.split(",") if f],
            image_size=args.image_size,
            margin=args.margin,
            placement=placement,
            charset=args.charset,
            styles=styles,
            include_test_fonts=args.include_test_fonts,
            augment=args.augment,
            augment_handwriting=args.clova_augment,
            presets=crawl.presets_from(args.printed_presets, args.handwriting_presets),
            render_size=args.render_size,
            pickle_size=args.pickle_size,
            seed=args.seed,
            workers=args.workers,
        )
        counts = crawl.crawl_fonts(cfg)
        print("samples:", counts)
        for prefix, split in counts.items():
            note_kept(args, prefix, split["train"], split["val"])
    if real_sets(args):
        ingest_real(args, placement)
    if not (styles or real_sets(args) or args.image_test):
        print("Nothing to do: pass --printed, --clova, --AIHub, --hgu1, --images or --image_test", file=sys.stderr)
        return 2
    for folder in (args.pickle_path, args.val_path):
        if os.path.isdir(folder) and patches.list_patches(folder):
            print(patches.format_summary(patches.summarize(folder)))
    print(f"done in {time.time() - start:.0f}s")
    return 0


if __name__ == "__main__":
    from koocr.cli import run

    sys.exit(run(main))
