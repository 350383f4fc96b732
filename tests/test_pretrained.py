"""The shipped model loads offline, is small, and reads the shipped sample images."""

import os

import pytest

from koocr import weights as kweights
from model import KoOCR

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = "compact48"


@pytest.fixture(scope="module")
def shipped():
    if NAME not in KoOCR.pretrained_models():
        pytest.skip(f"pretrained/{NAME} is not shipped in this checkout")
    return KoOCR(weights=NAME)


def test_listed_and_loadable_by_name_and_path(shipped):
    folder = KoOCR.pretrained_models()[NAME]
    assert os.path.samefile(folder, os.path.join(ROOT, "pretrained", NAME))
    assert shipped.config.network_type == "compact" and shipped.config.split_components
    assert os.path.getsize(os.path.join(folder, kweights.WEIGHTS_FILE)) <= 3 * 1024 * 1024
    by_path = KoOCR(weights=folder)
    assert by_path.config == shipped.config


def test_reads_the_shipped_samples(shipped):
    with open(os.path.join(ROOT, "samples", "labels.tsv"), encoding="utf-8") as fh:
        rows = [line.rstrip("\n").split("\t") for line in fh if line.strip()]
    paths = [os.path.join(ROOT, "samples", name) for name, _ in rows]
    top5 = shipped.predict(paths, n=5)
    top1_hits = sum(pred[0] == truth for pred, (_, truth) in zip(top5, rows, strict=True))
    top5_hits = sum(truth in pred for pred, (_, truth) in zip(top5, rows, strict=True))
    assert top5_hits == len(rows)
    assert top1_hits >= len(rows) - 1


def test_reads_the_shipped_line_samples(shipped):
    """samples/lines/: a clean print, a photo look, a handwriting-style line (held-out fonts)."""
    from koocr import lines

    pairs = lines.load_line_set(os.path.join(ROOT, "samples", "lines"))
    assert [os.path.basename(p) for p, _ in pairs] == ["01_printed.png", "02_photo.jpg", "03_handwriting.png"]
    truths = [t for _, t in pairs]
    hyps = [shipped.read(p).text for p, _ in pairs]
    # Print, clean or photographed, reads exactly, the full stop named by the segment
    # classifier's symbol head; with naming off it is an unknown box ('?').
    assert hyps[:2] == truths[:2] and hyps[0].endswith(".")
    assert shipped.read(pairs[0][0], name_symbols=0).text == truths[0][:-1] + "?"
    assert lines.cer(truths, hyps) <= 0.05


def test_names_latin_acronyms_and_digits_in_a_printed_line(shipped):
    """A held-out face: acronyms and digits named, not forced into Hangul; with naming off, '?'."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(os.path.join(ROOT, "fonts", "BMHannaAir.woff2"), 40)
    for text, unnamed in (("KTX 열차 3호차", "??? 열차 ?호차"), ("USB 메모리를 샀다", "??? 메모리를 샀다")):
        image = Image.new("L", (int(font.getlength(text)) + 40, 70), 255)
        ImageDraw.Draw(image).text((20, 10), text, font=font, fill=0)
        pixels = np.asarray(image)
        result = shipped.read(pixels)
        assert result.text == text
        assert [c.text for c in result.chars] == list(text.replace(" ", ""))
        assert shipped.read(pixels, name_symbols=0).text == unnamed


def test_reads_a_lone_syllable_whose_jamo_stand_apart(shipped):
    """A word of one syllable: its jamo are separate bands and pieces ('를', '프', '드', '켑')."""
    import numpy as np

    from koocr.fonts import load_manifest, render_glyph

    fonts = {f.name: f for f in load_manifest()}
    cases = [("NanumGothic", "를"), ("UnGraphic", "드"), ("UnBatang", "으"), ("UnDotum", "프"), ("BMEuljiro", "스")]
    cases += [("AleeEunjin", "켑"), ("AleeEunjin", "냥"), ("BaekmukGulim", "삶")]  # finals in a band of their own
    cases += [("AleeEunjin", "됍"), ("AleeEunjin", "럅")]  # the same outside KS X 1001
    cases += [("UnDotum", "특"), ("UnBatang", "실")]  # tall and narrow, finals apart
    cases += [("BaekmukHline", "데"), ("BaekmukHline", "뺨")]  # ink fills most of the crop
    for name, char in cases:
        glyph = render_glyph(fonts[name], char, size=64)
        ink = np.argwhere(glyph < 128)
        (r0, c0), (r1, c1) = ink.min(0), ink.max(0) + 1
        assert shipped.read(np.pad(glyph[r0:r1, c0:c1], 3, constant_values=255)).text == char, (name, char)


def _ink_crop(image):
    """``image`` cut to the box of its dark pixels."""
    import numpy as np

    ink = np.argwhere(image < 128)
    (r0, c0), (r1, c1) = ink.min(0), ink.max(0) + 1
    return image[r0:r1, c0:c1]


def test_two_stacked_syllables_stay_two_lines(shipped):
    """The whole-syllable reading of read() must not swallow a block of two one-syllable lines."""
    import numpy as np

    from koocr.fonts import load_manifest
    from koocr.linegen import render_line

    font = next(f for f in load_manifest() if f.name == "NanumGothic")
    rng = np.random.default_rng(0)
    for top, bottom in [("가", "나"), ("어", "아"), ("오", "늘"), ("특", "실")]:
        rows = []
        for char in (top, bottom):
            rows.append(np.pad(_ink_crop(render_line(char, font, 40, 0.0, rng, None)), ((0, 6), (4, 4)), constant_values=255))
        width = max(r.shape[1] for r in rows)
        block = np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1])), constant_values=255) for r in rows])
        assert shipped.read(block).text == f"{top}\n{bottom}", (top, bottom)
    # Found by review: the bands read surely, and the whole must not win ('흐' over '소': '흣').
    font = next(f for f in load_manifest() if f.name == "NanumSquareR")
    rows = []
    for char in ("흐", "소"):
        rows.append(_ink_crop(render_line(char, font, 32, 0.0, rng, None)))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1])), constant_values=255) for r in rows]
    block = np.pad(np.vstack([rows[0], np.full((16, width), 255, np.uint8), rows[1]]), 8, constant_values=255)
    assert shipped.read(block).text == "흐\n소"


def test_an_underlined_word_reads_as_its_syllables(shipped):
    """A short underline joins the word's columns into one piece: it is not one syllable."""
    import numpy as np

    from koocr.fonts import load_manifest
    from koocr.linegen import render_line

    font = next(f for f in load_manifest() if f.name == "NanumGothic")
    line = render_line("한국어", font, 32, 0.0, np.random.default_rng(0), None)
    ys, xs = np.nonzero(line < 128)
    line = line.copy()
    line[ys.max() + 6 : ys.max() + 8, xs.min() - 2 : xs.max() + 3] = 0
    assert shipped.read(line).text == "한국어"


def test_shipped_int8_litert_copy_agrees_with_the_keras_weights(shipped):
    """predict()/read() run the shipped int8 LiteRT copy; it must read like the float network."""
    folder = KoOCR.pretrained_models()[NAME]
    assert shipped.litert_quantize == "int8" and shipped.litert_file is not None
    total = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
    assert total <= 3 * 1000 * 1000  # the size target covers everything shipped
    paths = [os.path.join(ROOT, "samples", name) for name, _ in _sample_rows()]
    lite = shipped.predict(paths, n=5)
    assert shipped._forward is None  # Keras did not run
    keras_top5 = shipped.predict(paths, n=5, backend="keras")
    assert sum(a[0] == b[0] for a, b in zip(lite, keras_top5, strict=True)) >= len(paths) - 1
    assert all(a[0] in b for a, b in zip(lite, keras_top5, strict=True))


def test_predict_script_uses_the_shipped_model(capsys):
    import predict

    if NAME not in KoOCR.pretrained_models():
        pytest.skip(f"pretrained/{NAME} is not shipped in this checkout")
    assert predict.main([os.path.join(ROOT, "samples", "03_printed_UnDotum.png"), "--n", "3"]) == 0
    out = capsys.readouterr().out
    assert out.count(" 0.") + out.count(" 1.0") >= 3


def test_predict_script_says_a_blank_image_has_no_ink(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    import predict

    if NAME not in KoOCR.pretrained_models():
        pytest.skip(f"pretrained/{NAME} is not shipped in this checkout")
    blank, glyph = str(tmp_path / "blank.png"), os.path.join(ROOT, "samples", "03_printed_UnDotum.png")
    Image.fromarray(np.full((40, 40), 250, np.uint8)).save(blank)
    assert predict.main([blank, glyph, "--n", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{blank}: no ink found (a blank image)"
    assert out[1].startswith(f"{glyph}: 어 ")



def test_predict_script_opens_each_image_once(monkeypatch, capsys):
    """The blank check and the reading share one decoded copy of the file."""
    from PIL import Image

    import predict

    if NAME not in KoOCR.pretrained_models():
        pytest.skip(f"pretrained/{NAME} is not shipped in this checkout")
    glyph = os.path.join(ROOT, "samples", "03_printed_UnDotum.png")
    expected = KoOCR(weights=NAME).predict(glyph, n=2, return_probs=True)
    opened = []
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda fp, *a, **k: opened.append(fp) or real_open(fp, *a, **k))
    assert predict.main([glyph, "--n", "2"]) == 0
    assert opened == [glyph]
    assert capsys.readouterr().out == f"{glyph}: " + "  ".join(f"{s} {p:.3f}" for s, p in expected) + "\n"

def _sample_rows():
    with open(os.path.join(ROOT, "samples", "labels.tsv"), encoding="utf-8") as fh:
        return [line.rstrip("\n").split("\t") for line in fh if line.strip()]


def test_second_shipped_model_melnyk96():
    """The GPU-trained Melnyk-net: float16-stored weights load into float32; it and its int8
    LiteRT copy read the samples."""
    if "melnyk96" not in KoOCR.pretrained_models():
        pytest.skip("pretrained/melnyk96 is not shipped in this checkout")
    ocr = KoOCR(weights="melnyk96")
    assert ocr.config.network_type == "melnyk" and ocr.config.image_size == 96
    assert all(w.dtype == "float32" for w in ocr.model.get_weights())
    folder = KoOCR.pretrained_models()["melnyk96"]
    assert os.path.getsize(os.path.join(folder, kweights.WEIGHTS_FILE)) <= 10 * 1024 * 1024
    rows = _sample_rows()
    paths = [os.path.join(ROOT, "samples", name) for name, _ in rows]
    top5 = ocr.predict(paths, n=5)  # the shipped int8 LiteRT copy
    assert ocr.litert_quantize == "int8" and ocr.resolve_backend() == "litert"
    assert sum(truth in pred for pred, (_, truth) in zip(top5, rows, strict=True)) == len(rows)
    assert sum(pred[0] == truth for pred, (_, truth) in zip(top5, rows, strict=True)) >= len(rows) - 1
    keras_top5 = ocr.predict(paths, n=5, backend="keras")
    assert sum(a[0] == b[0] for a, b in zip(top5, keras_top5, strict=True)) >= len(paths) - 1


def test_average_models_tool_scores_both_and_their_mean(tmp_path, capsys):
    """tools/average_models.py (docs/experiments.md): four rows per set, in percent."""
    import json
    import sys

    if not {NAME, "melnyk96"} <= set(KoOCR.pretrained_models()):
        pytest.skip("needs both shipped models")
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import average_models

    out = tmp_path / "avg.json"
    assert average_models.main(["--sets", "outside_ks", "--max_outside", "3", "--output", str(out)]) == 0
    table = json.loads(out.read_text())["outside_ks"]
    assert list(table) == [NAME, "melnyk96", "mean", "geometric mean"]
    assert all(0 <= top1 <= top5 <= 100 for top1, top5 in table.values())
    assert "outside_ks (18 glyphs)" in capsys.readouterr().out
    assert average_models.accuracy([[("가", 0.9), ("나", 0.1)], [("나", 0.6), ("다", 0.4)]], ["가", "다"]) == (50.0, 100.0)
