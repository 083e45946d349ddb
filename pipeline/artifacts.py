"""Atomic directory commits with a manifest, and integrity checks against it.

A task writes every file into a private local staging directory; the manifest (size and sha256
of each file) is written last, then the store commits the directory in one step: a rename on
local disk, an upload with the manifest last on S3 (see pipeline/storage.py). `complete()`
looks for the manifest, so a crash leaves either no output or a whole one. Staging
directories of dead processes are swept before a new one is made.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from pathlib import Path

import luigi

from pipeline.storage import MANIFEST, Store, join, sha256_file

__all__ = ["MANIFEST", "ArtifactDir", "IntegrityError", "read_json", "sha256_file", "write_json", "write_manifest"]


class IntegrityError(RuntimeError):
    """A file no longer matches the sha256 recorded for it; it is not used."""


def write_json(path: Path, obj) -> None:
    Path(path).write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: Path):
    return json.loads(Path(path).read_text())


def write_manifest(directory: Path, meta: dict) -> None:
    files = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST):
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())
        files[str(path.relative_to(directory))] = {"size": path.stat().st_size, "sha256": sha256_file(path)}
    manifest = {"files": files, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **meta}
    write_json(directory / MANIFEST, manifest)


class ArtifactDir(luigi.Target):
    """A committed output directory in a store: it exists once its manifest does.

    `target / name` is a local path to read (on S3, a verified download); `verified(name)` also
    checks the file against the manifest on local disk, for files whose integrity matters.
    """

    def __init__(self, store: Store, key: str):
        self.store, self.key = store, key

    @property
    def url(self) -> str:
        return self.store.url(self.key)

    def exists(self) -> bool:
        return self.store.exists(join(self.key, MANIFEST))

    def manifest(self) -> dict:
        if "_manifest" not in self.__dict__:
            try:
                self._manifest = self.store.read_json(join(self.key, MANIFEST))
            except FileNotFoundError:
                raise IntegrityError(f"{self.url}: no {MANIFEST}; not a committed output") from None
        return self._manifest

    def listed(self, name: str) -> bool:
        return name in self.manifest()["files"]

    def __truediv__(self, name: str) -> Path:
        if self.store.local:
            return self.store.path(join(self.key, name))
        listed = self._listing(name)  # on S3 the objects live under the attempt the manifest names
        return self.store.local_path(join(self.key, self.manifest()["objects"], name), listed["sha256"],
                                     listed["size"])

    def _listing(self, name: str) -> dict:
        listed = self.manifest()["files"].get(name)
        if listed is None:
            raise IntegrityError(f"{self.store.url(join(self.key, name))}: not listed in a {MANIFEST}; "
                                 "not a committed file")
        return listed

    def verified(self, name: str) -> Path:
        """A local path of a committed file, after checking it against its manifest."""
        expected, path = self._listing(name)["sha256"], self / name
        if not path.exists():
            raise IntegrityError(f"{self.store.url(join(self.key, name))}: missing")
        actual = sha256_file(path)
        if actual != expected:
            raise IntegrityError(f"{self.store.url(join(self.key, name))}: sha256 {actual[:12]} differs from its "
                                 f"manifest ({expected[:12]}); refusing to use a changed file")
        return path

    def read_json(self, name: str):
        return read_json(self / name)

    @contextlib.contextmanager
    def staging(self, meta: dict | None = None, *, exclusive: bool = False):
        """Yield an empty local directory; on success, manifest it and commit it to this key.

        If another writer committed this key first, its copy stands (with `exclusive`, that
        raises ConcurrentUpdate instead).
        """
        tmp = self.store.staging(self.key)
        try:
            yield tmp
            write_manifest(tmp, meta or {})
            self.store.commit(tmp, self.key, exclusive=exclusive)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def __repr__(self) -> str:
        return f"ArtifactDir({self.url!r})"
