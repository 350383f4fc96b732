import io
import os

import numpy as np
import pytest
from PIL import Image, ImageDraw

from koocr.preprocess import Placement, normalize, otsu_threshold, to_gray

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _ink_iou(a, b, thr=128):
    a, b = a < thr, b < thr
    return (a & b).sum() / max(1, (a | b).sum())


def test_clean_glyph_is_centred_with_white_background(render):
    out = normalize(render("한"), 48)
    assert out.shape == (48, 48) and out.dtype == np.uint8
    assert out[0].min() == 255 and out[:, 0].min() == 255
    ys, xs = np.nonzero(out < 128)
    assert abs((ys.min() + ys.max()) / 2 - 23.5) < 3 and abs((xs.min() + xs.max()) / 2 - 23.5) < 3
    assert min(ys.min(), xs.min()) >= 2  # margin kept


def test_polarity_colour_and_dtype_invariance(render):
    ref = normalize(render("한"), 48)
    glyph = render("한")
    variants = [
        255 - glyph,  # white ink on black
        glyph.astype(np.float32) / 255.0,  # float 0..1
        np.stack([glyph] * 3, -1),  # RGB
        np.dstack([np.zeros_like(glyph)] * 3 + [255 - glyph]),  # RGBA ink on transparent
        Image.fromarray(glyph),
    ]
    for v in variants:
        assert _ink_iou(normalize(v, 48), ref) > 0.9


def test_scan_like_degradations_keep_the_glyph(render):
    rng = np.random.default_rng(0)
    ref = normalize(render("한"), 48)
    grey = render("한", fg=60, bg=150).astype(np.float32)
    gradient = np.linspace(0.6, 1.2, 64)[None, :]
    cases = {
        "grey_gradient_noise": np.clip(grey * gradient + rng.normal(0, 8, grey.shape), 0, 255),
        "low_contrast": render("한", fg=170, bg=200),
        "border_touch": render("한")[8:46, 10:58],
    }
    buf = io.BytesIO()
    Image.fromarray(render("한", fg=80, bg=200)).save(buf, "JPEG", quality=15)
    cases["jpeg"] = Image.open(buf)
    small = Image.fromarray(render("한", size=40, canvas=64)).resize((22, 22), Image.BILINEAR)
    cases["small_20px"] = small
    for name, img in cases.items():
        iou = _ink_iou(normalize(img, 48), ref)
        assert iou > 0.5, (name, iou)


@pytest.mark.parametrize("inverted", [False, True])
def test_strong_gradient_that_owns_the_border(render, inverted):
    # Paper darkens from 200 to 70 across the image, below the ink (90) of the bright
    # side: Otsu's threshold splits light from shadow, and the shadow owns the border.
    rng = np.random.default_rng(1)
    ref = normalize(render("한"), 48)
    grey = render("한", fg=90, bg=200).astype(np.float32)
    shade = np.linspace(1.0, 0.35, grey.shape[1])[None, :]
    img = np.clip(grey * shade + rng.normal(0, 4, grey.shape), 0, 255)
    if inverted:  # light ink on a dark board lit from one side
        img = 255.0 - img
    out = normalize(img.astype(np.uint8), 48)
    assert np.median(out) == 255  # polarity kept: white background, dark ink
    assert _ink_iou(out, ref) > 0.5


def _boxed(glyph, pad=10, line=2, ink=0, m=3):
    """``glyph`` in a grid cell: paper around it, then a box ``line`` px thick ``m`` px in."""
    cell = np.pad(glyph, pad, constant_values=int(np.median(glyph)))
    h, w = cell.shape
    for sl in [np.s_[m : m + line, m : w - m], np.s_[h - m - line : h - m, m : w - m],
               np.s_[m : h - m, m : m + line], np.s_[m : h - m, w - m - line : w - m]]:  # fmt: skip
        cell[sl] = ink
    return cell


@pytest.mark.parametrize("case", ["thin", "thick", "touching", "inverted", "grey"])
def test_a_glyph_in_a_box_is_read_from_inside_the_box(render, case):
    ref = normalize(render("한"), 48)
    glyph = render("한")
    if case == "thin":
        img = _boxed(glyph, line=1)
    elif case == "thick":
        img = _boxed(glyph, line=4)
    elif case == "touching":  # writing that runs into the cell's edge: the box crosses the glyph
        ink = glyph < 128
        m = int(min(np.flatnonzero(ink.any(1))[0], np.flatnonzero(ink.any(0))[0]))
        img = _boxed(glyph, pad=0, m=m)  # the box's top or left line runs along the glyph's edge
    elif case == "inverted":
        img = 255 - _boxed(glyph)
    else:
        img = _boxed(render("한", fg=70, bg=190), ink=70)
    out = normalize(img, 48)
    assert out[:3].min() > 200 and out[:, :3].min() > 200  # no box line left in the output
    assert _ink_iou(out, ref) > (0.5 if case == "touching" else 0.75), case
    assert _ink_iou(normalize(_boxed(np.full((40, 40), 255, np.uint8)), 48), np.full((48, 48), 255)) == 0  # empty box


def test_a_box_along_the_image_edge_and_empty_boxes(render):
    from PIL import ImageFilter

    glyph = render("한").copy()
    glyph[0] = glyph[-1] = glyph[:, 0] = glyph[:, -1] = 0  # a cell cropped right at its lines
    out = normalize(glyph, 48)
    assert np.median(out) == 255 and _ink_iou(out, normalize(render("한"), 48)) > 0.9
    empty = _boxed(np.full((40, 40), 255, np.uint8))
    buf = io.BytesIO()
    Image.fromarray(empty).save(buf, "JPEG", quality=75)
    speck = empty.copy()
    speck[30, 30] = 200
    rng = np.random.default_rng(0)
    for name, img in {
        "blurred": np.asarray(Image.fromarray(empty).filter(ImageFilter.GaussianBlur(0.6))),
        "noisy": np.clip(empty + rng.normal(0, 2, empty.shape), 0, 255).astype(np.uint8),
        "jpeg": np.asarray(Image.open(buf)),
        "speck": speck,
    }.items():
        assert normalize(img, 48).min() == 255, name  # nothing in the box: blank


def test_a_syllable_whose_parts_line_up_like_a_box_is_not_one():
    # AleeBangwool's '므': the sides of its 'ㅁ' and the bar below run like a box's lines.
    from koocr.fonts import _image_font
    from koocr.preprocess import _frame_interior

    image = Image.new("L", (56, 56), 255)
    ImageDraw.Draw(image).text((8, 4), "므", font=_image_font(os.path.join(ROOT, "fonts", "AleeBangwool.woff2"), 40), fill=0)
    glyph = np.asarray(image)
    assert _frame_interior(glyph < 128) is None
    assert (normalize(glyph, 48) < 128).mean() < 0.5


def test_tight_crops_of_boxy_glyphs_are_not_boxes(render):
    from koocr.preprocess import _frame_interior

    for char in "때몸프뗍멸":
        glyph = render(char, size=56, canvas=80, offset=(6, 2))
        ink = glyph < 128
        rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
        tight = glyph[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        assert _frame_interior(tight < 128) is None, char
        assert _ink_iou(normalize(tight, 48), normalize(glyph, 48)) > 0.9, char


def test_fixed_level_would_fail_but_otsu_adapts(render):
    grey = render("한", fg=60, bg=150)
    assert (grey < 200).all()  # a fixed grey level of 200 sees only ink
    thr = otsu_threshold(grey)
    assert 60 < thr < 150


def test_seed_placement():
    p = Placement.seed_default(64)
    assert (p.x_offset, p.y_offset, p.char_size) == (5, 5, 50)
    img = np.full((40, 40), 255, np.uint8)
    img[5:35, 10:30] = 0
    out = normalize(img, 64, placement=p)
    ys, xs = np.nonzero(out < 128)
    assert ys.min() >= 5 and ys.max() < 55 and xs.min() >= 5 and xs.max() < 55
    assert ys.max() - ys.min() + 1 == 50  # the longer side fills char_size
    with pytest.raises(ValueError, match="image_size=50"):
        Placement.seed_default(50)


def test_blank_image_gives_blank_output():
    assert (normalize(np.full((30, 30), 120, np.uint8), 32) == 255).all()


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((0, 5)), "empty"),
        (np.zeros((1, 1)), "too small"),
        (np.full((8, 8), np.nan), "NaN"),
        (np.zeros((2, 2, 2, 2, 2)), "shape"),
        (np.zeros((8, 8, 5)), "shape"),
        ("no/such/file.png", "Cannot read"),
    ],
)
def test_bad_input_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        to_gray(bad)


def test_resample_matrix_matches_pillow_resize():
    """place_glyph's matrix resize equals PIL's BOX / BILINEAR resize of a mode "F" image."""
    from koocr.preprocess import resample_matrix

    rng = np.random.default_rng(0)
    for _ in range(200):
        h, w, bh, bw = (int(v) for v in rng.integers(1, 90, 4))
        box = bool(rng.integers(2))
        crop = np.where(rng.random((h, w)) < 0.6, 255.0, rng.random((h, w)) * 255).astype(np.float32)
        filt = Image.Resampling.BOX if box else Image.Resampling.BILINEAR
        want = np.asarray(Image.fromarray(crop, mode="F").resize((bw, bh), filt))
        got = resample_matrix(h, bh, box) @ crop @ resample_matrix(w, bw, box).T
        np.testing.assert_allclose(got, want, atol=1e-3)


def test_normalize_batch_stack_path_equals_one_by_one(render):
    """The vectorised path for uint8 stacks gives exactly what the step-by-step reference gives."""
    from koocr.preprocess import _normalize_one, normalize_batch

    rng = np.random.default_rng(1)
    clean = [render(c) for c in "한글국어문자가나다"]
    noisy = [np.clip(g * 0.6 + 60 + rng.normal(0, 12, g.shape), 0, 255).astype(np.uint8) for g in clean[:3]]
    gradient = [np.clip(g * 0.7 + np.linspace(0, 70, g.shape[1])[None], 0, 255).astype(np.uint8) for g in clean[:3]]
    stack = np.stack(
        clean
        + [255 - g for g in clean[:3]]  # white on black
        + noisy  # needs denoising: the one-by-one fallback
        + gradient  # needs flattening: the fallback too
        + [render("한", fg=60, bg=150), render("한", fg=170, bg=200)]  # grey, low contrast
        + [np.full(clean[0].shape, 128, np.uint8)]  # blank
        + [_boxed(clean[2], pad=0)]  # in a box: the fallback reads the box's inside
        + [np.pad(clean[3][1:-1, 1:-1], 1)]  # a box along the edge (owns the border): the fallback too
        + [(clean[1] < 128).astype(np.uint8)]  # a 0/1 mask, scaled by to_gray
    )
    want = np.stack([_normalize_one(img, 48, 0.1, None) for img in stack])
    np.testing.assert_array_equal(normalize_batch(stack, 48), want)
    np.testing.assert_array_equal(normalize_batch(list(stack), 48), want)  # a list is stacked
    np.testing.assert_array_equal(np.stack([normalize(img, 48) for img in stack]), want)  # one uint8 image
    seed = Placement.seed_default(64)
    np.testing.assert_array_equal(
        normalize_batch(stack[:5], 64, placement=seed), np.stack([_normalize_one(i, 64, 0.1, seed) for i in stack[:5]])
    )
    with pytest.raises(ValueError, match="too small"):
        normalize_batch(np.zeros((3, 1, 40), np.uint8))


def test_median3_equals_scipy_median_filter():
    from scipy import ndimage

    from koocr.preprocess import median3

    rng = np.random.default_rng(2)
    for shape in [(2, 2), (3, 7), (40, 33), (96, 96)]:
        for img in (
            rng.random(shape).astype(np.float32) * 255,
            rng.integers(0, 4, shape).astype(np.float32),  # many ties
            (rng.random(shape) < 0.4).astype(np.uint8),  # a 0/1 mask
        ):
            np.testing.assert_array_equal(median3(img), ndimage.median_filter(img, size=3))


@pytest.mark.parametrize("whole", [True, False])
def test_quantiles_equal_numpy_percentile(whole):
    """The histogram path (whole grey levels) and the fallback (any floats) give numpy's
    linear percentiles; small arrays always take numpy's."""
    from koocr.preprocess import quantiles

    rng = np.random.default_rng(3)
    qs = (0.0, 0.02, 0.1, 0.5, 0.98, 1.0)
    for size in (1, 7, 255, 256, 4096, 33_333):
        values = rng.integers(0, 256, size).astype(np.float32)
        if not whole:
            values = values + rng.random(size).astype(np.float32)
        np.testing.assert_allclose(quantiles(values, qs), np.percentile(values, [100 * q for q in qs]), rtol=1e-12)
    mostly_paper = np.where(rng.random(5000) < 0.9, 255.0, rng.integers(0, 120, 5000))
    np.testing.assert_allclose(quantiles(mostly_paper, (0.5, 0.02)), np.percentile(mostly_paper, [50, 2]), rtol=1e-12)
