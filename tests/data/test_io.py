import warnings

import numpy as np
import pytest
from PIL import Image

from panovlm.data.io import DEFAULT_MAX_PIXELS, AspectRatioWarning, ImageLoadError, load_image


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nope.jpg"
    with pytest.raises(ImageLoadError, match="file not found") as info:
        load_image(path)
    assert info.value.path == str(path) and str(path) in str(info.value)


def test_text_file_named_jpg(tmp_path):
    path = tmp_path / "caption.jpg"
    path.write_text("a photo of a room\n")
    with pytest.raises(ImageLoadError, match="not an image") as info:
        load_image(path)
    assert info.value.path == str(path)


def test_truncated_jpeg(tmp_path, pano_file):
    data = pano_file.read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageLoadError, match="truncated") as info:
        load_image(cut)
    assert "cut.jpg" in str(info.value)


def test_decompression_bomb_refused_unless_raised(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.new("RGB", (200, 100)).save(path)
    with pytest.raises(ImageLoadError, match="decompression-bomb"):
        load_image(path, max_pixels=10_000)
    # Pillow's own limit does not get in the way once the caller allows more pixels explicitly.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000)
    assert load_image(path, max_pixels=None).shape == (100, 200, 3)
    assert load_image(path, max_pixels=20_000).shape == (100, 200, 3)
    assert DEFAULT_MAX_PIXELS == 89_478_485


@pytest.mark.parametrize(
    "image, expected",
    [
        (Image.new("L", (8, 4), 77), (77, 77, 77)),
        (Image.new("1", (8, 4), 1), (255, 255, 255)),
        (Image.new("RGBA", (8, 4), (200, 100, 50, 128)), (100, 50, 25)),  # composited on black
        (Image.new("LA", (8, 4), (200, 0)), (0, 0, 0)),
        (Image.new("CMYK", (8, 4), (0, 0, 0, 0)), (255, 255, 255)),
        (Image.new("CMYK", (8, 4), (255, 0, 0, 0)), (0, 255, 255)),
        (Image.new("I;16", (8, 4), 257 * 40), (40, 40, 40)),
        (Image.new("I", (8, 4), 65535), (255, 255, 255)),
        (Image.new("F", (8, 4), 0.5), (128, 128, 128)),
        (Image.new("YCbCr", (8, 4), (255, 128, 128)), (255, 255, 255)),
    ],
)
def test_modes_convert_to_rgb_uint8(image, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AspectRatioWarning)
        rgb = load_image(image)
    assert rgb.dtype == np.uint8 and rgb.shape == (4, 8, 3) and rgb.flags.c_contiguous
    assert tuple(int(c) for c in rgb[0, 0]) == expected


def test_palette_with_and_without_transparency(tmp_path):
    pal = Image.new("P", (8, 4), 1)
    pal.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    assert tuple(load_image(pal, strict_aspect=False)[0, 0]) == (10, 20, 30)
    pal.info["transparency"] = 1
    assert tuple(load_image(pal)[0, 0]) == (0, 0, 0)


def test_sixteen_bit_png_file(tmp_path):
    path = tmp_path / "depth16.png"
    Image.fromarray(np.full((4, 8), 257 * 200, dtype=np.uint16)).save(path)
    assert tuple(load_image(path)[0, 0]) == (200, 200, 200)


def test_arrays():
    assert load_image(np.full((4, 8), 9, np.uint8)).shape == (4, 8, 3)
    assert load_image(np.full((4, 8, 3), 65535, np.uint16))[0, 0, 0] == 255
    assert load_image(np.full((4, 8, 3), 1.0, np.float32))[0, 0, 0] == 255
    assert tuple(load_image(np.full((4, 8, 4), [255, 255, 255, 0], np.uint8))[0, 0]) == (0, 0, 0)
    with pytest.raises(ImageLoadError, match="dtype"):
        load_image(np.zeros((4, 8, 3), np.int64))
    with pytest.raises(ImageLoadError, match="shape"):
        load_image(np.zeros((4, 8, 2), np.uint8))
    with pytest.raises(ImageLoadError, match=r"\[0, 1\]"):
        load_image(np.full((4, 8, 3), 2.0))
    with pytest.raises(ImageLoadError, match="expected a path"):
        load_image(42)


def test_aspect_ratio_warns_or_raises(tmp_path):
    path = tmp_path / "square.png"
    Image.new("RGB", (64, 64)).save(path)
    with pytest.warns(AspectRatioWarning, match="square.png"):
        load_image(path)
    with pytest.raises(ImageLoadError, match="aspect ratio"):
        load_image(path, strict_aspect=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_image(np.zeros((50, 101, 3), np.uint8), strict_aspect=True)  # within 5 % of 2:1


def test_jpeg_file_round_trip(pano_file):
    rgb = load_image(pano_file)
    assert rgb.shape == (128, 256, 3) and rgb.flags.writeable
    assert rgb[5, 250, 0] > 200 and rgb[120, 5, 1] > 200  # red grows to the right, green downwards
