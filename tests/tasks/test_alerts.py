"""Alerts, received for real: Luigi's failure e-mail through a local SMTP server, and the webhook.

Also the smoke test after promotion, whose rollback is one of the alerts, and the rule that
secrets (SMTP password, webhook URL) appear in no log, artifact or alert. Luigi's e-mail and the
luigid link go through the real `luigi` command; the webhook runs go through Luigi's own entry
point in-process.
"""
import email
import json
import socket
import subprocess
import time

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from conftest import DAY1, DAY2, free_port, tool

pytestmark = pytest.mark.e2e

SMTP_PASSWORD = "pw-Secret-4711"
BAD_PARAMS = ("params = { max_iter = 2000, C = 1.0 }", "params = { max_iter = 2000, C = -1.0 }")


class Inbox:
    def __init__(self):
        self.messages: list[email.message.Message] = []
        self.logins: list[tuple[str, str]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        self.logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=auth_data.password.decode() == SMTP_PASSWORD)


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    inbox.port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port, authenticator=inbox.authenticate,
                            auth_require_tls=False)
    controller.start()
    yield inbox
    controller.stop()


def secrets_nowhere(workspace, run_output: str, *secrets: str):
    texts = [run_output] + [p.read_bytes().decode("utf-8", "replace") for p in workspace.data.rglob("*") if p.is_file()]
    for secret in secrets:
        assert not [t for t in texts if secret in t], f"{secret!r} leaked"


def test_failed_task_sends_luigis_email_with_the_password_from_the_environment(workspace, smtp_server, monkeypatch):
    monkeypatch.setenv("PIPELINE_SMTP_PASSWORD", SMTP_PASSWORD)
    workspace.add_cfg(f"[email]\nreceiver = oncall@example.com\n\n"
                      f"[smtp]\nhost = 127.0.0.1\nport = {smtp_server.port}\nusername = pipeline\n")
    workspace.replace_config(*BAD_PARAMS)
    run = workspace.luigi("TrainValidateDeploy", DAY1)
    assert run.returncode == 30, run.output

    assert smtp_server.logins == [("pipeline", SMTP_PASSWORD)]
    [message] = smtp_server.messages
    assert message["To"] == "oncall@example.com"
    assert message["Subject"].startswith("[luigi-ml-pipeline] Luigi: TrainModel(dataset=digits")
    assert "FAILED" in message["Subject"]
    body = "".join(part.get_payload(decode=True).decode() for part in message.walk() if not part.is_multipart())
    assert "'C' parameter of LogisticRegression must be a float in the range (0.0, inf]" in body
    assert SMTP_PASSWORD not in body
    secrets_nowhere(workspace, run.output, SMTP_PASSWORD)

    # a cron line without the variable: the mail goes out without logging in, the exit code stays 30
    monkeypatch.delenv("PIPELINE_SMTP_PASSWORD")
    again = workspace.luigi("TrainValidateDeploy", DAY2)
    assert again.returncode == 30, again.output
    assert len(smtp_server.messages) == 2 and len(smtp_server.logins) == 1


def test_webhook_hears_promotion_rejection_failure_and_rollback(workspace, webhook):
    assert workspace.run("TrainValidateDeploy", DAY1).returncode == 0
    [promoted] = webhook.posts
    assert promoted["path"] == "/services/T0KEN/SECRET-hook"
    assert (promoted["event"], promoted["dataset"], promoted["model"], promoted["version"], promoted["previous"]) \
        == ("promoted", "digits", "logreg", "v0001", None)
    assert promoted["text"].startswith("[luigi-ml-pipeline] promoted: digits/logreg v0001 is in production")
    assert promoted["luigid_link"] is None  # --local-scheduler: no visualizer to link to

    workspace.replace_config("accuracy = { min = 0.95 }", "accuracy = { min = 0.5 }")
    workspace.replace_config("C = 1.0 }", "C = 0.0001 }")
    assert workspace.run("TrainValidateDeploy", DAY2).returncode == 0
    rejected = webhook.posts[-1]
    assert (rejected["event"], rejected["version"], rejected["previous"]) == ("rejected", "v0002", "v0001")
    assert any("vs production v0001" in reason for reason in rejected["reasons"])

    workspace.replace_config("C = 0.0001 }", "C = -1.0 }")
    run = workspace.run("TrainValidateDeploy", DAY2)
    assert run.returncode == 30
    failed = webhook.posts[-1]
    assert (failed["event"], failed["dataset"], failed["model"], failed["date"]) == \
        ("task_failed", "digits", "logreg", "2026-01-02")
    assert failed["task_id"].startswith("TrainModel_digits_2026_01_02_")
    assert "'C' parameter" in failed["reasons"][0]

    workspace.replace_config("C = -1.0 }", "C = 0.5 }")
    assert workspace.run("TrainValidateDeploy", DAY2).returncode == 0
    assert webhook.posts[-1]["event"] == "promoted" and workspace.production() == "v0003"
    proc = workspace.main("registry", "rollback", "--reason", "complaints from the field")
    assert proc.returncode == 0, proc.stderr
    rolled = webhook.posts[-1]
    assert (rolled["event"], rolled["version"], rolled["previous"]) == ("rolled_back", "v0001", "v0003")
    assert rolled["reasons"] == ["complaints from the field"]
    assert webhook.events() == ["promoted", "rejected", "task_failed", "promoted", "rolled_back"]
    assert failed["version"] is None

    workspace.replace_config('target = "target"', 'tagret = "target"')
    assert workspace.run("TrainValidateDeploy", DAY2).returncode == 35
    unschedulable = webhook.posts[-1]
    assert unschedulable["event"] == "scheduling_failed" and "tagret: unknown key" in unschedulable["reasons"][0]
    secrets_nowhere(workspace, run.output + proc.stdout + proc.stderr, "T0KEN", "SECRET-hook")


def test_undeliverable_alerts_are_logged_and_never_fail_the_run(workspace, webhook, monkeypatch):
    webhook.status = 500
    run = workspace.run("TrainValidateDeploy", DAY1)
    assert run.returncode == 0, run.output
    assert "alert 'promoted' not delivered to the webhook: HTTP 500 Internal Server Error" in run.output

    dead = f"http://127.0.0.1:{free_port()}/services/T0KEN/SECRET-hook"
    monkeypatch.setenv("PIPELINE_WEBHOOK_URL", dead)
    workspace.replace_config("C = 1.0 }", "C = 0.5 }")
    run = workspace.run("TrainValidateDeploy", DAY2)
    assert run.returncode == 0, run.output
    assert "not delivered to the webhook" in run.output and "Connection refused" in run.output
    assert "T0KEN" not in run.output

    monkeypatch.setenv("PIPELINE_WEBHOOK_URL", "hooks.example.com/services/T0KEN/SECRET-hook")  # no scheme
    workspace.replace_config("C = 0.5 }", "C = 0.7 }")
    run = workspace.run("TrainValidateDeploy", DAY2)
    assert run.returncode == 0, run.output
    assert ("alert 'promoted' not delivered to the webhook: the URL (PIPELINE_WEBHOOK_URL or [alerts] webhook_url) "
            "is not an http:// or https:// URL") in run.output
    assert "T0KEN" not in run.output


DUMMY = """
[models.dummy]
estimator = "samples.NoisyClassifier"
params = { noise = 0.0 }

[gates."digits.dummy"]
accuracy = { min = 0.0 }
tolerance = 1.0
"""


def test_a_model_that_fails_its_smoke_test_is_rolled_back_and_alerted(workspace, webhook):
    workspace.add_config(DUMMY)
    assert workspace.run("TrainValidateDeploy", "--model", "dummy", DAY1).returncode == 0
    assert workspace.production("digits", "dummy") == "v0001"

    # now a tenth of its answers are random, differently on every call: not what was evaluated
    workspace.replace_config("noise = 0.0", "noise = 0.1")
    run = workspace.run("TrainValidateDeploy", "--model", "dummy", DAY2)
    assert run.returncode == 30, run.output
    assert "v0002 failed its smoke test after promotion" in run.output
    assert "held-out predictions differ from the candidate's evaluation" in run.output
    assert "production rolled back to v0001" in run.output
    assert workspace.production("digits", "dummy") == "v0001"
    history = workspace.history("digits", "dummy")
    assert [(e["event"], e["version"]) for e in history[-2:]] == [("promoted", "v0002"), ("rolled_back", "v0001")]
    assert history[-1]["cause"] == "smoke_test" and history[-1]["reason"].startswith("smoke test failed:")
    assert webhook.events()[-2:] == ["rolled_back", "task_failed"]
    assert webhook.posts[-2]["previous"] == "v0002"

    again = workspace.run("TrainValidateDeploy", "--model", "dummy", DAY2)
    assert again.returncode == 30
    assert "v0002 failed its smoke test before" in again.output
    assert workspace.history("digits", "dummy") == history  # no promote/rollback churn
    statuses = {r["version"]: r["status"] for r in workspace.registry_list()}
    assert statuses == {"v0001": "production", "v0002": "smoke_failed"}


def test_alert_links_to_the_task_in_luigid_when_a_central_scheduler_runs(workspace, webhook, tmp_path):
    port = free_port()
    luigid = subprocess.Popen([tool("luigid"), "--address", "127.0.0.1", "--port", str(port),
                               "--state-path", str(tmp_path / "state.pickle"), "--logdir", str(tmp_path)],
                              cwd=tmp_path, env=workspace.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.time() < deadline, "luigid did not start"
                time.sleep(0.1)
        workspace.replace_config(*BAD_PARAMS)
        run = workspace.luigi("TrainValidateDeploy", DAY1, "--scheduler-host", "127.0.0.1",
                              "--scheduler-port", str(port), local=False)
        assert run.returncode == 30, run.output
    finally:
        luigid.terminate()
        luigid.wait(timeout=10)
    failed = webhook.posts[-1]
    assert failed["event"] == "task_failed"
    assert failed["luigid_link"] == (f"http://127.0.0.1:{port}/static/visualiser/index.html"
                                     f"#tab=graph&taskId={failed['task_id']}")
    json.dumps(failed)  # the payload is plain JSON
