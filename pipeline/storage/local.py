"""A directory on local (or shared POSIX) disk: renames commit, flock locks."""
from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

from pipeline.errors import ConcurrentUpdate
from pipeline.storage.base import (
    MANIFEST,
    STALE_AFTER,
    TMP_PREFIX,
    Store,
    committed_by_another,
    join,
    sweep,
    temporary,
    write_atomically,
)


class LocalStore(Store):
    """Files are read in place; an output is committed by renaming its staged directory."""

    def __init__(self, root: Path, stale_after: float = STALE_AFTER):
        self.root = str(root)
        self.base = Path(root)
        self.stale_after = stale_after  # see base.sweep

    def path(self, key: str) -> Path:
        return self.base / key if key else self.base

    def url(self, key: str) -> str:
        return str(self.path(key))

    def host_dir(self, name: str) -> Path:
        """A directory for this host's own state (luigid's): data_dir/<name>."""
        return self.path(name)

    def exists(self, key: str) -> bool:
        return self.path(key).exists()

    def read_versioned(self, key: str) -> tuple[bytes | None, str | None]:
        """(bytes, a token that changes whenever they do), or (None, None) when there is no file."""
        try:
            data = self.path(key).read_bytes()
        except FileNotFoundError:
            return None, None
        return data, hashlib.sha256(data).hexdigest()

    def write_bytes(self, key: str, data: bytes) -> None:
        """Replace the file in one step (write aside, fsync, rename)."""
        write_atomically(self.path(key), lambda tmp: tmp.write_bytes(data), self.stale_after)

    def compare_and_swap(self, key: str, data: bytes, token: str | None) -> None:
        """Replace the file only if it still holds what was read with `token` (None: there was none).

        Callers hold the lock; the check catches a writer that did not take it.
        """
        if self.read_versioned(key)[1] != token:
            raise ConcurrentUpdate(f"{self.path(key)}: changed since it was read; not overwritten")
        self.write_bytes(key, data)

    def append(self, key: str, line: str) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+b") as fh:  # one short O_APPEND write: lines from parallel workers do not interleave
            end = fh.seek(0, os.SEEK_END)
            torn = end > 0 and fh.seek(end - 1) >= 0 and fh.read(1) != b"\n"  # a crash cut the last line
            fh.write((("\n" if torn else "") + line + "\n").encode())
            fh.flush()
            os.fsync(fh.fileno())

    def keys(self, prefix: str) -> list[str]:
        """Every file under a prefix, as keys, sorted (temporaries left out)."""
        base = self.path(prefix)
        if not base.is_dir():
            return []
        return sorted(join(prefix, str(p.relative_to(base))) for p in base.rglob("*")
                      if p.is_file() and not any(part.startswith(TMP_PREFIX) for part in p.relative_to(base).parts))

    def children(self, prefix: str) -> list[str]:
        base = self.path(prefix)
        return sorted(p.name for p in base.iterdir() if not p.name.startswith(".")) if base.is_dir() else []

    def staging(self, key: str) -> Path:
        """A fresh private directory next to where `key` will be committed."""
        final = self.path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        sweep(final.parent, self.stale_after)
        tmp = temporary(final.parent, final.name)
        tmp.mkdir()
        return tmp

    def publish(self, staged: Path, key: str, manifest: dict, *, exclusive: bool = False) -> None:
        """Rename the manifested directory into place: one step, seen whole or not at all."""
        final = self.path(key)
        _fsync_dir(staged)
        try:
            os.rename(staged, final)
        except OSError:
            if not (final / MANIFEST).exists():
                raise
            committed_by_another(self.url(key), exclusive)
        _fsync_dir(final.parent)

    def file(self, key: str, manifest: dict, name: str) -> Path:
        """A committed file of the output at `key`, read in place."""
        return self.path(join(key, name))

    def move(self, key: str, to: str) -> None:
        target = self.path(to)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(self.path(key), target)

    @contextlib.contextmanager
    def lock(self, key: str):
        import fcntl

        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
