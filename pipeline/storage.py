"""Where artifacts live: a local directory (the default) or an S3-compatible bucket.

`[pipeline] data_dir` is a path (LocalStore) or an `s3://bucket/prefix` URL (S3Store, through
Luigi's own `luigi.contrib.s3` client, configured by luigi.cfg `[s3]` or boto3's environment
variables). Everything above this module speaks in keys, POSIX paths relative to data_dir, and
gets the same guarantees from both stores:

    commit(staged, key)   publish a staged directory whole. Locally it is one rename; on S3 every
                          file is uploaded under a fresh attempt prefix, then the manifest, which
                          names that prefix, last and only if none exists yet. An output exists
                          exactly when its manifest does, and no writer ever overwrites the
                          objects of another's attempt.
    local_path(key, sha)  (S3) a local file to read: downloaded once into the content-addressed
                          cache ([pipeline] cache_dir), checked against the sha256 its manifest
                          recorded. A local store reads files in place.
    lock(key)             mutual exclusion between processes, across hosts on S3 (a lease object
                          created only if absent), for the registry's read-modify-write.
    write_bytes(key, data, expect=...)
                          replace an object in one step; with `expect`, only if it still holds
                          what the caller read (If-Match on S3), so a writer whose lock lease ran
                          out cannot overwrite a newer production pointer.
    append(key, line)     add a line to a log (history.jsonl, durations.jsonl).
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import random
import shutil
import socket
import time
import uuid
from pathlib import Path, PurePosixPath

logger = logging.getLogger("pipeline")

MANIFEST = "manifest.json"
TMP_PREFIX = ".tmp-"
ATTEMPT_PREFIX = "attempt-"  # S3: an output's objects live under key/attempt-<random>/
LOCK_WAIT = 600.0  # seconds to wait for a registry lock before giving up
LOCK_LEASE = 300.0  # seconds after which another host may take over a lock (its holder is presumed dead)


class ConcurrentUpdate(RuntimeError):
    """Someone else changed an object between our read and our write; nothing was overwritten."""


class StorageError(RuntimeError):
    """The store cannot be reached or used as configured; the message names it and says why."""


def is_url(location: str) -> bool:
    return str(location).startswith("s3://")


def join(*parts: str) -> str:
    return str(PurePosixPath(*[p for p in parts if p]))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError, ValueError):
        return False
    except PermissionError:
        return True
    return True


def locate(url: str) -> tuple[Store, str]:
    """(store, key) of an object named by an s3:// URL."""
    bucket, _, key = url[len("s3://"):].partition("/")
    return open_store(f"s3://{bucket}"), key


def target(location: str):
    """A Luigi target for a file named by a path or s3:// URL (inputs that arrive from outside)."""
    import luigi

    if is_url(location):
        from luigi.contrib.s3 import S3Target

        store, _ = locate(location)
        return S3Target(location, client=store.client)
    return luigi.LocalTarget(location)


def read_file(url: str) -> bytes:
    """The bytes of an object named by an s3:// URL."""
    store, key = locate(url)
    return store.read_bytes(key)


def open_store(location: str, cache_dir: str | None = None) -> Store:
    """The store for a data_dir (one per process: a boto3 client must not cross a fork)."""
    return _open(str(location), cache_dir or "", os.getpid())


@functools.lru_cache(maxsize=8)
def _open(location: str, cache_dir: str, pid: int) -> Store:
    if is_url(location):
        return S3Store(location, Path(cache_dir or default_cache_dir()))
    if "://" in location:
        raise StorageError(f"[pipeline] data_dir = {location}: only local paths and s3:// URLs are supported")
    return LocalStore(Path(location))


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "luigi-ml-pipeline"


class Store:
    """What the pipeline needs from storage; see the module docstring."""

    root: str
    local: bool  # files are read in place (else downloaded into the cache first)

    def url(self, key: str) -> str:
        raise NotImplementedError

    def read_json(self, key: str):
        return json.loads(self.read_bytes(key))

    def write_json(self, key: str, obj, **kwargs) -> None:
        self.write_bytes(key, dump_json(obj), **kwargs)

    def read_text(self, key: str) -> str | None:
        """The object's text, or None when there is none."""
        data, _ = self.read_versioned(key)
        return None if data is None else data.decode()

    def read_bytes(self, key: str) -> bytes:
        data, _ = self.read_versioned(key)
        if data is None:
            raise FileNotFoundError(f"{self.url(key)}: not found")
        return data

    # exists, read_versioned, write_bytes, append, keys, children, staging,
    # commit, move, lock: per store below (S3Store adds local_path, LocalStore path)


def dump_json(obj) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode()


# ---------------------------------------------------------------------------- local disk


class LocalStore(Store):
    """A directory on local (or shared POSIX) disk: renames commit, flock locks."""

    local = True

    def __init__(self, root: Path):
        self.root = str(root)
        self.base = Path(root)

    def path(self, key: str) -> Path:
        return self.base / key if key else self.base

    def url(self, key: str) -> str:
        return str(self.path(key))

    def exists(self, key: str) -> bool:
        return self.path(key).exists()

    def read_versioned(self, key: str) -> tuple[bytes | None, str | None]:
        try:
            data = self.path(key).read_bytes()
        except FileNotFoundError:
            return None, None
        return data, hashlib.sha256(data).hexdigest()

    def write_bytes(self, key: str, data: bytes, *, expect: str | None | bool = False) -> None:
        """Replace the file in one step (write aside, fsync, rename). Callers that pass `expect`
        hold the lock; the check then catches a writer that did not take it."""
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        if expect is not False and self.read_versioned(key)[1] != expect:
            raise ConcurrentUpdate(f"{path}: changed since it was read; not overwritten")
        _sweep(path.parent)
        tmp = _temporary(path.parent, path.name)
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

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
        """Every file under a prefix, as keys, sorted."""
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
        _sweep(final.parent)
        tmp = _temporary(final.parent, final.name)
        tmp.mkdir()
        return tmp

    def commit(self, staged: Path, key: str, *, exclusive: bool = False) -> None:
        final = self.path(key)
        _fsync_dir(staged)
        try:
            os.rename(staged, final)
        except OSError:
            if not (final / MANIFEST).exists():
                raise
            _committed_by_another(self.url(key), exclusive)
        _fsync_dir(final.parent)

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


def _temporary(parent: Path, name: str) -> Path:
    """A private name for a file or directory being written: .tmp-<pid>-<random>-<name>."""
    return parent / f"{TMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}-{name}"


def _sweep(parent: Path) -> None:
    """Remove temporaries (see _temporary) left by processes that no longer run."""
    if not parent.is_dir():
        return
    for entry in parent.iterdir():
        if not entry.name.startswith(TMP_PREFIX):
            continue
        pid = entry.name[len(TMP_PREFIX):].split("-")[0]
        pid = int(pid) if pid.isdigit() else -1
        if pid == os.getpid() or (pid > 0 and pid_alive(pid)):
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------- S3


class S3Store(Store):
    """An S3-compatible bucket: manifest-last commits, conditional writes, a lease-object lock."""

    local = False

    def __init__(self, root: str, cache_dir: Path):
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
        try:
            # boto3's own client too: Luigi's S3Client has no conditional writes, which commits,
            # the lock and the production pointer need
            self.api = self.client.s3.meta.client
        except (ValueError, BotoCoreError) as exc:
            raise StorageError(f"{root}: cannot set up the S3 client (luigi.cfg [s3]): {exc}") from None

    def url(self, key: str) -> str:
        return f"{self.root}/{key}" if key else self.root

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
        try:
            response = self._call("read", key, self.api.get_object)
        except FileNotFoundError:
            return None, None
        return response["Body"].read(), response["ETag"]

    def write_bytes(self, key: str, data: bytes, *, expect: str | None | bool = False) -> None:
        condition = {} if expect is False else {"IfNoneMatch": "*"} if expect is None else {"IfMatch": expect}
        self._call("write", key, self.api.put_object, Body=data, **condition)

    def append(self, key: str, line: str) -> None:
        """Read, add the line, write back only if nobody wrote in between (else again)."""
        for attempt in range(50):
            data, etag = self.read_versioned(key)
            data = data or b""
            if data and not data.endswith(b"\n"):
                data += b"\n"
            try:
                self.write_bytes(key, data + line.encode() + b"\n", expect=etag)
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

    def local_path(self, key: str, sha256: str, size: int) -> Path:
        """A verified local copy, downloaded once per content (the cache is keyed by sha256)."""
        cached = self._cached(sha256, key)
        if cached.exists() and cached.stat().st_size == size:
            return cached
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = _temporary(cached.parent, cached.name)
        try:
            self._call("download", key, self.api.download_file, Filename=str(tmp))
            actual = sha256_file(tmp)
            if actual != sha256:
                from pipeline.artifacts import IntegrityError

                raise IntegrityError(f"{self.url(key)}: sha256 {actual[:12]} differs from its manifest "
                                     f"({sha256[:12]}); refusing to use a changed file")
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, cached)
        finally:
            tmp.unlink(missing_ok=True)
        return cached

    def _cached(self, sha256: str, key: str) -> Path:
        return self.cache / "objects" / sha256[:2] / sha256 / PurePosixPath(key).name

    def staging(self, key: str) -> Path:
        """A fresh local directory to write an output into before it is uploaded."""
        parent = self.cache / "staging" / PurePosixPath(key).parent
        parent.mkdir(parents=True, exist_ok=True)
        _sweep(parent)
        tmp = _temporary(parent, PurePosixPath(key).name)
        tmp.mkdir()
        return tmp

    def commit(self, staged: Path, key: str, *, exclusive: bool = False) -> None:
        """Upload every file under key/<attempt>/, then the manifest naming the attempt, only if
        no manifest exists there yet.

        The objects of an attempt that died before its manifest are never read (a later
        attempt has another prefix). If a manifest is already there, another worker committed
        the same output first and its copy stands, untouched: with `exclusive`, that is an
        error (ConcurrentUpdate) instead.
        """
        if self.exists(join(key, MANIFEST)):
            _committed_by_another(self.url(key), exclusive)
            return
        attempt = f"{ATTEMPT_PREFIX}{uuid.uuid4().hex[:12]}"
        manifest = json.loads((staged / MANIFEST).read_bytes())
        (staged / MANIFEST).write_bytes(dump_json({**manifest, "objects": attempt}))
        for name in manifest["files"]:
            self.put_file(staged / name, join(key, attempt, name))
        try:
            self.put_file(staged / MANIFEST, join(key, MANIFEST), only_if_absent=True)
        except ConcurrentUpdate:
            for name in manifest["files"]:  # never read: the manifest there names another attempt
                with contextlib.suppress(StorageError, FileNotFoundError):
                    self._call("clean up", join(key, attempt, name), self.api.delete_object)
            _committed_by_another(self.url(key), exclusive)
            return
        self._cache_committed(staged, manifest["files"])

    def put_file(self, path: Path, key: str, *, only_if_absent: bool = False) -> None:
        if only_if_absent:  # small (a manifest): one conditional PUT
            self.write_bytes(key, path.read_bytes(), expect=None)
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
            self._copy(join(key, name), join(to, name))
        for name in reversed(ordered):
            self._call("delete", join(key, name), self.api.delete_object)

    def _copy(self, key: str, to: str) -> None:
        source = {"Bucket": self.bucket, "Key": self.object_key(key)}
        self._call("copy", to, self.api.copy_object, CopySource=source)

    @contextlib.contextmanager
    def lock(self, key: str, *, wait: float = LOCK_WAIT, lease: float = LOCK_LEASE):
        """A lease object created only if absent. A holder that died is taken over at once when it
        ran on this host, else after its lease; the takeover is itself conditional, so one wins."""
        me = {"host": socket.gethostname(), "pidns": _pid_namespace(), "pid": os.getpid(), "id": uuid.uuid4().hex}
        deadline = time.monotonic() + wait
        while True:
            body = dump_json({**me, "expires": time.time() + lease})
            try:
                self.write_bytes(key, body, expect=None)
                break
            except ConcurrentUpdate:
                pass
            held, etag = self.read_versioned(key)
            if held is not None and _stale(json.loads(held)):
                try:
                    self.write_bytes(key, body, expect=etag)
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
    here = holder.get("host") == socket.gethostname() and holder.get("pidns") == _pid_namespace()
    return here and not pid_alive(int(holder.get("pid", -1)))


def _pid_namespace() -> str:
    """Which pids a pid is relative to: containers sharing a hostname may not see each other's."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def _committed_by_another(url: str, exclusive: bool) -> None:
    if exclusive:
        raise ConcurrentUpdate(f"{url}: committed by another writer first")
    logger.warning("%s was committed by another worker first; its copy stands", url)
