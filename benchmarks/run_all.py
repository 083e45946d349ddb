"""Every benchmark, one table: `python benchmarks/run_all.py` (add --quick to skip the two 1M-row
ones: large data and the drift comparison in integrations).

Prints Markdown tables (those in README.md's "Performance" section): where the time of the
default run goes, then every benchmark with its target, whether it is met, and the 1-minute load
average of the machine when that benchmark started and ended, then the machine it ran on. BLAS
and OpenMP run on one thread throughout. Each benchmark runs in a fresh process: a process's
peak memory counts from its parent's size at the fork (harness.run), so one benchmark's data
must not inflate the next one's peaks.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

from harness import machine, table

HERE = Path(__file__).resolve().parent
MODULES = ["peers", "overhead", "noop", "many", "verify", "fanout", "scaleout", "integrations", "large"]
CALLS = {"overhead": "overhead.main(profile=True)", "integrations": "integrations.main(large={large})"}


def measured(name: str, quick: bool) -> list[list]:
    """The module's rows, from a process of its own (what it prints besides them is passed on)."""
    call = CALLS.get(name, f"{name}.main()").format(large=not quick)
    code = f"import json, {name}; rows = {call}; print('ROWS ' + json.dumps(rows))"
    env = {**os.environ, **{k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}}
    done = subprocess.run([sys.executable, "-c", code], cwd=HERE, env=env, stdout=subprocess.PIPE, text=True)
    if done.returncode:
        raise SystemExit(f"benchmarks/{name}.py failed (exit {done.returncode})")
    *printed, last = done.stdout.splitlines()
    if printed:
        print("\n".join(printed))
    return json.loads(last.removeprefix("ROWS "))


def main() -> None:
    quick = "--quick" in sys.argv
    rows = []
    for name in [m for m in MODULES if not (quick and m == "large")]:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        before = os.getloadavg()[0]
        found = measured(name, quick)
        rows += [[*row, f"{before:.1f} -> {os.getloadavg()[0]:.1f}"] for row in found]
    print(table(["benchmark", "pipeline", "baseline", "ratio", "target", "met", "load"], rows))
    print(f"\nmachine: {machine()}")


if __name__ == "__main__":
    main()
