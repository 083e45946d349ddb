"""Alerts on the webhook, the visualizer link in them, and the SMTP password reference for Luigi's e-mail."""
import datetime as dt
import logging

import luigi.configuration
import pytest
from conftest import PROXY_VARIABLES, free_port

from pipeline import notify

HOOK_PATH = "/services/T0KEN/SECRET-hook"  # the Webhook fixture's path: its token is the secret


@pytest.fixture
def no_webhook_env(monkeypatch):
    monkeypatch.delenv(notify.WEBHOOK_ENV, raising=False)
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def set_luigi_config(section: str, **options: str):
    """Set keys in Luigi's config of this process (inside `workspace.configured()`)."""
    config = luigi.configuration.get_config()
    if not config.has_section(section):
        config.add_section(section)
    for option, value in options.items():
        config.set(section, option, value)


def undelivered(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "pipeline" and r.levelno == logging.WARNING
            and "not delivered to the webhook" in r.getMessage()]


# ---------------------------------------------------------------- send

def test_without_a_webhook_url_nothing_is_sent(workspace, webhook, monkeypatch):
    monkeypatch.delenv(notify.WEBHOOK_ENV)
    with workspace.configured():
        assert notify.send("promoted", "digits/logreg v0002 is in production") is False
    assert webhook.posts == []


def test_send_posts_slack_compatible_json_with_the_text_and_the_fields(workspace, webhook):
    with workspace.configured():
        assert notify.send("rejected", "v0002 rejected", dataset="digits", version="v0002",
                           reasons=["accuracy 0.50 < 0.95"]) is True
    assert webhook.posts == [{"path": HOOK_PATH, "text": "[luigi-ml-pipeline] rejected: v0002 rejected",
                              "event": "rejected", "dataset": "digits", "version": "v0002",
                              "reasons": ["accuracy 0.50 < 0.95"]}]


def test_a_webhook_answering_500_is_logged_without_the_url_and_does_not_raise(workspace, webhook, caplog):
    webhook.status = 500
    with workspace.configured(), caplog.at_level(logging.WARNING, logger="pipeline"):
        assert notify.send("promoted", "v0002 is in production") is False
    assert len(webhook.posts) == 1  # it was tried once
    assert undelivered(caplog) == ["alert 'promoted' not delivered to the webhook: HTTP 500 "
                                   "Internal Server Error"]
    assert "SECRET-hook" not in caplog.text and "T0KEN" not in caplog.text


@pytest.mark.parametrize("url", [f"http://127.0.0.1:{free_port()}{HOOK_PATH}",  # nothing listens
                                 f"hooks.example.com{HOOK_PATH}",  # no scheme
                                 f"http://127.0.0.1:{free_port()}/services/T0KEN/SECRET-hook x"],  # quoted path alone
                         ids=["connection-refused", "no-scheme", "a-space-in-the-path"])
def test_an_unreachable_or_malformed_url_is_logged_without_the_url(workspace, no_webhook_env, monkeypatch,
                                                                  caplog, url):
    monkeypatch.setenv(notify.WEBHOOK_ENV, url)
    with workspace.configured(), caplog.at_level(logging.WARNING, logger="pipeline"):
        assert notify.send("task_failed", "TrainModel failed") is False
    [line] = undelivered(caplog)
    assert line.startswith("alert 'task_failed' not delivered to the webhook: ")
    assert "SECRET-hook" not in caplog.text and "T0KEN" not in caplog.text


def test_the_url_from_luigi_config_is_used_when_the_variable_is_absent(workspace, webhook, monkeypatch):
    monkeypatch.delenv(notify.WEBHOOK_ENV)
    workspace.add_cfg(f"[alerts]\nwebhook_url = {webhook.url}\n")
    with workspace.configured():
        assert notify.send("promoted", "v0002 is in production") is True
    assert [post["path"] for post in webhook.posts] == [HOOK_PATH]


def test_the_environment_variable_wins_over_luigi_config(workspace, webhook):
    from_config = webhook.url.replace(HOOK_PATH, "/from-config")
    workspace.add_cfg(f"[alerts]\nwebhook_url = {from_config}\n")
    with workspace.configured():
        assert notify.send("promoted", "v0002 is in production") is True
    assert [post["path"] for post in webhook.posts] == [HOOK_PATH]


# ---------------------------------------------------------------- registry_event

@pytest.mark.parametrize("event, version, previous, text", [
    ("promoted", "v0002", "v0001", "ds/m v0002 is in production (was v0001): accuracy 0.99 >= 0.95"),
    ("rejected", "v0002", "v0001", "ds/m v0002 rejected; production stays v0001: accuracy 0.99 >= 0.95"),
    ("rolled_back", "v0001", "v0002", "ds/m production rolled back from v0002 to v0001: accuracy 0.99 >= 0.95"),
])
def test_registry_events_say_what_changed_in_production(workspace, webhook, registry, event, version, previous,
                                                        text):
    with workspace.configured():
        assert notify.registry_event(registry, event, version, previous=previous,
                                     reasons=["accuracy 0.99 >= 0.95"]) is True
    assert webhook.posts == [{"path": HOOK_PATH, "text": f"[luigi-ml-pipeline] {event}: {text}", "event": event,
                              "dataset": "ds", "model": "m", "version": version, "previous": previous,
                              "reasons": ["accuracy 0.99 >= 0.95"]}]


def test_a_registry_event_without_reasons_ends_with_the_summary(workspace, webhook, registry):
    with workspace.configured():
        notify.registry_event(registry, "promoted", "v0001", previous=None)
    [post] = webhook.posts
    assert post["text"] == "[luigi-ml-pipeline] promoted: ds/m v0001 is in production (was None)"
    assert post["reasons"] == [] and "luigid_link" not in post and "task_id" not in post


def test_a_registry_event_from_a_task_links_to_luigid_and_not_under_local_scheduler(workspace, webhook, registry):
    with workspace.configured():
        set_luigi_config("core", scheduler_host="luigid.internal", scheduler_port="9000")
        notify.registry_event(registry, "promoted", "v0002", previous="v0001", task_id="DeployModel_x_1")
        set_luigi_config("core", local_scheduler="true")
        notify.registry_event(registry, "promoted", "v0002", previous="v0001", task_id="DeployModel_x_1")
    central, local = webhook.posts
    assert central["task_id"] == local["task_id"] == "DeployModel_x_1"
    assert central["luigid_link"] == ("http://luigid.internal:9000/static/visualiser/index.html"
                                      "#tab=graph&taskId=DeployModel_x_1")
    assert local["luigid_link"] is None


# ---------------------------------------------------------------- task_link

def test_task_link_points_at_the_configured_scheduler_host_and_port(workspace):
    with workspace.configured():
        set_luigi_config("core", scheduler_host="luigid.internal", scheduler_port="9000")
        link = notify.task_link("TrainModel_2026_01_01_digits_logreg_0123abcd")
    assert link == ("http://luigid.internal:9000/static/visualiser/index.html"
                    "#tab=graph&taskId=TrainModel_2026_01_01_digits_logreg_0123abcd")


def test_task_link_prefers_scheduler_url_and_quotes_the_task_id(workspace):
    with workspace.configured():
        set_luigi_config("core", scheduler_url="https://luigid.example.com/", scheduler_host="ignored")
        link = notify.task_link("Task a&b")
    assert link == "https://luigid.example.com/static/visualiser/index.html#tab=graph&taskId=Task%20a%26b"


def test_task_link_is_none_under_local_scheduler(workspace):
    with workspace.configured():
        set_luigi_config("core", local_scheduler="true", scheduler_host="luigid.internal")
        assert notify.task_link("TrainModel_x") is None


# ---------------------------------------------------------------- task_failed

@pytest.mark.parametrize("event, verb", [("task_failed", "failed"), ("scheduling_failed", "could not be scheduled")])
def test_task_failed_names_the_task_its_run_and_the_exception(workspace, webhook, event, verb):
    from pipeline.tasks import TrainModel

    with workspace.configured():
        set_luigi_config("core", scheduler_host="luigid.internal", scheduler_port="9000")
        task = TrainModel(dataset="digits", model="logreg", date=dt.date(2026, 1, 1))
        assert notify.task_failed(task, ValueError("C must be positive"), event=event) is True
    [post] = webhook.posts
    assert post["event"] == event
    assert post["text"] == f"[luigi-ml-pipeline] {event}: {task} {verb}: C must be positive"
    assert post["reasons"] == ["ValueError: C must be positive"]
    assert (post["dataset"], post["model"], post["date"], post["version"]) == ("digits", "logreg", "2026-01-01", None)
    assert post["task_id"] == task.task_id
    assert post["luigid_link"] == ("http://luigid.internal:9000/static/visualiser/index.html"
                                   f"#tab=graph&taskId={task.task_id}")


def test_task_failed_of_a_task_without_a_model_sends_model_null(workspace, webhook):
    from pipeline.tasks import IngestData

    with workspace.configured():
        set_luigi_config("core", local_scheduler="true")
        task = IngestData(dataset="digits", date=dt.date(2026, 1, 2))
        notify.task_failed(task, OSError("source unreachable"))
    [post] = webhook.posts
    assert (post["dataset"], post["model"], post["date"]) == ("digits", None, "2026-01-02")
    assert post["reasons"] == ["OSError: source unreachable"] and post["luigid_link"] is None


def test_task_failed_never_raises_when_the_webhook_is_down(workspace, webhook, caplog):
    from pipeline.tasks import TrainModel

    webhook.status = 503
    with workspace.configured(), caplog.at_level(logging.WARNING, logger="pipeline"):
        task = TrainModel(dataset="digits", model="logreg", date=dt.date(2026, 1, 1))
        assert notify.task_failed(task, RuntimeError("boom")) is False
    assert len(undelivered(caplog)) == 1 and "SECRET-hook" not in caplog.text


# ---------------------------------------------------------------- the SMTP password

def test_the_smtp_password_is_the_reference_never_the_value(workspace, monkeypatch):
    password = "pw-%Secret-$4711"  # characters that would be config syntax if written into the file
    monkeypatch.setenv(notify.SMTP_PASSWORD_ENV, password)
    with workspace.configured():
        notify.use_smtp_password_from_environment()
        config = luigi.configuration.get_config()
        assert config.get("smtp", "password", raw=True) == "${PIPELINE_SMTP_PASSWORD}"
        assert password not in {value for _, value in config.items("smtp", raw=True)}
        assert config.get("smtp", "password") == password  # what Luigi's mailer reads


@pytest.mark.parametrize("value", [None, ""], ids=["unset", "empty"])
def test_without_the_variable_no_smtp_password_is_set(workspace, monkeypatch, value):
    if value is None:
        monkeypatch.delenv(notify.SMTP_PASSWORD_ENV, raising=False)
    else:
        monkeypatch.setenv(notify.SMTP_PASSWORD_ENV, value)
    with workspace.configured():
        notify.use_smtp_password_from_environment()
        config = luigi.configuration.get_config()
        assert config.get("smtp", "host") == "localhost"  # the section is there, from luigi.cfg
        assert not config.has_option("smtp", "password")


SECRET_PARTS = ("secret-host", "T0KEN", "SECRET-hook", "Q1ZZ")


@pytest.mark.parametrize("url", [
    "https://hooks.secret-host.example/services/T0KEN/SECRET-hook x?key=Q1ZZ",  # a stray space
    "https://hooks.secret-host.example/services/T0KEN/SECRET-hook?key=Q1ZZ\r",  # a CR from a Windows editor
    "https://hooks.secret-host.example/services/T0KEN\r\nX-Injected: 1/SECRET-hook?key=Q1ZZ",
    " https://hooks.secret-host.example/services/T0KEN/SECRET-hook?key=Q1ZZ",
    "hooks.secret-host.example/services/T0KEN/SECRET-hook?key=Q1ZZ",  # no scheme
    "ftp://hooks.secret-host.example/services/T0KEN/SECRET-hook?key=Q1ZZ",  # a scheme urllib would follow
    "file:///hooks.secret-host.example/services/T0KEN/SECRET-hook?key=Q1ZZ",
    f"http://127.0.0.1:{free_port()}/services/T0KEN/SECRET-hook?key=Q1ZZ",  # refused connection
    "http://hooks.secret-host.example.invalid/services/T0KEN/SECRET-hook?key=Q1ZZ",  # no such host
], ids=["space", "cr", "crlf-header", "leading-space", "no-scheme", "ftp", "file", "refused", "unknown-host"])
def test_no_part_of_the_webhook_url_is_ever_logged(workspace, no_webhook_env, monkeypatch, caplog, url):
    monkeypatch.setenv(notify.WEBHOOK_ENV, url)
    with workspace.configured(), caplog.at_level(logging.DEBUG):
        assert notify.send("promoted", "digits/logreg v0002 is in production") is False
    [line] = undelivered(caplog)
    assert line.startswith("alert 'promoted' not delivered to the webhook: ")
    assert not [part for part in SECRET_PARTS if part in caplog.text], caplog.text
