import numpy as np
import pytest

from koocr import decode, hangul


def _brute(p, row, chars):
    idx = decode.charset_indices(chars)
    s = p[0][row, idx[:, 0]] * p[1][row, idx[:, 1]] * p[2][row, idx[:, 2]]
    order = np.argsort(-s, kind="stable")
    return [chars[j] for j in order], s[order]


@pytest.mark.parametrize("charset", [None, "ks2350", ["가", "각", "한", "글"]])
@pytest.mark.parametrize("n", [1, 5, 12])
def test_top_n_equals_brute_force(charset, n):
    rng = np.random.default_rng(n)
    probs = [rng.dirichlet(np.full(k, 0.3), size=6) for k in (19, 21, 28)]
    chars = hangul.load_charset(charset) if charset is not None else hangul.all_syllables()
    result = decode.top_n_split(probs, n, chars if charset is not None else None)
    assert len(result) == 6
    for row in range(6):
        expected, scores = _brute(probs, row, chars)
        k = min(n, len(chars))
        assert [s for s, _ in result[row]] == expected[:k]
        np.testing.assert_allclose([p for _, p in result[row]], scores[:k], rtol=1e-9)


def test_top_n_single_and_bad_n():
    probs = np.array([[0.1, 0.7, 0.2]])
    assert decode.top_n_single(probs, ["가", "나", "다"], 2) == [[("나", 0.7), ("다", 0.2)]]
    with pytest.raises(ValueError, match="n=0"):
        decode.top_n_single(probs, ["가", "나", "다"], 0)
