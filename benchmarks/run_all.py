"""Every benchmark, one table: `python benchmarks/run_all.py` (add --quick to skip the 1M-row one).

Prints Markdown tables (those in README.md's "Performance" section): where the time of the
default run goes, then every benchmark, then the machine it ran on.
"""
import sys

import dag
import fanout
import integrations
import large
import noop
import overhead
import resume
import scaleout
import verify
from harness import machine, table


def main() -> None:
    modules = [noop, overhead, resume, verify, fanout, scaleout, dag, integrations] + \
        ([] if "--quick" in sys.argv else [large])
    rows = []
    for module in modules:
        print(f"running {module.__name__} ...", file=sys.stderr, flush=True)
        rows += overhead.main(profile=True) if module is overhead else module.main()
    print(table(["benchmark", "pipeline", "baseline", "ratio", "target", "met"], rows))
    print(f"\nmachine: {machine()}")


if __name__ == "__main__":
    main()
