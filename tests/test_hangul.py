import pytest

from koocr import hangul


def test_counts_and_ks2350():
    assert len(hangul.all_syllables()) == 11172
    ks = hangul.ks2350()
    assert len(ks) == 2350
    assert "가" in ks and "힝" in ks and "똠" not in ks and "뷁" not in ks
    assert all(len(c.encode("euc_kr")) == 2 for c in ks)


def test_decompose_compose_round_trip_all():
    for c in hangul.all_syllables():
        i, m, f = hangul.decompose(c)
        assert 0 <= i < 19 and 0 <= m < 21 and 0 <= f < 28
        assert hangul.compose(i, m, f) == c
    assert hangul.decompose("한") == (18, 0, 4)
    assert hangul.decompose("가") == (0, 0, 0)
    assert hangul.jamo_names("한") == ("ㅎ", "ㅏ", "ㄴ")
    assert hangul.jamo_names("가")[2] == "∅"


@pytest.mark.parametrize("bad", ["A", "ㄱ", "한국", "", "1", "漢"])
def test_non_hangul_names_the_character(bad):
    with pytest.raises(ValueError, match="Received"):
        hangul.decompose(bad)


def test_compose_out_of_range():
    with pytest.raises(ValueError, match="final=28"):
        hangul.compose(0, 0, 28)


def test_load_charset(tmp_path):
    assert hangul.load_charset("ks2350") == hangul.ks2350()
    assert len(hangul.load_charset("all")) == 11172
    f = tmp_path / "cs.txt"
    f.write_text("# mine\n가\n나\n\n가\n", encoding="utf-8")
    assert hangul.load_charset(str(f)) == ["가", "나"]
    f.write_text("가\nA\n", encoding="utf-8")
    with pytest.raises(ValueError, match="'A'"):
        hangul.load_charset(str(f))
    with pytest.raises(ValueError, match="nonexistent"):
        hangul.load_charset("nonexistent")
    assert hangul.load_charset(["다", "가"]) == ["다", "가"]


def test_load_charset_cp949_file_and_errors_naming_file_and_line(tmp_path):
    """A charset saved on Korean Windows (CP949) failed with a bare UnicodeDecodeError, and a
    bad line's error named neither the file nor the line."""
    f = tmp_path / "cs.txt"
    f.write_bytes("가\r\n징\r\n창\r\n".encode("cp949"))  # 징, 창: CP949 bytes that are valid UTF-8
    assert hangul.load_charset(str(f)) == ["가", "징", "창"]
    f.write_bytes("가\n나\n".encode("utf-16"))
    assert hangul.load_charset(str(f)) == ["가", "나"]
    f.write_text("# mine\n가\n나다\n", encoding="utf-8")
    with pytest.raises(
        ValueError, match=rf"{f}, line 3: expected one Hangul syllable .* Received: '나다'"
    ):
        hangul.load_charset(str(f))
    f.write_bytes(b"\xff\x00\x81")
    with pytest.raises(ValueError, match=rf"{f}: cannot decode"):
        hangul.load_charset(str(f))
