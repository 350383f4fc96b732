"""Reading words and lines: over-segmentation, a recognition-scored DP, spaces and unknowns.

Hangul syllables are square blocks built from separate jamo strokes, so connected
components cut them wrongly. A line is therefore *over-segmented* into atoms (components
grouped by overlapping columns; blobs wider than a character are cut at projection
minima), every run of up to ``max_merge`` consecutive atoms is a candidate character,
all candidates go through the character model in one batch, and a dynamic programme picks
the sequence of candidates that maximises recognition log-probability plus a box-shape
score (the over-segmentation + recognition scheme of handwritten Chinese string
recognition). A block of lines is first split by its horizontal projection. A second DP
pass, with the line's pitch measured on the first, penalises "syllables" wider than the
pitch allows (two read as one); a segment classifier (:mod:`koocr.segments`), when the
model ships one, adds log p(syllable / symbol / junk) of every candidate.

The character model only knows Hangul syllables, so every candidate can also be read as
:data:`UNKNOWN` (a digit, a Latin letter, punctuation), and is when that reading scores
higher. With a segment classifier (the shipped models have one) the unknown reading scores
the classifier's log p(symbol) plus ``symbol_bias``; without one it scores a fixed
``unknown_prob``, so a candidate whose best syllable is less likely than that is reported
unknown. Either way a box shaped like a syllable (wide and tall) is hard to call unknown,
and a low-confidence syllable can stay a syllable: :attr:`CharBox.confidence` says how sure
it is. A classifier with a symbol head then names each unknown box where p(one symbol) x
p(its likeliest symbol) is at least ``name_symbols`` (after every decision above: the boxes
stay the same). Word spaces come from the distances between syllables' centres against the line's
pitch, and elsewhere from gaps wider than the line's typical gap (:func:`word_spaces`).

Example:
    >>> from model import KoOCR
    >>> ocr = KoOCR(weights="compact48")                 # doctest: +SKIP
    >>> result = ocr.read("line.png")                    # doctest: +SKIP
    >>> result.text, result.chars[0]                     # doctest: +SKIP
    ('한국어 문장', CharBox(text='한', box=(3, 2, 41, 40), confidence=0.98, line=0))
"""

from __future__ import annotations

import dataclasses
import math
import os
import unicodedata
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image
from scipy import ndimage

from koocr import hangul, language, preprocess, segments

UNKNOWN = segments.UNKNOWN  # "?": text of a box not read (a digit, Latin, punctuation not named)
LM_WEIGHT = 1.0  # ReadConfig.lm_weight, chosen on the development lines
LM_FLOOR = -5.0  # ReadConfig.lm_floor, ditto

# A scorer maps normalised crops (uint8 (N, S, S)) to the top-1 (syllable, probability) of
# each, optionally followed by the crop's pooled features (for a segment classifier, else
# None) and by the top-k (syllable, probability) alternatives (for the language model).
Scorer = Callable[[np.ndarray], list[tuple]]


def _features(item: tuple):
    return item[2] if len(item) > 2 else None


def _alternatives(item: tuple) -> list[tuple[str, float]]:
    return item[3] if len(item) > 3 and item[3] is not None else [(item[0], item[1])]


@dataclass(frozen=True)
class ReadConfig:
    """Knobs of segmentation and decoding; lengths are in character heights ``H``."""

    max_merge: int = 4  # atoms per character: a syllable spans at most ~3 separate columns
    max_width: float = 1.6  # widest candidate character
    cut_width: float = 1.05  # atoms wider than this are touching characters: cut them
    bridge_width: float = 0.6  # atoms wider than this are cut at thin one-stroke bridges
    max_inner_gap: float = 0.4  # a wider gap never lies inside one character
    min_area: float = 0.003  # components below this * H^2 are noise (a '.' is ~0.015)
    syl_width: tuple[float, float] = (0.5, 1.35)  # usual syllable box width
    syl_min_height: float = 0.62  # syllables are tall; digits / punctuation are shorter
    unknown_max_width: float = 0.85  # wider boxes are not one digit / punctuation mark
    shape_scale: float = 0.12  # how fast the shape penalty grows outside those ranges
    shape_weight: float = 1.0  # shape log-score weight against the recognition log-prob
    char_bonus: float = 0.5  # per character: balances paths of different lengths
    unknown_prob: float = 0.15  # no segment classifier: below this top-1 probability a box is reported unknown
    space_gap: float = 0.13  # space: gap > the line's median gap + this
    min_space_gap: float = 0.25  # ... and at least this
    few_gaps_typical: float = 0.6  # with under 4 gaps the median gap may be a space: cap it at this
    few_pairs_space_gap: float = 0.6  # with no pitch (few syllable pairs), syllables: gap at least this
    space_pitch: float | None = 0.12  # between syllables: centre distance > pitch + this (None: off)
    pitch_percentile: float = 50.0  # the pitch: this percentile of syllable centre distances
    pitch_split: float | None = 1.0  # ... or lower, at a jump in them (see _line_pitch; None: off)
    # ... or lower, at a jump wider than this among the pairs it leaves unspaced (see
    # _line_pitch; None or 0: off), in a band whose syllables all read with a confidence of at
    # least pitch_jump_conf (0: every band). Everywhere, 0.3 helped lines of one-syllable
    # words and cost unevenly set handwriting-style lines a few spaces (docs/reading-lines.md).
    pitch_jump: float | None = 0.25
    pitch_jump_conf: float = 0.9
    min_pitch_pairs: int = 3  # fewer syllable pairs: the gap rule only
    pitch_weight: float = 20.0  # second DP pass: penalise syllables wider than pitch_max * pitch (0: off)
    pitch_max: float = 1.05
    # Between two symbols, no space where their centres are at most this many H further apart
    # than their advances allow, a digit's being the line's digit pitch: a narrow '1' in a
    # digit's advance is no space (_digit_spaces; needs the segment classifier's symbol
    # head; None: off).
    digit_pitch: float | None = 0.12
    line_min_height: float = 0.35  # bands lower than this * the tallest are not lines
    # With a segment classifier (koocr.segments): weight of its log p(syllable / symbol)
    # and of the shape penalty, which the classifier's geometry inputs mostly replace.
    class_weight: float = 1.0
    class_shape_weight: float = 0.0
    symbol_bias: float = -3.0  # log prior of a symbol: rare in Korean text (-3 with the language model, on dev lines)
    # An unknown box is named (its digit, Latin letter or mark instead of UNKNOWN) when the
    # classifier gives "this box is one symbol, and it is this one or a look-alike" at least
    # this probability: p(symbol class) * p(likeliest symbol or its segments.LOOK_ALIKES |
    # symbol) (0: off, every such box reads UNKNOWN; a classifier without a symbol head
    # names none; a question mark is never named).
    name_symbols: float = 0.5
    # An atom of two dots stacked apart, each at most colon_dot line heights wide and high
    # (see _colon_like), is a colon: the classifier's naming head, which reads a crop
    # scaled to fill the frame, named it with only ~0.35. It is named ':' and counts as a
    # sure symbol for the symbol-run bonus (None: off).
    colon_dot: float | None = 0.3
    # Log cost of each switch between a syllable and an unknown box with no space between
    # them (a gap under switch_gap line heights), with the language model. A syllable read in
    # pieces ('나' as '???') or Latin letters read inside a Latin word as a syllable ('Korea'
    # as 'K아ea') switch at both ends; but so does real text ('제3회', '(주)한국'), and a
    # single switch ('PC방', '네,') may then be read as no switch at all ('마 방'). Off by
    # default; 1.0 helped the development lines a little (docs/reading-lines.md).
    switch_cost: float = 0.0
    switch_gap: float = 0.25
    # Log bonus of an unknown box right after another (no gap of switch_gap H between them),
    # with the language model and a segment classifier, times how sure the classifier is of
    # the lesser of the two that it is one symbol, and which (p(symbol) x p(its likeliest
    # symbol | symbol)). symbol_bias charges every symbol as if each were a rare event, but
    # symbols come in runs ('010-1234', '12:30', 'KTX'): two cost twice the charge against one
    # look-alike syllable ('7:' as '가', '-1' as '그'). Pieces of a syllable that the
    # classifier cannot name get almost nothing back (docs/reading-lines.md; 0: off).
    symbol_run: float = 4.0
    # A space the pitch rule finds between two syllables a and b by at most
    # space_lm_margin * H, in a line whose unspaced pairs are unevenly set (median absolute
    # deviation of their centre distances at least space_lm_spread * H, as in handwriting),
    # is dropped where the language model says the pair belongs inside a word: log p(b | a)
    # at least space_pmi above log p(b) ('하 늘', '바닷 가'). Off by default (0): the
    # model cannot tell '한 잔' from '한잔' or '내 일은' from '내일은' (docs/reading-lines.md).
    space_pmi: float = 0.0
    space_lm_margin: float = 0.15
    space_lm_spread: float = 0.04
    # Log prior of a syllable outside KS X 1001's 2,350 (which cover nearly all running
    # text): the reader takes the best of the model's top 5 under it (0: off; a charset=
    # restriction turns it off).
    rare_penalty: float = -2.0
    # Weight of the syllable language model (koocr.language) against the recognition
    # log-prob; it rescores each candidate's top syllables (lm_alternatives) in context (0: off).
    lm_weight: float = LM_WEIGHT
    lm_beam: float = 6.0  # alternatives scoring more than this below a crop's best are dropped
    lm_alternatives: int = 10  # each crop's likeliest syllables the language model chooses among
    # The model's centred score is clipped below at this: a rare syllable the crop is sure
    # of (by weight * -floor = 4 nats, a probability ratio of ~55) keeps its reading.
    lm_floor: float = LM_FLOOR
    # A block skewed by at least min_skew degrees (up to max_skew) is levelled before it is
    # split into lines, when that changes the reading (skew_matters); boxes still refer to
    # the input image (max_skew 0: off).
    max_skew: float = 8.0
    min_skew: float = 0.5
    # Rules (see find_rules) are also looked for along the angle, within this many degrees
    # of the text's, at which one row of the sheared image holds the most dark pixels: a
    # slightly turned rule steps across rows, and no single row holds it (0: off).
    rule_search: float = 0.5
    # Ink shaped like one syllable that falls into several bands (a lone syllable whose
    # finals stand apart) is read whole when the model gives it at least this, and some
    # character of the bands' reading has a confidence below it (0: off).
    whole_prob: float = 0.9
    # Two bands, the lower at most one_line_higher times as high as the upper and at most
    # one_line_gap times the upper's height below it, are also read as one line (finals set
    # well below the rest); that reading wins when the mean confidence of its characters is
    # higher by more than one_line_margin and the least is no lower (None: off).
    one_line_gap: float = 0.2
    one_line_higher: float = 1.6
    one_line_margin: float | None = 0.0
    one_line_aspect: float = 1.5  # ... and its characters are on median at most this high / wide
    # A band is also read cut at its faintest rows (recursively), where such a row holds at
    # most valley_depth times the band's median inked row and the parts are of about one
    # height (the lower at least valley_balance times the higher): lines set so tightly
    # that they touch. The cut reading wins when its characters are surer on average by
    # valley_margin, the least sure is no less sure, every part's characters are on median
    # at least valley_heights times as high as the highest part's and, on median over the
    # parts, fill at least valley_fill of their part's height (valley_depth 0: off).
    valley_depth: float = 0.5
    valley_balance: float = 0.5
    valley_margin: float = 0.0
    valley_heights: float = 0.75
    valley_fill: float = 0.6
    valley_tall: float = 1.4  # in a block, only bands this many times the other bands' median height
    # (and never a band narrower than high: one syllable with a faint row, not two lines)

    def __post_init__(self):
        # A NaN setting read silently wrong; max_merge 0 and max_skew 90 failed deep inside.
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            for v in value if isinstance(value, tuple) else (value,):
                if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
                    raise ValueError(f"read() setting {f.name} must be a finite number. Received: {f.name}={value!r}")
        for name in ("max_merge", "lm_alternatives"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1. Received: {name}={value!r}")
        if not (0 <= self.max_skew < 45 and self.min_skew >= 0):  # max_skew 0: no levelling
            raise ValueError(
                f"Expected 0 <= max_skew < 45 and min_skew >= 0 (degrees). Received: min_skew={self.min_skew}, max_skew={self.max_skew}"
            )
        if len(self.syl_width) != 2 or not 0 < self.syl_width[0] <= self.syl_width[1]:
            raise ValueError(f"syl_width must be (low, high) with 0 < low <= high. Received: {self.syl_width!r}")
        # Out of range, these failed deep inside (shape_scale=0: ZeroDivisionError) or read
        # silently wrong (negative weights reward what they should penalise).
        for name, low, high, low_open in _READ_RANGES:
            value = getattr(self, name)
            if value is not None and (value < low or (low_open and value == low) or value > high):
                bracket = "(" if low_open else "["
                raise ValueError(f"read() setting {name} must lie in {bracket}{low}, {high}]. Received: {name}={value!r}")


# (setting, low, high, low excluded) of ReadConfig's numbers that have a range.
_READ_RANGES = (
    *((n, 0.0, math.inf, True) for n in (
        "max_width", "cut_width", "bridge_width", "syl_min_height", "unknown_max_width", "shape_scale",
        "pitch_max", "lm_beam", "one_line_higher", "one_line_aspect", "valley_tall")),
    *((n, 0.0, math.inf, False) for n in (
        "max_inner_gap", "min_area", "shape_weight", "min_space_gap", "few_gaps_typical", "few_pairs_space_gap",
        "space_pitch", "digit_pitch", "colon_dot", "pitch_split", "pitch_jump", "min_pitch_pairs", "pitch_weight", "class_weight", "class_shape_weight", "lm_weight",
        "rule_search", "one_line_gap", "valley_heights", "valley_fill", "switch_cost", "switch_gap", "symbol_run",
        "space_pmi", "space_lm_margin", "space_lm_spread")),
    *((n, 0.0, 1.0, False) for n in (
        "unknown_prob", "whole_prob", "valley_depth", "valley_balance", "name_symbols", "pitch_jump_conf")),
    ("line_min_height", 0.0, 1.0, True),
    ("pitch_percentile", 0.0, 100.0, False),
)  # fmt: skip


@dataclass(frozen=True)
class CharBox:
    """One read character: its text (a syllable, a named symbol or :data:`UNKNOWN`), box and confidence.

    ``box`` is ``(x0, y0, x1, y1)`` in pixels of the input image (x1, y1 exclusive).
    """

    text: str
    box: tuple[int, int, int, int]
    confidence: float
    line: int = 0


@dataclass(frozen=True)
class ReadResult:
    """What :func:`read` returns: the text (lines joined by ``\\n``) and every character."""

    text: str
    chars: list[CharBox] = field(default_factory=list)

    @property
    def lines(self) -> list[str]:
        return self.text.split("\n") if self.text else []


@dataclass(frozen=True)
class Atom:
    """A piece of a line: components (labels) clipped to columns ``[x0, x1)`` of the band."""

    x0: int
    x1: int
    y0: int
    y1: int
    labels: tuple[int, ...]


# ---------------------------------------------------------------------- binarisation
def binarize(image) -> tuple[np.ndarray, np.ndarray]:
    """Any image of text -> (ink mask, level): level is 0 (ink) .. 255 (paper), float32.

    The background is the majority class (true of any text line or page), so either
    polarity works, unless paper, light or dark, runs all round ink that fills most of the
    image (a bold word cropped close); the contrast stretch is the one of
    :func:`koocr.preprocess.normalize`.
    """
    gray = preprocess.to_gray(image)
    if float(np.ptp(gray)) < 16.0:  # blank: no ink at all
        return np.zeros(gray.shape, bool), np.full(gray.shape, 255.0, np.float32)
    thr = preprocess.otsu_threshold(gray)
    light, flat = preprocess._polarity(gray, thr, by_border=False)
    turned = light  # the side that _polarity found flat, if it did
    # Ink over most of the image with paper all round it that reaches between the strokes
    # is a heavy word cropped close, in either polarity: light text on dark paper is the
    # mirror of dark text on light paper (what predict() decides by the border).
    if light and _paper_all_round(255.0 - gray, 255.0 - thr):
        light = False
    elif not light and _paper_all_round(gray, thr):
        light = True
    label = _dark_label(gray < thr) if light else None
    if label is not None:  # light text on a dark label, on light paper: read the label alone
        r0, r1, c0, c1 = label
        inner_mask, inner_level = binarize(np.clip(gray[r0:r1, c0:c1], 0, 255).astype(np.uint8))
        mask, level = np.zeros(gray.shape, bool), np.full(gray.shape, 255.0, np.float32)
        corners = _touching_border(inner_mask)  # the light paper round a rounded label's corners
        mask[r0:r1, c0:c1] = inner_mask & ~corners
        level[r0:r1, c0:c1] = np.where(corners, 255.0, inner_level)
        return mask, level
    if not light:
        gray = 255.0 - gray
        thr = 255.0 - thr
    if not (flat and light == turned):  # else clean_background would return gray as it is
        gray, _ = preprocess.clean_background(gray, thr)
        thr = preprocess.otsu_threshold(gray)
    elif not light:
        thr = preprocess.otsu_threshold(gray)
    # else gray is the image whose threshold thr is
    mask = gray < thr
    bg_level = preprocess.quantiles(gray[~mask], (0.5,))[0] if (~mask).any() else 255.0
    ink_level = preprocess.quantiles(gray[mask], (0.1,))[0] if mask.any() else 0.0
    span = max(bg_level - ink_level, 1.0)
    level = np.clip((gray - ink_level) / span, 0.0, 1.0) * 255.0
    return mask, level.astype(np.float32)


def _touching_border(mask: np.ndarray) -> np.ndarray:
    """The pixels of ``mask`` connected to the image's edge."""
    labels, _ = ndimage.label(mask)
    edge = np.unique(preprocess.border_pixels(labels))
    return np.isin(labels, edge[edge > 0])


def _dark_label(dark: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(r0, r1, c0, c1)`` of a solid dark label holding light text, if ``dark`` (the dark
    pixels of an image with light paper) is one: a component with at least 90 % of the dark
    pixels, clear of the image's border, its box's outline at least 90 % inked (a rectangle,
    maybe rounded), at least half its box inked, and at least 2 light holes (the letters)
    inside. A bold word's strokes are no such rectangle; a photo's dark edges and a rule under
    the text can outline one, but they reach the border."""
    if not dark.any():
        return None
    labels, n = ndimage.label(dark)
    areas = np.bincount(labels.ravel(), minlength=n + 1)
    areas[0] = 0
    lab = int(np.argmax(areas))
    if areas[lab] < 0.9 * dark.sum():
        return None
    component = labels == lab
    rows, cols = np.flatnonzero(component.any(axis=1)), np.flatnonzero(component.any(axis=0))
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    if min(r1 - r0, c1 - c0) < 8 or r0 == 0 or c0 == 0 or r1 == dark.shape[0] or c1 == dark.shape[1]:
        return None  # a label lies on the paper; dark edges of a photo or scan reach the border
    box = component[r0:r1, c0:c1]
    if box.mean() < 0.5 or preprocess.border_pixels(box).mean() < 0.9:
        return None
    _, holes = ndimage.label(~box & ~_touching_border(~box))
    return (r0, r1, c0, c1) if holes >= 2 else None


def _paper_all_round(gray: np.ndarray, thr: float) -> bool:
    """Light paper on (nearly) every border pixel that reaches in between the dark strokes:
    a bold word or syllable cropped close, whose ink fills most of the image. Light text on
    a dark label is cut off from a light margin round the label, so the label is the paper."""
    light = gray > thr
    if np.mean(preprocess.border_pixels(light)) < 0.98 or light.all():
        return False
    rows, cols = np.flatnonzero((~light).any(axis=1)), np.flatnonzero((~light).any(axis=0))
    box = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)  # the dark ink's box
    between = light[box]
    if not between.any():
        return False
    return bool(_touching_border(light)[box][between].mean() >= 0.5)


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True."""
    padded = np.concatenate([[False], flags, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _sheared_rows(ys: np.ndarray, xs: np.ndarray, angle: float) -> np.ndarray:
    """Ink per row once text skewed by ``angle`` degrees is sheared level (xs centred)."""
    rows = np.rint(ys + xs * np.tan(np.deg2rad(angle))).astype(np.int64)
    return np.bincount(rows - rows.min()).astype(np.float64)


def _ink_points(mask: np.ndarray, limit: int = 50_000) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.nonzero(mask)
    if ys.size > limit:  # evenly picked: the projection keeps its shape
        keep = np.linspace(0, ys.size - 1, limit).astype(np.int64)
        ys, xs = ys[keep], xs[keep]
    return ys, xs - (mask.shape[1] - 1) / 2.0


def estimate_skew(mask: np.ndarray, max_angle: float = 8.0) -> float:
    """Skew of the text in ``mask`` in degrees, positive when lines rise to the right.

    The angle whose sheared row projection of the ink is sharpest (largest sum of squared
    row counts): whole degrees first, then quarter degrees around the best, refined by a
    parabola through the best and its neighbours. 0.0 for fewer than 50 ink pixels; up
    to 50,000 ink pixels are used, evenly picked.
    """
    ys, xs = _ink_points(mask)
    if ys.size < 50 or max_angle <= 0:
        return 0.0

    def sharpness(angle: float) -> float:
        counts = _sheared_rows(ys, xs, angle)
        return float(counts @ counts)

    coarse = np.arange(-np.floor(max_angle), np.floor(max_angle) + 1.0)
    best = float(coarse[int(np.argmax([sharpness(a) for a in coarse]))])
    fine = best + 0.25 * np.arange(-4, 5)
    scores = np.array([sharpness(a) for a in fine])
    k = int(np.argmax(scores))
    angle = float(fine[k])
    if 0 < k < len(fine) - 1:
        left, mid, right = scores[k - 1 : k + 2]
        curve = left - 2 * mid + right
        if curve < 0:
            angle += 0.125 * (left - right) / curve
    return float(np.clip(angle, -max_angle, max_angle))


def skew_matters(mask: np.ndarray, angle: float, min_height: float = 0.35) -> bool:
    """Would levelling text skewed by ``angle`` change how ``mask`` is read?

    True if the levelled projection splits into more lines than ``mask``'s own (a skewed
    block whose lines run into each other), or holds a row of ink half the image wide that
    ``mask`` does not (a skewed rule). A single skewed line is read as it is: its pieces
    are cut and placed one by one, and turning the image would blur every glyph.
    """
    ys, xs = _ink_points(mask)
    if ys.size < 50:
        return False
    counts = _sheared_rows(ys, xs, angle) * (np.count_nonzero(mask) / ys.size)
    levelled = split_lines(counts[:, None] > 0, min_height)
    if len(levelled) > len(split_lines(mask, min_height)):
        return True
    half = mask.shape[1] / 2
    return bool(counts.max() >= half and mask.sum(axis=1).max() < half)


def _level_affine(shape: tuple[int, int], angle: float) -> tuple[tuple[int, int], tuple[float, ...]]:
    """Output shape and PIL AFFINE coefficients (output -> input) that level text skewed by ``angle``."""
    h, w = shape
    t = np.deg2rad(angle)
    cos, sin = float(np.cos(t)), float(np.sin(t))
    out_w = int(np.ceil(w * abs(cos) + h * abs(sin)))
    out_h = int(np.ceil(w * abs(sin) + h * abs(cos)))
    cx, cy, ox, oy = w / 2, h / 2, out_w / 2, out_h / 2
    return (out_h, out_w), (cos, sin, cx - ox * cos - oy * sin, -sin, cos, cy + ox * sin - oy * cos)


def deskew(mask: np.ndarray, level: np.ndarray, angle: float):
    """``mask`` and ``level`` turned so text skewed by ``angle`` degrees runs level.

    Returns ``(mask, level, to_input)``: ``to_input`` maps a box ``(x0, y0, x1, y1)`` of
    the levelled image to the box around it in the input image (clipped to it).
    """
    h, w = mask.shape
    (out_h, out_w), coef = _level_affine(mask.shape, angle)
    size = (out_w, out_h)

    def turn(img: np.ndarray, fill: float) -> np.ndarray:
        pil = Image.fromarray(img.astype(np.float32), mode="F")
        return np.asarray(pil.transform(size, Image.Transform.AFFINE, coef, Image.Resampling.BILINEAR, fillcolor=fill))

    new_level = turn(level, 255.0)
    new_mask = turn(mask.astype(np.float32), 0.0) >= 0.5
    a, b, c, d, e, f = coef

    def to_input(box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        x0, y0, x1, y1 = box
        xs = np.array([x0, x1, x0, x1], np.float64)
        ys = np.array([y0, y0, y1, y1], np.float64)
        xi, yi = a * xs + b * ys + c, d * xs + e * ys + f
        return (
            int(np.clip(np.floor(xi.min()), 0, w)), int(np.clip(np.floor(yi.min()), 0, h)),
            int(np.clip(np.ceil(xi.max()), 0, w)), int(np.clip(np.ceil(yi.max()), 0, h)),
        )  # fmt: skip

    return new_mask, new_level.copy(), to_input


def find_verticals(mask: np.ndarray, span: float = 0.8, thin: float = 0.2, grid_width: float = 0.5) -> np.ndarray:
    """Ink of vertical rules and dark side edges that join the lines of a block: a bool mask.

    Components of ink at least ``span`` of the ink's height and at most ``thin`` times as
    wide as high that touch no text (a margin rule, a scanner's dark border), and the
    vertical lines of a ruled table: in a component as high and at least ``grid_width``
    times as wide as high, the columns inked without a break over ``span`` of the ink's
    height, less the horizontal rules they cross (:func:`_grid_lines`). They are taken only
    when the block without them splits into more lines (:func:`split_lines`): the 'ㅣ' strokes of a single line, or of a lone '니' cropped tight, are read as they are.
    """
    out = np.zeros_like(mask)
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return out
    min_len = max(8, span * (rows[-1] + 1 - rows[0]))
    labels, boxes = _components(mask)
    tall = [lab for lab, x0, x1, y0, y1, _ in boxes if y1 - y0 >= min_len and x1 - x0 <= thin * (y1 - y0)]
    grids = [b for b in boxes if b[4] - b[3] >= min_len and b[2] - b[1] >= grid_width * (b[4] - b[3])]
    if tall:
        out = _member(labels, tall)
    for lab, x0, x1, y0, y1, _ in grids:
        out[y0:y1, x0:x1] |= _grid_lines(labels[y0:y1, x0:x1] == lab, min_len)
    if not out.any():
        return out
    if len(split_lines(mask & ~out)) <= len(split_lines(mask)):
        return np.zeros_like(mask)
    return out


def _grid_lines(part: np.ndarray, min_len: float) -> np.ndarray:
    """In one component's box: the vertical lines of a grid, columns inked without a break
    for ``min_len`` rows from one horizontal rule (a row inked over half the box's width) to
    another, without the rules' own pixels (:func:`find_rules` finds those later). The box
    needs 3 rules at least (2 rows of cells; a box round one row is read inside its frame): a
    line struck through a row of syllables is one, and a photo's dark top edge and a rule
    under the text, both joined to the syllables, are two."""
    h, w = part.shape
    wide = part.sum(axis=1) >= 0.5 * w
    rules = _runs(wide)
    out = np.zeros_like(part)
    if len(rules) < 3:
        return out
    for c in range(w):
        for a, b in _runs(part[:, c]):
            if b - a >= min_len and sum(r0 < b and r1 > a for r0, r1 in rules) >= 2:
                out[a:b, c] = True
    out[wide] = False
    return out


def _long_runs(mask: np.ndarray, min_len: int) -> list[tuple[int, int, int]]:
    """``(row, start, end)`` of each run of ``mask`` at least ``min_len`` long."""
    rows = np.flatnonzero(mask.sum(axis=1) >= min_len)
    return [(r, a, b) for r in rows.tolist() for a, b in _runs(mask[r]) if b - a >= min_len]


def _close_gaps(mask: np.ndarray, gap: int) -> np.ndarray:
    """``mask`` with gaps of up to ``gap`` pixels within each row filled."""
    out = mask.copy()
    w = mask.shape[1]
    for k in range(1, gap + 1):
        if k + 1 >= w:
            break
        both = mask[:, : w - k - 1] & mask[:, k + 1 :]  # ink at x and at x + k + 1
        for j in range(1, k + 1):
            out[:, j : j + both.shape[1]] |= both
    return out


_RULE_LEVEL = 240.0  # with a grey level image, rules are looked for among pixels darker than this


def find_rules(mask: np.ndarray, ratio: float = 3.0, level: np.ndarray | None = None) -> np.ndarray:
    """Ink of ruled lines, underlines and scanner edges: a bool mask like ``mask``.

    No Hangul stroke is much longer than one em, so a horizontal run of ink at least
    half the image wide and ``ratio`` times the height of the nearest text line (the
    bands :func:`split_lines` finds in ``mask``, rule and all) is not text.
    Text on ruled paper, underlined words and a dark band or frame left by a scan or
    crop then read as without them, and so does a row of boxes (manuscript paper, a form):
    ink that runs from one rule down to the next is a line between cells.

    With ``level`` (the grey image of :func:`binarize`), runs are looked for among all
    pixels clearly darker than the paper: a faint or blurred rule, which the threshold
    breaks into dashes, is found whole. Gaps of up to 3 pixels (noise) and steps of one
    row (a rule turned a little) do not break a run that crosses 90 % of the image then.
    Rules found so are thin (at most a quarter of the line's height) unless they lie on
    the image's edge. A rule turned further is found along its angle by
    :func:`read_image` (see :func:`rule_angle`).
    """
    h, w = mask.shape
    min_len = max(8, w // 2)
    dark = mask if level is None else mask | (level < _RULE_LEVEL)
    runs = _long_runs(dark, min_len)
    if level is not None:
        # Noise breaks a faint rule into pieces a few pixels apart, and a turned one steps a
        # row here and there: runs are also looked for with such gaps closed and each row
        # joined to its neighbours, taken in the row holding most of the run. Bridged so, a
        # run must cross nearly the whole image (ruled paper): the bars of tightly set
        # syllables ('프로그램') line up with gaps as small.
        across = max(min_len, int(0.9 * w))
        runs = set(runs) | set(_long_runs(_close_gaps(dark, 3), across))
        near = dark.copy()
        near[1:] |= dark[:-1]
        near[:-1] |= dark[1:]
        for r, a, b in _long_runs(_close_gaps(near, 3), across):
            here = dark[r, a:b].sum()
            if here >= dark[max(r - 1, 0), a:b].sum() and here >= dark[min(r + 1, h - 1), a:b].sum():
                runs.add((r, a, b))
        runs = sorted(runs)
    rules = np.zeros_like(mask)
    if not runs:
        return rules
    for r, a, b in runs:
        rules[r, a:b] = dark[r, a:b]
    # The reference is the text block the run lies in, rule and all: measured on what is
    # left without the run, a syllable's own long bar (트, 으) would be judged against a
    # fragment of its syllable.
    # A run in a band of its own with text just beside it (closer than that text is tall) is
    # judged against both: the bar of a lone '드' or '으' is set apart from the rest of its
    # syllable much as an underline is from its line.
    # Only a band that holds little but long runs is the run's own: a band that holds a
    # line of text too (an underline or a scan edge joined to the line it lies by) is
    # measure enough, and its neighbour, another line, would double the reference.
    bands = split_lines(mask)
    other_ink = (mask & ~rules).any(axis=1)
    for r, a, b in runs:
        if bands:
            dist = np.array([max(r0 - r, r - r1 + 1, 0) for r0, r1 in bands])
            order = np.argsort(dist, kind="stable")
            r0, r1 = bands[order[0]]
            own = other_ink[r0:r1].sum() < 0.5 * (r1 - r0)
            if dist[order[0]] == 0 and len(bands) > 1 and own:
                s0, s1 = bands[order[1]]
                if max(s0 - r1, r0 - s1, 0) < s1 - s0:
                    r0, r1 = min(r0, s0), max(r1, s1)
            if b - a < ratio * (r1 - r0):
                rules[r, a:b] = False  # as long as a few syllables: may be text
    if level is not None and bands:
        tallest = max(r1 - r0 for r0, r1 in bands)
        for y0, y1 in _runs(rules.any(axis=1)):
            if y1 - y0 > max(3, 0.25 * tallest) and y0 > 0 and y1 < h:
                rules[y0:y1] = False  # a thick dark band inside the image: text run together
    # Ink right next to a rule that goes no further is its jagged edge (a turned rule), not
    # a stroke: the rule takes it.
    for y0, y1 in _runs(rules.any(axis=1)):
        span = rules[y0:y1].any(axis=0)
        if y0 >= 1:
            beyond = mask[y0 - 2] if y0 >= 2 else np.zeros(w, bool)
            rules[y0 - 1] |= mask[y0 - 1] & span & ~beyond
        if y1 < h:
            beyond = mask[y1 + 1] if y1 + 1 < h else np.zeros(w, bool)
            rules[y1] |= mask[y1] & span & ~beyond
    # Where a stroke crosses the rule (ink right above and right below it), the stroke stays.
    for y0, y1 in _runs(rules.any(axis=1)):
        if 0 < y0 and y1 < h:
            cross = mask[y0 - 1] & ~rules[y0 - 1] & mask[y1] & ~rules[y1]
            rules[y0:y1, cross] = False
    # The lines between the cells of a grid run from one rule to the next; no stroke does.
    # Each column is looked at with its neighbours: a turned line is jagged.
    if rules.any():
        rest = mask & ~rules
        for c in np.flatnonzero(rest.any(axis=0)):
            near = slice(max(c - 1, 0), c + 2)
            for a, b in _runs(rest[:, near].any(axis=1)):
                if a > 0 and b < h and rules[a - 1, near].any() and rules[b, near].any():
                    rules[a:b, c] |= rest[a:b, c]
    return rules


def _shear_index(shape: tuple[int, int], angle: float) -> tuple[tuple[int, int], np.ndarray, np.ndarray]:
    """Where each pixel goes when the columns are shifted so text skewed by ``angle`` runs level.

    Whole-pixel column shifts (as :func:`_sheared_rows`): nothing is resampled, so a mask
    found on the sheared image maps back exactly.
    """
    h, w = shape
    shift = np.rint((np.arange(w) - (w - 1) / 2.0) * np.tan(np.deg2rad(angle))).astype(np.int64)
    shift -= shift.min()
    rows = np.arange(h)[:, None] + shift[None, :]
    cols = np.broadcast_to(np.arange(w)[None, :], (h, w))
    return (h + int(shift.max()), w), rows, cols


def rule_angle(dark: np.ndarray, around: float = 0.0, search: float = 0.5, steps: int = 11) -> float | None:
    """The angle within ``search`` degrees of ``around`` at which a rule in ``dark`` runs.

    The angle whose sheared rows hold the longest row of dark pixels, if that row is at
    least half the image wide and the angle shifts the image's ends at least a pixel
    apart; else None (no rule, or a level one that :func:`find_rules` finds row by row).
    """
    h, w = dark.shape
    ys, xs = _ink_points(dark)
    if ys.size < 50:
        return None
    angles = around + np.linspace(-search, search, steps)
    longest = [_sheared_rows(ys, xs, a).max() for a in angles]
    k = int(np.argmax(longest))
    scale = np.count_nonzero(dark) / ys.size
    if longest[k] * scale < w / 2 or abs(np.tan(np.deg2rad(angles[k]))) * w < 1.0:
        return None  # no rule, or one level enough for find_rules to find row by row
    return float(angles[k])


def _find_rules_sheared(mask: np.ndarray, level: np.ndarray, angle: float) -> np.ndarray:
    """:func:`find_rules` along lines skewed by ``angle`` degrees (a rule on a slightly turned page)."""
    shape, rows, cols = _shear_index(mask.shape, angle)
    sheared_mask = np.zeros(shape, bool)
    sheared_mask[rows, cols] = mask
    sheared_level = np.full(shape, 255.0, np.float32)
    sheared_level[rows, cols] = level
    return find_rules(sheared_mask, level=sheared_level)[rows, cols]


def find_all_rules(mask: np.ndarray, level: np.ndarray, angle: float = 0.0, search: float = 0.5) -> np.ndarray:
    """:func:`find_rules` row by row, and along the angle :func:`rule_angle` finds within
    ``search`` degrees of the text's ``angle`` (0: row by row only)."""
    rules = find_rules(mask, level=level)
    if search > 0:
        turn = rule_angle(mask | (level < _RULE_LEVEL), angle, search)
        if turn is not None:
            rules |= _find_rules_sheared(mask, level, turn)
    return rules


def split_lines(
    mask: np.ndarray,
    min_height: float = 0.35,
    attach_height: float = 0.6,
    attach_gap: float = 0.3,
    close_height: float = 0.75,
    close_gap: float = 0.1,
    flat_aspect: float = 1.2,
    syllable_aspect: float = 0.6,
) -> list[tuple[int, int]]:
    """Rows ``[r0, r1)`` of each text line, from the horizontal projection of ``mask``.

    Bands lower than ``min_height`` times the tallest (dots, stray marks, a jamo that
    sits apart) join the nearest band when close to it, and are dropped otherwise, unless
    they hold a line of text (see :func:`_small_line`: body text under a title, small print
    under body text) and lie beyond ``close_gap`` of the nearest band's height (at most the
    tallest) or are at least ``attach_height`` as high as it. Bands
    lower than ``attach_height`` times the tallest that lie within ``attach_gap`` times
    the tallest of a taller band join it too: the final consonants of a face that sets
    them well below the rest of the syllable (AleeBangwool, AleeBandal) form such a band,
    and a real line of text sits farther away. So do bands up to ``close_height`` of the
    tallest within ``close_gap`` of it: the finals of a line levelled exactly, which can
    stand apart by a row or two (a real line sits farther away even in tight setting). A
    band that holds a line of text is measured against its taller neighbour (at most the
    tallest) instead, and under it joins it only by the ``close_height`` rule: finals set
    farther apart and small print set close look alike, and :func:`read` reads such a pair
    both as one line and as two.

    Two neighbouring bands are also one line, and a low band far from the others is kept
    with its neighbour, when together they are at most 1.8 times as wide as high (a lone
    syllable or a short word), either band is flat (its pieces, the runs of inked columns,
    are on median at least ``flat_aspect`` times as wide as the band is high) and together
    they look like syllables (pieces at least ``syllable_aspect`` as wide as high): the
    jamo of '를', '드' or '프' stand apart, and no full-height band gives the measure. A line
    of text is not flat, as a syllable's pieces are about as high as its line; tightly set,
    touching syllables can make it look so, hence the bound on the width.
    """
    bands = _runs(mask.any(axis=1))
    if not bands:
        return []
    tallest = max(b - a for a, b in bands)
    lines = [band for band in bands if band[1] - band[0] >= min_height * tallest]
    for a, b in bands:
        if b - a >= min_height * tallest:
            continue
        dist = [max(la - b, a - lb) for la, lb in lines]
        k = int(np.argmin(dist))
        la, lb = lines[k]
        top, bottom = min(la, a), max(lb, b)
        # A low band that is a line of text stays a line unless it lies a row or two from its
        # neighbour (measured against that neighbour: under a large title, body text would
        # pass for the finals of the title); when it holds a line's finals, read()'s
        # one-line reading joins the pair.
        scale = min(lb - la, tallest)
        low, high = sorted((b - a, lb - la))
        if (dist[k] > close_gap * scale or low >= attach_height * high) and _small_line(mask[a:b]):
            lines.append((a, b))  # a line of smaller text (under a title, a body line or its like)
        elif dist[k] <= 0.6 * tallest or _syllable_parts(mask, (la, lb), (a, b), flat_aspect, syllable_aspect):
            lines[k] = (top, bottom)
    lines.sort()
    merged: list[tuple[int, int]] = []
    for a, b in lines:
        if merged:
            pa, pb = merged[-1]
            low, high, gap = min(b - a, pb - pa), max(b - a, pb - pa), a - pb
            # A band that looks like a line of text is measured against its taller
            # neighbour, not against the tallest band (see above). Under that neighbour it
            # is joined only a row or two away (the finals of a levelled line): small print
            # under a body line looks so too, and so do the finals of a line set apart, and
            # read() tries such a close pair both ways (its one-line reading). Jamo that
            # stand apart are measured as before: no piece of theirs gives a line's height.
            text = _small_line(mask[a:b] if b - a == low else mask[pa:pb])
            scale = min(high, tallest) if text else tallest
            joins = [(attach_height, attach_gap), (close_height, close_gap)]
            if text and b - a < pb - pa:
                joins = joins[1:]
            for size, near in joins:
                if low < size * scale and gap <= near * scale and high >= size * scale:
                    merged[-1] = (pa, max(pb, b))
                    break
            else:
                merged.append((a, b))
            continue
        merged.append((a, b))
    k = 0
    while k < len(merged) - 1:
        if _syllable_parts(mask, merged[k], merged[k + 1], flat_aspect, syllable_aspect):
            merged[k : k + 2] = [(merged[k][0], merged[k + 1][1])]
        else:
            k += 1
    return merged


def _small_line(band: np.ndarray, min_pixels: int = 8, pieces: int = 4) -> bool:
    """Is a low band a line of smaller text? At least ``min_pixels`` high, at least four
    times as wide as high, and at least ``pieces`` runs of inked columns that are on median
    at least half as high as the band (characters, not specks or a row of dots)."""
    h = band.shape[0]
    cols = np.flatnonzero(band.any(axis=0))
    if h < min_pixels or cols.size == 0 or cols[-1] + 1 - cols[0] < 4 * h:
        return False
    runs = _runs(band.any(axis=0))
    if len(runs) < pieces:
        return False
    heights = [np.flatnonzero(band[:, a:b].any(axis=1)).size for a, b in runs]
    return float(np.median(heights)) >= 0.5 * h


def _cut_valleys(mask: np.ndarray, band: tuple[int, int], depth: float, balance: float) -> list[tuple[int, int]]:
    """``band`` cut at its faintest row, recursively, where that row holds at most ``depth``
    times the band's median inked row and the parts above and below are of about one
    height (the lower at least ``balance`` times the higher): two lines set so tightly that
    one's finals reach the next one's top leave no white row between them."""
    a, b = band
    ink = mask[a:b].sum(axis=1)
    if not ink.any():
        return [band]
    limit = depth * float(np.median(ink[ink > 0]))
    rows = np.arange(1, b - a - 1)
    even = np.minimum(rows, b - a - rows) >= balance * np.maximum(rows, b - a - rows)
    rows = rows[even & (ink[rows] <= limit)]
    if rows.size == 0:
        return [band]
    cut = a + int(rows[np.argmin(ink[rows])])
    upper, lower = _runs(mask[a:cut].any(axis=1)), _runs(mask[cut:b].any(axis=1))
    if not upper or not lower:
        return [band]
    top = (a + upper[0][0], a + upper[-1][1])
    bottom = (cut + lower[0][0], cut + lower[-1][1])
    return _cut_valleys(mask, top, depth, balance) + _cut_valleys(mask, bottom, depth, balance)


def _syllable_parts(mask: np.ndarray, one: tuple[int, int], other: tuple[int, int], flat: float, syllable: float) -> bool:
    """Are two bands of ``mask`` parts of one short word (see :func:`split_lines`)?"""
    union = mask[min(one[0], other[0]) : max(one[1], other[1])]
    cols = np.flatnonzero(union.any(axis=0))
    if cols.size == 0 or cols[-1] - cols[0] + 1 > 1.8 * union.shape[0]:
        return False  # longer: lines of text, whose touching syllables can make a band look flat
    if max(_piece_aspect(mask[one[0] : one[1]]), _piece_aspect(mask[other[0] : other[1]])) < flat:
        return False
    return _piece_aspect(union) >= syllable


def _piece_aspect(band: np.ndarray) -> float:
    """Median width of the runs of inked columns of ``band`` over the height of its ink."""
    rows = np.flatnonzero(band.any(axis=1))
    widths = [b - a for a, b in _runs(band.any(axis=0))]
    if not widths:
        return 0.0
    return float(np.median(widths)) / (rows[-1] - rows[0] + 1)


# ---------------------------------------------------------------------- over-segmentation
def _components(mask: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int, int, int, int]]]:
    """8-connected labels and, per label, (label, x0, x1, y0, y1, area) boxes."""
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    boxes = []
    areas = np.bincount(labels.ravel(), minlength=n + 1)
    for lab, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is not None:
            boxes.append((lab, sl[1].start, sl[1].stop, sl[0].start, sl[0].stop, int(areas[lab])))
    return labels, boxes


def _group_columns(boxes) -> list[list[tuple]]:
    """Groups components whose column ranges overlap (a jamo above / below another)."""
    groups: list[list[tuple]] = []
    x1 = -1
    for box in sorted(boxes, key=lambda b: b[1]):
        _, bx0, bx1, *_ = box
        if groups:
            g0 = min(b[1] for b in groups[-1])
            overlap = min(x1, bx1) - max(g0, bx0)
            if overlap > 0.5 * min(bx1 - bx0, x1 - g0) or bx1 <= x1:
                groups[-1].append(box)
                x1 = max(x1, bx1)
                continue
        groups.append([box])
        x1 = bx1
    return groups


def _member(labels: np.ndarray, ids: Sequence[int]) -> np.ndarray:
    """``np.isin(labels, ids)`` for the few labels of an atom (~10x faster at that size)."""
    out = labels == ids[0]
    for lab in ids[1:]:
        out |= labels == lab
    return out


def _group_atom(group) -> Atom:
    """The atom of whole components (``_components`` boxes): their boxes' union, what
    :func:`_atom` finds over all their columns, without a pass over the pixels."""
    return Atom(
        min(b[1] for b in group), max(b[2] for b in group), min(b[3] for b in group), max(b[4] for b in group),
        tuple(b[0] for b in group),
    )  # fmt: skip


def _atom(labels: np.ndarray, group, x0: int, x1: int) -> Atom | None:
    ids = tuple(b[0] for b in group)
    cols = _member(labels[:, x0:x1], ids)
    rows = np.flatnonzero(cols.any(axis=1))
    used = np.flatnonzero(cols.any(axis=0))
    if rows.size == 0:
        return None
    return Atom(x0 + int(used[0]), x0 + int(used[-1]) + 1, int(rows[0]), int(rows[-1]) + 1, ids)


def stroke_width(mask: np.ndarray) -> float:
    """Typical stroke thickness: the median vertical ink run (horizontal strokes dominate)."""
    padded = np.pad(mask, ((1, 1), (0, 0))).astype(np.int8)
    edges = np.diff(padded, axis=0)
    starts, ends = np.nonzero(edges.T == 1), np.nonzero(edges.T == -1)
    runs = ends[1] - starts[1]
    return float(np.median(runs)) if runs.size else 1.0


def _split(labels: np.ndarray, atom: Atom, cuts: Sequence[int], height: float, cfg, sw: float) -> list[Atom]:
    out, edges = [], [atom.x0, *(atom.x0 + c for c in cuts), atom.x1]
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        piece = _atom(labels, [(lab,) for lab in atom.labels], a, b)
        if piece is not None:
            out.extend(_cut(labels, piece, height, cfg, sw) if b - a < atom.x1 - atom.x0 else [piece])
    return out


def _cut(labels: np.ndarray, atom: Atom, height: float, cfg: ReadConfig, sw: float) -> list[Atom]:
    """Cuts touching characters apart: at thin bridges, and wide atoms at projection minima."""
    width = atom.x1 - atom.x0
    if width <= cfg.bridge_width * height:
        return [atom]
    profile = _member(labels[:, atom.x0 : atom.x1], atom.labels).sum(axis=0).astype(np.float64)
    lo, hi = int(0.2 * height), width - int(0.2 * height)
    if hi <= lo:
        return [atom]
    # A bridge: columns crossed by one thin stroke only (two strokes: a jamo's own box),
    # with ink on both sides; a thin run reaching the atom's edge is a tail (the final
    # 'ㄴ' of '만'), not a bridge.
    runs = _runs(profile <= 1.2 * sw)
    bridges = [(a + b) // 2 for a, b in runs if a > 0 and b < width and lo <= (a + b) // 2 < hi]
    if bridges:
        return _split(labels, atom, bridges, height, cfg, sw)
    if width <= cfg.cut_width * height:
        return [atom]
    # Prefer the thinnest column; among equals, the one nearest a whole character width.
    lo, hi = int(0.3 * height), width - int(0.3 * height)
    if hi <= lo:
        return [atom]
    target = width / max(2, round(width / (0.9 * height)))
    cols = np.arange(lo, hi)
    cost = profile[lo:hi] + 0.05 * np.abs(cols - target) / max(height, 1.0)
    return _split(labels, atom, [int(cols[int(np.argmin(cost))])], height, cfg, sw)


def char_height(atoms: Sequence[Atom]) -> float:
    """The line's character height: a high percentile of atom heights (rotation-robust)."""
    heights = np.array([a.y1 - a.y0 for a in atoms], np.float64)
    return float(np.percentile(heights, 80)) if heights.size else 0.0


def segment_line(mask: np.ndarray, cfg: ReadConfig | None = None) -> tuple[np.ndarray, list[Atom], float]:
    """Over-segments one line band into atoms, left to right.

    Args:
        mask: bool ink mask of the band (rows of one line).
        cfg: the :class:`ReadConfig`.

    Returns:
        (component labels of the band, atoms, character height H in pixels).
    """
    cfg = cfg or ReadConfig()
    labels, boxes = _components(mask)
    boxes = [b for b in boxes if b[5] >= 3]
    if not boxes:
        return labels, [], 0.0
    rough = [_group_atom(g) for g in _group_columns(boxes)]
    height = char_height(rough)
    if len(rough) == 1:  # one piece: a lone syllable may be as wide as a syllable can be (a flat '드')
        width = rough[0].x1 - rough[0].x0
        if width <= 1.8 * (rough[0].y1 - rough[0].y0):  # wider: a word joined by an underline, say
            height = max(height, width / cfg.syl_width[1])
    boxes = [b for b in boxes if b[5] >= cfg.min_area * height * height]
    sw = stroke_width(mask)
    atoms: list[Atom] = []
    for group in _group_columns(boxes):
        atoms.extend(_cut(labels, _group_atom(group), height, cfg, sw))
    atoms.sort(key=lambda a: (a.x0 + a.x1) / 2)
    if len(atoms) > 4:
        return labels, atoms, char_height(atoms)
    # Cutting makes no piece taller, but among a few atoms the stubs it leaves (the ends of
    # a lone syllable's 'ㅡ') would pull the percentile down.
    return labels, atoms, max(char_height(atoms), height) if atoms else 0.0


def is_low_mark(atoms: Sequence[Atom], k: int, height: float) -> bool:
    """A small atom in the bottom of the line ('.', ','): never the first or last atom of a
    merged candidate, though one may lie inside (the broken-off base of a brush 'ㄴ').

    Detached jamo ticks (the stroke of a brush 'ㅏ') sit at mid-height, not on the baseline,
    and pieces cut off a larger component are never marks.
    """
    a = atoms[k]
    if a.y1 - a.y0 > 0.3 * height or a.x1 - a.x0 > 0.3 * height:
        return False
    # A piece cut off a larger stroke (the base of a small 'ㄴ') shares its components
    # with the piece beside it; a real mark is components of its own.
    for n in (k - 1, k + 1):
        if 0 <= n < len(atoms) and set(a.labels) & set(atoms[n].labels):
            return False
    near = [b for b in atoms if b is not a and abs(b.x0 + b.x1 - a.x0 - a.x1) < 3 * height]
    if not near:
        return False
    top, bottom = min(b.y0 for b in near), max(b.y1 for b in near)
    return (a.y0 + a.y1) / 2 > top + 0.7 * (bottom - top)


def candidate_spans(atoms: Sequence[Atom], height: float, cfg: ReadConfig | None = None) -> list[tuple[int, int]]:
    """Every ``(i, j)``: atoms ``i .. j-1`` merged into one candidate character."""
    cfg = cfg or ReadConfig()
    marks = [is_low_mark(atoms, k, height) for k in range(len(atoms))]
    spans = []
    for i in range(len(atoms)):
        x0, x1 = atoms[i].x0, atoms[i].x1
        for j in range(i + 1, min(len(atoms), i + cfg.max_merge) + 1):
            if j > i + 1:
                if marks[i] or atoms[j - 1].x0 - x1 > cfg.max_inner_gap * height:
                    break
                x0, x1 = min(x0, atoms[j - 1].x0), max(x1, atoms[j - 1].x1)
                if x1 - x0 > cfg.max_width * height:
                    break
                if marks[j - 1]:  # a mark may lie inside a character, never at its end
                    continue
            spans.append((i, j))
    return spans


def span_box(atoms: Sequence[Atom], span: tuple[int, int]) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the merged atoms, in band coordinates."""
    if span[1] - span[0] == 1:
        a = atoms[span[0]]
        return (a.x0, a.y0, a.x1, a.y1)
    sel = atoms[span[0] : span[1]]
    return (min(a.x0 for a in sel), min(a.y0 for a in sel), max(a.x1 for a in sel), max(a.y1 for a in sel))


def crop_spans(
    level: np.ndarray,
    labels: np.ndarray,
    atoms: Sequence[Atom],
    spans: Sequence[tuple[int, int]],
    image_size: int,
    margin: float = 0.1,
    placement: preprocess.Placement | None = None,
) -> np.ndarray:
    """Normalised uint8 (N, S, S) glyph of each span: its own ink only, placed like training."""
    # Anti-aliased edge pixels around a component belong to it: grow labels into the paper.
    grown = ndimage.grey_dilation(labels, size=(3, 3))
    owner = np.where(labels > 0, labels, np.where(level < 250.0, grown, 0))
    # Each pixel's atom (-1: none): the atoms' own pixels never overlap (an atom is whole
    # components, or one column range of them), so a span keeps the pixels of atoms i .. j-1.
    atom_of = np.full(labels.shape, -1, np.int32)
    for k, a in enumerate(atoms):
        atom_of[:, a.x0 : a.x1][_member(owner[:, a.x0 : a.x1], a.labels)] = k
    out = np.full((len(spans), image_size, image_size), 255.0, np.float32)
    for k, (i, j) in enumerate(spans):
        x0, y0, x1, y1 = span_box(atoms, (i, j))
        which = atom_of[y0:y1, x0:x1]
        crop = np.where((which >= i) & (which < j), level[y0:y1, x0:x1], 255.0)
        preprocess._place_into(out[k], crop, margin, placement)
    return preprocess.to_uint8(out)


# ---------------------------------------------------------------------- dynamic programme
def _shape_penalty(low: float, value: float, high: float, scale: float) -> float:
    d = max(0.0, low - value, value - high)
    return (d / scale) ** 2


def span_options(
    atoms: Sequence[Atom],
    spans: Sequence[tuple[int, int]],
    top1: Sequence[tuple],
    height: float,
    cfg: ReadConfig | None = None,
    class_logp: np.ndarray | None = None,
) -> dict[tuple[int, int], list[tuple[float, str, float]]]:
    """Per span, its readings ``(log-score, text, confidence)``, best first.

    Text is a syllable or :data:`UNKNOWN`. Without ``class_logp`` a syllable is scored by
    its recognition log-probability minus a box-shape penalty, and unknown at the fixed
    ``unknown_prob``. With the ``(N, 3)`` log-probabilities of a
    :class:`koocr.segments.SegmentClassifier`, a syllable adds ``class_weight * log
    p(syllable)`` and unknown is ``class_weight * log p(symbol) + symbol_bias``, so junk
    crops (half a syllable, two merged) score low either way. Items that carry top-k
    alternatives (see :data:`Scorer`) give one syllable reading per alternative within
    ``lm_beam`` of the item's own syllable; the others give one.
    """
    cfg = cfg or ReadConfig()
    out = {}
    shape_weight = cfg.shape_weight if class_logp is None else cfg.class_shape_weight
    for n, (span, item) in enumerate(zip(spans, top1, strict=True)):
        x0, y0, x1, y1 = span_box(atoms, span)
        r, q = (x1 - x0) / height, (y1 - y0) / height
        syl_pen = _shape_penalty(cfg.syl_width[0], r, cfg.syl_width[1], cfg.shape_scale)
        syl_pen += _shape_penalty(cfg.syl_min_height, q, math.inf, cfg.shape_scale)
        base = cfg.char_bonus - shape_weight * syl_pen
        unk_pen = _shape_penalty(-math.inf, r, cfg.unknown_max_width, cfg.shape_scale)
        if class_logp is None:
            unk = math.log(cfg.unknown_prob) - shape_weight * unk_pen
            conf = float(item[1])
        else:
            base += cfg.class_weight * float(class_logp[n, segments.SYLLABLE])
            unk = cfg.class_weight * float(class_logp[n, segments.SYMBOL]) + cfg.symbol_bias - shape_weight * unk_pen
            conf = math.exp(float(class_logp[n, segments.SYMBOL]))

        def reading(syllable: str, prob: float, base=base) -> tuple[float, str, float]:
            logp = math.log(max(prob, 1e-9)) + rare_log_prior(syllable, cfg.rare_penalty)
            return (logp + base, syllable, float(prob))

        first = reading(item[0], item[1])
        options = [first] + [
            o for o in (reading(*alt) for alt in _alternatives(item) if alt[0] != item[0])
            if o[0] >= first[0] - cfg.lm_beam
        ]
        options.append((unk + cfg.char_bonus, UNKNOWN, conf))
        out[span] = sorted(options, key=lambda o: -o[0])
    return out


def best_path(n_atoms: int, scores: dict[tuple[int, int], float]) -> list[tuple[int, int]]:
    """The spans covering atoms ``0 .. n-1`` exactly once with the highest total score.

    Args:
        n_atoms: number of atoms in the line.
        scores: ``(i, j) -> score`` of merging atoms ``i .. j-1``; missing spans are not allowed.

    Returns:
        The chosen spans, left to right (empty if the atoms cannot be covered).

    Example:
        >>> best_path(3, {(0, 1): -5.0, (1, 2): -5.0, (0, 2): -1.0, (2, 3): -1.0})
        [(0, 2), (2, 3)]
    """
    best = np.full(n_atoms + 1, -np.inf)
    back = np.full(n_atoms + 1, -1, np.int64)
    best[0] = 0.0
    ends: dict[int, list[tuple[int, float]]] = {}
    for (i, j), s in scores.items():
        ends.setdefault(j, []).append((i, s))
    for j in range(1, n_atoms + 1):
        for i, s in ends.get(j, ()):
            if best[i] + s > best[j]:
                best[j], back[j] = best[i] + s, i
    if not np.isfinite(best[n_atoms]):
        return []
    path, j = [], n_atoms
    while j > 0:
        path.append((int(back[j]), j))
        j = int(back[j])
    return path[::-1]


def lm_path(
    n_atoms: int,
    options: dict[tuple[int, int], list[tuple[float, str, float]]],
    lm,
    weight: float,
    floor: float = -math.inf,
    cache: dict | None = None,
    switch: np.ndarray | None = None,
    run: np.ndarray | None = None,
    sure: dict[tuple[int, int], float] | None = None,
) -> list[tuple[tuple[int, int], int]]:
    """Best spans *and* readings under a syllable language model (Viterbi over the lattice).

    A path's score is the sum of its readings' scores plus ``weight * lm.score(previous
    syllable, syllable)`` for each syllable (:meth:`koocr.language.SyllableLM.score`); an
    unknown box scores no language term and resets the context.

    Args:
        n_atoms: number of atoms in the line.
        options: ``(i, j) -> [(score, text, confidence), ...]`` as from :func:`span_options`.
        lm: a :class:`koocr.language.SyllableLM`.
        weight: weight of its log-probability.
        floor: its centred score is clipped below at this (see ``ReadConfig.lm_floor``).
        cache: keeps the transition table of a label set for the next call on the same
            readings (the pitch pass of :func:`decode_line` rescores, never relabels).
        switch: ``(n_atoms + 1,)`` cost, at each atom boundary, of passing there from a
            syllable to an unknown box or back (see ``ReadConfig.switch_cost``); None: 0.
        run: ``(n_atoms + 1,)`` bonus, at each atom boundary, of passing there from an
            unknown box to another (see ``ReadConfig.symbol_run``), times the lesser of the
            two boxes' ``sure``; None: 0.
        sure: ``span -> [0, 1]``, how sure the reader is that the span is one symbol
            (missing spans: 0); None: 1 for every span.

    Returns:
        ``[(span, index into options[span]), ...]`` left to right (empty if the atoms
        cannot be covered).
    """
    labels = sorted({o[1] for opts in options.values() for o in opts})
    row_of = {label: r for r, label in enumerate(labels)}
    no_context = len(labels)
    key = (tuple(labels), id(lm), weight, floor)
    table = cache.get(key) if cache is not None else None
    if table is None:
        table = weight * np.maximum(floor, lm.transition_matrix(labels))  # (L + 1, L)
        if cache is not None:
            cache[key] = table
    unknown = np.array([label == UNKNOWN for label in labels])
    starts: dict[int, list[tuple[int, int]]] = {}
    for span in options:
        starts.setdefault(span[0], []).append(span)
    # Every reading of every span, flat, spans in the order of starts: at boundary i the
    # readings of the spans starting there are one slice.
    order = [span for i in sorted(starts) for span in starts[i]]
    sizes = np.array([len(options[span]) for span in order], np.int64)
    flat = [o for span in order for o in options[span]]
    rows_all = np.array([row_of[o[1]] for o in flat], np.int64)
    own_all = np.array([o[0] for o in flat], np.float64)
    # how sure each reading is that its box is one symbol (0 for a syllable)
    box_sure = np.array([1.0 if sure is None else sure.get(span, 0.0) for span in order])
    conf_all = np.where(unknown[rows_all], np.repeat(box_sure, sizes), 0.0)
    first_of = dict(zip(order, np.concatenate([[0], np.cumsum(sizes)[:-1]]).tolist(), strict=True))
    # Boundaries left to right; at boundary i every reading of every span ending there
    # has its best total, so every reading of every span starting at i is scored in one
    # step. A node is a reading's index in the flat table; came[node] is the node before
    # it (-1 at the line's start); a node never reached keeps total -inf.
    ending: dict[int, list[int]] = {}
    for span in order:
        ending.setdefault(span[1], []).extend(range(first_of[span], first_of[span] + len(options[span])))
    ends = {i: np.array(nodes, np.int64) for i, nodes in ending.items()}
    total = np.full(len(flat), -np.inf)
    came = np.full(len(flat), -1, np.int64)
    for i in sorted(starts):
        spans = starts[i]
        lo = first_of[spans[0]]
        hi = first_of[spans[-1]] + len(options[spans[-1]])
        cur, own, conf = rows_all[lo:hi], own_all[lo:hi], conf_all[lo:hi]
        if i == 0:
            total[lo:hi] = own + table[no_context, cur]
            continue
        prev = ends.get(i)
        if prev is None or not np.isfinite(total[prev]).any():
            continue  # no path reaches boundary i
        r = rows_all[prev]
        cand = total[prev][:, None] + table[r][:, cur]  # (previous nodes, readings)
        if switch is not None and switch[i] > 0:
            cand -= switch[i] * (unknown[r][:, None] != unknown[cur][None, :])
        if run is not None and run[i] > 0:
            cand += run[i] * np.minimum(conf_all[prev][:, None], conf[None, :])
        pick = cand.argmax(axis=0)
        total[lo:hi] = own + cand[pick, np.arange(len(cur))]
        came[lo:hi] = prev[pick]
    last = ends.get(n_atoms)
    if last is None or not np.isfinite(total[last]).any():
        return []
    node, path = int(last[int(total[last].argmax())]), []
    while node >= 0:
        path.append(node)
        node = int(came[node])
    span_of = [span for span in order for _ in options[span]]
    return [(span_of[n], n - first_of[span_of[n]]) for n in path[::-1]]


def _pitch(atoms, path, labels, cfg: ReadConfig) -> float | None:
    """The line's syllable pitch from a first reading, or None if too few syllables."""
    syl = [span_box(atoms, s) for s, label in zip(path, labels, strict=True) if label != UNKNOWN]
    if len(syl) < cfg.min_pitch_pairs + 1:
        return None
    pitch = float(np.median(np.diff([(b[0] + b[2]) / 2 for b in syl])))
    return pitch if pitch > 0 else None


def _repitch(atoms, options, pitch: float, cfg: ReadConfig):
    """Second pass: syllables wider than the line's pitch allows are two merged; rescore.

    Returns the rescored options and the set of spans whose syllables lost score.
    """
    out, wide = {}, set()
    for span, opts in options.items():
        x0, _, x1, _ = span_box(atoms, span)
        pen = cfg.pitch_weight * max(0.0, (x1 - x0) / pitch - cfg.pitch_max) ** 2
        if pen > 0:
            wide.add(span)
            opts = [(score - (pen if label != UNKNOWN else 0.0), label, conf) for score, label, conf in opts]
        out[span] = opts
    return out, wide


def _tight_boundaries(atoms, height: float, cfg: ReadConfig) -> np.ndarray:
    """``(n_atoms + 1,)`` bool: atom boundaries with no space-sized gap (under ``cfg.switch_gap`` H)."""
    out = np.zeros(len(atoms) + 1, bool)
    if len(atoms) < 2:
        return out
    reach = np.maximum.accumulate([a.x1 for a in atoms])[:-1]  # rightmost ink left of each boundary
    gaps = np.array([a.x0 for a in atoms[1:]]) - reach
    out[1:-1] = gaps < cfg.switch_gap * height
    return out


def _switch_costs(atoms, height: float, cfg: ReadConfig) -> np.ndarray:
    """``cfg.switch_cost`` at each atom boundary with no space-sized gap, else 0 (see lm_path)."""
    return np.where(_tight_boundaries(atoms, height, cfg), cfg.switch_cost, 0.0)


def decode_line(
    atoms, options, cfg: ReadConfig, lm=None, height: float | None = None, sure: dict | None = None
) -> list[tuple[tuple[int, int], tuple[float, str, float]]]:
    """Chooses the spans and their readings: DP, then the pitch pass; with ``lm``, in context.

    ``height`` (the line's character height) scales ``cfg.switch_gap``; None: no switch cost
    and no symbol-run bonus. ``sure``: ``span -> [0, 1]``, how sure the segment classifier
    is that the span is one symbol (see :func:`lm_path`); None: no symbol-run bonus.
    """

    tables: dict = {}
    use_lm = lm is not None and cfg.lm_weight > 0
    switch = _switch_costs(atoms, height, cfg) if use_lm and cfg.switch_cost > 0 and height else None
    run = None
    if use_lm and cfg.symbol_run > 0 and height and sure is not None:
        run = cfg.symbol_run * _tight_boundaries(atoms, height, cfg)

    def plain(opts):  # each span's best reading, no context
        path = best_path(len(atoms), {s: o[0][0] for s, o in opts.items()})
        return [(span, opts[span][0]) for span in path]

    def decode(opts):
        if not use_lm:
            return plain(opts)
        path = lm_path(len(atoms), opts, lm, cfg.lm_weight, cfg.lm_floor, tables, switch, run, sure)
        return [(span, opts[span][k]) for span, k in path]

    if use_lm and len(atoms) <= cfg.max_merge:
        # A line that is one syllable by itself has no context: the language model would
        # only pull it towards common syllables ('홰' to '회').
        alone = plain(options)
        if len(alone) == 1 and alone[0][1][1] != UNKNOWN:
            return alone
    chosen = decode(options)
    if cfg.pitch_weight > 0 and chosen:
        pitch = _pitch(atoms, [c[0] for c in chosen], [c[1][1] for c in chosen], cfg)
        if pitch is not None:
            repitched, wide = _repitch(atoms, options, pitch, cfg)
            # The pass only lowers scores: a path that keeps every syllable it chose stays
            # the best one, so it is decoded again only when it read a wide span as one.
            if any(span in wide and reading[1] != UNKNOWN for span, reading in chosen):
                chosen = decode(repitched)
    return chosen


def _line_pitch(dist: np.ndarray, height: float, cfg: ReadConfig, jump: bool = True) -> float:
    """The advance of two syllables with no space between them, from their centre distances.

    Usually ``pitch_percentile`` of the distances. In a line of short words (그 집 앞에 큰
    개가) half or more of the pairs may be spaced, and that percentile is then itself a spaced
    distance: the line reads with no space, or one. So when that pitch finds fewer than 2
    spaces among at least 6 pairs (few Korean lines that long hold fewer), the sorted
    distances are cut at their widest jump that leaves at least 2 and a fifth of them below
    it; a jump wider than ``pitch_split * space_pitch * H`` parts unspaced pairs from spaced
    ones, and the pitch is lowered to put the space threshold in its middle. (Without the
    first condition, or with fewer pairs, the uneven spacing of handwriting-style lines made
    such jumps too often.)
    """
    pitch = float(np.percentile(dist, cfg.pitch_percentile))
    if cfg.space_pitch is None:
        return pitch
    ordered = np.sort(dist)
    if cfg.pitch_jump and jump:  # None or 0: off
        # A line of one-syllable words ('불 꺼 줘 잠 좀 자자'): most pairs are spaced, so the
        # pitch is a spaced distance. Evenly set print parts its unspaced pairs from its
        # spaced ones by a clear jump; one pair below the jump is enough.
        unspaced = ordered[1:] <= pitch + cfg.space_pitch * height  # jumps[k] stays among the unspaced pairs
        pitch = _lower_pitch_at_jump(ordered, unspaced, cfg.pitch_jump, pitch, height, cfg)
    if cfg.pitch_split is None or dist.size < 6:
        return pitch
    if np.count_nonzero(dist > pitch + cfg.space_pitch * height) >= 2:
        return pitch
    allowed = np.arange(1, ordered.size) >= max(2, 0.2 * ordered.size)  # jumps[k] leaves k + 1 below
    return _lower_pitch_at_jump(ordered, allowed, cfg.pitch_split * cfg.space_pitch, pitch, height, cfg)


def _lower_pitch_at_jump(
    ordered: np.ndarray, allowed: np.ndarray, min_jump: float, pitch: float, height: float, cfg: ReadConfig
) -> float:
    """``pitch``, lowered to put the space threshold in the middle of the widest allowed jump
    ``ordered[k + 1] - ordered[k]`` (``allowed[k]``) if that jump is wider than ``min_jump * H``."""
    if not allowed.any():
        return pitch
    jumps = np.diff(ordered)
    k = int(np.flatnonzero(allowed)[np.argmax(jumps[allowed])])
    if jumps[k] > min_jump * height:
        pitch = min(pitch, float((ordered[k] + ordered[k + 1]) / 2) - cfg.space_pitch * height)
    return pitch


def word_spaces(
    boxes: Sequence[tuple[int, int, int, int]],
    height: float,
    cfg: ReadConfig | None = None,
    syllables: Sequence[bool] | None = None,
    texts: Sequence[str] | None = None,
    lm=None,
    jump: bool = True,
) -> list[bool]:
    """For each gap between consecutive boxes: is it a word space?

    Hangul syllables each fill one (nearly) fixed advance whatever their ink width, so
    between two syllables the distance of box *centres* says more than the ink gap: a
    space adds ~0.3 em to the line's pitch. With ``syllables`` flags (and at least
    ``min_pitch_pairs`` syllable pairs) those pairs use the pitch rule, ``centre
    distance > pitch + space_pitch * H`` with the pitch a low percentile of the line's
    centre distances; every other gap (digits, punctuation) uses the ink-gap rule,
    ``gap > typical gap + space_gap * H`` and ``>= min_space_gap * H``. With the boxes'
    ``texts`` and a language model ``lm``, a narrow pitch-rule space between two
    syllables that the model places inside a word is dropped (``ReadConfig.space_pmi``).
    ``jump=False`` leaves ``ReadConfig.pitch_jump`` out (see :func:`_line_pitch`).
    """
    cfg = cfg or ReadConfig()
    if len(boxes) < 2:
        return []
    pairs = list(zip(boxes[:-1], boxes[1:], strict=True))
    gaps = np.array([b[0] - a[2] for a, b in pairs], np.float64)
    typical = float(np.median(gaps))
    # With few gaps the median may itself be a space: never trust it above a tight limit.
    typical = min(typical, cfg.few_gaps_typical * height) if len(gaps) < 4 else typical
    limit = max(typical + cfg.space_gap * height, cfg.min_space_gap * height)
    spaces = [bool(g > limit) for g in gaps]
    if syllables is None or cfg.space_pitch is None:
        return spaces
    both = [bool(syllables[k] and syllables[k + 1]) for k in range(len(pairs))]
    if sum(both) < cfg.min_pitch_pairs:
        few = max(limit, cfg.few_pairs_space_gap * height)
        return [bool(g > (few if both[k] else limit)) for k, g in enumerate(gaps)]
    dist = np.array([(b[0] + b[2] - a[0] - a[2]) / 2 for a, b in pairs], np.float64)
    pitch = _line_pitch(dist[both], height, cfg, jump)
    spaced = pitch + cfg.space_pitch * height  # a syllable pair further apart is spaced
    pairs_at = np.flatnonzero(both)
    for k in pairs_at:
        spaces[k] = bool(dist[k] > spaced)
    if texts is None or lm is None or cfg.space_pmi <= 0:
        return spaces
    # Only where the line's unspaced pairs are unevenly set (handwriting): in print a narrow
    # space is a space, whatever the model thinks of the pair ('한 잔', '내 일은').
    inner = dist[pairs_at][dist[pairs_at] <= spaced]
    if inner.size < 3 or np.median(np.abs(inner - np.median(inner))) < cfg.space_lm_spread * height:
        return spaces
    band = pitch + (cfg.space_pitch + cfg.space_lm_margin) * height
    for k in pairs_at:
        if not spaces[k] or dist[k] > band:
            continue
        a, b = texts[k], texts[k + 1]
        if lm.log_prob(a, b) - lm.log_prob(None, b) >= cfg.space_pmi:  # the pair belongs inside a word
            spaces[k] = False
    return spaces


# ---------------------------------------------------------------------- reading
def model_scorer(
    ocr,
    charset: str | Sequence[str] | None = None,
    features: bool = False,
    rare_penalty: float = 0.0,
    alternatives: int = 0,
) -> Scorer:
    """Top-1 scorer of a :class:`model.KoOCR`: one forward pass for all crops.

    With ``features=True`` each item also carries what a segment classifier reads of the
    crop (:func:`koocr.segments.crop_features`): ``(syllable, probability, features)``.
    With ``alternatives=k`` each item is ``(syllable, probability, features or None,
    top-k [(syllable, probability)])``. ``rare_penalty`` (< 0, split-component models):
    each crop's syllable is the best of the model's top 5 by ``log p`` plus this for
    syllables outside KS X 1001.
    """
    from koocr import decode

    restrict = hangul.load_charset(charset) if charset is not None else None
    k = max(5, alternatives)

    def under_prior(item: tuple[str, float]) -> float:  # a top-5 candidate's score under the prior
        return math.log(max(item[1], 1e-12)) + rare_log_prior(item[0], rare_penalty)

    def score(batch: np.ndarray) -> list[tuple]:
        probs = ocr.probabilities(batch, features=features)
        feats = None
        if features:
            feats = segments.crop_features(probs[:-1], probs[-1])
            probs = probs[:-1]
        if ocr.config.split_components:
            rows = decode.top_n_split(probs, k, restrict)
        else:
            rows = decode.top_n_single(probs[0], ocr.charset, k)  # its own output order
        if ocr.config.split_components and rare_penalty and restrict is None:
            top = [max(row[:5], key=under_prior) for row in rows]
        else:
            top = [row[0] for row in rows]
        if alternatives:
            feats = feats if feats is not None else [None] * len(top)
            return [(s, p, f, row[:alternatives]) for (s, p), f, row in zip(top, feats, rows, strict=True)]
        return top if feats is None else [(s, p, f) for (s, p), f in zip(top, feats, strict=True)]

    return score


def rare_log_prior(syllable: str, rare_penalty: float) -> float:
    """The reader's log prior of ``syllable``: ``rare_penalty`` outside KS X 1001, else 0."""
    # a set lookup, not is_ks_x_1001's call: read() asks for every candidate of every crop
    return rare_penalty if rare_penalty and syllable not in hangul.ks_x_1001_set() else 0.0


def line_candidates(
    mask: np.ndarray,
    level: np.ndarray,
    cfg: ReadConfig,
    image_size: int,
    margin: float = 0.1,
    placement: preprocess.Placement | None = None,
):
    """Everything ``read`` scores in one line band, or None if the band has no ink.

    Returns:
        (atoms, character height, candidate spans, their normalised crops (N, S, S),
        their :func:`koocr.segments.geometry` (N, G)).
    """
    labels, atoms, height = segment_line(mask, cfg)
    if not atoms:
        return None
    spans = candidate_spans(atoms, height, cfg)
    crops = crop_spans(level, labels, atoms, spans, image_size, margin, placement)
    geom = segments.geometry(atoms, spans, height)
    return atoms, height, spans, crops, geom


def read_image(
    image,
    scorer: Scorer,
    image_size: int,
    margin: float = 0.1,
    placement: preprocess.Placement | None = None,
    config: ReadConfig | None = None,
    classifier: segments.SegmentClassifier | None = None,
    lm=None,
) -> ReadResult:
    """Reads a line or a block of lines with any character scorer (see :data:`Scorer`).

    ``classifier`` (with a scorer that returns features) scores each candidate as
    syllable / symbol / junk; see :func:`span_options`. ``lm`` (a
    :class:`koocr.language.SyllableLM`, with a scorer that returns alternatives and
    ``config.lm_weight > 0``) chooses among each candidate's syllables in context.
    """
    cfg = config or ReadConfig()
    mask, level = binarize(image)
    to_input = None
    inner = _box_interior(mask)
    if inner is not None:  # a box drawn round the whole input: read what it holds
        r0, r1, c0, c1 = inner
        mask, level = mask[r0:r1, c0:c1].copy(), level[r0:r1, c0:c1].copy()
        if not mask.any():
            return ReadResult("", [])

        def to_input(box, dx=c0, dy=r0):
            return (box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy)

    verticals = find_verticals(mask)
    if verticals.any():  # a margin rule or a dark side edge running down the block
        mask &= ~verticals
        level[verticals] = 255.0
    angle = estimate_skew(mask, cfg.max_skew) if cfg.max_skew > 0 else 0.0
    if angle and abs(angle) >= cfg.min_skew and skew_matters(mask, angle, cfg.line_min_height):
        mask, level, levelled_to_input = deskew(mask, level, angle)
        to_input = levelled_to_input if to_input is None else (lambda box, f=to_input, g=levelled_to_input: f(g(box)))
        angle = 0.0  # levelled
    rules = find_all_rules(mask, level, angle, cfg.rule_search)
    if rules.any():
        mask &= ~rules
        level[rules] = 255.0
    bands = split_lines(mask, cfg.line_min_height)
    whole = _syllable_block(mask, bands) if cfg.whole_prob > 0 else None
    pairs = _one_line_pairs(bands, cfg.one_line_gap, cfg.one_line_higher) if cfg.one_line_margin is not None else []
    crops: list[np.ndarray] = []
    jobs = _band_jobs(mask, level, bands, cfg, image_size, margin, placement, crops)
    if not any(jobs):
        return ReadResult("", [])
    merged = [(bands[k][0], bands[k + 1][1]) for k in pairs]
    pair_jobs = _band_jobs(mask, level, merged, cfg, image_size, margin, placement, crops)
    part_jobs = {
        i: (parts, _band_jobs(mask, level, parts, cfg, image_size, margin, placement, crops))
        for i, parts in _valley_candidates(mask, bands, cfg).items()
        if jobs[i] is not None
    }
    if whole is not None:
        y0, y1, x0, x1 = whole
        crops.append(preprocess.place_glyph(level[y0:y1, x0:x1], image_size, margin, placement)[None])
    top1 = scorer(np.concatenate(crops))  # the whole image costs one forward pass
    clf = classifier if classifier is not None and _features(top1[0]) is not None else None
    reads = [_decode_band(job, top1, cfg, clf, lm, to_input) if job else None for job in jobs]
    # A lower band close under a higher one may hold the finals of one line ('일을' in many
    # faces, where no syllable without a final bridges the gap): read as one line too, it
    # wins when its characters are surer on average, by a margin, its least sure character
    # is no less sure (an unknown box counts as 0) and its characters are not tall (two
    # real lines read as one give tall, doubtful crops). Surest gain first, no band twice.
    wins = []
    for k, job in zip(pairs, pair_jobs, strict=True):
        if job is None or reads[k] is None or reads[k + 1] is None:
            continue
        one = _decode_band(job, top1, cfg, clf, lm, to_input)
        gain = _one_line_gain(one[1], reads[k][1] + reads[k + 1][1], cfg)
        if gain is not None:
            wins.append((gain, k, one))
    taken: set[int] = set()
    for _, k, one in sorted(wins, key=lambda w: -w[0]):
        if not taken & {k, k + 1}:
            taken |= {k, k + 1}
            reads[k], reads[k + 1] = one, None
    lines_read = [[r] if r else [] for r in reads]
    # A band cut at a faint row into parts of about one height may be two lines set so
    # tightly that they touch: read apart too, the parts win on the terms of _apart_wins.
    for i, (parts, jobs_apart) in part_jobs.items():
        if i in taken or any(job is None for job in jobs_apart):
            continue
        apart = [_decode_band(job, top1, cfg, clf, lm, to_input) for job in jobs_apart]
        if _apart_wins([cs for _, cs in apart], parts, lines_read[i][0][1], cfg):
            lines_read[i] = apart
    texts, chars = [], []
    for text, band_chars in (r for rs in lines_read for r in rs):
        chars += [dataclasses.replace(c, line=len(texts)) for c in band_chars]
        texts.append(text)
    if whole is not None:
        # Syllable-shaped ink in several bands, which the model reads whole as one syllable
        # while it reads some band unsurely (an unknown box counts as 0): two stacked
        # syllables read well as two lines stay so. The least sure character decides, not
        # the mean: a lone final read as a syllable ('ㄹ' as '근') is one doubtful reading
        # beside a sure one. A syllable outside KS X 1001 needs its doubt smaller by the
        # rare prior's factor.
        syllable, prob = top1[-1][0], float(top1[-1][1])
        doubt = (1.0 - cfg.whole_prob) * math.exp(rare_log_prior(syllable, cfg.rare_penalty))
        sure = _sureness(chars)[1]
        if prob >= 1.0 - doubt and sure < cfg.whole_prob:
            y0, y1, x0, x1 = whole
            box = (x0, y0, x1, y1)
            return ReadResult(syllable, [CharBox(syllable, to_input(box) if to_input else box, prob, 0)])
    return ReadResult("\n".join(texts), chars)


def _box_interior(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Rows and columns ``(r0, r1, c0, c1)`` inside a closed box drawn round all the ink
    (:func:`koocr.preprocess._frame_interior`, what ``predict()`` strips), or None. A row
    of boxes is no such box: the lines between its cells run across what the outer box
    holds (:func:`find_rules` reads it)."""
    inner = preprocess._frame_interior(mask)
    if inner is None:
        return None
    r0, r1, c0, c1 = inner
    labels = ndimage.label(mask, structure=np.ones((3, 3), bool))[0]
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    frame = labels[rows[0], cols[0] : cols[-1] + 1]
    frame = np.bincount(frame[frame > 0]).argmax()
    inside = labels[r0:r1, c0:c1] == frame
    if (inside.sum(axis=0) >= 0.9 * (r1 - r0)).any() or (inside.sum(axis=1) >= 0.9 * (c1 - c0)).any():
        return None  # a grid: lines of the frame run on across its inside
    return inner


def _colon_like(part: np.ndarray, height: float, dot: float, min_area: float) -> bool:
    """Is the ink ``part`` (one atom's box) a colon: exactly two components of at least
    ``min_area`` H² each, dot-like (at most ``dot`` H wide and high, at most 2.5 times as
    wide as high or high as wide), one above the other at least 0.08 H apart, 0.3-0.85 H
    from the top of one to the bottom of the other? (H: the line's character height.)"""
    labels, n = ndimage.label(part, structure=np.ones((3, 3), bool))
    if n < 2:
        return False
    areas = np.bincount(labels.ravel())[1:]
    dots = [box for box, area in zip(ndimage.find_objects(labels), areas, strict=True) if area >= min_area * height * height]
    if len(dots) != 2:
        return False
    for rows, cols in dots:
        h, w = rows.stop - rows.start, cols.stop - cols.start
        if max(h, w) > dot * height or max(h, w) > 2.5 * min(h, w):
            return False
    top, bottom = sorted(dots, key=lambda box: box[0].start)
    return bottom[0].start - top[0].stop >= 0.08 * height and 0.3 * height <= bottom[0].stop - top[0].start <= 0.85 * height


def _band_jobs(mask, level, bands, cfg, image_size, margin, placement, crops: list) -> list[tuple | None]:
    """Segments each band; appends its candidate crops to ``crops``.

    Returns, per band, (band offset, atoms, height, spans, geometry, index of its first
    crop, indices of its colon-like atoms), or None for a band without ink.
    """
    jobs: list[tuple | None] = []
    total = sum(len(c) for c in crops)
    for r0, r1 in bands:
        cand = line_candidates(mask[r0:r1], level[r0:r1], cfg, image_size, margin, placement)
        if cand is None:
            jobs.append(None)
            continue
        atoms, height, spans, crop, geom = cand
        crops.append(crop)
        colons = frozenset()
        if cfg.colon_dot is not None:
            narrow = cfg.colon_dot * height
            colons = frozenset(
                k for k, a in enumerate(atoms)
                if len(a.labels) >= 2 and a.x1 - a.x0 <= narrow
                and _colon_like(mask[r0:r1][a.y0 : a.y1, a.x0 : a.x1], height, cfg.colon_dot, cfg.min_area)
            )  # fmt: skip
        jobs.append((r0, atoms, height, spans, geom, total, colons))
        total += len(spans)
    return jobs


def _decode_band(job: tuple, top1, cfg, classifier, lm, to_input) -> tuple[str, list[CharBox]]:
    """One band's text and characters (line 0), from the scored crops ``top1``."""
    r0, atoms, height, spans, geom, first, colons = job
    scored_top = top1[first : first + len(spans)]
    class_logp = feats = None
    if classifier is not None:
        feats = np.stack([t[2] for t in scored_top])
        class_logp = classifier.log_probs(feats, geom)
    options = span_options(atoms, spans, scored_top, height, cfg, class_logp)
    run = cfg.symbol_run > 0 and lm is not None and cfg.lm_weight > 0  # decode_line's bonus needs both
    naming = _symbol_names(feats, geom, classifier) if run or cfg.name_symbols else None
    if naming is not None and colons and ":" in classifier.symbols:
        names, p_name, mass = list(naming[0]), naming[1].copy(), naming[2].copy()
        for k, (i, j) in enumerate(spans):
            if j == i + 1 and i in colons:
                names[k], p_name[k], mass[k] = ":", 1.0, 1.0
        naming = (names, p_name, mass)
    sure = _symbol_sureness(spans, class_logp, naming) if run else None
    chosen = decode_line(atoms, options, cfg, lm, height, sure)
    boxes = [span_box(atoms, span) for span, _ in chosen]
    labels = [reading[1] for _, reading in chosen]
    # The jump rule only where the model is sure of every syllable: evenly set print, whose
    # one-syllable words it spaces, not uneven handwriting, where it finds false jumps.
    jump = all(reading[2] >= cfg.pitch_jump_conf for _, reading in chosen if reading[1] != UNKNOWN)
    spaces = word_spaces(boxes, height, cfg, [t != UNKNOWN for t in labels], labels, lm, jump)
    row = {span: k for k, span in enumerate(spans)} if naming is not None else None  # span -> its row in naming
    if naming is not None and cfg.digit_pitch is not None:
        digits = [t == UNKNOWN and _digit_like(naming[0][row[span]]) for (span, _), t in zip(chosen, labels, strict=True)]
        spaces = _digit_spaces(spaces, boxes, digits, [t == UNKNOWN for t in labels], height, cfg)
    spaces.append(False)  # none after the last character
    named = _named_symbols(chosen, spans, naming, cfg, row)
    text, chars = [], []
    for n, ((_, (_, label, prob)), box, space) in enumerate(zip(chosen, boxes, spaces, strict=True)):
        label, prob = named.get(n, (label, prob))
        x0, y0, x1, y1 = box
        box = (x0, y0 + r0, x1, y1 + r0)
        chars.append(CharBox(label, to_input(box) if to_input else box, prob, 0))
        text.append(label + (" " if space else ""))
    return "".join(text), chars


def _digit_like(name: str) -> bool:
    """Is a symbol named ``name`` (or one of its :data:`koocr.segments.LOOK_ALIKES`) a digit?"""
    return any(c.isdigit() for c in segments.look_alike_group(name))


def _digit_spaces(spaces, boxes, digits, symbols, height: float, cfg: ReadConfig) -> list[bool]:
    """``spaces`` (one per gap) without the spaces the gap rule puts between two symbols set
    no further apart than their advances allow, plus ``cfg.digit_pitch`` H.

    Digits are set on a fixed advance, and a narrow '1' sits in the middle of its own: the
    ink gaps round it hold the room of a full digit, which the gap rule takes for a space
    ('1 996', '51 593', '2030. 12'). Two symbols' centres lie half an advance each apart
    when no space parts them: a digit-like box's advance (``digits``) is the line's digit
    pitch, the median centre distance of its consecutive digit-like boxes (at least one
    such pair); another symbol's is its ink width plus the line's median ink gap, so the
    space after a narrow mark is kept ('No. 582').
    """
    pairs = [k for k in range(len(boxes) - 1) if digits[k] and digits[k + 1]]
    if not pairs or cfg.digit_pitch is None:
        return list(spaces)
    dist = np.diff([(b[0] + b[2]) / 2 for b in boxes])
    pitch = float(np.median(dist[pairs]))
    gap = max(float(np.median([b[0] - a[2] for a, b in zip(boxes[:-1], boxes[1:], strict=True)])), 0.0)
    advance = [pitch if digits[k] else b[2] - b[0] + gap for k, b in enumerate(boxes)]
    return [
        bool(s and not (symbols[k] and symbols[k + 1] and dist[k] <= (advance[k] + advance[k + 1]) / 2 + cfg.digit_pitch * height))
        for k, s in enumerate(spaces)
    ]


def _symbol_names(feats, geom, classifier) -> tuple[list[str], np.ndarray, np.ndarray] | None:
    """The likeliest symbol of every span, its probability and that of its look-alike group
    (:meth:`koocr.segments.SegmentClassifier.look_alike_mass`), each given that the span is
    a symbol (``feats`` and ``geom`` in ``spans`` order), or None without a classifier or
    without its symbol head."""
    if classifier is None or not classifier.symbols:
        return None
    probs = classifier.symbol_probs(feats, geom)
    return *classifier.likeliest(probs), classifier.look_alike_mass(probs)


def _symbol_sureness(spans, class_logp, naming) -> dict[tuple[int, int], float] | None:
    """``span -> p(one symbol) x p(its likeliest symbol or a look-alike | symbol)`` of every
    span, or None without a classifier (``class_logp`` None). A piece of a syllable that the
    classifier takes for a symbol but cannot name ('?') is not sure; a '(' whose name the
    head shares with 'l', 'I' and '1' is. ``naming``: :func:`_symbol_names`; None (no
    symbol head): p(one symbol) alone."""
    if class_logp is None:
        return None
    p = np.exp(class_logp[:, segments.SYMBOL])
    if naming is not None:
        p = p * naming[2]
    return dict(zip(spans, p.tolist(), strict=True))


def _named_symbols(chosen, spans, naming, cfg: ReadConfig, row: dict | None = None) -> dict[int, tuple[str, float]]:
    """``{index in chosen: (symbol, confidence)}`` of the unknown boxes the classifier names.

    ``naming`` is :func:`_symbol_names` of every span, in ``spans`` order (None: none named);
    ``row`` (span -> its index in ``spans``) may be passed when the caller has built it.

    A box is named where p(symbol class) * p(this symbol or a look-alike | symbol) is at
    least ``cfg.name_symbols`` (a box the classifier doubts is one symbol, such as two
    merged digits, stays :data:`UNKNOWN` however sure the name; a '(' whose belief the head
    shares with 'l', 'I' and '1' is named '('); the rest stay so. Its confidence is
    p(symbol class) * p(this very symbol | symbol).
    """
    if not cfg.name_symbols or naming is None:
        return {}
    row = row if row is not None else {span: k for k, span in enumerate(spans)}
    names, probs, mass = naming
    out = {}
    for n, (span, reading) in enumerate(chosen):
        if reading[1] == UNKNOWN and reading[2] * float(mass[row[span]]) >= cfg.name_symbols:
            out[n] = (names[row[span]], reading[2] * float(probs[row[span]]))
    return out


def _sureness(chars: Sequence[CharBox]) -> tuple[float, float]:
    """Mean and least confidence of the characters read, an unknown (or named symbol) box counting as 0."""
    conf = [c.confidence if hangul.is_syllable(c.text) else 0.0 for c in chars] or [0.0]
    return float(np.mean(conf)), float(np.min(conf))


def _surer(new: Sequence[CharBox], old: Sequence[CharBox], margin: float) -> float | None:
    """How much surer on average the reading ``new`` is than ``old``, if by more than
    ``margin`` with its least sure character no less sure (see :func:`_sureness`); else None."""
    (new_mean, new_least), (old_mean, old_least) = _sureness(new), _sureness(old)
    return new_mean - old_mean if new_mean > old_mean + margin and new_least >= old_least else None


def _one_line_gain(one: Sequence[CharBox], apart: Sequence[CharBox], cfg: ReadConfig) -> float | None:
    """How much surer, on average, two bands read as one line are than read apart, or
    None if that reading does not win (see ``one_line_*`` in :class:`ReadConfig`)."""
    if not one:
        return None
    tall = float(np.median([(c.box[3] - c.box[1]) / max(c.box[2] - c.box[0], 1) for c in one]))
    return _surer(one, apart, cfg.one_line_margin) if tall <= cfg.one_line_aspect else None


def _valley_candidates(mask: np.ndarray, bands: Sequence[tuple[int, int]], cfg: ReadConfig) -> dict:
    """``{band index: parts}`` for the bands that may be lines set so tightly that they
    touch: cut at faint rows (:func:`_cut_valleys`), at least as wide as high (not one
    syllable) and, in a block, ``valley_tall`` times the other bands' median height."""
    if cfg.valley_depth <= 0:
        return {}
    heights = np.array([b - a for a, b in bands], np.float64)
    out = {}
    for i, (a, b) in enumerate(bands):
        others = np.delete(heights, i)
        if others.size and heights[i] < cfg.valley_tall * float(np.median(others)):
            continue  # no higher than the other lines: one line
        cols = np.flatnonzero(mask[a:b].any(axis=0))
        if cols.size == 0 or cols[-1] + 1 - cols[0] < heights[i]:
            continue  # narrower than high: a syllable, not two lines of text
        parts = _cut_valleys(mask, (a, b), cfg.valley_depth, cfg.valley_balance)
        if len(parts) > 1:
            out[i] = parts
    return out


def _apart_wins(
    apart: Sequence[Sequence[CharBox]], parts: Sequence[tuple[int, int]], whole: Sequence[CharBox], cfg: ReadConfig
) -> bool:
    """Whether the characters read in the ``parts`` of a band beat those read in it whole:
    surer on average by ``valley_margin``, the least sure no less sure, and lines of
    characters, not of pieces: every part's characters on median of about one height
    (``valley_heights``) and, on median over the parts, filling their part (``valley_fill``)."""
    if any(not chars for chars in apart):
        return False
    heights = [float(np.median([c.box[3] - c.box[1] for c in chars])) for chars in apart]
    if min(heights) < cfg.valley_heights * max(heights):
        return False  # a line and its finals, not two lines
    # Fill on median: a part the cut left two lines high still counts among good ones.
    if np.median([h / (b - a) for h, (a, b) in zip(heights, parts, strict=True)]) < cfg.valley_fill:
        return False
    return _surer([c for chars in apart for c in chars], whole, cfg.valley_margin) is not None


def _one_line_pairs(bands: Sequence[tuple[int, int]], max_gap: float, higher: float) -> list[int]:
    """Indices ``k`` of the bands that may be one line with band ``k + 1``: the lower at
    most ``higher`` times as high as the upper and at most ``max_gap`` times the upper's
    height below it (the finals of a line set apart; in '물을' the lower band holds 'ㅜ',
    'ㅡ' and both finals, and is the higher)."""
    out = []
    for k in range(len(bands) - 1):
        (a0, a1), (b0, b1) = bands[k], bands[k + 1]
        if b1 - b0 <= higher * (a1 - a0) and b0 - a1 <= max_gap * (a1 - a0):
            out.append(k)
    return out


def _syllable_block(mask: np.ndarray, bands: Sequence[tuple[int, int]]) -> tuple[int, int, int, int] | None:
    """Rows and columns ``(y0, y1, x0, x1)`` of the ink if it lies in several bands and is
    shaped like one syllable (the finals of a lone '켑' in a band of their own), else None."""
    if len(bands) < 2:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    y0, y1, x0, x1 = bands[0][0], bands[-1][1], int(cols[0]), int(cols[-1]) + 1
    return (y0, y1, x0, x1) if 0.4 <= (x1 - x0) / (y1 - y0) <= 1.4 else None


def read(
    ocr,
    image,
    charset: str | Sequence[str] | None = None,
    config: ReadConfig | None = None,
    use_segments: bool = True,
    lm: language.SyllableLM | str | None = None,
    **overrides,
) -> ReadResult:
    """Reads a text line or block of lines with a :class:`model.KoOCR` (see ``KoOCR.read``).

    ``use_segments=False`` ignores the model's segment classifier (the shape heuristics only).
    ``lm``: a :class:`koocr.language.SyllableLM` or the path of one saved with
    ``tools/build_lm.py`` (e.g. built from your own domain's text); default: the shipped one.
    """
    config = dataclasses.replace(config or ReadConfig(), **overrides)
    if charset is not None:  # the caller chose the syllables: no prior over them
        config = dataclasses.replace(config, rare_penalty=0.0)
    classifier = getattr(ocr, "segments", None) if use_segments else None
    lm = language.resolve(lm) if config.lm_weight > 0 else None
    scorer = model_scorer(
        ocr,
        charset,
        features=classifier is not None,
        rare_penalty=config.rare_penalty,
        alternatives=config.lm_alternatives if lm is not None else 0,
    )
    return read_image(
        image, scorer, ocr.config.image_size, ocr.config.margin, ocr._placement, config, classifier, lm
    )


# ---------------------------------------------------------------------- character error rate
def normalise_text(text: str, unknown: str | None = UNKNOWN) -> str:
    """The form CER compares: each non-Hangul, non-space character becomes ``unknown``.

    Whitespace runs become one space, ends are stripped, and text is NFC-composed so
    decomposed jamo sequences count as their syllable. ``unknown=None`` keeps every
    character as written (symbols compared exactly).
    """
    text = unicodedata.normalize("NFC", text)
    out = []
    for ch in " ".join(text.split()):
        out.append(ch if unknown is None or ch == " " or hangul.is_syllable(ch) else unknown)
    return "".join(out)


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions all cost 1)."""
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        cur = [i]
        for j, cb in enumerate(b, start=1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


_UNREAD = "\ufffd"  # stands for an unread box in cer(symbols=True): equal to no character


def cer(truths: Sequence[str], hypotheses: Sequence[str], spaces: bool = True, symbols: bool = False) -> float:
    """Corpus character error rate: total edit distance / total truth length (normalised).

    ``symbols=True`` compares digits, Latin letters and marks as written (an unknown box
    is an error wherever it stands, even for a '?' in the truth), not each as :data:`UNKNOWN`.
    """
    unknown = None if symbols else UNKNOWN
    edits = length = 0
    for truth, hyp in zip(truths, hypotheses, strict=True):
        t, h = normalise_text(truth, unknown), normalise_text(hyp, unknown)
        if symbols:  # an unread box is wrong, even where the truth has a question mark
            h = h.replace(UNKNOWN, _UNREAD)
        if not spaces:
            t, h = t.replace(" ", ""), h.replace(" ", "")
        edits += edit_distance(t, h)
        length += len(t)
    return edits / max(length, 1)


def load_line_set(folder: str) -> list[tuple[str, str]]:
    """(image path, truth text) for each ``*.png`` / ``*.jpg`` with a ``.txt`` (or ``.TXT``) beside it,
    sorted. Truth files are read like ``crawl_data.py --images`` labels: UTF-8, UTF-16 with a BOM or CP949."""
    from koocr.ingest import read_label

    if not os.path.isdir(folder):
        raise FileNotFoundError(f"No line folder {folder!r} (make one with tools/make_line_set.py)")
    names = sorted(os.listdir(folder))
    texts = {n.lower(): n for n in names if n.lower().endswith(".txt")}  # 0000.TXT too
    pairs, untruthed = [], []
    for name in names:
        stem, ext = os.path.splitext(name)
        if ext.lower() not in (".png", ".jpg", ".jpeg"):
            continue
        truth = os.path.join(folder, texts.get(stem.lower() + ".txt", stem + ".txt"))
        if not os.path.isfile(truth):
            untruthed.append(name)
            continue
        text = read_label(truth)
        if text is None:
            raise ValueError(f"Cannot decode ground truth {truth!r}: save it as UTF-8, UTF-16 or CP949")
        if not text:  # a CER over zero characters means nothing
            raise ValueError(f"Empty ground truth {truth!r}: write the image's text in it, or remove the image")
        pairs.append((os.path.join(folder, name), text))
    if not pairs:
        raise FileNotFoundError(f"No images with .txt truth in {folder!r}")
    if untruthed:
        warnings.warn(
            f"{len(untruthed)} image(s) in {folder!r} have no .txt truth and are not scored: "
            + ", ".join(untruthed[:5]) + (" ..." if len(untruthed) > 5 else ""),
            stacklevel=2,
        )
    return pairs


FONTS_FILE = "fonts.tsv"  # beside a line set's images: "<image file name>\t<font name>" per line


def load_line_fonts(folder: str) -> dict[str, str]:
    """Image path -> the font it was rendered with, from ``folder``'s :data:`FONTS_FILE`
    (``tools/make_line_set.py`` writes one), so CER can be reported per font; ``{}`` when
    there is none. Raises ValueError on a malformed line."""
    path = os.path.join(folder, FONTS_FILE)
    if not os.path.isfile(path):
        return {}
    out = {}
    with open(path, encoding="utf-8") as fh:
        for number, row in enumerate(fh, 1):
            if not row.strip():
                continue
            fields = row.rstrip("\n").split("\t")
            if len(fields) != 2 or not all(f.strip() for f in fields):
                raise ValueError(f"{path}:{number}: need '<image>\\t<font>'. Received: {row.rstrip()!r}")
            out[os.path.join(folder, fields[0])] = fields[1]
    return out


def line_folders(folder: str) -> list[str]:
    """``folder`` if it holds line images, else its sub-folders that do (e.g. printed/, handwriting/)."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"No line folder {folder!r} (make one with tools/make_line_set.py)")
    def has_truth(path: str) -> bool:
        return any(n.lower().endswith(".txt") for n in os.listdir(path))

    if has_truth(folder):
        return [folder]
    subs = [os.path.join(folder, n) for n in sorted(os.listdir(folder))]
    subs = [s for s in subs if os.path.isdir(s) and has_truth(s)]
    if not subs:
        raise FileNotFoundError(f"No images with .txt truth in {folder!r} or its sub-folders")
    return subs


def _text_lines(text: str) -> int:
    return sum(1 for row in text.splitlines() if row.strip())


def evaluate_line_set(
    read_fn: Callable[[str], str],
    pairs: Sequence[tuple[str, str]],
    progress: bool = False,
    fonts: dict[str, str] | None = None,
) -> dict:
    """CER of ``read_fn`` (image path -> text) on ``(path, truth)`` pairs, with timing.

    Returns:
        lines (images), chars (normalised truth length), cer, cer_no_spaces, cer_symbols
        (symbols compared as written, see :func:`cer`), median ms per
        image, line accuracy (images read exactly), line_breaks (images read as as many text
        lines as their truth has: for blocks), and the worst (path, truth, read, edits);
        with ``fonts`` (:func:`load_line_fonts`) also ``per_font``: lines, chars, cer and
        cer_symbols of each font's images.
    """
    import time

    from tqdm import tqdm

    truths, hyps, times, worst = [], [], [], []
    for path, truth in tqdm(pairs, disable=not progress, desc="lines"):
        start = time.perf_counter()
        hyp = read_fn(path)
        times.append((time.perf_counter() - start) * 1000)
        truths.append(truth)
        hyps.append(hyp)
        edits = edit_distance(normalise_text(truth), normalise_text(hyp))
        if edits:
            worst.append({"image": path, "truth": truth, "read": hyp, "edits": edits})
    worst.sort(key=lambda r: -r["edits"])
    exact = sum(normalise_text(t) == normalise_text(h) for t, h in zip(truths, hyps, strict=True))
    # blank lines (a paragraph's space in tesseract's output) are no text lines
    breaks = sum(_text_lines(t) == _text_lines(h) for t, h in zip(truths, hyps, strict=True))
    per_font: dict[str, dict] = {}
    for font in sorted({fonts[p] for p, _ in pairs if p in fonts} if fonts else ()):
        rows = [k for k, (p, _) in enumerate(pairs) if fonts.get(p) == font]
        t, h = [truths[k] for k in rows], [hyps[k] for k in rows]
        per_font[font] = {
            "lines": len(rows),
            "chars": sum(len(normalise_text(x)) for x in t),
            "cer": cer(t, h),
            "cer_symbols": cer(t, h, symbols=True),
        }
    return {
        "lines": len(pairs),
        "chars": sum(len(normalise_text(t)) for t in truths),
        "cer": cer(truths, hyps),
        "cer_no_spaces": cer(truths, hyps, spaces=False),
        "cer_symbols": cer(truths, hyps, symbols=True),
        "line_accuracy": exact / max(len(pairs), 1),
        "line_breaks": breaks / max(len(pairs), 1),
        "ms_per_line": float(np.median(times)) if times else 0.0,
        "worst": worst[:20],
        **({"per_font": per_font} if per_font else {}),
    }
