"""A syllable bigram language model: the reader's prior over Hangul text.

A character model sees one crop at a time, so a face whose ㅇ looks like a rounded ㅁ
reads '우리' as '무리'. Real text is not uniform over syllables: 우 is far more common than
무 in running Korean, and '리' follows '우' more often than it follows '무'. Scoring a
line's syllables with ``log p(syllable | crop) + weight * lm(syllable | previous)`` lets
common readings win when the model is unsure, and changes nothing when it is sure.

The model is interpolated: ``p(b | a) = mix * p_bigram(b | a) + (1 - mix) * p_unigram(b)``,
with a small share of the unigram mass (``smoothing``) spread over all 11,172 syllables. Built
with ``boundaries=True`` (the shipped table), ``mix`` is per syllable ``a`` (how often its
word goes on after it) and ``p_unigram`` is the distribution of word-initial syllables: the
words of the list are written one after another. Its scores are
centred: :meth:`SyllableLM.score` subtracts ``offset``, the model's mean log-probability
per syllable on its own source text, so a typical syllable costs nothing and the reader's
balance between paths of different lengths is unchanged.

The shipped table (``koocr/resources/syllable_lm.npz``, built by ``tools/build_lm.py``)
comes from the Korean word frequencies of the ``wordfreq`` package (Robyn Speer et al.,
data under CC BY-SA 4.0); see ``koocr/resources/README.md``.

Example:
    >>> lm = SyllableLM.from_counts({"우리": 10.0, "무": 1.0})
    >>> lm.score("우", "리") > lm.score("무", "리")
    True
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from koocr import hangul

RESOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "resources", "syllable_lm.npz")
_N = hangul.N_SYLLABLES


def _index(syllable: str | None) -> int:
    """Index of a Hangul syllable in 0 .. 11,171, or -1 (no context / not a syllable)."""
    if syllable is None or len(syllable) != 1 or not hangul.is_syllable(syllable):
        return -1
    return ord(syllable) - hangul.SBASE


@dataclass(frozen=True)
class SyllableLM:
    """Interpolated syllable bigram model over the 11,172 Hangul syllables.

    Args:
        unigram: (11172,) log p(syllable), smoothed (no -inf).
        bigram_keys: sorted int64 ``prev * 11172 + cur`` of the seen pairs.
        bigram_logp: log p_bigram(cur | prev) of those pairs (maximum likelihood).
        mix: weight of the bigram estimate where ``prev`` has one.
        offset: mean log-probability per syllable on the source text (centres scores).
        context_mix: optional (11172,) weight of the bigram estimate per ``prev`` syllable,
            used instead of ``mix``: the share of ``prev``'s occurrences that its word
            continues (see :meth:`from_counts` ``boundaries``); ``unigram`` is then the
            distribution of word-initial syllables.
    """

    unigram: np.ndarray
    bigram_keys: np.ndarray
    bigram_logp: np.ndarray
    mix: float = 0.5
    offset: float = 0.0
    context_mix: np.ndarray | None = None

    def __post_init__(self):
        if self.unigram.shape != (_N,):
            raise ValueError(f"unigram must have shape ({_N},). Received: {self.unigram.shape}")
        if self.bigram_keys.shape != self.bigram_logp.shape:
            raise ValueError(
                "bigram_keys and bigram_logp must have the same shape. "
                f"Received: {self.bigram_keys.shape} and {self.bigram_logp.shape}"
            )
        if not 0.0 <= self.mix < 1.0:
            raise ValueError(f"mix must be in [0, 1). Received: mix={self.mix}")
        mixes = np.full(_N, self.mix, np.float64)
        if self.context_mix is not None:
            mixes = np.asarray(self.context_mix, np.float64)
            if mixes.shape != (_N,) or not (np.all(mixes >= 0.0) and np.all(mixes < 1.0)):
                raise ValueError(f"context_mix must have shape ({_N},) and values in [0, 1). Received shape {mixes.shape}")
        object.__setattr__(self, "_mix", mixes)
        object.__setattr__(self, "_uni", np.exp(self.unigram.astype(np.float64)))
        object.__setattr__(self, "_bi_p", np.exp(self.bigram_logp.astype(np.float64)))
        has_context = np.zeros(_N, bool)
        has_context[(self.bigram_keys // _N).astype(np.int64)] = True
        object.__setattr__(self, "_has_context", has_context)
        # bigram_keys[_row_start[a] : _row_start[a + 1]]: the pairs seen after syllable a
        object.__setattr__(self, "_row_start", np.searchsorted(self.bigram_keys, np.arange(_N + 1, dtype=np.int64) * _N))

    # ------------------------------------------------------------------ scoring
    def _pair_p(self, keys: np.ndarray) -> np.ndarray:
        """p_bigram of ``prev * 11172 + cur`` keys; 0 for pairs never seen."""
        if not len(self.bigram_keys):
            return np.zeros(keys.shape)
        pos = np.minimum(np.searchsorted(self.bigram_keys, keys), len(self.bigram_keys) - 1)
        return np.where(self.bigram_keys[pos] == keys, self._bi_p[pos], 0.0)

    def log_prob(self, prev: str | None, cur: str) -> float:
        """log p(cur | prev); ``prev`` None (or not a syllable) gives the unigram."""
        b = _index(cur)
        if b < 0:
            raise ValueError(f"cur must be one Hangul syllable. Received: cur={cur!r}")
        a = _index(prev)
        p_uni = float(self._uni[b])
        if a < 0 or not self._has_context[a]:
            return math.log(p_uni)
        p_bi = float(self._pair_p(np.array([a * _N + b], np.int64))[0])
        mix = float(self._mix[a])
        return math.log(mix * p_bi + (1.0 - mix) * p_uni)

    def score(self, prev: str | None, cur: str) -> float:
        """Centred log-probability: ``log_prob(prev, cur) - offset`` (0 for a typical syllable)."""
        return self.log_prob(prev, cur) - self.offset

    def transition_matrix(self, labels: Sequence[str]) -> np.ndarray:
        """Centred scores between every pair of ``labels``, vectorised.

        Returns:
            ``(len(labels) + 1, len(labels))``: row ``r`` scores each column's label after
            ``labels[r]``, the last row with no context. Columns of non-syllables are 0;
            rows of non-syllables give no context (the unigram).
        """
        idx = np.array([_index(label) for label in labels], np.int64)
        valid = idx >= 0
        safe = np.where(valid, idx, 0)
        uni = self._uni[safe]
        p = np.broadcast_to(uni, (len(idx), len(idx))).copy()
        context = valid & self._has_context[safe]
        if context.any():
            # Walk the pairs seen after each context label (a few each) instead of looking
            # up every pair of labels: the same p_bigram, 0 where a pair was never seen.
            prev = safe[context]
            starts, counts = self._row_start[prev], self._row_start[prev + 1] - self._row_start[prev]
            within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
            entry = np.repeat(starts, counts) + within
            column = np.full(_N, -1, np.int64)
            column[idx[valid]] = np.flatnonzero(valid)
            col = column[self.bigram_keys[entry] % _N]
            seen = col >= 0
            p_bi = np.zeros((len(prev), len(idx)))
            p_bi[np.repeat(np.arange(len(prev)), counts)[seen], col[seen]] = self._bi_p[entry[seen]]
            mix = self._mix[prev][:, None]
            p[context] = mix * p_bi + (1.0 - mix) * uni[None, :]
        out = np.log(np.vstack([p, uni[None, :]])) - self.offset
        out[:, ~valid] = 0.0
        return out

    def text_log_prob(self, text: str) -> float:
        """Sum of log p over the Hangul syllables of ``text``; anything else resets the context."""
        total, prev = 0.0, None
        for char in text:
            if _index(char) < 0:
                prev = None
                continue
            total += self.log_prob(prev, char)
            prev = char
        return total

    # ------------------------------------------------------------------ building
    @classmethod
    def from_counts(
        cls,
        words: Mapping[str, float],
        mix: float = 0.5,
        smoothing: float = 1e-3,
        boundaries: bool = False,
    ) -> SyllableLM:
        """Builds the model from word frequencies (any positive weights).

        Only the Hangul-syllable runs of each word count; a run's first syllable has no
        context. ``smoothing`` is the share of the unigram mass spread evenly over all
        11,172 syllables, so unseen syllables are rare but possible.

        ``boundaries=True`` models text as the words drawn by frequency and written one
        after another, as morphemes are ('읽' + '었' + '다'): after ``a``, the word goes
        on with ``p_bigram(b | a)`` as often as ``a`` has a successor inside its words,
        else a new word starts with ``b``, drawn from the word-initial syllables (the
        ``unigram`` of such a model, also used with no context). That share is capped at
        ``mix``, so any syllable may start a word anywhere. Without it, a word list split
        into morphemes, like wordfreq's Korean one, never sees '었다' as a pair.
        """
        if not 0.0 < smoothing < 1.0:
            raise ValueError(f"smoothing must be in (0, 1). Received: smoothing={smoothing}")
        if not words:
            raise ValueError("words must not be empty")
        uni = np.zeros(_N, np.float64)
        start = np.zeros(_N, np.float64)
        pairs: dict[int, float] = {}
        runs = []
        for word, weight in words.items():
            if not weight > 0:
                raise ValueError(f"word weights must be positive. Received: {word!r}: {weight}")
            run: list[int] = []
            for char in word + " ":
                k = _index(char)
                if k >= 0:
                    run.append(k)
                    continue
                if run:
                    runs.append((run, weight))
                    start[run[0]] += weight
                    for k1 in run:
                        uni[k1] += weight
                    for a, b in zip(run[:-1], run[1:], strict=True):
                        pairs[a * _N + b] = pairs.get(a * _N + b, 0.0) + weight
                run = []
        if not runs:
            raise ValueError("no word contains a Hangul syllable")
        first = start if boundaries else uni
        unigram = np.log((1.0 - smoothing) * first / first.sum() + smoothing / _N)
        keys = np.array(sorted(pairs), np.int64)
        out_of = np.zeros(_N, np.float64)  # how often each syllable has a successor
        for key, weight in pairs.items():
            out_of[key // _N] += weight
        logp = np.array([math.log(pairs[k] / out_of[k // _N]) for k in keys.tolist()], np.float64)
        context_mix = None
        if boundaries:
            context_mix = np.minimum(out_of / np.maximum(uni, 1e-300), mix).astype(np.float32)
        lm = cls(unigram.astype(np.float32), keys, logp.astype(np.float32), mix, 0.0, context_mix)
        # offset: mean log-prob per syllable over the source text, each run weighted by its word
        total = sum(w * lm.text_log_prob("".join(chr(hangul.SBASE + k) for k in r)) for r, w in runs)
        count = sum(w * len(r) for r, w in runs)
        return cls(lm.unigram, keys, lm.bigram_logp, mix, float(total / count), context_mix)

    def save(self, path: str) -> None:
        """Writes the model as a compressed ``.npz``."""
        extra = {} if self.context_mix is None else {"context_mix": np.asarray(self.context_mix, np.float32)}
        np.savez_compressed(
            path,
            unigram=self.unigram.astype(np.float16),
            bigram_keys=self.bigram_keys,
            bigram_logp=self.bigram_logp.astype(np.float16),
            mix=np.float64(self.mix),
            offset=np.float64(self.offset),
            **extra,
        )

    @classmethod
    def load(cls, path: str = RESOURCE) -> SyllableLM:
        """Reads a model written by :meth:`save` (default: the shipped table)."""
        if not os.path.exists(path):
            raise FileNotFoundError(f"no syllable language model at {path} (build it with tools/build_lm.py)")
        try:
            with np.load(path, allow_pickle=False) as f:
                return cls(
                    f["unigram"].astype(np.float32),
                    f["bigram_keys"].astype(np.int64),
                    f["bigram_logp"].astype(np.float32),
                    float(f["mix"]),
                    float(f["offset"]),
                    f["context_mix"].astype(np.float32) if "context_mix" in f.files else None,
                )
        except (KeyError, ValueError, OSError) as err:
            raise ValueError(f"{path} is not a syllable language model written by SyllableLM.save: {err}") from err


@functools.lru_cache(maxsize=8)
def _load_cached(path: str, mtime: float | None) -> SyllableLM:
    return SyllableLM.load(path)


def resolve(lm: SyllableLM | str | None = None) -> SyllableLM:
    """A model from a :class:`SyllableLM`, the path of a saved one (loaded once per file
    version) or None (the shipped table)."""
    if isinstance(lm, SyllableLM):
        return lm
    if lm is None:
        lm = RESOURCE
    if not isinstance(lm, str | os.PathLike):
        raise TypeError(f"lm must be a SyllableLM, a path or None. Received: {type(lm).__name__}")
    path = os.path.abspath(os.fspath(lm))
    mtime = os.path.getmtime(path) if os.path.exists(path) else None  # load() names a missing file
    return _load_cached(path, mtime)


def default_lm() -> SyllableLM:
    """The shipped model, loaded once."""
    return resolve(None)
