"""Builds ``fonts/``: subset WOFF2 files, licences and ``manifest.json``.

Only the fonts of /work/shared/FONTS.md are used: Debian font packages under
/usr/share/fonts and @fontsource npm packages. Each design is subset to Hangul
syllables U+AC00-D7A3, compatibility jamo U+3131-318E and ASCII 0x20-0x7E, verified by
rendering every syllable (ink, and a bitmap no other syllable shares), deduplicated
against designs already kept, and listed in ``fonts/manifest.json``.

Exact commands (from the repository root):

    sudo apt-get install fonts-nanum fonts-nanum-extra fonts-nanum-coding \
        fonts-naver-d2coding fonts-noto-cjk fonts-woowa-bm fonts-unfonts-core \
        fonts-unfonts-extra fonts-baekmuk fonts-alee fonts-lexi-gulim fonts-lexi-saebom
    python tools/build_fonts.py                # downloads npm tarballs into build/fontsource
    python tools/build_fonts.py --workers 1    # same result, one process

The npm packages are fetched with ``npm pack @fontsource/NAME`` (cached in --npm-dir).
"""

from __future__ import annotations

import argparse
import glob
import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
from fontTools import subset
from fontTools.merge import Merger
from fontTools.merge import Options as MergeOptions
from fontTools.ttLib import TTCollection, TTFont
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from koocr.fonts import draw_char, verify_chars  # noqa: E402
from koocr.hangul import all_syllables, ks2350  # noqa: E402

DEB = "/usr/share/fonts"
UNICODES = [*range(0xAC00, 0xD7A4), *range(0x3131, 0x318F), *range(0x20, 0x7F)]
LICENSES = {  # package -> (licence name, full text appended when the copyright only refers to it)
    "fonts-nanum": ("OFL-1.1", None),
    "fonts-nanum-extra": ("OFL-1.1", None),
    "fonts-nanum-coding": ("OFL-1.1", None),
    "fonts-naver-d2coding": ("OFL-1.1", None),
    "fonts-noto-cjk": ("OFL-1.1", None),
    "fonts-woowa-bm": ("OFL-1.1", None),
    "fonts-unfonts-core": ("GPL-2", "/usr/share/common-licenses/GPL-2"),
    "fonts-unfonts-extra": ("GPL-2", "/usr/share/common-licenses/GPL-2"),
    "fonts-baekmuk": ("Baekmuk", None),
    "fonts-alee": ("Artistic", "/usr/share/common-licenses/Artistic"),
    "fonts-lexi-gulim": ("GPL-2", "/usr/share/common-licenses/GPL-2"),
    "fonts-lexi-saebom": ("GPL-2", "/usr/share/common-licenses/GPL-2"),
}


@dataclass(frozen=True)
class Candidate:
    """One design to try. ``src`` is a file under /usr/share/fonts or an npm package."""

    name: str
    family: str
    style: str
    pkg: str  # Debian package or npm package (without @fontsource/)
    src: str  # Debian: path relative to DEB; npm: weight, e.g. "400"
    face: str = ""  # TTC: full name (name ID 4) of the face to pick

    @property
    def npm(self) -> bool:
        return not self.pkg.startswith("fonts-")

    @property
    def source(self) -> str:
        return f"npm:@fontsource/{self.pkg}" if self.npm else f"debian:{self.pkg}"


# fmt: off
P, H = "printed", "handwriting"
N, NX, UC, UX, BM = "truetype/nanum", "truetype/nanum", "truetype/unfonts-core", "truetype/unfonts-extra", "truetype/woowa-bm"
# Debian first: when an npm design duplicates a Debian one, the Debian file is kept.
# Several weights of a family are listed only where they look clearly different.
CANDIDATES = [
    Candidate("NanumGothic", "Nanum Gothic", P, "fonts-nanum", f"{N}/NanumGothic.ttf"),
    Candidate("NanumGothicExtraBold", "Nanum Gothic", P, "fonts-nanum", f"{N}/NanumGothicExtraBold.ttf"),
    Candidate("NanumMyeongjo", "Nanum Myeongjo", P, "fonts-nanum", f"{N}/NanumMyeongjo.ttf"),
    Candidate("NanumMyeongjoExtraBold", "Nanum Myeongjo", P, "fonts-nanum", f"{N}/NanumMyeongjoExtraBold.ttf"),
    Candidate("NanumBarunGothic", "Nanum Barun Gothic", P, "fonts-nanum", f"{N}/NanumBarunGothic.ttf"),
    Candidate("NanumBarunGothicUltraLight", "Nanum Barun Gothic", P, "fonts-nanum", f"{N}/NanumBarunGothicUltraLight.ttf"),
    Candidate("NanumSquareR", "Nanum Square", P, "fonts-nanum", f"{N}/NanumSquareR.ttf"),
    Candidate("NanumSquareEB", "Nanum Square", P, "fonts-nanum", f"{N}/NanumSquareEB.ttf"),
    Candidate("NanumSquareRoundR", "Nanum Square Round", P, "fonts-nanum", f"{N}/NanumSquareRoundR.ttf"),
    Candidate("NanumSquareRoundEB", "Nanum Square Round", P, "fonts-nanum", f"{N}/NanumSquareRoundEB.ttf"),
    Candidate("NanumGothicEcoR", "Nanum Gothic Eco", P, "fonts-nanum-extra", f"{NX}/NanumGothicEcoR.ttf"),
    Candidate("NanumMyeongjoEcoR", "Nanum Myeongjo Eco", P, "fonts-nanum-extra", f"{NX}/NanumMyeongjoEcoR.ttf"),
    Candidate("NanumPen", "Nanum Pen", H, "fonts-nanum-extra", f"{NX}/NanumPen.ttf"),
    Candidate("NanumBrush", "Nanum Brush", H, "fonts-nanum-extra", f"{NX}/NanumBrush.ttf"),
    Candidate("NanumBarunpenR", "Nanum Barunpen", H, "fonts-nanum-extra", f"{NX}/NanumBarunpenR.ttf"),
    Candidate("NanumBarunpenB", "Nanum Barunpen", H, "fonts-nanum-extra", f"{NX}/NanumBarunpenB.ttf"),
    Candidate("NanumGothicCoding", "Nanum Gothic Coding", P, "fonts-nanum-coding", f"{N}/NanumGothicCoding.ttf"),
    Candidate("D2Coding", "D2Coding", P, "fonts-naver-d2coding",
              "truetype/naver-d2coding/D2Coding-Ver1.3.2-20180524-all.ttc", face="D2Coding"),
    Candidate("NotoSansCJKkrRegular", "Noto Sans CJK KR", P, "fonts-noto-cjk",
              "opentype/noto/NotoSansCJK-Regular.ttc", face="Noto Sans CJK KR"),
    Candidate("NotoSansCJKkrBold", "Noto Sans CJK KR", P, "fonts-noto-cjk",
              "opentype/noto/NotoSansCJK-Bold.ttc", face="Noto Sans CJK KR Bold"),
    Candidate("NotoSerifCJKkrRegular", "Noto Serif CJK KR", P, "fonts-noto-cjk",
              "opentype/noto/NotoSerifCJK-Regular.ttc", face="Noto Serif CJK KR"),
    Candidate("NotoSerifCJKkrBold", "Noto Serif CJK KR", P, "fonts-noto-cjk",
              "opentype/noto/NotoSerifCJK-Bold.ttc", face="Noto Serif CJK KR Bold"),
    Candidate("BMDohyeon", "BM Dohyeon", P, "fonts-woowa-bm", f"{BM}/BMDOHYEON_ttf.ttf"),
    Candidate("BMJua", "BM Jua", P, "fonts-woowa-bm", f"{BM}/BMJUA_ttf.ttf"),
    Candidate("BMHannaPro", "BM Hanna", P, "fonts-woowa-bm", f"{BM}/BMHANNAPro.ttf"),
    Candidate("BMHannaAir", "BM Hanna Air", P, "fonts-woowa-bm", f"{BM}/BMHANNAAir_ttf.ttf"),
    Candidate("BMHanna11yrs", "BM Hanna 11yrs", P, "fonts-woowa-bm", f"{BM}/BMHANNA_11yrs_ttf.ttf"),
    Candidate("BMEuljiro", "BM Euljiro", P, "fonts-woowa-bm", f"{BM}/BMEULJIROTTF.ttf"),
    Candidate("BMEuljiro10yearslater", "BM Euljiro 10 years later", P, "fonts-woowa-bm", f"{BM}/BMEuljiro10yearslater.ttf"),
    Candidate("BMEuljirooraeorae", "BM Euljiro oraeorae", P, "fonts-woowa-bm", f"{BM}/BMEuljirooraeorae.ttf"),
    Candidate("BMKirangHaerang", "BM Kirang Haerang", H, "fonts-woowa-bm", f"{BM}/BMKIRANGHAERANG-TTF.ttf"),
    Candidate("BMYeonsung", "BM Yeonsung", H, "fonts-woowa-bm", f"{BM}/BMYEONSUNG_ttf.ttf"),
    Candidate("UnBatang", "Un Batang", P, "fonts-unfonts-core", f"{UC}/UnBatang.ttf"),
    Candidate("UnDotum", "Un Dotum", P, "fonts-unfonts-core", f"{UC}/UnDotum.ttf"),
    Candidate("UnGraphic", "Un Graphic", P, "fonts-unfonts-core", f"{UC}/UnGraphic.ttf"),
    Candidate("UnDinaru", "Un Dinaru", P, "fonts-unfonts-core", f"{UC}/UnDinaru.ttf"),
    Candidate("UnGungseo", "Un Gungseo", H, "fonts-unfonts-core", f"{UC}/UnGungseo.ttf"),
    Candidate("UnPilgi", "Un Pilgi", H, "fonts-unfonts-core", f"{UC}/UnPilgi.ttf"),
    Candidate("UnPilgiBold", "Un Pilgi", H, "fonts-unfonts-core", f"{UC}/UnPilgiBold.ttf"),
    Candidate("UnPen", "Un Pen", H, "fonts-unfonts-extra", f"{UX}/UnPen.ttf"),
    Candidate("UnPenheulim", "Un Penheulim", H, "fonts-unfonts-extra", f"{UX}/UnPenheulim.ttf"),
    Candidate("UnPilgia", "Un Pilgia", H, "fonts-unfonts-extra", f"{UX}/UnPilgia.ttf"),
    Candidate("UnTaza", "Un Taza", P, "fonts-unfonts-extra", f"{UX}/UnTaza.ttf"),
    Candidate("UnShinmun", "Un Shinmun", P, "fonts-unfonts-extra", f"{UX}/UnShinmun.ttf"),
    Candidate("UnVada", "Un Vada", P, "fonts-unfonts-extra", f"{UX}/UnVada.ttf"),
    Candidate("BaekmukBatang", "Baekmuk Batang", P, "fonts-baekmuk", "truetype/baekmuk/batang.ttf"),
    Candidate("BaekmukDotum", "Baekmuk Dotum", P, "fonts-baekmuk", "truetype/baekmuk/dotum.ttf"),
    Candidate("BaekmukGulim", "Baekmuk Gulim", P, "fonts-baekmuk", "truetype/baekmuk/gulim.ttf"),
    Candidate("BaekmukHline", "Baekmuk Headline", P, "fonts-baekmuk", "truetype/baekmuk/hline.ttf"),
    Candidate("AleeBandal", "Bandal", P, "fonts-alee", "truetype/alee/Bandal.ttf"),
    Candidate("AleeBangwool", "Bangwool", P, "fonts-alee", "truetype/alee/Bangwool.ttf"),
    Candidate("AleeEunjin", "Eunjin", P, "fonts-alee", "truetype/alee/Eunjin.ttf"),
    Candidate("AleeEunjinNakseo", "EunjinNakseo", P, "fonts-alee", "truetype/alee/EunjinNakseo.ttf"),
    Candidate("AleeGuseul", "Guseul", P, "fonts-alee", "truetype/alee/Guseul.ttf"),
    Candidate("LexiGulim", "Lexi Gulim", P, "fonts-lexi-gulim", "truetype/lexi/LexiGulim.ttf"),
    Candidate("LexiSaebom", "Lexi Saebom", P, "fonts-lexi-saebom", "truetype/lexi/LexiSaebomR.ttf"),
    Candidate("GothicA1Regular", "Gothic A1", P, "gothic-a1", "400"),
    Candidate("GothicA1ExtraBold", "Gothic A1", P, "gothic-a1", "800"),
    Candidate("GowunDodum", "Gowun Dodum", P, "gowun-dodum", "400"),
    Candidate("BlackHanSans", "Black Han Sans", P, "black-han-sans", "400"),
    Candidate("Gugi", "Gugi", P, "gugi", "400"),
    Candidate("Dongle", "Dongle", P, "dongle", "400"),
    Candidate("Stylish", "Stylish", P, "stylish", "400"),
    Candidate("Sunflower", "Sunflower", P, "sunflower", "500"),
    Candidate("Gaegu", "Gaegu", H, "gaegu", "400"),
    Candidate("GamjaFlower", "Gamja Flower", H, "gamja-flower", "400"),
    # Expected duplicates of Debian designs: kept only if the render check finds them different.
    Candidate("DoHyeon", "Do Hyeon", P, "do-hyeon", "400"),
    Candidate("Jua", "Jua", P, "jua", "400"),
    Candidate("NanumGothicNpm", "Nanum Gothic", P, "nanum-gothic", "400"),
    Candidate("NanumMyeongjoNpm", "Nanum Myeongjo", P, "nanum-myeongjo", "400"),
    Candidate("NanumPenScript", "Nanum Pen Script", H, "nanum-pen-script", "400"),
    Candidate("NanumBrushScript", "Nanum Brush Script", H, "nanum-brush-script", "400"),
    Candidate("KirangHaerang", "Kirang Haerang", H, "kirang-haerang", "400"),
    Candidate("YeonSung", "Yeon Sung", H, "yeon-sung", "400"),
    Candidate("NotoSansKR", "Noto Sans KR", P, "noto-sans-kr", "400"),
    Candidate("NotoSerifKR", "Noto Serif KR", P, "noto-serif-kr", "400"),
]
# fmt: on
# Held out for evaluation: whole families that have no other design in training.
# Printed: gothic, serif, rounded display (all 11,172) and a light display face;
# handwriting: pen, brush and a rounded hand, all covering all 11,172.
TEST = {
    "UnDotum",
    "UnBatang",
    "AleeBandal",
    "BMHannaAir",
    "UnPenheulim",
    "NanumBrush",
    "GamjaFlower",
}
MIN_KS = 2000  # designs covering fewer KS X 1001 syllables are dropped
# Mean |difference| (0-1) of normalised sample glyphs below which two designs are one.
# Measured: same design from Debian vs npm 0.000-0.069 (Do Hyeon), Hangul of the coding
# fonts vs their parent 0.014; closest distinct designs 0.082 (NanumSquare vs Round EB).
DUP_THRESHOLD = 0.075
SAMPLE = ks2350()[::47]  # 50 syllables to compare designs


def fetch_npm(pkg: str, npm_dir: str) -> str:
    """Unpacks ``npm pack @fontsource/<pkg>`` into ``<npm_dir>/<pkg>`` once; returns that folder."""
    root = os.path.join(npm_dir, pkg)
    if not os.path.isdir(os.path.join(root, "package")):
        os.makedirs(root, exist_ok=True)
        out = subprocess.run(
            ["npm", "pack", f"@fontsource/{pkg}", "--silent"],
            cwd=root,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()[-1]
        with tarfile.open(os.path.join(root, out)) as tar:
            tar.extractall(root, filter="data")
    return root


def npm_font(pkg: str, weight: str, npm_dir: str) -> TTFont:
    """Merges the unicode-range slices of one @fontsource weight into one font."""
    root = fetch_npm(pkg, npm_dir)
    # Numbered slices cover all of Hangul; "korean" holds only KS X 1001, so it is redundant.
    # Older packages (yeon-sung 4.x) ship numbered slices only as .woff2.
    for ext in ("woff", "woff2"):
        pattern = re.compile(rf"{re.escape(pkg)}-(\d+|latin)-{weight}-normal\.{ext}$")
        files = sorted(
            f for f in glob.glob(os.path.join(root, "package", "files", "*")) if pattern.search(f)
        )
        if len(files) > 1:
            break
    if len(files) < 2:
        raise FileNotFoundError(f"No @fontsource/{pkg} weight {weight} slices under {root}")
    fonts = []
    for f in files:
        font = TTFont(f)
        font.flavor = None
        for tag in (
            "GSUB",
            "GPOS",
            "GDEF",
            "vhea",
            "vmtx",
        ):  # layout is not needed and hinders merging
            if tag in font:
                del font[tag]
        fonts.append(io.BytesIO())
        font.save(fonts[-1])
        fonts[-1].seek(0)
    return Merger(options=MergeOptions(drop_tables=["vhea", "vmtx"])).merge(fonts)


def load_font(cand: Candidate, npm_dir: str) -> TTFont:
    if cand.npm:
        return npm_font(cand.pkg, cand.src, npm_dir)
    path = os.path.join(DEB, cand.src)
    if not path.endswith(".ttc"):
        return TTFont(path)
    for font in TTCollection(path).fonts:
        if font["name"].getDebugName(4) == cand.face:
            return font
    raise ValueError(f"No face {cand.face!r} in {path}")


def build_one(cand: Candidate, out_dir: str, npm_dir: str) -> dict:
    """Subsets one candidate to ``out_dir`` and verifies it by rendering every syllable."""
    start = time.time()
    logging.getLogger("fontTools").setLevel(logging.ERROR)  # "TSI0 NOT subset; dropped" etc.
    font = load_font(cand, npm_dir)
    opts = subset.Options()
    opts.flavor = "woff2"
    opts.hinting = (
        False  # why: hint programs are a large share of TrueType bytes; FreeType draws fine
    )
    opts.layout_features = []  # single characters need no shaping
    opts.name_IDs = ["*"]  # keep copyright, licence and version strings
    opts.name_languages = ["*"]
    opts.notdef_outline = True
    opts.drop_tables += ["vhea", "vmtx", "VORG", "DSIG"]
    sub = subset.Subsetter(opts)
    sub.populate(unicodes=UNICODES)
    sub.subset(font)
    path = os.path.join(out_dir, f"{cand.name}.woff2")
    subset.save_font(font, path, opts)
    covered, uncovered = verify_chars(path, all_syllables(), size=40)
    covered_set = set(covered)
    return {
        "name": cand.name,
        "path": path,
        "ks2350": sum(c in covered_set for c in ks2350()),
        "all": len(covered),
        "uncovered": "".join(uncovered),
        "signature": signature(path, [c for c in SAMPLE if c in covered_set]),
        "bytes": os.path.getsize(path),
        "seconds": time.time() - start,
    }


def signature(path: str, chars: list[str]) -> dict[str, np.ndarray]:
    """Sample glyphs cropped to their ink and resized to 32x32, to compare designs."""
    out = {}
    for c in chars:
        img = draw_char(path, c, 40, 80)
        ys, xs = np.nonzero(img < 128)
        crop = img[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
        out[c] = (
            np.asarray(Image.fromarray(crop).resize((32, 32), Image.BILINEAR), np.float32) / 255
        )
    return out


def distance(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    common = a.keys() & b.keys()
    return float(np.mean([np.abs(a[c] - b[c]).mean() for c in common])) if common else 1.0


def write_license(cand: Candidate, lic_dir: str, npm_dir: str) -> tuple[str, str]:
    if cand.npm:
        name, src, extra = "OFL-1.1", os.path.join(npm_dir, cand.pkg, "package", "LICENSE"), None
        dest = f"npm-{cand.pkg}.txt"
    else:
        (name, extra), src = LICENSES[cand.pkg], f"/usr/share/doc/{cand.pkg}/copyright"
        dest = f"{cand.pkg}.txt"
    with open(src, encoding="utf-8") as fh:
        text = fh.read()
    if extra:
        with open(extra, encoding="utf-8") as fh:
            text += (
                f"\n\n===== Full text of {name} ({os.path.basename(extra)}) =====\n\n" + fh.read()
            )
    with open(os.path.join(lic_dir, dest), "w", encoding="utf-8") as fh:
        fh.write(text)
    return name, f"licenses/{dest}"


def choose_test(entries: list[dict]) -> None:
    """Marks TEST designs as held out and checks the held-out set is what evaluation needs."""
    for e in entries:
        e["split"] = "test" if e["name"] in TEST else "train"
    test = [e for e in entries if e["split"] == "test"]
    printed = [e for e in test if e["style"] == "printed"]
    hand = [e for e in test if e["style"] == "handwriting"]
    problems = []
    if len(printed) != 4 or sum(e["coverage"]["all"] == 11172 for e in printed) < 3:
        problems.append(
            f"need 4 printed test fonts, >= 3 covering all; got {[(e['name'], e['coverage']) for e in printed]}"
        )
    if len(hand) != 3 or any(e["coverage"]["ks2350"] < 2300 for e in hand):
        problems.append(
            f"need 3 handwriting test fonts with ks2350 >= 2300; got {[(e['name'], e['coverage']) for e in hand]}"
        )
    train_families = {e["family"] for e in entries if e["split"] == "train"}
    problems += [
        f"test font {e['name']} shares family with a train font"
        for e in test
        if e["family"] in train_families
    ]
    if problems:
        raise SystemExit("Bad test split (edit TEST):\n  " + "\n  ".join(problems))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="fonts", help="output folder (default: fonts)")
    parser.add_argument("--npm-dir", default="build/fontsource", help="cache of npm tarballs")
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    parser.add_argument("--only", nargs="*", help="build only these candidate names (no manifest)")
    args = parser.parse_args()
    start = time.time()
    staging = os.path.join("build", "fonts_staging")
    os.makedirs(staging, exist_ok=True)
    cands = [c for c in CANDIDATES if not args.only or c.name in args.only]
    for c in {c.pkg: c for c in cands if c.npm}.values():  # download serially, before forking
        fetch_npm(c.pkg, args.npm_dir)
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        results = list(
            pool.map(build_one, cands, [staging] * len(cands), [args.npm_dir] * len(cands))
        )
    kept: list[tuple[Candidate, dict]] = []
    for cand, res in zip(cands, results, strict=True):
        near = min(
            ((distance(res["signature"], k["signature"]), kc.name) for kc, k in kept),
            default=(1.0, "-"),
        )
        status = "ok"
        if res["ks2350"] < MIN_KS:
            status = f"DROPPED: ks2350 {res['ks2350']} < {MIN_KS}"
        elif near[0] < DUP_THRESHOLD:
            status = f"DROPPED: duplicate of {near[1]}"
        else:
            kept.append((cand, res))
        print(
            f"{cand.name:28s} ks={res['ks2350']:5d} all={res['all']:6d} nearest={near[1]}:{near[0]:.3f} "
            f"{res['seconds']:5.1f}s {status}",
            flush=True,
        )
    if args.only:
        return
    lic_dir = os.path.join(args.out, "licenses")
    os.makedirs(lic_dir, exist_ok=True)
    for old in glob.glob(os.path.join(args.out, "*.woff2")) + glob.glob(
        os.path.join(lic_dir, "*.txt")
    ):
        os.remove(old)
    entries = []
    for cand, res in kept:
        shutil.copyfile(res["path"], os.path.join(args.out, f"{cand.name}.woff2"))
        license_name, license_file = write_license(cand, lic_dir, args.npm_dir)
        entries.append(
            {
                "name": cand.name,
                "file": f"{cand.name}.woff2",
                "family": cand.family,
                "style": cand.style,
                "source": cand.source,
                "license": license_name,
                "license_file": license_file,
                "coverage": {"ks2350": res["ks2350"], "all": res["all"]},
                "uncovered": res["uncovered"],
            }
        )
    choose_test(entries)
    with open(os.path.join(args.out, "manifest.json"), "w", encoding="utf-8") as fh:
        json.dump(entries, fh, ensure_ascii=False, indent=1)
        fh.write("\n")
    total = 0
    print(f"\n{'name':28s} {'style':11s} {'split':5s} {'ks2350':>6s} {'all':>6s} {'KiB':>6s}")
    for e in entries:
        size = os.path.getsize(os.path.join(args.out, e["file"]))
        total += size
        print(
            f"{e['name']:28s} {e['style']:11s} {e['split']:5s} {e['coverage']['ks2350']:6d} "
            f"{e['coverage']['all']:6d} {size / 1024:6.0f}"
        )
    styles = [e["style"] for e in entries]
    print(
        f"{len(entries)} designs ({styles.count('printed')} printed, {styles.count('handwriting')} handwriting), "
        f"{total / 2**20:.1f} MiB, built in {time.time() - start:.0f} s"
    )


if __name__ == "__main__":
    main()
