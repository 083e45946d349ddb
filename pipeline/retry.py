"""Retries inside the run for failures that may pass on their own, and none for the rest.

A daily job cannot wait for tomorrow's cron run because a source answered 503 for a minute, and
Luigi's own retries (keep_alive, retry_delay) retry everything: bad data too, which never
heals. So every pipeline task's run(), and `ml-pipeline predict`, go through `call_with_retries`:

    transient   the network (connection refused, reset, timed out), a source answering 5xx,
                object storage throttling or failing (S3 5xx, SlowDown), SMTP disconnects
                -> tried again after 1, 2, 4 ... s, [pipeline] transient_attempts times in all
    permanent   everything the pipeline diagnosed (bad data, bad config, a refused model, a
                changed file, a 4xx) and every bug -> fails at once

Outputs are committed atomically, so running a task's run() again from the start is safe.
"""
from __future__ import annotations

import logging
import time
import urllib.error

from pipeline.errors import PipelineError, StorageError, first_line
from pipeline.ml.errors import MLError

logger = logging.getLogger("pipeline")

_BOTOCORE_TRANSIENT = {"EndpointConnectionError", "ConnectionClosedError", "ReadTimeoutError", "ConnectTimeoutError",
                       "ConnectionError"}
_SMTP_TRANSIENT = {"SMTPServerDisconnected", "SMTPConnectError"}
_S3_TRANSIENT_CODES = {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "InternalError",
                       "ServiceUnavailable", "500", "502", "503", "504"}


class TransientError(PipelineError):
    """A failure that may pass on its own (a source answering 5xx, a connection refused)."""


def _transient_cause(exc: BaseException) -> bool:
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code >= 500
    kind = type(exc)
    if isinstance(exc, (ConnectionError, TimeoutError, urllib.error.URLError)) or \
            (kind.__module__ == "smtplib" and kind.__name__ in _SMTP_TRANSIENT):  # smtplib is not imported for it
        return True
    if kind.__module__.startswith("botocore"):
        if kind.__name__ in _BOTOCORE_TRANSIENT:
            return True
        response = getattr(exc, "response", None) or {}
        code = str(response.get("Error", {}).get("Code", ""))
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return code in _S3_TRANSIENT_CODES or status >= 500
    return False


def is_transient(exc: BaseException) -> bool:
    """Whether trying again may help: a TransientError, or a network or storage failure under it."""
    if isinstance(exc, TransientError):
        return True
    if isinstance(exc, MLError) or (isinstance(exc, PipelineError) and not isinstance(exc, StorageError)):
        return False  # diagnosed: bad data, bad config, a changed file...
    seen = set()
    while exc is not None and id(exc) not in seen:  # the exception and what it was raised from or during
        if _transient_cause(exc):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def call_with_retries(fn, what: str, *, attempts: int, backoff: float, sleep=time.sleep):
    """fn(), tried up to `attempts` times while it fails transiently, waiting backoff, 2 x backoff, ..."""
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if not is_transient(exc):
                raise
            if attempt == attempts:
                raise TransientError(f"{first_line(exc)} (gave up after {attempts} attempts)") from exc
            delay = backoff * 2 ** (attempt - 1)
            logger.warning("RETRY %s in %.1f s (attempt %d of %d): %s", what, delay, attempt + 1, attempts,
                           first_line(exc))
            sleep(delay)
    raise AssertionError("unreachable")
