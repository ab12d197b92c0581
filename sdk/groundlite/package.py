"""Model packages: a directory with ``manifest.json`` plus artifacts, read and written safely.

This module only *reads* packages (writing them is the export toolchain's job:
``groundlite_export.package_writer``). The runtime opens a package with :func:`open_package`, which validates the schema, refuses paths outside the package, checks
every file's size and verifies each file's SHA-256 before it is read (all files at open, or,
as ``groundlite.load`` does, each file on first use). Nothing in a package is ever
executed or unpickled: artifacts are ONNX, OpenVINO IR or TensorRT engine files, plus JSON/text.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from . import schema
from ._version import __version__
from .errors import (
    IntegrityError,
    ManifestError,
    PackageNotFoundError,
    SchemaVersionError,
    UnsafePathError,
)

__all__ = [
    "Artifact",
    "FileEntry",
    "Package",
    "open_package",
    "sha256_file",
    "safe_join",
    "package_from_manifest",
]

_CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, streamed in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def safe_join(root: Path, rel: str, *, what: str = "file") -> Path:
    """Resolve ``rel`` inside ``root``; refuse absolute paths, ``..`` and symlinks that escape."""
    if not isinstance(rel, str) or not rel:
        raise ManifestError(f"expected a non-empty relative path for {what}, got {rel!r}")
    p = Path(rel)
    if p.is_absolute() or rel.startswith(("/", "\\")) or (len(rel) > 1 and rel[1] == ":"):
        raise UnsafePathError(f"expected a path inside the package for {what}, got absolute path {rel!r}")
    if any(part == ".." for part in p.parts):
        raise UnsafePathError(f"expected a path inside the package for {what}, got {rel!r} containing '..'")
    root_resolved = root.resolve()
    full = (root / p).resolve()
    if full != root_resolved and root_resolved not in full.parents:
        raise UnsafePathError(
            f"expected {what} {rel!r} to stay inside the package, but it resolves to {full} (symlink escape)"
        )
    return root / p


@dataclass(frozen=True)
class FileEntry:
    """One file of a package: relative path, byte size, SHA-256."""

    file: str
    bytes: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "bytes": self.bytes, "sha256": self.sha256}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str) -> "FileEntry":
        _require_keys(d, ("file", "bytes", "sha256"), where)
        if not isinstance(d["bytes"], int) or d["bytes"] < 0:
            raise ManifestError(f"expected {where}.bytes to be a non-negative int, got {d['bytes']!r}")
        if not isinstance(d["sha256"], str) or len(d["sha256"]) != 64:
            raise ManifestError(f"expected {where}.sha256 to be 64 hex characters, got {d['sha256']!r}")
        return cls(file=str(d["file"]), bytes=int(d["bytes"]), sha256=str(d["sha256"]))


@dataclass(frozen=True)
class Artifact:
    """One loadable graph: ``graph`` for ``backend`` at ``precision``.

    ``extra`` holds companion files (the ``.bin`` weights of an OpenVINO IR ``.xml``).
    """

    graph: str
    backend: str
    precision: str
    file: FileEntry
    extra: tuple[FileEntry, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = {"graph": self.graph, "backend": self.backend, "precision": self.precision, **self.file.to_dict()}
        if self.extra:
            d["extra_files"] = [e.to_dict() for e in self.extra]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str) -> "Artifact":
        _require_keys(d, ("graph", "backend", "precision", "file", "bytes", "sha256"), where)
        if d["backend"] not in schema.BACKENDS:
            raise ManifestError(f"expected {where}.backend in {schema.BACKENDS}, got {d['backend']!r}")
        if d["precision"] not in schema.PRECISIONS:
            raise ManifestError(f"expected {where}.precision in {schema.PRECISIONS}, got {d['precision']!r}")
        extra = tuple(
            FileEntry.from_dict(e, f"{where}.extra_files[{i}]") for i, e in enumerate(d.get("extra_files", []))
        )
        return cls(str(d["graph"]), str(d["backend"]), str(d["precision"]), FileEntry.from_dict(d, where), extra)

    def files(self) -> tuple[FileEntry, ...]:
        return (self.file, *self.extra)


class _LazyVerifier:
    """SHA-256 checks deferred until a file is first handed out (``verify="lazy"``), once per file."""

    def __init__(self, root: Path, entries: list[tuple[FileEntry, str]], artifacts: tuple[Artifact, ...]) -> None:
        self.root = root
        self.pending = {e.file: (e, where) for e, where in entries}
        # an artifact's main file brings its companions (an OpenVINO .xml reads its .bin)
        self.groups = {a.file.file: [f.file for f in a.files()] for a in artifacts}
        self.lock = threading.Lock()

    def check(self, rel: str) -> None:
        with self.lock:  # hashing under the lock: each file is read once, even from many threads
            todo = [self.pending[f] for f in self.groups.get(rel, [rel]) if f in self.pending]
            if todo:
                _verify_all(self.root, todo)
                for entry, _ in todo:
                    self.pending.pop(entry.file, None)


@dataclass(frozen=True)
class Package:
    """An opened, validated (and by default integrity-checked) model package."""

    root: Path
    manifest: dict[str, Any]
    artifacts: tuple[Artifact, ...]
    files: dict[str, FileEntry] = field(default_factory=dict)  # role -> entry (tokenizer, charset, ...)
    _lazy: _LazyVerifier | None = field(default=None, repr=False, compare=False)

    @property
    def family(self) -> str:
        return str(self.manifest["family"])

    @property
    def checksum(self) -> str:
        """A stable fingerprint of the package: SHA-256 over the manifest bytes."""
        return hashlib.sha256(json.dumps(self.manifest, sort_keys=True).encode()).hexdigest()

    def path(self, entry: FileEntry | str) -> Path:
        """The file's path inside the package. Opened with ``verify="lazy"``, the file (and, for
        an artifact, its companion files) is SHA-256-checked here, on first use, before the
        caller can read it; :class:`IntegrityError` if it does not match the manifest."""
        rel = entry.file if isinstance(entry, FileEntry) else entry
        path = safe_join(self.root, rel)
        if self._lazy is not None:
            self._lazy.check(rel)
        return path

    def verify_all(self) -> None:
        """SHA-256-check every file not checked yet (a no-op for an eagerly verified package)."""
        if self._lazy is not None:
            for rel in list(self._lazy.pending):
                self._lazy.check(rel)

    def find(self, graph: str, backend: str, precision: str) -> Artifact | None:
        for a in self.artifacts:
            if (a.graph, a.backend, a.precision) == (graph, backend, precision):
                return a
        return None

    def combos(self) -> list[tuple[str, str]]:
        """(backend, precision) pairs for which every graph of the family has an artifact."""
        graphs = schema.FAMILY_GRAPHS[self.family]
        seen: list[tuple[str, str]] = []
        for a in self.artifacts:
            key = (a.backend, a.precision)
            if key not in seen and all(self.find(g, *key) for g in graphs):
                seen.append(key)
        return seen

    def fidelity(self, backend: str, precision: str) -> dict[str, Any] | None:
        return self.manifest.get("fidelity", {}).get(schema.fidelity_key(backend, precision))


def _require_keys(d: Any, keys: tuple[str, ...], where: str) -> None:
    if not isinstance(d, Mapping):
        raise ManifestError(f"expected {where} to be a JSON object, got {type(d).__name__}")
    missing = [k for k in keys if k not in d]
    if missing:
        raise ManifestError(f"expected {where} to have keys {list(keys)}, missing {missing}")


def _verify(root: Path, entry: FileEntry, where: str, *, digest: bool = True) -> None:
    path = safe_join(root, entry.file, what=where)
    if not path.is_file():
        raise IntegrityError(f"expected package file {entry.file!r} ({where}) to exist, but it is missing")
    size = path.stat().st_size
    if size != entry.bytes:
        raise IntegrityError(
            f"expected {entry.file!r} to be {entry.bytes} bytes as the manifest says, got {size} (truncated or replaced)"
        )
    if not digest:
        return
    got = sha256_file(path)
    if got != entry.sha256:
        raise IntegrityError(
            f"expected {entry.file!r} to have SHA-256 {entry.sha256[:16]}..., got {got[:16]}... (file was modified)"
        )


def open_package(path: str | os.PathLike[str], *, verify: bool | str = True) -> Package:
    """Open and validate the package at ``path``.

    Raises :class:`PackageNotFoundError`, :class:`ManifestError`, :class:`SchemaVersionError`,
    :class:`UnsafePathError` or :class:`IntegrityError` with one sentence naming the problem.
    Paths are always checked to stay inside the package and every file to exist. ``verify``:

    * ``True`` / ``"all"``: size and SHA-256 of every file now.
    * ``"lazy"`` (what ``groundlite.load`` uses): sizes now; each file's SHA-256 when it is first
      handed out by :meth:`Package.path`, i.e. before a backend or the tokenizer reads it. A
      package that carries every backend and precision (1.5 GB for OWL-ViT B/32) then costs only
      the hashing of the ~20 % that is loaded. Files that are never loaded are never hashed.
    * ``False``: sizes only.
    """
    root = Path(path)
    if not root.is_dir():
        raise PackageNotFoundError(f"expected a model package directory, but {str(root)!r} does not exist")
    mpath = root / schema.MANIFEST_NAME
    if not mpath.is_file():
        raise PackageNotFoundError(f"expected {schema.MANIFEST_NAME} in {str(root)!r}, but there is none")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ManifestError(f"expected {mpath} to be valid UTF-8 JSON, got a parse error: {e}") from None
    return package_from_manifest(root, manifest, verify=verify)


def package_from_manifest(root: Path, manifest: Any, *, verify: bool | str = True) -> Package:
    """Validate ``manifest`` (a parsed ``manifest.json``, or one the runtime assembled for a built-in
    model) against the files under ``root``; the same checks and ``verify`` modes as :func:`open_package`."""
    if verify not in (True, False, "all", "lazy"):
        raise ValueError(f"expected verify to be True, False, 'all' or 'lazy', got {verify!r}")
    root = Path(root)
    _require_keys(manifest, ("schema_version", "family", "artifacts"), "manifest")
    version = manifest["schema_version"]
    if version not in schema.SUPPORTED_SCHEMA_VERSIONS:
        newer = isinstance(version, int) and not isinstance(version, bool) and version > max(schema.SUPPORTED_SCHEMA_VERSIONS)
        writer = manifest.get("sdk_version", "an unknown version")
        raise SchemaVersionError(
            f"expected manifest schema_version in {sorted(schema.SUPPORTED_SCHEMA_VERSIONS)} (groundlite {__version__}), "
            f"got {version!r} written by groundlite {writer}"
            + ("; upgrade groundlite to read it" if newer else "; re-export the package with this groundlite version")
        )
    if manifest["family"] not in schema.FAMILIES:
        raise ManifestError(f"expected manifest family in {schema.FAMILIES}, got {manifest['family']!r}")
    if not isinstance(manifest["artifacts"], list) or not manifest["artifacts"]:
        raise ManifestError("expected manifest artifacts to be a non-empty list, got none")
    artifacts = tuple(Artifact.from_dict(a, f"artifacts[{i}]") for i, a in enumerate(manifest["artifacts"]))
    files_raw = manifest.get("files", {})
    if not isinstance(files_raw, Mapping):
        raise ManifestError(f"expected manifest files to be an object of role -> entry, got {type(files_raw).__name__}")
    files = {role: FileEntry.from_dict(e, f"files.{role}") for role, e in files_raw.items()}
    entries = [(f, f"artifact {a.graph}/{a.backend}/{a.precision}") for a in artifacts for f in a.files()]
    entries += [(f, f"file {role}") for role, f in files.items()]
    entries = list({e.file: (e, where) for e, where in entries}.values())  # two precisions may share a file
    for entry, where in entries:  # paths first: nothing is read before every path is known safe
        safe_join(root, entry.file, what=where)
    if verify is True or verify == "all":
        _verify_all(root, entries)
        return Package(root=root, manifest=manifest, artifacts=artifacts, files=files)
    for entry, where in entries:
        _verify(root, entry, where, digest=False)
    lazy = _LazyVerifier(root, entries, artifacts) if verify == "lazy" else None
    return Package(root=root, manifest=manifest, artifacts=artifacts, files=files, _lazy=lazy)


def _verify_all(root: Path, entries: list[tuple[FileEntry, str]]) -> None:
    """Size + SHA-256 of every entry; hashing runs on all cores (hashlib releases the GIL), which
    matters for a package of several hundred MB. The first failure in manifest order is raised."""
    workers = min(len(entries), os.cpu_count() or 1)
    if workers <= 1:
        for entry, where in entries:
            _verify(root, entry, where)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="groundlite-verify") as pool:
        futures = [pool.submit(_verify, root, entry, where) for entry, where in entries]
    for f in futures:
        f.result()
