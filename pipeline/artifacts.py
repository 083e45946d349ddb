"""A committed output directory as a Luigi target, and integrity checks against its manifest.

A task writes every file into a private local staging directory; the store then writes the
manifest (size and sha256 of each file) and commits the directory in one step (see
pipeline/storage). `complete()` looks for the manifest, so a crash leaves either no output or
a whole one.
"""
from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

import luigi

from pipeline.errors import IntegrityError
from pipeline.formats import read_json
from pipeline.storage import MANIFEST, Store, check_sha256, join


class ArtifactDir(luigi.Target):
    """A committed output directory in a store: it exists once its manifest does.

    `target / name` is a local path to read a committed file, checked against the manifest
    (size and sha256) first, on every store. `remedy` says how to rebuild the output; it ends
    every error about it.
    """

    def __init__(self, store: Store, key: str, *, remedy: str | None = None):
        self.store, self.key, self.remedy = store, key, remedy

    @property
    def url(self) -> str:
        return self.store.url(self.key)

    def exists(self) -> bool:
        return self.store.exists(join(self.key, MANIFEST))

    def _then(self) -> str:
        return f"; {self.remedy}" if self.remedy else ""

    def manifest(self) -> dict:
        if "_manifest" not in self.__dict__:
            url = self.store.url(join(self.key, MANIFEST))
            try:
                data = self.store.read_bytes(join(self.key, MANIFEST))
            except FileNotFoundError:
                raise IntegrityError(f"{self.url}: no {MANIFEST}; not a committed output{self._then()}") from None
            self._manifest = _parse_manifest(data, url, self._then())
        return self._manifest

    def listed(self, name: str) -> bool:
        return name in self.manifest()["files"]

    def __truediv__(self, name: str) -> Path:
        """A local path of a committed file, checked against its manifest (size and sha256)."""
        return self.file(name)

    def file(self, name: str, *, refusing: str = "to use a changed file") -> Path:
        """`self / name`, saying what is refused when the file changed ("to load a changed model")."""
        url = self.store.url(join(self.key, name))
        if not self.listed(name):
            raise IntegrityError(f"{url}: not listed in a {MANIFEST}; not a committed file{self._then()}")
        listed = self.manifest()["files"][name]
        return check_sha256(self.store.file(self.key, self.manifest(), name), listed["sha256"], name=url,
                            size=listed["size"], refusing=refusing, remedy=self.remedy)

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


def _parse_manifest(data: bytes, url: str, then: str) -> dict:
    """A manifest as written by the store, or IntegrityError naming what is wrong with it."""
    try:
        manifest = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IntegrityError(f"{url}: damaged ({'empty' if not data else f'not JSON: {exc}'}){then}") from None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or not all(isinstance(entry, dict) and {"size", "sha256"} <= set(entry)
                                              for entry in files.values()):
        raise IntegrityError(f"{url}: damaged (no list of files with their size and sha256){then}")
    return manifest
