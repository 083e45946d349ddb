"""The model registry: immutable versions, a production pointer, an append-only history.

    registry/<dataset>/<model>/
        v0001/  model.joblib  card.json  train_rows.npy  manifest.json   (never changed once written)
        production.json                                    (replaced in one write, under the lock)
        history.jsonl                                      (one event a line, appended)
        .lock

Persistence and model loading only: what to promote is decided in pipeline/ml/gate.py and
carried out by pipeline/deployment.py. The same on local disk and on S3 (pipeline/storage):
there the lock is a lease object and production.json is written only if it still holds what
the writer read, so two concurrent promotions cannot interleave even if a lease runs out.
Every model load goes through `load_model`, which refuses a file whose sha256 differs from the
one recorded when it was trained. Every change a person should hear about (promoted, rejected,
rolled back) is recorded by `_record`, which also sends its alert.
"""
from __future__ import annotations

import contextlib
import json
import logging
import re
import shutil
from pathlib import Path

from pipeline import notify
from pipeline.artifacts import ArtifactDir
from pipeline.errors import ConcurrentUpdate, RegistryError
from pipeline.formats import dump_json, json_line, now, write_json
from pipeline.settings import check_name, store
from pipeline.storage import MANIFEST, Store, check_sha256, join

MODEL_FILE = "model.joblib"
CARD_FILE = "card.json"
TRAIN_ROWS_FILE = "train_rows.npy"  # a hash of each training row, for the gate's comparison rows
POINTER = "production.json"
HISTORY = "history.jsonl"
VERSION_PATTERN = re.compile(r"v\d{4,}")
ALERTED = ("promoted", "rejected", "rolled_back")
DAMAGED_VERSION = ("registry versions are never rewritten: roll back to another version, or let the next run "
                   "deploy a new one")

logger = logging.getLogger("pipeline")
_reported: set[tuple[str, int]] = set()  # torn history lines already reported by this process


def load_model(path: Path, expected_sha256: str):
    """Load a joblib model only if its bytes are the ones its card recorded."""
    import joblib

    check_sha256(path, expected_sha256, name=str(path), recorded_in="card", refusing="to load a changed model")
    return joblib.load(path)


def load_trained(model_dir: ArtifactDir):
    """(model, card) of a TrainModel output, the model checked against its manifest and its card."""
    card = model_dir.read_json(CARD_FILE)
    return load_model(model_dir.file(MODEL_FILE, refusing="to load a changed model"), card["model_sha256"]), card


class Registry:
    """One dataset/model's registry. `task_id`: the task acting on it, linked from its alerts."""

    def __init__(self, store: Store, key: str, dataset: str, model: str, *, task_id: str | None = None):
        self.store, self.key, self.dataset, self.model, self.task_id = store, key, dataset, model, task_id
        self._lock_depth = 0

    @classmethod
    def for_model(cls, dataset: str, model: str, *, task_id: str | None = None) -> Registry:
        check_name("dataset", dataset)
        check_name("model", model)
        return cls(store(), join("registry", dataset, model), dataset, model, task_id=task_id)

    @classmethod
    def all(cls, dataset: str | None = None, model: str | None = None) -> list[Registry]:
        """Every registry in data_dir, or those of one dataset and/or model."""
        for kind, name in (("dataset", dataset), ("model", model)):
            if name is not None:
                check_name(kind, name)
        if dataset and model:
            return [cls.for_model(dataset, model)]
        artifacts = store()
        return [cls.for_model(d, m) for d in artifacts.children("registry") if dataset in (None, d)
                for m in artifacts.children(join("registry", d)) if model in (None, m)]

    def __str__(self) -> str:
        return f"{self.dataset}/{self.model}"

    def require(self) -> None:
        """RegistryError unless something was ever deployed here."""
        if not self.store.keys(self.key):
            raise RegistryError(f"{self}: no such registry (nothing was ever deployed for it)")

    def _at(self, name: str) -> str:
        return join(self.key, name)

    def version_dir(self, version: str) -> ArtifactDir:
        return ArtifactDir(self.store, self._at(version), remedy=DAMAGED_VERSION)

    # ---------------------------------------------------------------- reading

    def versions(self) -> list[str]:
        committed = (key[len(self.key) + 1:].split("/") for key in self.store.keys(self.key))
        return sorted(parts[0] for parts in committed
                      if len(parts) == 2 and parts[1] == MANIFEST and VERSION_PATTERN.fullmatch(parts[0]))

    def card(self, version: str) -> dict:
        """A version's card, checked against the version's manifest."""
        if not VERSION_PATTERN.fullmatch(version) or not self.version_dir(version).exists():
            known = ", ".join(self.versions()) or "none"
            raise RegistryError(f"{self}: no version {version!r} (versions: {known})")
        return self.version_dir(version).read_json(CARD_FILE)

    def production(self) -> dict | None:
        """The production pointer: version (None once the only live version was rolled back),
        the stack of earlier versions, and the event that set it."""
        data, _ = self.store.read_versioned(self._at(POINTER))
        return None if data is None else self._pointer(data)

    def _pointer(self, data: bytes) -> dict:
        """A production.json's content, or RegistryError naming what is wrong and the way out."""
        try:
            pointer = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            problem = "empty" if not data.strip() else f"not JSON: {exc}"
        else:
            problem = ("not a JSON object" if not isinstance(pointer, dict) else
                       "no 'version'" if "version" not in pointer else
                       "no list of 'previous' versions" if not isinstance(pointer.get("previous"), list) else None)
            if problem is None:
                return pointer
        raise RegistryError(f"{self.store.url(self._at(POINTER))}: damaged ({problem}); rebuild it from the history: "
                            f"python -m pipeline registry repair --dataset {self.dataset} --model {self.model}")

    def production_version(self) -> str | None:
        pointer = self.production()
        return pointer["version"] if pointer else None

    def history(self) -> list[dict]:
        """Every event, oldest first. A line cut short (a kill or a full disk in the middle of an
        append) is skipped and reported once; appends always start on a fresh line after it."""
        text = self.store.read_text(self._at(HISTORY))
        events = []
        for number, line in enumerate((text or "").splitlines(), 1):
            try:
                event = json.loads(line)
                if isinstance(event, dict) and "event" in event:
                    events.append(event)
                    continue
            except json.JSONDecodeError:
                pass
            if line.strip() and (self.store.url(self._at(HISTORY)), number) not in _reported:
                _reported.add((self.store.url(self._at(HISTORY)), number))
                logger.warning("%s: line %d is cut short or not JSON (a write was interrupted); skipped",
                               self.store.url(self._at(HISTORY)), number)
        return events

    def history_of(self, version: str) -> list[dict]:
        """The events that changed a version's state: its own, and those that took it out of production."""
        return [e for e in self.history() if e.get("version") == version
                or (e["event"] in ("promoted", "rolled_back") and e.get("previous") == version)]

    def statuses(self) -> dict[str, str]:
        """Each version's state: production, rejected, retired (was live), smoke_failed, or registered."""
        status = {version: "registered" for version in self.versions()}
        for event in self.history():
            if event["event"] == "rejected":
                status[event["version"]] = "rejected"
            elif event["event"] in ("promoted", "rolled_back") and event["version"]:
                status[event["version"]] = "retired"
            if event["event"] == "rolled_back" and event.get("cause") == "smoke_test":
                status[event["previous"]] = "smoke_failed"
        live = self.production_version()
        if live:
            status[live] = "production"
        return status

    def rejection(self, version: str) -> list[str] | None:
        """The gate's reasons, if it ever rejected `version`."""
        return next((e["reasons"] for e in reversed(self.history())
                     if e["event"] == "rejected" and e.get("version") == version), None)

    def smoke_failure(self, version: str) -> str | None:
        """Why `version` was rolled back after a failed smoke test, if it ever was."""
        for event in reversed(self.history()):
            if event["event"] == "rolled_back" and event.get("cause") == "smoke_test" \
                    and event.get("previous") == version:
                return event["reason"]
        return None

    def load(self, version: str):
        card = self.card(version)
        model_file = self.version_dir(version).file(MODEL_FILE, refusing="to load a changed model")
        return load_model(model_file, card["model_sha256"])

    def load_production(self):
        """(version, model, card) of the live model; RegistryError when none is live."""
        version = self.production_version()
        if version is None:
            raise RegistryError(f"{self}: no production model yet (run TrainValidateDeploy first)")
        return version, self.load(version), self.card(version)

    def train_rows(self, version: str):
        """Hashes of the rows a version was fitted on (None for versions registered without them)."""
        import numpy as np

        directory = self.version_dir(version)
        if not directory.listed(TRAIN_ROWS_FILE):
            return None
        return np.load(directory / TRAIN_ROWS_FILE)

    # ---------------------------------------------------------------- writing

    @contextlib.contextmanager
    def locked(self, create: bool = False):
        """Hold the registry's lock; re-entrant, so a deployment can hold it across several writes."""
        if self._lock_depth:
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        if not create:
            self.require()
        with self.store.lock(self._at(".lock")):
            self._lock_depth = 1
            try:
                yield
            finally:
                self._lock_depth = 0

    def register(self, model_dir: ArtifactDir, card: dict) -> str:
        """Add a version holding a trained model's files, or return the one it already has.

        A version is its model bytes: a re-run after a crash, or a model reused on unchanged data,
        finds the version it already has; a model retrained under the same candidate id (after
        `invalidate`, say) is a new version.
        """
        # a model changed since training must not become an immutable version
        check_sha256(model_dir.file(MODEL_FILE, refusing="to register a changed model"), card["model_sha256"],
                     name=f"{model_dir.url}/{MODEL_FILE}", recorded_in="card", refusing="to register a changed model")
        with self.locked(create=True):
            self._reconcile()
            for version in self.versions():
                if self.card(version)["model_sha256"] == card["model_sha256"]:
                    return version
            for _ in range(10):
                # numbered past every version there is or ever was: a leftover of a commit a crash cut
                # short, and a version whose directory was deleted by hand (its number stays taken)
                names = self.store.children(self.key) + [e["version"] for e in self.history() if e.get("version")]
                numbers = [int(name[1:]) for name in names if VERSION_PATTERN.fullmatch(name)]
                version = f"v{max(numbers, default=0) + 1:04d}"
                try:
                    with self.version_dir(version).staging(exclusive=True) as tmp:
                        for name in (MODEL_FILE, TRAIN_ROWS_FILE):
                            if model_dir.listed(name):
                                shutil.copyfile(model_dir / name, tmp / name)
                        write_json(tmp / CARD_FILE, {**card, "version": version, "registered_at": now()})
                except ConcurrentUpdate:
                    continue  # another writer (whose lock lease ran out) took this number: take the next
                self._record({"event": "registered", "version": version, "candidate_id": card["candidate_id"]})
                return version
            raise RegistryError(f"{self}: could not number a new version; too many concurrent writers")

    def promote(self, version: str, reason: str) -> None:
        with self.locked():
            self._reconcile()
            self.load(version)  # never point production at a model that does not load
            pointer = self.production()
            current = pointer["version"] if pointer else None
            if current == version:
                return
            self._set_production({"event": "promoted", "version": version, "previous": current, "reason": reason},
                                 replacing=pointer)

    def reject(self, version: str, reasons: list[str]) -> None:
        with self.locked():
            self._reconcile()
            last = next((e for e in reversed(self.history()) if e.get("version") == version), None)
            if last and last["event"] == "rejected" and last["reasons"] == reasons:
                return  # a re-run after a crash: already recorded
            self._record({"event": "rejected", "version": version, "reasons": reasons})

    def rollback(self, reason: str, to: str | None = None) -> str:
        """Make the previous production version (or `to`) live again; return it."""
        with self.locked():
            self._reconcile()
            pointer = self.production()
            if pointer is None or pointer["version"] is None:
                raise RegistryError(f"{self}: nothing is in production; nothing to roll back")
            stack = pointer["previous"]
            if to is None:
                if not stack:
                    raise RegistryError(f"{self}: {pointer['version']} is the first production version; "
                                        "there is no earlier one to roll back to")
                to = stack[-1]
            if to == pointer["version"]:
                raise RegistryError(f"{self}: {to} is already in production")
            self.load(to)
            self._set_production({"event": "rolled_back", "version": to, "previous": pointer["version"],
                                  "reason": reason}, replacing=pointer)
            return to

    def retract(self, version: str, reason: str) -> str | None:
        """Take `version` out of production after a failed smoke test; return what is live now.

        Production goes back to the version before it, or to none if it was the first.
        """
        with self.locked():
            self._reconcile()
            pointer = self.production()
            if pointer is None or pointer["version"] != version:
                return self.production_version()
            to = pointer["previous"][-1] if pointer["previous"] else None
            self._set_production({"event": "rolled_back", "version": to, "previous": version,
                                  "reason": reason, "cause": "smoke_test"}, replacing=pointer)
            return to

    def repair(self) -> dict | None:
        """Rebuild production.json from history.jsonl (after it was damaged); return the new pointer."""
        with self.locked():
            pointer = replay(self.history())
            self.store.write_bytes(self._at(POINTER), dump_json(pointer or {"version": None, "previous": []}))
            return pointer

    def _set_production(self, event: dict, *, replacing: dict | None) -> None:
        """Replace production.json in one write, then record the event that changed it.

        The write happens only if the pointer is still `replacing`, the one this change was
        decided on (else ConcurrentUpdate, and nothing changes). The pointer carries its own
        event, so a crash between the two writes is repaired by `_reconcile` on the next
        registry write: the history line is never lost or doubled.
        """
        event = {**event, "at": now()}
        current, token = self.store.read_versioned(self._at(POINTER))
        if (self._pointer(current) if current is not None else None) != replacing:
            raise ConcurrentUpdate(f"{self.store.url(self._at(POINTER))}: changed by another writer; not overwritten")
        self.store.compare_and_swap(self._at(POINTER), dump_json(pointer_after(replacing, event)), token)
        self._record(event)

    def _reconcile(self) -> None:
        """Record what a crash between a write and its history line left unrecorded (under the lock)."""
        history = self.history()
        registered = {e["version"] for e in history if e["event"] == "registered"}
        for version in self.versions():
            if version not in registered:
                card = self.version_dir(version).read_json(CARD_FILE)
                self._record({"event": "registered", "version": version, "candidate_id": card["candidate_id"],
                              "at": card["registered_at"]})
        pointer = self.production()
        if pointer and pointer.get("event"):
            logged = [e for e in history if e["event"] in ("promoted", "rolled_back")]
            if not logged or logged[-1].get("at") != pointer["event"]["at"] \
                    or logged[-1]["version"] != pointer["version"]:
                self._record(pointer["event"])

    def _record(self, event: dict) -> None:
        """Append an event to the history; alert the ones a person should hear about."""
        self._append(event)
        if event["event"] in ALERTED:
            previous = self.production_version() if event["event"] == "rejected" else event.get("previous")
            notify.registry_event(self, event["event"], event["version"], previous=previous,
                                  reasons=event.get("reasons") or [event["reason"]], task_id=self.task_id)

    def _append(self, event: dict) -> None:
        self.store.append(self._at(HISTORY), json_line({"at": now(), "dataset": self.dataset, "model": self.model,
                                                        **event}))


def pointer_after(pointer: dict | None, event: dict) -> dict:
    """The production pointer after a promoted or rolled_back event (the one place the stack of
    earlier versions changes, for the registry's writes and for `replay`)."""
    stack = list(pointer["previous"]) if pointer else []
    live = pointer["version"] if pointer else None
    to = event["version"]
    if event["event"] == "promoted":
        stack = [*stack, live] if live else stack
    elif to is None:  # the only live version taken out (a failed smoke test)
        stack = stack[:-1]
    elif to in stack:  # back to an earlier version: forget what was live after it last was
        stack = stack[:len(stack) - 1 - stack[::-1].index(to)]
    else:  # forward to a version that is not on the stack: the one it replaces is the way back
        stack = [*stack, live] if live else stack
    return {"version": to, "previous": stack, "since": event["at"], "reason": event["reason"], "event": event}


def replay(events: list[dict]) -> dict | None:
    """The production pointer that a history's promoted and rolled_back events lead to."""
    pointer = None
    for event in events:
        if event["event"] in ("promoted", "rolled_back"):
            pointer = pointer_after(pointer, event)
    return pointer
