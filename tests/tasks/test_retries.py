"""Transient failures are retried; permanent ones end the run at once (see luigi.cfg [worker])."""
import pytest
from samples import CUSTOMERS_BLOCK, customers

pytestmark = pytest.mark.e2e


def flaky(body: bytes, failures: int):
    """A responder that answers 503 `failures` times, then serves `body`."""
    calls = []

    def respond(path):
        calls.append(path)
        return (503, b"busy") if len(calls) <= failures else (200, body)
    return respond


def test_a_source_that_answers_503_twice_is_retried_in_the_run_with_backoff(workspace, http_server):
    workspace.add_cfg("[pipeline]\ntransient_backoff = 0.2\n")  # 0.2 s, then 0.4 s (1 s, 2 s by default)
    with http_server(flaky(customers().to_csv(index=False).encode(), failures=2)) as (base_url, requests):
        workspace.add_config(CUSTOMERS_BLOCK.format(path=f"{base_url}/customers.csv"))
        run = workspace.run("TrainValidateDeploy", "--dataset", "customers", "--date=2026-01-01")
    assert run.returncode == 0, run.output
    assert len(requests) == 3
    retries = [line.partition(" pipeline: ")[2] for line in run.output.splitlines() if " RETRY " in f" {line}"]
    assert retries == [
        f"RETRY IngestData(dataset=customers, date=2026-01-01) in 0.2 s (attempt 2 of 4): {base_url}/customers.csv: "
        "HTTP 503 Service Unavailable",
        f"RETRY IngestData(dataset=customers, date=2026-01-01) in 0.4 s (attempt 3 of 4): {base_url}/customers.csv: "
        "HTTP 503 Service Unavailable"]
    assert "FAILED" not in run.output and workspace.production("customers") == "v0001"


def test_bad_data_is_not_retried(workspace):
    (workspace.root / "bad.csv").write_text("a,b\n1,2\n3,4\n")
    workspace.add_config(f'[datasets.bad]\nsource = "{workspace.root / "bad.csv"}"\ntarget = "y"\n'
                         'problem = "classification"\n')
    run = workspace.run("TrainValidateDeploy", "--dataset", "bad")
    assert run.returncode == 30 and "RETRY" not in run.output
    assert run.output.count("FAILED ValidateData(dataset=bad") == 1


def test_luigi_retries_the_task_when_the_outage_outlasts_the_backoff(workspace, http_server):
    # keep_alive lets the worker wait for the scheduler's retry within the run
    workspace.add_cfg("[worker]\nkeep_alive = true\nwait_interval = 0.2\n"
                      "[scheduler]\nretry_delay = 1\nretry_count = 3\n[pipeline]\ntransient_backoff = 0.1\n")
    with http_server(flaky(customers().to_csv(index=False).encode(), failures=4)) as (base_url, requests):
        workspace.add_config(CUSTOMERS_BLOCK.format(path=f"{base_url}/customers.csv"))
        run = workspace.run("TrainValidateDeploy", "--dataset", "customers")
    assert run.returncode == 0, run.output
    assert len(requests) == 5  # four by the in-run retries, one by Luigi's retry
    assert run.output.count("FAILED IngestData(dataset=customers") == 1
    assert "HTTP 503 Service Unavailable (gave up after 4 attempts)" in run.output
    assert workspace.production("customers") == "v0001"
