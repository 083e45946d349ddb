"""What the benchmark scripts share: a throw-away data dir, the real `luigi` command, wall time
and peak memory of each process, and a plain-text table. Not part of the test run."""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FAULTS = REPO / "tests" / "faults"
# Measured as users run: Python writes its bytecode caches and reuses them (a developer's shell
# may turn that off, and every process would then compile the pipeline's modules afresh).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


@dataclass
class Result:
    seconds: float
    peak_mb: float
    returncode: int
    output: str


def run(cmd: list[str], env: dict | None = None, cwd: Path = REPO) -> Result:
    """Run a process to the end; its own wall time and peak resident memory (not its children's).

    Linux counts a child's peak from this process's size when it forks, so a benchmark keeps its
    own process small (run_all.py runs each in a fresh one) or every peak would read as its size."""
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        process = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        return Result(seconds, usage.ru_maxrss / 1024, process.returncode, out.read().decode(errors="replace"))


def tool(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else shutil.which(name)


class Sandbox:
    """A data dir and config override in a temporary folder, like a fresh checkout's first run."""

    def __init__(self, config_extra: str = "", cfg_extra: str = ""):
        self.root = Path(tempfile.mkdtemp(prefix="bench-"))
        self.data = self.root / "data"
        self.toml = self.root / "pipeline.toml"
        self.toml.write_text((REPO / "config" / "pipeline.toml").read_text() + "\n" + config_extra)
        self.cfg = self.root / "override.cfg"
        # settle_seconds = 0: the benchmarks write their inputs just before they run
        self.cfg.write_text(f"[pipeline]\ndata_dir = {self.data}\nconfig = {self.toml}\nsettle_seconds = 0\n\n"
                            f"[core]\nlock_pid_dir = {self.root / 'locks'}\n\n{cfg_extra}\n")

    def env(self, **extra) -> dict:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        return {**env, "LUIGI_CONFIG_PATH": str(self.cfg), **extra}

    def luigi(self, *args: str, expect: int = 0, **env) -> Result:
        """The real `luigi` command; stops the benchmark if it exits other than `expect`."""
        result = run([tool("luigi"), "--module", "pipeline", *args, "--local-scheduler"], self.env(**env))
        if result.returncode != expect:
            raise SystemExit(f"luigi {' '.join(args)} exited {result.returncode}:\n{result.output[-3000:]}")
        return result

    def remove(self):
        shutil.rmtree(self.root, ignore_errors=True)


def median(values) -> float:
    return statistics.median(values)


def table(headers: list[str], rows: list[list]) -> str:
    cells = [headers] + [[f"{c:.3f}" if isinstance(c, float) else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(cells[0]), rule] + [line(row) for row in cells[1:]])


def machine() -> str:
    import platform

    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cpu, python = platform.processor() or platform.machine(), platform.python_version()
    return f"{cpu}, {os.cpu_count()} cores, {memory:.0f} GB RAM, {platform.system()}, Python {python}"
