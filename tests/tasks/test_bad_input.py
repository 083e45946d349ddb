"""Bad input of every kind: one clear error line, a non-zero exit, and nothing lost.

Each case takes a copy of a workspace where the `customers` dataset is deployed (production
v0001), breaks one thing, runs the pipeline for the next day through Luigi's own entry point
(its exit codes), and checks the exit code, the one line that names what is wrong, and that
the registry and every earlier artifact are byte for byte what they were.
"""
import numpy as np
import pytest
from conftest import DAY2, Workspace
from samples import customers

pytestmark = pytest.mark.e2e

SCHEDULING_ERROR, MISSING_DATA, TASK_FAILED = 35, 20, 30


@pytest.fixture
def shop(deployed) -> Workspace:
    """A copy of the deployed workspace whose source file the test may break."""
    return deployed("customers")


def files(ws: Workspace) -> dict:
    """Every artifact's bytes (not runs/durations.jsonl: a log that grows with every task run)."""
    return {str(p.relative_to(ws.data)): p.read_bytes() for p in ws.data.rglob("*")
            if p.is_file() and p.parts[len(ws.data.parts)] != "runs"}


def write_csv(text: str):
    return lambda ws: (ws.root / "customers.csv").write_text(text)


def write_frame(change):
    """Write customers() after `change(frame)` (which edits in place or returns a new frame)."""
    def write(ws):
        frame = customers()
        changed = change(frame)
        frame = frame if changed is None else changed
        frame.to_csv(ws.root / "customers.csv", index=False)
    return write


def truncated_parquet(ws):
    path = ws.root / "customers.parquet"
    customers().to_parquet(path, index=False)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    ws.replace_config('customers.csv"', 'customers.parquet"')


def latin1(ws):
    text = customers().to_csv(index=False).replace("north", "Zürich", 1)
    (ws.root / "customers.csv").write_bytes(text.encode("latin-1"))


HEADER = "plan,region,tenure,monthly_spend,churned\n"

# id: (break it, extra luigi args, exit code, the line that must appear)
CASES = {
    "empty file": (write_csv(""), (), TASK_FAILED, "customers.csv: the file is empty"),
    "header without rows": (write_csv(HEADER), (), TASK_FAILED, "customers.csv: has a header but no data rows"),
    "wrong delimiter": (lambda ws: (ws.root / "customers.csv").write_text(customers().to_csv(index=False, sep=";")),
                        (), TASK_FAILED, "the file looks ';'-delimited; set sep = \";\" for this dataset"),
    "no target column": (write_frame(lambda f: f.drop(columns=["churned"])), (), TASK_FAILED,
                         "dataset 'customers': column 'churned': target_present: target column not found"),
    "all-null column": (write_frame(lambda f: f.__setitem__("monthly_spend", np.nan)), (), TASK_FAILED,
                        "column 'monthly_spend': not_all_null: every value is missing"),
    "single-class target": (write_frame(lambda f: f.__setitem__("churned", "no")), (), TASK_FAILED,
                            "column 'churned': min_classes: 1 class(es); classification needs at least 2"),
    "text in a numeric column": (write_frame(lambda f: f.__setitem__("tenure", f["tenure"].astype(object).where(
        f.index != 7, "twelve"))), (), TASK_FAILED, "column 'tenure': numeric_text: 1 of "),
    "bytes that are not UTF-8": (latin1, (), TASK_FAILED, "column(s) region are not valid UTF-8 text"),
    "infinite value": (write_frame(lambda f: f.__setitem__("monthly_spend", f["monthly_spend"].where(
        f.index != 3, np.inf))), (), TASK_FAILED, "column 'monthly_spend': finite: 1 infinite value(s)"),
    "absurdly large value": (write_frame(lambda f: f.__setitem__("monthly_spend", f["monthly_spend"].where(
        f.index != 3, 1e300))), (), TASK_FAILED, "column 'monthly_spend': finite: 1 value(s) beyond ±1e+150"),
    "duplicate column names": (write_csv(HEADER.replace("region", "plan") + "basic,pro,3,4.5,no\n" * 5), (),
                               TASK_FAILED, "customers.csv: duplicate column name(s): plan"),
    "truncated parquet": (truncated_parquet, (), TASK_FAILED, "customers.parquet: cannot be read:"),
    "source file missing": (lambda ws: (ws.root / "customers.csv").unlink(), (), MISSING_DATA,
                            "customers.csv does not exist (yet?)"),
    "unknown dataset": (lambda ws: None, ("--dataset", "shop"), SCHEDULING_ERROR,
                        "no dataset named 'shop' (known: breast_cancer, customers, diabetes, digits, iris, wine)"),
    "unknown model": (lambda ws: None, ("--model", "xgb"), SCHEDULING_ERROR, "no model named 'xgb'"),
    "misspelled config key": (lambda ws: ws.replace_config('target = "churned"', 'tagret = "churned"'), (),
                              SCHEDULING_ERROR, "pipeline.toml: datasets.customers.tagret: unknown key (known:"),
    "config value of the wrong type": (lambda ws: ws.replace_config("min_rows = 100,", 'min_rows = "100",'), (),
                                       SCHEDULING_ERROR, "datasets.customers.checks.min_rows"),
    "estimator class that does not exist": (lambda ws: ws.replace_config(
        '"sklearn.linear_model.LogisticRegression"', '"sklearn.linear_model.LogisticRegresion"'), (),
        SCHEDULING_ERROR, "module 'sklearn.linear_model' has no 'LogisticRegresion'"),
    "params the estimator rejects": (lambda ws: ws.replace_config("C = 1.0 }", "C = -1.0 }"), (),
                                     TASK_FAILED, "'C' parameter"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_fails_in_one_line_and_loses_nothing(shop, case):
    spoil, args, code, line = CASES[case]
    spoil(shop)
    before = files(shop)

    run = shop.run("TrainValidateDeploy", "--dataset", "customers", *args, DAY2)

    assert run.returncode == code, run.output
    headline = run.headlines()
    assert len(headline) == 1 and line in headline[0], run.output
    after = files(shop)
    assert {name: after.get(name) for name in before} == before  # nothing earlier changed or vanished
    assert not [name for name in after if name.startswith("registry/") and name not in before]
    assert shop.production("customers") == "v0001"


def test_url_that_answers_404_fails_at_once(shop, http_files):
    base_url, _ = http_files
    shop.replace_config(str(shop.root / "customers.csv"), f"{base_url}/exports/customers.csv")
    before = files(shop)
    run = shop.run("TrainValidateDeploy", "--dataset", "customers", DAY2)
    assert run.returncode == TASK_FAILED, run.output
    assert f"{base_url}/exports/customers.csv: HTTP 404 Not Found" in run.output
    assert "retrying" not in run.output
    assert files(shop) == before
