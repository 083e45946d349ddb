"""Which failures are tried again inside the run, and how."""
import smtplib
import urllib.error

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from pipeline.errors import ConfigError, IntegrityError, StorageError
from pipeline.ml.errors import DataError
from pipeline.retry import TransientError, call_with_retries, is_transient


def raised_from(outer: Exception, inner: Exception) -> Exception:
    try:
        try:
            raise inner
        except Exception:
            raise outer from None  # the way the stores hide the library's message
    except Exception as exc:
        return exc


@pytest.mark.parametrize("exc", [
    TransientError("x"), ConnectionRefusedError(), TimeoutError(), urllib.error.URLError("reset"),
    urllib.error.HTTPError("u", 503, "busy", {}, None), EndpointConnectionError(endpoint_url="http://s3"),
    ClientError({"Error": {"Code": "SlowDown"}, "ResponseMetadata": {"HTTPStatusCode": 503}}, "PutObject"),
    raised_from(StorageError("s3://b/k: cannot write"), ConnectionResetError()),
    smtplib.SMTPServerDisconnected("gone"), smtplib.SMTPConnectError(421, "busy"),
])
def test_network_and_storage_failures_are_transient(exc):
    assert is_transient(exc)


@pytest.mark.parametrize("exc", [
    DataError("bad column"), ConfigError("bad key"), IntegrityError("changed file"), KeyError("a bug"),
    urllib.error.HTTPError("u", 404, "gone", {}, None),
    ClientError({"Error": {"Code": "AccessDenied"}, "ResponseMetadata": {"HTTPStatusCode": 403}}, "GetObject"),
    raised_from(DataError("cannot be read"), ConnectionResetError()),  # diagnosed: the user's to fix
    smtplib.SMTPRecipientsRefused({"x@y": (550, b"no such user")}),
])
def test_diagnosed_failures_and_bugs_are_permanent(exc):
    assert not is_transient(exc)


def test_transient_failures_are_tried_again_with_doubling_waits_up_to_the_budget():
    calls, waits = [], []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionRefusedError("refused")
        return "ok"
    assert call_with_retries(flaky, "fetch", attempts=4, backoff=0.5, sleep=waits.append) == "ok"
    assert waits == [0.5, 1.0]

    with pytest.raises(TransientError, match=r"^refused \(gave up after 2 attempts\)$"):
        call_with_retries(lambda: (_ for _ in ()).throw(ConnectionRefusedError("refused")), "fetch", attempts=2,
                          backoff=0.1, sleep=waits.append)


def test_a_permanent_failure_is_raised_at_once():
    calls = []

    def bad():
        calls.append(1)
        raise DataError("bad column")
    with pytest.raises(DataError):
        call_with_retries(bad, "validate", attempts=4, backoff=0.1, sleep=lambda _: None)
    assert calls == [1]
