"""The trust contract under races, damage and hostile input: the production model is never
damaged, a worse model never replaces it, nothing half-made is used, and every failure ends in
one line that names what is wrong and the way out."""
import json
import signal
import subprocess
import sys

import pytest
from conftest import DAY1, DAY2, FAULTS, REPO, Workspace

pytestmark = pytest.mark.e2e

DAY3 = "--date=2026-01-03"
REPAIR = "python -m pipeline registry repair --dataset digits --model logreg"


def error_line(proc) -> str:
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    [line] = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    return line


def history_lines(ws) -> list[dict]:
    """Every line of the history as written, a torn one as {"event": None}."""
    lines = ws.store.read_text("registry/digits/logreg/history.jsonl").splitlines()
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            parsed.append({"event": None})
    return parsed


def with_params(ws, params: str) -> None:
    ws.replace_config(ws.toml.read_text().split("[models.logreg]\n")[1].split("\n")[1], f"params = {params}")


# ---------------------------------------------------------------- 1. a verdict cannot go stale

def test_a_verdict_against_an_older_production_is_decided_again_under_the_lock(deployed):
    ws = deployed()
    ws.replace_config("accuracy = { min = 0.95 }", "accuracy = { min = 0.5 }")
    with_params(ws, "{ max_iter = 2000, C = 0.0001 }")
    assert ws.run("TrainValidateDeploy", DAY2).returncode == 0  # a weak v0002 is rejected ...
    assert ws.main("registry", "promote", "v0002", "--force").returncode == 0  # ... and forced live by hand

    # a mediocre candidate passes the gate against the weak production; its run dies before deploying
    with_params(ws, "{ max_iter = 2000, C = 0.001 }")
    killed = ws.luigi("TrainValidateDeploy", DAY3,
                      env={"PYTHONPATH": FAULTS, "PIPELINE_TEST_KILL_AT": "committing:registry"})
    assert killed.returncode == -signal.SIGKILL and ws.read_json("verdicts", "2026-01-03", "verdict.json")["passed"]
    # meanwhile another command line puts the strong v0001 back in production
    assert ws.main("registry", "rollback", "--to", "v0001").returncode == 0
    rerun = ws.run("TrainValidateDeploy", DAY3)
    assert rerun.returncode == 0, rerun.output
    verdict = ws.read_json("verdicts", "2026-01-03", "verdict.json")
    assert verdict["passed"] and verdict["production_version"] == "v0002"
    decision = ws.read_json("decisions", "2026-01-03", "decision.json")
    assert decision["decision"] == "rejected" and ws.production() == "v0001"
    assert decision["verdict"]["production_version"] == "v0001" and not decision["verdict"]["passed"]
    assert decision["reasons"][0] == ("the gate compared with v0002, but v0001 is in production now: "
                                      "decided again against v0001")
    assert any("vs production v0001" in reason for reason in decision["reasons"])


def test_promoting_a_rejected_version_by_hand_needs_force_and_its_rejection_stays_visible(deployed):
    ws = deployed()
    ws.replace_config("accuracy = { min = 0.95 }", "accuracy = { min = 0.5 }")
    with_params(ws, "{ max_iter = 2000, C = 0.0001 }")
    assert ws.run("TrainValidateDeploy", DAY2).returncode == 0
    refused = ws.main("registry", "promote", "v0002")
    assert error_line(refused).startswith("error: digits/logreg: v0002 was rejected by the gate (balanced_accuracy 0.")
    assert error_line(refused).endswith("); promote it anyway with --force")
    assert ws.production() == "v0001"

    forced = ws.main("registry", "promote", "v0002", "--force")
    assert forced.returncode == 0, forced.stderr
    assert forced.stderr.startswith("warning: v0002 was rejected by the gate (balanced_accuracy 0.")
    assert ws.history()[-1]["reason"].startswith("promoted by hand with --force over the gate's rejection")
    assert ws.main("registry", "rollback").returncode == 0
    rows = {r["version"]: r for r in ws.registry_list()}
    assert (rows["v0002"]["status"], rows["v0002"]["rejected_by_gate"]) == ("retired", True)
    assert rows["v0001"]["rejected_by_gate"] is False
    assert "v0002    retired (rejected)" in ws.main("registry", "list").stdout


# ---------------------------------------------------------------- 2. the history never bricks the registry

def test_a_cut_off_history_line_does_not_stop_runs_or_list(any_store):
    ws = any_store
    assert ws.run("TrainValidateDeploy", DAY1).returncode == 0
    key = "registry/digits/logreg/history.jsonl"
    ws.store.write_bytes(key, ws.store.read_bytes(key) + b'{"at": "2026-01-01T00:00:00+00:00", "event": "rej')
    with_params(ws, "{ max_iter = 2000, C = 0.5 }")
    run = ws.run("TrainValidateDeploy", DAY2)
    assert run.returncode == 0, run.output
    assert "history.jsonl: line 3 is cut short or not JSON (a write was interrupted); skipped" in run.output
    listed = ws.main("registry", "list")
    assert listed.returncode == 0 and "v0002    production" in listed.stdout, listed.stderr
    assert [e["event"] for e in history_lines(ws)] == ["registered", "promoted", None, "registered", "promoted"]


# ---------------------------------------------------------------- 3. damaged registry files

@pytest.mark.parametrize("content, what", [(b"", "empty"), (b"{\"version\": \"v00", "not JSON"),
                                           (b"{}", "no 'version'"), (b"[]", "not a JSON object")])
def test_a_damaged_production_pointer_names_the_file_and_repair_rebuilds_it(deployed, content, what):
    ws = deployed()
    pointer = ws.registry_dir() / "production.json"
    pointer.write_bytes(content)
    listed = ws.main("registry", "list")
    assert error_line(listed).startswith(f"error: {pointer}: damaged ({what}")
    assert error_line(listed).endswith(f"); rebuild it from the history: {REPAIR}")

    with_params(ws, "{ max_iter = 2000, C = 0.5 }")
    run = ws.run("TrainValidateDeploy", DAY2)
    assert run.returncode == 30, run.output
    [headline] = run.headlines()
    assert "FAILED ValidateModel" in headline and f"{pointer}: damaged" in headline and REPAIR in headline
    assert ws.store.read_bytes("registry/digits/logreg/production.json") == content  # nothing written over it

    repaired = ws.main("registry", "repair")
    assert (repaired.returncode, repaired.stdout.strip()) == (0, "digits/logreg: production.json rebuilt from "
                                                                  "history.jsonl: v0001 is in production")
    again = ws.run("TrainValidateDeploy", DAY2)
    assert again.returncode == 0, again.output
    assert ws.production() == "v0002"
    assert json.loads(pointer.read_text())["previous"] == ["v0001"]


@pytest.mark.parametrize("damage", ["manifest", "card"])
def test_a_damaged_version_is_listed_as_damaged_and_cannot_be_promoted(deployed, damage):
    ws = deployed()
    with_params(ws, "{ max_iter = 2000, C = 0.5 }")
    assert ws.run("TrainValidateDeploy", DAY2).returncode == 0
    assert ws.main("registry", "rollback").returncode == 0  # v0002 retired, v0001 live
    damaged = ws.registry_dir() / "v0002" / f"{damage}.json"
    damaged.write_bytes(damaged.read_bytes()[:40])
    listed = ws.main("registry", "list")
    assert listed.returncode == 1
    assert listed.stdout.splitlines()[1:] == [
        "digits   logreg  v0001    production  2026-01-01  balanced_accuracy=0.9777",
        "digits   logreg  v0002    damaged"]
    assert error_line(listed).startswith(f"error: {damaged}: ")
    promote = ws.main("registry", "promote", "v0002")
    assert error_line(promote).startswith(f"error: {damaged}: ")
    assert ws.production() == "v0001"


def test_an_unusable_production_model_does_not_block_new_candidates(deployed, webhook):
    ws = deployed()
    model = ws.registry_dir() / "v0001" / "model.joblib"
    model.write_bytes(model.read_bytes()[:-10])  # the only production version, damaged
    refused = ws.main("registry", "rollback")
    assert error_line(refused) == ("error: digits/logreg: v0001 is the first production version; "
                                   "there is no earlier one to roll back to")
    with_params(ws, "{ max_iter = 2000, C = 0.5 }")
    run = ws.run("TrainValidateDeploy", DAY2)
    assert run.returncode == 0, run.output
    verdict = ws.read_json("verdicts", "2026-01-02", "verdict.json")
    assert verdict["passed"] and verdict["production_version"] is None
    assert verdict["note"].startswith(f"production v0001 cannot be loaded ({model}: ")
    assert verdict["note"].endswith("): floors and baseline only")
    assert ws.production() == "v0002"
    assert [p["event"] for p in webhook.posts] == ["production_unusable", "promoted"]
    assert webhook.posts[0]["version"] == "v0001" and str(model) in webhook.posts[0]["reasons"][0]


def test_a_version_number_is_never_reused_after_its_directory_was_deleted(deployed):
    import shutil

    ws = deployed()
    with_params(ws, "{ max_iter = 2000, C = 0.5 }")
    assert ws.run("TrainValidateDeploy", DAY2).returncode == 0
    shutil.rmtree(ws.registry_dir() / "v0002")  # the live version, deleted by hand
    with_params(ws, "{ max_iter = 2000, C = 0.7 }")
    run = ws.run("TrainValidateDeploy", DAY3)
    assert run.returncode == 0, run.output
    assert ws.production() == "v0003"
    note = ws.read_json("verdicts", "2026-01-03", "verdict.json")["note"]
    assert note.startswith("production v0002 cannot be loaded (digits/logreg: no version 'v0002'")
    assert [e["version"] for e in history_lines(ws) if e["event"] == "registered"] == ["v0001", "v0002", "v0003"]


# ---------------------------------------------------------------- 4. every read of a committed artifact is verified

def test_a_flipped_byte_in_a_committed_split_is_refused_and_the_message_says_how_to_rebuild(deployed):
    ws = deployed()
    [split] = ws.outputs("split")
    train = ws.data / split.key / "train.parquet"
    data = bytearray(train.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit, same size: pandas would read other numbers
    train.write_bytes(bytes(data))

    with_params(ws, "{ max_iter = 2000, C = 0.5 }")  # retrain on today's split
    run = ws.run("TrainValidateDeploy", DAY1)
    assert run.returncode == 30, run.output
    [headline] = run.headlines()
    assert f"FAILED TrainModel(dataset=digits, date=2026-01-01, model=logreg): {train}: sha256 " in headline
    assert headline.endswith("differs from its manifest ({}); refusing to use a changed file; rebuild it: "
                             "python -m pipeline invalidate SplitData --dataset digits --date 2026-01-01, then run "
                             "again".format(split.manifest()["files"]["train.parquet"]["sha256"][:12]))
    assert [r["version"] for r in ws.registry_list()] == ["v0001"]

    assert ws.main("invalidate", "SplitData", "--dataset", "digits", "--date", "2026-01-01").returncode == 0
    rebuilt = ws.run("TrainValidateDeploy", DAY1)
    assert rebuilt.returncode == 0, rebuilt.output
    assert rebuilt.ran("SplitData") and rebuilt.ran("TrainModel")


# ---------------------------------------------------------------- 6. config cannot run arbitrary code

@pytest.mark.parametrize("estimator, params", [
    ("os.system", 'command = "touch {marker}"'),
    ("subprocess.run", 'args = ["touch", "{marker}"]'),
    ("subprocess.Popen", 'args = ["touch", "{marker}"]'),  # a class, but not an estimator
])
def test_an_estimator_that_is_not_an_estimator_class_is_refused_before_anything_runs(workspace, estimator, params):
    marker = workspace.root / "ran"
    workspace.add_config(f'[models.evil]\nestimator = "{estimator}"\nparams = {{ {params.format(marker=marker)} }}\n')
    run = workspace.luigi("TrainValidateDeploy", "--model", "evil", DAY1)
    assert run.returncode == 35, run.output
    [headline] = run.headlines()
    assert f"{workspace.toml}: models.evil.estimator: estimator '{estimator}' is not a scikit-learn estimator " \
           "class (a class with fit, get_params and set_params)" in headline
    assert not marker.exists()


# ---------------------------------------------------------------- 7. a mistyped date cannot freeze deploys

def test_a_date_in_the_future_is_refused_in_one_line(deployed):
    import datetime as dt

    ws = deployed()
    tomorrow, later = dt.date.today() + dt.timedelta(days=1), dt.date.today() + dt.timedelta(days=2)
    run = ws.run("TrainValidateDeploy", f"--date={later}")
    assert run.returncode == 35, run.output
    [headline] = run.headlines()
    assert headline.endswith(f"--date {later} is in the future (today is {dt.date.today()}); a run is dated by "
                             "the day of its data, at most one day ahead of this clock")
    assert [r["version"] for r in ws.registry_list()] == ["v0001"] and not ws.outputs("raw")[1:]
    assert ws.run("TrainValidateDeploy", f"--date={tomorrow}").returncode == 0  # clock skew is fine


# ---------------------------------------------------------------- 10. predict never leaves a mess

def digits_csv(path, rows: int, offset: int = 0):
    from sklearn.datasets import load_digits

    frame = load_digits(as_frame=True).frame.drop(columns="target")
    frame = frame.iloc[[(offset + i) % len(frame) for i in range(rows)]]
    frame.to_csv(path, index=False)
    return path


def test_predict_refuses_infinite_values_and_writing_over_its_input(deployed, tmp_path):
    ws = deployed()
    source = digits_csv(tmp_path / "rows.csv", 5)
    before = source.read_bytes()
    over = ws.main("predict", "--input", str(source), "--output", str(source))
    assert error_line(over) == (f"error: {source}: the output is the input file; write the predictions to "
                                "another file")
    assert source.read_bytes() == before

    infinite = tmp_path / "infinite.csv"
    infinite.write_text(before.decode().replace("\n0.0,", "\ninf,", 1).replace("\n0,", "\ninf,", 1))
    bad = ws.main("predict", "--input", str(infinite), "--output", str(tmp_path / "out.csv"))
    assert error_line(bad) == (f"error: {infinite}: column 'pixel_0_0': 1 infinite value(s) (e.g. row 0); "
                               "the model cannot score them")
    assert not (tmp_path / "out.csv").exists()


def test_two_predicts_writing_one_output_at_once_each_publish_a_complete_file_of_their_own(deployed, tmp_path):
    import time

    import pandas as pd

    ws = deployed()
    first, second = (digits_csv(tmp_path / f"in-{i}.csv", 50, offset=i * 100) for i in (0, 1))
    output, pause = tmp_path / "scored.parquet", tmp_path / "paused"

    def predict(path, **env):
        return subprocess.Popen([sys.executable, "-m", "pipeline", "predict", "--input", str(path), "--output",
                                 str(output)], cwd=REPO, env={**ws.env, **env}, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    # the first job has written its file aside and waits; the second writes the same output meanwhile
    held = predict(first, PYTHONPATH=FAULTS, PIPELINE_TEST_PAUSE_AT="written:scored.parquet",
                   PIPELINE_TEST_PAUSE_FILE=str(pause))
    deadline = time.time() + 60
    while not pause.exists():
        assert held.poll() is None and time.time() < deadline, held.communicate()
        time.sleep(0.05)
    other = predict(second)
    assert other.wait(timeout=60) == 0, other.communicate()
    assert pd.read_parquet(output)["pixel_0_0"].tolist() == pd.read_csv(second)["pixel_0_0"].tolist()
    pause.unlink()
    assert held.wait(timeout=60) == 0, held.communicate()
    scored = pd.read_parquet(output)  # the job that reported last published its own rows, complete
    assert scored[list(pd.read_csv(first).columns)].equals(pd.read_csv(first))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left behind


# ---------------------------------------------------------------- 5. files still being written are never used

SLOW_WRITER = """
import sys, time
from pathlib import Path
target, rows, hold = Path(sys.argv[1]), Path(sys.argv[2]).read_text().splitlines(True), Path(sys.argv[3])
with open(target, "w") as out:
    out.writelines(rows[:301])  # the header and 300 rows, then a pause in the middle of a line
    out.write(rows[301][:7])
    out.flush()
    hold.touch()
    while hold.exists():
        time.sleep(0.05)
    out.write(rows[301][7:])
    out.writelines(rows[302:])
"""


def test_an_incoming_file_still_being_written_is_not_scored_until_it_settles(deployed, tmp_path):
    import time

    import pandas as pd

    ws = deployed()
    ws.add_cfg("[pipeline]\nsettle_seconds = 2")
    rows = digits_csv(tmp_path / "all.csv", 500)
    incoming, hold = ws.data / "incoming" / "digits" / "2026-03-01.csv", tmp_path / "hold"
    incoming.parent.mkdir(parents=True)
    writer = subprocess.Popen([sys.executable, "-c", SLOW_WRITER, str(incoming), str(rows), str(hold)])
    deadline = time.time() + 30
    while not hold.exists():
        assert writer.poll() is None and time.time() < deadline
        time.sleep(0.05)
    waiting = ws.run("BatchPredict", "--date=2026-03-01")
    assert waiting.returncode == 20, waiting.output
    [headline] = waiting.headlines()
    assert headline.endswith(f"{incoming} changed less than 2 s ago: it counts as arrived once it has not "
                             "changed for 2 s ([pipeline] settle_seconds), or once its marker exists if one is "
                             "configured ([pipeline] incoming_marker)")
    assert not ws.outputs("predictions")

    hold.unlink()
    assert writer.wait(timeout=30) == 0
    time.sleep(2.1)
    scored = ws.run("BatchPredict", "--date=2026-03-01")
    assert scored.returncode == 0, scored.output
    [out] = ws.outputs("predictions")
    assert len(pd.read_parquet(out / "predictions.parquet")) == 500


def test_a_source_with_a_marker_is_used_only_once_the_marker_exists_and_never_cut_off(deployed):
    import os
    import time

    ws = deployed("customers")
    ws.replace_config('problem = "classification"\ncheck',
                      'problem = "classification"\nready_marker = "{file}.done"\ncheck')
    source = ws.root / "customers.csv"
    whole = source.read_text()
    source.write_text(whole[: len(whole) // 2])  # cut off mid-line, and then it stopped changing
    old = time.time() - 3600
    os.utime(source, (old, old))

    waiting = ws.run("TrainValidateDeploy", "--dataset", "customers", DAY2)
    assert waiting.returncode == 20, waiting.output
    [headline] = waiting.headlines()
    assert headline.endswith(f"{source}: waiting for its marker {source}.done (ready_marker)")
    assert len(ws.outputs("raw")) == 1  # nothing new was snapshotted

    (ws.root / "customers.csv.done").touch()
    cut = ws.run("TrainValidateDeploy", "--dataset", "customers", DAY2)
    assert cut.returncode == 30, cut.output
    [headline] = cut.headlines()
    assert headline.endswith(f"{source}: the last line does not end with a line break: the file looks cut off "
                             "(still being written?); if it is complete, end it with a newline")

    source.write_text(whole)
    done = ws.run("TrainValidateDeploy", "--dataset", "customers", DAY2)
    assert done.returncode == 0, done.output
    assert ws.read_json("validated", "2026-01-02", "report.json", "customers")["rows"] == 400


# ---------------------------------------------------------------- 8. the pid lock cannot be hijacked or confused

class DefaultLocks(Workspace):
    """A workspace whose config leaves [core] lock_pid_dir to the pipeline's default."""

    def settings(self):
        return {section: options for section, options in super().settings().items() if section != "core"}


def test_the_pid_lock_is_private_to_each_data_dir(tmp_path):
    import os
    import stat

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = DefaultLocks(tmp_path / "a"), DefaultLocks(tmp_path / "b")
    with a.held("TrainValidateDeploy", DAY1, at="fit") as first:
        other = b.luigi("TrainValidateDeploy", DAY1)  # the same command line, another data dir
        assert other.returncode == 0, other.output
        same = a.luigi("TrainValidateDeploy", DAY1)
        assert same.returncode == 10 and "already running" in same.output, same.output
    assert first.run.returncode == 0, first.run.output
    locks = a.data / ".luigi-locks"
    mode = os.lstat(locks)
    assert stat.S_ISDIR(mode.st_mode) and stat.S_IMODE(mode.st_mode) == 0o700 and mode.st_uid == os.getuid()
    assert len(list(locks.iterdir())) == 1


def test_a_lock_dir_that_is_a_symlink_is_refused(tmp_path):
    (tmp_path / "ws").mkdir()
    ws = DefaultLocks(tmp_path / "ws")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    ws.data.mkdir()
    (ws.data / ".luigi-locks").symlink_to(elsewhere)  # planted by another user
    run = ws.luigi("TrainValidateDeploy", DAY1)
    assert run.returncode == 35, run.output
    assert run.output.strip() == (f"error: [core] lock_pid_dir {ws.data / '.luigi-locks'}: a symbolic link; refusing "
                                  "to keep Luigi's pid lock there (remove it, or set [core] lock_pid_dir to a private "
                                  "folder)")
    assert list(elsewhere.iterdir()) == [] and not ws.outputs("raw")
