"""Every benchmark, one table: `python benchmarks/run_all.py` (add --quick to skip the two 1M-row
ones: large data and the drift comparison in integrations).

Prints Markdown tables (those in README.md's "Performance" section): where the time of the
default run goes, then every benchmark with its target, whether it is met, and the 1-minute load
average of the machine when that benchmark started and ended, then the machine it ran on. BLAS
and OpenMP run on one thread throughout.
"""
import os
import sys

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import fanout  # noqa: E402
import integrations  # noqa: E402
import large  # noqa: E402
import many  # noqa: E402
import noop  # noqa: E402
import overhead  # noqa: E402
import peers  # noqa: E402
import scaleout  # noqa: E402
import verify  # noqa: E402
from harness import machine, table  # noqa: E402


def main() -> None:
    quick = "--quick" in sys.argv
    modules = [peers, overhead, noop, many, verify, fanout, scaleout, integrations] + ([] if quick else [large])
    rows = []
    for module in modules:
        print(f"running {module.__name__} ...", file=sys.stderr, flush=True)
        before = os.getloadavg()[0]
        found = overhead.main(profile=True) if module is overhead else \
            integrations.main(large=not quick) if module is integrations else module.main()
        load = f"{before:.1f} -> {os.getloadavg()[0]:.1f}"
        rows += [[*row, load] for row in found]
    print(table(["benchmark", "pipeline", "baseline", "ratio", "target", "met", "load"], rows))
    print(f"\nmachine: {machine()}")


if __name__ == "__main__":
    main()
