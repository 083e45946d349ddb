"""Reading a dataset's source (scikit-learn dataset, local file, s3:// or http(s) URL, a DVC-tracked
file) into a frame.

The source is only ever read; IngestData snapshots what this returns.
"""
from __future__ import annotations

import hashlib
import json
import logging
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from pipeline.errors import first_line
from pipeline.ml.errors import DataError
from pipeline.storage import is_http, is_s3, read_file

logger = logging.getLogger(__name__)

SKLEARN_DATASETS = ("digits", "iris", "wine", "breast_cancer", "diabetes")
PARQUET_SUFFIXES = (".parquet", ".pq")
DVC_PREFIX = "dvc:"
HTTP_TIMEOUT = 30


def read_source(source: str, *, sep: str | None = None, na_values: list[str] | None = None):
    """Return (frame, info); info records where the data came from, its sha256 and fingerprint."""
    table, info = read_table(source, sep=sep, na_values=na_values)
    release_memory()  # the parser's buffers
    # each column's Arrow memory is freed once converted: the peak is one copy of the data, not two
    frame = table.to_pandas(self_destruct=True, split_blocks=True)
    release_memory()
    return frame, info


def release_memory() -> None:
    """Give back to the system what Arrow's allocator freed: it keeps it otherwise, and a frame's
    text columns live there (pandas' str dtype), so a dropped frame would not lower the peak."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def read_table(source: str, *, sep: str | None = None, na_values: list[str] | None = None,
               dvc: dict | None = None):
    """Return (Arrow table, info), for callers that write the data straight back out (ingest).

    info["fingerprint"] identifies the content: for a file or URL, the sha256 of its bytes
    together with how they are parsed (the same bytes read the same way are the same table);
    for a scikit-learn dataset, a hash of the frame's values. A `dvc:PATH` source is a file
    tracked by DVC, read through dvc.api from the repository and revision in `dvc` ({"repo",
    "rev"}; default: the working directory's repository as it is); info["dvc"] records the
    repository, the revision asked for, the git commit it resolved to, and DVC's md5.
    """
    tracked = None
    if source.startswith("sklearn:"):
        import pyarrow as pa

        from pipeline.ml.data import fingerprint_frame

        frame = _read_sklearn(source)
        fingerprint = fingerprint_frame(frame)
        info = {"source": source, "sha256": fingerprint, "bytes": None, "fingerprint": fingerprint}
        return pa.Table.from_pandas(frame, preserve_index=False), info
    if source.startswith(DVC_PREFIX):
        payload, tracked = read_dvc(source, dvc or {})
        name = tracked["path"]
    elif is_http(source):
        payload = fetch_url(source)
        name = urlparse(source).path
    elif is_s3(source):
        try:
            payload = read_file(source)
        except FileNotFoundError:
            raise DataError(f"{source}: no such object") from None
        name = urlparse(source).path
    else:
        path = Path(source)
        if not path.is_file():
            raise DataError(f"{source}: no such file")
        payload = None
        table, sha256, size = _read_file(path, label=source, sep=sep, na_values=na_values)
    if payload is not None:
        table = parse_table(payload, name=name, label=source, sep=sep, na_values=na_values)
        sha256, size = hashlib.sha256(payload).hexdigest(), len(payload)
    how = json.dumps({"sha256": sha256, "sep": sep, "na_values": na_values}, sort_keys=True)
    info = {"source": source, "sha256": sha256, "bytes": size,
            "fingerprint": hashlib.sha256(how.encode()).hexdigest()}
    if tracked:
        info["dvc"] = tracked
    return table, info


def read_dvc(source: str, dvc: dict) -> tuple[bytes, dict]:
    """The bytes of a DVC-tracked file (pip install -e '.[dvc]'), and where they came from."""
    path, repo, rev = source[len(DVC_PREFIX):], dvc.get("repo"), dvc.get("rev")
    where = f"{source} ({repo or 'this repository'}{f' at {rev}' if rev else ''})"
    try:
        import dvc.api
    except ImportError:
        raise DataError(f"{where}: reading a dvc: source needs DVC: pip install -e '.[dvc]'") from None
    try:
        fs = dvc.api.DVCFileSystem(repo, rev=rev)
        entry = fs.info(path)
    except FileNotFoundError:
        raise DataError(f"{where}: no such file tracked there") from None
    except Exception as exc:  # DVC's and scmrepo's own errors: an unknown revision, not a repository, ...
        if type(exc).__module__.startswith(("dvc", "scmrepo")):
            raise DataError(f"{where}: {first_line(exc)}") from None
        raise
    try:
        payload = fs.cat_file(path)
        scm = fs.repo.scm
        commit = (scm.resolve_rev(rev) if rev else scm.get_rev()) if scm else None
    except FileNotFoundError:
        raise DataError(f"{where}: tracked, but its data is in neither the DVC cache nor the remote "
                        "(was it `dvc push`ed?)") from None
    except Exception as exc:  # DVC's and scmrepo's own errors: an unknown revision, not a repository, ...
        if type(exc).__module__.startswith(("dvc", "scmrepo")):
            raise DataError(f"{where}: {first_line(exc)}") from None
        raise
    md5 = entry.get("md5") or (entry.get("dvc_info") or {}).get("md5")
    found = {"repo": repo or ".", "rev": rev, "commit": commit, "path": path, "md5": md5}
    if rev is None and md5 and hashlib.md5(payload).hexdigest() != md5:  # noqa: S324 - DVC's own hash
        found["modified"] = True  # read from a working tree whose file differs from what DVC tracks
    return payload, found


def _read_sklearn(source: str):
    name = source.split(":", 1)[1]
    if name not in SKLEARN_DATASETS:
        raise DataError(f"{source}: unknown scikit-learn dataset (known: {', '.join(SKLEARN_DATASETS)})")
    import sklearn.datasets

    return getattr(sklearn.datasets, f"load_{name}")(as_frame=True).frame


def parse_bytes(payload: bytes, *, name: str, label: str, sep: str | None = None,
                na_values: list[str] | None = None):
    """Parse CSV or Parquet bytes (by file suffix) into a frame, refusing what cannot be trusted."""
    return parse_table(payload, name=name, label=label, sep=sep, na_values=na_values).to_pandas()


def parse_table(payload: bytes | Path, *, name: str, label: str, sep: str | None = None,
                na_values: list[str] | None = None):
    """Parse CSV or Parquet bytes, or a local file, (by file suffix) into an Arrow table, refusing
    what cannot be trusted."""
    import pyarrow as pa

    from pipeline.ml.data import duplicate_columns

    if not (payload.stat().st_size if isinstance(payload, Path) else payload):
        raise DataError(f"{label}: the file is empty")
    # Arrow parses blocks on every core from a file or a BufferReader (not from io.BytesIO)
    readable = str(payload) if isinstance(payload, Path) else pa.BufferReader(payload)
    try:
        if name.lower().endswith(PARQUET_SUFFIXES):
            import pyarrow.parquet as pq

            table = pq.read_table(readable)
        else:
            import pyarrow.csv as pcsv

            if _last_byte(payload) != b"\n":
                raise DataError(f"{label}: the last line does not end with a line break: the file looks cut off "
                                "(still being written?); if it is complete, end it with a newline")
            parse = pcsv.ParseOptions(delimiter=sep) if sep else pcsv.ParseOptions()
            # an empty cell is a missing value in text columns too, as in pandas
            convert = pcsv.ConvertOptions(strings_can_be_null=True)
            if na_values:
                convert.null_values = [*convert.null_values, *na_values]
            table = pcsv.read_csv(readable, parse_options=parse, convert_options=convert)
        names = table.column_names
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OSError) as exc:
        raise DataError(f"{label}: cannot be read: {first_line(exc)}") from None
    except UnicodeDecodeError:
        raise DataError(f"{label}: column names are not valid UTF-8 text") from None
    # pyarrow reads a text column with invalid UTF-8 as raw bytes; refuse rather than guess
    binary = [f.name for f in table.schema if pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type)]
    if binary:
        raise DataError(f"{label}: column(s) {', '.join(binary)} are not valid UTF-8 text")
    if len(names) == 1 and not sep:
        for other in (";", "\t", "|"):
            if other in names[0]:
                shown = "\\t" if other == "\t" else other
                raise DataError(f"{label}: one column named {names[0][:60]!r}: the file looks "
                                f"'{shown}'-delimited; set sep = \"{shown}\" for this dataset")
    dups = duplicate_columns(names)
    if dups:
        raise DataError(f"{label}: duplicate column name(s): {', '.join(map(str, dups))}")
    if table.num_rows == 0:
        raise DataError(f"{label}: has a header but no data rows")
    return table


def _read_file(path: Path, **how):
    """(table, sha256, size) of a local file, parsed from the file itself rather than from a copy of
    its bytes in memory; refused (to be tried again) when it changed between the parse and the hash."""
    from pipeline.retry import TransientError
    from pipeline.storage.base import file_identity, sha256_file

    before = path.stat()
    table, sha256 = parse_table(path, name=path.name, **how), sha256_file(path)
    if file_identity(path.stat()) != file_identity(before):
        raise TransientError(f"{how['label']}: changed while it was being read")
    return table, sha256, before.st_size


def _last_byte(payload: bytes | Path) -> bytes:
    if not isinstance(payload, Path):
        return payload[-1:]
    with open(payload, "rb") as fh:
        fh.seek(-1, 2)
        return fh.read(1)


def fetch_url(url: str, *, timeout: float = HTTP_TIMEOUT) -> bytes:
    """GET a URL. A 4xx is the user's (DataError); a 5xx or a connection failure may pass
    (TransientError: the task that asked is tried again, see pipeline/retry.py)."""
    from pipeline.retry import TransientError

    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        if exc.code < 500:
            raise DataError(f"{url}: HTTP {exc.code} {exc.reason}") from None
        raise TransientError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise TransientError(f"{url}: {getattr(exc, 'reason', exc)}") from None


