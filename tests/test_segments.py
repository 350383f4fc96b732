"""The segment classifier: labels, geometry, fitting, saving with a model, and its use in read()."""

from __future__ import annotations

import dataclasses
import os
import warnings

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from koocr import hangul, lines, segments
from koocr.lines import Atom


def atom(x0, x1, y0=0, y1=30):
    return Atom(x0, x1, y0, y1, (1,))


def test_label_spans_whole_characters_symbols_and_junk():
    # '가' drawn as two atoms (ㄱ, ㅏ), then '1' as one atom.
    atoms = [atom(0, 14), atom(16, 28), atom(40, 46)]
    boxes = [(0, 0, 28, 30), (40, 0, 46, 30)]
    spans = [(0, 1), (1, 2), (0, 2), (2, 3), (1, 3), (0, 3)]
    got = segments.label_spans(atoms, spans, boxes, "가1")
    j, s, y = segments.JUNK, segments.SYMBOL, segments.SYLLABLE
    assert got.tolist() == [j, j, y, s, j, j]


def test_random_text_mixes_latin_words_as_symbols():
    class Covers:  # a font that covers everything but 'Q'
        def covers(self, char):
            return char != "Q"

    rng = np.random.default_rng(0)
    texts = [segments.random_text(Covers(), rng, ["가", "힣"]) for _ in range(300)]
    assert "Q" not in "".join(texts)  # never a glyph the font lacks
    words = " ".join(texts).split()
    assert any(len(w) >= 2 and w.isascii() and w.isalpha() and w.isupper() for w in words)  # acronyms
    assert any(len(w) >= 3 and w.isascii() and w.isalpha() and w.islower() for w in words)
    assert any(len(w) >= 3 and w.isascii() and w.isalpha() and w.istitle() for w in words)
    # Latin letters are symbols, each a whole character; two of them together are junk.
    atoms = [atom(0, 10), atom(14, 24)]
    got = segments.label_spans(atoms, [(0, 1), (1, 2), (0, 2)], [(0, 0, 10, 30), (14, 0, 24, 30)], "lL")
    assert got.tolist() == [segments.SYMBOL, segments.SYMBOL, segments.JUNK]


def test_geometry_in_line_units_with_neighbour_gaps():
    atoms = [atom(0, 14), atom(16, 28), atom(40, 46, 10, 30)]
    g = segments.geometry(atoms, [(0, 2), (2, 3)], height=30.0)
    assert g.shape == (2, len(segments.GEOMETRY))
    col = {name: k for k, name in enumerate(segments.GEOMETRY)}
    np.testing.assert_allclose(g[0, col["width"]], 28 / 30)
    np.testing.assert_allclose(g[1, col["height"]], 20 / 30)
    assert g[0, col["gap_left"]] == segments.GAP_CAP  # nothing on the left: the cap
    np.testing.assert_allclose(g[0, col["gap_right"]], 12 / 30)
    np.testing.assert_allclose(g[1, col["gap_left"]], 12 / 30)
    assert g[1, col["centre"]] > 0  # the short atom sits low (y grows downwards)
    assert g[0, col["atoms"]] == 2 and g[1, col["atoms"]] == 1


def test_crop_features_flags_flat_distributions():
    sharp = [np.array([[0.98, 0.01, 0.01]]), np.array([[1.0, 0.0]])]
    flat = [np.array([[1 / 3, 1 / 3, 1 / 3]]), np.array([[0.5, 0.5]])]
    pooled = np.zeros((1, 4))
    fs, ff = segments.crop_features(sharp, pooled), segments.crop_features(flat, pooled)
    assert fs.shape == (1, 4 + 4)
    assert fs[0, 4] > ff[0, 4]  # log max prob
    assert fs[0, 5] < ff[0, 5]  # entropy
    np.testing.assert_allclose(ff[0, 5], np.log(3))


def test_fit_separates_classes_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)
    centres = np.array([[3.0, 0.0], [0.0, 3.0], [-3.0, -3.0]])
    x = centres[y] + rng.normal(0, 0.7, (600, 2))
    geom = rng.normal(0, 1, (600, 3))  # noise the fit must learn to ignore
    clf = segments.fit(x, geom, y, weights_sha256="abc")
    assert (clf.log_probs(x, geom).argmax(1) == y).mean() > 0.97
    np.testing.assert_allclose(np.exp(clf.log_probs(x, geom)).sum(1), 1.0, rtol=1e-9)
    clf.save(str(tmp_path))
    back = segments.SegmentClassifier.load(str(tmp_path))
    assert back.weights_sha256 == "abc"
    np.testing.assert_allclose(back.log_probs(x, geom), clf.log_probs(x, geom), rtol=1e-4, atol=1e-5)
    assert segments.SegmentClassifier.load(str(tmp_path / "none")) is None


def test_hidden_layer_fits_what_a_linear_model_cannot_and_round_trips(tmp_path):
    """XOR-like classes: a logistic regression stays near chance, 16 tanh units do not."""
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (900, 2))
    y = np.where(x[:, 0] * x[:, 1] > 0, 0, 1)
    y[np.abs(x).max(1) < 0.3] = 2  # a third class in the middle
    geom = np.zeros((900, 1))
    linear = segments.fit(x, geom, y)
    mlp = segments.fit(x, geom, y, hidden=16, seed=0)
    assert linear.hidden_weights is None and mlp.hidden_weights.shape == (3, 16)
    assert (linear.log_probs(x, geom).argmax(1) == y).mean() < 0.7
    assert (mlp.log_probs(x, geom).argmax(1) == y).mean() > 0.9
    mlp.save(str(tmp_path))
    back = segments.SegmentClassifier.load(str(tmp_path))
    np.testing.assert_allclose(back.log_probs(x, geom), mlp.log_probs(x, geom), rtol=1e-4, atol=1e-5)
    np.savez(tmp_path / segments.FILE, mean=np.zeros(3), scale=np.ones(3), weights=np.zeros((16, 3)),
             bias=np.zeros(3), weights_sha256=np.array(""), hidden_weights=np.zeros((3, 8)),
             hidden_bias=np.zeros(8))  # fmt: skip
    with pytest.raises(ValueError, match="inconsistent"):
        segments.SegmentClassifier.load(str(tmp_path))
    with pytest.raises(ValueError, match="hidden must be >= 0"):
        segments.fit(x, geom, y, hidden=-1)


def test_symbol_head_names_symbols_round_trips_and_rejects_bad_input(tmp_path):
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 600)
    x = np.array([[3.0, 0.0], [0.0, 3.0], [-3.0, -3.0]])[y] + rng.normal(0, 0.7, (600, 2))
    geom = rng.normal(0, 1, (600, 1))
    clf = segments.fit(x, geom, y)
    with pytest.raises(ValueError, match="names no symbols"):
        clf.name_symbols(x, geom)
    # Symbol crops: 'ㅋ' far right, '1' up, 'A' down-left (the class clusters reused).
    chars = np.array(["ㅋ", "1", "A"])[y]
    named = segments.fit_symbols(clf, x, geom, chars)
    assert named.symbols == "1Aㅋ" and named.weights_sha256 == clf.weights_sha256
    names, probs = named.name_symbols(x, geom)
    assert (np.array(names) == chars).mean() > 0.97 and ((0 < probs) & (probs <= 1)).all()
    full = named.symbol_probs(x, geom)
    np.testing.assert_allclose(full.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(full.max(axis=1), probs)
    np.testing.assert_allclose(named.look_alike_mass(full), probs)  # '1', 'A', 'ㅋ': no two alike
    np.testing.assert_array_equal(named.log_probs(x, geom), clf.log_probs(x, geom))  # classes untouched
    named.save(str(tmp_path))
    back = segments.SegmentClassifier.load(str(tmp_path))
    assert back.symbols == "1Aㅋ"
    again, probs_back = back.name_symbols(x, geom)
    assert again == names
    np.testing.assert_allclose(probs_back, probs, rtol=1e-4)
    clf.save(str(tmp_path))  # a classifier without the head loads without one (segments.npz of before)
    assert segments.SegmentClassifier.load(str(tmp_path)).symbols == ""
    for bad in ("가", " ", "\n", "12"):
        with pytest.raises(ValueError, match="single visible non-syllable"):
            segments.fit_symbols(clf, x[:2], geom[:2], [bad, "1"])
    # A question mark is never named: '?' is what an unread box prints.
    no_mark = segments.fit_symbols(clf, x, geom, np.where(chars == "A", "?", chars))
    assert no_mark.symbols == "1ㅋ"
    with pytest.raises(ValueError, match="l2"):
        segments.fit_symbols(clf, x, geom, chars, l2=-1.0)
    with pytest.raises(ValueError, match="finite"):
        segments.fit_symbols(clf, np.full_like(x, np.nan), geom, chars)
    with pytest.raises(ValueError, match="one character per crop"):
        segments.fit_symbols(clf, x[:3], geom[:3], ["1", "2"])
    with pytest.raises(ValueError, match="at least 2"):
        segments.fit_symbols(clf, x[:3], geom[:3], ["1", "1", "1"])
    np.savez(tmp_path / segments.FILE, mean=np.zeros(3), scale=np.ones(3), weights=np.zeros((3, 3)),
             bias=np.zeros(3), weights_sha256=np.array(""), symbol_weights=np.zeros((3, 4)),
             symbol_bias=np.zeros(4), symbols=np.array("12"))  # fmt: skip
    with pytest.raises(ValueError, match="inconsistent"):
        segments.SegmentClassifier.load(str(tmp_path))
    for symbols in ("1?", "11", "1 ", "가1"):  # '?' is the unknown marker; no duplicates, spaces, syllables
        np.savez(tmp_path / segments.FILE, mean=np.zeros(3), scale=np.ones(3), weights=np.zeros((3, 3)),
                 bias=np.zeros(3), weights_sha256=np.array(""), symbol_weights=np.zeros((3, 2)),
                 symbol_bias=np.zeros(2), symbols=np.array(symbols))  # fmt: skip
        with pytest.raises(ValueError, match="may not"):
            segments.SegmentClassifier.load(str(tmp_path))


def test_fit_and_load_reject_bad_input(tmp_path):
    with pytest.raises(ValueError, match="Every class"):
        segments.fit(np.zeros((4, 2)), np.zeros((4, 1)), np.array([0, 0, 1, 1]))
    with pytest.raises(ValueError, match="matching"):
        segments.fit(np.zeros((4, 2)), np.zeros((4, 1)), np.array([0, 1, 2]))
    (tmp_path / segments.FILE).write_bytes(b"not an npz file")
    with pytest.raises(ValueError, match="Cannot read segment classifier"):
        segments.SegmentClassifier.load(str(tmp_path))
    np.savez(tmp_path / segments.FILE, mean=np.zeros(3), scale=np.ones(3), weights=np.zeros((2, 3)),
             bias=np.zeros(3), weights_sha256=np.array(""))  # fmt: skip
    with pytest.raises(ValueError, match="inconsistent"):
        segments.SegmentClassifier.load(str(tmp_path))


def test_named_symbols_only_above_the_threshold():
    """Unknown boxes get the symbol head's name when it is sure enough; syllables never."""
    d = 2
    # A head that always says '7' with p = e^3 / (e^3 + 1) ~ 0.95 over the symbols "7A".
    clf = segments.SegmentClassifier(
        np.zeros(d), np.ones(d), np.zeros((d, 3)), np.zeros(3),
        symbol_weights=np.zeros((d, 2)), symbol_bias=np.array([3.0, 0.0]), symbols="7A",
    )  # fmt: skip
    spans = [(0, 1), (1, 2), (0, 2)]
    feats = np.zeros((3, 1))  # the classifier's features of the three spans
    geom = np.zeros((3, 1))
    # The unknown box is a symbol with p 0.8; it is '7' with p ~0.95 given that: joint ~0.76.
    chosen = [((0, 1), (0.0, "가", 0.9)), ((1, 2), (0.0, lines.UNKNOWN, 0.8))]
    naming = lines._symbol_names(feats, geom, clf)  # of every span
    got = lines._named_symbols(chosen, spans, naming, lines.ReadConfig(name_symbols=0.7))
    p = np.exp(3.0) / (np.exp(3.0) + 1.0)
    assert list(got) == [1] and got[1][0] == "7" and got[1][1] == pytest.approx(0.8 * p)
    # Sure of the name but not that the box is one symbol (two merged digits): not named.
    assert lines._named_symbols(chosen, spans, naming, lines.ReadConfig(name_symbols=0.8)) == {}
    doubtful = [chosen[0], ((1, 2), (0.0, lines.UNKNOWN, 0.3))]
    assert lines._named_symbols(doubtful, spans, naming, lines.ReadConfig(name_symbols=0.5)) == {}
    assert lines._named_symbols(chosen, spans, naming, lines.ReadConfig(name_symbols=0)) == {}  # off
    headless = dataclasses.replace(clf, symbol_weights=None, symbol_bias=None, symbols="")
    assert lines._symbol_names(feats, geom, headless) is None
    assert lines._named_symbols(chosen, spans, None, lines.ReadConfig(name_symbols=0.5)) == {}
    with pytest.raises(ValueError, match="name_symbols"):
        lines.ReadConfig(name_symbols=1.5)
    # A head torn between '(' (p ~0.58) and its look-alike 'l': named '(' all the same, with
    # the confidence of '(' itself; 'A' is no look-alike of '7' and gets no such credit.
    torn = dataclasses.replace(clf, symbols="(l", symbol_bias=np.array([0.3, 0.0]))
    got = lines._named_symbols(chosen, spans, lines._symbol_names(feats, geom, torn), lines.ReadConfig(name_symbols=0.7))
    q = np.exp(0.3) / (np.exp(0.3) + 1.0)
    assert got == {1: ("(", pytest.approx(0.8 * q))} and 0.8 * q < 0.7
    unlike = dataclasses.replace(clf, symbols="7A", symbol_bias=np.array([0.3, 0.0]))
    assert lines._named_symbols(chosen, spans, lines._symbol_names(feats, geom, unlike), lines.ReadConfig(name_symbols=0.7)) == {}


def best_readings(*args, **kw):
    return {span: opts[0] for span, opts in lines.span_options(*args, **kw).items()}


def test_span_options_with_classes_pick_symbols_and_reject_junk():
    # Three atoms: ㄱ | ㅏ | '1'. The model reads every crop as a confident syllable, so
    # only the classifier can say that (0, 1) / (1, 2) are parts and (2, 3) is a digit.
    atoms = [atom(0, 14), atom(16, 28), atom(40, 46)]
    spans = [(0, 1), (0, 2), (1, 2), (1, 3), (2, 3)]
    top1 = [("가", 0.9)] * len(spans)
    table = np.log([
        [0.05, 0.05, 0.90],  # (0, 1): junk
        [0.90, 0.05, 0.05],  # (0, 2): the syllable
        [0.05, 0.05, 0.90],  # (1, 2): junk
        [0.05, 0.05, 0.90],  # (1, 3): junk
        [0.02, 0.97, 0.01],  # (2, 3): a symbol
    ])  # fmt: skip
    cfg = lines.ReadConfig(symbol_bias=-1.0)
    scored = best_readings(atoms, spans, top1, 30.0, cfg, table)
    path = lines.best_path(3, {s: v[0] for s, v in scored.items()})
    assert path == [(0, 2), (2, 3)]
    assert scored[(0, 2)][1] == "가" and scored[(2, 3)][1] == lines.UNKNOWN
    np.testing.assert_allclose(scored[(2, 3)][2], 0.97)
    # The symbol prior decides close calls: a strongly negative one keeps '1' a syllable.
    rare = best_readings(atoms, spans, top1, 30.0, lines.ReadConfig(symbol_bias=-8.0), table)
    assert rare[(2, 3)][1] == "가"


# ---------------------------------------------------------------------- with a KoOCR model
@pytest.fixture(scope="module")
def tiny_ocr():
    from model import KoOCR

    return KoOCR(network_type="compact", image_size=32)


def test_features_come_from_the_same_pass(tiny_ocr):
    batch = np.random.default_rng(0).integers(0, 256, (5, 32, 32), dtype=np.uint8)
    plain = tiny_ocr.probabilities(batch)
    both = tiny_ocr.probabilities(batch, features=True)
    assert len(both) == len(plain) + 1
    for a, b in zip(plain, both[:-1], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert both[-1].shape[0] == 5 and both[-1].ndim == 2
    lite = tiny_ocr.probabilities(batch, backend="litert", features=True)  # a float export, same outputs
    for a, b in zip(both, lite, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="features=True"):
        tiny_ocr.probabilities(batch, backend="onnx", features=True)


def test_examples_fit_save_load_and_read(tiny_ocr, tmp_path, font_path):
    from koocr.fonts import load_manifest
    from model import KoOCR

    fonts = load_manifest(style="printed", split="train")[:2]
    x, g, y, c = segments.make_examples(tiny_ocr, fonts, 6, np.random.default_rng(0), with_chars=True)
    assert x.shape[0] == g.shape[0] == y.shape[0] == c.shape[0] > 20
    assert set(np.unique(y)) == {segments.SYLLABLE, segments.SYMBOL, segments.JUNK}
    assert ((c == "") == (y == segments.JUNK)).all()  # the drawn character of every whole one
    assert all(hangul.is_syllable(ch) == (k == segments.SYLLABLE) for ch, k in zip(c, y, strict=True) if ch)
    # The same seed gives the same examples with or without the characters.
    np.testing.assert_array_equal(segments.make_examples(tiny_ocr, fonts, 6, np.random.default_rng(0))[2], y)
    sym = y == segments.SYMBOL
    tiny_ocr.segments = segments.fit_symbols(segments.fit(x, g, y), x[sym], g[sym], c[sym])
    folder = tiny_ocr.save(str(tmp_path / "m"))
    assert os.path.isfile(os.path.join(folder, segments.FILE))
    loaded = KoOCR(weights=folder)
    assert loaded.segments is not None
    font = ImageFont.truetype(font_path, 32)
    image = Image.new("L", (300, 60), 255)
    ImageDraw.Draw(image).text((10, 45), "한국 12", font=font, fill=0, anchor="ls")
    result = loaded.read(np.asarray(image))
    assert result.chars and all(0.0 <= c.confidence <= 1.0 for c in result.chars)
    plain = loaded.read(np.asarray(image), use_segments=False)
    assert plain.chars
    # Naming symbols changes no decision: the same boxes; only unknown ones may get a name.
    named = loaded.read(np.asarray(image), name_symbols=1e-9)
    assert [ch.box for ch in named.chars] == [ch.box for ch in result.chars]
    for before, after in zip(result.chars, named.chars, strict=True):
        if before.text == lines.UNKNOWN:
            assert after.text in loaded.segments.symbols and after.confidence <= before.confidence
        else:
            assert after == before
    # Other weights in the same folder: the classifier no longer matches and is ignored.
    loaded.segments = None
    loaded.model.set_weights([w + 0.01 for w in loaded.model.get_weights()])
    loaded.save(folder)  # rewrites the weights; the old segments.npz goes with the old folder
    dataclasses.replace(tiny_ocr.segments, weights_sha256="stale").save(folder)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stale = KoOCR(weights=folder)
    assert stale.segments is None
    assert any("fitted on other weights" in str(w.message) for w in caught)


def test_training_drops_the_classifier(tiny_ocr, tmp_path):
    from koocr import patches

    tiny_ocr.segments = segments.SegmentClassifier(np.zeros(1), np.ones(1), np.zeros((1, 3)), np.zeros(3))
    images = np.random.default_rng(0).integers(0, 256, (16, 32, 32), dtype=np.uint8)
    patches.write_patches(str(tmp_path / "data"), "printed", images, ["가"] * 8 + ["나"] * 8, patch_size=16)
    tiny_ocr.train(epochs=1, lr=1e-3, data_path=str(tmp_path / "data"), batch_size=8, verbose=0,
                   log_dir=str(tmp_path / "logs"), patch_size=1, val_path="")  # fmt: skip
    assert tiny_ocr.segments is None
    assert tiny_ocr.litert_file is None


def test_weights_changed_by_hand_drop_the_classifier(tmp_path):
    """A classifier fitted on the loaded weights' features no longer fits changed weights:
    set_weights() drops it, and save() drops it after a variable assigned directly (it was
    saved re-tied to the new weights' checksum)."""
    from model import KoOCR

    tiny_ocr = KoOCR(network_type="compact", image_size=32)
    tiny_ocr.segments = segments.SegmentClassifier(np.zeros(1), np.ones(1), np.zeros((1, 3)), np.zeros(3))
    folder = tiny_ocr.save(tmp_path / "w")
    loaded = KoOCR(weights=folder)
    assert loaded.segments is not None
    loaded.model.set_weights(loaded.model.get_weights())
    assert loaded.segments is None
    loaded = KoOCR(weights=folder)
    variable = loaded.model.weights[0]
    variable.assign(variable + 0.5)
    with pytest.warns(UserWarning, match="segment classifier of the loaded weights"):
        saved = loaded.save(tmp_path / "changed")
    assert loaded.segments is None and not os.path.exists(os.path.join(saved, segments.FILE))
    assert KoOCR(weights=folder).segments is not None  # the untouched folder keeps it


def test_look_alike_mass_sums_the_likeliest_symbols_group():
    clf = segments.SegmentClassifier(np.zeros(1), np.ones(1), np.zeros((1, 3)), np.zeros(3), symbols="(1lA0Oo")
    probs = np.array([
        [0.32, 0.07, 0.15, 0.06, 0.2, 0.1, 0.1],  # a printed '(': its name shared with '1', 'l'
        [0.05, 0.05, 0.05, 0.55, 0.1, 0.1, 0.1],  # 'A' has no look-alike here
        [0.1, 0.1, 0.1, 0.1, 0.35, 0.25, 0.0],  # '0' with 'O' and 'o'
    ])  # fmt: skip
    np.testing.assert_allclose(clf.look_alike_mass(probs), [0.54, 0.55, 0.6])
    for group in segments.LOOK_ALIKES:
        assert len(set(group)) == len(group) and not set(group) - set(segments.SYMBOLS)
    members = "".join(segments.LOOK_ALIKES)
    assert len(members) == len(set(members))  # each symbol in one group at most


def test_line_centres_equal_the_nan_median_of_the_kept_centres():
    """The sorted-rows median equals np.nanmedian over each column's kept atoms (odd and even counts)."""
    rng = np.random.default_rng(5)
    for _ in range(200):
        n = int(rng.integers(1, 25))
        boxes = rng.integers(0, 100, (n, 4)).astype(np.float64)
        boxes[:, 2] = boxes[:, 0] + rng.integers(1, 30, n)
        boxes[:, 3] = boxes[:, 1] + rng.integers(1, 40, n)
        xs, reach = rng.uniform(0, 130, int(rng.integers(1, 40))), float(rng.uniform(5, 60))
        near = np.abs((boxes[None, :, 0] + boxes[None, :, 2]) / 2 - xs[:, None]) <= reach
        near[~near.any(axis=1)] = True
        heights = boxes[:, 3] - boxes[:, 1]
        tallest = np.where(near, heights[None, :], -np.inf).max(axis=1)
        keep = near & (heights[None, :] >= 0.5 * tallest[:, None])
        want = np.nanmedian(np.where(keep, (boxes[None, :, 1] + boxes[None, :, 3]) / 2, np.nan), axis=1)
        np.testing.assert_array_equal(segments.line_centres(boxes, xs, reach), want)


@pytest.mark.parametrize("rows", [1, 11, 12, 60, 250])
def test_dot_in_row_blocks_equals_the_product(rows):
    rng = np.random.default_rng(rows)
    x, w = rng.normal(size=(rows, 274)), rng.normal(size=(274, 85))
    assert segments._ONE_THREAD_PRODUCT // (274 * 85) == 11  # 60 rows: six blocks
    np.testing.assert_allclose(segments._dot(x, w), x @ w, rtol=1e-12, atol=1e-12)
