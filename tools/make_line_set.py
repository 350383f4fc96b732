"""Builds the line test set: Korean sentences rendered with fonts held out of training.

    python tools/make_line_set.py                          # val_data/lines/{printed,handwriting}
    python tools/make_line_set.py --count 300 --seed 0 --output val_data/lines
    python tools/make_line_set.py --split train --output val_data/lines_dev   # tuning set
    python tools/make_line_set.py --chars 200              # also val_data/chars/... single glyphs
    python tools/make_line_set.py --capture photo --output val_data/lines_photo   # phone photos
    python tools/make_line_set.py --words --output val_data/words   # short inputs: 1-2 words
    python tools/make_line_set.py --blocks --output val_data/blocks   # blocks of 2-3 lines
    python tools/make_line_set.py --short_words --count 60 --output val_data/short_words
    python tools/make_line_set.py --mixed --count 60 --output val_data/mixed   # Latin, jamo
    python tools/make_line_set.py --numbers --count 120 --output val_data/numbers   # digits, marks
    python tools/make_line_set.py --documents --count 100 --output val_data/documents   # title + small print

Each style folder holds ``NNNN.png`` (one text line) and ``NNNN.txt`` (its truth). The
sentences are written / composed below (no downloaded corpus): 5-25 syllables, mostly
Hangul with word spaces, some digits and punctuation (read as unknown boxes) and, rarely,
syllables outside KS X 1001. Printed lines use the split's printed fonts; handwriting
lines its handwriting-style fonts with the ``handwriting`` augmentation applied to each
character separately. Every line gets a random font size, letter spacing, a slight
rotation and noise; a few printed lines are inverted (light text on dark). ``--capture
photo`` makes each line a phone photo instead (:data:`koocr.linegen.PHOTO`: grey paper lit
from one side, soft focus, noise, JPEG), 40 % of them on ruled paper (a rule under or
touching the text, :func:`koocr.linegen.ruled`). ``--short_words`` renders lines made mostly
of one-syllable words (:data:`SHORT_WORD_SENTENCES`, in turn), where about half or more of
the syllable pairs are word spaces. ``--mixed`` renders lines that mix Hangul with Latin words
and acronyms, digits and bare jamo (:data:`MIXED_SENTENCES`, in turn). ``--numbers`` renders
lines built round numbers: phone numbers, prices, dates, clock times (:data:`NUMBER_TEMPLATES`).
``--documents`` renders document excerpts: a title, body lines and small print, each kind at
its own size (:func:`make_documents`, :func:`render_document`).
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from koocr import hangul, lines  # noqa: E402
from koocr.fonts import load_manifest  # noqa: E402
from koocr.linegen import finish, line_baseline, photographed, render_line, ruled, stack  # noqa: E402

SENTENCES = """
오늘은 날씨가 정말 좋습니다
내일 아침에 도서관에서 만나요
우리 집 고양이는 낮잠을 좋아한다
커피 한 잔 마시고 일을 시작했다
지하철이 늦게 와서 지각했어요
주말에는 가족과 함께 산에 갑니다
이 책은 생각보다 훨씬 재미있었다
창문을 열면 바다가 보인다
배가 고파서 라면을 끓였다
비가 와서 우산을 챙겼습니다
어머니께서 김치찌개를 만들어 주셨다
한국어 문자 인식은 어렵지 않다
친구에게 긴 편지를 썼다
저녁 노을이 아주 아름답네요
학생들이 운동장에서 축구를 한다
시장에서 사과와 배를 샀어요
할머니 댁은 시골에 있습니다
새로운 프로그램을 설치했다
겨울에는 눈이 많이 내린다
버스 정류장은 저기 모퉁이에 있어요
동생이 피아노를 열심히 연습한다
회의는 세 시에 시작합니다
작은 꽃들이 길가에 피었다
기차표를 미리 예매해 두었다
냉장고에 우유가 하나도 없네
봄바람이 살랑살랑 불어온다
그 영화는 끝이 너무 슬펐다
선생님께 질문을 드렸습니다
공원에서 자전거를 탔어요
밤하늘에 별이 가득하다
따뜻한 차를 한 잔 드세요
숙제를 다 끝내고 잠을 잤다
강아지가 꼬리를 흔들며 달려왔다
이번 여름 휴가는 제주도로 간다
전화번호를 다시 한 번 알려 주세요
아이들이 놀이터에서 웃고 있다
바쁜 하루가 드디어 끝났다
새벽에 일어나 조깅을 했다
엘리베이터가 고장 나서 계단으로 올라갔다
사진을 찍어서 친구에게 보냈어요
맛있는 빵 냄새가 골목에 퍼졌다
할 일이 많아도 천천히 하자
수업이 끝나면 바로 집에 갈게
눈을 감고 음악을 들었다
오래된 시계가 멈춰 버렸다
편의점에서 도시락을 샀습니다
길을 잃어서 지도를 펼쳤다
뜨거운 국물이 속을 달래 주었다
바닷가 모래 위를 맨발로 걸었다
가을 하늘은 높고 푸르다
손을 깨끗이 씻으세요
병원 예약을 내일로 미뤘다
책상 위에 연필과 지우개가 있다
우리는 다음 달에 이사를 간다
노래방에서 목이 쉬도록 불렀다
동네 빵집이 새로 문을 열었다
휴대폰 배터리가 거의 다 닳았다
점심은 비빔밥으로 먹을까요
소나기가 그치고 무지개가 떴다
감기에 걸려서 하루 종일 누워 있었다
오랜만에 고향 친구를 만났다
박물관은 월요일에 쉽니다
뒷마당에 토마토를 심었다
첫눈이 오면 연락할게
빨래가 햇볕에 잘 말랐다
이 길로 쭉 가면 역이 나와요
꿈에서 하늘을 날아다녔다
회사 앞 식당은 늘 붐빈다
조용한 카페에서 책을 읽었다
괜찮아 다 잘될 거야
똠양꿍을 처음 먹어 보았다
햏자들이 모여서 떠들었다
뷁 소리에 모두 웃었다
쌰쌰 하고 바람이 불었다
""".strip().splitlines()

# Composed sentences: a time, a person, a place, and something done there.
TIMES = ["아침에", "오후에", "저녁에", "어제", "오늘", "내일", "주말에", "방금", "가끔", "매일"]
PEOPLE = ["나는", "동생은", "친구가", "선생님은", "아버지는", "우리 반 학생들이", "이웃집 아저씨가", "언니는"]
PLACES = ["학교에서", "시장에서", "공원에서", "바닷가에서", "도서관에서", "부엌에서", "역 앞에서", "회사에서"]
ACTS = [
    "책을 읽었다", "밥을 먹었다", "노래를 불렀다", "편지를 썼다", "사진을 찍었다", "그림을 그렸다",
    "친구를 기다렸다", "물건을 팔았다", "운동을 했다", "빵을 구웠다", "숙제를 했다", "산책을 했다",
]  # fmt: skip
# Lines with digits and punctuation: they exercise the unknown boxes.
NUMERIC = [
    "{n}월 {d}일에 만나요.", "가격은 {p}원입니다!", "{n}시 {m}분 기차를 탔다.", "정말요?",
    "지금 {n}층에 있어요.", "사과 {n}개, 배 {d}개", "오늘 기온은 {n}도!", "{p}번 버스를 타세요.",
    "방 번호는 {p}호입니다.", "와, 벌써 {n}시네?",
]  # fmt: skip


def n_syllables(text: str) -> int:
    return sum(hangul.is_syllable(c) for c in text)


# Lines of mostly one-syllable words: 46-100 % of their syllable pairs are spaced, which
# a reader that takes the median syllable distance for the pitch reads without spaces.
SHORT_WORD_SENTENCES = """
그 집 앞에 큰 개가 한 마리 있다
이 일은 내 몫이 아닌 그 사람 몫
나는 새 옷 두 벌과 흰 신 한 켤레를 샀다
저 산 위에 흰 눈이 꽤 많이 왔다
네 말이 다 옳다 난 잘 몰랐어
밤 새 비가 또 왔고 길이 좀 젖었다
그 애는 늘 웃고 참 잘 논다
큰 배 한 척이 저 멀리 떠 간다
손 잘 씻고 밥 먹자 곧 갈게
이 책 좀 봐 꽤 재미 있어
새 해 첫 날 해 뜨는 걸 봤다
너 왜 또 늦게 왔니 좀 서둘러
나 이제 막 집에 와서 밥 먹어
그 개 참 귀엽다 털이 희고 눈이 검다
물 한 잔 주세요 찬 물로요
오늘 할 일 다 끝내고 쉬자
저 차 참 빠르다 꼭 새 같다
이 옷 좀 커 한 치수 작은 걸로
문 좀 닫아 줘 바람 분다
그 말 들으니 참 기쁘다
돈 좀 빌려 줘 곧 갚을게
꽃 핀 길 따라 쭉 걸었다
난 네 편이야 늘 그랬어
비 와서 못 갔다 또 가자
저 새 봐 참 높이 난다
한 번 더 해 봐 될 거야
불 꺼 줘 잠 좀 자자
눈 감고 숨 크게 쉬어 봐
이 땅 저 땅 다 내 땅
그 분 성함이 뭐였죠 꼭 알려 주세요
""".strip().splitlines()

# Lines mixing Hangul with Latin words and acronyms, digits and bare jamo (ㅋㅋ, ㅠㅠ): none of
# those is a syllable, so each must come out as itself or as the unknown marker, not as a
# look-alike syllable (Latin 'L' as '느', 'ㅋ' as '크').
MIXED_SENTENCES = """
USB 메모리를 새로 샀다
TV를 켜고 뉴스를 봤다
KTX 열차 3호차 12번 좌석
Hello 안녕하세요 반가워요
OK 좋아요 그렇게 해요
LG 전자 매장에 들렀다
CEO 회의는 10시에 시작한다
ABC 마트에서 운동화를 샀다
E-mail 주소를 알려 주세요
IT 기업에 취직했다
SNS 광고가 너무 많다
ㅋㅋㅋ 진짜 웃겨
너무 슬프다 ㅠㅠ
ㅎㅎ 고마워
알겠어 ㅇㅇ 내일 봐
PC방에서 친구를 만났다
AI 기술이 빠르게 발전한다
ATM 기기에서 돈을 뽑았다
GPS가 길을 잘못 알려 줬다
LED 조명으로 바꿨다
Seoul 서울 Korea 한국
Wi-Fi 비밀번호가 뭐예요
카페 이름은 Blue Moon 이다
DNA 검사 결과가 나왔다
ㄱㄴㄷ 순서로 정리하세요
오늘 날씨 정말 좋다 ㅎㅎㅎ
NASA 우주선 발사 성공
CD 한 장에 5000원
BTS 노래를 들었다
MP3 파일을 보냈어
""".strip().splitlines()


# Lines where numbers carry the meaning, as in receipts, forms, signs and messages: phone
# numbers, prices with thousands commas, dates, clock times, percentages, decimals, ranges.
# The marks between digits ('-', ',', ':', '.') and the digits beside syllables are what
# a reader most easily merges into a look-alike syllable ('4' as '나', '-3' as '그').
NUMBER_TEMPLATES = [
    "전화번호는 010-{a4}-{b4} 입니다", "문의 02-{a3}-{b4}", "가격은 {price}원입니다", "합계 {price}원",
    "{year}년 {month}월 {day}일", "{year}.{mm}.{dd} 개업", "오후 {hour}:{minute}에 만나요", "{hour}시 {m}분 출발",
    "할인율 {pct}%", "키는 1{n2}.{d}cm 입니다", "{n}~{n2}명 모집", "{n}층 {n3}호", "우편번호 {zip}",
    "시속 {n2}km로 달렸다", "제{n}회 졸업식", "{n}번 출구로 나오세요", "점수는 {n2}/{n3}점", "1+1 행사 ({month}월)",
    "No. {n3} 영수증", "{n}인분 {price}원", "약 {n}.{d}% 증가", "{year}-{mm}-{dd} 마감", "({n}) 다음 문제", "{n}월 {day}일 {hour}:{minute}",
]  # fmt: skip


def make_numbers(count: int, rng: np.random.Generator) -> list[str]:
    """``count`` lines from :data:`NUMBER_TEMPLATES`, in turn, filled with random numbers."""
    out = []
    for template in in_turn(NUMBER_TEMPLATES, count):
        hour, minute = int(rng.integers(1, 13)), int(rng.integers(0, 60))
        month, day = int(rng.integers(1, 13)), int(rng.integers(1, 29))
        out.append(
            template.format(
                a4=rng.integers(1000, 10000), b4=rng.integers(1000, 10000), a3=rng.integers(100, 1000),
                price=f"{int(rng.integers(1, 500)) * 100:,}", year=rng.integers(1980, 2031), month=month,
                day=day, mm=f"{month:02d}", dd=f"{day:02d}", hour=hour, minute=f"{minute:02d}", m=minute,
                pct=rng.integers(5, 91), n=rng.integers(1, 10), n2=rng.integers(10, 100), n3=rng.integers(100, 1000),
                d=rng.integers(0, 10), zip=f"{int(rng.integers(0, 100000)):05d}",
            )  # fmt: skip
        )
    return out


def in_turn(sentences: list[str], count: int) -> list[str]:
    """``count`` sentences taken in turn, from the first again after the last."""
    return list(itertools.islice(itertools.cycle(sentences), count))


def make_sentences(count: int, rng: np.random.Generator) -> list[str]:
    """``count`` distinct sentences of 5-25 syllables: the written ones, then composed."""
    out = list(dict.fromkeys(s.strip() for s in SENTENCES if s.strip()))
    seen = set(out)
    numeric_left = max(count // 10, 1)
    tries = 0
    while len(out) < count and tries < 100 * count:
        tries += 1
        if numeric_left and rng.random() < 0.3:
            text = NUMERIC[rng.integers(len(NUMERIC))].format(
                n=rng.integers(1, 13), d=rng.integers(1, 31), m=rng.integers(0, 60), p=rng.integers(10, 999) * 10
            )
        else:
            parts = [TIMES[rng.integers(len(TIMES))], PEOPLE[rng.integers(len(PEOPLE))]]
            parts += [PLACES[rng.integers(len(PLACES))], ACTS[rng.integers(len(ACTS))]]
            if rng.random() < 0.3:
                parts = parts[1:]
            text = " ".join(parts) + ("." if rng.random() < 0.15 else "")
        if text in seen or not 5 <= n_syllables(text) <= 25:
            continue
        numeric_left -= any(c.isdigit() for c in text)
        seen.add(text)
        out.append(text)
    out = [s for s in out if 5 <= n_syllables(s) <= 25]
    order = rng.permutation(len(out))
    return [out[i] for i in order[:count]]


def make_words(sentences: list[str], count: int, rng: np.random.Generator) -> list[str]:
    """``count`` distinct short inputs: one word or two words in a row of ``sentences``."""
    pieces = set()
    for sentence in sentences:
        words = sentence.split()
        pieces.update(words)
        pieces.update(" ".join(words[k : k + 2]) for k in range(len(words) - 1))
    ones = sorted(p for p in pieces if " " not in p and n_syllables(p))
    twos = sorted(p for p in pieces if " " in p)
    out: list[str] = []
    seen: set[str] = set()
    tries = 0
    while len(out) < count and tries < 100 * count:
        tries += 1
        pool = twos if rng.random() < 0.3 else ones
        text = pool[rng.integers(len(pool))]
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def make_blocks(sentences: list[str], words: list[str], count: int, seed: int) -> list[str]:
    """``count`` blocks of 2-3 lines ('\\n'-separated), each line a sentence or a short input."""
    rng = np.random.default_rng([seed, 3])
    out = []
    for _ in range(count):
        pool = words if rng.random() < 0.5 else sentences
        out.append("\n".join(pool[rng.integers(len(pool))] for _ in range(int(rng.integers(2, 4)))))
    return out


# A document excerpt: a title, body lines, then small print (a note, a caption), each kind
# at its own size in one font: (size range against the body size, rows).
DOCUMENT_TITLE = (1.5, 2.2)
DOCUMENT_SMALL = (0.55, 0.75)
DOCUMENT_MIN_SMALL = 14  # px: small print is never smaller
DOCUMENT_KINDS = ("title", "body", "small")


def make_documents(sentences: list[str], words: list[str], count: int, seed: int) -> list[list[tuple[str, str]]]:
    """``count`` document excerpts, each ``[(kind, text), ...]`` top to bottom: a title (a
    short input), 2-3 body lines and 1-2 lines of small print (sentences)."""
    rng = np.random.default_rng([seed, 5])
    out = []
    for _ in range(count):
        rows = [("title", words[rng.integers(len(words))])]
        rows += [("body", sentences[rng.integers(len(sentences))]) for _ in range(int(rng.integers(2, 4)))]
        rows += [("small", sentences[rng.integers(len(sentences))]) for _ in range(int(rng.integers(1, 3)))]
        out.append(rows)
    return out


def render_document(rows, font, size: int, tracking: float, rng, distortion: str | None) -> np.ndarray:
    """A document excerpt (see :func:`make_documents`) with body text of ``size`` px: the
    title 1.5-2.2 and the small print 0.55-0.75 times as big (at least 14 px), each row
    1.2-1.6 of its own size under the last, plus 0.3-0.8 of the larger size where the kind
    changes (a paragraph's space)."""
    sizes = {
        "title": int(round(size * rng.uniform(*DOCUMENT_TITLE))),
        "body": size,
        "small": max(DOCUMENT_MIN_SMALL, int(round(size * rng.uniform(*DOCUMENT_SMALL)))),
    }
    lines_, baselines, pitches = [], [], []
    for k, (kind, text) in enumerate(rows):
        lines_.append(render_line(text, font, sizes[kind], tracking, rng, distortion))
        baselines.append(line_baseline(font, sizes[kind]))
        if k:
            before = rows[k - 1][0]
            pitch = rng.uniform(1.2, 1.6) * sizes[kind]
            if before != kind:
                pitch += rng.uniform(0.3, 0.8) * max(sizes[kind], sizes[before])
            pitches.append(pitch)
    return stack(lines_, pitches, baselines)


NUMBERED = re.compile(r"\d{4,}\.(png|txt)")  # what this tool writes: 0000.png + 0000.txt


def clear_set(folder: str) -> None:
    """Removes a previous run's numbered files, so a shorter re-run leaves no stale lines."""
    old = [n for n in os.listdir(folder) if NUMBERED.fullmatch(n) or n == lines.FONTS_FILE]
    for name in old:
        os.remove(os.path.join(folder, name))
    if old:
        print(f"{folder}: removed {len(old)} files of the previous set")


def covering(fonts, text: str, rng):
    usable = [f for f in fonts if all(c.isspace() or f.covers(c) for c in text)]
    return usable[rng.integers(len(usable))] if usable else None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--output", default="val_data/lines", help="folder for printed/ and handwriting/")
    p.add_argument("--count", type=int, default=300, help="sentences (each rendered once per style)")
    p.add_argument("--split", default="test", choices=["test", "train"], help="font split; test = held out")
    p.add_argument("--chars", type=int, default=None, help="also write this many single-glyph images per style")
    p.add_argument("--chars_output", default="val_data/chars", help="folder for the single glyphs")
    p.add_argument(
        "--capture", default="clean", choices=["clean", "photo"],
        help="photo: every line on grey paper lit from one side, soft, noisy, JPEG; 40 %% on ruled paper",
    )
    shape = p.add_mutually_exclusive_group()
    shape.add_argument(
        "--words", action="store_true",
        help="short inputs instead of sentences: one or two words in a row, with their marks",
    )
    shape.add_argument(
        "--blocks", action="store_true",
        help="blocks of 2-3 lines (sentences or short inputs) in one font and size",
    )
    shape.add_argument(
        "--documents", action="store_true",
        help="document excerpts in one font: a title, 2-3 body lines and 1-2 lines of small print, each its own size",
    )
    shape.add_argument(
        "--short_words", action="store_true",
        help="lines of mostly one-syllable words (about half or more of the pairs spaced), in turn",
    )
    shape.add_argument(
        "--mixed", action="store_true",
        help="lines mixing Hangul with Latin words, acronyms, digits and bare jamo, in turn",
    )
    shape.add_argument(
        "--numbers", action="store_true",
        help="lines built round numbers: phone numbers, prices, dates, times, percentages (templates in turn)",
    )
    p.add_argument(
        "--pitch", type=float, nargs=2, default=(1.1, 1.6), metavar=("LOW", "HIGH"),
        help="--blocks: range of the distance between baselines, in em",
    )
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.count < 1:
        p.error(f"--count must be >= 1. Received: {args.count}")
    if args.chars is not None and args.chars < 1:
        p.error(f"--chars must be >= 1 (leave it out for none). Received: {args.chars}")
    if not 0 < args.pitch[0] <= args.pitch[1]:
        p.error(f"--pitch needs 0 < LOW <= HIGH. Received: {args.pitch}")
    documents = None
    if args.words or args.blocks or args.documents:  # cut from a larger pool of sentences: enough distinct words
        pool = make_sentences(max(args.count, 300), np.random.default_rng(args.seed))
        words = make_words(pool, max(args.count, 300), np.random.default_rng([args.seed, 2]))
        if args.documents:
            documents = make_documents(pool, words, args.count, args.seed)
            sentences = ["\n".join(text for _, text in rows) for rows in documents]
        else:
            sentences = words[: args.count] if args.words else make_blocks(pool, words, args.count, args.seed)
    elif args.short_words:
        sentences = in_turn(SHORT_WORD_SENTENCES, args.count)
    elif args.mixed:
        sentences = in_turn(MIXED_SENTENCES, args.count)
    elif args.numbers:
        sentences = make_numbers(args.count, np.random.default_rng([args.seed, 4]))
    else:
        sentences = make_sentences(args.count, np.random.default_rng(args.seed))
    for index, (style, distortion) in enumerate((("printed", None), ("handwriting", "handwriting"))):
        rng = np.random.default_rng([args.seed, index])  # per style: --chars never shifts the lines
        fonts = load_manifest(style=style, split=args.split)
        if not fonts:
            print(f"No {style} fonts of split {args.split}", file=sys.stderr)
            return 2
        folder = os.path.join(args.output, style)
        os.makedirs(folder, exist_ok=True)
        clear_set(folder)
        written, used = 0, []
        for n, text in enumerate(sentences):
            font = covering(fonts, text, rng)
            if font is None:  # never render tofu
                continue
            size = int(rng.integers(22, 49))
            tracking = float(rng.uniform(-0.02, 0.12))
            if documents is not None:
                line = render_document(documents[n], font, size, tracking, rng, distortion)
            elif args.blocks:
                rows = [render_line(row, font, size, tracking, rng, distortion) for row in text.split("\n")]
                line = stack(rows, float(rng.uniform(*args.pitch)) * size)
            else:
                line = render_line(text, font, size, tracking, rng, distortion)
            invert = style == "printed" and rng.random() < 0.1
            if args.capture == "photo":
                line = ruled(line, rng) if rng.random() < 0.4 else line
                image = photographed(finish(line, rng, False), rng)
                image = 255 - image if invert else image
            else:
                image = finish(line, rng, invert)
            Image.fromarray(image).save(os.path.join(folder, f"{written:04d}.png"))
            with open(os.path.join(folder, f"{written:04d}.txt"), "w", encoding="utf-8") as fh:
                fh.write(text + "\n")
            used.append(f"{written:04d}.png\t{font.name}\n")
            written += 1
        with open(os.path.join(folder, lines.FONTS_FILE), "w", encoding="utf-8") as fh:
            fh.writelines(used)  # evaluate.py --lines reports CER per font from it
        print(f"{folder}: {written} lines from {len(fonts)} {style} fonts ({[f.name for f in fonts]})")
        if args.chars:
            write_chars(args, style, fonts, distortion, np.random.default_rng([args.seed, index, 1]))
    return 0


def write_chars(args, style, fonts, distortion, rng) -> None:
    """Single syllables (KS X 1001) for the character-mode comparison."""
    folder = os.path.join(args.chars_output, style)
    os.makedirs(folder, exist_ok=True)
    clear_set(folder)
    charset = hangul.ks2350()
    for k in range(args.chars):
        char = charset[rng.integers(len(charset))]
        font = covering(fonts, char, rng)
        size = int(rng.integers(24, 64))
        glyph = render_line(char, font, size, 0.0, rng, distortion)
        Image.fromarray(finish(glyph, rng, False)).save(os.path.join(folder, f"{k:04d}.png"))
        with open(os.path.join(folder, f"{k:04d}.txt"), "w", encoding="utf-8") as fh:
            fh.write(char + "\n")
    print(f"{folder}: {args.chars} single glyphs")


if __name__ == "__main__":
    from koocr.cli import run

    sys.exit(run(main))
