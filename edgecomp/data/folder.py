"""Image folders (one sub-folder per class) read with Pillow into uint8 arrays, and resizing.

Every image is converted to the wanted colour (grayscale or RGB) and resized to one size, then
written into one preallocated uint8 array: loading never holds a second copy. A file that cannot
be decoded is skipped and listed (path and reason), never silently and never stopping the load.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Optional

import numpy as np

from edgecomp.core.errors import DatasetError
from edgecomp.core.progress import step
from edgecomp.data.raw import RawSplits

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
GRAYSCALE_MODES = {"1", "L", "LA", "I", "I;16", "F"}
# Pillow raises these (and subclasses: UnidentifiedImageError) on a file it cannot decode.
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError)


def _decode_error(err: BaseException) -> str:
    return f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else 'unreadable'}"


def _headers(files: list[Path], skipped: list[tuple[str, str]]) -> dict[Path, tuple[tuple[int, int], str]]:
    """(width, height) and mode of each file, read from its header only; unreadable files go to `skipped`."""
    from PIL import Image

    headers = {}
    for file in files:
        try:
            with Image.open(file) as image:
                headers[file] = (image.size, image.mode)
        except DECODE_ERRORS as err:
            skipped.append((str(file), _decode_error(err)))
    return headers


def _pick_size_and_channels(headers: dict, size: Optional[tuple[int, int]], channels: Optional[int],
                            notes: list[str]) -> tuple[tuple[int, int], int]:
    """The (H, W) and channel count every image is converted to: the settings, else from the files."""
    if size is None:
        (width, height), count = Counter(wh for wh, _ in headers.values()).most_common(1)[0]
        size = (height, width)
        if count < len(headers):
            notes.append(f"images differ in size; all resized to the most common one, {height}x{width} "
                         "(set dataset.size to choose)")
    if channels is None:
        channels = 1 if all(mode in GRAYSCALE_MODES for _, mode in headers.values()) else 3
    return tuple(size), channels


def class_order(class_dirs: list[Path], classes: Optional[list[str]]) -> list[str]:
    """The class names in label order: `classes` when given (each sub-folder named once), else the
    sub-folders' alphabetical order.

    Raises:
        DatasetError: `classes` misses a sub-folder, names one that does not exist, or repeats one.
    """
    found = [d.name for d in class_dirs]
    if classes is None:
        return found
    missing, unknown = sorted(set(found) - set(classes)), sorted(set(classes) - set(found))
    repeated = sorted({name for name in classes if classes.count(name) > 1})
    if missing or unknown or repeated:
        problems = [f"{what}: {', '.join(names)}" for what, names in
                    (("not listed", missing), ("no such sub-folder", unknown), ("listed twice", repeated)) if names]
        raise DatasetError(f"dataset.classes must list every class sub-folder of {class_dirs[0].parent} once, in "
                           f"the model's output order ({'; '.join(problems)}); the sub-folders are "
                           f"{', '.join(found)}.")
    return list(classes)


def load_image_folder(path: Path, size: Optional[tuple[int, int]] = None, channels: Optional[int] = None,
                      test_fraction: float = 0.2, seed: int = 0, classes: Optional[list[str]] = None):
    """Reads a folder with one sub-folder of images per class; a random test split is held out.

    Args:
        path: the folder (`path/<class name>/<image files>`).
        size: (H, W) to resize to; None: the most common size in the folder.
        channels: 1 (grayscale) or 3 (RGB); None: 1 when every image is grayscale, else 3.
        test_fraction: share of the images held out as the test split.
        seed: seeds the split.
        classes: the sub-folder names in the model's output order (label i is classes[i]); None:
            alphabetical. The split is the same whatever the order: only the labels change.

    Returns:
        RawSplits of uint8 images, with `skipped` listing every file that could not be decoded.

    Raises:
        DatasetError: no class sub-folders, or no image could be read.
    """
    class_dirs = sorted(d for d in path.iterdir() if d.is_dir())
    if not class_dirs:
        raise DatasetError(f"{path} has no class sub-folders; expected {path}/<class name>/<image files>.")
    class_names = class_order(class_dirs, classes)
    files, labels = [], []
    for class_dir in class_dirs:  # alphabetical: the files' order (and so the split) never depends on `classes`
        for file in sorted(class_dir.iterdir()):
            if file.suffix.lower() in IMAGE_SUFFIXES:
                files.append(file)
                labels.append(class_names.index(class_dir.name))
    if not files:
        raise DatasetError(f"{path} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in its class sub-folders.")
    skipped: list[tuple[str, str]] = []
    notes: list[str] = []
    headers = _headers(files, skipped)
    if not headers:
        raise DatasetError(f"none of the {len(files)} images in {path} could be decoded (first: {skipped[0][1]}).")
    (height, width), channels = _pick_size_and_channels(headers, size, channels, notes)
    # Decoded straight into shuffled slots of one (N, H, W, C) array, so the test and training
    # splits below are slices of it: no copy while loading.
    readable = [(file, label) for file, label in zip(files, labels) if file in headers]
    slots = np.random.default_rng(seed).permutation(len(readable))
    pixels = np.empty((len(readable), height, width, channels), np.uint8)
    slot_labels = np.full(len(readable), -1, np.int64)
    for (file, label), slot in zip(readable, slots):
        if _decode_into(file, pixels[slot], (height, width), channels, skipped):
            slot_labels[slot] = label
    decoded = slot_labels >= 0
    if not decoded.all():  # a body that failed after its header read: drop its slot (rare, copies)
        pixels, slot_labels = pixels[decoded], slot_labels[decoded]
    if skipped:
        step(f"warning: skipped {len(skipped)} image(s) that could not be decoded: "
             + "; ".join(f"{p} ({reason})" for p, reason in skipped[:5]) + (" ..." if len(skipped) > 5 else ""))
    if not len(slot_labels):
        raise DatasetError(f"none of the {len(files)} images in {path} could be decoded (first: {skipped[0][1]}).")
    n_test = max(1, int(len(slot_labels) * test_fraction))
    return RawSplits(pixels[n_test:], slot_labels[n_test:], pixels[:n_test], slot_labels[:n_test],
                     class_names, str(path), skipped=skipped, notes=notes)


def _decode_into(file: Path, out: np.ndarray, size: tuple[int, int], channels: int,
                 skipped: list[tuple[str, str]]) -> bool:
    """Decodes, converts and resizes one image into `out` (H, W, C); False (and listed) if it cannot."""
    from PIL import Image

    try:
        with Image.open(file) as image:
            out[...] = _convert(image, size, channels)
        return True
    except DECODE_ERRORS as err:
        skipped.append((str(file), _decode_error(err)))
        return False


def _convert(image, size: tuple[int, int], channels: int) -> np.ndarray:
    """A Pillow image -> uint8 (H, W, C): colour converted, then bilinear-resized to (H, W)."""
    from PIL import Image

    image = image.convert("L" if channels == 1 else "RGB")
    if image.size != (size[1], size[0]):
        image = image.resize((size[1], size[0]), Image.BILINEAR)
    array = np.asarray(image, dtype=np.uint8)
    return array[..., None] if channels == 1 else array


def resize_pixels(pixels: np.ndarray, size: Optional[tuple[int, int]], channels: Optional[int]) -> np.ndarray:
    """Converts a uint8 array (N, H, W, C) to (N, size..., channels) with Pillow, image by image."""
    from PIL import Image

    n, height, width, current = pixels.shape
    size = tuple(size or (height, width))
    channels = channels or current
    if size == (height, width) and channels == current:
        return pixels
    out = np.empty((n, *size, channels), np.uint8)  # (N, H', W', C')
    for index, image in enumerate(pixels):
        pil = Image.fromarray(image[..., 0] if current == 1 else image)
        out[index] = _convert(pil, size, channels)
    return out
