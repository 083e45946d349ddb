"""Alerts. Two channels, both off until configured:

- Luigi's own failure e-mail: `[email] receiver` and `[smtp]` in luigi.cfg; the SMTP password
  comes from the PIPELINE_SMTP_PASSWORD environment variable, never from a file. Luigi sends it.
- A webhook: a Slack-compatible JSON POST ({"text": ...} plus the fields below) on a task
  failure, a rejected candidate, a promotion and a rollback, and (also by e-mail) on a late
  task or run and a stale deployment (`ml-pipeline check`). The URL comes from the
  PIPELINE_WEBHOOK_URL environment variable, else from `[alerts] webhook_url`.

An alert that cannot be delivered is logged and never fails the pipeline, and the URL (a
secret: it carries the token) never appears in a log line or a payload.
"""
from __future__ import annotations

import http
import json
import logging
import os
import socket
import urllib.error
import urllib.parse
import urllib.request

import luigi
import luigi.configuration

logger = logging.getLogger("pipeline")

WEBHOOK_ENV = "PIPELINE_WEBHOOK_URL"
SMTP_PASSWORD_ENV = "PIPELINE_SMTP_PASSWORD"


class alerts(luigi.Config):  # noqa: N801 - luigi names config classes after their section
    webhook_url = luigi.Parameter(default="", description=f"where to POST alerts ({WEBHOOK_ENV} wins)")
    timeout = luigi.FloatParameter(default=5.0, description="seconds to wait for the webhook")


def webhook_url() -> str:
    return os.environ.get(WEBHOOK_ENV) or alerts().webhook_url


def task_link(task_id: str) -> str | None:
    """The task's page in the luigid visualizer, when this run uses a central scheduler."""
    from luigi.interface import core

    config = core()
    if config.local_scheduler:
        return None
    base = config.scheduler_url or f"http://{config.scheduler_host}:{config.scheduler_port}"
    return f"{base.rstrip('/')}/static/visualiser/index.html#tab=graph&taskId={urllib.parse.quote(task_id)}"


def send(event: str, text: str, **fields) -> bool:
    """POST one alert; True if the webhook took it. Never raises.

    The URL is a secret, and error messages quote it, or parts of it, in forms no redaction can
    foresee; so what is logged when an alert is not delivered is only a reason built here.
    """
    url = webhook_url()
    if not url:
        return False
    problem = _unusable(url)
    if problem is None:
        payload = {"text": f"[luigi-ml-pipeline] {event}: {text}", "event": event, **fields}
        try:
            request = urllib.request.Request(url, data=json.dumps(payload, default=str).encode(), method="POST",
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=alerts().timeout) as response:
                response.read()
            return True
        except Exception as exc:  # noqa: BLE001 - an alert must never fail the run
            problem = _reason(exc)
    logger.warning("alert %r not delivered to the webhook: %s", event, problem)
    return False


def _unusable(url: str) -> str | None:
    """What makes a webhook URL unusable, without quoting any of it."""
    where = f"{WEBHOOK_ENV} or [alerts] webhook_url"
    if any(char.isspace() or not char.isprintable() for char in url):
        return f"the URL ({where}) contains white space or a control character"
    if urllib.parse.urlsplit(url).scheme not in ("http", "https") or not urllib.parse.urlsplit(url).netloc:
        return f"the URL ({where}) is not an http:// or https:// URL"
    return None


def _reason(exc: Exception) -> str:
    """Why a POST failed, in words that cannot contain the URL."""
    if isinstance(exc, urllib.error.HTTPError):
        try:
            return f"HTTP {exc.code} {http.HTTPStatus(exc.code).phrase}"
        except ValueError:
            return f"HTTP {exc.code}"
    cause = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(cause, TimeoutError | socket.timeout):
        return "no answer (timed out)"
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror  # "Connection refused", "Name or service not known", ...
    return type(cause).__name__


def registry_event(registry, event: str, version: str | None, *, previous: str | None = None,
                   reasons: list[str] = (), task_id: str | None = None) -> bool:
    """Alert a promotion, rejection or rollback in a registry."""
    fields = {"dataset": registry.dataset, "model": registry.model, "version": version,
              "previous": previous, "reasons": list(reasons)}
    if task_id:
        fields |= {"task_id": task_id, "luigid_link": task_link(task_id)}
    summary = {"promoted": f"{version} is in production (was {previous})",
               "rejected": f"{version} rejected; production stays {previous}",
               "rolled_back": f"production rolled back from {previous} to {version}"}[event]
    reasons_text = "; ".join(reasons)
    return send(event, f"{registry.dataset}/{registry.model} {summary}" + (f": {reasons_text}" if reasons_text else ""),
                **fields)


def production_unusable(registry, version: str, problem: Exception) -> bool:
    """Alert a production model that cannot be loaded: candidates are gated on their floors until it is replaced."""
    return send("production_unusable", f"{registry.dataset}/{registry.model} production {version} cannot be loaded; "
                f"new candidates are gated on their floors and baseline only until it is replaced: {problem}",
                dataset=registry.dataset, model=registry.model, version=version, previous=None,
                reasons=[str(problem)], task_id=registry.task_id,
                luigid_link=task_link(registry.task_id) if registry.task_id else None)


def task_failed(task, exception: BaseException, event: str = "task_failed") -> bool:
    """Alert a task that failed (task_failed) or could not be scheduled (scheduling_failed)."""
    params = task.param_kwargs
    verb = "failed" if event == "task_failed" else "could not be scheduled"
    return send(event, f"{task} {verb}: {exception}", dataset=params.get("dataset"), model=params.get("model"),
                version=None, date=str(params.get("date")), task_id=task.task_id,
                reasons=[f"{type(exception).__name__}: {exception}"], luigid_link=task_link(task.task_id))


def problem(event: str, text: str, **fields) -> bool:
    """A problem no task failure reports (a late task or run, a stale deployment): the webhook and
    Luigi's e-mail ([email] receiver; Luigi does nothing when none is configured)."""
    from luigi.notifications import send_error_email

    try:
        send_error_email(f"[luigi-ml-pipeline] {event}: {text}", text)
    except Exception as exc:  # noqa: BLE001 - an alert must never fail the run
        logger.warning("alert %r not delivered by e-mail: %s", event, type(exc).__name__)
    return send(event, text, **fields)


def use_smtp_password_from_environment() -> None:
    """Give Luigi's e-mail the SMTP password from PIPELINE_SMTP_PASSWORD, in memory only.

    Without the variable (a cron line that forgot it), Luigi simply sends without logging in;
    a `${...}` reference in luigi.cfg would instead crash the run when a failure is mailed.
    """
    if os.environ.get(SMTP_PASSWORD_ENV):
        config = luigi.configuration.get_config()
        if not config.has_section("smtp"):
            config.add_section("smtp")
        # the reference, not the value: Luigi resolves it when it mails, and no character of the
        # password can be mistaken for config syntax
        config.set("smtp", "password", "${" + SMTP_PASSWORD_ENV + "}")


use_smtp_password_from_environment()
