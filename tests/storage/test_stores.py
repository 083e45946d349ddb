"""The artifact stores: the same guarantees on local disk and on S3 (a real moto server)."""
from __future__ import annotations

import json
import multiprocessing
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import new_bucket

from pipeline.artifacts import ArtifactDir
from pipeline.errors import ConcurrentUpdate, IntegrityError, StorageError
from pipeline.registry import Registry
from pipeline.storage import MANIFEST, LocalStore, open_store, sha256_file
from pipeline.storage.base import pid_namespace


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalStore(tmp_path / "data")
    endpoint = request.getfixturevalue("s3_env")
    return open_store(f"s3://{new_bucket(endpoint)}/data", str(tmp_path / "cache"))


def test_an_output_exists_once_its_manifest_is_committed(store):
    output = ArtifactDir(store, "models/digits/2026-01-01/abc")
    with output.staging({"task": "T"}) as tmp:
        (tmp / "model.bin").write_bytes(b"weights")
        (tmp / "card.json").write_text('{"a": 1}')
        assert not output.exists()
    assert output.exists()
    assert (output / "model.bin").read_bytes() == b"weights"
    assert output.read_json("card.json") == {"a": 1}
    assert output.manifest()["task"] == "T"
    keys = store.keys("models/digits/2026-01-01/abc")
    assert "models/digits/2026-01-01/abc/manifest.json" in keys and len(keys) == 3
    if not isinstance(store, LocalStore):  # files live under the attempt the manifest names; none is overwritten
        attempt = output.manifest()["objects"]
        assert {k.rsplit("/", 2)[1] for k in keys if not k.endswith("/manifest.json")} == {attempt}


def test_a_second_commit_of_the_same_output_leaves_the_first_intact(store):
    first, second = ArtifactDir(store, "evaluations/x"), ArtifactDir(store, "evaluations/x")
    with first.staging() as tmp:
        (tmp / "metrics.json").write_text('{"run": 1}')
    with second.staging() as tmp:  # a duplicate run of the same task: its copy is dropped
        (tmp / "metrics.json").write_text('{"run": 2}')
    fresh = store if isinstance(store, LocalStore) else open_store(store.root, str(store.cache) + "-fresh")
    reader = ArtifactDir(fresh, "evaluations/x")
    assert json.loads((reader / "metrics.json").read_text()) == {"run": 1}
    with pytest.raises(ConcurrentUpdate, match="committed by another writer first"), \
            ArtifactDir(store, "evaluations/x").staging(exclusive=True) as tmp:
        (tmp / "metrics.json").write_text('{"run": 3}')


def test_a_failed_commit_leaves_no_output(store):
    output = ArtifactDir(store, "split/x")
    with pytest.raises(RuntimeError), output.staging() as tmp:
        (tmp / "train.parquet").write_bytes(b"half")
        raise RuntimeError("killed")
    assert not output.exists()
    assert not any(key.endswith(MANIFEST) for key in store.keys("split"))


def test_a_file_not_in_the_manifest_is_refused(store):
    output = ArtifactDir(store, "raw/x")
    with output.staging() as tmp:
        (tmp / "data.parquet").write_bytes(b"rows")
    with pytest.raises(IntegrityError, match="not listed in a manifest.json"):
        output / "other.parquet"


def test_a_changed_object_is_refused(s3_env, tmp_path):
    store = open_store(f"s3://{new_bucket(s3_env)}/data", str(tmp_path / "cache"))
    output = ArtifactDir(store, "raw/x")
    with output.staging() as tmp:
        (tmp / "data.parquet").write_bytes(b"rows")
    store.write_bytes(f"raw/x/{output.manifest()['objects']}/data.parquet", b"tampered")
    fresh = open_store(store.root, str(tmp_path / "other-cache"))  # another host: nothing cached
    with pytest.raises(IntegrityError, match=r"raw/x/attempt-\w+/data.parquet: sha256 .* differs from its manifest"):
        ArtifactDir(fresh, "raw/x") / "data.parquet"


def test_a_conditional_write_refuses_a_stale_read(store):
    store.create("registry/p.json", b"one")  # only if absent
    with pytest.raises(ConcurrentUpdate):
        store.create("registry/p.json", b"again")
    _, token = store.read_versioned("registry/p.json")
    store.compare_and_swap("registry/p.json", b"two", token)
    with pytest.raises(ConcurrentUpdate):
        store.compare_and_swap("registry/p.json", b"three", token)  # read before "two" was written
    assert store.read_bytes("registry/p.json") == b"two"


def _count_under_lock(root: str, cache: str, rounds: int, endpoint: str | None) -> None:
    if endpoint:
        os.environ["AWS_ENDPOINT_URL_S3"] = endpoint
    store = open_store(root, cache)
    for _ in range(rounds):
        with store.lock("registry/.lock"):
            value = int(store.read_text("registry/counter") or 0)
            time.sleep(0.002)
            store.write_bytes("registry/counter", str(value + 1).encode())
        store.append("runs/log.jsonl", json.dumps({"pid": os.getpid()}))


def test_lock_and_append_hold_across_processes(store, tmp_path):
    """Read-modify-write under the lock from three processes loses no update; appends lose no line."""
    context = multiprocessing.get_context("spawn")  # fresh processes, as on other hosts
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") if not isinstance(store, LocalStore) else None
    workers = [context.Process(target=_count_under_lock, args=(store.root, str(tmp_path / f"c{i}"), 15, endpoint))
               for i in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    assert store.read_text("registry/counter") == "45"
    assert len(store.read_text("runs/log.jsonl").splitlines()) == 45


def test_an_s3_lock_left_by_a_dead_process_on_this_host_is_taken_over(s3_env, tmp_path):
    store = open_store(f"s3://{new_bucket(s3_env)}/data", str(tmp_path / "cache"))
    dead = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(0,))
    dead.start()
    dead.join()
    holder = {"host": socket.gethostname(), "pidns": pid_namespace(), "pid": dead.pid, "id": "x",
              "expires": time.time() + 3600}
    store.write_json("registry/.lock", {**holder, "pidns": "pid:[another container]"})
    with pytest.raises(StorageError, match="still locked"), store.lock("registry/.lock", wait=1):
        pass  # the same host name, but pids of another namespace: that pid tells nothing
    store.write_json("registry/.lock", holder)
    started = time.monotonic()
    with store.lock("registry/.lock"):
        assert json.loads(store.read_text("registry/.lock"))["pid"] == os.getpid()
    assert time.monotonic() - started < 5
    assert store.read_text("registry/.lock") is None  # released


def test_a_live_s3_lock_is_waited_for(s3_env, tmp_path):
    store = open_store(f"s3://{new_bucket(s3_env)}/data", str(tmp_path / "cache"))
    store.write_json("registry/.lock", {"host": "another-host", "pid": 1, "id": "x", "expires": time.time() + 3600})
    with pytest.raises(StorageError, match="still locked by another-host pid 1 after 1s"), \
            store.lock("registry/.lock", wait=1):
        pass


def register_dummies(store, registry, names):
    import joblib
    from sklearn.dummy import DummyClassifier

    versions = []
    for name in names:
        candidate = ArtifactDir(store, f"candidates/{name}")
        with candidate.staging() as tmp:
            joblib.dump(DummyClassifier(constant=name, strategy="constant").fit([[0], [1]], ["a", "b", "c"][:2]),
                        tmp / "model.joblib")
        versions.append(registry.register(candidate, {"candidate_id": name, "date": "2026-01-01",
                                                      "model_sha256": sha256_file(candidate / "model.joblib")}))
    return versions


def test_a_version_number_taken_meanwhile_is_not_reused(store, monkeypatch):
    """If another writer committed the number this one chose (its lock lease ran out, say), the
    version commit fails instead of mixing the two, and the next number is taken."""
    registry = Registry(store, "registry/ds/m", "ds", "m")
    assert register_dummies(store, registry, ["a"]) == ["v0001"]
    children = store.children
    stale = iter([["v0000"]])  # the first listing misses v0001, as if read before it was committed
    monkeypatch.setattr(store, "children", lambda key: next(stale, None) or children(key))
    assert register_dummies(store, registry, ["b"]) == ["v0002"]
    assert registry.card("v0001")["candidate_id"] == "a" and registry.card("v0002")["candidate_id"] == "b"


def test_a_promotion_decided_on_a_stale_pointer_is_not_written(store, tmp_path):
    """The production pointer is guarded: a writer whose view is out of date (its lock lease ran
    out, say) cannot overwrite what another promotion wrote in between."""
    registry = Registry(store, "registry/ds/m", "ds", "m")
    versions = register_dummies(store, registry, ["a", "b"])
    registry.promote(versions[0], "first")
    stale = registry.production()
    registry.promote(versions[1], "second")  # another worker, in between
    with pytest.raises(ConcurrentUpdate, match="production.json: changed by another writer"):
        registry._set_production({"event": "rolled_back", "version": None, "previous": versions[0],
                                  "reason": "stale"}, replacing=stale)
    assert registry.production_version() == versions[1]
    assert [e["event"] for e in registry.history()] == ["registered", "registered", "promoted", "promoted"]


def test_a_process_that_exited_but_was_not_reaped_is_not_alive():
    """A zombie keeps its pid until its parent waits for it; it holds no lock and runs no luigid."""
    from pipeline.storage import pid_alive

    child = subprocess.Popen(["true"])
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not yet reaped
    assert Path(f"/proc/{child.pid}").exists() and not pid_alive(child.pid)
    assert pid_alive(os.getpid())
    child.wait()


def test_a_history_line_cut_short_is_skipped_and_reported_and_the_next_append_starts_afresh(store, caplog):
    """A kill or a full disk in the middle of an append leaves part of a line; it never bricks the registry."""
    registry = Registry(store, "registry/ds/m", "ds", "m")
    v1, v2 = register_dummies(store, registry, ["a", "b"])
    registry.promote(v1, "first")
    history = store.read_bytes("registry/ds/m/history.jsonl")
    store.write_bytes("registry/ds/m/history.jsonl", history + b'{"at": "2026-01-0')  # the cut-off append

    registry.promote(v2, "second")  # appends after the torn line, on a fresh line
    registry.reject(v2, ["late doubts"])
    with caplog.at_level("WARNING", logger="pipeline"):
        events = registry.history()
    assert [(e["event"], e["version"]) for e in events] == [
        ("registered", v1), ("registered", v2), ("promoted", v1), ("promoted", v2), ("rejected", v2)]
    [warning] = [r.getMessage() for r in caplog.records if "history.jsonl" in r.getMessage()]
    assert warning == (f"{store.url('registry/ds/m/history.jsonl')}: line 4 is cut short or not JSON "
                       "(a write was interrupted); skipped")
    assert registry.statuses() == {v1: "retired", v2: "production"}
    lines = store.read_text("registry/ds/m/history.jsonl").splitlines()
    assert lines[3] == '{"at": "2026-01-0' and json.loads(lines[4])["event"] == "promoted"


SWEEP_FROM_A_CONTAINER = """
import sys
from pipeline.artifacts import ArtifactDir
from pipeline.storage import LocalStore

with ArtifactDir(LocalStore(sys.argv[1]), "models/digits/2026-01-01/other").staging() as tmp:
    (tmp / "model.bin").write_bytes(b"the container's model")
"""


def test_a_worker_in_another_pid_namespace_never_sweeps_a_live_staging_directory(tmp_path):
    """Its pids are not ours: our live pid is dead there. Only its own dead temporaries, or
    anything older than the configured age, are provably dead."""
    if subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"], capture_output=True).returncode:
        pytest.skip("needs unshare --pid (root, or user namespaces)")
    store = LocalStore(tmp_path / "data")
    output = ArtifactDir(store, "models/digits/2026-01-01/mine")
    with output.staging() as tmp:
        (tmp / "model.bin").write_bytes(b"weights")
        swept = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", sys.executable, "-c",
                                SWEEP_FROM_A_CONTAINER, str(tmp_path / "data")], capture_output=True, text=True)
        assert swept.returncode == 0, swept.stderr
        assert tmp.exists() and (tmp / "model.bin").read_bytes() == b"weights"
    assert output.exists() and ArtifactDir(store, "models/digits/2026-01-01/other").exists()


def test_the_sweep_removes_our_dead_temporaries_and_only_old_ones_of_others(tmp_path):
    from pipeline.storage.base import sweep, temporary

    parent = tmp_path / "split"
    parent.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    ours_dead = temporary(parent, "x").with_name(temporary(parent, "x").name.replace(f"-{os.getpid()}-",
                                                                                      f"-{dead.pid}-"))
    ours_live = temporary(parent, "y")
    foreign_young = parent / ".tmp-n0000ffff-12-abcdef01-z"
    foreign_old = parent / ".tmp-n0000ffff-13-abcdef02-z"
    for path in (ours_dead, ours_live, foreign_young, foreign_old):
        path.mkdir()
    os.utime(foreign_old, (time.time() - 2 * 86400, time.time() - 2 * 86400))
    sweep(parent, stale_after=86400)
    assert sorted(p.name for p in parent.iterdir()) == sorted([ours_live.name, foreign_young.name])
