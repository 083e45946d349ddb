"""`python -m pipeline`: every command a user types, and what it prints.

One deployed workspace per test (`deployed`: digits/logreg v0001 in production after the run of
2026-01-01); the few tests that need a second version make it with one more run.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO
from samples import customers

from pipeline.__main__ import main

pytestmark = pytest.mark.e2e

TABLE_HEADER = "dataset  model   version  status      date        metric"
V1_ROW = "digits   logreg  v0001    production  2026-01-01  balanced_accuracy=0.9777"
UNKNOWN_NOPE = "unknown dataset 'nope' (known: breast_cancer, diabetes, digits, iris, wine)"
NAME_RULE = "use letters, digits, '_' and '-' (no path separators, dots or '..')"
TIMESTAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00"


def second_version(ws) -> None:
    """Train, gate and promote digits/logreg v0002 (C = 0.5) on 2026-01-02."""
    ws.replace_config("C = 1.0 }", "C = 0.5 }")
    run = ws.run("TrainValidateDeploy", "--date=2026-01-02")
    assert run.returncode == 0, run.output


def digits_rows(path: Path, n: int = 5) -> Path:
    """The first n digits (0, 1, 2, 3, 4) as a CSV of the model's feature columns, no target."""
    from sklearn.datasets import load_digits

    path.parent.mkdir(parents=True, exist_ok=True)
    load_digits(as_frame=True).frame.drop(columns="target").head(n).to_csv(path, index=False)
    return path


def error_line(proc) -> str:
    """A user mistake: exit 1, nothing on stdout, one stderr line starting with 'error: '."""
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert proc.stdout == ""
    [line] = proc.stderr.splitlines()
    assert line.startswith("error: ")
    return line


def show_lines(ws, *args) -> list[str]:
    proc = ws.main("registry", "show", *args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


# ---------------------------------------------------------------- registry list

def test_list_prints_one_row_per_version_with_its_primary_metric(deployed):
    proc = deployed().main("registry", "list")
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout == f"{TABLE_HEADER}\n{V1_ROW}\n"


def test_list_json_has_status_production_and_numeric_metrics(deployed):
    proc = deployed().main("registry", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    [row] = json.loads(proc.stdout)
    assert {k: row[k] for k in ("dataset", "model", "version", "status", "production", "date", "kind")} == {
        "dataset": "digits", "model": "logreg", "version": "v0001", "status": "production", "production": True,
        "date": "2026-01-01", "kind": "classification"}
    assert re.fullmatch(TIMESTAMP, row["registered_at"])
    assert set(row["metrics"]) == {"accuracy", "balanced_accuracy", "f1_macro", "roc_auc"}  # not n_samples
    assert row["metrics"]["accuracy"] == pytest.approx(0.9778, abs=5e-5)


def test_list_and_report_narrow_to_a_dataset_or_model(deployed):
    ws = deployed()
    run = ws.run("TrainValidateDeploy", "--dataset=iris", "--date=2026-01-01")
    assert run.returncode == 0, run.output
    iris_row = "iris     logreg  v0001    production  2026-01-01  balanced_accuracy=0.9231"

    def listed(*filters):
        proc = ws.main("registry", "list", *filters)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.splitlines()

    assert listed() == [TABLE_HEADER, V1_ROW, iris_row]
    assert listed("--model", "logreg") == [TABLE_HEADER, V1_ROW, iris_row]
    assert listed("--dataset", "iris") == [TABLE_HEADER, iris_row]
    assert listed("--dataset", "digits", "--model", "logreg") == [TABLE_HEADER, V1_ROW]
    assert listed("--model", "kmeans") == [f"no models registered under {ws.data / 'registry'}"]
    assert json.loads(ws.main("registry", "list", "--dataset", "wine", "--json").stdout) == []

    # report: the run made last (iris), unless narrowed to a dataset
    assert ws.main("report").stdout.startswith("iris/logreg run of 2026-01-01 ")
    assert ws.main("report", "--dataset", "digits").stdout.startswith("digits/logreg run of 2026-01-01 ")


def test_list_in_an_empty_data_dir_says_where_it_looked(workspace):
    proc = workspace.main("registry", "list")
    assert (proc.returncode, proc.stdout, proc.stderr) == (
        0, f"no models registered under {workspace.data / 'registry'}\n", "")
    assert json.loads(workspace.main("registry", "list", "--json").stdout) == []


# ---------------------------------------------------------------- registry show

def test_show_prints_the_production_card_and_its_history(deployed):
    ws = deployed()
    lines = show_lines(ws)
    model_sha256 = hashlib.sha256((ws.registry_dir() / "v0001" / "model.joblib").read_bytes()).hexdigest()
    assert lines[0] == "digits/logreg v0001 (production)"
    fields = dict(re.match(r"  (\S+) +(.*)", line).groups() for line in lines[1:10])
    assert list(fields) == ["date", "kind", "target", "registered_at", "trained_at", "code_version", "model_sha256",
                            "estimator", "data"]
    assert {k: fields[k] for k in ("date", "kind", "target", "model_sha256", "estimator")} == {
        "date": "2026-01-01", "kind": "classification", "target": "target", "model_sha256": model_sha256,
        "estimator": "sklearn.linear_model.LogisticRegression {'C': 1.0, 'max_iter': 2000}"}
    assert re.fullmatch(r"sklearn:digits rows=1797 fingerprint=[0-9a-f]{12}", fields["data"])
    assert re.fullmatch(TIMESTAMP, fields["registered_at"])
    assert lines[10:16] == ["  metrics             baseline", "    accuracy          0.9778    0.1022",
                            "    balanced_accuracy 0.9777    0.1000", "    f1_macro          0.9776    0.0185",
                            "    roc_auc           0.9991    0.5000", "  history"]
    assert [re.sub(TIMESTAMP, "<at>", line).rstrip() for line in lines[16:]] == [
        "    <at>  registered",
        "    <at>  promoted    accuracy 0.9778 >= 0.95; balanced_accuracy 0.9777 vs baseline 0.1000 "
        "(DummyClassifier(strategy='prior')): better; no production model yet: tolerance 0.01 on balanced_accuracy "
        "applies from the next candidate on"]
    assert show_lines(ws, "v0001") == lines  # the version named, the same card


def test_show_json_has_the_card_status_and_history(deployed):
    proc = deployed().main("registry", "show", "--json")
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert set(shown) == {"card", "status", "history"}
    assert shown["status"] == "production"
    assert (shown["card"]["version"], shown["card"]["date"]) == ("v0001", "2026-01-01")
    assert shown["card"]["metrics"]["accuracy"] == pytest.approx(0.9778, abs=5e-5)
    assert [(e["event"], e["version"]) for e in shown["history"]] == [("registered", "v0001"), ("promoted", "v0001")]


# ---------------------------------------------------------------- registry promote / rollback

def test_rollback_makes_the_previous_version_live_and_records_why(deployed):
    ws = deployed()
    second_version(ws)
    assert ws.main("registry", "list").stdout.splitlines()[1:] == [
        "digits   logreg  v0001    retired     2026-01-01  balanced_accuracy=0.9777",
        "digits   logreg  v0002    production  2026-01-02  balanced_accuracy=0.9799"]

    proc = ws.main("registry", "rollback", "--reason", "bad predictions in the field")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "digits/logreg: rolled back from v0002 to v0001\n", "")
    assert ws.main("registry", "list").stdout.splitlines()[1:] == [
        V1_ROW, "digits   logreg  v0002    retired     2026-01-02  balanced_accuracy=0.9799"]
    lines = show_lines(ws)
    assert lines[0] == "digits/logreg v0001 (production)"
    assert re.fullmatch(rf"    {TIMESTAMP}  rolled_back bad predictions in the field", lines[-1])

    again = ws.main("registry", "rollback")
    assert error_line(again) == ("error: digits/logreg: v0001 is the first production version; "
                                 "there is no earlier one to roll back to")
    assert show_lines(ws)[0] == "digits/logreg v0001 (production)"


def test_promote_and_rollback_to_by_hand_refuse_unknown_or_changed_versions(deployed):
    ws = deployed()
    second_version(ws)
    assert ws.main("report").stdout.startswith("digits/logreg run of 2026-01-02 ")  # the run made last

    back = ws.main("registry", "rollback", "--to", "v0001", "--json")
    assert (back.returncode, json.loads(back.stdout)) == (0, {"dataset": "digits", "model": "logreg",
                                                              "production": "v0001"})
    promote = ws.main("registry", "promote", "v0002", "--reason", "upstream fixed")
    assert (promote.returncode, promote.stdout, promote.stderr) == (0, "digits/logreg: v0002 is in production\n", "")
    lines = show_lines(ws)
    assert lines[0] == "digits/logreg v0002 (production)"
    assert re.fullmatch(rf"    {TIMESTAMP}  promoted    upstream fixed", lines[-1])
    assert json.loads(ws.main("registry", "promote", "v0002", "--json").stdout)["production"] == "v0002"

    unknown = ws.main("registry", "promote", "v0009")
    assert error_line(unknown) == "error: digits/logreg: no version 'v0009' (versions: v0001, v0002)"

    model_file = ws.registry_dir() / "v0001" / "model.joblib"
    model_file.write_bytes(model_file.read_bytes() + b"\0")  # changed on disk after registration
    for command in (("registry", "promote", "v0001"), ("registry", "rollback")):
        line = error_line(ws.main(*command))
        assert re.fullmatch(rf"error: {re.escape(str(model_file))}: \d+ bytes where its manifest records \d+; "
                            r"refusing to load a changed model; registry versions are never rewritten: roll back to "
                            r"another version, or let the next run deploy a new one", line), line
    assert show_lines(ws)[0] == "digits/logreg v0002 (production)"


# ---------------------------------------------------------------- predict

def test_predict_writes_parquet_or_csv_with_predictions_probabilities_and_version(deployed, tmp_path):
    ws = deployed()
    rows = digits_rows(tmp_path / "in" / "rows.csv")
    features = list(pd.read_csv(rows).columns)
    scored_columns = [*features, "prediction", *(f"proba_{k}" for k in range(10)), "model_version"]

    parquet = tmp_path / "out" / "scored.parquet"
    proc = ws.main("predict", "--input", str(rows), "--output", str(parquet))
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"scored 5 rows with digits/logreg v0001 -> {parquet}\n",
                                                           "")
    scored = pd.read_parquet(parquet)
    assert list(scored.columns) == scored_columns
    assert scored["prediction"].tolist() == [0, 1, 2, 3, 4]
    assert scored.filter(like="proba_").sum(axis=1).round(6).tolist() == [1.0] * 5
    assert set(scored["model_version"]) == {"v0001"}

    csv = tmp_path / "out" / "scored.csv"
    proc = ws.main("predict", "--input", str(rows), "--output", str(csv), "--json")
    assert (proc.returncode, json.loads(proc.stdout)) == (0, {"version": "v0001", "rows": 5, "output": str(csv)})
    from_csv = pd.read_csv(csv)
    assert list(from_csv.columns) == scored_columns
    assert from_csv["prediction"].tolist() == [0, 1, 2, 3, 4]
    pd.testing.assert_frame_equal(from_csv.filter(like="proba_"), scored.filter(like="proba_"))


def test_predict_scores_text_columns_and_missing_values(deployed, tmp_path):
    ws = deployed("customers")
    rows = customers(12, seed=5).drop(columns="churned")
    assert rows.isna().any().any()
    rows.to_csv(tmp_path / "rows.csv", index=False)
    out = tmp_path / "scored.csv"
    proc = ws.main("predict", "--dataset", "customers", "--input", str(tmp_path / "rows.csv"), "--output", str(out))
    assert proc.stdout == f"scored 12 rows with customers/logreg v0001 -> {out}\n", proc.stderr
    scored = pd.read_csv(out)
    assert list(scored.columns) == [*rows.columns, "prediction", "proba_no", "proba_yes", "model_version"]
    assert set(scored["prediction"]) <= {"no", "yes"} and scored["prediction"].notna().all()
    assert scored["tenure"].isna().sum() == rows["tenure"].isna().sum()  # rows with gaps are scored, not dropped

    rows.assign(tenure="twelve").to_csv(tmp_path / "text.csv", index=False)
    bad = ws.main("predict", "--dataset", "customers", "--input", str(tmp_path / "text.csv"),
                  "--output", str(tmp_path / "bad.csv"))
    assert error_line(bad).startswith(f"error: {tmp_path / 'text.csv'}: column 'tenure' must be numeric")
    assert not (tmp_path / "bad.csv").exists()


def test_predict_with_a_bad_output_name_fails_before_reading_anything(deployed, tmp_path):
    out = tmp_path / "out" / "scored.txt"
    proc = deployed().main("predict", "--input", str(tmp_path / "never-read.csv"), "--output", str(out))
    assert error_line(proc) == f"error: {out}: the output name must end in .parquet, .pq or .csv"
    assert not out.parent.exists()


def test_predict_names_a_missing_feature_column_and_leaves_no_output(deployed, tmp_path):
    rows = digits_rows(tmp_path / "in" / "rows.csv")
    pd.read_csv(rows).drop(columns=["pixel_0_3"]).to_csv(rows, index=False)
    out = tmp_path / "out" / "scored.parquet"
    proc = deployed().main("predict", "--input", str(rows), "--output", str(out))
    assert error_line(proc) == f"error: {rows}: missing column(s) the model needs: pixel_0_3"
    assert not out.parent.exists()


def test_predict_refuses_a_changed_production_model(deployed, tmp_path):
    ws = deployed()
    model_file = ws.registry_dir() / "v0001" / "model.joblib"
    model_file.write_bytes(model_file.read_bytes() + b"\0")
    out = tmp_path / "out" / "scored.csv"
    proc = ws.main("predict", "--input", str(digits_rows(tmp_path / "in" / "rows.csv")), "--output", str(out))
    assert error_line(proc).startswith(f"error: {model_file}: ")
    assert "refusing to load a changed model" in proc.stderr
    assert not out.parent.exists()


# ---------------------------------------------------------------- report

def test_report_prints_the_latest_run_and_where_its_html_is(deployed):
    ws = deployed()
    proc = ws.main("report")
    assert (proc.returncode, proc.stderr) == (0, "")
    lines = proc.stdout.splitlines()
    assert re.fullmatch(rf"digits/logreg run of 2026-01-01 \(report made {TIMESTAMP}\)", lines[0])
    assert "data: 1797 rows from sklearn:digits" in lines
    assert "decision: promoted v0001 (production none -> v0001)" in lines
    assert "  - accuracy 0.9778 >= 0.95" in lines
    html = Path(lines[-1].removeprefix("full report: "))
    assert lines[-1].startswith("full report: ") and html.name == "report.html" and html.is_file()
    assert html.parent.parent == ws.data / "reports" / "digits" / "logreg" / "2026-01-01"


def test_report_json_has_the_run_the_html_where_it_is_stored_and_the_history(deployed):
    proc = deployed().main("report", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert set(report) == {"run", "report", "stored_at", "history"}
    assert (report["run"]["dataset"], report["run"]["model"], report["run"]["date"]) == ("digits", "logreg",
                                                                                       "2026-01-01")
    assert report["run"]["decision"]["decision"] == "promoted"
    assert Path(report["report"]).is_file() and Path(report["report"]).parent == Path(report["stored_at"])
    assert [(e["event"], e["version"]) for e in report["history"]] == [("registered", "v0001"),
                                                                         ("promoted", "v0001")]


def test_report_without_any_run_exits_1_and_says_what_writes_them(workspace):
    assert error_line(workspace.main("report")) == (f"error: no run reports under {workspace.data / 'reports'} yet "
                                                    "(TrainValidateDeploy writes them)")


# ---------------------------------------------------------------- --help

HELP = [
    ([], ["list, registry, predict, report, invalidate and scheduler commands", "--version",
          "list, show, promote and roll back", "score a CSV or Parquet file with the production model",
          "luigid, the central scheduler"]),
    (["registry"], ["{list,show,promote,rollback,repair}", "every registered version and its status",
                    "a version's card and history (default: production)"]),
    (["registry", "list"], ["every registered version and its status",
                            "--dataset DATASET narrow to one dataset (default: all)",
                            "--model MODEL narrow to one model (default: all)", "--json machine-readable output"]),
    (["registry", "show"], ["a version's card and history (default: production)", "[version]",
                            "(default: digits)", "(default: the dataset's deployment"]),
    (["registry", "promote"], ["make a registered version the production model", "--reason REASON", "version"]),
    (["registry", "rollback"], ["make the previous production version (or --to VERSION) live again",
                                "--to VERSION", "--reason REASON"]),
    (["predict"], ["score a CSV or Parquet file with the production model", "--input INPUT CSV or Parquet file",
                   "--output OUTPUT where to write predictions (.parquet, .pq or .csv)"]),
    (["report"], ["print the latest run report and its registry's history",
                  "--dataset DATASET narrow to one dataset (default: the latest run of any)",
                  "--model MODEL narrow to one model (default: with --dataset, its deployment; else any)"]),
    (["list"], ["the configured datasets (and each one's deployment), models and gates", "--json"]),
    (["check"], ["a dead man's switch for cron", "--max-age MAX_AGE", "--max-model-age MAX_MODEL_AGE",
                 "narrow to one dataset (default: every configured deployment)"]),
    (["invalidate"], ["move a task's outputs and everything downstream of it (for one run) to data_dir/trash",
                      "a task family, e.g. TrainModel", "--date DATE the run's date, YYYY-MM-DD"]),
    (["scheduler"], ["{start,run,stop,status}", "run it in the foreground (for systemd)",
                     "address to bind (default: 127.0.0.1 only)",
                     "port (default: 8082, Luigi's default)"]),
]


@pytest.mark.parametrize("argv, says", HELP, ids=[" ".join(argv) or "python -m pipeline" for argv, _ in HELP])
def test_help_exits_0_and_says_what_the_command_does(capsys, argv, says):
    with pytest.raises(SystemExit) as exit:
        main([*argv, "--help"])
    assert exit.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps to the terminal's width
    assert text.startswith(f"usage: ml-pipeline {' '.join(argv)}".rstrip())
    for phrase in says:
        assert phrase in text


# ---------------------------------------------------------------- user mistakes

@pytest.mark.parametrize("argv, message", [
    pytest.param(("registry", "rollback", "--dataset", "nope"), UNKNOWN_NOPE, id="unknown dataset"),
    pytest.param(("invalidate", "TrainModel", "--dataset", "nope", "--date", "2026-01-01"), UNKNOWN_NOPE,
                 id="unknown dataset in the config"),
    pytest.param(("registry", "list", "--dataset", "digts"),
                 "unknown dataset 'digts'; did you mean 'digits'? (known: breast_cancer, diabetes, digits, iris, wine)",
                 id="a mistyped dataset"),
    pytest.param(("report", "--model", "logrge"), "unknown model 'logrge'; did you mean 'logreg'? (known: best, "
                 "dbscan, gbr, hist_gb, kmeans, logreg, random_forest, ridge)", id="a mistyped model"),
    pytest.param(("registry", "show", "--dataset", "iris"),
                 "iris/logreg: no such registry (nothing was ever deployed for it)", id="a dataset never deployed"),
    pytest.param(("registry", "show", "--dataset", "a/b"), f"dataset name 'a/b' is not allowed: {NAME_RULE}",
                 id="a name with a slash"),
    pytest.param(("predict", "--model", "../x", "--input", "{tmp}/rows.csv", "--output", "{tmp}/out.csv"),
                 f"model name '../x' is not allowed: {NAME_RULE}", id="a name that climbs out"),
    pytest.param(("registry", "show", "v0009"), "digits/logreg: no version 'v0009' (versions: v0001)",
                 id="unknown version"),
    pytest.param(("registry", "rollback"), "digits/logreg: v0001 is the first production version; "
                 "there is no earlier one to roll back to", id="rollback with nothing earlier"),
    pytest.param(("registry", "rollback", "--to", "v0001"), "digits/logreg: v0001 is already in production",
                 id="rollback to the live version"),
    pytest.param(("predict", "--input", "{tmp}/missing.csv", "--output", "{tmp}/out.csv"),
                 "{tmp}/missing.csv: no such file", id="predict a missing file"),
    pytest.param(("predict", "--input", "{tmp}/rows.csv", "--output", "{tmp}/rows.csv/out.csv"),
                 "{tmp}/rows.csv/out.csv: cannot write the output: {tmp}/rows.csv is a file, not a folder",
                 id="an output under a file"),
    pytest.param(("predict", "--input", "{tmp}/rows.csv", "--output", "{tmp}/dir.csv"),
                 "{tmp}/dir.csv: cannot write the output: it is a folder", id="an output that is a directory"),
    pytest.param(("predict", "--dataset", "nope", "--input", "{tmp}/rows.csv", "--output", "{tmp}/out.csv"),
                 UNKNOWN_NOPE, id="predict for an unknown dataset"),
    pytest.param(("registry", "list", "--dataset", "a/b"), f"dataset name 'a/b' is not allowed: {NAME_RULE}",
                 id="list with a bad name"),
    pytest.param(("report", "--model", "a/b"), f"model name 'a/b' is not allowed: {NAME_RULE}",
                 id="report with a bad name"),
])
def test_a_user_mistake_ends_in_one_error_line_and_exit_1(deployed, tmp_path, argv, message):
    ws = deployed()
    places = {"tmp": tmp_path, "toml": ws.toml}
    digits_rows(tmp_path / "rows.csv")
    (tmp_path / "dir.csv").mkdir()
    proc = ws.main(*(arg.format(**places) for arg in argv))
    assert error_line(proc) == "error: " + message.format(**places)
    assert not (tmp_path / "out.csv").exists()
    assert show_lines(ws)[0] == "digits/logreg v0001 (production)"


# ---------------------------------------------------------------- the real command

def test_python_dash_m_pipeline_runs_the_cli(deployed):
    proc = deployed().cli("registry", "list")
    assert (proc.returncode, proc.stdout) == (0, f"{TABLE_HEADER}\n{V1_ROW}\n"), proc.stderr


# ---------------------------------------------------------------- what show and invalidate tell

def test_show_of_a_version_says_when_and_why_it_left_production(deployed):
    ws = deployed()
    second_version(ws)
    assert ws.main("registry", "rollback", "--reason", "complaints from the field").returncode == 0
    lines = show_lines(ws, "v0002")
    assert lines[0] == "digits/logreg v0002 (retired)"
    assert re.fullmatch(rf"    {TIMESTAMP}  rolled_back complaints from the field \(production went to v0001\)",
                        lines[-1])
    assert all(line == line.rstrip() for line in lines)
    replaced = show_lines(ws, "v0001")
    assert any(re.fullmatch(rf"    {TIMESTAMP}  replaced    by v0002: .*", line) for line in replaced), replaced


def test_invalidate_json_lists_what_it_moved(deployed):
    ws = deployed()
    proc = ws.main("invalidate", "DeployModel", "--date", "2026-01-01", "--json")
    assert proc.returncode == 0, proc.stderr
    moved = json.loads(proc.stdout)
    assert [m["from"].split("/data/")[1].split("/")[0] for m in moved] == ["decisions", "reports"]
    assert all(Path(m["to"]).exists() and not Path(m["from"]).exists() for m in moved)
    assert json.loads(ws.main("invalidate", "DeployModel", "--date", "2026-01-01", "--json").stdout) == []


# ---------------------------------------------------------------- the console script

def test_the_console_script_has_a_version_and_lists_the_config(workspace):
    import subprocess
    import sys

    script = str(Path(sys.executable).parent / "ml-pipeline")
    version = subprocess.run([script, "--version"], capture_output=True, text=True, env=workspace.env, timeout=60)
    assert version.returncode == 0 and re.fullmatch(r"ml-pipeline \d+\.\d+\.\d+\n", version.stdout)
    listed = subprocess.run([script, "list"], capture_output=True, text=True, env=workspace.env, timeout=60)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0] == str(workspace.toml)
    assert re.fullmatch(r"breast_cancer +classification +best of logreg, random_forest, hist_gb +sklearn:breast_cancer",
                        next(line for line in lines if line.startswith("breast_cancer ")))
    assert re.fullmatch(r"digits\.dbscan +v_measure >= 0\.4; noise_fraction <= 0\.6",
                        next(line for line in lines if line.startswith("digits.dbscan")))
    config = json.loads(workspace.main("list", "--json").stdout)
    assert config["datasets"]["diabetes"]["deployment"] == "best" and "logreg" in config["models"]


def test_output_to_a_reader_that_left_ends_quietly(workspace):
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-m", "pipeline", "list"], cwd=REPO, env=workspace.env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # like `| head -0`: nobody reads
    _, err = process.communicate(timeout=60)
    assert process.returncode == 0 and b"BrokenPipeError" not in err and b"Traceback" not in err
