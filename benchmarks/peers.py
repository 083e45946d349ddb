"""Peers: the pipeline's default job (TrainValidateDeploy on digits: ingest to Parquet, validate, stratified
split, StandardScaler + LogisticRegression(max_iter=2000, C=1.0), evaluate, gate on [gates.digits], deploy to
a versioned registry with a production pointer) against the same job written idiomatically in gokart
(benchmarks/peers/gokart_digits.py) and in plain Luigi (benchmarks/peers/luigi_digits.py).

Each peer runs in its own virtualenv, created here once under $ML_PIPELINE_BENCH_PEERS (default
~/.cache/ml-pipeline-bench/peers/<name>) with the same luigi, scikit-learn, scipy, pandas, numpy, pyarrow,
joblib and threadpoolctl as this interpreter, so only the orchestration differs. Every run is a fresh
`luigi --module ... TrainValidateDeploy --local-scheduler` process, BLAS/OpenMP pinned to one thread; the
systems alternate within each scenario of each round:
  full run   on an empty workspace;
  no-op      the same command again once everything is complete (checked: nothing ran);
  resume     the re-run after a run that failed in deploy, once the model was registered but before the
             production pointer moved (checked: only deploy and what follows it ran again).
The pipeline's run also writes its HTML run report (RunReport), which the peers do not have.
Medians (and minimums) of N rounds: `python benchmarks/peers.py [--rounds N]`.
"""
from __future__ import annotations

import importlib.metadata
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from harness import FAULTS, REPO, Result, Sandbox, machine, median, run, table

ROUNDS = 5
HERE = Path(__file__).resolve().parent / "peers"
HOME = Path(os.environ.get("ML_PIPELINE_BENCH_PEERS", Path.home() / ".cache" / "ml-pipeline-bench" / "peers"))
SAME = ["luigi", "scikit-learn", "scipy", "pandas", "numpy", "pyarrow", "joblib", "threadpoolctl"]
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
SCENARIOS = ["full run", "no-op", "resume"]
LABELS = {"full run": "full run, TrainValidateDeploy", "no-op": "no-op", "resume": "resume after a failure in deploy"}
LIMITS = {"full run": 1.0, "no-op": 0.2, "resume": 1.0}  # pipeline / gokart
# What a re-run after the failure in deploy may run; DeployModel must be among them.
AFTER_DEPLOY = {"DeployModel", "RunReport", "TrainValidateDeploy"}
GATE = tomllib.loads((REPO / "config" / "pipeline.toml").read_text())["gates"]["digits"]
CFG = """[core]
log_level = INFO
lock_pid_dir = {ws}/locks

[execution_summary]
summary_length = 0

[retcode]
already_running = 10
missing_data = 20
not_run = 25
task_failed = 30
scheduling_error = 35
unhandled_exception = 40

[ValidateModel]
min_accuracy = {min_accuracy}
tolerance = {tolerance}
"""


class Venv:
    """A virtualenv under HOME made once with `packages` and this interpreter's versions of SAME."""

    def __init__(self, name: str, packages: list[str], names: list[str] | None = None):
        self.name, self.packages, self.venv = name, packages, HOME / name
        self.names = packages if names is None else names  # the distributions whose versions are printed

    def install(self):
        wanted = "\n".join(self.packages + [f"{p}=={importlib.metadata.version(p)}" for p in SAME]) + "\n"
        marker = self.venv / "requirements.txt"
        if marker.exists() and marker.read_text() == wanted:
            return
        print(f"creating {self.venv} (once) ...", file=sys.stderr, flush=True)
        shutil.rmtree(self.venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(self.venv)], check=True)
        pip = subprocess.run([str(self.venv / "bin" / "pip"), "install", "-q", *wanted.split()], capture_output=True,
                             text=True)
        if pip.returncode:
            raise SystemExit(f"{self.name}: pip install failed:\n{pip.stderr[-3000:]}")
        marker.write_text(wanted)

    def versions(self) -> dict:
        names = self.names + SAME
        code = f"import importlib.metadata as m, json; print(json.dumps({{n: m.version(n) for n in {names!r}}}))"
        return json.loads(subprocess.run([str(self.venv / "bin" / "python"), "-c", code], check=True,
                                         capture_output=True, text=True).stdout)


class Pipeline(Venv):
    """This checkout, installed (editable) with its core dependencies only, as `pip install -e .`
    does: no extra's packages (dvc brings rich, which scikit-learn then imports)."""

    def __init__(self):
        super().__init__("pipeline", ["-e", str(REPO)], names=["luigi-ml-pipeline"])

    def fresh(self) -> Sandbox:
        return Sandbox()

    def luigi(self, box: Sandbox, fail: bool = False) -> Result:
        fault = {"PYTHONPATH": str(FAULTS), "PIPELINE_TEST_FAIL_AT": "history:registered"} if fail else {}
        cmd = [str(self.venv / "bin" / "luigi"), "--module", "pipeline", "TrainValidateDeploy", "--local-scheduler"]
        result = run(cmd, box.env(**ONE_THREAD, **fault))
        if result.returncode != (30 if fail else 0):
            raise SystemExit(f"pipeline: luigi exited {result.returncode}:\n{result.output[-3000:]}")
        return result

    def accuracy(self, box: Sandbox) -> float:
        (metrics,) = (box.data / "evaluations").rglob("metrics.json")
        return json.loads(metrics.read_text())["accuracy"]

    def remove(self, box: Sandbox):
        box.remove()


class Peer(Venv):
    """One peer's virtualenv, module and workspaces (a folder with its luigi.cfg; the runs start there)."""

    def __init__(self, name: str, module: str, packages: list[str], section: str, metrics: str):
        super().__init__(name, packages)
        self.module, self.section, self.metrics = module, section, metrics

    def fresh(self) -> Path:
        ws = Path(tempfile.mkdtemp(prefix=f"bench-{self.name}-"))
        (ws / "luigi.cfg").write_text(CFG.format(ws=ws, min_accuracy=GATE["accuracy"]["min"],
                                                 tolerance=GATE["tolerance"]) + self.section.format(ws=ws))
        return ws

    def luigi(self, ws: Path, fail: bool = False) -> Result:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LUIGI_CONFIG_PATH")}
        env.update(ONE_THREAD, PYTHONPATH=str(HERE), **({"PEER_FAIL_AT": "deploy"} if fail else {}))
        cmd = [str(self.venv / "bin" / "luigi"), "--module", self.module, "TrainValidateDeploy", "--local-scheduler"]
        result = run(cmd, env, cwd=ws)
        if result.returncode != (30 if fail else 0) or (fail and "injected failure in deploy" not in result.output):
            raise SystemExit(f"{self.name}: luigi exited {result.returncode}:\n{result.output[-3000:]}")
        return result

    def accuracy(self, ws: Path) -> float:
        (metrics,) = ws.glob(self.metrics)
        return (json.loads if metrics.suffix == ".json" else pickle.loads)(metrics.read_bytes())["accuracy"]

    def remove(self, ws: Path):
        shutil.rmtree(ws, ignore_errors=True)


GOKART_CFG = "\n[TaskOnKart]\nworkspace_directory = {ws}/resources\nlocal_temporary_directory = {ws}/resources/tmp\n"
SYSTEMS = [Pipeline(),
           Peer("gokart", "gokart_digits", ["gokart"], GOKART_CFG, "resources/gokart_digits/EvaluateModel_*.pkl"),
           Peer("luigi", "luigi_digits", [], "\n[paths]\nworkspace = {ws}/data\n", "data/metrics.json")]


def ran(output: str) -> set[str]:
    """The task families Luigi's execution summary lists as run."""
    if "ran successfully:" not in output:
        return set()
    section = output.split("ran successfully:")[1].split("\n\n")[0].split("\n*")[0]
    return set(re.findall(r"- \d+ (\w+)\(", section))


def measure(rounds: int) -> dict:
    for system in SYSTEMS:
        system.install()
    results = {"versions": {s.name: s.versions() for s in SYSTEMS}, "load": [os.getloadavg()]}
    for s in SYSTEMS:
        print(f"{s.name}: " + ", ".join(f"{k} {v}" for k, v in results["versions"][s.name].items()), file=sys.stderr)
    for s in SYSTEMS:  # a first run of each, not counted: Python compiles and caches its modules' bytecode
        space = s.fresh()
        s.luigi(space)
        s.remove(space)
    times = {s.name: {scenario: [] for scenario in SCENARIOS} for s in SYSTEMS}
    rss, accuracy = {s.name: [] for s in SYSTEMS}, {s.name: set() for s in SYSTEMS}
    for i in range(rounds):
        print(f"round {i + 1}/{rounds} ...", file=sys.stderr, flush=True)
        spaces = {s.name: s.fresh() for s in SYSTEMS}
        for s in SYSTEMS:  # full run
            result = s.luigi(spaces[s.name])
            assert {"IngestData", "TrainModel", "DeployModel"} <= ran(result.output), result.output[-3000:]
            times[s.name]["full run"].append(result.seconds)
            rss[s.name].append(result.peak_mb)
            accuracy[s.name].add(s.accuracy(spaces[s.name]))
        for s in SYSTEMS:  # no-op
            result = s.luigi(spaces[s.name])
            assert "complete ones were encountered" in result.output and not ran(result.output), result.output[-3000:]
            times[s.name]["no-op"].append(result.seconds)
            s.remove(spaces[s.name])
        spaces = {s.name: s.fresh() for s in SYSTEMS}
        for s in SYSTEMS:  # the run that fails in deploy
            s.luigi(spaces[s.name], fail=True)
        for s in SYSTEMS:  # resume
            result = s.luigi(spaces[s.name])
            again = ran(result.output)
            assert "DeployModel" in again and again <= AFTER_DEPLOY, (s.name, again)
            times[s.name]["resume"].append(result.seconds)
            s.remove(spaces[s.name])
    results["load"].append(os.getloadavg())
    return {**results, "times": times, "rss": rss, "accuracy": accuracy}


def ratio(results: dict, scenario: str, peer: str) -> float:
    times = results["times"]
    return median(times["pipeline"][scenario]) / median(times[peer][scenario])


def detail(results: dict) -> str:
    """The table: each scenario's median (min) seconds, peak RSS and test accuracy, and pipeline / peer."""
    names, times, mb, acc = [s.name for s in SYSTEMS], results["times"], results["rss"], results["accuracy"]
    rows = [[f"{LABELS[scenario]} (s)", *(f"{median(times[n][scenario]):.2f} ({min(times[n][scenario]):.2f})"
                                          for n in names),
             *(f"{ratio(results, scenario, peer):.2f}x" for peer in names[1:])] for scenario in SCENARIOS]
    rows.append(["peak RSS, full run (MB)", *(f"{median(mb[n]):.0f} ({min(mb[n]):.0f})" for n in names),
                 *(f"{median(mb['pipeline']) / median(mb[peer]):.2f}x" for peer in names[1:])])
    rows.append(["test accuracy", *(" / ".join(f"{a:.4f}" for a in sorted(acc[n])) for n in names),
                 *(f"{min(acc['pipeline']) / min(acc[peer]):.3f}x" for peer in names[1:])])
    versions = "\n".join(f"  {n}: " + ", ".join(f"{k} {v}" for k, v in results["versions"][n].items()) for n in names)
    load = " -> ".join("/".join(f"{x:.2f}" for x in avg) for avg in results["load"])
    return (table(["benchmark", *names, "ratio pipeline/gokart", "ratio pipeline/luigi"], rows) +
            f"\n\nmedian (min) of {len(mb['pipeline'])} rounds; load average (1/5/15 min) {load}; {machine()}\n"
            f"versions:\n{versions}")


def rows(results: dict) -> list[list]:
    """run_all's rows: targets on pipeline / gokart; plain Luigi for the record."""
    out, times = [], results["times"]
    for peer, label in [("gokart", "gokart"), ("luigi", "plain Luigi")]:
        for scenario in SCENARIOS:
            r, limit = ratio(results, scenario, peer), LIMITS[scenario] if peer == "gokart" else None
            target, met = ("report", "-") if limit is None else (f"<= {limit}x", "yes" if r <= limit else "no")
            out.append([f"peers: {LABELS[scenario]} vs {label}", f"{median(times['pipeline'][scenario]):.2f} s",
                        f"{median(times[peer][scenario]):.2f} s", f"{r:.2f}x", target, met])
    return out


def main(rounds: int = ROUNDS) -> list[list]:
    return rows(measure(rounds))


if __name__ == "__main__":
    results = measure(int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else ROUNDS)
    print(detail(results))
    print()
    print(table(["benchmark", "pipeline", "baseline", "ratio", "target", "met"], rows(results)))
