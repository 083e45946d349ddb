"""Reading CSV/Parquet bytes, local files and URLs into frames."""
from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.ml.errors import DataError
from pipeline.sources import fetch_url, parse_bytes, read_source

CSV = b"age,plan,score\n31,basic,1.5\n45,,\n,pro,2.5\n"


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


# ---------------------------------------------------------------- parse_bytes

def test_csv_types_are_inferred_and_missing_numbers_are_nan():
    frame = parse_bytes(CSV, name="data.csv", label="src")
    assert list(frame.columns) == ["age", "plan", "score"]
    assert pd.api.types.is_numeric_dtype(frame["age"])
    assert pd.api.types.is_float_dtype(frame["score"])
    assert pd.api.types.is_string_dtype(frame["plan"])
    assert frame["age"].isna().tolist() == [False, False, True]
    assert frame["score"].isna().tolist() == [False, True, False]
    assert frame.loc[0, "plan"] == "basic"
    assert frame["score"].sum() == 4.0


def test_csv_blank_text_cell_is_a_missing_value_not_an_empty_string():
    frame = parse_bytes(CSV, name="data.csv", label="src")
    assert frame["plan"].isna().tolist() == [False, True, False]
    assert "" not in frame["plan"].tolist()


def test_csv_separator_can_be_chosen():
    frame = parse_bytes(b"a;b\n1;x\n2;y\n", name="data.csv", label="src", sep=";")
    assert list(frame.columns) == ["a", "b"]
    assert frame["a"].tolist() == [1, 2]


def test_parquet_bytes_round_trip():
    original = pd.DataFrame({"a": [1, 2, 3], "b": ["x", None, "z"], "c": [0.5, np.nan, 1.5]})
    frame = parse_bytes(parquet_bytes(original), name="snapshot.parquet", label="src")
    assert frame["a"].tolist() == [1, 2, 3]
    assert frame["b"].isna().tolist() == [False, True, False]
    assert frame["c"].isna().tolist() == [False, True, False]
    # the suffix decides the format, in any case
    assert len(parse_bytes(parquet_bytes(original), name="SNAPSHOT.PQ", label="src")) == 3


@pytest.mark.parametrize("payload, name, message", [
    (b"", "data.csv", "the file is empty"),
    (b"a,b,c\n", "data.csv", "has a header but no data rows"),
    (b"a,b,a\n1,2,3\n", "data.csv", "duplicate column name\\(s\\): a"),
    (b"a,b\n1,2\n3,4,5\n", "data.csv", "cannot be read"),
    (b"", "data.parquet", "the file is empty"),
])
def test_unusable_csv_is_a_data_error_naming_the_source(payload, name, message):
    with pytest.raises(DataError, match=f"^my-label: {message}"):
        parse_bytes(payload, name=name, label="my-label")


def test_header_only_parquet_is_a_data_error():
    empty = pd.DataFrame({"a": pd.Series([], dtype="int64")})
    with pytest.raises(DataError, match="^my-label: has a header but no data rows"):
        parse_bytes(parquet_bytes(empty), name="x.parquet", label="my-label")


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_truncated_parquet_is_a_data_error(cut):
    payload = parquet_bytes(pd.DataFrame({"a": range(20), "b": ["x"] * 20}))
    with pytest.raises(DataError, match="^my-label: cannot be read: .*Parquet"):
        parse_bytes(payload[: int(len(payload) * cut)], name="x.parquet", label="my-label")


def test_csv_bytes_named_parquet_is_a_data_error():
    with pytest.raises(DataError, match="^my-label: cannot be read"):
        parse_bytes(CSV, name="x.parquet", label="my-label")


def test_non_utf8_values_are_a_data_error():
    latin1 = "name,score\ncafé,1\nthé,2\n".encode("latin-1")
    with pytest.raises(DataError, match="^my-label: "):
        parse_bytes(latin1, name="x.csv", label="my-label")


def test_non_utf8_header_is_a_data_error():
    latin1 = "café,score\n1,2\n".encode("latin-1")
    with pytest.raises(DataError, match="^my-label: "):
        parse_bytes(latin1, name="x.csv", label="my-label")


def test_binary_garbage_is_a_data_error():
    with pytest.raises(DataError, match="^my-label: column names are not valid UTF-8 text"):
        parse_bytes(b"\xff\xfe\x00\x00\x01\n", name="x.csv", label="my-label")
    with pytest.raises(DataError, match="^my-label: the last line does not end with a line break"):
        parse_bytes(b"\xff\xfe\x00\x00\x01", name="x.csv", label="my-label")


# ---------------------------------------------------------------- read_source

def test_read_source_local_csv_records_sha256(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(CSV)
    frame, info = read_source(str(path))
    assert frame.shape == (3, 3)
    fingerprint = info.pop("fingerprint")
    assert info == {"source": str(path), "sha256": hashlib.sha256(CSV).hexdigest(), "bytes": len(CSV)}

    # the fingerprint names the parsed content: the same bytes read another way differ
    assert read_source(str(path))[1]["fingerprint"] == fingerprint
    assert read_source(str(path), na_values=["x"])[1]["fingerprint"] != fingerprint


def test_a_local_file_is_parsed_from_disk_and_refused_if_it_changes_while_read(tmp_path, monkeypatch):
    import pipeline.storage.base
    from pipeline.retry import TransientError

    path = tmp_path / "data.csv"
    path.write_bytes(CSV)
    hash_file = pipeline.storage.base.sha256_file
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("the file was read into memory"))
    assert read_source(str(path))[1]["sha256"] == hashlib.sha256(CSV).hexdigest()

    def rewritten_then_hashed(target):  # another writer replaces the file between the parse and the hash
        target.write_bytes(CSV + b"99,pro,3.5\n")
        return hash_file(target)

    monkeypatch.setattr(pipeline.storage.base, "sha256_file", rewritten_then_hashed)
    with pytest.raises(TransientError, match=f"^{path}: changed while it was being read$"):
        read_source(str(path))


def test_read_source_missing_file(tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(DataError, match=f"^{missing}: no such file"):
        read_source(str(missing))


def test_read_source_unknown_sklearn_dataset():
    with pytest.raises(DataError, match="sklearn:mnist: unknown scikit-learn dataset \\(known: digits"):
        read_source("sklearn:mnist")


# ---------------------------------------------------------------- fetch_url

def in_order(responses):
    """Answer with `responses` in order; the last one repeats."""
    answered = []

    def respond(path):
        answered.append(path)
        return responses[min(len(answered), len(responses)) - 1]
    return respond


def test_fetch_url_calls_a_server_error_transient_and_a_4xx_the_users(http_server):
    from pipeline.retry import TransientError, is_transient

    with http_server(in_order([(503, b"busy"), (200, CSV)])) as (base, requests):
        with pytest.raises(TransientError, match=f"^{base}/data.csv: HTTP 503 Service Unavailable$") as busy:
            fetch_url(f"{base}/data.csv", timeout=5)
        assert is_transient(busy.value)
        assert fetch_url(f"{base}/data.csv", timeout=5) == CSV
    assert requests == ["/data.csv"] * 2


def test_fetch_url_fails_at_once_on_404(http_server):
    from pipeline.retry import is_transient

    with http_server(in_order([(404, b"not here"), (200, CSV)])) as (base, requests):
        with pytest.raises(DataError, match=f"^{base}/gone.csv: HTTP 404") as gone:
            fetch_url(f"{base}/gone.csv", timeout=5)
    assert requests == ["/gone.csv"] and not is_transient(gone.value)


def test_a_refused_connection_is_transient():
    from conftest import free_port

    from pipeline.retry import TransientError

    with pytest.raises(TransientError, match="Connection refused"):
        fetch_url(f"http://127.0.0.1:{free_port()}/data.csv", timeout=5)


def test_read_source_url_parses_by_url_suffix(http_server):
    payload = parquet_bytes(pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}))
    with http_server(in_order([(200, payload)])) as (base, _):
        frame, info = read_source(f"{base}/snap.parquet?token=1")
    assert frame["a"].tolist() == [1, 2]
    assert info["sha256"] == hashlib.sha256(payload).hexdigest()


def test_semicolon_file_gets_a_hint_to_set_sep():
    with pytest.raises(DataError, match=r"f\.csv: one column named 'a;b;c': the file looks ';'-delimited; "
                                        r"set sep = \";\" for this dataset"):
        parse_bytes(b"a;b;c\n1;2;3\n", name="f.csv", label="f.csv")
    frame = parse_bytes(b"a;b;c\n1;2;3\n", name="f.csv", label="f.csv", sep=";")
    assert list(frame.columns) == ["a", "b", "c"]


def test_na_values_are_read_as_missing():
    frame = parse_bytes(b"x,y\n1.5,a\nn.a.,b\n2.5,c\n", name="f.csv", label="f.csv", na_values=["n.a."])
    assert frame["x"].isna().tolist() == [False, True, False]
    assert pd.api.types.is_float_dtype(frame["x"])
