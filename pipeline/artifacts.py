"""A committed output directory as a Luigi target, and integrity checks against its manifest.

A task writes every file into a private local staging directory; the store then writes the
manifest (size and sha256 of each file) and commits the directory in one step (see
pipeline/storage). `complete()` looks for the manifest, so a crash leaves either no output or
a whole one.
"""
from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import luigi

from pipeline.errors import IntegrityError
from pipeline.formats import read_json
from pipeline.storage import MANIFEST, Store, check_sha256, join


class ArtifactDir(luigi.Target):
    """A committed output directory in a store: it exists once its manifest does.

    `target / name` is a local path to read a committed file (on S3, a verified download);
    `verified(name)` also checks it against the manifest on local disk, for files whose
    integrity matters.
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
        if not self.listed(name):
            raise IntegrityError(f"{self.store.url(join(self.key, name))}: not listed in a {MANIFEST}; "
                                 "not a committed file")
        return self.store.file(self.key, self.manifest(), name)

    def verified(self, name: str) -> Path:
        """A local path of a committed file, after checking it against its manifest."""
        path = self / name
        return check_sha256(path, self.manifest()["files"][name]["sha256"], name=self.store.url(join(self.key, name)))

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
            self.store.commit(tmp, self.key, meta or {}, exclusive=exclusive)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def __repr__(self) -> str:
        return f"ArtifactDir({self.url!r})"
