"""Copies a trained checkpoint into ``pretrained/<name>/`` (weights + config only).

    python tools/ship_model.py logs/compact48/best compact48 [--litert]
    python tools/ship_model.py --litert_only compact48 --quantize int8   # re-make its LiteRT copy

The checkpoint's file also holds the optimizer state; loading it into a fresh model and
saving again keeps only the network weights, so the shipped file is small. Fit the
segment classifier of ``read()`` afterwards with tools/fit_segments.py.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def folder_name(value: str) -> str:
    """A shipped model's name: one plain folder under pretrained/ (``../x`` or an absolute
    path wrote outside it)."""
    if value in ("", ".", "..") or any(sep in value for sep in "/\\"):  # either OS's separator
        raise argparse.ArgumentTypeError(
            f"expected a plain folder name under pretrained/ (no path separator, not '.' or '..'). "
            f"Received: {value!r}"
        )
    return value


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "checkpoint", nargs="?", help="folder written by training (config.json + model.weights.h5)"
    )
    p.add_argument("name", type=folder_name, help="shipped model name (folder under pretrained/)")
    p.add_argument(
        "--litert_only",
        action="store_true",
        help="leave the shipped weights untouched; only (re)write their LiteRT copy",
    )
    p.add_argument("--note", default="", help="how the model was made, stored in config.json")
    p.add_argument(
        "--litert",
        action="store_true",
        help="also ship a LiteRT copy (model.tflite), which predict()/read() run",
    )
    p.add_argument(
        "--quantize",
        choices=["dynamic", "int8"],
        default=None,
        help="quantize the LiteRT copy (default: float32)",
    )
    args = p.parse_args(argv)

    from koocr import export as kexport
    from koocr import weights as kweights
    from model import KoOCR

    if args.quantize and not (args.litert or args.litert_only):
        p.error(
            "--quantize needs --litert (or --litert_only): without it no LiteRT copy is shipped"
        )
    if args.litert_only and (args.checkpoint is not None or args.note):
        p.error(
            "--litert_only re-makes the LiteRT copy of the shipped weights: it takes no checkpoint or --note"
        )
    if args.litert_only:
        folder = os.path.join(kweights.pretrained_dir(), args.name)
        ocr = KoOCR(weights=folder)
        _, meta = kweights.read_config(folder)
        target = kexport.ship_litert(
            ocr.model, ocr.config, folder, meta["weights_sha256"], args.quantize
        )
        print(
            json.dumps(
                {"path": target, "bytes": os.path.getsize(target), "quantize": args.quantize},
                indent=2,
            )
        )
        return 0
    if args.checkpoint is None:
        p.error("a checkpoint is needed unless --litert_only")

    ocr = KoOCR(weights=args.checkpoint)
    _, meta = kweights.read_config(ocr.weights_path)
    extra = {"training": meta.get("extra", {}), "note": args.note}
    path = ocr.save(
        os.path.join(kweights.pretrained_dir(), args.name),
        extra=extra,
        litert=(args.quantize or True) if args.litert else False,
    )
    size = os.path.getsize(os.path.join(path, kweights.WEIGHTS_FILE))
    print(json.dumps({"path": path, "weights_bytes": size, **extra}, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    from koocr.cli import run

    sys.exit(run(main))
