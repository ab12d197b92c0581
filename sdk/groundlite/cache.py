"""The user cache directory and a small JSON store whose entries are written atomically.

The cache holds load-time decisions (which backend won the probe) and, on GPUs, TensorRT engines.
Everything in it can be deleted at any time. ``GROUNDLITE_CACHE_DIR`` overrides the location.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


__all__ = ["cache_dir", "JsonCache", "atomic_write_bytes"]

ENV_CACHE_DIR = "GROUNDLITE_CACHE_DIR"


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temp file in the same directory and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def cache_dir(*parts: str) -> Path:
    """``$GROUNDLITE_CACHE_DIR`` or the platform's user cache dir for groundlite, joined with ``parts``.

    The directory is not created; writers create it on demand.
    """
    root = os.environ.get(ENV_CACHE_DIR)
    if not root:
        import platformdirs

        root = platformdirs.user_cache_dir("groundlite", appauthor=False)
    return Path(root).joinpath(*parts)


class JsonCache:
    """Key -> JSON object, one file per key, so concurrent writers never lose each other's entries.

    A missing, unreadable or corrupt entry reads as ``None`` (the caller recomputes it).
    """

    def __init__(self, name: str, root: Path | None = None) -> None:
        self.dir = (root if root is not None else cache_dir()) / name

    def _path(self, key: str) -> Path:
        return self.dir / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".json")

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored object for ``key``, or ``None``."""
        try:
            data = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None
        if not isinstance(data, dict) or data.get("key") != key:
            return None
        return data.get("value")

    def put(self, key: str, value: dict[str, Any]) -> bool:
        """Store ``value`` atomically; returns ``False`` (and stores nothing) if the cache is not writable."""
        payload = json.dumps({"key": key, "value": value}, sort_keys=True).encode("utf-8")
        try:
            atomic_write_bytes(self._path(key), payload)
        except OSError:
            return False
        return True
