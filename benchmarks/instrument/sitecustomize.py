"""Benchmark instrumentation (put this folder on PYTHONPATH): time spent checking sha256 on reads.

Every committed file the pipeline reads goes through `check_sha256`; this wraps it where it is
called and, at exit, adds {"seconds", "checks", "bytes"} to the JSON file named by
PIPELINE_BENCH_VERIFY_LOG. Used by benchmarks/verify.py only.
"""
import atexit
import json
import os
import time
from pathlib import Path

LOG = os.environ.get("PIPELINE_BENCH_VERIFY_LOG")


def _install() -> None:
    from pipeline import artifacts, registry
    from pipeline.storage import base, s3

    real = base.check_sha256
    totals = {"seconds": 0.0, "checks": 0, "bytes": 0}

    def timed(path, *args, **kwargs):
        started = time.perf_counter()
        try:
            return real(path, *args, **kwargs)
        finally:
            totals["seconds"] += time.perf_counter() - started
            totals["checks"] += 1
            totals["bytes"] += Path(path).stat().st_size if Path(path).exists() else 0

    for module in (base, artifacts, registry, s3):
        module.check_sha256 = timed

    @atexit.register
    def write() -> None:
        done = json.loads(Path(LOG).read_text()) if Path(LOG).exists() else {"seconds": 0.0, "checks": 0, "bytes": 0}
        Path(LOG).write_text(json.dumps({key: done[key] + totals[key] for key in totals}))


if LOG:
    _install()
