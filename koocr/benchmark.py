"""Speed and size of a KoOCR model: what ``tools/benchmark.py`` and ``evaluate.py --benchmark`` print."""

from __future__ import annotations

import os
import time

import numpy as np

from koocr import networks
from koocr import weights as kweights


def _median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times))


def benchmark(ocr, images: np.ndarray, repeats: int = 200, batch: int = 1024) -> dict:
    """Measures an OCR object on raw glyph images (uint8 (N, H, W), any N >= 1).

    Returns:
        params, MACs, weights file size, single-image latency (median ms, end to end:
        normalisation + network + decoding), and images/s for a batch both end to end and
        for the network + decoding alone on already-normalised input.
    """
    single = images[0]
    for _ in range(10):  # warm-up: tracing, oneDNN primitive caches
        ocr.predict(single)
    latency = _median_ms(lambda: ocr.predict(single), repeats)
    norm = _median_ms(lambda: ocr.preprocess(single), repeats)
    reps = int(np.ceil(batch / len(images)))
    raw = np.concatenate([images] * reps)[:batch]
    normalised, _ = ocr.preprocess(raw)
    ocr.predict(raw[:8])
    t_e2e = _median_ms(lambda: ocr.predict(raw), 3) / 1000
    probs_fn = lambda: ocr.probabilities(normalised)  # noqa: E731
    probs_fn()
    t_net = _median_ms(probs_fn, 5) / 1000
    size = None
    if ocr.weights_path:
        size = os.path.getsize(os.path.join(ocr.weights_path, kweights.WEIGHTS_FILE))
    return {
        "network_type": ocr.config.network_type,
        "litert_copy": _litert_label(ocr),
        "image_size": ocr.config.image_size,
        "params": int(ocr.model.count_params()),
        "macs": int(networks.count_macs(ocr.model)),
        "weights_bytes": size,
        "single_image_ms": latency,
        "normalise_ms": norm,
        "batch": batch,
        "batched_images_per_s_end_to_end": batch / t_e2e,
        "batched_images_per_s_network": batch / t_net,
    }


def _litert_label(ocr) -> str | None:
    return None if ocr.litert_copy is None else f"shipped {ocr.litert_copy}"


def format_report(r: dict) -> str:
    size = f"{r['weights_bytes'] / 1e6:.2f} MB" if r["weights_bytes"] else "n/a (not saved)"
    return "\n".join(
        [
            f"model: {r['network_type']} @ {r['image_size']} px, {r['params']:,} params, "
            f"{r['macs'] / 1e6:.1f} MMAC/image, weights {size}, "
            f"backend='auto' runs {r['litert_copy'] or 'the compiled Keras graph (no LiteRT copy)'}",
            f"single image (normalise + network + top-5): {r['single_image_ms']:.2f} ms "
            f"(of which normalisation {r['normalise_ms']:.2f} ms)",
            f"batch of {r['batch']}: {r['batched_images_per_s_end_to_end']:.0f} images/s end to end, "
            f"{r['batched_images_per_s_network']:.0f} images/s network + decoding",
        ]
    )


def compare_backends(
    ocr, images: np.ndarray, backends=("keras", "litert", "onnx"), repeats: int = 200, batch: int = 1024
) -> dict[str, dict]:
    """Single-image latency (ms, end to end) and batched network images/s per ``predict`` backend.

    Backends whose packages are missing (ONNX: ``pip install tf2onnx onnxruntime``) are
    reported as ``{"error": ...}``.
    """
    single = images[0]
    reps = int(np.ceil(batch / len(images)))
    normalised, _ = ocr.preprocess(np.concatenate([images] * reps)[:batch])
    results = {}
    for backend in backends:
        try:
            ocr.predict(single, backend=backend)  # export / trace once
        except ImportError as err:
            results[backend] = {"error": str(err)}
            continue
        for _ in range(10):
            ocr.predict(single, backend=backend)
        latency = _median_ms(lambda b=backend: ocr.predict(single, backend=b), repeats)
        run = lambda b=backend: ocr.probabilities(normalised, backend=b)  # noqa: E731
        run()
        seconds = _median_ms(run, 5) / 1000
        results[backend] = {"single_image_ms": latency, "batched_images_per_s_network": batch / seconds}
        if backend == "litert":
            results[backend]["runs"] = _litert_label(ocr) or "a float32 export of the weights"
    return results


def format_backends(results: dict[str, dict], batch: int) -> str:
    lines = [f"{'backend':8} {'single image ms':>16} {f'batch {batch} img/s':>16}"]
    for name, r in results.items():
        if "error" in r:
            lines.append(f"{name:8} unavailable: {r['error']}")
        else:
            runs = f"  ({r['runs']})" if "runs" in r else ""
            lines.append(
                f"{name:8} {r['single_image_ms']:16.2f} {r['batched_images_per_s_network']:16.0f}{runs}"
            )
    return "\n".join(lines)
