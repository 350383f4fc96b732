"""Tests for koocr.ingest: AIHub JSON + PNG layout and the HGU1 format, on tiny fake data."""

import json
import os
import unicodedata

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from koocr.ingest import iter_hgu1, read_aihub, read_hgu1, read_image_folder, read_label, write_hgu1

NANUM = "/usr/share/fonts/truetype/nanum/NanumGothic.ttf"
SYLLABLE = "글자(음절)"


def _glyph(char: str, size: int = 40) -> np.ndarray:
    image = Image.new("L", (size, size), 255)
    if os.path.isfile(NANUM):
        font = ImageFont.truetype(NANUM, int(size * 0.7))
        ImageDraw.Draw(image).text((size / 2, size / 2), char, font=font, fill=0, anchor="mm")
    else:  # any dark blob will do for I/O tests
        ImageDraw.Draw(image).rectangle((10, 8, 28, 30), fill=0)
    return np.asarray(image, dtype=np.uint8)


def _snapshot(root):
    out = {}
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            with open(p, "rb") as fh:
                out[p] = (os.stat(p).st_mtime_ns, fh.read())
    return out


@pytest.fixture
def aihub(tmp_path):
    anns = [
        ("00000001", "가", SYLLABLE, "1_syllable"),
        ("00000002", "나", SYLLABLE, "2_syllable"),
        ("00000003", "한", SYLLABLE, "1_syllable"),
        ("00000004", "ab", SYLLABLE, "1_syllable"),  # not one syllable -> skipped_labels
        ("00000005", "다", SYLLABLE, None),  # no image -> missing_images
        ("00000006", "가나다", "단어(어절)", "1_syllable"),  # a word -> other_types
    ]
    for d in ("1_syllable", "2_syllable"):
        (tmp_path / d).mkdir()
    for image_id, text, _, folder in anns:
        if folder:
            Image.fromarray(_glyph(text[0] if text[0] >= "가" else "가")).save(
                tmp_path / folder / f"{image_id}.png"
            )
    meta = {
        "images": [{"id": a[0], "file_name": f"{a[0]}.png"} for a in anns],
        "annotations": [
            {"id": i, "image_id": a[0], "text": a[1], "attributes": {"type": a[2]}}
            for i, a in enumerate(anns)
        ],
    }
    (tmp_path / "handwritten_label.json").write_text(
        json.dumps(meta, ensure_ascii=False), encoding="utf-8"
    )
    return tmp_path


def test_read_aihub_counts_labels_shapes(aihub):
    images, labels, stats = read_aihub(aihub, image_size=32, progress=False)
    assert labels == ["가", "나", "한"]
    assert images.shape == (3, 32, 32) and images.dtype == np.uint8
    assert stats["samples"] == stats["files"] == 3
    assert (
        stats["skipped_labels"] == 1 and stats["missing_images"] == 1 and stats["other_types"] == 1
    )
    assert (images < 128).any(axis=(1, 2)).all()  # every image has ink
    assert (images[:, 0, :] == 255).all()  # white background, margin kept


def test_read_aihub_leaves_sources_untouched(aihub):
    before = _snapshot(aihub)
    read_aihub(aihub, image_size=32, progress=False)
    assert _snapshot(aihub) == before


def test_read_aihub_without_images_list_and_limit(aihub):
    path = aihub / "handwritten_label.json"
    meta = json.loads(path.read_text(encoding="utf-8"))
    del meta["images"]
    path.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    _, labels, _ = read_aihub(aihub, image_size=24, progress=False, limit=2)
    assert labels == ["가", "나"]


def test_read_aihub_printed_layout(tmp_path):
    (tmp_path / "syllable").mkdir()
    Image.fromarray(_glyph("각")).save(tmp_path / "syllable" / "p1.png")
    meta = {"annotations": [{"image_id": "p1", "text": "각", "attributes": {"type": SYLLABLE}}]}
    (tmp_path / "printed_label.json").write_text(
        json.dumps(meta, ensure_ascii=False), encoding="utf-8"
    )
    images, labels, _ = read_aihub(tmp_path, image_size=28, kind="printed", progress=False)
    assert labels == ["각"] and images.shape == (1, 28, 28)


def test_read_aihub_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="handwritten_label.json"):
        read_aihub(tmp_path, progress=False)
    with pytest.raises(ValueError, match="kind"):
        read_aihub(tmp_path, kind="typed", progress=False)


def test_hgu1_round_trip(tmp_path):
    chars = ["가", "힝", "꽃"]
    glyphs = [_glyph(c, 40 + 4 * i)[:, : 36 + 2 * i] for i, c in enumerate(chars)]  # non-square
    write_hgu1(tmp_path / "a.hgu1", glyphs, chars)
    records = list(iter_hgu1(tmp_path / "a.hgu1"))
    assert [r[0] for r in records] == chars
    for (_, image, _), glyph in zip(records, glyphs, strict=True):
        np.testing.assert_array_equal(image, glyph)
    images, labels, stats = read_hgu1(tmp_path / "a.hgu1", image_size=48, progress=False)
    assert labels == chars and images.shape == (3, 48, 48) and images.dtype == np.uint8
    assert stats["files"] == 1 and stats["samples"] == 3 and stats["skipped_labels"] == 0


def test_hgu1_folder_recursive_and_skipped_codes(tmp_path):
    (tmp_path / "sub").mkdir()
    write_hgu1(tmp_path / "a.hgu1", [_glyph("가")], ["가"])
    write_hgu1(tmp_path / "sub" / "b.hgu1", [_glyph("나")], ["나"])
    # A hand-made record whose code is a symbol (cp949 "※"), not a syllable.
    data = (tmp_path / "a.hgu1").read_bytes()
    (tmp_path / "sub" / "c.hgu1").write_bytes(data[:8] + "※".encode("cp949") + data[10:])
    images, labels, stats = read_hgu1(tmp_path, image_size=32, progress=False)
    assert sorted(labels) == ["가", "나"] and images.shape == (2, 32, 32)
    assert stats["files"] == 3 and stats["skipped_labels"] == 1


def test_hgu1_truncated_and_bad_header(tmp_path):
    path = tmp_path / "t.hgu1"
    write_hgu1(path, [_glyph("가"), _glyph("나")], ["가", "나"])
    data = path.read_bytes()
    second = 8 + 6 + 40 * 40  # offset of the second record
    path.write_bytes(data[:-5])
    with pytest.raises(ValueError, match=rf"t\.hgu1.*offset {second}"):
        read_hgu1(path, progress=False)
    path.write_bytes(data[: second + 3])  # cut inside the record header
    with pytest.raises(ValueError, match=rf"t\.hgu1.*offset {second}"):
        read_hgu1(path, progress=False)
    path.write_bytes(b"HGU2" + data[4:])
    with pytest.raises(ValueError, match=r"t\.hgu1.*offset 0"):
        read_hgu1(path, progress=False)


def test_write_hgu1_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="KS X 1001"):
        write_hgu1(tmp_path / "x.hgu1", [_glyph("가")], ["a"])
    with pytest.raises(ValueError, match="KS X 1001"):
        write_hgu1(tmp_path / "x.hgu1", [_glyph("가")], ["똠"])  # cp949-only, not KS X 1001
    with pytest.raises(ValueError, match="shape"):
        write_hgu1(tmp_path / "x.hgu1", [np.full((300, 10), 255, np.uint8)], ["가"])
    with pytest.raises(FileNotFoundError):
        read_hgu1(tmp_path / "nowhere", progress=False)


def test_read_image_folder_labels_from_txt_and_folder_names(tmp_path):
    """Labels from NAME.txt (as --export_chars writes) or from the folder's name, NFD folder
    names (macOS) included; everything else is counted, and nothing is changed."""
    def save(rel, char, label=None):
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_glyph(char)).save(path)
        if label is not None:
            path.with_suffix(".txt").write_text(label, encoding="utf-8")

    save("chars/0000.png", "한", "한\n")
    save("chars/0001.png", "글", "\ufeff글")  # a BOM, as Notepad writes
    save("가/a.png", "가")
    save(unicodedata.normalize("NFD", "나") + "/b.jpg", "나")
    save("가/c.png", "다", "다")  # the .txt wins over the folder
    save("chars/0002.png", "가", "AB")  # not one syllable
    save("loose.png", "가")  # no label at all
    save("scans/x.png", "가")  # a folder name that is not a syllable
    (tmp_path / "chars" / "0003.png").write_bytes(b"not a png")
    (tmp_path / "chars" / "0003.txt").write_text("라", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("no image", encoding="utf-8")
    save("__MACOSX/가/._a.png", "가")  # what a zip made on macOS leaves: skipped
    save("가/.hidden.png", "가")
    before = _snapshot(tmp_path)
    images, labels, stats = read_image_folder(tmp_path, image_size=32, progress=False)
    assert sorted(labels) == sorted(["한", "글", "가", "나", "다"])
    assert images.shape == (5, 32, 32) and images.dtype == np.uint8
    assert all(img.min() < 128 for img in images)  # ink survived normalisation
    assert stats == {"images": 9, "unlabelled_images": 2, "skipped_labels": 1, "unreadable_images": 1,
                     "blank_images": 0, "files": 5, "samples": 5}
    assert _snapshot(tmp_path) == before
    assert read_image_folder(tmp_path, image_size=32, limit=2, progress=False)[2]["samples"] == 2


def test_read_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="Image folder not found"):
        read_image_folder(tmp_path / "missing")
    (tmp_path / "a.txt").write_text("가", encoding="utf-8")
    with pytest.raises(FileNotFoundError, match="No image files"):
        read_image_folder(tmp_path)


def test_read_image_folder_what_users_bring(tmp_path, monkeypatch):
    """Labels saved on Korean Windows (CP949) or by Notepad (UTF-16), x.TXT, a syllable folder
    with sub-folders, a linked folder (and a link loop), a trailing slash, an image too big."""
    def save(rel, char="가"):
        path = tmp_path / "set" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_glyph(char)).save(path)
        return path

    save("a/1.png", "라").with_suffix(".txt").write_bytes("라".encode("cp949"))
    save("a/2.png", "마").with_suffix(".txt").write_bytes("마\r\n".encode("utf-16"))
    save("a/3.png", "바")
    (tmp_path / "set" / "a" / "3.TXT").write_text("바", encoding="utf-8")
    save("a/4.png").with_suffix(".txt").write_bytes(b"\xff\x00\x81")  # no encoding fits
    save("사/batch1/5.png", "사")
    (tmp_path / "elsewhere" / "x").mkdir(parents=True)
    Image.fromarray(_glyph("자")).save(tmp_path / "elsewhere" / "x" / "6.png")
    os.symlink(tmp_path / "elsewhere" / "x", tmp_path / "set" / "자")  # a linked syllable folder
    os.symlink(tmp_path / "set", tmp_path / "set" / "사" / "loop")  # walked once
    images, labels, stats = read_image_folder(str(tmp_path / "set") + os.sep, image_size=32, progress=False)
    assert sorted(labels) == sorted("라마바사자")
    assert stats["skipped_labels"] == 1 and stats["unreadable_images"] == 0
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # PIL refuses images > 2x this
    _, labels, stats = read_image_folder(tmp_path / "set" / "a", image_size=32, progress=False)
    assert labels == [] and stats["unreadable_images"] == 3  # counted, not a traceback


def test_read_label_prefers_the_decoding_that_holds_hangul(tmp_path):
    """CP949 '징' (C2 A1) is valid UTF-8 too ('¡'): those labels were read as garbage and
    their images dropped as skipped labels."""
    chars = "가징창효짜"
    for i, char in enumerate(chars):
        Image.fromarray(_glyph(char)).save(tmp_path / f"{i}.png")
        (tmp_path / f"{i}.txt").write_bytes(char.encode("cp949"))  # Korean Windows Notepad "ANSI"
    assert [read_label(str(tmp_path / f"{i}.txt")) for i in range(5)] == list(chars)
    _, labels, stats = read_image_folder(tmp_path, image_size=32, progress=False)
    assert labels == list(chars) and stats["skipped_labels"] == 0
    for text in ("각", "징", "AB", "ㄱ"):  # UTF-8 still reads as UTF-8
        (tmp_path / "u.txt").write_bytes(text.encode())
        assert read_label(str(tmp_path / "u.txt")) == text


def _blank_images(folder):
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("L", (64, 64), 255).save(folder / "white.png")
    Image.new("L", (64, 64), 0).save(folder / "black.png")
    Image.new("RGBA", (64, 64), (0, 0, 0, 0)).save(folder / "transparent.png")
    Image.new("L", (64, 64), 128).save(folder / "grey.png")
    Image.fromarray(_glyph("가")).save(folder / "ink.png")


def test_blank_images_are_counted_not_labelled(tmp_path):
    """An image without ink became a labelled sample: the model learnt that an empty square is '가'."""
    _blank_images(tmp_path / "가")
    images, labels, stats = read_image_folder(tmp_path, image_size=32, progress=False)
    assert labels == ["가"] and (images < 128).any()
    assert stats["blank_images"] == 4 and stats["samples"] == 1

    blank = np.full((40, 36), 255, np.uint8)
    write_hgu1(tmp_path / "a.hgu1", [blank, _glyph("나")], ["가", "나"])
    _, labels, stats = read_hgu1(tmp_path / "a.hgu1", image_size=32, progress=False)
    assert labels == ["나"] and stats["blank_images"] == 1 and stats["samples"] == 1

    aihub = tmp_path / "aihub"
    _blank_images(aihub / "1_syllable")
    anns = [{"image_id": name, "text": "가", "attributes": {"type": SYLLABLE}}
            for name in ("white", "black", "transparent", "grey", "ink")]  # fmt: skip
    label = json.dumps({"annotations": anns})
    (aihub / "handwritten_label.json").write_text(label, encoding="utf-8")
    _, labels, stats = read_aihub(aihub, image_size=32, progress=False)
    assert labels == ["가"] and stats["blank_images"] == 4


def test_hgu1_tiny_record_is_counted_not_fatal(tmp_path):
    """A 30x1 record is valid HGU1 (1..255) but holds no character: it stopped the whole
    ingest with an error naming no file."""
    write_hgu1(tmp_path / "a.hgu1", [_glyph("가")] * 3, ["가"] * 3)
    thin = np.zeros((1, 30), np.uint8)
    write_hgu1(tmp_path / "b.hgu1", [_glyph("나"), thin, _glyph("라")], list("나다라"))
    images, labels, stats = read_hgu1(tmp_path, image_size=32, progress=False)
    assert labels == list("가가가나라") and images.shape == (5, 32, 32)
    assert stats["unreadable_images"] == 1 and stats["samples"] == 5


def test_hgu1_folder_skips_hidden_and_macosx_files(tmp_path):
    """AppleDouble files (``__MACOSX/._a.hgu1``, ``._a.hgu1``) from a zip made on a Mac are
    not HGU1 and aborted the ingest; read_image_folder skips exactly these."""
    write_hgu1(tmp_path / "a.hgu1", [_glyph("가")], ["가"])
    apple_double = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        "
    (tmp_path / "__MACOSX").mkdir()
    (tmp_path / "__MACOSX" / "._a.hgu1").write_bytes(apple_double)
    (tmp_path / "._a.hgu1").write_bytes(apple_double)
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "b.hgu1").write_bytes(apple_double)
    _, labels, stats = read_hgu1(tmp_path, image_size=32, progress=False)
    assert labels == ["가"] and stats["files"] == 1


def _aihub_json(root, data: bytes, chars="가"):
    (root / "1_syllable").mkdir(parents=True, exist_ok=True)
    for i, char in enumerate(chars):
        Image.fromarray(_glyph(char)).save(root / "1_syllable" / f"{i:08d}.png")
    (root / "handwritten_label.json").write_bytes(data)
    return root


def test_read_aihub_label_files_as_users_save_them(tmp_path):
    """Null annotations and string attributes raised AttributeError; a BOM or CP949 was refused,
    and decode / JSON errors named no file."""
    good = {"image_id": "00000000", "text": "가", "attributes": {"type": SYLLABLE}}
    odd = [good, None, "x", 5, {"image_id": "00000001", "text": "나", "attributes": SYLLABLE}]
    root = _aihub_json(tmp_path / "odd", json.dumps({"annotations": odd}).encode())
    _, labels, stats = read_aihub(root, image_size=32, progress=False)
    assert labels == ["가"] and stats["bad_annotations"] == 4 and stats["annotations"] == 5
    text = json.dumps({"annotations": [good], "images": {"a": 1}}, ensure_ascii=False)
    for name, data in (("bom", b"\xef\xbb\xbf" + text.encode()), ("cp949", text.encode("cp949")),
                       ("utf16", text.encode("utf-16"))):  # fmt: skip
        root = _aihub_json(tmp_path / name, data)
        assert read_aihub(root, image_size=32, progress=False)[1] == ["가"]
    for name, data, message in (("empty", b"", "not valid JSON"), ("broken", b'{"annotations": [',
                                "not valid JSON"), ("binary", b"\xff\x00\x81", "cannot decode")):  # fmt: skip
        path = _aihub_json(tmp_path / name, data) / "handwritten_label.json"
        with pytest.raises(ValueError, match=f"{path}: {message}"):
            read_aihub(path.parent, image_size=32, progress=False)
    root = _aihub_json(tmp_path / "list", b"[]")
    with pytest.raises(ValueError, match="handwritten_label.json: expected a JSON object"):
        read_aihub(root, image_size=32, progress=False)


def test_read_aihub_skips_duplicate_image_ids(tmp_path):
    """One image_id annotated '가' and '나' (its pictures in 1_syllable/ and 2_syllable/): both
    annotations read the 1_syllable picture, so the '나' sample was a picture of '가'."""
    (tmp_path / "1_syllable").mkdir()
    (tmp_path / "2_syllable").mkdir()
    Image.fromarray(_glyph("가")).save(tmp_path / "1_syllable" / "00000001.png")
    Image.fromarray(_glyph("나")).save(tmp_path / "2_syllable" / "00000001.png")
    Image.fromarray(_glyph("다")).save(tmp_path / "1_syllable" / "00000002.png")
    anns = [{"image_id": i, "text": t, "attributes": {"type": SYLLABLE}}
            for i, t in (("00000001", "가"), ("00000001", "나"), ("00000002", "다"))]  # fmt: skip
    (tmp_path / "handwritten_label.json").write_text(
        json.dumps({"annotations": anns}, ensure_ascii=False), encoding="utf-8"
    )
    _, labels, stats = read_aihub(tmp_path, image_size=32, progress=False)
    assert labels == ["다"] and stats["duplicate_image_ids"] == 2


def test_image_folder_root_named_by_a_syllable(tmp_path, monkeypatch):
    """``--images my_glyphs/가`` (the folder of one class itself) labelled nothing."""
    for i in range(3):
        (tmp_path / "가" / "sub").mkdir(parents=True, exist_ok=True)
        Image.fromarray(_glyph("가")).save(tmp_path / "가" / f"{i}.png")
    Image.fromarray(_glyph("나")).save(tmp_path / "가" / "sub" / "x.png")
    Image.fromarray(_glyph("다")).save(tmp_path / "가" / "x.png")
    (tmp_path / "가" / "x.txt").write_text("다", encoding="utf-8")  # a .txt still wins
    _, labels, stats = read_image_folder(tmp_path / "가", image_size=32, progress=False)
    assert sorted(labels) == sorted("가가가가다") and stats["unlabelled_images"] == 0
    monkeypatch.chdir(tmp_path / "가")
    assert len(read_image_folder(".", image_size=32, progress=False)[1]) == 5
    (tmp_path / "scans").mkdir()
    Image.fromarray(_glyph("가")).save(tmp_path / "scans" / "x.png")
    stats = read_image_folder(tmp_path / "scans", image_size=32, progress=False)[2]
    assert stats["unlabelled_images"] == 1
