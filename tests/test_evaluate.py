"""evaluate.py / koocr.evaluation / koocr.cam on a tiny untrained model and tiny patches."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

import evaluate
from koocr import cam, decode, hangul, patches
from koocr.evaluation import (
    Predictions,
    accuracy_metrics,
    confused_pairs,
    evaluate_arrays,
    predict_arrays,
    render_font_set,
    run_evaluation,
)
from koocr.fonts import default_font_dir, load_manifest
from koocr.preprocess import normalize
from model import KoOCR

TINY = {"network_type": "compact", "image_size": 32, "network_args": {"width": 0.25}}
CHARS = "가나다라마바사아자차카타파하한글똠햏"  # 똠 and 햏 lie outside KS X 1001
ALL_PNGS = [
    "wrong_examples.png",
    "confusion_initial.png",
    "confusion_medial.png",
    "confusion_final.png",
    "class_activation.png",
    "augmentation.png",
]
FAST_BENCH = ["--benchmark_repeats", "2", "--benchmark_batch", "16", "--progress", "no"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    ocr = KoOCR(**TINY)
    return ocr.save(str(tmp_path_factory.mktemp("model") / "tiny"))


@pytest.fixture(scope="module")
def ocr(model_dir):
    return KoOCR(weights=model_dir)


@pytest.fixture(scope="module")
def patch_dir(tmp_path_factory, render, ocr):
    """Two sources; half the labels are the model's own top-1 (or top-3), so accuracy is not 0."""
    folder = tmp_path_factory.mktemp("val_data")
    images = np.stack([normalize(render(c), 32) for c in CHARS * 2])
    ranked = decode.top_n_split(ocr.probabilities(images), 3)
    labels = list(CHARS * 2)
    for i in range(0, len(labels), 2):
        labels[i] = ranked[i][0][0] if i % 4 == 0 else ranked[i][2][0]
    half = len(labels) // 2
    patches.write_patches(folder, "printed", images[:half], labels[:half])
    patches.write_patches(folder, "handwritten", images[half:], labels[half:], patch_size=7)
    return str(folder)


def _check_png(path):
    assert os.path.isfile(path), path
    with Image.open(path) as im:
        pixels = np.asarray(im.convert("L"), dtype=np.float32)
    assert pixels.shape[0] > 50 and pixels.shape[1] > 50
    assert pixels.std() > 0, f"{path} is blank"


def _direct_accuracy(ocr, images, labels, groups, n):
    ranked = decode.top_n_split(ocr.probabilities(images), n)
    hit1 = np.array([r[0][0] == t for r, t in zip(ranked, labels, strict=True)])
    hitn = np.array([t in [s for s, _ in r] for r, t in zip(ranked, labels, strict=True)])
    return hit1, hitn


def test_cli_all_methods_on_patches(model_dir, ocr, patch_dir, tmp_path):
    out = tmp_path / "eval"
    argv = ["--weights", model_dir, "--data_path", patch_dir, "--output", str(out), "--top_n", "3"]
    assert evaluate.main(argv + ["--class_activation_n", "4", *FAST_BENCH]) == 0
    for name in [*ALL_PNGS, "metrics.json", "report.md", "confused_pairs.csv", "confused_pairs.md"]:
        assert (out / name).is_file(), name
    for name in ALL_PNGS:
        _check_png(out / name)
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))

    paths = patches.list_patches(patch_dir)
    images = np.concatenate([patches.load_patch(p)["image"] for p in paths])
    labels = np.concatenate([patches.load_patch(p)["label"] for p in paths])
    sources = np.concatenate(
        [[patches.source_of(p)] * len(patches.load_patch(p)["label"]) for p in paths]
    )
    hit1, hitn = _direct_accuracy(ocr, images, labels, sources, 3)
    assert 0 < hit1.mean() < hitn.mean() <= 1  # the relabelling makes both non-trivial
    assert metrics["samples"] == len(labels) and metrics["top_n"] == 3
    assert metrics["top1"] == pytest.approx(hit1.mean())
    assert metrics["topn"] == pytest.approx(hitn.mean())
    for source in ("printed", "handwritten"):
        group = metrics["groups"][source]
        assert group["count"] == int((sources == source).sum())
        assert group["top1"] == pytest.approx(hit1[sources == source].mean())
        assert group["topn"] == pytest.approx(hitn[sources == source].mean())
    inside = np.array([hangul.is_ks_x_1001(c) for c in labels])
    assert metrics["ks_x_1001"]["inside"]["count"] == inside.sum()
    assert metrics["ks_x_1001"]["outside"]["top1"] == pytest.approx(hit1[~inside].mean())
    probs = ocr.probabilities(images)
    truth = np.array([hangul.decompose(c) for c in labels])
    for k, name in enumerate(("initial", "medial", "final")):
        expected = np.mean(probs[k].argmax(1) == truth[:, k])
        assert metrics["components"][name] == pytest.approx(expected)
    bench = metrics["benchmark"]
    assert bench["params"] == ocr.model.count_params() and bench["macs"] > 0
    assert bench["weights_bytes"] > 0 and bench["single_image_ms"] > 0
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "wrong_examples.png" in report and "| printed |" in report


def test_cli_selected_methods_only(model_dir, patch_dir, tmp_path):
    out = tmp_path / "only"
    argv = ["--weights", model_dir, "--data_path", patch_dir, "--output", str(out)]
    assert evaluate.main(argv + ["--accuracy", "--progress=no"]) == 0
    assert sorted(os.listdir(out)) == ["metrics.json", "report.md", "wrong_examples.png"]
    assert evaluate.chosen_methods(evaluate.parse_args(["--benchmark=no"])) == [
        "accuracy", "confusion_matrix", "class_activation", "show_augmentation"
    ]  # fmt: skip


def test_patch_size_mismatch_is_a_clear_error(patch_dir):
    other = KoOCR(**{**TINY, "image_size": 40})
    images = patches.load_patch(patches.list_patches(patch_dir)[0])["image"]
    with pytest.raises(ValueError, match="40 px model"):
        evaluate_arrays(other, images, ["가"] * len(images), normalised=True, progress=False)


def test_single_head_components_are_decoded(render):
    ocr = KoOCR(**TINY, split_components=False, charset=list("가나다한"))
    images = [render(c) for c in "가나다한"]
    metrics = evaluate_arrays(ocr, images, list("가나다한"), top_n=2, progress=False)
    top1 = [r[0] for r in ocr.predict(images, n=1)]
    assert metrics["top1"] == pytest.approx(
        np.mean([p == t for p, t in zip(top1, "가나다한", strict=True)])
    )
    initial = [hangul.decompose(p)[0] for p in top1]
    expected = np.mean(
        [i == hangul.decompose(t)[0] for i, t in zip(initial, "가나다한", strict=True)]
    )
    assert metrics["components"]["source"] == "decoded top-1"
    assert metrics["components"]["initial"] == pytest.approx(expected)


def test_accuracy_metrics_and_pairs_by_hand():
    pred = Predictions(
        images=np.zeros((3, 8, 8), np.uint8),
        probs=[],
        ranked=[["가", "각"], ["나", "난"], ["똠", "돔"]],
        components={n: np.zeros(3, int) for n in ("initial", "medial", "final")},
    )
    m = accuracy_metrics(pred, ["가", "난", "돔"], ["a", "a", "b"])
    assert (m["top1"], m["topn"]) == (pytest.approx(1 / 3), 1.0)
    assert m["groups"]["a"] == {"count": 2, "top1": 0.5, "topn": 1.0}
    assert m["ks_x_1001"]["outside"]["count"] == 0 and m["ks_x_1001"]["outside"]["top1"] is None
    rows = confused_pairs(["가", "가", "가", "나"], ["각", "각", "가", "다"])
    assert rows[0] == {
        "truth": "가",
        "predicted": "각",
        "count": 2,
        "truth_count": 3,
        "rate": 2 / 3,
    }


def test_direct_cam_sums_to_the_logit(ocr, render):
    images = np.stack([normalize(render(c), 32) for c in "한글"])
    targets = cam.class_targets(ocr, ["한", "글"])
    raw = cam.direct_cam(ocr.model, images, targets, upsample=False, normalise=False)
    feature_model = cam._feature_model(ocr.model, list(targets))
    _, *head_inputs = feature_model(images[..., None].astype("float32"), training=False)
    for (head, idx), x in zip(targets.items(), head_inputs, strict=True):
        kernel = np.asarray(ocr.model.get_layer(head).kernel)
        logits = np.asarray(x) @ kernel
        assert raw[head].sum(axis=(1, 2)) == pytest.approx(
            logits[np.arange(2), idx], rel=1e-4, abs=1e-4
        )
    maps = cam.grad_cam(ocr.model, images, targets)
    assert set(maps) == {"initial", "medial", "final"}
    assert all(m.shape == (2, 32, 32) and m.min() >= 0 and m.max() <= 1 for m in maps.values())


def _font_dir(tmp_path):
    """The repo's fonts/ if its manifest is written; else a one-font folder from the system."""
    repo = default_font_dir()
    if os.path.isfile(os.path.join(repo, "manifest.json")) and load_manifest(repo, split="test"):
        return repo, "test"
    system = "/usr/share/fonts/truetype/nanum/NanumGothic.ttf"
    if not os.path.isfile(system):
        pytest.skip("fonts/manifest.json not written yet and no system NanumGothic to stand in")
    folder = tmp_path / "fonts"
    folder.mkdir()
    shutil.copy(system, folder / "NanumGothic.ttf")
    entry = {
        "name": "NanumGothic", "file": "NanumGothic.ttf", "family": "NanumGothic",
        "style": "printed", "source": "system", "license": "OFL", "split": "test",
        "coverage": {"all": 11172, "ks2350": 2350}, "uncovered": "",
    }  # fmt: skip
    (folder / "manifest.json").write_text(json.dumps([entry]), encoding="utf-8")
    return str(folder), "test"


def test_cli_on_rendered_fonts(model_dir, ocr, tmp_path):
    font_dir, split = _font_dir(tmp_path)
    out = tmp_path / "fonts_eval"
    argv = [
        "--weights", model_dir, "--fonts", font_dir, "--font_split", split, "--max_per_font", "5",
        "--distortion", "auto", "--output", str(out), "--accuracy", "--confusion_matrix",
        "--class_activation", "--class_activation_n", "3", "--progress", "no",
    ]  # fmt: skip
    assert evaluate.main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    fonts = load_manifest(font_dir, split=split)
    images, labels, groups = render_font_set(fonts, "ks2350", "auto", 0, 5, progress=False)
    assert metrics["samples"] == len(labels) == 5 * len(fonts)
    assert set(metrics["groups"]) == {f.name for f in fonts}
    top = ocr.predict(images, n=5)
    assert metrics["top1"] == pytest.approx(
        np.mean([r[0] == t for r, t in zip(top, labels, strict=True)])
    )
    assert metrics["topn"] == pytest.approx(
        np.mean([t in r for r, t in zip(top, labels, strict=True)])
    )
    for name in ("wrong_examples.png", "confusion_final.png", "class_activation.png"):
        _check_png(out / name)


def test_cams_without_pooling_and_single_head(render, tmp_path):
    images = [render(c) for c in "가나다"]
    flat = KoOCR(**TINY, fc_link="flatten")
    assert not cam.has_direct_cam(flat.model)
    normalised = flat.preprocess(images)[0]
    with pytest.raises(ValueError, match="Grad-CAM|grad_cam"):
        cam.direct_cam(flat.model, normalised, cam.class_targets(flat, list("가나다")))
    metrics = run_evaluation(
        flat, images, list("가나다"), None, str(tmp_path / "flat"), ["class_activation"],
        cam_n=2, progress=False,
    )  # fmt: skip
    assert metrics["files"] == {"class activation": "class_activation.png"}
    _check_png(tmp_path / "flat" / "class_activation.png")
    single = KoOCR(**TINY, split_components=False, charset=list("가나"))
    with pytest.raises(ValueError, match="not in the model's charset"):
        cam.class_targets(single, ["다"])
    run_evaluation(
        single, images, list("가나다"), None, str(tmp_path / "single"), ["class_activation"],
        cam_n=5, progress=False,
    )  # fmt: skip
    _check_png(tmp_path / "single" / "class_activation.png")


def test_tta_evaluation_matches_predict_and_records_margins(ocr, render, tmp_path):
    raw = [render(c) for c in CHARS[:6]]
    labels = list(CHARS[:6])
    metrics = run_evaluation(
        ocr, raw, labels, None, str(tmp_path / "tta"), ["accuracy"], progress=False, tta=True
    )  # fmt: skip
    assert metrics["tta_margins"] == pytest.approx(list(ocr.tta_margins()))
    top1 = [row[0] for row in ocr.predict(raw, n=5, tta=True)]
    assert metrics["top1"] == pytest.approx(np.mean([p == t for p, t in zip(top1, labels, strict=True)]))
    # patches: the base view is the patch itself, the other two are placed again from its ink
    patches_ = np.stack([normalize(g, 32) for g in raw])
    on_patches = predict_arrays(ocr, patches_, 5, normalised=True, progress=False, tta=True)
    np.testing.assert_array_equal(on_patches.images, patches_)
    views = [patches_ if m == ocr.config.margin else ocr.preprocess(list(patches_), m)[0] for m in ocr.tta_margins()]
    mean = ocr.tta_probabilities(views)
    for got, want in zip(on_patches.probs, mean, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    assert run_evaluation(ocr, raw, labels, None, str(tmp_path / "plain"), ["accuracy"], progress=False)["tta_margins"] is None
