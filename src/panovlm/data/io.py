"""Load a panorama from a path, a PIL image or an array as an RGB uint8 array ``(H, W, 3)``.

Bad input is an error that names the file and the problem (missing, truncated, not an image,
too many pixels, unsupported mode or dtype); nothing silently becomes a black image.

Conversions (documented choices):

* grayscale (``1``, ``L``, ``I;16``, ``I``, ``F``) is replicated to three channels; 16-bit data is
  scaled by 255 / 65535, float data is read as [0, 1];
* palette images go through their palette; CMYK and YCbCr use Pillow's conversion to RGB;
* alpha (``RGBA``, ``LA``, ``PA``, palette transparency) is composited **on black**: a transparent
  pixel sees nothing, which is what the projector writes for rays that see nothing (letterbox);
* the EXIF orientation tag is applied, so the array matches what an image viewer shows.

A decoded image bigger than ``max_pixels`` is refused before decoding (decompression-bomb guard,
Pillow's limit by default); pass a larger ``max_pixels`` or ``None`` to accept it explicitly.
"""

from __future__ import annotations

import logging
import threading
import warnings
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

logger = logging.getLogger(__name__)

ImageSource = Union[str, Path, Image.Image, np.ndarray]

DEFAULT_MAX_PIXELS: int = int(Image.MAX_IMAGE_PIXELS or 89_478_485)
"""Pillow's decompression-bomb limit (about 89.5 MP, e.g. 13376 x 6688)."""

ASPECT_TOLERANCE = 0.05
"""Relative deviation from 2:1 accepted without a warning."""

_PIL_LIMIT_LOCK = threading.Lock()
_EXIF_ORIENTATION = 0x0112


class ImageLoadError(ValueError):
    """An image could not be loaded; ``path`` names the file (``None`` for in-memory input)."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = None if path is None else str(path)
        super().__init__(f"{self.path}: {message}" if self.path else message)


class AspectRatioWarning(UserWarning):
    """The image is not about 2:1, so it is probably not a full equirectangular panorama."""


def load_image(
    source: ImageSource,
    *,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    strict_aspect: bool = False,
) -> np.ndarray:
    """Return ``source`` as a C-contiguous RGB uint8 array ``(H, W, 3)``.

    Args:
        source: a file path, a PIL image, or an array ``(H, W)``, ``(H, W, 1|3|4)`` of uint8,
            uint16 or float in [0, 1]. Arrays are taken as RGB(A), not BGR.
        max_pixels: refuse files with more pixels than this (``None``: no limit).
        strict_aspect: raise instead of warning when the aspect ratio is not about 2:1.

    Raises:
        ImageLoadError: missing, truncated or non-image file, too many pixels, unsupported input.
    """
    path = None
    if isinstance(source, (str, Path)):
        path = Path(source)
        rgb = _from_pil(_open_file(path, max_pixels), path)
    elif isinstance(source, Image.Image):
        rgb = _from_pil(source, getattr(source, "filename", None) or None)
    elif isinstance(source, np.ndarray):
        rgb = _from_array(source)
    else:
        raise ImageLoadError(
            f"expected a path, PIL.Image.Image or numpy.ndarray, got {type(source).__name__}")
    check_aspect(rgb.shape[1], rgb.shape[0], path=path, strict=strict_aspect)
    return rgb


def check_aspect(width: int, height: int, *, path: str | Path | None = None, strict: bool = False) -> None:
    """Warn (or raise ``ImageLoadError`` when ``strict``) unless ``width / height`` is about 2."""
    ratio = width / height
    if abs(ratio / 2.0 - 1.0) <= ASPECT_TOLERANCE:
        return
    message = (f"aspect ratio {width}x{height} = {ratio:.3f} is not 2:1 (tolerance {ASPECT_TOLERANCE:.0%}); "
               "an equirectangular panorama should be twice as wide as it is high")
    if strict:
        raise ImageLoadError(message, path)
    warnings.warn(f"{path}: {message}" if path else message, AspectRatioWarning, stacklevel=3)


def _open_file(path: Path, max_pixels: int | None) -> Image.Image:
    if not path.exists():
        raise ImageLoadError("file not found", path)
    if not path.is_file():
        raise ImageLoadError("not a regular file", path)
    try:
        image = _open_unchecked(path)
    except UnidentifiedImageError as err:
        raise ImageLoadError("not an image file (Pillow cannot identify it)", path) from err
    except OSError as err:
        raise ImageLoadError(f"cannot open image ({err})", path) from err
    pixels = image.width * image.height
    if max_pixels is not None and pixels > max_pixels:
        raise ImageLoadError(
            f"{image.width}x{image.height} = {pixels} pixels exceeds max_pixels={max_pixels} "
            "(decompression-bomb guard); pass a larger max_pixels (or None) to load it", path)
    try:
        image.load()
    except OSError as err:
        # Pillow reports truncated or corrupt image data as OSError during load().
        raise ImageLoadError(f"truncated or corrupt image data ({err})", path) from err
    except (SyntaxError, ValueError) as err:
        raise ImageLoadError(f"cannot decode image ({err})", path) from err
    return image


def _open_unchecked(path: Path) -> Image.Image:
    """``Image.open`` without Pillow's own bomb check; ``_open_file`` applies ``max_pixels`` instead."""
    with _PIL_LIMIT_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            return Image.open(path)
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _from_pil(image: Image.Image, path: str | Path | None) -> np.ndarray:
    try:
        # exif_transpose copies the image even when nothing turns; read the tag first.
        if image.getexif().get(_EXIF_ORIENTATION, 1) != 1:
            image = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageLoadError(f"corrupt EXIF orientation data ({err})", path) from err
    mode = image.mode
    if mode == "RGB":
        return np.array(image)  # a writable copy (np.asarray of a PIL image is read-only)
    if mode.startswith("I;16") or mode in ("I", "F"):
        return _gray_to_rgb(_scale_high_depth(np.asarray(image), mode, path))
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode in ("LA", "PA", "La", "RGBa"):
        image = image.convert("RGBA")
    elif mode in ("1", "L"):
        return _gray_to_rgb(np.asarray(image.convert("L")))
    if image.mode == "RGBA":
        return _composite_on_black(np.asarray(image))
    try:
        return np.array(image.convert("RGB"))
    except ValueError as err:
        raise ImageLoadError(f"cannot convert image mode {mode!r} to RGB ({err})", path) from err


def _scale_high_depth(values: np.ndarray, mode: str, path: str | Path | None) -> np.ndarray:
    """16-bit / 32-bit integer (0..65535) or float ([0, 1]) grayscale -> uint8."""
    values = values.astype(np.float64)
    top = 1.0 if mode == "F" else 65535.0
    if values.size and (values.min() < 0 or values.max() > top):
        raise ImageLoadError(
            f"mode {mode!r} values span [{values.min():g}, {values.max():g}], expected [0, {top:g}]", path)
    return np.rint(values * (255.0 / top)).astype(np.uint8)


def _gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))


def _composite_on_black(rgba: np.ndarray) -> np.ndarray:
    rgb = rgba[..., :3].astype(np.uint16) * rgba[..., 3:4].astype(np.uint16)
    return ((rgb + 127) // 255).astype(np.uint8)


def _from_array(array: np.ndarray) -> np.ndarray:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ImageLoadError(f"array must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got shape {array.shape}")
    if array.dtype == np.uint8:
        pass
    elif array.dtype == np.uint16:
        array = np.rint(array.astype(np.float32) * (255.0 / 65535.0)).astype(np.uint8)
    elif np.issubdtype(array.dtype, np.floating):
        if array.size and (np.nanmin(array) < 0.0 or np.nanmax(array) > 1.0 or np.isnan(array).any()):
            raise ImageLoadError("float arrays must hold values in [0, 1] (no NaN)")
        array = np.rint(array * 255.0).astype(np.uint8)
    else:
        raise ImageLoadError(f"array dtype must be uint8, uint16 or float in [0, 1], got {array.dtype}")
    if array.ndim == 2:
        return _gray_to_rgb(array)
    if array.shape[2] == 4:
        return _composite_on_black(array)
    return np.ascontiguousarray(array)
