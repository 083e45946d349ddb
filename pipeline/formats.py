"""How the pipeline writes its records: one JSON layout and one timestamp format for all of them."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path


def now() -> str:
    """The time, as every record the pipeline writes gives it: UTC, ISO 8601, to the second."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def dump_json(obj) -> bytes:
    """JSON as the pipeline stores it: indented, keys sorted, dates and paths as text."""
    return (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode()


def json_line(obj) -> str:
    """One record of a log that grows a line at a time (history.jsonl, durations.jsonl)."""
    return json.dumps(obj, default=str)


def write_json(path: Path, obj) -> None:
    Path(path).write_bytes(dump_json(obj))


def read_json(path: Path):
    return json.loads(Path(path).read_bytes())
