"""When a file made outside the pipeline counts as arrived: its marker, or a settle time."""
import datetime as dt
import os
import time

import pytest

from pipeline.tasks.arrival import marker_of


@pytest.mark.parametrize("location, pattern, marker", [
    ("/srv/exports/churn.csv", "{file}.done", "/srv/exports/churn.csv.done"),
    ("/srv/exports/churn.csv", "_SUCCESS", "/srv/exports/_SUCCESS"),
    ("s3://bucket/exports/day=1/part.parquet", "_SUCCESS", "s3://bucket/exports/day=1/_SUCCESS"),
    ("s3://bucket/exports/part.parquet", "{file}.done", "s3://bucket/exports/part.parquet.done"),
    ("/srv/exports/churn.csv", "", None),
])
def test_a_marker_is_named_after_the_file_or_sits_in_its_folder(location, pattern, marker):
    assert marker_of(location, pattern) == marker


@pytest.fixture
def incoming(workspace):
    """A day's incoming file, just written."""
    path = workspace.data / "incoming" / "digits" / "2026-03-01.csv"
    path.parent.mkdir(parents=True)
    path.write_text("a,b\n1,2\n")
    return path


def test_an_incoming_file_arrives_with_its_marker_even_while_it_is_fresh(workspace, incoming):
    from pipeline.tasks import IncomingData

    workspace.add_cfg("[pipeline]\nsettle_seconds = 3600\nincoming_marker = _SUCCESS")
    with workspace.configured():
        task = IncomingData(dataset="digits", date=dt.date(2026, 3, 1))
        assert not task.complete()
        assert task.missing_message() == (f"{incoming}: waiting for its marker {incoming.parent / '_SUCCESS'} "
                                          "([pipeline] incoming_marker)")
        (incoming.parent / "_SUCCESS").touch()
        assert task.complete()


def test_without_a_marker_a_file_arrives_once_it_has_settled(workspace, incoming):
    from pipeline.tasks import IncomingData

    workspace.add_cfg("[pipeline]\nsettle_seconds = 60")
    with workspace.configured():
        task = IncomingData(dataset="digits", date=dt.date(2026, 3, 1))
        assert not task.complete() and "changed less than 60 s ago" in task.missing_message()
        old = time.time() - 61
        os.utime(incoming, (old, old))
        assert task.complete()


def test_an_s3_object_is_whole_once_it_is_visible(s3_workspace):
    from pipeline.tasks import IncomingData

    s3_workspace.add_cfg("[pipeline]\nsettle_seconds = 3600")
    s3_workspace.store.write_bytes("incoming/digits/2026-03-01.csv", b"a,b\n1,2\n")
    with s3_workspace.configured():
        assert IncomingData(dataset="digits", date=dt.date(2026, 3, 1)).complete()
