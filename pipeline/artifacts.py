"""Atomic directory commits with a manifest, and integrity checks against it.

A task writes every file into a private temporary directory next to its output; the manifest
(size and sha256 of each file) is written last, then the directory is renamed into place in
one step. `complete()` looks for the manifest, so a crash leaves either no output or a whole
one. Temporary directories of dead processes are swept before a new one is made.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
import uuid
from pathlib import Path

import luigi

MANIFEST = "manifest.json"
_TMP_PREFIX = ".tmp-"


class IntegrityError(RuntimeError):
    """A file no longer matches the sha256 recorded for it; it is not used."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_json(path: Path, obj) -> None:
    Path(path).write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: Path):
    return json.loads(Path(path).read_text())


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_temporaries(parent: Path) -> None:
    """Remove staging directories left by processes that no longer run."""
    if not parent.is_dir():
        return
    for entry in parent.iterdir():
        if not entry.name.startswith(_TMP_PREFIX):
            continue
        try:
            pid = int(entry.name.split("-")[2])
        except (IndexError, ValueError):
            pid = -1
        if pid == os.getpid() or (pid > 0 and pid_alive(pid)):
            continue
        shutil.rmtree(entry, ignore_errors=True)


@contextlib.contextmanager
def staged_directory(final: Path, meta: dict | None = None):
    """Yield an empty temporary directory; on success, manifest it and rename it to `final`."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    sweep_temporaries(final.parent)
    tmp = final.parent / f"{_TMP_PREFIX}{final.name}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        write_manifest(tmp, meta or {})
        _fsync_dir(tmp)
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / MANIFEST).exists():
                raise
            # another worker committed the same output first; its copy stands
        _fsync_dir(final.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_manifest(directory: Path, meta: dict) -> None:
    files = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST):
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())
        files[str(path.relative_to(directory))] = {"size": path.stat().st_size, "sha256": sha256_file(path)}
    manifest = {"files": files, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **meta}
    write_json(directory / MANIFEST, manifest)


def verify_file(directory: Path, name: str) -> Path:
    """The path of a committed file, after checking it against its directory's manifest."""
    directory = Path(directory)
    path, manifest = directory / name, directory / MANIFEST
    listed = read_json(manifest)["files"].get(name) if manifest.exists() else None
    if listed is None:
        raise IntegrityError(f"{path}: not listed in a {MANIFEST}; not a committed file")
    if not path.exists():
        raise IntegrityError(f"{path}: missing")
    actual = sha256_file(path)
    if actual != listed["sha256"]:
        raise IntegrityError(f"{path}: sha256 {actual[:12]} differs from its manifest ({listed['sha256'][:12]}); "
                             "refusing to use a changed file")
    return path


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ArtifactDir(luigi.Target):
    """A committed output directory: it exists once its manifest does."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def exists(self) -> bool:
        return (self.path / MANIFEST).exists()

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def staging(self, meta: dict | None = None):
        return staged_directory(self.path, meta)

    def __repr__(self) -> str:
        return f"ArtifactDir({str(self.path)!r})"
