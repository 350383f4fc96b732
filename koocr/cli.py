"""Small argparse helpers shared by the command-line scripts.

``type=bool`` makes ``--flag False`` true (any non-empty string is truthy), so
boolean flags go through :func:`str2bool` instead.

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> _ = add_bool_argument(parser, "sevenzip", default=True, help="use .7z archives")
    >>> parser.parse_args(["--sevenzip=no"]).sevenzip
    False
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

_TRUE = ("true", "t", "yes", "y", "1", "on")
_FALSE = ("false", "f", "no", "n", "0", "off")


def str2bool(value: str | bool) -> bool:
    """Parses true/false, yes/no, 1/0, on/off (any case) into a bool.

    Raises:
        argparse.ArgumentTypeError: for anything else, naming the value.
    """
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise argparse.ArgumentTypeError(
        f"Expected a boolean (true/false, yes/no, 1/0, on/off). Received: {value!r}"
    )


def add_bool_argument(
    parser: argparse.ArgumentParser, name: str, default: bool, help: str = ""
) -> argparse.Action:
    """Adds ``--name[=BOOL]``: ``--name``, ``--name=true`` and ``--name no`` all work.

    Args:
        parser: the parser to extend.
        name: flag name, with or without the leading ``--``.
        default: value when the flag is absent.
        help: help text; the default is appended.
    """
    flag = name if name.startswith("--") else f"--{name}"
    return parser.add_argument(
        flag,
        type=str2bool,
        nargs="?",
        const=True,
        default=default,
        metavar="BOOL",
        help=f"{help} (default: {str(default).lower()})".strip(),
    )


def _number(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"Expected a number. Received: {value!r}") from None


def _non_negative(value: str) -> float:
    number = _number(value)
    if not number >= 0:
        raise argparse.ArgumentTypeError(f"Expected a number >= 0. Received: {value!r}")
    return number


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"Expected a whole number. Received: {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"Expected a whole number >= 1. Received: {value!r}")
    return number


def _probability(value: str) -> float:
    number = _number(value)
    if not 0 <= number <= 1:
        raise argparse.ArgumentTypeError(f"Expected a probability in [0, 1]. Received: {value!r}")
    return number


# read()'s settings on the command line: (ReadConfig field = flag, type, metavar, help); the
# default is the field's own.
_READ_FLAGS = (
    ("lm_weight", _non_negative, "W", "weight of the syllable language model, 0 turns it off (default: {})"),
    (
        "lm_alternatives", _positive_int, "K",
        "the language model chooses among each crop's K likeliest syllables (fewer: a little faster; default: {})",
    ),
    (
        "name_symbols", _probability, "P",
        "print a digit, Latin letter or mark instead of '?' where the segment classifier says 'one symbol, "
        "this one (or a look-alike of it)' with probability >= P; 0 turns it off (default: {})",
    ),
    (
        "symbol_run", _non_negative, "B",
        "log bonus of a digit, letter or mark right after another, times how sure the segment classifier "
        "is of both ('010-1234' read as symbols, not '이0기23'); 0 turns it off (default: {})",
    ),
    (
        "switch_cost", _non_negative, "C",
        "log cost of each switch between Hangul and other characters inside a word (fewer Latin letters "
        "read as syllables, but 'PC방' may read '마 방'; default: {}, off)",
    ),
    (
        "space_pmi", _non_negative, "P",
        "on unevenly set lines, drop a narrow space inside a word the language model knows (fewer split "
        "handwritten words, but '한 잔' may read '한잔'; 2 was tried; default: {}, off)",
    ),
    (
        "pitch_jump", _non_negative, "J",
        "space a line of one-syllable words ('불 꺼 줘'): split the syllable distances at a jump wider than "
        "J line heights, in lines whose syllables all read surely (see --pitch_jump_conf; 0 turns it off; default: {})",
    ),
    (
        "pitch_jump_conf", _probability, "C",
        "--pitch_jump only in a line whose syllables all read with at least this confidence (0: every line; "
        "uneven handwriting then loses a few spaces; default: {})",
    ),
)  # fmt: skip


def add_read_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds ``read()``'s options: ``--lm PATH`` (the syllable language model), ``--lm_weight W``,
    ``--lm_alternatives K``, ``--name_symbols P``, ``--symbol_run B`` and the opt-in rules ``--switch_cost C``,
    ``--space_pmi P`` and ``--pitch_jump J``."""
    from koocr.lines import ReadConfig

    parser.add_argument(
        "--lm",
        default=None,
        metavar="PATH",
        help="read(): a language model built by tools/build_lm.py (default: the shipped one)",
    )
    config = ReadConfig()
    for name, kind, metavar, text in _READ_FLAGS:
        default = getattr(config, name)
        parser.add_argument(f"--{name}", type=kind, default=default, metavar=metavar, help="read(): " + text.format(default))


def add_preset_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds ``--printed_presets`` and ``--handwriting_presets`` for :func:`koocr.crawl.presets_from`."""
    from koocr.crawl import DEFAULT_PRESETS

    for style, flag in (("printed", "--printed_presets"), ("handwriting", "--handwriting_presets")):
        parser.add_argument(
            flag,
            default=None,
            metavar="NAMES",
            help=f"augmentation presets that the distorted copies of {style} fonts draw from, "
            f"comma-separated (default: {','.join(DEFAULT_PRESETS[style])})",
        )


def read_kwargs(args: argparse.Namespace) -> dict:
    """``KoOCR.read`` keywords from the flags of :func:`add_read_arguments`."""
    return {"lm": args.lm, **{name: getattr(args, name) for name, *_ in _READ_FLAGS}}


# What a script reports as one line instead of a traceback: bad arguments, files and data
# (the library raises ValueError / FileNotFoundError subclasses with a full message).
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError, PermissionError)


def run(main: Callable[[list[str] | None], int], argv: list[str] | None = None, interrupted: str = "") -> int:
    """Runs a script's ``main(argv)`` the way its ``__main__`` block should.

    A user error (:data:`USER_ERRORS`) prints ``error: <message>`` and returns 1; Ctrl-C
    prints ``interrupted`` (plus ``interrupted``, e.g. how to resume) and returns 130.
    Set ``KOOCR_TRACEBACK=1`` to get the full traceback instead.
    """
    try:
        return main(argv)
    except KeyboardInterrupt:
        if os.environ.get("KOOCR_TRACEBACK"):
            raise
        print(f"interrupted{'; ' + interrupted if interrupted else ''}", file=sys.stderr)
        return 130
    except USER_ERRORS as err:
        if os.environ.get("KOOCR_TRACEBACK"):
            raise
        print(f"error: {err}", file=sys.stderr)
        return 1
