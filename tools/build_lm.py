"""Builds the reader's syllable language model from Korean word frequencies.

    pip install wordfreq            # build time only; KoOCR does not need it to read
    python tools/build_lm.py        # -> koocr/resources/syllable_lm.npz
    python tools/build_lm.py --text my_corpus.txt --output my_lm.npz   # from your own text
    # then: ocr.read(image, lm="my_lm.npz")   or   predict.py --line IMAGE --lm my_lm.npz

The source is the ``wordfreq`` package's Korean word list (about 30,000 frequent words
and morphemes with their frequencies in running text; data under CC BY-SA 4.0, see
koocr/resources/README.md). Each word's Hangul syllables add its frequency to the
syllable counts and to the counts of the pairs inside it. The list splits text into
morphemes ('읽었다' is '읽', '었', '다'), so by default (``--boundaries``) the model writes
the words one after another: after a syllable, its word goes on as often as it does in
the list, else a new word starts with one of the list's word-initial syllables (see
:meth:`koocr.language.SyllableLM.from_counts`).
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from koocr import language  # noqa: E402


def word_frequencies(lang: str = "ko") -> dict[str, float]:
    """``wordfreq``'s frequency dictionary for ``lang`` (word -> share of running text)."""
    try:
        import wordfreq
    except ImportError as err:
        raise SystemExit("tools/build_lm.py needs the wordfreq package: pip install wordfreq") from err
    return wordfreq.get_frequency_dict(lang)


def text_counts(paths: list[str]) -> dict[str, float]:
    """Word counts (whitespace-separated tokens) of UTF-8 text files."""
    counts: dict[str, float] = {}
    for path in paths:
        try:
            with open(path, encoding="utf-8") as fh:
                for line in fh:
                    for word in line.split():
                        counts[word] = counts.get(word, 0.0) + 1.0
        except (OSError, UnicodeDecodeError) as err:
            raise SystemExit(f"cannot read {path} as UTF-8 text: {err}") from err
    return counts


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default=language.RESOURCE, help="where to write the .npz")
    parser.add_argument(
        "--text", nargs="+", default=None, metavar="FILE",
        help="count words of these UTF-8 text files instead of wordfreq's Korean list",
    )
    parser.add_argument("--mix", type=float, default=0.5, help="weight of the bigram estimate (with --boundaries: its cap)")
    parser.add_argument(
        "--boundaries", action=argparse.BooleanOptionalAction, default=True,
        help="after a word's last syllable a new word starts (see SyllableLM.from_counts); "
        "--no-boundaries: the plain bigram of the tables shipped before 2026-11-27",
    )
    parser.add_argument(
        "--smoothing", type=float, default=1e-3, help="share of the unigram spread over all syllables"
    )
    args = parser.parse_args(argv)
    words = text_counts(args.text) if args.text else word_frequencies()
    try:
        lm = language.SyllableLM.from_counts(words, mix=args.mix, smoothing=args.smoothing, boundaries=args.boundaries)
    except ValueError as err:
        raise SystemExit(f"cannot build a language model: {err}") from err
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    lm.save(args.output)
    seen = int((lm.unigram > lm.unigram.min()).sum())
    print(
        f"{len(words)} words -> {seen} syllables seen, {len(lm.bigram_keys)} pairs, "
        f"mean log p {lm.offset:.3f}; wrote {args.output} ({os.path.getsize(args.output) / 1024:.0f} KB)"
    )


if __name__ == "__main__":
    main()
