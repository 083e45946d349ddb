"""Where artifacts live: a local directory (the default) or an S3-compatible bucket.

`[pipeline] data_dir` is a path (LocalStore) or an `s3://bucket/prefix` URL (S3Store).
Everything above this package speaks in keys, POSIX paths relative to data_dir, and gets the
same guarantees from both stores:

    commit(staged, key, meta)   manifest a staged directory (size and sha256 of each file) and
                                publish it whole. Locally that is one rename; on S3 every file is
                                uploaded under a fresh attempt prefix, then the manifest, which
                                names that prefix, last and only if none exists yet. An output
                                exists exactly when its manifest does, and no writer ever
                                overwrites the objects of another's attempt.
    file(key, manifest, name)   a local file to read: in place on disk; on S3 downloaded once
                                into the content-addressed cache ([pipeline] cache_dir) and
                                checked against the sha256 its manifest recorded.
    lock(key)                   mutual exclusion between processes, across hosts on S3 (a lease
                                object created only if absent), for the registry's writes.
    compare_and_swap(key, data, token)
                                replace an object only if it still holds what the caller read
                                (If-Match on S3), so a writer whose lock lease ran out cannot
                                overwrite a newer production pointer.
    append(key, line)           add a line to a log (history.jsonl, durations.jsonl).
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

from pipeline.errors import StorageError
from pipeline.storage.base import (
    MANIFEST,
    STALE_AFTER,
    Store,
    check_sha256,
    is_http,
    is_s3,
    join,
    pid_alive,
    sha256_file,
    write_atomically,
)
from pipeline.storage.local import LocalStore

__all__ = ["MANIFEST", "LocalStore", "Store", "check_sha256", "is_http", "is_s3", "join", "locate", "open_store",
           "pid_alive", "read_file", "sha256_file", "target", "write_atomically"]


def open_store(location: str, cache_dir: str | None = None, stale_after: float = STALE_AFTER) -> Store:
    """The store for a data_dir (one per process: a boto3 client must not cross a fork)."""
    return _open(str(location), cache_dir or "", stale_after, os.getpid())


@functools.lru_cache(maxsize=8)
def _open(location: str, cache_dir: str, stale_after: float, pid: int) -> Store:
    if is_s3(location):
        from pipeline.storage.s3 import S3Store

        return S3Store(location, Path(cache_dir or default_cache_dir()), stale_after)
    if "://" in location:
        raise StorageError(f"[pipeline] data_dir = {location}: only local paths and s3:// URLs are supported")
    return LocalStore(Path(location), stale_after)


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "luigi-ml-pipeline"


def locate(url: str) -> tuple[Store, str]:
    """(store, key) of an object named by an s3:// URL."""
    bucket, _, key = url[len("s3://"):].partition("/")
    return open_store(f"s3://{bucket}"), key


def target(location: str):
    """A Luigi target for a file named by a path or s3:// URL (inputs that arrive from outside)."""
    import luigi

    if is_s3(location):
        from luigi.contrib.s3 import S3Target

        store, _ = locate(location)
        return S3Target(location, client=store.client)
    return luigi.LocalTarget(location)


def read_file(url: str) -> bytes:
    """The bytes of an object named by an s3:// URL."""
    store, key = locate(url)
    return store.read_bytes(key)
