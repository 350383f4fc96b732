"""Render + train in one wall-clock-bounded job, on any Keras backend (JAX/torch on a GPU box).

A lent accelerator machine has no TensorFlow and a fixed time budget, and the datasets are
too big to send there. This script therefore renders the training glyphs *on that machine*
(all its CPU cores) while it trains: training starts after ``--start_after`` glyphs, the
render pool keeps adding glyphs (``--passes 0``: fresh distorted copies until the end), and
a time-based schedule (``koocr.timebudget``) ends training before ``--deadline`` seconds, and writes a KoOCR weights folder plus the float32 weights
split into small ``.npz`` chunks (each under ``--chunk_mb``) for copying back. Nothing in
the import chain of the rendering or the network code needs TensorFlow.

Usage on the accelerator (JAX backend)::

    KERAS_BACKEND=jax python tools/train_device.py --network_type melnyk --image_size 96 \
        --charset all --augment 1 --augment_handwriting 2 --passes 0 --start_after 150000 \
        --workers 14 --deadline 540 --out OUT

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
from koocr.cli import add_bool_argument, add_preset_arguments  # noqa: E402
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
    add_preset_arguments(p)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--val_ratio", type=float, default=0.02, help="share of pass 0 kept for validation")
    p.add_argument("--passes", type=int, default=1, help="render passes (0: fresh distorted copies until training ends)")
    p.add_argument("--start_after", type=int, default=-1, help="glyphs rendered before training starts (-1: all of pass 0)")
    p.add_argument("--max_glyphs", type=int, default=2_000_000, help="training glyphs held at most (96 px: 9.2 kB each)")
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


class GlyphStream:
    """Renders training glyphs in a process pool while the network trains on them.

    Pass 0 renders every covered syllable of every font (clean + distorted copies) in a
    shuffled task order, so the first glyphs already span all fonts; later passes add
    fresh distorted copies until training ends or ``capacity`` glyphs are held. A seeded
    ``val_ratio`` share of pass 0 is kept apart for validation. The pool is forked before
    the Keras backend starts (JAX must not be forked).
    """

    def __init__(self, fonts, cfg, capacity: int, val_ratio: float, passes: int, seed: int):
        from multiprocessing import get_context

        self.fonts, self.cfg, self.val_ratio, self.passes = fonts, cfg, val_ratio, passes
        self.rng = np.random.default_rng(seed)
        size = cfg.image_size
        try:  # pages are committed as they fill
            self.images = np.empty((capacity, size, size), np.uint8)
        except MemoryError as err:
            gb = capacity * size * size / 1e9
            raise MemoryError(f"A buffer of {capacity} glyphs at {size} px ({gb:.1f} GB) does not fit: lower --max_glyphs") from err
        self.targets = {k: np.empty(capacity, np.int32) for k in hangul.COMPONENT_SIZES}
        self.fill = 0
        self.val_images: list[np.ndarray] = []
        self.val_labels: list[np.ndarray] = []
        self.rendered = 0
        self.pass_index = -1
        self.pending: list = []
        self.queue: list = []
        self.workers = max(1, cfg.workers)
        self.pool = get_context("fork").Pool(self.workers)
        self._submit()

    def _next_task(self):
        if not self.queue:
            if self.passes and self.pass_index + 1 >= self.passes:
                return None
            self.pass_index += 1
            from koocr.crawl import font_tasks

            tasks = [t for t, _ in font_tasks(self.fonts, self.cfg, pass_index=self.pass_index)]
            self.queue = [tasks[i] for i in self.rng.permutation(len(tasks))][::-1]
            if not self.queue:
                return None
        return self.pass_index, self.queue.pop()

    def _submit(self) -> None:
        from koocr.crawl import _render_task

        while self.pool is not None and len(self.pending) < 2 * self.workers and self.fill < len(self.images):
            item = self._next_task()
            if item is None:
                break
            self.pending.append((item[0], self.pool.apply_async(_render_task, (item[1],))))

    def poll(self, wait: bool = False) -> None:
        """Stores every finished task (``wait``: at least one) and keeps the pool busy."""
        while True:
            done = [p for p in self.pending if p[1].ready()]
            if done or not wait or not self.pending:
                break
            self.pending[0][1].wait(0.05)
        for item in done:
            self.pending.remove(item)
            self._store(item[0], *item[1].get())
        self._submit()

    def _store(self, pass_index: int, images: np.ndarray, labels: list[str]) -> None:
        labels = np.asarray(labels, dtype="<U1")
        self.rendered += len(labels)
        if pass_index == 0 and self.val_ratio > 0:
            is_val = self.rng.random(len(labels)) < self.val_ratio
            self.val_images.append(images[is_val])
            self.val_labels.append(labels[is_val])
            images, labels = images[~is_val], labels[~is_val]
        n = min(len(labels), len(self.images) - self.fill)
        self.images[self.fill : self.fill + n] = images[:n]
        for k, v in hangul.jamo_targets(labels[:n]).items():
            self.targets[k][self.fill : self.fill + n] = v
        self.fill += n

    def wait_for(self, glyphs: int) -> None:
        """Blocks until ``glyphs`` are stored (-1: all of pass 0) or nothing is left to render."""
        def first_pass_left() -> bool:
            return bool(self.pass_index == 0 and self.queue) or any(p[0] == 0 for p in self.pending)

        while self.pending and (first_pass_left() if glyphs < 0 else self.fill < glyphs):
            self.poll(wait=True)

    def batches(self, batch_size: int, seed: int):
        rng = np.random.default_rng(seed)
        self.wait_for(1)
        if self.fill == 0:
            raise RuntimeError("No training glyphs were rendered (check the fonts, --charset and --val_ratio)")
        while True:
            self.poll()
            pick = np.sort(rng.integers(0, self.fill, batch_size))
            yield self.images[pick][..., None], {k: v[pick] for k, v in self.targets.items()}

    def validation(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        if not self.val_labels:
            return np.empty((0,) + self.images.shape[1:], np.uint8), {}
        labels = np.concatenate(self.val_labels)
        return np.concatenate(self.val_images), hangul.jamo_targets(labels)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
            self.pool = None
            self.pending = []


def start_rendering(args) -> tuple[GlyphStream, list[str]]:
    from koocr.crawl import CrawlConfig, presets_from
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
        presets=presets_from(args.printed_presets, args.handwriting_presets),
        workers=args.workers,
        seed=args.seed,
    )
    log(f"rendering {len(fonts)} fonts x {len(charset)} syllables with {args.workers} workers")
    stream = GlyphStream(fonts, cfg, args.max_glyphs, args.val_ratio, args.passes, args.seed)
    return stream, [f.name for f in fonts]


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


def syllable_metrics(model, images, targets, batch_size: int) -> dict[str, float]:
    correct = {k: 0 for k in targets}
    whole = 0
    for start in range(0, len(images), batch_size):
        pick = slice(start, start + batch_size)
        outs = model.predict_on_batch(images[pick][..., None])
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        ok = np.ones(len(images[pick]), bool)
        for name, out in zip(targets, outs, strict=True):
            hit = np.argmax(np.asarray(out), -1) == targets[name][pick]
            correct[name] += int(hit.sum())
            ok &= hit
        whole += int(ok.sum())
    n = max(1, len(images))
    result = {f"val_{k}_accuracy": v / n for k, v in correct.items()}
    result["val_syllable_accuracy"] = whole / n
    result["val_samples"] = len(images)
    return result


def train(args) -> int:
    os.makedirs(args.out, exist_ok=True)
    cfg = model_config(args)
    stream, font_names = start_rendering(args)
    try:
        stream.wait_for(args.start_after)
        log(f"{stream.fill} glyphs ready, {len(stream.pending)} tasks rendering: training starts")
        return _fit(args, cfg, stream, font_names)
    finally:
        stream.close()


def _fit(args, cfg: ModelConfig, stream: GlyphStream, font_names: list[str]) -> int:
    import keras

    from koocr.timebudget import TimeBudget

    log(f"keras {keras.__version__} backend {keras.backend.backend()}")
    keras.utils.set_random_seed(args.seed)
    if args.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    model = build(cfg)
    heads = list(hangul.COMPONENT_SIZES)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=args.lr),
        loss={k: "sparse_categorical_crossentropy" for k in heads},
        metrics={k: "accuracy" for k in heads},
    )
    budget = args.deadline - (time.monotonic() - T0) - args.reserve
    if budget < 10:
        raise RuntimeError(f"No time left to train: budget {budget:.0f} s after rendering")
    log(f"training budget {budget:.0f} s, {model.count_params()} parameters")

    class Saver(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            save_chunks(self.model, args.out, args.chunk_mb)
            entry = {k: float(v) for k, v in (logs or {}).items()}
            entry.update(epoch=epoch + 1, glyphs=stream.fill, render_pass=stream.pass_index)
            with open(os.path.join(args.out, "history.jsonl"), "a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry) + "\n")
            log(f"epoch {epoch + 1}: " + ", ".join(f"{k}={v:.4g}" for k, v in entry.items()))

    timer = TimeBudget(budget, args.lr, warmup=args.warmup)
    start = time.monotonic()
    model.fit(
        stream.batches(args.batch_size, args.seed),
        steps_per_epoch=args.steps_per_epoch,
        epochs=10**6,
        callbacks=[timer, Saver()],
        verbose=2,
    )
    seconds = time.monotonic() - start
    stream.close()  # frees the CPUs (and stops filling) before validation
    save_chunks(model, args.out, args.chunk_mb)
    val_images, val_targets = stream.validation()
    metrics = syllable_metrics(model, val_images, val_targets, 1024)
    info = {
        **metrics,
        "train_seconds": round(seconds, 1),
        "train_steps": timer.steps,
        "train_images": timer.steps * args.batch_size,
        "images_per_second": round(timer.steps * args.batch_size / max(seconds, 1e-9), 1),
        "glyphs_rendered": int(stream.rendered),
        "glyphs_trained_on": int(stream.fill),
        "render_passes": int(stream.pass_index + 1),
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
