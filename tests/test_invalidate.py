"""Invalidating one run's outputs: what counts as downstream, what moves to the trash, what never moves."""
import datetime as dt
from pathlib import Path

import pytest

from pipeline.errors import ConfigError
from pipeline.invalidate import affected, invalidate

pytestmark = pytest.mark.e2e

DAY1 = dt.date(2026, 1, 1)
AFTER_TRAINING = ["TrainModel", "EvaluateModel", "ValidateModel", "DeployModel", "RunReport"]


def families(tasks) -> list[str]:
    return [task.task_family for task in tasks]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_train_model_and_everything_downstream_in_dependency_order(deployed):
    ws = deployed()
    with ws.configured():
        tasks = affected("TrainModel", "digits", "logreg", DAY1)
    assert families(tasks) == AFTER_TRAINING
    assert {(t.dataset, t.model, t.date) for t in tasks} == {("digits", "logreg", DAY1)}


def test_ingest_data_takes_validation_and_the_split_with_it(deployed):
    ws = deployed()
    with ws.configured():
        tasks = affected("IngestData", "digits", "logreg", DAY1)
    assert families(tasks)[:3] == ["IngestData", "ValidateData", "SplitData"]
    assert set(AFTER_TRAINING) <= set(families(tasks))


def test_the_last_task_is_only_itself(deployed):
    ws = deployed()
    with ws.configured():
        assert families(affected("RunReport", "digits", "logreg", DAY1)) == ["RunReport"]


def test_batch_predict_covers_both_output_formats(deployed):
    ws = deployed()
    with ws.configured():
        tasks = affected("BatchPredict", "digits", "logreg", DAY1)
        keys = {task.output().key for task in tasks}
    assert families(tasks) == ["BatchPredict", "BatchPredict"]
    assert sorted(task.format for task in tasks) == ["csv", "parquet"]
    assert len(keys) == 2  # two outputs, not one twice


def test_an_unknown_task_family_is_a_config_error_listing_the_tasks(deployed):
    ws = deployed()
    with ws.configured(), pytest.raises(ConfigError) as raised:
        affected("TrainModle", "digits", "logreg", DAY1)
    assert str(raised.value) == ("no task 'TrainModle' in a run (tasks: IngestData, ValidateData, SplitData, "
                                 "TrainModel, EvaluateModel, ValidateModel, DeployModel, RunReport)")


def test_invalidate_moves_those_outputs_to_the_trash_and_leaves_the_rest(deployed):
    ws = deployed()
    registry = snapshot(ws.data / "registry")
    upstream = {stage: [o.key for o in ws.outputs(stage)] for stage in ("raw", "validated", "split")}
    with ws.configured():
        keys = [task.output().key for task in affected("TrainModel", "digits", "logreg", DAY1)]
        moved = invalidate("TrainModel", "digits", "logreg", DAY1)

    [trash] = (ws.data / "trash").iterdir()
    assert moved == [(str(ws.data / key), str(trash / key)) for key in keys]
    for key in keys:
        assert not (ws.data / key).exists()
        assert (trash / key / "manifest.json").is_file()  # the whole committed output, same relative path
    assert snapshot(ws.data / "registry") == registry
    assert ws.production() == "v0001"
    assert {stage: [o.key for o in ws.outputs(stage)] for stage in upstream} == upstream
    assert all(upstream.values())

    with ws.configured():
        assert invalidate("TrainModel", "digits", "logreg", DAY1) == []
    assert len(list((ws.data / "trash").iterdir())) == 1


def test_cli_prints_one_moved_line_per_output(deployed):
    ws = deployed()
    proc = ws.main("invalidate", "TrainModel", "--date", "2026-01-01")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == len(AFTER_TRAINING)
    [trash] = (ws.data / "trash").iterdir()
    for line, stage in zip(lines, ["models", "evaluations", "verdicts", "decisions", "reports"]):
        source, arrow, target = line.removeprefix("moved ").partition(" -> ")
        assert line.startswith("moved ") and arrow
        assert source.startswith(str(ws.data / stage / "digits" / "logreg" / "2026-01-01") + "/")
        assert target == str(trash / Path(source).relative_to(ws.data))

    again = ws.main("invalidate", "TrainModel", "--date", "2026-01-01")
    assert (again.returncode, again.stdout) == (
        0, "nothing to invalidate: no committed output of TrainModel or after it for 2026-01-01\n")


def test_cli_refuses_a_date_that_is_not_a_date(deployed):
    ws = deployed()
    proc = ws.main("invalidate", "TrainModel", "--date", "yesterday")
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr == "error: --date 'yesterday' is not a date (YYYY-MM-DD)\n"
    assert not (ws.data / "trash").exists()
