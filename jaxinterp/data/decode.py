"""One image file -> uint8 [H, W, 3], decoded with Pillow as torchvision's evaluation transforms do.

``decode(src, name, preprocess)``: Pillow opens the file (JPEG, PNG, ... any format it reads),
converts it to RGB (grayscale, CMYK, palette and RGBA images too: the alpha channel is dropped,
as torchvision's ``ImageFolder`` loader does), then applies the model's
:class:`~jaxinterp.models.base.Preprocess` if one is given: the shorter side resized to
``resize`` (bilinear, ``transforms.Resize``), the centre ``crop`` x ``crop`` cut out
(``transforms.CenterCrop``). Pixels stay uint8; [0, 1] and normalisation happen on the device.

A file Pillow cannot read (truncated, corrupt, not an image) raises a ``ValueError`` naming it:
a pass stops rather than skip it, because a skipped image would shift the index of every image
after it (activations would no longer line up with files and labels) and could be skipped on one
host but not on another.
"""

from __future__ import annotations

import io
import os

import numpy as np
from PIL import Image

from jaxinterp.models.base import Preprocess

#: torchvision's IMG_EXTENSIONS: the files a folder source reads (case-insensitive)
EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")

__all__ = ["EXTENSIONS", "Preprocess", "decode", "decoded_shape", "is_image_file"]


def is_image_file(name: str) -> bool:
    return name.lower().endswith(EXTENSIONS) and not os.path.basename(name).startswith(".")


def _resize_shorter(img: Image.Image, size: int) -> Image.Image:
    """torchvision ``Resize(size)`` on a PIL image: shorter side -> size, longer side truncated."""
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    if (new_w, new_h) == (w, h):
        return img
    return img.resize((new_w, new_h), Image.BILINEAR)


def _centre_crop(img: Image.Image, size: int) -> Image.Image:
    """torchvision ``CenterCrop(size)`` on a PIL image at least ``size`` on each side."""
    w, h = img.size
    top, left = int(round((h - size) / 2.0)), int(round((w - size) / 2.0))
    return img.crop((left, top, left + size, top + size))


def _unreadable(name: str, err: Exception) -> ValueError:
    return ValueError(
        f"{name} is not a readable image ({type(err).__name__}: {err}); replace or remove the file "
        "(a pass stops rather than skip it: a skipped image would shift the index of every later "
        "image). Check a folder with: python -c \"import sys; from PIL import Image; "
        "[Image.open(f).convert('RGB') for f in sys.argv[1:]]\" FILES")


_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


def _open(src: str | os.PathLike | bytes) -> Image.Image:
    return Image.open(io.BytesIO(src) if isinstance(src, bytes) else src)


def decode(src: str | os.PathLike | bytes, name: str, preprocess: Preprocess | None = None) -> np.ndarray:
    """The image in ``src`` (a path, or a file's bytes) -> uint8 [H, W, 3] (preprocessed if given).

    ``name`` names the image in errors (a file path, or "shard.array_record record 17").
    """
    try:
        with _open(src) as img:
            img = img.convert("RGB")  # also loads every pixel, so a truncated file fails here
    except _ERRORS as err:
        raise _unreadable(name, err) from None
    if preprocess is not None:
        img = _centre_crop(_resize_shorter(img, preprocess.resize), preprocess.crop)
    return np.asarray(img, dtype=np.uint8)


def decoded_shape(src: str | os.PathLike | bytes, name: str, preprocess: Preprocess | None = None
                  ) -> tuple[int, int, int]:
    """The shape :func:`decode` gives ``src``, from the file's header alone (no pixel is decoded)."""
    if preprocess is not None:
        return preprocess.crop, preprocess.crop, 3
    try:
        with _open(src) as img:
            width, height = img.size
    except _ERRORS as err:
        raise _unreadable(name, err) from None
    return height, width, 3
