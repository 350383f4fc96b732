"""The line test sets: tools/make_line_set.py, clean and as phone photos."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from PIL import Image

from koocr import linegen

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _make_line_set(argv):
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import make_line_set

    return make_line_set.main(argv)


def _read_set(folder):
    names = sorted(n for n in os.listdir(folder) if n.endswith(".png"))
    images = [np.asarray(Image.open(os.path.join(folder, n)).convert("L")) for n in names]
    texts = [open(os.path.join(folder, n[:-4] + ".txt"), encoding="utf-8").read().strip() for n in names]
    return images, texts


def test_photo_capture_is_grey_uneven_and_reproducible(tmp_path):
    clean, photo, again = tmp_path / "clean", tmp_path / "photo", tmp_path / "again"
    assert _make_line_set(["--count", "4", "--output", str(clean)]) == 0
    assert _make_line_set(["--count", "4", "--output", str(photo), "--capture", "photo"]) == 0
    assert _make_line_set(["--count", "4", "--output", str(again), "--capture", "photo"]) == 0
    for style in ("printed", "handwriting"):
        clean_images, clean_texts = _read_set(clean / style)
        photo_images, photo_texts = _read_set(photo / style)
        again_images, _ = _read_set(again / style)
        assert photo_texts == clean_texts and len(photo_texts) == 4  # the same sentences
        for img, same in zip(photo_images, again_images, strict=True):
            np.testing.assert_array_equal(img, same)  # seeded
            paper = img if np.median(img) > 127 else 255 - img  # a few printed lines are inverted
            assert np.median(paper) < 245  # grey paper, not white
            halves = np.array_split(paper, 2, axis=1) + np.array_split(paper, 2, axis=0)
            spread = max(np.median(a) for a in halves) - min(np.median(a) for a in halves)
            assert spread > 5  # lit from one side


def test_ruled_draws_a_full_width_rule_at_the_foot_of_the_text():
    line = np.full((40, 120), 255, np.uint8)
    line[8:30, 10:100] = 0  # the text's ink ends at row 29
    rng = np.random.default_rng(0)
    for _ in range(5):
        out = linegen.ruled(line, rng)
        rows = np.flatnonzero((out[:, 105:] < 128).all(axis=1))  # right of the text: only the rule
        assert 1 <= rows.size <= 2 and 28 <= rows[0] <= 34
        assert (out[:, :100] <= line[:, :100]).all()  # the rule only darkens


def test_words_mode_writes_distinct_short_inputs_cut_from_the_sentences(tmp_path):
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import make_line_set

    out = tmp_path / "words"
    assert _make_line_set(["--words", "--count", "12", "--output", str(out)]) == 0
    sentences = [s.split() for s in make_line_set.make_sentences(300, np.random.default_rng(0))]
    pieces = {" ".join(words[k : k + n]) for words in sentences for n in (1, 2) for k in range(len(words))}
    for style in ("printed", "handwriting"):
        images, texts = _read_set(out / style)
        assert len(texts) == 12 and len(set(texts)) == 12
        assert all(text in pieces for text in texts)  # one word, or two in a row of a sentence
        assert any(" " in text for text in texts) and any(" " not in text for text in texts)
        assert all(image.ndim == 2 and image.shape[0] < image.shape[1] * 2 for image in images)


def test_stack_sets_lines_a_pitch_apart_and_keeps_the_darker_pixel():
    a = np.full((30, 50), 255, np.uint8)
    a[10:20, 5:15] = 0
    b = np.full((30, 40), 255, np.uint8)
    b[0:5, 0:40] = 100  # reaches up into the line above
    block = linegen.stack([a, b], 12.0)
    assert block.shape == (42, 50)
    assert (block[12:17, 5:15] == 0).all()  # a's ink over b's grey: the darker wins
    assert (block[12:17, 15:40] == 100).all() and (block[17:, 40:] == 255).all()
    with pytest.raises(ValueError, match="pitch"):
        linegen.stack([a], 0.0)


def test_stack_sets_rows_of_several_sizes_their_own_pitch_apart_on_their_baselines():
    a = np.full((40, 30), 255, np.uint8)
    a[30, :] = 0  # a's baseline: row 30 of its canvas
    b = np.full((20, 50), 255, np.uint8)
    b[15, :] = 0  # b's baseline: row 15
    block = linegen.stack([a, b, b], [25.0, 12.0], baselines=[30, 15, 15])
    assert block.shape == (72, 50)  # tops at rows 0, 40 and 52
    assert np.flatnonzero((block[:, :30] == 0).all(axis=1)).tolist() == [30, 55, 67]  # 25 and 12 apart
    assert np.flatnonzero((block[:, 30:] == 0).all(axis=1)).tolist() == [55, 67]  # a is 30 wide
    with pytest.raises(ValueError, match="pitch"):
        linegen.stack([a, b], [12.0, 3.0])  # one pitch per pair
    with pytest.raises(ValueError, match="pitch"):
        linegen.stack([a, b], [0.0])
    with pytest.raises(ValueError, match="baseline"):
        linegen.stack([a, b], [12.0], baselines=[30])


def test_documents_mode_writes_a_title_body_lines_and_small_print(tmp_path):
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import make_line_set

    docs = make_line_set.make_documents(["가나다라마", "바사아자차"], ["하나", "둘 셋"], 20, seed=0)
    for rows in docs:
        kinds = [kind for kind, _ in rows]
        assert kinds[0] == "title" and 2 <= kinds.count("body") <= 3 and 1 <= kinds.count("small") <= 2
        assert kinds == sorted(kinds, key=make_line_set.DOCUMENT_KINDS.index)  # title, body, then small print
    out = tmp_path / "documents"
    assert _make_line_set(["--documents", "--count", "4", "--split", "train", "--output", str(out)]) == 0
    for style in ("printed", "handwriting"):
        images, texts = _read_set(out / style)
        assert len(texts) == 4 and all(4 <= len(t.splitlines()) <= 6 for t in texts)
        for image in images if style == "printed" else []:
            paper = image if np.median(image) > 127 else 255 - image
            bands = [b - a for a, b in _runs((paper < 128).any(axis=1))]
            # the title (1.5-2.2 times the body) stands higher than the small print (0.55-0.75)
            assert len(bands) >= 4 and bands[0] > 1.5 * bands[-1], bands
    again = tmp_path / "again"
    assert _make_line_set(["--documents", "--count", "4", "--split", "train", "--output", str(again)]) == 0
    for style in ("printed", "handwriting"):  # the same seed draws the same documents
        assert _read_set(out / style)[1] == _read_set(again / style)[1]
        assert all((x == y).all() for x, y in zip(_read_set(out / style)[0], _read_set(again / style)[0], strict=True))


def _runs(flags):
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flags.astype(np.int8), [0]])))
    return list(zip(edges[::2], edges[1::2], strict=True))


def test_blocks_mode_writes_blocks_of_two_or_three_lines(tmp_path):
    out = tmp_path / "blocks"
    assert _make_line_set(["--blocks", "--count", "6", "--output", str(out)]) == 0
    for style in ("printed", "handwriting"):
        images, texts = _read_set(out / style)
        assert len(texts) == 6
        assert all(2 <= len(text.splitlines()) <= 3 for text in texts)
        # Taller than two lines of the smallest size (22 px), and in most blocks the lines
        # stand apart: two runs of inked rows at least (the margin above counts one start).
        assert all(image.shape[0] > 2 * 22 for image in images)
        runs = []
        for image in images:
            paper = image if np.median(image) > 127 else 255 - image
            rows = (paper < 128).any(axis=1)
            runs.append(np.count_nonzero(rows[1:] & ~rows[:-1]))
        assert sum(r >= 2 for r in runs) >= 4, runs


def test_short_words_mode_writes_lines_where_most_pairs_are_spaced(tmp_path):
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import make_line_set

    for text in make_line_set.SHORT_WORD_SENTENCES:
        words = text.split()
        pairs = sum(len(w) for w in words) - 1
        assert len(words) - 1 >= 0.45 * pairs, text  # about half or more of the syllable pairs spaced
    out = tmp_path / "short"
    assert _make_line_set(["--short_words", "--count", "3", "--output", str(out), "--split", "train"]) == 0
    for style in ("printed", "handwriting"):
        _, texts = _read_set(out / style)
        assert texts == make_line_set.SHORT_WORD_SENTENCES[:3]


def test_mixed_mode_writes_lines_with_latin_digits_and_jamo(tmp_path):
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import make_line_set

    from koocr import hangul

    sentences = make_line_set.MIXED_SENTENCES
    assert len(sentences) >= 30
    assert all(any(c.isascii() and c.isalnum() for c in s) or any("ㄱ" <= c <= "ㅣ" for c in s) for s in sentences)
    assert all(any(hangul.is_syllable(c) for c in s) for s in sentences)  # always mixed with Hangul
    out = tmp_path / "mixed"
    assert _make_line_set(["--mixed", "--count", "4", "--output", str(out), "--split", "train"]) == 0
    for style in ("printed", "handwriting"):
        images, texts = _read_set(out / style)
        assert texts == sentences[:4] and len(images) == 4


def test_numbers_mode_writes_reproducible_lines_built_round_numbers(tmp_path):
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import make_line_set

    from koocr import hangul

    count = len(make_line_set.NUMBER_TEMPLATES)
    lines = make_line_set.make_numbers(count, np.random.default_rng(0))
    assert lines == make_line_set.make_numbers(count, np.random.default_rng(0))
    assert lines != make_line_set.make_numbers(count, np.random.default_rng(1))  # other numbers
    assert all("{" not in s and any(c.isdigit() for c in s) for s in lines)  # every field filled
    assert all(any(hangul.is_syllable(c) for c in s) for s in lines)
    assert any("-" in s and s.count("-") == 2 for s in lines) and any("," in s for s in lines)  # phone, price
    out = tmp_path / "numbers"
    assert _make_line_set(["--numbers", "--count", "3", "--output", str(out), "--split", "train", "--seed", "1"]) == 0
    for style in ("printed", "handwriting"):
        images, texts = _read_set(out / style)
        assert texts == make_line_set.make_numbers(3, np.random.default_rng([1, 4])) and len(images) == 3


def test_line_set_names_the_font_of_every_image(tmp_path):
    from koocr import lines
    from koocr.fonts import load_manifest

    out = tmp_path / "set"
    assert _make_line_set(["--numbers", "--count", "6", "--output", str(out)]) == 0
    for style in ("printed", "handwriting"):
        folder = str(out / style)
        fonts = lines.load_line_fonts(folder)
        pairs = lines.load_line_set(folder)
        assert sorted(fonts) == [p for p, _ in pairs]  # one font per image, no other
        held_out = {f.name: f for f in load_manifest(style=style, split="test")}
        for path, text in pairs:
            assert all(c.isspace() or held_out[fonts[path]].covers(c) for c in text)
    # A shorter run replaces the names with its own.
    assert _make_line_set(["--numbers", "--count", "2", "--output", str(out)]) == 0
    assert len(lines.load_line_fonts(str(out / "printed"))) == 2
