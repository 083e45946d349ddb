"""What every store shares: keys and locations, the manifest, the one sha256 check, temporaries.

Keys are POSIX paths relative to data_dir. An output is a directory of files plus the
`manifest.json` that lists each file's size and sha256; it exists exactly when its manifest does.
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
import socket
import time
import uuid
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

from pipeline.errors import ConcurrentUpdate, IntegrityError
from pipeline.formats import dump_json, now

logger = logging.getLogger("pipeline")

MANIFEST = "manifest.json"
TMP_PREFIX = ".tmp-"
STALE_AFTER = 24 * 3600.0  # seconds after which another host's or pid namespace's temporary is presumed dead


# ---------------------------------------------------------------------------- locations

def is_s3(location: str) -> bool:
    """An s3:// URL (a data_dir, a source, an incoming file), as opposed to a local path."""
    return str(location).startswith("s3://")


def is_http(location: str) -> bool:
    """An http(s):// URL (a dataset source fetched over HTTP)."""
    return urlparse(str(location)).scheme in ("http", "https")


def join(*parts: str) -> str:
    return str(PurePosixPath(*[p for p in parts if p]))


# ---------------------------------------------------------------------------- integrity

def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_VERIFIED: dict[tuple, str] = {}  # a file's identity -> its sha256, for files hashed in this process


def file_identity(stat: os.stat_result) -> tuple:
    """The same file, unchanged: a rename keeps all four (so a committed file is its staged one)."""
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns


def check_sha256(path: Path, expected: str, *, name: str, size: int | None = None, recorded_in: str = "manifest",
                 refusing: str = "to use a changed file", remedy: str | None = None) -> Path:
    """`path`, if its bytes are the ones whose size and sha256 were recorded (in a manifest or a card).

    A file hashed before in this process and unchanged since (same inode, size and mtime: when it
    was staged, say) is not hashed again. `remedy` says how to rebuild the file; it ends the error.
    """
    path = Path(path)
    then = f"; {remedy}" if remedy else ""
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise IntegrityError(f"{name}: missing{then}") from None
    if size is not None and stat.st_size != size:
        raise IntegrityError(f"{name}: {stat.st_size} bytes where its {recorded_in} records {size}; "
                             f"refusing {refusing}{then}")
    identity = file_identity(stat)
    actual = _VERIFIED.get(identity) or sha256_file(path)
    if actual != expected:
        raise IntegrityError(f"{name}: sha256 {actual[:12]} differs from its {recorded_in} ({expected[:12]}); "
                             f"refusing {refusing}{then}")
    _VERIFIED[identity] = actual
    return path


def write_manifest(directory: Path, meta: dict) -> dict:
    """List every file of a staged directory (size, sha256; each fsynced first) in its manifest.json."""
    files = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST):
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())
        stat, digest = path.stat(), sha256_file(path)
        _VERIFIED[file_identity(stat)] = digest
        files[str(path.relative_to(directory))] = {"size": stat.st_size, "sha256": digest}
    manifest = {"files": files, "created": now(), **meta}
    (directory / MANIFEST).write_bytes(dump_json(manifest))
    return manifest


def committed_by_another(url: str, exclusive: bool) -> None:
    """Another writer published this output first: its copy stands (an error if we needed our own)."""
    if exclusive:
        raise ConcurrentUpdate(f"{url}: committed by another writer first")
    logger.warning("%s was committed by another worker first; its copy stands", url)


# ---------------------------------------------------------------------------- processes and temporaries

def pid_alive(pid: int) -> bool:
    """Whether a process with this pid runs (one that exited but was not reaped yet does not)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError, ValueError):
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): kill(0) is all there is
    return stat.rpartition(")")[2].split()[0] != "Z"  # the state follows the command name in parentheses


def pid_namespace() -> str:
    """Which pids a pid is relative to: containers sharing a hostname may not see each other's."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


@functools.lru_cache(maxsize=1)
def _owner() -> str:
    """This host and pid namespace, as the short id a temporary's name carries."""
    return "n" + hashlib.sha256(f"{socket.gethostname()} {pid_namespace()}".encode()).hexdigest()[:8]


def temporary(parent: Path, name: str) -> Path:
    """A private name for a file or directory being written: .tmp-<host and pid namespace>-<pid>-<random>-<name>."""
    return parent / f"{TMP_PREFIX}{_owner()}-{os.getpid()}-{uuid.uuid4().hex[:8]}-{name}"


def sweep(parent: Path, stale_after: float = STALE_AFTER) -> None:
    """Remove the temporaries (see `temporary`) in `parent` whose writer is provably gone: a process
    of this host and pid namespace that no longer runs, or anyone's, older than `stale_after`
    seconds. A pid of another namespace (a container, a host on shared storage) tells nothing."""
    if not parent.is_dir():
        return
    for entry in parent.iterdir():
        if entry.name.startswith(TMP_PREFIX) and _writer_gone(entry, stale_after):
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def _writer_gone(entry: Path, stale_after: float) -> bool:
    owner, _, rest = entry.name[len(TMP_PREFIX):].partition("-")
    pid = rest.partition("-")[0]
    if owner == _owner() and pid.isdigit():
        return int(pid) != os.getpid() and not pid_alive(int(pid))
    try:
        return time.time() - entry.lstat().st_mtime > stale_after
    except FileNotFoundError:
        return False


def write_atomically(path: Path, write, stale_after: float = STALE_AFTER) -> None:
    """Call `write(temporary_path)`, fsync the file, then rename it to `path` in one step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep(path.parent, stale_after)
    tmp = temporary(path.parent, path.name)
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------------------- the store protocol

class Store:
    """What the pipeline needs from storage (see pipeline/storage/__init__.py). Per store:

    url, exists, read_versioned, write_bytes, compare_and_swap, append, keys, children,
    staging, publish, file, move, lock, host_dir.
    """

    root: str

    def url(self, key: str) -> str:
        raise NotImplementedError

    def read_text(self, key: str) -> str | None:
        """The object's text, or None when there is none."""
        data, _ = self.read_versioned(key)
        return None if data is None else data.decode()

    def read_bytes(self, key: str) -> bytes:
        data, _ = self.read_versioned(key)
        if data is None:
            raise FileNotFoundError(f"{self.url(key)}: not found")
        return data

    def read_json(self, key: str):
        return json.loads(self.read_bytes(key))

    def write_json(self, key: str, obj) -> None:
        self.write_bytes(key, dump_json(obj))

    def create(self, key: str, data: bytes) -> None:
        """Write an object only if none exists there yet (else ConcurrentUpdate)."""
        self.compare_and_swap(key, data, None)

    def commit(self, staged: Path, key: str, meta: dict, *, exclusive: bool = False) -> None:
        """Manifest a staged directory, then publish it at `key` in one step.

        If another writer committed `key` first, its copy stands (with `exclusive`, that raises
        ConcurrentUpdate instead).
        """
        self.publish(staged, key, write_manifest(staged, meta), exclusive=exclusive)
