"""Segment classifier: is a candidate crop of a line one syllable, one symbol, or junk?

:func:`koocr.lines.read` scores each candidate crop with the character model, which only
knows Hangul syllables: a digit comes out as some syllable, and so does half a syllable.
This classifier adds what the model cannot say. It is a small multilayer perceptron (one
tanh hidden layer; with ``hidden=0``, a multinomial logistic regression) over the model's
own pooled features (the ``"pool"`` layer) plus the box's geometry in line units, with
three classes:

* ``syllable``: the crop is exactly one Hangul syllable;
* ``symbol``: exactly one non-Hangul character (digit, Latin letter, punctuation);
* ``junk``: part of a character, or parts of several.

It is not a second network to train alongside the character model: that model's weights
stay as they are, and the classifier is fitted in minutes with L-BFGS on a CPU, on examples
rendered from the training fonts
(:func:`make_examples`: lines mixing syllables and symbols, drawn character by character
so every ink box is known, then over-segmented exactly as ``read`` does). The result is
``segments.npz`` next to the model's weights; ``KoOCR`` loads it when present and its
recorded weights checksum matches.

    python tools/fit_segments.py --weights compact48
"""

from __future__ import annotations

import dataclasses
import functools
import os
import string
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from koocr import hangul

FILE = "segments.npz"
# What read() prints for a box it cannot read (koocr.lines.UNKNOWN): never a symbol's name, or
# a real question mark and an unread box would look the same.
UNKNOWN = "?"
CLASSES = ("syllable", "symbol", "junk")
SYLLABLE, SYMBOL, JUNK = range(3)
SYMBOLS = (
    "0123456789" "0123456789" "0123456789"  # digits are the common case: weight them up
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    ".,!?()-:;'\"%~/&+=#@[]<>*"
)
# Symbols that look alike in a crop whatever the face. The naming head spreads its belief
# among them ('(' 0.32, 'l' 0.15, 'I' 0.09, '1' 0.07 for a printed '('), so how sure it is
# that a crop is *some* symbol is the mass of its likeliest name's group
# (:meth:`SegmentClassifier.look_alike_mass`); pieces of a syllable spread theirs wider.
LOOK_ALIKES = (
    "1lIi!()[]/", "0OoDQ", ".,'", ":;", "-~=", "Cc", "Ss5", "Zz2", "Xx", "Vv", "Ww", "Kk", "Pp", "Uu",
    "8B", "6b", "9gq",
)  # fmt: skip
GAP_CAP = 0.6  # gaps to the neighbouring atoms, in H, are clipped to [-1, GAP_CAP]
GEOMETRY = (
    "width", "height", "centre", "top", "bottom", "atoms", "log_aspect", "gap_left", "gap_right",
    "width2", "height2", "area",
)  # fmt: skip


_GROUP_OF = {c: g for g in LOOK_ALIKES for c in g}


def look_alike_group(symbol: str) -> str:
    """The :data:`LOOK_ALIKES` group of ``symbol``, or ``symbol`` itself if it has none."""
    return _GROUP_OF.get(symbol, symbol)


@functools.lru_cache(maxsize=8)
def _look_alike_matrix(symbols: str) -> np.ndarray:
    """(S, S): 1 where two of ``symbols`` are in one :data:`LOOK_ALIKES` group (or the same)."""
    labels = np.array([look_alike_group(c) for c in symbols])
    same = (labels[:, None] == labels[None, :]).astype(np.float64)
    same.flags.writeable = False  # shared by every call (cached)
    return same


# OpenBLAS takes a product of m * n * k <= 65536 * 4 on the calling thread; a larger one
# wakes its worker threads, whose busy-wait then slowed read()'s next LiteRT pass by ~5 ms
# on 2 cores. np.einsum stays on one thread too, but is ~6x slower than row blocks this size.
_ONE_THREAD_PRODUCT = 65536 * 4


def _dot(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``x @ w`` in row blocks that OpenBLAS multiplies on the calling thread."""
    rows = max(1, _ONE_THREAD_PRODUCT // max(w.shape[0] * w.shape[1], 1))
    if len(x) <= rows:
        return x @ w
    return np.concatenate([x[i : i + rows] @ w for i in range(0, len(x), rows)])


@dataclass(frozen=True)
class SegmentClassifier:
    """``log p(class | crop)`` from pooled features + geometry (see :func:`geometry`).

    Linear (``hidden_weights`` None): ``logits = x W + b``; with a hidden layer:
    ``logits = tanh(x W_h + b_h) W + b``, ``x`` the standardised inputs.
    """

    mean: np.ndarray  # (D,) standardisation of [features, geometry]
    scale: np.ndarray  # (D,)
    weights: np.ndarray  # (D, 3), or (H, 3) after a hidden layer
    bias: np.ndarray  # (3,)
    weights_sha256: str = ""  # the character model it was fitted on
    hidden_weights: np.ndarray | None = None  # (D, H)
    hidden_bias: np.ndarray | None = None  # (H,)
    # Which symbol a symbol crop is: a linear softmax over the same standardised inputs.
    symbol_weights: np.ndarray | None = None  # (D, S)
    symbol_bias: np.ndarray | None = None  # (S,)
    symbols: str = ""  # the S characters it names

    def _inputs(self, features: np.ndarray, geom: np.ndarray) -> np.ndarray:
        return (np.concatenate([features, geom], axis=1) - self.mean) / self.scale

    def symbol_probs(self, features: np.ndarray, geom: np.ndarray) -> np.ndarray:
        """(N, S) probability of each of :attr:`symbols`, given that the crop is a symbol.

        Raises ValueError on a classifier fitted without a symbol head (``symbols`` empty).
        """
        if self.symbol_weights is None:
            raise ValueError("This segment classifier names no symbols: refit it with tools/fit_segments.py")
        return np.exp(_log_softmax(_dot(self._inputs(features, geom), self.symbol_weights) + self.symbol_bias))

    def name_symbols(self, features: np.ndarray, geom: np.ndarray) -> tuple[list[str], np.ndarray]:
        """The likeliest symbol of each crop and its probability, given that it is a symbol.

        Raises ValueError on a classifier fitted without a symbol head (``symbols`` empty).
        """
        return self.likeliest(self.symbol_probs(features, geom))

    def likeliest(self, probs: np.ndarray) -> tuple[list[str], np.ndarray]:
        """For :meth:`symbol_probs` ``probs``: each crop's likeliest symbol and its probability."""
        best = probs.argmax(axis=1)
        return [self.symbols[k] for k in best], probs[np.arange(len(best)), best]

    def look_alike_mass(self, probs: np.ndarray) -> np.ndarray:
        """(N,) for :meth:`symbol_probs` ``probs``: the summed probability of the likeliest
        symbol and the symbols that look like it (its :data:`LOOK_ALIKES` group)."""
        best = probs.argmax(axis=1)
        return np.einsum("ns,ns->n", probs, _look_alike_matrix(self.symbols)[best])

    def log_probs(self, features: np.ndarray, geom: np.ndarray) -> np.ndarray:
        """(N, 3) log-probabilities of :data:`CLASSES`."""
        x = self._inputs(features, geom)
        if self.hidden_weights is not None:
            x = np.tanh(_dot(x, self.hidden_weights) + self.hidden_bias)
        return _log_softmax(_dot(x, self.weights) + self.bias)

    def save(self, folder: str) -> str:
        path = os.path.join(folder, FILE)
        tmp = path + ".tmp.npz"
        arrays = {"mean": self.mean, "scale": self.scale, "weights": self.weights, "bias": self.bias}
        if self.hidden_weights is not None:
            arrays.update(hidden_weights=self.hidden_weights, hidden_bias=self.hidden_bias)
        if self.symbol_weights is not None:
            arrays.update(symbol_weights=self.symbol_weights, symbol_bias=self.symbol_bias)
        # float32 on disk (half the size; log-probabilities move by ~1e-6), float64 in use.
        arrays = {k: np.asarray(v, np.float32) for k, v in arrays.items()}
        np.savez(tmp, weights_sha256=np.array(self.weights_sha256), symbols=np.array(self.symbols), **arrays)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, folder: str) -> SegmentClassifier | None:
        """The classifier in ``folder``, or None if there is none; raises on a corrupt file."""
        path = os.path.join(folder, FILE)
        if not os.path.isfile(path):
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                optional = ("hidden_weights", "hidden_bias", "symbol_weights", "symbol_bias")
                extra = [data[k].astype(np.float64) if k in data.files else None for k in optional]
                clf = cls(
                    data["mean"].astype(np.float64), data["scale"].astype(np.float64),
                    data["weights"].astype(np.float64), data["bias"].astype(np.float64),
                    str(data["weights_sha256"]), *extra,
                    str(data["symbols"]) if "symbols" in data.files else "",
                )  # fmt: skip
        except (OSError, KeyError, ValueError) as err:
            raise ValueError(f"Cannot read segment classifier {path!r}: {err}") from err
        d, k = clf.mean.shape[0], len(CLASSES)
        shapes_ok = clf.scale.shape == (d,) and clf.bias.shape == (k,)
        if clf.hidden_weights is None:
            shapes_ok &= clf.weights.shape == (d, k) and clf.hidden_bias is None
        else:
            h = clf.hidden_weights.shape[-1]
            shapes_ok &= clf.hidden_weights.shape == (d, h) and clf.weights.shape == (h, k)
            shapes_ok &= clf.hidden_bias is not None and clf.hidden_bias.shape == (h,)
        s = len(clf.symbols)
        if len(set(clf.symbols)) != s or not all(_nameable(c) for c in clf.symbols):
            raise ValueError(
                f"Segment classifier {path!r} names symbols it may not (duplicates, '?', spaces or syllables): {clf.symbols!r}"
            )
        if clf.symbol_weights is None:
            shapes_ok &= clf.symbol_bias is None and s == 0
        else:
            shapes_ok &= s > 0 and clf.symbol_weights.shape == (d, s)
            shapes_ok &= clf.symbol_bias is not None and clf.symbol_bias.shape == (s,)
        if not shapes_ok:
            raise ValueError(f"Segment classifier {path!r} has inconsistent shapes")
        return clf


def crop_features(head_probs: Sequence[np.ndarray], pooled: np.ndarray) -> np.ndarray:
    """What the classifier sees of a crop: pooled features + per head, log max prob and entropy.

    A crop the model is unsure of (half a syllable, a digit) has flat head distributions.
    """
    extra = []
    for probs in head_probs:
        p = np.clip(np.asarray(probs, np.float64), 1e-9, 1.0)
        extra += [np.log(p.max(axis=1)), -(p * np.log(p)).sum(axis=1)]
    return np.concatenate([np.asarray(pooled, np.float64), np.stack(extra, axis=1)], axis=1)


def geometry(atoms, spans: Sequence[tuple[int, int]], height: float) -> np.ndarray:
    """Per candidate span of a line, in units of the character height H.

    Width, height, vertical centre / top / bottom against the line's local centre (see
    :func:`line_centres`), number of atoms, log aspect, the gaps to the neighbouring atoms
    on the left and right (a part of a syllable sits close to its other parts), and the
    squares / product of width and height.

    Args:
        atoms: the line's atoms (:class:`koocr.lines.Atom`), left to right.
        spans: ``(i, j)``: atoms ``i .. j-1`` merged.
        height: the line's character height H.
    """
    if not len(spans):
        return np.zeros((0, len(GEOMETRY)))
    h = max(float(height), 1.0)
    a = np.array([(t.x0, t.y0, t.x1, t.y1) for t in atoms], np.float64)
    i = np.array([s[0] for s in spans])
    j = np.array([s[1] for s in spans])
    # Box of each span: running min / max over its atoms (at most max_merge of them).
    x0, y0, x1, y1 = a[i, 0].copy(), a[i, 1].copy(), a[i, 2].copy(), a[i, 3].copy()
    for k in range(1, int((j - i).max())):
        inside = i + k < j
        idx = np.minimum(i + k, len(atoms) - 1)
        x0 = np.where(inside, np.minimum(x0, a[idx, 0]), x0)
        y0 = np.where(inside, np.minimum(y0, a[idx, 1]), y0)
        x1 = np.where(inside, np.maximum(x1, a[idx, 2]), x1)
        y1 = np.where(inside, np.maximum(y1, a[idx, 3]), y1)
    # Gaps are capped at about a word space, and the line's ends count as one: what
    # ends a line (a syllable, a full stop) should not look special.
    left = np.where(i > 0, (x0 - a[np.maximum(i - 1, 0), 2]) / h, GAP_CAP)
    right = np.where(j < len(atoms), (a[np.minimum(j, len(atoms) - 1), 0] - x1) / h, GAP_CAP)
    centre = line_centres(a, (x0 + x1) / 2, 3 * h)
    w_, h_ = (x1 - x0) / h, (y1 - y0) / h
    return np.stack(
        [w_, h_, ((y0 + y1) / 2 - centre) / h, (y0 - centre) / h, (y1 - centre) / h, (j - i).astype(np.float64),
         np.log(np.maximum(w_, 1e-3) / np.maximum(h_, 1e-3)), np.clip(left, -1.0, GAP_CAP), np.clip(right, -1.0, GAP_CAP),
         w_ * w_, h_ * h_, w_ * h_],
        axis=1,
    )  # fmt: skip


def line_centres(boxes: np.ndarray, xs: np.ndarray, reach: float) -> np.ndarray:
    """Vertical centre of the line near each column of ``xs``: the median centre of the
    taller atoms (``boxes``: (N, 4) x0, y0, x1, y1) within ``reach`` pixels; a slightly
    rotated line has no single centre."""
    near = np.abs((boxes[None, :, 0] + boxes[None, :, 2]) / 2 - np.asarray(xs)[:, None]) <= reach
    near[~near.any(axis=1)] = True
    heights = boxes[:, 3] - boxes[:, 1]
    tallest = np.where(near, heights[None, :], -np.inf).max(axis=1)
    keep = near & (heights[None, :] >= 0.5 * tallest[:, None])
    # The median of each row's kept centres (np.nanmedian's result, without its masked
    # arrays): sorted, the kept ones come first.
    centres = np.sort(np.where(keep, (boxes[None, :, 1] + boxes[None, :, 3]) / 2, np.inf), axis=1)
    count = keep.sum(axis=1)
    rows = np.arange(len(centres))
    return (centres[rows, (count - 1) // 2] + centres[rows, count // 2]) / 2


# ---------------------------------------------------------------------- examples
# Very frequent syllables of Korean text (particles, endings, common stems), listed from
# general knowledge of the language: half the syllables of the examples come from here, so
# the classifier sees '요', '다', '니' as often as text shows them.
COMMON = (
    "이다의는에을를가고하서지도한로기요니어아사리자시나주수대해게그일들적인과으것있보라만우오내여"
    "거정제전부상소장저무세구원실경관신성회면동방발마학간중정금계러까야데님께며네습했았었겠록할"
    "할말물문생년날때못안없같모든더또및위후앞뒤밖속집길돈밥차산강바다꽃눈비불손발몸맘"
)


def _latin_word(rng: np.random.Generator) -> str:
    """An acronym ('KTX'), a capitalised word or a lower-case word of random letters."""
    kind = rng.random()
    if kind < 0.4:
        return "".join(string.ascii_uppercase[i] for i in rng.integers(26, size=rng.integers(2, 5)))
    word = "".join(string.ascii_lowercase[i] for i in rng.integers(26, size=rng.integers(2, 8)))
    return word.capitalize() if kind < 0.7 else word


def random_text(font, rng: np.random.Generator, charset: Sequence[str]) -> str:
    """A short line mixing syllables, digit runs, Latin words and punctuation.

    Only characters the font covers are kept. Half the syllables are drawn from
    :data:`COMMON`, half uniformly from ``charset``. Latin words teach the classifier that
    a Latin 'L' or 'll' is a symbol, however much it looks like a syllable or its part
    ('느', '이'). Bare jamo ('ㅋㅋ') are not drawn: as symbols they cost handwriting-style
    lines more than they gained (docs/reading-lines.md).
    """
    symbols = [c for c in SYMBOLS if font.covers(c)]
    common = [c for c in dict.fromkeys(COMMON) if font.covers(c)] or list(charset)
    parts = []
    for _ in range(int(rng.integers(3, 7))):
        kind = rng.random()
        if kind < 0.55 or not symbols:
            pool = lambda: common if rng.random() < 0.5 else charset  # noqa: E731
            word = "".join((p := pool())[rng.integers(len(p))] for _ in range(rng.integers(1, 5)))
        elif kind < 0.75:
            word = "".join(str(rng.integers(10)) for _ in range(rng.integers(1, 5)))
        elif kind < 0.87:
            word = _latin_word(rng)
        else:
            word = "".join(symbols[rng.integers(len(symbols))] for _ in range(rng.integers(1, 4)))
        if rng.random() < 0.2 and parts:  # punctuation glued to a word, as in text
            word += symbols[rng.integers(len(symbols))] if symbols else ""
        word = "".join(c for c in word if font.covers(c))
        if word:
            parts.append(word)
    return (" " if rng.random() < 0.7 else "").join(parts)


def span_chars(atoms, spans, boxes, chars: str) -> list[str]:
    """The drawn character each span is exactly, or ``""`` (part of one, parts of several).

    ``boxes`` are the drawn characters' ink boxes in line coordinates, in ``chars`` order.
    """
    owner = []
    for a in atoms:
        cx = (a.x0 + a.x1) / 2
        inside = [k for k, b in enumerate(boxes) if b[0] <= cx < b[2]]
        owner.append(inside[0] if len(inside) == 1 else -1)
    counts = np.bincount([o for o in owner if o >= 0], minlength=len(boxes))
    out = []
    for i, j in spans:
        ks = set(owner[i:j])
        whole = len(ks) == 1 and (k := ks.pop()) >= 0 and counts[k] == j - i
        out.append(chars[k] if whole else "")
    return out


def _classes(span_text: Sequence[str]) -> np.ndarray:
    """Class of each span from :func:`span_chars`: junk, syllable or symbol."""
    return np.array([JUNK if not c else SYLLABLE if hangul.is_syllable(c) else SYMBOL for c in span_text], np.int64)


def label_spans(atoms, spans, boxes, chars: str) -> np.ndarray:
    """Class of each span given the drawn characters' ink boxes (line coordinates)."""
    return _classes(span_chars(atoms, spans, boxes, chars))


def make_examples(
    ocr,
    fonts,
    lines: int,
    rng: np.random.Generator,
    distortion: str | None = None,
    progress: bool = False,
    with_chars: bool = False,
):
    """Renders ``lines`` random lines and returns (features, geometry, labels) of every candidate.

    Each line is drawn with :func:`koocr.linegen.render_line` (every ink box known), given
    paper noise, then over-segmented, cropped and run through ``ocr`` exactly as
    :func:`koocr.lines.read` does. ``with_chars=True`` adds a fourth array: the character
    each candidate is (:func:`span_chars`; ``""`` for junk), which :func:`fit_symbols` needs.
    """
    from tqdm import tqdm

    from koocr import lines as klines
    from koocr.linegen import render_line

    charset = hangul.load_charset(ocr.config.charset)
    feats, geoms, labels, drawn = [], [], [], []
    for _ in tqdm(range(lines), disable=not progress, desc="segment examples"):
        font = fonts[rng.integers(len(fonts))]
        text = random_text(font, rng, [c for c in charset if font.covers(c)] or charset)
        chars = text.replace(" ", "")
        if not chars or not all(font.covers(c) for c in chars):
            continue
        boxes: list = []
        size = int(rng.integers(22, 49))
        line = render_line(text, font, size, float(rng.uniform(-0.02, 0.12)), rng, distortion, boxes)
        noisy = np.clip(line + rng.normal(0.0, rng.uniform(2.0, 8.0), line.shape), 0, 255).astype(np.uint8)
        mask, level = klines.binarize(noisy)
        cand = klines.line_candidates(mask, level, klines.ReadConfig(), ocr.config.image_size, ocr.config.margin, ocr._placement)
        if cand is None:
            continue
        atoms, height, spans, crops, geom = cand
        outputs = ocr.probabilities(crops, features=True)
        feats.append(crop_features(outputs[:-1], outputs[-1]))
        geoms.append(geom)
        span_text = span_chars(atoms, spans, boxes, chars)
        labels.append(_classes(span_text))
        drawn += span_text
    out = (np.concatenate(feats), np.concatenate(geoms), np.concatenate(labels))
    return (*out, np.array(drawn, dtype="<U1")) if with_chars else out


# ---------------------------------------------------------------------- fitting
def fit(
    features: np.ndarray,
    geom: np.ndarray,
    labels: np.ndarray,
    l2: float = 1e-3,
    weights_sha256: str = "",
    hidden: int = 0,
    seed: int = 0,
    max_iter: int = 1000,
) -> SegmentClassifier:
    """Fits a class-balanced classifier (L-BFGS, standardised inputs).

    Args:
        features, geom, labels: what :func:`make_examples` returns.
        l2: L2 penalty on the weight matrices.
        weights_sha256: checksum of the character model's weights, recorded.
        hidden: tanh units of the hidden layer; 0 fits a multinomial logistic regression
            (convex). On the compact48 examples ``tools/fit_segments.py`` reported
            85.8 % validation accuracy linear and 93.4 % with 64 units.
        seed: seeds the hidden layer's random initialisation.
        max_iter: L-BFGS iterations at most.
    """
    x = np.concatenate([features, geom], axis=1).astype(np.float64)
    y = np.asarray(labels, np.int64)
    if x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError(f"Need matching, non-empty features and labels. Received {x.shape} and {y.shape}")
    if hidden < 0:
        raise ValueError(f"hidden must be >= 0. Received: hidden={hidden}")
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    k = len(CLASSES)
    counts = np.bincount(y, minlength=k).astype(np.float64)
    if (counts == 0).any():
        raise ValueError(f"Every class needs examples; counts {dict(zip(CLASSES, counts.tolist(), strict=True))}")
    sample_w = (len(y) / (k * counts))[y]  # class-balanced
    wh, bh, w, b = _fit_softmax((x - mean) / scale, y, k, sample_w, l2, hidden, seed, max_iter)
    if not hidden:
        return SegmentClassifier(mean, scale, w, b, weights_sha256)
    return SegmentClassifier(mean, scale, w, b, weights_sha256, wh, bh)


def fit_symbols(
    clf: SegmentClassifier,
    features: np.ndarray,
    geom: np.ndarray,
    chars: Sequence[str],
    l2: float = 1e-2,
    max_iter: int = 1000,
) -> SegmentClassifier:
    """``clf`` with a head that names symbols, fitted on the crops of single symbols.

    A multinomial logistic regression over ``clf``'s standardised inputs, weighted by how
    often each symbol was drawn (digits, weighted up in :data:`SYMBOLS`, are the common case).

    Args:
        clf: the fitted syllable / symbol / junk classifier.
        features, geom: of symbol crops only (see :func:`make_examples` ``with_chars``).
        chars: the symbol each crop is, one character each.
        l2: L2 penalty on the weights.
        max_iter: L-BFGS iterations at most.
    """
    chars = [str(c) for c in chars]
    if len(chars) != len(features) or not chars:
        raise ValueError(f"Need one character per crop, and some crops. Received {len(chars)} for {len(features)}")
    if not l2 >= 0:
        raise ValueError(f"l2 must be >= 0. Received: l2={l2}")
    if bad := next((c for c in chars if not _nameable(c) and c != UNKNOWN), None):
        raise ValueError(f"Symbols are single visible non-syllable characters. Received: {bad!r}")
    keep = np.array([c != UNKNOWN for c in chars])  # a '?' crop is left to read as unknown
    features, geom, chars = np.asarray(features)[keep], np.asarray(geom)[keep], [c for c in chars if c != UNKNOWN]
    symbols = "".join(sorted(set(chars)))
    if len(symbols) < 2:
        raise ValueError(f"Need at least 2 different symbols. Received: {symbols!r}")
    index = {c: n for n, c in enumerate(symbols)}
    y = np.array([index[c] for c in chars], np.int64)
    x = clf._inputs(np.asarray(features, np.float64), np.asarray(geom, np.float64))
    if not np.isfinite(x).all():
        raise ValueError("The symbol crops' features and geometry must be finite (NaN or inf found)")
    _, _, w, b = _fit_softmax(x, y, len(symbols), np.ones(len(y)), l2, 0, 0, max_iter)
    if not (np.isfinite(w).all() and np.isfinite(b).all()):
        raise ValueError("The symbol head's fit did not converge (non-finite features or weights)")
    return dataclasses.replace(clf, symbol_weights=w, symbol_bias=b, symbols=symbols)


def _nameable(char: str) -> bool:
    """A character a symbol head may name: one visible non-syllable other than :data:`UNKNOWN`."""
    return len(char) == 1 and char != UNKNOWN and char.isprintable() and not char.isspace() and not hangul.is_syllable(char)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax of logits, shifted by each row's max so no exp overflows."""
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _fit_softmax(x, y, k: int, sample_w, l2: float, hidden: int, seed: int, max_iter: int):
    """Softmax regression (with an optional tanh hidden layer) by L-BFGS: (W_h, b_h, W, b)."""
    from scipy.optimize import minimize

    n, d = x.shape
    sample_w = np.asarray(sample_w, np.float64) / n
    onehot = np.eye(k)[y]
    width = hidden or d  # inputs of the output layer
    sizes = [d * hidden, hidden, width * k, k]  # hidden W, hidden b, output W, output b
    cuts = np.cumsum(sizes)[:-1]

    def unpack(theta):
        wh, bh, w, b = np.split(theta, cuts)
        return wh.reshape(d, hidden), bh, w.reshape(width, k), b

    def loss(theta):
        wh, bh, w, b = unpack(theta)
        a = np.tanh(x @ wh + bh) if hidden else x
        logp = _log_softmax(a @ w + b)
        value = -(sample_w * (onehot * logp).sum(axis=1)).sum() + 0.5 * l2 * ((w * w).sum() + (wh * wh).sum())
        gz = (np.exp(logp) - onehot) * sample_w[:, None]
        grads = [a.T @ gz + l2 * w, gz.sum(axis=0)]
        if hidden:
            ga = gz @ w.T * (1.0 - a * a)
            grads = [x.T @ ga + l2 * wh, ga.sum(axis=0), *grads]
        else:
            grads = [np.zeros(0), np.zeros(0), *grads]
        return value, np.concatenate([g.ravel() for g in grads])

    rng = np.random.default_rng(seed)
    theta = np.zeros(sum(sizes))
    if hidden:  # a linear model starts at zero; a hidden layer needs symmetry broken
        theta[: d * hidden] = rng.normal(0.0, 1.0 / np.sqrt(d), d * hidden)
        theta[cuts[1] : cuts[2]] = rng.normal(0.0, 1.0 / np.sqrt(hidden), hidden * k)
    res = minimize(loss, theta, jac=True, method="L-BFGS-B", options={"maxiter": max_iter})
    wh, bh, w, b = unpack(res.x)
    return wh, bh, w, b
