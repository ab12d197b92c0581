"""The IMAGE arguments of ``groundlite detect`` / ``read``: files, directories and glob patterns.

:func:`expand_inputs` turns the arguments into an ordered list of :class:`InputItem` before any
model work starts, so the CLI knows how many images there are (progress bar, ``--out`` checks) and
can report each problem on its own line while the other images are processed:

* an existing file is an image, whatever its suffix (a wrong type is reported when decoding);
* an existing directory is searched recursively for files with an image suffix
  (:data:`IMAGE_SUFFIXES`, case-insensitive), sorted, following symbolic links but never entering
  the same directory twice (link loops end); other files are ``skipped``;
* anything else containing ``*``, ``?`` or ``[`` is a pattern for ``glob.glob(recursive=True)``
  (for shells that did not expand it, and for ``**``); matched directories are searched as above;
* a path that does not exist, or a directory / pattern without any image, is an ``error`` item.

The same file reached twice (given twice, or through a link) is processed once.

:func:`plan_out` checks ``--out`` against the images, also before any work.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Literal, Sequence

from .errors import GroundliteError, InvalidArgumentError, InvalidImageError

__all__ = ["IMAGE_SUFFIXES", "InputItem", "Inputs", "expand_inputs", "is_image_name", "plan_out"]

#: file suffixes searched for in directories and patterns (compared lower-cased)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


@dataclass(frozen=True)
class InputItem:
    """One outcome of expanding the arguments, in command-line order.

    Attributes:
        kind: ``"image"`` (to process), ``"skipped"`` (a non-image file found in a directory or by a
            pattern) or ``"error"`` (a path or pattern that yields no image).
        path: the file path (``image``/``skipped``) or the argument as given (``error``).
        error: the typed error of an ``error`` item, else ``None``.
    """

    kind: Literal["image", "skipped", "error"]
    path: str
    error: GroundliteError | None = None


def is_image_name(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` ends with one of :data:`IMAGE_SUFFIXES` (case-insensitive)."""
    return os.path.splitext(os.fspath(path))[1].lower() in IMAGE_SUFFIXES


def _sort_key(path: str) -> tuple[str, ...]:
    # by path components, so "d/b/x.png" sorts with "d/b" and not between "d/a.png" and "d/c.png"
    return Path(path).parts


def _walk(top: str) -> Iterator[tuple[str, str | None]]:
    """``(path, None)`` for each file under ``top``, sorted; ``(path, reason)`` for an unreadable directory."""
    seen: set[tuple[int, int]] = set()
    found: list[str] = []
    failures: list[tuple[str, str]] = []

    def onerror(e: OSError) -> None:
        failures.append((e.filename or top, f"{type(e).__name__}: {e.strerror or e}"))

    for root, dirs, files in os.walk(top, onerror=onerror, followlinks=True):
        try:
            st = os.stat(root)
        except OSError:
            dirs[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen:  # a link back to a directory already searched
            dirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirs.sort()
        found.extend(os.path.join(root, f) for f in files)
    for path in sorted(found, key=_sort_key):
        yield path, None
    for path, reason in failures:
        yield path, reason


def _from_tree(top: str, what: str) -> list[InputItem]:
    items: list[InputItem] = []
    for path, failure in _walk(top):
        if failure is not None:
            items.append(InputItem("error", path, InvalidImageError(f"expected a readable directory, got {failure}")))
        elif is_image_name(path):
            items.append(InputItem("image", path))
        else:
            items.append(InputItem("skipped", path))
    if not any(i.kind == "image" for i in items):
        others = sum(i.kind == "skipped" for i in items)
        items.append(InputItem("error", top, InvalidImageError(
            f"expected at least one image ({', '.join(IMAGE_SUFFIXES)}) in {what}, got "
            + (f"{others} file(s) of other types" if others else "none"))))
    return items


def _expand_one(spec: str) -> list[InputItem]:
    if os.path.isdir(spec):
        return _from_tree(spec, "the directory")
    if os.path.lexists(spec):  # a file, or a broken link (reported when it is decoded)
        return [InputItem("image", spec)]
    if glob.has_magic(spec):
        matches = sorted(glob.glob(spec, recursive=True), key=_sort_key)
        items: list[InputItem] = []
        for m in matches:
            if os.path.isdir(m):
                items.extend(i for i in _from_tree(m, "the directory") if i.kind != "error" or i.path != m)
            else:
                items.append(InputItem("image" if is_image_name(m) else "skipped", m))
        if not any(i.kind == "image" for i in items):
            items.append(InputItem("error", spec, InvalidImageError(
                "expected the pattern to match at least one image, got "
                + (f"{len(matches)} path(s) without an image" if matches else "no match"))))
        return items
    return [InputItem("error", spec, InvalidImageError(
        "expected an image file, a directory or a glob pattern, got a path that does not exist"))]


@dataclass(frozen=True)
class Inputs:
    """The expanded IMAGE arguments.

    Attributes:
        items: every :class:`InputItem`, in command-line order.
        images: the image paths to process, in order, each once.
        skipped: non-image files found in directories or by patterns.
        errors: ``(argument or path, error)`` for each argument that yields no image.
    """

    items: tuple[InputItem, ...]

    @property
    def images(self) -> list[str]:
        return [i.path for i in self.items if i.kind == "image"]

    @property
    def skipped(self) -> list[str]:
        return [i.path for i in self.items if i.kind == "skipped"]

    @property
    def errors(self) -> list[tuple[str, GroundliteError]]:
        return [(i.path, i.error) for i in self.items if i.kind == "error" and i.error is not None]


def expand_inputs(specs: Sequence[str | os.PathLike[str]]) -> Inputs:
    """Expand IMAGE arguments (files, directories, glob patterns) into :class:`Inputs`.

    Never raises for a bad argument: each becomes an ``error`` item carrying an
    :class:`~groundlite.errors.InvalidImageError` with one sentence.
    """
    items: list[InputItem] = []
    seen: set[str] = set()
    for spec in specs:
        for item in _expand_one(os.fspath(spec)):
            if item.kind != "error":
                key = os.path.realpath(item.path)
                if key in seen:
                    continue
                seen.add(key)
            items.append(item)
    return Inputs(tuple(items))


def plan_out(out: str | os.PathLike[str], images: Sequence[str], *, mkdir: bool = False) -> list[Path]:
    """Where ``detect --out`` writes the annotated copy of each of ``images`` (same order).

    ``out`` with an image suffix names the file for a single image (an error for several); anything
    else is a directory that must exist, or is created (when the first file is written) only with
    ``mkdir``. In a directory each image becomes ``STEM.png`` (``STEM-2.png``, ... when stems repeat).
    Raises :class:`InvalidArgumentError` before any work is done.
    """
    out = Path(out)
    if is_image_name(out) and not out.is_dir():
        if len(images) > 1:
            raise InvalidArgumentError(
                f"expected --out to be a directory for {len(images)} images, got the image file name {str(out)!r}")
        _check_dir(out.parent, mkdir, f"the folder of --out {str(out)!r}")
        return [out] * len(images)
    _check_dir(out, mkdir, f"--out {str(out)!r}")
    taken: set[str] = set()
    paths = []
    for i, image in enumerate(images):
        stem = Path(image).stem or f"image{i}"
        name, n = f"{stem}.png", 1
        while name.lower() in taken:  # case-insensitive: such file systems are common
            n += 1
            name = f"{stem}-{n}.png"
        taken.add(name.lower())
        paths.append(out / name)
    return paths


def _check_dir(path: Path, mkdir: bool, what: str) -> None:
    if path.is_dir():
        return
    if path.exists():
        raise InvalidArgumentError(f"expected {what} to be a directory, got a file")
    if not mkdir:
        raise InvalidArgumentError(f"expected {what} to be an existing directory, got none there "
                                   "(add --mkdir to create it)")
