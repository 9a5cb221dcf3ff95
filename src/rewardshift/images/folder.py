"""Read a folder of PNG/JPEG images into one ``uint8 (N, H, W, 3)`` array, checking each file.

Every file of the folder (sorted by name, hidden files left out) must be an RGB image of at
least :data:`MIN_SIDE` pixels a side, all of one size. A file that is not an image, a corrupt
one, a tiny one, a grayscale, palette or RGBA one, or one of another size raises an
:class:`~rewardshift.InputError` naming the file and the fix; with ``skip_bad=True`` such
files are left out and listed in :attr:`ImageFolder.bad` instead. PIL (the ``images`` extra)
is imported only when a folder is read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rewardshift._exceptions import InputError, MissingDependencyError
from rewardshift.metrics.images import check_images

__all__ = ["MIN_SIDE", "ImageFolder", "read_image_folder"]

MIN_SIDE = 4  # smallest height and width [pixels]; the pixel measures need a 4x4 image


@dataclass(frozen=True)
class ImageFolder:
    """The images of a folder and the files left out.

    Attributes
    ----------
    images : uint8 ndarray (N, H, W, 3), in the order of ``paths``.
    paths : the file of each image (sorted by name).
    bad : ``(path, reason)`` of each file left out (only with ``skip_bad``).
    """

    images: np.ndarray
    paths: list[str]
    bad: list[tuple[str, str]] = field(default_factory=list)


def _pil():  # type: ignore[no-untyped-def]
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - pillow is in the images extra
        raise MissingDependencyError("pillow", "images") from exc
    return Image


def _read_one(path: Path, size: int | None) -> np.ndarray:
    """One file as uint8 (H, W, 3), or an InputError whose message names the file."""
    image_mod = _pil()
    try:
        with image_mod.open(path) as im:
            im.load()
            mode, (w, h) = im.mode, im.size
            if mode != "RGB":
                kind = {"L": "grayscale", "LA": "grayscale with alpha", "P": "palette",
                        "RGBA": "RGBA", "1": "1-bit", "I;16": "16-bit grayscale",
                        "CMYK": "CMYK"}.get(mode, f"mode {mode}")
                raise InputError(f"{path}: a {kind} image; convert it to RGB first "
                                 "(e.g. PIL's Image.convert('RGB'))")
            if min(w, h) < MIN_SIDE:
                raise InputError(f"{path}: a {w}x{h} image; images must be at least "
                                 f"{MIN_SIDE}x{MIN_SIDE} pixels")
            if size is not None and (w, h) != (size, size):
                im = im.resize((size, size), image_mod.Resampling.BOX)
            return np.asarray(im, dtype=np.uint8).copy()
    except InputError:
        raise
    except Exception as exc:  # PIL raises several types for unreadable or corrupt files
        what = ("not an image PIL can read" if exc.__class__.__name__ == "UnidentifiedImageError"
                else f"a corrupt or truncated image ({exc})")
        raise InputError(f"{path}: {what}; remove it from the folder") from None


def read_image_folder(path: str | Path, *, size: int | None = None,
                      skip_bad: bool = False) -> ImageFolder:
    """Read every image of the folder ``path``.

    Parameters
    ----------
    path : a folder of PNG/JPEG files (every visible file in it is read).
    size : if given, each image is resized (box filter) to ``size x size``; otherwise all
        images must share the first image's size.
    skip_bad : leave out files that are not usable RGB images (listed in ``bad``) instead of
        raising.

    Returns
    -------
    ImageFolder

    Raises
    ------
    InputError
        if ``path`` is not a folder, holds no usable image, or (without ``skip_bad``) a file
        is not a readable RGB image of at least ``MIN_SIDE`` pixels a side or of another size
        than the first; the message names the file.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder of images")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int)
                             or size < MIN_SIDE):
        raise InputError(f"size must be an integer >= {MIN_SIDE}, got {size!r}", option="size")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    images: list[np.ndarray] = []
    paths: list[str] = []
    bad: list[tuple[str, str]] = []
    for f in files:
        try:
            img = _read_one(f, size)
            if images and img.shape != images[0].shape:
                h0, w0 = images[0].shape[:2]
                raise InputError(f"{f}: a {img.shape[1]}x{img.shape[0]} image, but {paths[0]} "
                                 f"is {w0}x{h0}; all images must have one size (or choose a "
                                 "size to resize them to)", option="size")
        except InputError as exc:
            if not skip_bad:
                raise
            bad.append((str(f), str(exc)))
            continue
        images.append(img)
        paths.append(str(f))
    if not images:
        why = f" ({len(bad)} files left out as unusable)" if bad else ""
        raise InputError(f"{folder}: no usable images in the folder{why}; it needs PNG or "
                         "JPEG files")
    arr = check_images(np.stack(images), name=str(folder), min_side=MIN_SIDE)
    return ImageFolder(images=arr, paths=paths, bad=bad)
