"""An S3-compatible bucket: manifest-last commits, conditional writes, a lease-object lock.

Through Luigi's own `luigi.contrib.s3` client (luigi.cfg `[s3]`, or boto3's environment
variables) and boto3's client underneath it, since Luigi's has no conditional writes.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import shutil
import socket
import time
import uuid
from pathlib import Path, PurePosixPath

from pipeline.errors import ConcurrentUpdate, StorageError
from pipeline.formats import dump_json
from pipeline.storage.base import (
    MANIFEST,
    STALE_AFTER,
    Store,
    check_sha256,
    committed_by_another,
    join,
    pid_alive,
    pid_namespace,
    sweep,
    temporary,
    write_atomically,
)

logger = logging.getLogger("pipeline")

ATTEMPT_PREFIX = "attempt-"  # an output's objects live under key/attempt-<random>/
LOCK_WAIT = 600.0  # seconds to wait for a registry lock before giving up
LOCK_LEASE = 300.0  # seconds after which another host may take over a lock (its holder is presumed dead)


class S3Store(Store):
    """Files are downloaded once into a content-addressed local cache, checked against their sha256."""

    def __init__(self, root: str, cache_dir: Path, stale_after: float = STALE_AFTER):
        from luigi.contrib.s3 import S3Client

        try:
            import boto3  # noqa: F401
        except ImportError:
            raise StorageError(f"[pipeline] data_dir = {root}: an s3:// data_dir needs boto3: "
                               "pip install -e '.[s3]'") from None
        from botocore.exceptions import BotoCoreError

        self.root = root.rstrip("/")
        self.client = S3Client()  # [s3] in luigi.cfg: endpoint_url, region_name, credentials
        self.bucket, self.prefix = self.client._path_to_bucket_and_key(self.root)
        if not self.bucket:
            raise StorageError(f"[pipeline] data_dir = {root}: no bucket named (s3://bucket/prefix)")
        self.cache = cache_dir
        self.stale_after = stale_after  # see base.sweep
        try:
            self.api = self.client.s3.meta.client
        except (ValueError, BotoCoreError) as exc:
            raise StorageError(f"{root}: cannot set up the S3 client (luigi.cfg [s3]): {exc}") from None

    def url(self, key: str) -> str:
        return f"{self.root}/{key}" if key else self.root

    def host_dir(self, name: str) -> Path:
        """A directory for this host's own state (luigid's): in the local cache, not the bucket."""
        return self.cache / name

    def object_key(self, key: str) -> str:
        return join(self.prefix, key)

    def _call(self, what: str, key: str, operation, **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return operation(Bucket=self.bucket, Key=self.object_key(key), **kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409"):
                raise ConcurrentUpdate(f"{self.url(key)}: changed since it was read; not overwritten") from None
            if code in ("NoSuchKey", "404", "NotFound"):
                raise FileNotFoundError(f"{self.url(key)}: not found") from None
            raise StorageError(f"{self.url(key)}: cannot {what}: {code} {exc.response['Error'].get('Message', '')}"
                               .rstrip()) from None
        except BotoCoreError as exc:
            raise StorageError(f"{self.url(key)}: cannot {what}: {exc}") from None

    def exists(self, key: str) -> bool:
        try:
            self._call("check", key, self.api.head_object)
        except FileNotFoundError:
            return False
        return True

    def read_versioned(self, key: str) -> tuple[bytes | None, str | None]:
        """(bytes, ETag), or (None, None) when there is no object."""
        try:
            response = self._call("read", key, self.api.get_object)
        except FileNotFoundError:
            return None, None
        return response["Body"].read(), response["ETag"]

    def write_bytes(self, key: str, data: bytes) -> None:
        self._call("write", key, self.api.put_object, Body=data)

    def compare_and_swap(self, key: str, data: bytes, token: str | None) -> None:
        """One PUT, only if the object still has the ETag `token` (If-Match), or with None, if there is
        none yet (If-None-Match: *); else ConcurrentUpdate."""
        condition = {"IfNoneMatch": "*"} if token is None else {"IfMatch": token}
        self._call("write", key, self.api.put_object, Body=data, **condition)

    def append(self, key: str, line: str) -> None:
        """Read, add the line, write back only if nobody wrote in between (else again)."""
        for attempt in range(50):
            data, etag = self.read_versioned(key)
            data = data or b""
            if data and not data.endswith(b"\n"):
                data += b"\n"
            try:
                self.compare_and_swap(key, data + line.encode() + b"\n", etag)
                return
            except ConcurrentUpdate:
                time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))
        raise ConcurrentUpdate(f"{self.url(key)}: too many concurrent writers; line not appended")

    def keys(self, prefix: str) -> list[str]:
        start = len(self.prefix) + 1 if self.prefix else 0
        paginator = self.api.get_paginator("list_objects_v2")
        found = []
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.object_key(prefix) + "/"):
                found += [item["Key"][start:] for item in page.get("Contents", [])]
        except Exception as exc:  # noqa: BLE001 - botocore raises several kinds; one line for all
            raise StorageError(f"{self.url(prefix)}: cannot list: {exc}") from None
        return sorted(found)

    def children(self, prefix: str) -> list[str]:
        skip = len(prefix) + 1 if prefix else 0
        return sorted({key[skip:].split("/")[0] for key in self.keys(prefix)} - {""})

    def file(self, key: str, manifest: dict, name: str) -> Path:
        """A verified local copy of a committed file, downloaded once per content (the cache is
        keyed by sha256) from the attempt prefix the manifest names."""
        listed = manifest["files"][name]
        cached = self._cached(listed["sha256"], name)
        if cached.exists() and cached.stat().st_size == listed["size"]:
            return cached
        source = join(key, manifest["objects"], name)

        def download(tmp: Path) -> None:
            self._call("download", source, self.api.download_file, Filename=str(tmp))
            check_sha256(tmp, listed["sha256"], name=self.url(source))

        write_atomically(cached, download, self.stale_after)
        return cached

    def _cached(self, sha256: str, name: str) -> Path:
        return self.cache / "objects" / sha256[:2] / sha256 / PurePosixPath(name).name

    def staging(self, key: str) -> Path:
        """A fresh local directory to write an output into before it is uploaded."""
        parent = self.cache / "staging" / PurePosixPath(key).parent
        parent.mkdir(parents=True, exist_ok=True)
        sweep(parent, self.stale_after)
        tmp = temporary(parent, PurePosixPath(key).name)
        tmp.mkdir()
        return tmp

    def publish(self, staged: Path, key: str, manifest: dict, *, exclusive: bool = False) -> None:
        """Upload every file under key/<attempt>/, then the manifest naming the attempt, only if
        no manifest exists there yet.

        The objects of an attempt that died before its manifest are never read (a later
        attempt has another prefix). If a manifest is already there, another worker committed
        the same output first and its copy stands, untouched.
        """
        if self.exists(join(key, MANIFEST)):
            committed_by_another(self.url(key), exclusive)
            return
        attempt = f"{ATTEMPT_PREFIX}{uuid.uuid4().hex[:12]}"
        (staged / MANIFEST).write_bytes(dump_json({**manifest, "objects": attempt}))
        for name in manifest["files"]:
            self.put_file(staged / name, join(key, attempt, name))
        try:
            self.put_file(staged / MANIFEST, join(key, MANIFEST), only_if_absent=True)
        except ConcurrentUpdate:
            for name in manifest["files"]:  # never read: the manifest there names another attempt
                with contextlib.suppress(StorageError, FileNotFoundError):
                    self._call("clean up", join(key, attempt, name), self.api.delete_object)
            committed_by_another(self.url(key), exclusive)
            return
        self._cache_committed(staged, manifest["files"])

    def put_file(self, path: Path, key: str, *, only_if_absent: bool = False) -> None:
        if only_if_absent:  # small (a manifest): one conditional PUT
            self.create(key, path.read_bytes())
            return
        try:
            self.client.put(str(path), self.url(key))
        except Exception as exc:  # noqa: BLE001
            raise StorageError(f"{self.url(key)}: cannot upload: {exc}") from None

    def _cache_committed(self, staged: Path, files: dict) -> None:
        """Keep the staged files as cache entries: the next task on this host reads them without a download."""
        for name, entry in files.items():
            cached = self._cached(entry["sha256"], name)
            if not cached.exists():
                cached.parent.mkdir(parents=True, exist_ok=True)
                with contextlib.suppress(OSError):
                    os.replace(staged / name, cached)
        shutil.rmtree(staged, ignore_errors=True)

    def move(self, key: str, to: str) -> None:
        """Copy every object, manifest last; then delete the source, manifest first."""
        names = [k[len(key) + 1:] for k in self.keys(key)]
        ordered = sorted(names, key=lambda name: name == MANIFEST)
        for name in ordered:
            source = {"Bucket": self.bucket, "Key": self.object_key(join(key, name))}
            self._call("copy", join(to, name), self.api.copy_object, CopySource=source)
        for name in reversed(ordered):
            self._call("delete", join(key, name), self.api.delete_object)

    @contextlib.contextmanager
    def lock(self, key: str, *, wait: float = LOCK_WAIT, lease: float = LOCK_LEASE):
        """A lease object created only if absent. A holder that died is taken over at once when it
        ran on this host, else after its lease; the takeover is itself conditional, so one wins."""
        me = {"host": socket.gethostname(), "pidns": pid_namespace(), "pid": os.getpid(), "id": uuid.uuid4().hex}
        deadline = time.monotonic() + wait
        while True:
            body = dump_json({**me, "expires": time.time() + lease})
            try:
                self.create(key, body)
                break
            except ConcurrentUpdate:
                pass
            held, etag = self.read_versioned(key)
            if held is not None and _stale(json.loads(held)):
                try:
                    self.compare_and_swap(key, body, etag)
                    logger.warning("%s: took over a lock left by %s", self.url(key), json.loads(held)["host"])
                    break
                except ConcurrentUpdate:
                    pass
            if time.monotonic() > deadline:
                holder = json.loads(held) if held else {}
                raise StorageError(f"{self.url(key)}: still locked by {holder.get('host')} pid {holder.get('pid')} "
                                   f"after {wait:.0f}s")
            time.sleep(random.uniform(0.05, 0.25))
        try:
            yield
        finally:
            try:
                held, etag = self.read_versioned(key)
                if held and json.loads(held).get("id") == me["id"]:  # else our lease ran out and another took it
                    with contextlib.suppress(ConcurrentUpdate, FileNotFoundError):
                        self._call("unlock", key, self.api.delete_object, IfMatch=etag)
            except StorageError as exc:  # the lease runs out by itself; do not hide the body's outcome
                logger.warning("could not release %s: %s", self.url(key), exc)


def _stale(holder: dict) -> bool:
    """A lock whose lease ran out, or whose holder ran here (same host and pid namespace) and is gone."""
    if holder.get("expires", 0) < time.time():
        return True
    here = holder.get("host") == socket.gethostname() and holder.get("pidns") == pid_namespace()
    return here and not pid_alive(int(holder.get("pid", -1)))
