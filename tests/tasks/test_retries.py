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


def test_source_that_fails_twice_then_serves_is_fetched_with_backoff(workspace, http_server):
    with http_server(flaky(customers().to_csv(index=False).encode(), failures=2)) as (base_url, requests):
        workspace.add_config(CUSTOMERS_BLOCK.format(path=f"{base_url}/customers.csv"))
        run = workspace.run("TrainValidateDeploy", "--dataset", "customers")
    assert run.returncode == 0, run.output
    assert len(requests) == 3
    assert "HTTP 503 Service Unavailable; retrying in 1.0s (attempt 2 of 4)" in run.output
    assert "retrying in 2.0s (attempt 3 of 4)" in run.output
    assert workspace.production("customers") == "v0001"


def test_luigi_retries_the_task_when_the_outage_outlasts_the_backoff(workspace, http_server):
    # keep_alive lets the worker wait for the scheduler's retry within the run
    workspace.add_cfg("[worker]\nkeep_alive = true\nwait_interval = 0.2\n"
                      "[scheduler]\nretry_delay = 1\nretry_count = 3\n")
    with http_server(flaky(customers().to_csv(index=False).encode(), failures=4)) as (base_url, requests):
        workspace.add_config(CUSTOMERS_BLOCK.format(path=f"{base_url}/customers.csv"))
        run = workspace.run("TrainValidateDeploy", "--dataset", "customers")
    assert run.returncode == 0, run.output
    assert len(requests) == 5  # four by the first attempt's backoff, one by Luigi's retry
    assert run.output.count("FAILED IngestData(dataset=customers") == 1
    assert "failed after 4 attempts: HTTP 503 Service Unavailable" in run.output
    assert workspace.production("customers") == "v0001"
