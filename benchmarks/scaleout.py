"""Scale-out: two worker processes started separately against one luigid, against one worker.

The fan-out of fanout.py (8 grid points, each a CrossValidate task, then the final fit) runs
through a real luigid (`python -m pipeline scheduler start`). Baseline: one `luigi` worker
process. Pipeline: two `luigi` worker processes started at the same moment, as on two hosts,
each with --workers 1 and its own cache and lock dirs; they share the store and luigid only.
Timed from the first start to the last exit; tasks per worker come from durations.jsonl (pid).
Run for a local data dir and, when moto is installed, an s3:// one on a moto server.
Target: >= 1.7x on 2 cores, each worker running a share of the grid.
"""
import collections
import json
import os
import socket
import subprocess
import sys
import time

from fanout import SEARCH
from harness import REPO, Sandbox, table, tool

SCALE_OUT = ["--worker-keep-alive", "--retcode-already-running", "0", "--retcode-not-run", "0"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def sandbox(s3_endpoint: str | None) -> Sandbox:
    box = Sandbox(config_extra=SEARCH)
    if s3_endpoint:
        import boto3

        bucket = f"bench-{os.getpid()}-{time.time_ns()}"
        boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=bucket)
        box.cfg.write_text(box.cfg.read_text().replace(f"data_dir = {box.data}", f"data_dir = s3://{bucket}/data\n"
                                                       f"cache_dir = {box.root / 'cache'}")
                           + f"\n[s3]\nendpoint_url = {s3_endpoint}\n")
    return box


def host_env(box: Sandbox, name: str) -> dict:
    """A worker host's config: the shared settings with its own cache and pid-lock dirs."""
    (box.root / name).mkdir()
    cfg = box.root / f"{name}.cfg"
    cfg.write_text(box.cfg.read_text().replace(str(box.root / "locks"), str(box.root / name / "locks"))
                   .replace(str(box.root / "cache"), str(box.root / name / "cache")))
    return {**box.env(), "LUIGI_CONFIG_PATH": str(cfg)}


def durations(box: Sandbox) -> list[dict]:
    from pipeline.storage import open_store

    text = [line for line in box.cfg.read_text().splitlines() if line.startswith(("data_dir", "cache_dir"))]
    settings = dict(line.split(" = ", 1) for line in text)
    store = open_store(settings["data_dir"], settings.get("cache_dir", ""))
    return [json.loads(line) for line in (store.read_text("runs/durations.jsonl") or "").splitlines()]


def scale_out(workers: int, s3_endpoint: str | None) -> tuple[float, list[int]]:
    """(wall seconds, CrossValidate tasks run by each worker) for `workers` worker processes."""
    box = sandbox(s3_endpoint)
    box.luigi("SplitData")
    port = free_port()
    cli = [sys.executable, "-m", "pipeline", "scheduler"]
    subprocess.run([*cli, "start", "--port", str(port)], cwd=REPO, env=box.env(), check=True, capture_output=True)
    try:
        before = {r["task_id"] for r in durations(box)}
        command = [tool("luigi"), "--module", "pipeline", "TrainModel", "--model", "forest_search",
                   "--scheduler-port", str(port), *SCALE_OUT]
        started = time.perf_counter()
        processes = [subprocess.Popen(command, cwd=REPO, env=host_env(box, f"host-{i}"), stdout=subprocess.DEVNULL,
                                      stderr=subprocess.STDOUT) for i in range(workers)]
        codes = [process.wait() for process in processes]
        seconds = time.perf_counter() - started
        if set(codes) != {0}:
            raise SystemExit(f"a worker failed: exit codes {codes}")
        records = [r for r in durations(box) if r["task_id"] not in before]
        ids = collections.Counter(r["task_id"] for r in records)
        if set(ids.values()) != {1}:
            raise SystemExit(f"a task ran more than once: {ids}")
        per_worker = collections.Counter(r["pid"] for r in records if r["task"] == "CrossValidate")
        return seconds, [per_worker[p.pid] for p in processes]
    finally:
        subprocess.run([*cli, "stop"], cwd=REPO, env=box.env(), capture_output=True)
        box.remove()


def moto_server():
    """A moto server on 127.0.0.1, or None when moto is not installed."""
    try:
        import moto.server  # noqa: F401
    except ImportError:
        return None, None
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    port = free_port()
    os.environ["AWS_ENDPOINT_URL_S3"] = f"http://127.0.0.1:{port}"  # for this process; the workers read [s3]
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    return server, f"http://127.0.0.1:{port}"


def main() -> list[list]:
    server, endpoint = moto_server()
    rows = []
    try:
        for store, s3 in [("local", None)] + ([("s3", endpoint)] if endpoint else []):
            (one, _), (two, shares) = scale_out(1, s3), scale_out(2, s3)
            speedup = one / two
            rows.append([f"scale-out ({store} store): 2 worker processes on one luigid vs 1; "
                         f"grid points per worker {'+'.join(map(str, shares))}",
                         f"{two:.2f} s", f"{one:.2f} s", f"{speedup:.2f}x faster", ">= 1.7x",
                         "yes" if speedup >= 1.7 and min(shares) > 0 else "no"])
    finally:
        if server:
            server.terminate()
    return rows


if __name__ == "__main__":
    print(table(["benchmark", "pipeline", "baseline", "ratio", "target", "met"], main()))
