"""Typed exceptions raised by groundlite.

Every error carries one sentence saying what was expected and what arrived. The CLI prints
``str(error)`` and exits non-zero; it shows a traceback only with ``--debug``.

All exceptions derive from :class:`GroundliteError`. Input-validation errors also derive from
``ValueError`` (and missing files from ``FileNotFoundError``) so callers that catch the builtin
types keep working.
"""

from __future__ import annotations

__all__ = [
    "GroundliteError",
    "InvalidArgumentError",
    "InvalidImageError",
    "ImageTooLargeError",
    "InvalidPhraseError",
    "PackageError",
    "PackageNotFoundError",
    "ManifestError",
    "SchemaVersionError",
    "IntegrityError",
    "UnsafePathError",
    "BackendError",
    "BackendUnavailableError",
    "NoBackendError",
    "ExportError",
    "CalibrationError",
    "did_you_mean",
]

import difflib
from typing import Iterable


class GroundliteError(Exception):
    """Base class of every error groundlite raises on purpose."""

    #: process exit status used by the CLI for this kind of error
    exit_code: int = 1


class InvalidArgumentError(GroundliteError, ValueError):
    """An argument has the wrong type, shape, range or name."""

    exit_code = 2


class InvalidImageError(GroundliteError, ValueError):
    """An image could not be decoded or has an unusable shape, dtype or mode."""

    exit_code = 3


class ImageTooLargeError(InvalidImageError):
    """An image exceeds the configured pixel limit (decompression-bomb guard)."""


class InvalidPhraseError(InvalidArgumentError):
    """A phrase list is empty, or a phrase is blank or has no searchable characters."""


class PackageError(GroundliteError):
    """A model package is missing, malformed, tampered with or unsupported."""

    exit_code = 4


class PackageNotFoundError(PackageError, FileNotFoundError):
    """No model package exists at the given path or under the given built-in name."""


class ManifestError(PackageError, ValueError):
    """``manifest.json`` is unreadable or violates the schema."""


class SchemaVersionError(ManifestError):
    """The manifest's ``schema_version`` is not one this SDK reads."""


class IntegrityError(PackageError):
    """An artifact's size or SHA-256 differs from the manifest (tampered or truncated file)."""


class UnsafePathError(PackageError):
    """A manifest names a path outside the package (``..``, absolute path or escaping symlink)."""


class BackendError(GroundliteError):
    """An inference backend failed to load an artifact or to run it."""

    exit_code = 5


class BackendUnavailableError(BackendError):
    """A requested backend, device or precision is not available here or not in the package."""


class NoBackendError(BackendError):
    """Every candidate backend failed; the message lists each failure."""


class ExportError(GroundliteError):
    """Exporting a model package failed (bad source, bad options, unwritable output)."""

    exit_code = 6


class CalibrationError(ExportError):
    """The INT8 calibration images are missing, empty or unreadable."""


def did_you_mean(value: object, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the choice closest to ``value`` (a prefix match first), or ``""``.

    The one hint helper: every "expected one of ..., got ..." message appends it.
    """
    options = [str(c) for c in choices]
    text = str(value).lower()
    match = [c for c in options if text and c.lower().startswith(text)]
    match = match or difflib.get_close_matches(text, [c.lower() for c in options], n=1)
    if not match:
        return ""
    best = next((c for c in options if c.lower() == match[0].lower()), match[0])
    return f"; did you mean {best!r}?"
