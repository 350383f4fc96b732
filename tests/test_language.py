"""The syllable language model and its use by the line reader."""

from __future__ import annotations

import dataclasses
import math
import os

import numpy as np
import pytest
from test_lines import block_line

from koocr import language, lines, segments


@pytest.fixture(scope="module")
def tiny_lm():
    # '우리' is common, '무' rare: the model must prefer 우 before 리.
    return language.SyllableLM.from_counts({"우리": 50.0, "우유": 10.0, "무": 1.0, "리본": 5.0, "abc": 3.0})


def test_counts_give_unigram_and_bigram_preferences(tiny_lm):
    assert tiny_lm.log_prob(None, "우") > tiny_lm.log_prob(None, "무")
    assert tiny_lm.log_prob("우", "리") > tiny_lm.log_prob("우", "본")
    # 'x' and a syllable never seen as a predecessor give the unigram.
    assert tiny_lm.log_prob("x", "리") == pytest.approx(tiny_lm.log_prob(None, "리"))
    assert tiny_lm.log_prob("무", "리") == pytest.approx(tiny_lm.log_prob(None, "리"))
    # Unseen syllables are possible but rarer than any seen one.
    assert math.isfinite(tiny_lm.log_prob(None, "꿿"))
    assert tiny_lm.log_prob(None, "꿿") < tiny_lm.log_prob(None, "무")
    # Probabilities after a context sum to 1 over all 11,172 syllables.
    total = sum(math.exp(tiny_lm.log_prob("우", chr(0xAC00 + k))) for k in range(11172))
    assert total == pytest.approx(1.0, rel=1e-6)


def test_scores_are_centred_on_the_source_text(tiny_lm):
    words = {"우리": 50.0, "우유": 10.0, "무": 1.0, "리본": 5.0}
    mean = sum(w * tiny_lm.text_log_prob(t) for t, w in words.items()) / sum(w * len(t) for t, w in words.items())
    assert tiny_lm.offset == pytest.approx(mean)
    assert tiny_lm.score("우", "리") == pytest.approx(tiny_lm.log_prob("우", "리") - mean)
    matrix = tiny_lm.transition_matrix(["우", "리", "?"])  # rows: after 우, 리, ?, nothing
    assert matrix.shape == (4, 3) and matrix[0, 1] == pytest.approx(tiny_lm.score("우", "리"))
    assert matrix[3, 2] == 0.0  # a non-syllable scores nothing


def test_transition_matrix_matches_score(tiny_lm):
    labels = ["우", "리", "?", "무", "꿿", "본"]
    table = tiny_lm.transition_matrix(labels)
    assert table.shape == (7, 6)
    for r, prev in enumerate([*labels, None]):
        for c, cur in enumerate(labels):
            want = 0.0 if cur == "?" else tiny_lm.score(prev, cur)
            assert table[r, c] == pytest.approx(want), (prev, cur)


def test_bad_input_names_the_value(tiny_lm):
    with pytest.raises(ValueError, match="cur must be one Hangul syllable"):
        tiny_lm.log_prob(None, "A")
    with pytest.raises(ValueError, match="empty"):
        language.SyllableLM.from_counts({})
    with pytest.raises(ValueError, match="smoothing"):
        language.SyllableLM.from_counts({"우리": 1.0}, smoothing=0.0)
    with pytest.raises(ValueError, match="positive"):
        language.SyllableLM.from_counts({"우리": 0.0})
    with pytest.raises(ValueError, match="no word contains a Hangul syllable"):
        language.SyllableLM.from_counts({"abc": 1.0})
    with pytest.raises(ValueError, match="mix"):
        language.SyllableLM(tiny_lm.unigram, tiny_lm.bigram_keys, tiny_lm.bigram_logp, mix=1.0)
    with pytest.raises(ValueError, match="unigram must have shape"):
        language.SyllableLM(tiny_lm.unigram[:5], tiny_lm.bigram_keys, tiny_lm.bigram_logp)


def test_boundaries_model_words_written_one_after_another():
    # Morphemes, as wordfreq lists Korean: '가나' is one, '다' another. Text writes them one
    # after another, so after '나' (which always ends its word) a new word starts: '가' or
    # '다', never the '나' that only ends words.
    words = {"가나": 10.0, "다": 1.0}
    plain = language.SyllableLM.from_counts(words)
    lm = language.SyllableLM.from_counts(words, mix=0.9, boundaries=True)
    assert plain.log_prob(None, "나") > plain.log_prob(None, "다")  # every position counts
    assert lm.log_prob(None, "나") < lm.log_prob(None, "다") < lm.log_prob(None, "가")  # word starts only
    assert lm.log_prob("나", "가") == pytest.approx(lm.log_prob(None, "가"))  # '나' ends every word
    assert lm.log_prob("나", "가") > lm.log_prob("나", "나")
    # '가' goes on inside its word every time, capped at mix: 0.9 * 1 + 0.1 * p(starts with '나').
    assert math.exp(lm.log_prob("가", "나")) == pytest.approx(0.9 + 0.1 * math.exp(lm.log_prob(None, "나")), rel=1e-5)
    for prev in (None, "가", "나", "꿿"):
        total = sum(math.exp(lm.log_prob(prev, chr(0xAC00 + k))) for k in range(11172))
        assert total == pytest.approx(1.0, rel=1e-5)
    table = lm.transition_matrix(["가", "나", "다"])
    assert table[0, 1] == pytest.approx(lm.score("가", "나")) and table[3, 2] == pytest.approx(lm.score(None, "다"))
    with pytest.raises(ValueError, match="context_mix"):
        dataclasses.replace(lm, context_mix=np.ones(11172))


def test_boundaries_model_survives_save_and_load(tmp_path):
    lm = language.SyllableLM.from_counts({"우리": 5.0, "는": 3.0, "리본": 1.0}, mix=0.8, boundaries=True)
    path = str(tmp_path / "lm.npz")
    lm.save(path)
    loaded = language.SyllableLM.load(path)
    assert loaded.context_mix is not None
    for prev, cur in [(None, "는"), ("리", "는"), ("우", "리"), ("리", "본")]:
        assert loaded.score(prev, cur) == pytest.approx(lm.score(prev, cur), abs=0.02)  # float16 tables


def test_save_load_round_trip_and_clear_file_errors(tiny_lm, tmp_path):
    path = str(tmp_path / "lm.npz")
    tiny_lm.save(path)
    loaded = language.SyllableLM.load(path)
    for prev, cur in [(None, "우"), ("우", "리"), ("리", "본"), (None, "꿿")]:
        assert loaded.score(prev, cur) == pytest.approx(tiny_lm.score(prev, cur), abs=0.02)  # float16
    with pytest.raises(FileNotFoundError, match="tools/build_lm.py"):
        language.SyllableLM.load(str(tmp_path / "missing.npz"))
    np.savez(tmp_path / "other.npz", weights=np.zeros(3))
    with pytest.raises(ValueError, match="not a syllable language model"):
        language.SyllableLM.load(str(tmp_path / "other.npz"))


def test_shipped_table_is_small_and_knows_common_korean():
    assert os.path.getsize(language.RESOURCE) < 200_000
    lm = language.default_lm()
    assert lm.score(None, "은") > lm.score(None, "믄")  # a particle against a rare syllable
    assert lm.score(None, "방") > lm.score(None, "밤")
    assert lm.score("습", "니") > lm.score("습", "미")
    assert lm.text_log_prob("우리는 학교에 갑니다") > lm.text_log_prob("무리는 학교메 갑미다")


def test_lm_path_takes_the_reading_that_fits_the_context(tiny_lm):
    # Two one-atom spans. Alone, span 0 reads '무' (0.6 vs 0.4); before '리' the model wants 우.
    options = {
        (0, 1): [(math.log(0.6), "무", 0.6), (math.log(0.4), "우", 0.4), (-5.0, lines.UNKNOWN, 0.1)],
        (1, 2): [(0.0, "리", 1.0), (-5.0, lines.UNKNOWN, 0.1)],
    }
    assert lines.lm_path(2, options, tiny_lm, 0.0) == [((0, 1), 0), ((1, 2), 0)]
    assert lines.lm_path(2, options, tiny_lm, 1.0) == [((0, 1), 1), ((1, 2), 0)]
    # An unknown box between them resets the context. Here 무 is the commoner syllable
    # but 리 only follows 우: 우 wins before 리 and loses when a box stands between.
    lm = language.SyllableLM.from_counts({"우리": 2.0, "무": 3.0})
    near = {
        (0, 1): [(math.log(0.55), "무", 0.55), (math.log(0.45), "우", 0.45)],
        (1, 2): [(0.0, "리", 1.0)],
    }
    assert lines.lm_path(2, near, lm, 1.0)[0] == ((0, 1), 1)
    apart = {(0, 1): near[(0, 1)], (1, 2): [(0.0, lines.UNKNOWN, 0.9)], (2, 3): near[(1, 2)]}
    assert lines.lm_path(3, apart, lm, 1.0) == [((0, 1), 0), ((1, 2), 0), ((2, 3), 0)]
    assert lines.lm_path(3, {(0, 1): [(0.0, "우", 1.0)]}, tiny_lm, 1.0) == []  # atoms 1-2 uncovered


def test_lm_path_cache_builds_one_table_per_label_set(tiny_lm):
    calls = []

    class Counting:  # lm_path needs only transition_matrix
        def transition_matrix(self, labels):
            calls.append(labels)
            return tiny_lm.transition_matrix(labels)

    counting = Counting()
    options = {(0, 1): [(-0.5, "무", 0.6), (-0.9, "우", 0.4)], (1, 2): [(0.0, "리", 1.0)]}
    rescored = {span: [(s - 1.0, t, c) for s, t, c in opts] for span, opts in options.items()}
    cache: dict = {}
    first = lines.lm_path(2, options, counting, 1.0, cache=cache)
    assert lines.lm_path(2, rescored, counting, 1.0, cache=cache) == first  # same labels: reused
    assert len(calls) == 1
    lines.lm_path(2, {(0, 2): [(0.0, "가", 1.0)]}, counting, 1.0, cache=cache)  # new labels: built
    assert len(calls) == 2
    assert lines.lm_path(2, options, tiny_lm, 1.0) == first  # no cache: same answer


def test_lm_floor_keeps_a_sure_reading_of_a_syllable_the_model_never_saw(tiny_lm):
    # The crop is clearly '꿿' (never in the word list); '우' is a poor second. The segment
    # classifier says "a syllable", so the unknown reading scores low too. The floor caps the
    # model's penalty at weight * floor = 4 nats, a probability ratio of ~55 (here 98).
    options = {(0, 1): [(math.log(0.98), "꿿", 0.98), (math.log(0.01), "우", 0.01), (-8.0, lines.UNKNOWN, 0.01)]}
    assert tiny_lm.score(None, "꿿") < -10  # unbounded, the model would overrule the crop
    assert lines.lm_path(1, options, tiny_lm, 0.8) == [((0, 1), 1)]
    assert lines.lm_path(1, options, tiny_lm, 0.8, floor=lines.LM_FLOOR) == [((0, 1), 0)]


def test_read_image_with_a_language_model_fixes_an_unsure_reading(tiny_lm):
    image, _ = block_line("##")

    def unsure(batch):  # every crop: '무' 0.5, '우' 0.45 (a face whose ㅇ looks like ㅁ)
        return [("무", 0.5, None, [("무", 0.5), ("우", 0.45), ("리", 0.05)]) for _ in batch]

    def read(**kw):
        cfg = lines.ReadConfig(rare_penalty=0.0, **kw)
        return lines.read_image(image, unsure, image_size=32, config=cfg, lm=tiny_lm).text

    assert read(lm_weight=0.0) == "무무"
    assert read(lm_weight=1.0) == "우우"  # p(우 | 우) and p(우) both beat 무
    # Without alternatives the model's top-1 is all there is to choose from.
    top1 = lines.read_image(image, lambda b: [("무", 0.5)] * len(b), 32, config=lines.ReadConfig(), lm=tiny_lm)
    assert "우" not in top1.text


def test_a_lone_syllable_has_no_context_for_the_language_model(tiny_lm):
    # One block alone: the unigram prior would pull the model's '무' (0.5) to '우' (0.45).
    image, _ = block_line("#")

    def unsure(batch):
        return [("무", 0.5, None, [("무", 0.5), ("우", 0.45), ("리", 0.05)]) for _ in batch]

    cfg = lines.ReadConfig(rare_penalty=0.0, lm_weight=1.0)
    assert lines.read_image(image, unsure, image_size=32, config=cfg, lm=tiny_lm).text == "무"
    two, _ = block_line("##")  # with a neighbour, the context counts (see above)
    assert lines.read_image(two, unsure, image_size=32, config=cfg, lm=tiny_lm).text == "우우"


def test_model_scorer_returns_alternatives_when_asked():
    from types import SimpleNamespace

    p_i, p_m, p_f = np.zeros((1, 19)), np.zeros((1, 21)), np.zeros((1, 28))
    p_i[0, 6], p_i[0, 11] = 0.6, 0.4  # ㅁ, ㅇ
    p_m[0, 13], p_f[0, 0] = 1.0, 1.0  # ㅜ, no final

    class Stub:
        config = SimpleNamespace(split_components=True)

        def probabilities(self, batch, features=False):
            return [p_i, p_m, p_f]

    (item,) = lines.model_scorer(Stub(), alternatives=3)(np.zeros((1, 8, 8), np.uint8))
    syllable, prob, features, alternatives = item
    assert (syllable, features) == ("무", None) and prob == pytest.approx(0.6)
    assert [s for s, _ in alternatives[:2]] == ["무", "우"] and len(alternatives) == 3
    (plain,) = lines.model_scorer(Stub())(np.zeros((1, 8, 8), np.uint8))
    assert len(plain) == 2


def test_build_lm_from_your_own_text_and_read_with_it(tmp_path, capsys, font_path):
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))
    import build_lm

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("서울특별시 강남구 역삼동\n서울특별시 종로구 무악동 12\n", encoding="utf-8")
    out = tmp_path / "addr.npz"
    build_lm.main(["--text", str(corpus), "--output", str(out)])
    assert "pairs" in capsys.readouterr().out
    lm = language.resolve(str(out))
    assert lm is language.resolve(str(out))  # loaded once per file version
    assert lm.log_prob("특", "별") > lm.log_prob("특", "벌")
    # A pair only this corpus knows decides an unsure crop: '역' then '삼' (0.45) or '상' (0.55).
    options = {(0, 1): [(0.0, "역", 1.0)], (1, 2): [(math.log(0.55), "상", 0.55), (math.log(0.45), "삼", 0.45)]}
    assert lines.lm_path(2, options, lm, 1.0)[1] == ((1, 2), 1)
    assert lines.lm_path(2, options, lm, 0.0)[1] == ((1, 2), 0)
    # KoOCR.read takes it by path.
    from PIL import Image, ImageDraw, ImageFont

    from model import KoOCR

    text = "서울 역삼동"
    font = ImageFont.truetype(font_path, 40)
    page = Image.new("L", (int(font.getlength(text)) + 40, 70), 255)
    ImageDraw.Draw(page).text((20, 52), text, font=font, fill=0, anchor="ls")
    ocr = KoOCR(weights="compact48")
    assert ocr.read(np.asarray(page), lm=str(out)).text == text
    with pytest.raises(TypeError, match="SyllableLM"):
        ocr.read(np.asarray(page), lm=3)
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(SystemExit, match="UTF-8"):
        build_lm.main(["--text", str(bad), "--output", str(tmp_path / "x.npz")])
    (tmp_path / "latin.txt").write_text("no hangul here", encoding="utf-8")
    with pytest.raises(SystemExit, match="no word contains a Hangul syllable"):
        build_lm.main(["--text", str(tmp_path / "latin.txt"), "--output", str(tmp_path / "x.npz")])
    with pytest.raises(FileNotFoundError, match="build_lm"):
        language.resolve(str(tmp_path / "missing.npz"))


def test_lm_path_switch_cost_keeps_a_word_in_one_script(tiny_lm):
    # 'Seoul' read 'Seo니': two atoms ('u', 'l') that read as one syllable or as two symbols.
    # With no switch cost the syllable wins; a cost at the unspaced boundary before it tips
    # the balance to the symbols, and none applies across a space.
    options = {
        (0, 1): [(0.0, lines.UNKNOWN, 0.9)],
        (1, 2): [(-0.4, lines.UNKNOWN, 0.9)],
        (2, 3): [(-0.4, lines.UNKNOWN, 0.9)],
        (1, 3): [(-0.5, "니", 0.8)],
    }
    assert lines.lm_path(3, options, tiny_lm, 0.0) == [((0, 1), 0), ((1, 3), 0)]
    glued = np.array([0.0, 1.0, 1.0, 0.0])
    assert lines.lm_path(3, options, tiny_lm, 0.0, switch=glued) == [((0, 1), 0), ((1, 2), 0), ((2, 3), 0)]
    spaced = np.array([0.0, 0.0, 1.0, 0.0])
    assert lines.lm_path(3, options, tiny_lm, 0.0, switch=spaced) == [((0, 1), 0), ((1, 3), 0)]


def test_lm_path_symbol_run_reads_a_run_of_sure_symbols_as_symbols(tiny_lm):
    # '7:' read '가': two atoms that read as one syllable or as two symbols, each charged
    # the symbol prior. A bonus at the unspaced boundary between two unknown boxes, times
    # the lesser sureness, tips it to the symbols only where both boxes are sure symbols.
    options = {
        (0, 1): [(-2.0, lines.UNKNOWN, 0.9)],
        (1, 2): [(-2.0, lines.UNKNOWN, 0.9)],
        (0, 2): [(-3.0, "가", 0.8)],
    }
    merged, apart = [((0, 2), 0)], [((0, 1), 0), ((1, 2), 0)]
    assert lines.lm_path(2, options, tiny_lm, 0.0) == merged
    run = np.array([0.0, 2.0, 0.0])
    assert lines.lm_path(2, options, tiny_lm, 0.0, run=run) == apart  # sure=None: 1 each
    assert lines.lm_path(2, options, tiny_lm, 0.0, run=run, sure={(0, 1): 1.0, (1, 2): 0.9}) == apart  # +1.8
    # a piece the classifier cannot name: 2 x 0.2 = 0.4 back is not enough
    assert lines.lm_path(2, options, tiny_lm, 0.0, run=run, sure={(0, 1): 1.0, (1, 2): 0.2}) == merged
    assert lines.lm_path(2, options, tiny_lm, 0.0, run=run, sure={(0, 1): 1.0}) == merged  # missing: 0
    assert lines.lm_path(2, options, tiny_lm, 0.0, run=np.zeros(3), sure={(0, 1): 1.0, (1, 2): 1.0}) == merged


def test_decode_line_symbol_run_only_between_unspaced_sure_boxes(tiny_lm):
    def atoms(gap):  # three syllables 10 px apart, then two 10 px atoms `gap` px apart
        head = [lines.Atom(x, x + 30, 0, 30, (k + 1,)) for k, x in enumerate([0, 40, 80])]
        return head + [lines.Atom(130, 140, 0, 30, (4,)), lines.Atom(140 + gap, 150 + gap, 0, 30, (5,))]

    options = {(k, k + 1): [(0.0, "우", 0.9)] for k in range(3)}
    options |= {
        (3, 4): [(-2.0, lines.UNKNOWN, 0.9)],
        (4, 5): [(-2.0, lines.UNKNOWN, 0.9)],
        (3, 5): [(-3.0, "가", 0.8)],
    }
    sure = {(3, 4): 0.9, (4, 5): 0.9}
    cfg = lines.ReadConfig(symbol_run=2.0, pitch_weight=0.0, lm_weight=1e-9)  # the LM's terms ~0

    def labels(gap, cfg=cfg, sure=sure):
        return [r[1] for _, r in lines.decode_line(atoms(gap), options, cfg, tiny_lm, height=30.0, sure=sure)][3:]

    assert lines.ReadConfig().symbol_run > 0  # on by default
    assert lines._tight_boundaries(atoms(2), 30.0, cfg).tolist() == [False, False, False, False, True, False]
    assert labels(2) == [lines.UNKNOWN, lines.UNKNOWN]
    assert labels(20) == ["가"]  # 20 px > switch_gap (0.25 H): no bonus across a space
    assert labels(2, sure=None) == ["가"]  # no classifier: no bonus
    assert labels(2, dataclasses.replace(cfg, symbol_run=0.0)) == ["가"]


def test_symbol_sureness_is_p_symbol_times_the_mass_of_the_likeliest_look_alike_group():
    rng = np.random.default_rng(0)
    feats, geom = rng.normal(size=(3, 4)), rng.normal(size=(3, len(segments.GEOMETRY)))
    d = feats.shape[1] + geom.shape[1]
    clf = segments.SegmentClassifier(
        np.zeros(d), np.ones(d), rng.normal(size=(d, 3)), np.zeros(3),
        symbol_weights=rng.normal(size=(d, 2)), symbol_bias=np.zeros(2), symbols="12",
    )  # fmt: skip
    spans = [(0, 1), (1, 2), (0, 2)]
    logp = clf.log_probs(feats, geom)
    sure = lines._symbol_sureness(spans, logp, lines._symbol_names(feats, geom, clf))
    _, p_name = clf.name_symbols(feats, geom)  # '1' and '2' do not look alike: the name alone
    assert list(sure) == spans
    assert np.allclose(list(sure.values()), np.exp(logp[:, segments.SYMBOL]) * p_name)
    assert all(0.0 <= v <= 1.0 for v in sure.values())
    # '(' and '1' do: the head's doubt between them is no doubt that the box is a symbol.
    alike = dataclasses.replace(clf, symbols="(1")
    sure = lines._symbol_sureness(spans, logp, lines._symbol_names(feats, geom, alike))
    assert np.allclose(list(sure.values()), np.exp(logp[:, segments.SYMBOL]))
    names, p_best, _ = lines._symbol_names(feats, geom, alike)
    assert (p_best < 1.0).all() and set(names) <= {"(", "1"}  # naming still takes the likeliest alone
    assert lines._symbol_sureness(spans, None, None) is None  # no classifier
    plain = dataclasses.replace(clf, symbol_weights=None, symbol_bias=None, symbols="")  # no symbol head
    assert np.allclose(list(lines._symbol_sureness(spans, logp, lines._symbol_names(feats, geom, plain)).values()), np.exp(logp[:, segments.SYMBOL]))


def test_decode_line_switch_cost_only_where_no_space(tiny_lm):
    def atoms(gap):  # three 10 px atoms 2 px apart, the last `gap` px further
        return [lines.Atom(x, x + 10, 0, 30, (k + 1,)) for k, x in enumerate([0, 12, 24 + gap])]

    options = {
        (0, 1): [(0.0, lines.UNKNOWN, 0.9)],
        (1, 2): [(0.0, "가", 0.9), (-0.3, lines.UNKNOWN, 0.5)],
        (2, 3): [(0.0, "나", 0.9)],
    }
    cfg = lines.ReadConfig(switch_cost=1.0, pitch_weight=0.0, lm_weight=1e-9)  # the LM's terms ~0

    def labels(gap, cfg=cfg):
        return [r[1] for _, r in lines.decode_line(atoms(gap), options, cfg, tiny_lm, height=30.0)]

    assert lines._switch_costs(atoms(0), 30.0, cfg).tolist() == [0.0, 1.0, 1.0, 0.0]
    assert lines._switch_costs(atoms(20), 30.0, cfg).tolist() == [0.0, 1.0, 0.0, 0.0]  # 22 px > 0.25 H
    # Spaced before '나': '?가' switches once more than '??', which wins; glued, both switch once.
    assert labels(20) == [lines.UNKNOWN, lines.UNKNOWN, "나"]
    assert labels(0) == [lines.UNKNOWN, "가", "나"]
    assert labels(20, dataclasses.replace(cfg, switch_cost=0.0)) == [lines.UNKNOWN, "가", "나"]
