"""The model registry: versions, the production pointer, rollback, integrity, history."""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import subprocess
from pathlib import Path

import pytest

from pipeline.errors import IntegrityError, RegistryError
from pipeline.registry import Registry
from pipeline.storage import LocalStore, sha256_file


def register(registry, make_candidate, *ids):
    return [registry.register(*make_candidate(cid, C=float(i + 1))) for i, cid in enumerate(ids)]


def test_register_assigns_consecutive_versions(registry, make_candidate):
    assert registry.versions() == []
    assert register(registry, make_candidate, "run-a", "run-b") == ["v0001", "v0002"]
    assert registry.versions() == ["v0001", "v0002"]
    card = registry.card("v0002")
    assert card["candidate_id"] == "run-b"
    assert card["version"] == "v0002"
    registered = dt.datetime.fromisoformat(card["registered_at"])
    assert registered.tzinfo == dt.UTC and abs(dt.datetime.now(dt.UTC) - registered) < dt.timedelta(minutes=5)
    assert card["model_sha256"] == sha256_file(registry.root / "v0002" / "model.joblib")
    assert set(json.loads((registry.root / "v0002" / "manifest.json").read_text())["files"]) == \
        {"model.joblib", "card.json"}
    assert registry.production() is None  # registering does not deploy


def test_registering_the_same_candidate_twice_returns_its_version(registry, make_candidate):
    path, card = make_candidate("run-a")
    assert registry.register(path, card) == "v0001"
    assert registry.register(path, card) == "v0001"
    assert registry.versions() == ["v0001"]
    assert [e["event"] for e in registry.history()] == ["registered"]


def test_registered_model_loads_and_predicts(registry, make_candidate):
    (version,) = register(registry, make_candidate, "run-a")
    model = registry.load(version)
    assert list(model.predict([[0.0], [3.0]])) == [0, 1]


def test_unknown_version_is_a_registry_error(registry, make_candidate):
    register(registry, make_candidate, "run-a")
    with pytest.raises(RegistryError, match=r"no version 'v0009' \(versions: v0001\)"):
        registry.card("v0009")
    with pytest.raises(RegistryError, match="no production model yet"):
        registry.load_production()


def test_promote_writes_production_and_history(registry, make_candidate):
    v1, v2 = register(registry, make_candidate, "run-a", "run-b")
    registry.promote(v1, "first model")
    pointer = json.loads((registry.root / "production.json").read_text())
    assert pointer["version"] == "v0001"
    assert pointer["previous"] == []
    assert pointer["reason"] == "first model"

    registry.promote(v2, "better accuracy")
    assert registry.production_version() == "v0002"
    assert registry.production()["previous"] == ["v0001"]
    version, model, card = registry.load_production()
    assert (version, card["candidate_id"]) == ("v0002", "run-b")
    events = [e for e in registry.history() if e["event"] == "promoted"]
    assert [(e["version"], e["previous"], e["reason"]) for e in events] == [
        ("v0001", None, "first model"), ("v0002", "v0001", "better accuracy")]
    assert all(e["dataset"] == "ds" and e["model"] == "m" for e in events)


def test_promoting_the_live_version_again_changes_nothing(registry, make_candidate):
    (v1,) = register(registry, make_candidate, "run-a")
    registry.promote(v1, "first")
    history_before = registry.history()
    registry.promote(v1, "again")
    assert registry.history() == history_before
    assert registry.production()["reason"] == "first"


def test_rollback_returns_the_previous_version_and_records_the_reason(registry, make_candidate):
    v1, v2 = register(registry, make_candidate, "run-a", "run-b")
    registry.promote(v1, "first")
    registry.promote(v2, "second")
    assert registry.rollback("v0002 misbehaves in production") == "v0001"
    assert registry.production_version() == "v0001"
    assert registry.production()["reason"] == "v0002 misbehaves in production"
    assert registry.production()["previous"] == []
    last = registry.history()[-1]
    assert last["event"] == "rolled_back"
    assert (last["version"], last["previous"]) == ("v0001", "v0002")
    assert last["reason"] == "v0002 misbehaves in production"


def test_rollback_walks_back_one_version_at_a_time(registry, make_candidate):
    versions = register(registry, make_candidate, "a", "b", "c")
    for v in versions:
        registry.promote(v, "promote")
    assert registry.rollback("bad c") == "v0002"
    assert registry.rollback("bad b") == "v0001"
    with pytest.raises(RegistryError, match="no earlier one"):
        registry.rollback("nothing left")


def test_rollback_with_nothing_earlier_raises(registry, make_candidate):
    (v1,) = register(registry, make_candidate, "run-a")
    with pytest.raises(RegistryError, match="nothing is in production"):
        registry.rollback("registered, never promoted")
    registry.promote(v1, "first")
    with pytest.raises(RegistryError, match="v0001 is the first production version"):
        registry.rollback("no")
    assert registry.production_version() == "v0001"
    assert [e["event"] for e in registry.history()] == ["registered", "promoted"]


def test_rollback_to_a_named_version(registry, make_candidate):
    versions = register(registry, make_candidate, "a", "b", "c")
    for v in versions:
        registry.promote(v, "promote")
    assert registry.rollback("back to the first", to="v0001") == "v0001"
    assert registry.production_version() == "v0001"
    assert registry.production()["previous"] == []
    assert registry.history()[-1]["previous"] == "v0003"


def test_rollback_to_the_live_or_an_unknown_version_raises(registry, make_candidate):
    v1, v2 = register(registry, make_candidate, "a", "b")
    registry.promote(v1, "first")
    registry.promote(v2, "second")
    with pytest.raises(RegistryError, match="v0002 is already in production"):
        registry.rollback("noop", to="v0002")
    with pytest.raises(RegistryError, match="no version 'v0007'"):
        registry.rollback("typo", to="v0007")
    assert registry.production_version() == "v0002"


def test_load_refuses_a_changed_model_file(registry, make_candidate):
    (v1,) = register(registry, make_candidate, "run-a")
    model_file = registry.root / v1 / "model.joblib"
    data = bytearray(model_file.read_bytes())
    data[-1] ^= 0xFF
    model_file.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="model.joblib: sha256 .* differs from its manifest .*; "
                                             "refusing to load a changed model; registry versions are never rewritten"):
        registry.load(v1)
    with pytest.raises(IntegrityError):
        registry.promote(v1, "should not go live")
    assert registry.production() is None


def test_load_refuses_a_missing_model_file(registry, make_candidate):
    (v1,) = register(registry, make_candidate, "run-a")
    (registry.root / v1 / "model.joblib").unlink()
    with pytest.raises(IntegrityError, match="missing"):
        registry.load(v1)


def test_rollback_refuses_a_changed_target_and_keeps_production(registry, make_candidate):
    v1, v2 = register(registry, make_candidate, "a", "b")
    registry.promote(v1, "first")
    registry.promote(v2, "second")
    (registry.root / v1 / "model.joblib").write_bytes(b"tampered")
    with pytest.raises(IntegrityError):
        registry.rollback("try")
    assert registry.production_version() == "v0002"


def test_reject_leaves_production_unchanged(registry, make_candidate):
    v1, v2 = register(registry, make_candidate, "a", "b")
    registry.promote(v1, "first")
    pointer = (registry.root / "production.json").read_text()
    registry.reject(v2, ["accuracy 0.5000 < 0.9"])
    assert (registry.root / "production.json").read_text() == pointer
    last = registry.history()[-1]
    assert (last["event"], last["version"]) == ("rejected", "v0002")
    assert last["reasons"] == ["accuracy 0.5000 < 0.9"]


def test_history_is_append_only(registry, make_candidate):
    history = registry.root / "history.jsonl"
    v1, v2 = register(registry, make_candidate, "a", "b")
    snapshots = [history.read_text()]
    registry.promote(v1, "first")
    snapshots.append(history.read_text())
    registry.promote(v2, "second")
    snapshots.append(history.read_text())
    registry.reject(v2, ["late failure"])
    snapshots.append(history.read_text())
    registry.rollback("back")
    snapshots.append(history.read_text())
    for earlier, later in zip(snapshots, snapshots[1:]):
        assert later.startswith(earlier)
        assert later.count("\n") == earlier.count("\n") + 1
    assert [e["event"] for e in registry.history()] == [
        "registered", "registered", "promoted", "promoted", "rejected", "rolled_back"]


def test_register_refuses_a_model_changed_since_training(registry, make_candidate):
    model_dir, card = make_candidate("run-a")
    with open(model_dir / "model.joblib", "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(IntegrityError, match="refusing to register a changed model"):
        registry.register(model_dir, card)
    assert registry.versions() == []


@pytest.mark.parametrize("version", ["../../other/m/v0001", "v1", "v0001/../v0002"])
def test_version_names_are_checked(registry, make_candidate, version):
    register(registry, make_candidate, "run-a")
    with pytest.raises(RegistryError, match="no version"):
        registry.promote(version, reason="by hand")
    assert registry.production_version() is None


def test_an_edited_card_is_refused(registry, make_candidate):
    [v1] = register(registry, make_candidate, "run-a")
    card_path = registry.root / v1 / "card.json"
    card_path.write_text(card_path.read_text().replace('"C": 1.0', '"C": 9.0'))
    with pytest.raises(IntegrityError, match="card.json: sha256 .* differs from its manifest"):
        registry.load(v1)


def test_rollback_after_a_version_came_back_keeps_the_earlier_ones(registry, make_candidate):
    v1, v2, v3 = register(registry, make_candidate, "a", "b", "c")
    for version in (v1, v2, v1, v3):
        registry.promote(version, reason="by hand")
    assert registry.rollback(reason="x") == v1
    assert registry.rollback(reason="y") == v2
    assert registry.rollback(reason="z") == v1


def test_versions_are_numbered_after_the_highest_even_with_gaps(registry, make_candidate):
    import shutil

    register(registry, make_candidate, "a", "b")
    shutil.rmtree(registry.root / "v0001")
    model_dir, card = make_candidate("c")
    assert registry.register(model_dir, card) == "v0003"


def test_commands_on_a_registry_that_does_not_exist_create_nothing(registry):
    with pytest.raises(RegistryError, match="no such registry"):
        registry.rollback(reason="x")
    assert not registry.root.exists()


def test_a_crash_between_pointer_and_history_is_logged_once_on_the_next_write(registry, make_candidate, monkeypatch):
    v1, v2 = register(registry, make_candidate, "run-a", "run-b")
    registry.promote(v1, "first")
    append = Registry._append

    def crash_on_promoted(self, event):
        if event["event"] == "promoted":
            raise SystemExit("killed")
        append(self, event)

    monkeypatch.setattr(Registry, "_append", crash_on_promoted)
    with pytest.raises(SystemExit):
        registry.promote(v2, "second")
    monkeypatch.setattr(Registry, "_append", append)
    assert registry.production_version() == v2
    assert [e["event"] for e in registry.history()] == ["registered", "registered", "promoted"]

    registry.promote(v2, "second")  # the re-run
    registry.promote(v2, "second")
    history = registry.history()
    assert [(e["event"], e["version"]) for e in history] == \
        [("registered", v1), ("registered", v2), ("promoted", v1), ("promoted", v2)]
    assert history[-1]["previous"] == v1 and history[-1]["reason"] == "second"


def test_a_crash_before_the_registered_line_is_logged_on_the_next_write(registry, make_candidate, monkeypatch):
    path, card = make_candidate("run-a")
    monkeypatch.setattr(Registry, "_append", lambda self, event: (_ for _ in ()).throw(SystemExit("killed")))
    with pytest.raises(SystemExit):
        registry.register(path, card)
    monkeypatch.undo()
    assert registry.versions() == ["v0001"] and registry.history() == []
    assert registry.register(path, card) == "v0001"
    assert [(e["event"], e["version"]) for e in registry.history()] == [("registered", "v0001")]


def test_rejecting_twice_with_the_same_reasons_logs_once(registry, make_candidate):
    (v1,) = register(registry, make_candidate, "run-a")
    registry.reject(v1, ["accuracy 0.5 < 0.95"])
    registry.reject(v1, ["accuracy 0.5 < 0.95"])
    assert [e["event"] for e in registry.history()] == ["registered", "rejected"]


def test_rolling_forward_with_to_keeps_the_replaced_version_to_roll_back_to(registry, make_candidate):
    v1, v2 = register(registry, make_candidate, "a", "b")
    registry.promote(v1, "first")
    registry.promote(v2, "second")
    assert registry.rollback("v0002 misbehaves") == v1
    assert registry.rollback("fixed upstream after all", to=v2) == v2
    assert registry.production()["previous"] == [v1]
    assert registry.rollback("back again") == v1


# ---------------------------------------------------------------- a full disk

@pytest.fixture
def small_disk(tmp_path):
    """A 1 MB tmpfs mounted for the test (root only): a disk that really fills up."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)],
                                           capture_output=True).returncode:
        pytest.skip("mounting a small tmpfs needs root (and CAP_SYS_ADMIN)")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path) -> Path:
    """Take every free byte of `disk`; remove the returned file to give them back."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as out, contextlib.suppress(OSError):
        while True:
            out.write(b"\0" * 4096)
    return filler


def test_a_history_append_cut_off_by_a_full_disk_never_bricks_the_registry(small_disk, make_candidate, caplog):
    registry = Registry(LocalStore(small_disk / "data"), "registry/ds/m", "ds", "m")
    [v1] = register(registry, make_candidate, "a")
    registry.promote(v1, "first")
    history = small_disk / "data" / "registry" / "ds" / "m" / "history.jsonl"
    # end the file 40 bytes short of a page: the next line needs a page the full disk cannot give
    overhead = len(json.dumps({"event": "note", "pad": ""})) + 1
    registry.store.append("registry/ds/m/history.jsonl", json.dumps(
        {"event": "note", "pad": "x" * ((4096 - 40 - history.stat().st_size - overhead) % 4096)}))
    assert history.stat().st_size % 4096 == 4056
    filler = fill(small_disk)

    with pytest.raises(OSError, match="No space left on device"):
        registry.reject(v1, ["a reason long enough to need the next page: " + "y" * 200])
    assert not history.read_bytes().endswith(b"\n")  # the line was cut off
    filler.unlink()

    registry.reject(v1, ["after the disk was freed"])
    with caplog.at_level("WARNING", logger="pipeline"):
        events = registry.history()
    assert [e["event"] for e in events] == ["registered", "promoted", "note", "rejected"]
    assert events[-1]["reasons"] == ["after the disk was freed"] and registry.production_version() == v1
    assert "history.jsonl: line 4 is cut short or not JSON" in caplog.text


def test_registering_on_a_full_disk_leaves_no_half_version_and_the_next_try_succeeds(small_disk, make_candidate):
    registry = Registry(LocalStore(small_disk / "data"), "registry/ds/m", "ds", "m")
    [v1] = register(registry, make_candidate, "a")
    registry.promote(v1, "first")
    before = registry.history()
    candidate = make_candidate("b", C=2.0)  # its files are on another disk
    filler = fill(small_disk)

    with pytest.raises(OSError, match="No space left on device"):
        registry.register(*candidate)
    assert registry.versions() == [v1] and registry.history() == before
    assert [p.name for p in (small_disk / "data" / "registry" / "ds" / "m").iterdir() if p.name.startswith(".tmp")] \
        == []
    filler.unlink()
    assert registry.register(*candidate) == "v0002"
    assert registry.card("v0002")["candidate_id"] == "b" and registry.production_version() == v1
