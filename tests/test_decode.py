import numpy as np
import pytest

from koocr import decode, hangul


def _brute(p, row, chars):
    idx = decode.charset_indices(chars)
    s = p[0][row, idx[:, 0]] * p[1][row, idx[:, 1]] * p[2][row, idx[:, 2]]
    order = np.argsort(-s, kind="stable")
    return [chars[j] for j in order], s[order]


@pytest.mark.parametrize("charset", [None, "ks2350", ["가", "각", "한", "글"]])
@pytest.mark.parametrize("n", [1, 5, 10, 12, 50, 700])
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


def test_dominated_ranks_hold_every_triple_that_can_be_in_the_top_n():
    """A triple (a, b, c) is outscored by the (a+1)(b+1)(c+1) - 1 triples of no higher
    rank: those under n are all kept, none of the others."""
    a, b, c = decode._dominated_ranks(10, 10, 10, 10)
    kept = set(zip(a.tolist(), b.tolist(), c.tolist(), strict=True))
    every = {(i, j, k) for i in range(10) for j in range(10) for k in range(10)}
    assert kept == {t for t in every if (t[0] + 1) * (t[1] + 1) * (t[2] + 1) <= 10}
    assert len(kept) < 100 and {(0, 0, k) for k in range(10)} <= kept
    assert len(decode._dominated_ranks(5, 5, 5, 5)[0]) >= 5
