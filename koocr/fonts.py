"""The shipped Korean fonts: manifest, coverage and glyph rendering.

``fonts/manifest.json`` is written by ``tools/build_fonts.py``. A syllable counts as
covered by a font only if rendering it gives ink and a bitmap that no other syllable of
that font shares (some fonts map missing syllables to a look-alike glyph).

Example:
    >>> from koocr.fonts import load_manifest, render_glyph
    >>> fonts = load_manifest(style="handwriting", split="train")
    >>> img = render_glyph(fonts[0], "가", size=64)  # uint8 (96, 96), black on white
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from koocr import shipped_dir
from koocr.hangul import all_syllables, is_syllable

STYLES = ("printed", "handwriting")
SPLITS = ("train", "test")
MANIFEST = "manifest.json"
_REQUIRED = (
    "name",
    "file",
    "family",
    "style",
    "source",
    "license",
    "coverage",
    "uncovered",
    "split",
)


@dataclass(frozen=True)
class FontInfo:
    """One shipped font design, as listed in ``fonts/manifest.json``."""

    name: str
    path: str
    family: str
    style: str
    source: str
    license: str
    split: str
    coverage: dict[str, int] = field(default_factory=dict, hash=False, compare=False)
    uncovered: frozenset[str] = frozenset()

    def covers(self, char: str) -> bool:
        """True if ``char`` is a syllable (or ASCII/jamo) this font renders distinctly."""
        if is_syllable(char):  # the manifest lists every syllable the cmap lacks
            return char not in self.uncovered
        return char in _cmap_chars(self.path)

    def covered(self, chars: Iterable[str]) -> list[str]:
        """The members of ``chars`` this font covers, order kept."""
        return [c for c in chars if self.covers(c)]


def default_font_dir() -> str:
    """The repository's ``fonts/`` folder (``koocr/fontfiles/`` when installed)."""
    return shipped_dir("fonts", "fontfiles")


def load_manifest(
    font_dir: str | None = None, style: str | None = None, split: str | None = None
) -> list[FontInfo]:
    """Reads ``<font_dir>/manifest.json`` and returns its fonts, optionally filtered.

    Args:
        font_dir: Folder with the manifest and font files; default :func:`default_font_dir`.
        style: ``"printed"``, ``"handwriting"`` or None for both.
        split: ``"train"``, ``"test"`` or None for both.

    Raises:
        FileNotFoundError: The folder, the manifest or a listed font file is missing.
        ValueError: The manifest is malformed or a filter value is unknown.
    """
    font_dir = default_font_dir() if font_dir is None else os.fspath(font_dir)
    for value, allowed, what in ((style, STYLES, "style"), (split, SPLITS, "split")):
        if value is not None and value not in allowed:
            raise ValueError(f"{what} must be one of {allowed} or None. Received: {what}={value!r}")
    if not os.path.isdir(font_dir):
        raise FileNotFoundError(
            f"Font folder not found: {font_dir!r} (build it with tools/build_fonts.py)"
        )
    manifest = os.path.join(font_dir, MANIFEST)
    if not os.path.isfile(manifest):
        raise FileNotFoundError(
            f"Font manifest not found: {manifest!r} (build it with tools/build_fonts.py)"
        )
    with open(manifest, encoding="utf-8") as fh:
        try:
            entries = json.load(fh)
        except json.JSONDecodeError as err:
            raise ValueError(f"{manifest} is not valid JSON: {err}") from err
    if not isinstance(entries, list):
        raise ValueError(f"{manifest} must hold a JSON list. Received: {type(entries).__name__}")
    fonts = [_parse_entry(entry, i, font_dir, manifest) for i, entry in enumerate(entries)]
    return [
        f
        for f in fonts
        if (style is None or f.style == style) and (split is None or f.split == split)
    ]


def _parse_entry(entry: object, index: int, font_dir: str, manifest: str) -> FontInfo:
    where = f"{manifest} entry {index}"
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be an object. Received: {entry!r}")
    missing = [k for k in _REQUIRED if k not in entry]
    if missing:
        raise ValueError(f"{where} lacks field(s) {missing}")
    for key, allowed in (("style", STYLES), ("split", SPLITS)):
        if entry[key] not in allowed:
            raise ValueError(
                f"{where}: {key} must be one of {allowed}. Received: {key}={entry[key]!r}"
            )
    coverage = entry["coverage"]
    if not isinstance(coverage, dict) or not all(isinstance(v, int) for v in coverage.values()):
        raise ValueError(
            f"{where}: coverage must map names to ints. Received: coverage={coverage!r}"
        )
    if not isinstance(entry["uncovered"], str):
        raise ValueError(f"{where}: uncovered must be a string. Received: {entry['uncovered']!r}")
    path = os.path.join(font_dir, entry["file"])
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{where} ({entry['name']}) lists a missing font file: {path!r}")
    return FontInfo(
        name=entry["name"],
        path=path,
        family=entry["family"],
        style=entry["style"],
        source=entry["source"],
        license=entry["license"],
        split=entry["split"],
        coverage=dict(coverage),
        uncovered=frozenset(entry["uncovered"]),
    )


@functools.lru_cache(maxsize=64)
def _cmap_chars(path: str) -> frozenset[str]:
    from fontTools.ttLib import TTFont  # lazy: only needed for coverage checks

    try:
        with TTFont(path, lazy=True) as font:
            return frozenset(chr(c) for c in font.getBestCmap())
    except Exception as err:  # noqa: BLE001 - fontTools raises many kinds for a bad file
        raise ValueError(f"Cannot read font file {path!r}: {err}") from err


@functools.lru_cache(maxsize=256)
def _image_font(path: str, size: int) -> ImageFont.FreeTypeFont:
    # Why: opening a font parses the whole file; rendering thousands of glyphs must not.
    try:
        return ImageFont.truetype(path, size)
    except OSError as err:  # Pillow: "unknown file format", "cannot open resource"
        raise ValueError(f"Cannot read font file {path!r}: {err}") from err


def _resolve(font: FontInfo | str) -> FontInfo:
    if isinstance(font, FontInfo):
        return font
    if os.path.isfile(font):
        name = os.path.splitext(os.path.basename(font))[0]
        cmap = _cmap_chars(font)  # unverified file: trust its cmap
        missing = frozenset(c for c in all_syllables() if c not in cmap)
        return FontInfo(name, font, name, "printed", "file", "unknown", "train", uncovered=missing)
    matches = [f for f in load_manifest() if f.name == font]
    if not matches:
        raise ValueError(
            f"Expected a FontInfo, a font file or a manifest font name. Received: {font!r}"
        )
    return matches[0]


def draw_char(path: str, char: str, size: int, canvas: int) -> np.ndarray:
    """Draws ``char`` black on white, centred on a ``canvas`` square; no coverage check."""
    image = Image.new("L", (canvas, canvas), 255)
    ImageDraw.Draw(image).text(
        (canvas / 2, canvas / 2), char, font=_image_font(path, size), fill=0, anchor="mm"
    )
    return np.asarray(image, dtype=np.uint8)


def render_glyph(font: FontInfo | str, char: str, size: int = 64) -> np.ndarray:
    """Renders one character at font size ``size`` on a white square of side ~1.5 * size.

    The glyph is centred and not cropped; normalisation crops later.

    Args:
        font: A :class:`FontInfo`, a manifest font name or a font file path.
        char: One character the font covers.
        size: Font size in pixels.

    Returns:
        uint8 array (H, W), background 255, ink 0.

    Raises:
        ValueError: The font does not cover ``char``.
    """
    info = _resolve(font)
    if not isinstance(char, str) or len(char) != 1 or not info.covers(char):
        raise ValueError(f"Font {info.name!r} ({info.path}) does not cover {char!r}")
    return draw_char(info.path, char, int(size), int(round(1.5 * size)))


def identical_groups(bitmaps: Sequence[np.ndarray]) -> list[list[int]]:
    """Indices of bitmaps that are pixel-identical to at least one other, grouped."""
    groups: dict[bytes, list[int]] = defaultdict(list)
    for i, bitmap in enumerate(bitmaps):
        groups[
            hashlib.blake2b(np.ascontiguousarray(bitmap).tobytes(), digest_size=16).digest()
        ].append(i)
    return [g for g in groups.values() if len(g) > 1]


def verify_chars(path: str, chars: Sequence[str], size: int = 40) -> tuple[list[str], list[str]]:
    """Renders ``chars`` and splits them into (covered, uncovered).

    A char is uncovered if the cmap lacks it, its glyph has no ink, or its bitmap is
    pixel-identical to another char's in ``chars`` (every member of such a group).
    """
    in_cmap = _cmap_chars(path)
    drawn = [c for c in chars if c in in_cmap]
    bitmaps = [draw_char(path, c, size, 2 * size) for c in drawn]
    bad = {c for c in chars if c not in in_cmap}
    bad.update(c for c, b in zip(drawn, bitmaps, strict=True) if not (b < 128).any())
    bad.update(drawn[i] for group in identical_groups(bitmaps) for i in group)
    return [c for c in chars if c not in bad], [c for c in chars if c in bad]


def korean_font_path(font_dir: str | None = None) -> str:
    """A TrueType path with Hangul for matplotlib labels (its FreeType may lack WOFF2).

    Example:
        >>> from matplotlib import font_manager
        >>> font_manager.fontManager.addfont(korean_font_path())
    """
    printed = [
        f for f in load_manifest(font_dir, style="printed") if f.coverage.get("all") == 11172
    ]
    if not printed:
        raise FileNotFoundError(
            f"No printed font covering all syllables in {font_dir or default_font_dir()!r}"
        )
    info = next((f for f in printed if f.name == "NanumGothic"), printed[0])
    out = os.path.join(
        tempfile.gettempdir(), "koocr_fonts", f"{info.name}-{os.path.getmtime(info.path):.0f}.ttf"
    )
    if not os.path.isfile(out):
        from fontTools.ttLib import TTFont

        os.makedirs(os.path.dirname(out), exist_ok=True)
        with TTFont(info.path) as font:
            font.flavor = None  # plain sfnt: matplotlib's bundled FreeType may not read WOFF2
            font.save(out + ".part")
        os.replace(out + ".part", out)
    return out
