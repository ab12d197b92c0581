"""A bounded cache of recognised screens, keyed by pixel content.

Querying another phrase on an unchanged image must not re-run OCR: :func:`content_key` hashes the
pixels (SHA-256 over chunks hashed in parallel, ~2 ms for a 1920x1080 screen on 2 cores; hashlib
releases the GIL), and :class:`ContentCache` keeps the lines of the last few screens (LRU). A file
path is also remembered by (path, size, mtime), so a repeated path is not even decoded again.
Entries are immutable tuples, so concurrent readers share them safely.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

__all__ = ["content_key", "ContentCache"]

_CHUNK_MIN = 1 << 20
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1)), thread_name_prefix="groundlite-hash")
        return _pool


def content_key(pixels: np.ndarray) -> bytes:
    """SHA-256 over the shape, dtype and bytes of ``pixels`` (any C-contiguous or not array).

    Large arrays are split into equal chunks hashed in parallel; the key is the SHA-256 of the
    chunk digests (a different chunking would give a different key, so the chunk count depends only
    on the array size).
    """
    a = np.ascontiguousarray(pixels)
    head = f"{a.shape}|{a.dtype.str}|".encode()
    flat = memoryview(a).cast("B") if a.size else memoryview(b"")
    n = len(flat)
    parts = max(1, min(4, n // _CHUNK_MIN))
    step = -(-n // parts) if n else 1
    if parts == 1:
        digests: Any = [hashlib.sha256(flat).digest()]
    else:
        digests = _executor().map(lambda i: hashlib.sha256(flat[i * step:(i + 1) * step]).digest(), range(parts))
    h = hashlib.sha256(head)
    for d in digests:
        h.update(d)
    return h.digest()


class ContentCache:
    """Thread-safe LRU of ``key -> value`` with at most ``size`` entries (``0``: caching off)."""

    def __init__(self, size: int) -> None:
        self.size = int(size)
        self._data: OrderedDict[bytes, Any] = OrderedDict()
        self._files: OrderedDict[tuple, bytes] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def file_key(image: Any) -> tuple | None:
        """``(path, size, mtime_ns)`` for a path to an existing file, else ``None``."""
        if not isinstance(image, (str, os.PathLike)):
            return None
        try:
            path = os.path.abspath(os.fspath(image))
            st = os.stat(path)
        except (OSError, TypeError, ValueError):
            return None
        return (path, st.st_size, st.st_mtime_ns)

    def get(self, key: bytes) -> Any:
        with self._lock:
            if key not in self._data:
                return None
            self._data.move_to_end(key)
            return self._data[key]

    def get_file(self, fkey: tuple) -> Any:
        with self._lock:
            key = self._files.get(fkey)
            if key is None or key not in self._data:
                return None
            self._data.move_to_end(key)
            return self._data[key]

    def put(self, key: bytes, value: Any, fkey: tuple | None = None) -> None:
        if self.size == 0:
            return
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            if fkey is not None:
                self._files[fkey] = key
            while len(self._data) > self.size:
                self._data.popitem(last=False)
            while len(self._files) > 4 * self.size:
                self._files.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)
