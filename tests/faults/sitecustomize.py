"""Fault injection for end-to-end tests: put this directory on PYTHONPATH and name a point.

    PIPELINE_TEST_KILL_AT=<point>   the process kills itself with SIGKILL there (kill -9)
    PIPELINE_TEST_SIGNAL_AT=<point> the process sends PIPELINE_TEST_SIGNAL (TERM or INT) to its whole
                                    process group there, as Ctrl-C or a service manager's stop does
    PIPELINE_TEST_FAIL_AT=<point>   it raises RuntimeError there (an ordinary task failure)
    PIPELINE_TEST_PAUSE_AT=<point>  it creates PIPELINE_TEST_PAUSE_FILE there and waits until
                                    that file is removed (to hold a run open), the first time only

Points:
    manifest:<stage>        in a task's commit, every file written, before its manifest
    committing:<stage>      manifest written, before the directory is renamed into place (or uploaded)
    uploading:<stage>       S3 only: every file uploaded, the manifest not yet
    fit                     inside TrainModel's fit, as the estimator starts fitting
    history:<event>         in the registry, just before a history line for <event> is written
                            (for "promoted": production.json was already replaced)
    written:<name>          scoring: the output file <name> written aside, not yet renamed into place

    PIPELINE_TEST_PACKAGE_VERSION=<name>=<version>   pretend a package has another version

Only tests use this; the pipeline has no hooks of its own.
"""
import os
import signal
import time
from pathlib import Path

POINT = (os.environ.get("PIPELINE_TEST_KILL_AT") or os.environ.get("PIPELINE_TEST_FAIL_AT")
         or os.environ.get("PIPELINE_TEST_SIGNAL_AT") or os.environ.get("PIPELINE_TEST_PAUSE_AT"))
FAKE_VERSION = os.environ.get("PIPELINE_TEST_PACKAGE_VERSION")


def reached(point: str) -> None:
    global POINT
    if point != POINT:
        return
    if os.environ.get("PIPELINE_TEST_KILL_AT") == point:
        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get("PIPELINE_TEST_FAIL_AT") == point:
        raise RuntimeError(f"injected failure at {point}")
    if os.environ.get("PIPELINE_TEST_SIGNAL_AT") == point:
        os.killpg(os.getpgrp(), getattr(signal, f"SIG{os.environ['PIPELINE_TEST_SIGNAL']}"))
        time.sleep(10)  # the signal arrives while this process would otherwise go on
        return
    POINT = None  # a pause holds the run once, not at every later pass through the same point
    marker = os.environ["PIPELINE_TEST_PAUSE_FILE"]
    open(marker, "w").close()
    deadline = time.time() + 120
    while os.path.exists(marker) and time.time() < deadline:
        time.sleep(0.05)


def _install() -> None:
    from pipeline import registry
    from pipeline.ml import models
    from pipeline.storage import base, local, s3

    commit = base.Store.commit

    def patched_commit(self, staged, key, meta, *, exclusive=False):
        reached(f"manifest:{key.split('/')[0]}")  # every file written, the manifest not yet
        commit(self, staged, key, meta, exclusive=exclusive)

    def before_publish(publish):
        def patched_publish(self, staged, key, manifest, *, exclusive=False):
            reached(f"committing:{key.split('/')[0]}")  # the manifest written, not yet published
            publish(self, staged, key, manifest, exclusive=exclusive)
        return patched_publish

    put_file = s3.S3Store.put_file

    def patched_put_file(self, path, key, *, only_if_absent=False):
        if only_if_absent:
            reached(f"uploading:{key.split('/')[0]}")
        put_file(self, path, key, only_if_absent=only_if_absent)

    fit_estimator = models.fit_estimator

    def patched_fit_estimator(*args, **kwargs):
        reached("fit")
        return fit_estimator(*args, **kwargs)

    append = registry.Registry._append

    def patched_append(self, event):
        reached(f"history:{event['event']}")
        append(self, event)

    from pipeline import scoring

    write_atomically = scoring.write_atomically

    def patched_write_atomically(path, write):
        def write_then_wait(tmp):
            write(tmp)
            reached(f"written:{Path(path).name}")
        write_atomically(path, write_then_wait)

    scoring.write_atomically = patched_write_atomically
    base.Store.commit = patched_commit
    local.LocalStore.publish = before_publish(local.LocalStore.publish)
    s3.S3Store.publish = before_publish(s3.S3Store.publish)
    s3.S3Store.put_file = patched_put_file
    models.fit_estimator = patched_fit_estimator
    registry.Registry._append = patched_append


def _fake_version() -> None:
    from pipeline import provenance

    name, version = FAKE_VERSION.split("=")
    real = provenance.package_versions
    provenance.package_versions = lambda: {**real(), name: version}


if POINT:
    _install()
if FAKE_VERSION:
    _fake_version()
