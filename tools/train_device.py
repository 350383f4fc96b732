"""Render + train in one wall-clock-bounded job, on any Keras backend (JAX/torch on a GPU box).

A lent accelerator machine has no TensorFlow and a fixed time budget, and the datasets are
too big to send there. This script therefore renders the training glyphs *on that machine*
(all its CPU cores), trains with a time-based schedule (``koocr.timebudget``) so it ends
before ``--deadline`` seconds, and writes a KoOCR weights folder plus the float32 weights
split into small ``.npz`` chunks (each under ``--chunk_mb``) for copying back. Nothing in
the import chain of the rendering or the network code needs TensorFlow.

Usage on the accelerator (JAX backend)::

    KERAS_BACKEND=jax python tools/train_device.py --network_type melnyk --image_size 96 \
        --charset all --augment 1 --augment_handwriting 2 --deadline 540 --out OUT

Back here, rebuild an ordinary weights folder from the chunks (TensorFlow backend)::

    python tools/train_device.py --import_from OUT --save pretrained/melnyk96
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from koocr import hangul  # noqa: E402
from koocr.cli import add_bool_argument  # noqa: E402
from koocr.config import ModelConfig  # noqa: E402

T0 = time.monotonic()


def log(msg: str) -> None:
    print(f"[{time.monotonic() - T0:7.1f}s] {msg}", flush=True)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--network_type", default="melnyk")
    p.add_argument("--image_size", type=int, default=96)
    p.add_argument("--fc_link", default="GWAP")
    p.add_argument("--width", type=float, default=None, help="network width multiplier")
    p.add_argument("--charset", default="all", help="syllables rendered (ks2350, all or a file)")
    p.add_argument("--max_chars", type=int, default=None, help="only the first N (tests)")
    p.add_argument("--max_fonts", type=int, default=None, help="only the first N fonts (tests)")
    p.add_argument("--augment", type=int, default=1, help="distorted copies per printed glyph")
    p.add_argument("--augment_handwriting", type=int, default=2)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--val_ratio", type=float, default=0.02)
    p.add_argument("--batch_size", type=int, default=256)
    p.add_argument("--lr", type=float, default=0.002, help="peak Adam learning rate")
    p.add_argument("--warmup", type=float, default=0.05, help="warm-up fraction of the budget")
    p.add_argument("--steps_per_epoch", type=int, default=300, help="steps between saves")
    p.add_argument("--deadline", type=float, default=540.0, help="seconds from start to finish")
    p.add_argument("--reserve", type=float, default=45.0, help="seconds kept for validation + save")
    add_bool_argument(p, "mixed_precision", True, "bfloat16 compute (float32 variables)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="logs/device", help="output folder")
    p.add_argument("--chunk_mb", type=float, default=12.0)
    p.add_argument("--import_from", default=None, help="rebuild weights from a finished --out")
    p.add_argument("--save", default=None, help="with --import_from: weights folder to write")
    p.add_argument("--note", default="", help="with --import_from: how the model was made")
    add_bool_argument(p, "float16", True, "with --import_from: store float16 weights (half size)")
    return p.parse_args(argv)


def model_config(args) -> ModelConfig:
    network_args = {} if args.width is None else {"width": args.width}
    return ModelConfig(
        network_type=args.network_type,
        split_components=True,
        fc_link=args.fc_link,
        image_size=args.image_size,
        charset=args.charset,
        network_args=network_args,
    )


def build(cfg: ModelConfig):
    from koocr import networks  # keras: imported only after the render pool has forked

    return networks.build_network(
        cfg.network_type, cfg.image_size, dict(hangul.COMPONENT_SIZES), fc_link=cfg.fc_link, **cfg.network_args
    )


def render(args):
    from koocr.crawl import CrawlConfig, render_fonts, split_train_val
    from koocr.fonts import load_manifest

    fonts = [f for f in load_manifest() if f.split == "train"]
    if args.max_fonts:
        fonts = fonts[: args.max_fonts]
    charset = hangul.load_charset(args.charset)
    if args.max_chars:
        charset = charset[: args.max_chars]
    fonts = ensure_readable(fonts, args.workers)
    cfg = CrawlConfig(
        image_size=args.image_size,
        charset=list(charset),
        augment=args.augment,
        augment_handwriting=args.augment_handwriting,
        workers=args.workers,
        seed=args.seed,
    )
    log(f"rendering {len(fonts)} fonts x {len(charset)} syllables with {args.workers} workers")
    rendered = render_fonts(fonts, cfg)
    images = np.concatenate([v[0] for v in rendered.values()])
    labels = np.concatenate([v[1] for v in rendered.values()])
    del rendered
    train_idx, val_idx = split_train_val(len(labels), args.val_ratio, args.seed)
    log(f"rendered {len(labels)} glyphs: {len(train_idx)} train, {len(val_idx)} val")
    return images, labels, train_idx, val_idx, [f.name for f in fonts]


def _to_ttf(item: tuple[str, str]) -> None:
    from fontTools.ttLib import TTFont

    src, dst = item
    if not os.path.exists(dst):
        with TTFont(src) as font:
            font.flavor = None
            font.save(dst + ".tmp")
        os.replace(dst + ".tmp", dst)


def ensure_readable(fonts, workers: int = 1):
    """FreeType builds without Brotli cannot open WOFF2: decompress those to TTF first."""
    from multiprocessing import get_context

    from PIL import ImageFont

    try:
        ImageFont.truetype(fonts[0].path, 20)
        return fonts
    except OSError:
        log("this Pillow cannot read WOFF2: decompressing the fonts to TTF")
    folder = os.path.join("/tmp", "koocr_ttf")
    os.makedirs(folder, exist_ok=True)
    out = [dataclasses.replace(f, path=os.path.join(folder, f"{f.name}.ttf")) for f in fonts]
    with get_context("fork").Pool(max(1, workers)) as pool:
        pool.map(_to_ttf, [(f.path, g.path) for f, g in zip(fonts, out, strict=True)])
    return out


def batches(images, targets, idx, batch_size, seed):
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(idx)
        for start in range(0, len(order) - batch_size + 1, batch_size):
            pick = np.sort(order[start : start + batch_size])
            yield images[pick][..., None], {k: v[pick] for k, v in targets.items()}


def save_chunks(model, folder: str, chunk_mb: float) -> list[str]:
    """Float32 weights in order, split into npz files under ``chunk_mb`` each."""
    weights = [np.asarray(w, np.float32) for w in model.get_weights()]
    limit = chunk_mb * 2**20
    groups, current, size = [], [], 0
    for i, w in enumerate(weights):
        if current and size + w.nbytes > limit:
            groups.append(current)
            current, size = [], 0
        current.append(i)
        size += w.nbytes
    groups.append(current)
    paths = []
    for g, members in enumerate(groups):
        path = os.path.join(folder, f"weights_{g:03d}.npz")
        tmp = path + ".tmp.npz"
        np.savez(tmp, **{f"w{i:04d}": weights[i] for i in members})
        os.replace(tmp, path)
        paths.append(path)
    for stale in sorted(glob.glob(os.path.join(folder, "weights_*.npz")))[len(groups) :]:
        os.remove(stale)
    return paths


def load_chunks(folder: str) -> list[np.ndarray]:
    found = {}
    for path in sorted(glob.glob(os.path.join(folder, "weights_*.npz"))):
        with np.load(path) as data:
            found.update({k: data[k] for k in data.files})
    if not found:
        raise FileNotFoundError(f"No weights_*.npz chunks in {folder!r}")
    keys = sorted(found)
    if keys != [f"w{i:04d}" for i in range(len(keys))]:
        raise ValueError(f"Weight chunks in {folder!r} are incomplete: {len(keys)} arrays, gaps in the numbering")
    return [found[k] for k in keys]


def syllable_metrics(model, images, targets, idx, batch_size: int) -> dict[str, float]:
    correct = {k: 0 for k in targets}
    whole = 0
    for start in range(0, len(idx), batch_size):
        pick = idx[start : start + batch_size]
        outs = model.predict_on_batch(images[pick][..., None])
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        ok = np.ones(len(pick), bool)
        for name, out in zip(targets, outs, strict=True):
            hit = np.argmax(np.asarray(out), -1) == targets[name][pick]
            correct[name] += int(hit.sum())
            ok &= hit
        whole += int(ok.sum())
    n = max(1, len(idx))
    result = {f"val_{k}_accuracy": v / n for k, v in correct.items()}
    result["val_syllable_accuracy"] = whole / n
    result["val_samples"] = len(idx)
    return result


def train(args) -> int:
    os.makedirs(args.out, exist_ok=True)
    cfg = model_config(args)
    images, labels, train_idx, val_idx, font_names = render(args)
    targets = hangul.jamo_targets(labels)

    import keras

    from koocr.timebudget import TimeBudget

    log(f"keras {keras.__version__} backend {keras.backend.backend()}")
    keras.utils.set_random_seed(args.seed)
    if args.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    model = build(cfg)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=args.lr),
        loss={k: "sparse_categorical_crossentropy" for k in targets},
        metrics={k: "accuracy" for k in targets},
    )
    budget = args.deadline - (time.monotonic() - T0) - args.reserve
    if budget < 10:
        raise RuntimeError(f"No time left to train: budget {budget:.0f} s after rendering")
    log(f"training budget {budget:.0f} s, {model.count_params()} parameters")

    class Saver(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            save_chunks(self.model, args.out, args.chunk_mb)
            entry = {k: float(v) for k, v in (logs or {}).items()}
            entry["epoch"] = epoch + 1
            with open(os.path.join(args.out, "history.jsonl"), "a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry) + "\n")
            log(f"epoch {epoch + 1}: " + ", ".join(f"{k}={v:.4g}" for k, v in entry.items()))

    timer = TimeBudget(budget, args.lr, warmup=args.warmup)
    start = time.monotonic()
    model.fit(
        batches(images, targets, train_idx, args.batch_size, args.seed),
        steps_per_epoch=args.steps_per_epoch,
        epochs=10**6,
        callbacks=[timer, Saver()],
        verbose=2,
    )
    seconds = time.monotonic() - start
    save_chunks(model, args.out, args.chunk_mb)
    metrics = syllable_metrics(model, images, targets, val_idx, 1024)
    info = {
        **metrics,
        "train_seconds": round(seconds, 1),
        "train_steps": timer.steps,
        "train_images": timer.steps * args.batch_size,
        "images_per_second": round(timer.steps * args.batch_size / max(seconds, 1e-9), 1),
        "glyphs_rendered": int(len(labels)),
        "fonts": font_names,
        "backend": keras.backend.backend(),
        "argv": sys.argv[1:],
        "device": _device_name(),
    }
    with open(os.path.join(args.out, "train_info.json"), "w", encoding="utf-8") as fh:
        json.dump({"config": json.loads(cfg.to_json()), "info": info}, fh, ensure_ascii=False, indent=2)
    log("done: " + json.dumps({k: v for k, v in info.items() if k != "fonts"}))
    return 0


def _device_name() -> str:
    try:
        import keras

        if keras.backend.backend() == "jax":
            import jax

            return str(jax.devices()[0].device_kind)
        if keras.backend.backend() == "torch":
            import torch

            return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    except Exception as err:  # noqa: BLE001 - informational only
        return f"unknown ({err})"
    return "cpu"


def import_weights(args) -> int:
    """Rebuilds a KoOCR weights folder from the chunks + train_info.json of a finished run."""
    if not args.save:
        raise SystemExit("--import_from needs --save FOLDER")
    with open(os.path.join(args.import_from, "train_info.json"), encoding="utf-8") as fh:
        saved = json.load(fh)
    from koocr import weights as kweights

    cfg = ModelConfig.from_dict(saved["config"])
    model = build(cfg)
    arrays = load_chunks(args.import_from)
    expected = [tuple(w.shape) for w in model.get_weights()]
    if [a.shape for a in arrays] != expected:
        raise ValueError("The weight chunks do not match the network the config builds")
    model.set_weights(arrays)
    kweights.save(model, cfg, args.save, extra={"training": saved["info"], "note": args.note}, float16=args.float16)
    print(f"saved {args.save}")
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.import_from:
        return import_weights(args)
    return train(args)


if __name__ == "__main__":
    sys.exit(main())
