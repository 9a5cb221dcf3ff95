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

__all__ = ["MIN_SIDE", "ImageFolder", "holds_images", "read_image_folder", "read_image_samples",
           "read_images"]

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


def _read_one(path: Path | str, size: int | None, data: bytes | None = None) -> np.ndarray:
    """One file (or the bytes ``data``, called ``path`` in messages) as uint8 (H, W, 3), or an
    InputError whose message names it."""
    import io

    image_mod = _pil()
    try:
        with image_mod.open(io.BytesIO(data) if data is not None else path) as im:
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
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    return _collect(folder, [(str(f), f, None) for f in files], size=size, skip_bad=skip_bad)


def _collect(folder: Path, items: list[tuple[str, Path | str, bytes | None]], *,
             size: int | None, skip_bad: bool) -> ImageFolder:
    """Read ``(name, path, data)`` items into one ImageFolder (the checks of
    :func:`read_image_folder`; ``name`` is what messages and ``paths`` call each one)."""
    if size is not None and (isinstance(size, bool) or not isinstance(size, int)
                             or size < MIN_SIDE):
        raise InputError(f"size must be an integer >= {MIN_SIDE}, got {size!r}", option="size")
    images: list[np.ndarray] = []
    paths: list[str] = []
    bad: list[tuple[str, str]] = []
    for f, src, data in items:
        try:
            try:
                img = _read_one(src, size, data)
            except InputError as exc:  # name the sample file's line, not only the image
                raise exc if str(src) == f else InputError(f"{f}: {exc}") from None
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
        raise InputError(f"{folder}: no usable images{why}; it needs PNG or JPEG images")
    arr = check_images(np.stack(images), name=str(folder), min_side=MIN_SIDE)
    return ImageFolder(images=arr, paths=paths, bad=bad)


def _decode_data_uri(uri: str, where: str) -> bytes:
    import base64
    import binascii

    head, _, payload = uri.partition(",")
    if not head.startswith("data:image/") or not head.endswith(";base64"):
        raise InputError(f"{where}: a data URI must look like data:image/png;base64,...")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError(f"{where}: the data URI's base64 is malformed ({exc})") from None


def holds_images(path: str | Path) -> bool:
    """Whether ``path`` is a folder (of images) or a sample file whose first sample carries an
    ``image`` field."""
    from rewardshift.samples import iter_samples

    p = Path(path)
    if p.is_dir():
        return True
    if not p.is_file():
        return False
    first = next(iter(iter_samples(p)), None)
    return first is not None and first.image is not None


def read_image_samples(path: str | Path, *, size: int | None = None,
                       skip_bad: bool = False) -> ImageFolder:
    """The images of a sample file (JSONL or Parquet of :class:`~rewardshift.samples.Sample`
    records with an ``image`` field: a file path, relative to the sample file's folder, or a
    ``data:image/...;base64`` URI), in file order, with the checks of
    :func:`read_image_folder`. ``paths`` name each image by ``FILE: record N``.

    Raises
    ------
    InputError
        naming the sample file and line of a record without an image, or of an image that is
        missing or unusable (unless ``skip_bad``, which lists it in ``bad``).
    """
    from rewardshift.samples import iter_samples

    p = Path(path)
    items: list[tuple[str, Path | str, bytes | None]] = []
    bad: list[tuple[str, str]] = []
    for line, sample in enumerate(iter_samples(p), start=1):
        where = f"{p}: record {line}"
        try:
            if sample.image is None:
                raise InputError(f"{where}: field 'image': this sample has no image; every "
                                 "sample of an image file needs one")
            if sample.image.startswith("data:"):
                items.append((where, where, _decode_data_uri(sample.image, where)))
                continue
            f = Path(sample.image)
            f = f if f.is_absolute() else p.parent / f
            if not f.is_file():
                raise InputError(f"{where}: field 'image': {f} does not exist")
            items.append((where, f, None))
        except InputError as exc:
            if not skip_bad:
                raise
            bad.append((where, str(exc)))
    out = _collect(p, items, size=size, skip_bad=skip_bad)
    return ImageFolder(images=out.images, paths=out.paths, bad=bad + out.bad)


def read_images(path: str | Path, *, size: int | None = None,
                skip_bad: bool = False) -> ImageFolder:
    """A folder (:func:`read_image_folder`) or a sample file with images
    (:func:`read_image_samples`)."""
    if Path(path).is_dir():
        return read_image_folder(path, size=size, skip_bad=skip_bad)
    return read_image_samples(path, size=size, skip_bad=skip_bad)
