"""Writing model packages: staging directories renamed into place, file entries, the manifest.

The runtime only reads packages (:mod:`groundlite.package`); everything that writes one lives here,
in the export toolchain. An interrupted export leaves nothing half-written.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator, Mapping

from groundlite import schema
from groundlite.cache import atomic_write_bytes
from groundlite.errors import ExportError
from groundlite.package import FileEntry, sha256_file

__all__ = ["file_entry", "write_manifest", "staging_dir", "atomic_write_bytes"]


def file_entry(root: Path, path: Path) -> FileEntry:
    """Describe ``path`` (inside ``root``) as a :class:`FileEntry`."""
    rel = path.relative_to(root).as_posix()
    return FileEntry(file=rel, bytes=path.stat().st_size, sha256=sha256_file(path))


def write_manifest(root: Path, manifest: Mapping[str, Any]) -> Path:
    """Write ``manifest.json`` atomically (temp file + rename)."""
    data = json.dumps(manifest, indent=2, sort_keys=False).encode("utf-8") + b"\n"
    return atomic_write_bytes(root / schema.MANIFEST_NAME, data)


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def staging_dir(out: str | os.PathLike[str], *, force: bool = False) -> Iterator[Path]:
    """Yield a temp dir beside ``out``; on success it replaces ``out`` atomically, on any error
    (including KeyboardInterrupt) it is deleted and ``out`` is left as it was."""
    out = Path(out)
    if out.exists() and not force:
        raise ExportError(f"expected {str(out)!r} not to exist, but it does; pass force=True to replace it")
    parent = out.parent if str(out.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=parent))
    except OSError as e:
        raise ExportError(f"expected a writable output directory at {str(parent)!r}, got: {e.strerror}") from None
    try:
        yield tmp
        # mkdtemp creates 0700; a finished package gets the normal directory mode for this umask
        os.chmod(tmp, 0o777 & ~_current_umask())
        if out.exists():
            old = parent / f".{out.name}.old-{os.getpid()}"
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
