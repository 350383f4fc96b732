"""Hangul charset and jamo arithmetic (stdlib only).

A precomposed syllable is ``0xAC00 + (initial * 21 + medial) * 28 + final`` with
19 initials, 21 medials and 28 finals (final 0 = no final consonant).

Example:
    >>> decompose("한")
    (18, 0, 4)
    >>> compose(18, 0, 4)
    '한'
"""

from __future__ import annotations

import functools
import os
import unicodedata
from collections.abc import Iterable

import numpy as np

SBASE = 0xAC00
N_INITIAL, N_MEDIAL, N_FINAL = 19, 21, 28
N_SYLLABLES = N_INITIAL * N_MEDIAL * N_FINAL  # 11,172

# Compatibility jamo, used only for display.
INITIALS = "ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ"
MEDIALS = "ㅏㅐㅑㅒㅓㅔㅕㅖㅗㅘㅙㅚㅛㅜㅝㅞㅟㅠㅡㅢㅣ"
FINALS = (
    "∅",
    *"ㄱㄲㄳㄴㄵㄶㄷㄹㄺㄻㄼㄽㄾㄿㅀㅁㅂㅄㅅㅆㅇㅈㅊㅋㅌㅍㅎ",
)
COMPONENT_SIZES = {"initial": N_INITIAL, "medial": N_MEDIAL, "final": N_FINAL}
COMPONENT_NAMES = {"initial": INITIALS, "medial": MEDIALS, "final": FINALS}

assert len(INITIALS) == N_INITIAL and len(MEDIALS) == N_MEDIAL and len(FINALS) == N_FINAL


def is_syllable(char: str) -> bool:
    """True for one precomposed Hangul syllable (U+AC00-U+D7A3)."""
    return isinstance(char, str) and len(char) == 1 and 0 <= ord(char) - SBASE < N_SYLLABLES


def _check(char: str) -> int:
    if not is_syllable(char):
        raise ValueError(
            f"Expected one Hangul syllable (U+AC00-U+D7A3). Received: {char!r}"
            + (f" (U+{ord(char):04X})" if isinstance(char, str) and len(char) == 1 else "")
        )
    return ord(char) - SBASE


def decompose(char: str) -> tuple[int, int, int]:
    """Splits a syllable into (initial 0-18, medial 0-20, final 0-27; 0 = none)."""
    index = _check(char)
    return index // (N_MEDIAL * N_FINAL), (index // N_FINAL) % N_MEDIAL, index % N_FINAL


def compose(initial: int, medial: int, final: int = 0) -> str:
    """Inverse of :func:`decompose`."""
    for name, value, size in (
        ("initial", initial, N_INITIAL),
        ("medial", medial, N_MEDIAL),
        ("final", final, N_FINAL),
    ):
        if not 0 <= int(value) < size:
            raise ValueError(f"{name} must be in [0, {size}). Received: {name}={value}")
    return chr(SBASE + (int(initial) * N_MEDIAL + int(medial)) * N_FINAL + int(final))


def jamo_names(char: str) -> tuple[str, str, str]:
    """Compatibility-jamo spelling of a syllable, e.g. '한' -> ('ㅎ', 'ㅏ', 'ㄴ')."""
    i, m, f = decompose(char)
    return INITIALS[i], MEDIALS[m], FINALS[f]


def all_syllables() -> list[str]:
    """All 11,172 modern syllables in code-point order."""
    return [chr(SBASE + i) for i in range(N_SYLLABLES)]


def _is_ks_x_1001(char: str) -> bool:
    try:
        return len(char.encode("euc_kr")) == 2
    except UnicodeEncodeError:
        return False


def ks2350() -> list[str]:
    """The 2,350 KS X 1001 syllables: those whose EUC-KR encoding is two bytes."""
    return [c for c in all_syllables() if _is_ks_x_1001(c)]


def validate(chars: Iterable[str]) -> list[str]:
    """Returns ``chars`` as a list, raising ValueError naming the first non-syllable."""
    out = list(chars)
    for c in out:
        _check(c)
    return out


# The names load_charset knows, for KS X 1001's 2,350 syllables and for all 11,172.
KS_NAMES = ("ks2350", "ksx1001", "ks")
ALL_NAMES = ("all", "11172", "unicode")
CHARSET_NAMES = KS_NAMES + ALL_NAMES


def decode_text(data: bytes) -> str | None:
    """The text of a small file saved by a Korean user: UTF-8 (with or without BOM), UTF-16
    with a BOM (Notepad's "Unicode") or CP949 (Korean Windows' "ANSI"); None if none fits.

    Many CP949 syllables are also valid UTF-8 bytes ('징' is ``C2 A1``, UTF-8 for '¡'), so
    when both decodings succeed the one that holds Hangul syllables wins.

    Example:
        >>> decode_text("징".encode("cp949")), decode_text("징".encode("utf-8"))
        ('징', '징')
    """
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        encodings: tuple[str, ...] = ("utf-16",)
    else:
        encodings = ("utf-8-sig", "cp949")
    texts = []
    for encoding in encodings:
        try:
            texts.append(data.decode(encoding))
        except UnicodeDecodeError:
            continue
    if not texts:
        return None
    return next((t for t in texts if any(is_syllable(c) for c in t)), texts[0])


def load_charset(spec: str | Iterable[str] = "ks2350") -> list[str]:
    """Resolves a charset by name (``ks2350``, ``all``), file path or iterable.

    A file holds one syllable per line (blank lines and ``#`` comments ignored), in UTF-8,
    UTF-16 with a BOM or CP949 (:func:`decode_text`); lines are NFC-normalised.
    Order is kept and duplicates are dropped, so class indices are stable.

    Raises:
        ValueError: an unknown name, an empty charset, a file in none of those encodings,
            or a line that is not one syllable (naming the file and the line number).
    """
    if isinstance(spec, str):
        name = spec.lower()
        if name in KS_NAMES:
            return ks2350()
        if name in ALL_NAMES:
            return all_syllables()
        if os.path.isfile(spec):
            return _charset_file(spec)
        raise ValueError(
            "charset must be 'ks2350', 'all', a file with one syllable per line, "
            f"or a list of syllables. Received: {spec!r}"
        )
    chars = list(spec)
    if not chars:
        raise ValueError(f"charset is empty: it needs at least one syllable. Received: {spec!r}")
    return list(dict.fromkeys(validate(chars)))


def _charset_file(path: str) -> list[str]:
    """:func:`load_charset` of a file; errors name the file (and the line)."""
    with open(path, "rb") as fh:
        text = decode_text(fh.read())
    if text is None:
        raise ValueError(
            f"{path}: cannot decode the charset file; expected UTF-8, UTF-16 with a BOM or CP949"
        )
    chars = []
    for number, line in enumerate(text.splitlines(), 1):
        char = unicodedata.normalize("NFC", line.strip())  # macOS editors may save jamo (NFD)
        if not char or char.startswith("#"):
            continue
        if not is_syllable(char):
            raise ValueError(
                f"{path}, line {number}: expected one Hangul syllable (U+AC00-U+D7A3) per line. "
                f"Received: {char!r}"
            )
        chars.append(char)
    if not chars:
        raise ValueError(f"charset is empty: it needs at least one syllable. Received: {path!r}")
    return list(dict.fromkeys(chars))


def is_ks_x_1001(char: str) -> bool:
    """True if ``char`` is one of the 2,350 KS X 1001 syllables."""
    return isinstance(char, str) and char in ks_x_1001_set()


@functools.cache
def ks_x_1001_set() -> frozenset[str]:
    """The 2,350 KS X 1001 syllables as a set (read() asks for every candidate of every crop)."""
    return frozenset(ks2350())


def jamo_targets(labels: np.ndarray) -> dict[str, np.ndarray]:
    """Syllable labels -> {'initial', 'medial', 'final'} int32 class indices."""
    codes = np.fromiter((ord(c) for c in labels), dtype=np.int64, count=len(labels)) - SBASE
    if len(codes) and (codes.min() < 0 or codes.max() >= N_SYLLABLES):
        bad = labels[int(np.argmax((codes < 0) | (codes >= N_SYLLABLES)))]
        decompose(bad)  # raises, naming the character
    per_initial = N_MEDIAL * N_FINAL
    return {
        "initial": (codes // per_initial).astype(np.int32),
        "medial": ((codes // N_FINAL) % N_MEDIAL).astype(np.int32),
        "final": (codes % N_FINAL).astype(np.int32),
    }
