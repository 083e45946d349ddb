"""How the pipeline writes its records: one JSON layout and one timestamp format for all of them."""
from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?")


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


def seconds(text: str) -> float:
    """A duration as config and the command line write it: "26h", "90m", "1d12h", "45s", or plain seconds."""
    text = str(text).strip()
    try:
        return float(text)
    except ValueError:
        pass
    found = _DURATION.fullmatch(text)
    if not text or not found or not any(found.groups()):
        raise ValueError(f"{text!r} is not a duration (write it like 26h, 90m, 1d12h or 45s)")
    days, hours, minutes, secs = (float(part or 0) for part in found.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + secs


def ago(seconds_: float) -> str:
    """A duration for people: 3d 2h, 5h 10m, 4m 2s."""
    whole = int(seconds_)
    days, hours, minutes, secs = whole // 86400, whole % 86400 // 3600, whole % 3600 // 60, whole % 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s"
