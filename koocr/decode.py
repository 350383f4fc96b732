"""Turning softmax outputs into ranked Hangul syllables.

In split mode the network predicts P(initial), P(medial), P(final) independently and a
syllable scores their product. Over the full 11,172-syllable grid every combination is
valid, so the exact top-n lies inside the product of each component's top-n; over a
restricted charset (e.g. KS X 1001) the scores are gathered for its members.

Example:
    >>> import numpy as np
    >>> p = [np.eye(19)[[18]], np.eye(21)[[0]], np.eye(28)[[4]]]
    >>> top_n_split(p, n=1)[0][0][0]
    '한'
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from koocr import hangul

_CHUNK = 1024  # rows per gather, bounds memory at ~45 MB for 11,172 classes


def charset_indices(charset: Sequence[str]) -> np.ndarray:
    """(C, 3) int array of (initial, medial, final) for each syllable of ``charset``."""
    return np.array([hangul.decompose(c) for c in charset], dtype=np.int64).reshape(-1, 3)


def _top_n_rows(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    n = min(n, scores.shape[1])
    idx = np.argpartition(-scores, n - 1, axis=1)[:, :n]
    part = np.take_along_axis(scores, idx, axis=1)
    order = np.argsort(-part, axis=1, kind="stable")
    return np.take_along_axis(idx, order, axis=1), np.take_along_axis(part, order, axis=1)


@functools.lru_cache(maxsize=64)
def _dominated_ranks(n: int, k_i: int, k_m: int, k_f: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rank triples ``(a, b, c)`` (0-based, within each component's top ``k``) that can be
    among the top ``n`` products: ``(a + 1)(b + 1)(c + 1) <= n``. Every other triple is
    outscored by at least ``n`` triples of lower ranks (each factor sorted best first), so
    the exact top-n lies among these (~50 for n = 10, of 1,000 triples)."""
    a, b, c = np.meshgrid(np.arange(k_i), np.arange(k_m), np.arange(k_f), indexing="ij")
    keep = ((a + 1) * (b + 1) * (c + 1) <= n).ravel()
    return a.ravel()[keep], b.ravel()[keep], c.ravel()[keep]


def top_n_split(
    probs: Sequence[np.ndarray], n: int = 5, charset: Sequence[str] | None = None
) -> list[list[tuple[str, float]]]:
    """Exact top-n syllables of P(i)·P(m)·P(f) for each row.

    Args:
        probs: (initial (N, 19), medial (N, 21), final (N, 28)) probabilities.
        n: how many syllables per row.
        charset: restrict to these syllables; None means all 11,172.

    Returns:
        For each row, ``n`` (syllable, probability) pairs, best first.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1. Received: n={n}")
    p_i, p_m, p_f = (np.asarray(p, dtype=np.float64) for p in probs)
    rows = p_i.shape[0]
    results: list[list[tuple[str, float]]] = []
    if charset is None or len(charset) == hangul.N_SYLLABLES:
        k = [min(n, p.shape[1]) for p in (p_i, p_m, p_f)]
        ti, si = _top_n_rows(p_i, k[0])
        tm, sm = _top_n_rows(p_m, k[1])
        tf, sf = _top_n_rows(p_f, k[2])
        ra, rb, rc = _dominated_ranks(n, *k)
        best, score = _top_n_rows(si[:, ra] * sm[:, rb] * sf[:, rc], n)
        a, b, c = ra[best], rb[best], rc[best]
        r = np.arange(rows)[:, None]
        # hangul.compose's arithmetic on whole arrays: read() decodes every crop of a line
        codes = hangul.SBASE + (ti[r, a] * hangul.N_MEDIAL + tm[r, b]) * hangul.N_FINAL + tf[r, c]
        for code_row, score_row in zip(codes.tolist(), score.tolist(), strict=True):
            results.append([(chr(code), p) for code, p in zip(code_row, score_row, strict=True)])
        return results
    idx = charset_indices(charset)
    for start in range(0, rows, _CHUNK):
        sl = slice(start, start + _CHUNK)
        scores = p_i[sl][:, idx[:, 0]] * p_m[sl][:, idx[:, 1]] * p_f[sl][:, idx[:, 2]]
        best, score = _top_n_rows(scores, n)
        for row in range(best.shape[0]):
            results.append([(charset[j], float(s)) for j, s in zip(best[row], score[row], strict=True)])
    return results


def top_n_single(
    probs: np.ndarray, charset: Sequence[str], n: int = 5
) -> list[list[tuple[str, float]]]:
    """Top-n of one softmax over ``charset`` (the ``split_components=False`` head)."""
    if n < 1:
        raise ValueError(f"n must be >= 1. Received: n={n}")
    probs = np.asarray(probs, dtype=np.float64)
    best, score = _top_n_rows(probs, n)
    return [
        [(charset[j], float(s)) for j, s in zip(best[row], score[row], strict=True)]
        for row in range(probs.shape[0])
    ]
