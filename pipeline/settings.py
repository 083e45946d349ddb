"""The one configuration path: luigi.cfg [pipeline] -> config/pipeline.toml -> task parameters.

pipeline.toml is read once per process: a task hashes the config into its output path when it
is scheduled and uses it again when it runs, and both must see the same file even if someone
edits it in between. Loading is cheap (stdlib only): every `luigi` run, even a no-op, does it.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import tomllib
from functools import lru_cache
from pathlib import Path

import luigi
import luigi.configuration

from pipeline.errors import ConfigError
from pipeline.ml.columns import ENCODINGS, ROLES
from pipeline.ml.gate import ALL_METRICS, GATE_OPTIONS, METRICS
from pipeline.storage import default_cache_dir, is_s3, open_store

DEFAULT_DATASET = "digits"
DEFAULT_MODEL = "logreg"
# The model name of a dataset's deployment when its `models` names several candidates: the best
# of them by cross-validation. Reserved: no [models.best].
SELECTED = "best"
DEFAULT_CV_FOLDS = 5
PROBLEMS = ("classification", "regression", "clustering")
COLUMN_TYPES = ("numeric", "integer", "string", "boolean")
# Names become folder names under data_dir: no separators, no dots, nothing that climbs out.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


class pipeline(luigi.Config):  # noqa: N801  (luigi names a Config class after its cfg section)
    data_dir = luigi.Parameter(default="data", description="artifact root: a local path or s3://bucket/prefix")
    cache_dir = luigi.Parameter(default="", description="local cache for an s3:// data_dir "
                                "(default: ~/.cache/luigi-ml-pipeline)")
    config = luigi.Parameter(default="config/pipeline.toml", description="datasets, models and gates")
    incoming = luigi.Parameter(default="incoming/{dataset}/{date}.csv",
                               description="where BatchPredict's daily input lands (under data_dir unless absolute)")
    incoming_marker = luigi.Parameter(
        default="", description="a file that says an incoming file is complete: '{file}.done', or a name such as "
                                "'_SUCCESS' in its folder (default: none; then settle_seconds applies)")
    settle_seconds = luigi.FloatParameter(
        default=30.0, description="a source or incoming file without a marker counts as arrived once it has not "
                                  "changed for this long")
    transient_attempts = luigi.IntParameter(
        default=4, description="how many times a task is run while it fails on something that may pass (a 5xx, "
                               "a connection refused: pipeline/retry.py); 1: no retries")
    transient_backoff = luigi.FloatParameter(
        default=1.0, description="seconds before the second attempt, doubled before each later one")
    progress_every = luigi.FloatParameter(
        default=30.0, description="seconds between the progress lines a long fit logs when no luigid watches it "
                                  "(with luigid, its status message says the same, refreshed every few seconds)")
    stale_temporaries_after = luigi.FloatParameter(
        default=24 * 3600.0, description="seconds after which a half-written temporary left by another host or "
                                         "container is removed (one of this host's is removed once its writer exits)")

    @classmethod
    def get_param_values(cls, params, args, kwargs):
        if args or kwargs:
            return super().get_param_values(params, args, kwargs)
        return read_once(cls, lambda: super(pipeline, cls).get_param_values(params, args, kwargs))


_READ: dict[type, tuple] = {}


def read_once(section: type[luigi.Config], read):
    """`read()` of a luigi.Config section, kept while the section's entries and the command line
    stay those it was read from. Luigi reads every parameter from luigi.cfg and the command line
    each time a Config is made (a quarter of a millisecond for [pipeline], more for [core]), and a
    run asks for them a few hundred times."""
    from luigi.cmdline_parser import CmdlineParser

    config = luigi.configuration.get_config()
    name = section.get_task_family()
    try:
        if isinstance(config, luigi.configuration.LuigiTomlParser):  # its entries are its own, not ConfigParser's
            entries = tuple(config.data.get(name, {}).items())
        else:
            entries = tuple(config.items(name)) if config.has_section(name) else ()
    except Exception:  # noqa: BLE001 - a parser that cannot list its entries: read it every time, as Luigi does
        return read()
    source = entries, CmdlineParser.get_instance()
    if _READ.get(section, (None,))[0] != source:
        _READ[section] = source, read()
    return _READ[section][1]


def store():
    """The artifact store of data_dir (pipeline/storage)."""
    settings = pipeline()
    return open_store(settings.data_dir, settings.cache_dir, settings.stale_temporaries_after)


def use_private_lock_dir() -> None:
    """Keep Luigi's pid lock in a private folder of this data dir, unless [core] lock_pid_dir says where.

    Luigi's default, /tmp/luigi, is shared by every data dir (two runs with the same command line
    but different configs would hold each other off) and by every local user (one who creates it
    first can plant a symbolic link there for a root cron run to write through). Called when the
    package is imported, before Luigi takes the lock.
    """
    import os
    import stat

    config = luigi.configuration.get_config()
    if config.has_option("core", "lock_pid_dir"):
        return
    settings = pipeline()
    home = Path(settings.cache_dir or default_cache_dir()) if is_s3(settings.data_dir) else Path(settings.data_dir)
    locks = home / ".luigi-locks"
    try:
        locks.mkdir(mode=0o700, parents=True, exist_ok=True)
        found = os.lstat(locks)
    except OSError as exc:
        raise ConfigError(f"[core] lock_pid_dir {locks}: cannot be created: {exc.strerror}") from None
    problem = ("a symbolic link" if stat.S_ISLNK(found.st_mode) else "not a folder" if not stat.S_ISDIR(found.st_mode)
               else f"owned by uid {found.st_uid}, not {os.getuid()}" if found.st_uid != os.getuid() else None)
    if problem:
        raise ConfigError(f"[core] lock_pid_dir {locks}: {problem}; refusing to keep Luigi's pid lock there "
                          "(remove it, or set [core] lock_pid_dir to a private folder)")
    if stat.S_IMODE(found.st_mode) != 0o700:
        os.chmod(locks, 0o700)
    if not config.has_section("core"):
        config.add_section("core")
    config.set("core", "lock_pid_dir", str(locks))


def incoming_location(dataset: str, date) -> str:
    """The file BatchPredict scores for a dataset and day ([pipeline] incoming): a path or s3:// URL."""
    pattern = pipeline().incoming
    try:
        relative = pattern.format(dataset=check_name("dataset", dataset), date=date)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(f"[pipeline] incoming = {pattern!r}: use only {{dataset}} and {{date}} ({exc})") from None
    if is_s3(relative) or Path(relative).is_absolute():
        return relative
    return store().url(relative)


def check_date(date: dt.date) -> dt.date:
    """A run's date: not in the future beyond a day of clock skew (a date like 2099-01-01 would make
    every normal candidate older than production, so nothing would deploy again)."""
    today = dt.date.today()
    if date > today + dt.timedelta(days=1):
        raise ConfigError(f"--date {date} is in the future (today is {today}); a run is dated by the day of its "
                          "data, at most one day ahead of this clock")
    return date


def check_name(kind: str, name: str) -> str:
    if not NAME_PATTERN.fullmatch(name or ""):
        raise ConfigError(f"{kind} name {name!r} is not allowed: use letters, digits, '_' and '-' "
                          "(no path separators, dots or '..')")
    return name


# ---------------------------------------------------------------- schema of pipeline.toml

_NUMBER = (int, float)
_SPLIT = {"test_size": _NUMBER, "seed": int, "stratify": bool}
_CHECKS = {"min_rows": int, "columns": {"*": str}, "max_null_fraction": (float, int, dict),
           "ranges": {"*": {"min": _NUMBER, "max": _NUMBER}}}
_DATASET = {"source": str, "target": str, "problem": str, "sep": str, "na_values": list, "description": str,
            "ready_marker": str, "split": _SPLIT, "checks": _CHECKS, "roles": {"*": str}, "encoding": {"*": str},
            "models": list, "drift": {"max_psi": _NUMBER, "max_unseen": _NUMBER, "max_missing_change": _NUMBER,
                                      "min_rows": int, "refuse": bool},
            "dvc": {"repo": str, "rev": str}}
_MODEL = {"estimator": str, "params": dict, "fit_on": str, "scale": bool, "description": str,
          "grid": {"*": list}, "cv_folds": int, "inductive": {"estimator": str, "params": dict}}
_GATE = {"tolerance": _NUMBER, "compare": str, "*": {"min": _NUMBER, "max": _NUMBER}}
_TOP = {"datasets": {"*": _DATASET}, "models": {"*": _MODEL}, "gates": {"*": _GATE}}
_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
               dict: "a table", list: "a list"}

SPLIT_DEFAULTS = {"test_size": 0.25, "seed": 42, "stratify": True}


def _check(value, schema, where: str, file: str):
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            raise ConfigError(f"{file}: {where}: expected a table, got {value!r}")
        for key, item in value.items():
            if key in schema:
                _check(item, schema[key], f"{where}.{key}" if where else key, file)
            elif "*" in schema:
                _check(item, schema["*"], f"{where}.{key}" if where else key, file)
            else:
                known = ", ".join(k for k in schema if k != "*")
                raise ConfigError(f"{file}: {where + '.' if where else ''}{key}: unknown key (known: {known})")
        return
    types = schema if isinstance(schema, tuple) else (schema,)
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    if not ok:
        expected = " or ".join(dict.fromkeys(_TYPE_NAMES[t] for t in types))
        raise ConfigError(f"{file}: {where}: expected {expected}, got {value!r}")


def _check_drift(drift: dict, where: str) -> None:
    fractions = ("max_unseen", "max_missing_change")
    for key, value in drift.items():
        if key in fractions and not 0 <= value <= 1:
            raise ConfigError(f"{where}.{key}: expected a fraction between 0 and 1, got {value!r}")
        if key in ("max_psi", "min_rows") and value < 0:
            raise ConfigError(f"{where}.{key}: expected a number of at least 0, got {value!r}")


def _validate(doc: dict, file: str) -> dict:
    _check(doc, _TOP, "", file)
    for name, spec in doc.get("datasets", {}).items():
        where = f"{file}: datasets.{name}"
        check_name("dataset", name)
        if "source" not in spec:
            raise ConfigError(f"{where}: 'source' is required")
        problem = spec.get("problem")
        if problem not in PROBLEMS:
            raise ConfigError(f"{where}.problem: expected one of {', '.join(PROBLEMS)}, got {problem!r}")
        if problem != "clustering" and "target" not in spec:
            raise ConfigError(f"{where}: 'target' is required for {problem}")
        size = spec.get("split", {}).get("test_size", SPLIT_DEFAULTS["test_size"])
        if not 0 < size < 1:
            raise ConfigError(f"{where}.split.test_size: expected a fraction between 0 and 1, got {size!r}")
        for column, kind in spec.get("checks", {}).get("columns", {}).items():
            if kind not in COLUMN_TYPES:
                raise ConfigError(f"{where}.checks.columns.{column}: expected one of "
                                  f"{', '.join(COLUMN_TYPES)}, got {kind!r}")
        max_null = spec.get("checks", {}).get("max_null_fraction", 0)
        for column, limit in (max_null.items() if isinstance(max_null, dict) else [("", max_null)]):
            if not isinstance(limit, (int, float)) or not 0 <= limit <= 1:
                raise ConfigError(f"{where}.checks.max_null_fraction{'.' + column if column else ''}: "
                                  f"expected a fraction between 0 and 1, got {limit!r}")
        for column, bounds in spec.get("checks", {}).get("ranges", {}).items():
            _check_bounds(bounds, f"{where}.checks.ranges.{column}")
        if "dvc" in spec and not str(spec["source"]).startswith("dvc:"):
            raise ConfigError(f"{where}.dvc: only for a DVC-tracked source (source = \"dvc:PATH\")")
        if str(spec["source"]).strip() == "dvc:":
            raise ConfigError(f"{where}.source: \"dvc:\" needs the file's path in the DVC repository, "
                              "e.g. \"dvc:data/customers.csv\"")
        _check_drift(spec.get("drift", {}), f"{where}.drift")
        _check_columns(spec, where)
        _check_candidates(spec, doc.get("models", {}), where)
    for name, spec in doc.get("models", {}).items():
        check_name("model", name)
        if name == SELECTED:
            raise ConfigError(f"{file}: models.{name}: the name {SELECTED!r} is reserved for the best of a dataset's "
                              "`models`; pick another")
        if "estimator" not in spec:
            raise ConfigError(f"{file}: models.{name}: 'estimator' is required")
        if spec.get("fit_on", "train") not in ("train", "all"):
            raise ConfigError(f"{file}: models.{name}.fit_on: expected 'train' or 'all', got {spec['fit_on']!r}")
        for param, values in spec.get("grid", {}).items():
            if not values:
                raise ConfigError(f"{file}: models.{name}.grid.{param}: expected at least one value")
        if spec.get("grid") and spec.get("fit_on") == "all":
            raise ConfigError(f"{file}: models.{name}: a grid is searched by cross-validation on the training "
                              "split; it cannot be combined with fit_on = \"all\"")
        if not 2 <= spec.get("cv_folds", 5) <= 20:
            raise ConfigError(f"{file}: models.{name}.cv_folds: expected 2 to 20, got {spec['cv_folds']!r}")
    for name, gate in doc.get("gates", {}).items():
        _check_gate(gate, f"{file}: gates.{name}")
    return doc


def _check_columns(spec: dict, where: str) -> None:
    for key, allowed in (("roles", ROLES), ("encoding", ENCODINGS)):
        for column, value in spec.get(key, {}).items():
            if value not in allowed:
                raise ConfigError(f"{where}.{key}.{column}: expected one of {', '.join(allowed)}, got {value!r}")
    for column in spec.get("encoding", {}):
        if spec.get("roles", {}).get(column, "categorical") != "categorical":
            raise ConfigError(f"{where}.encoding.{column}: the column is declared {spec['roles'][column]}; only "
                              "categorical columns are encoded")
    if spec.get("target") in spec.get("roles", {}):
        raise ConfigError(f"{where}.roles.{spec['target']}: the target column cannot have a role")


def _check_candidates(spec: dict, models: dict, where: str) -> None:
    """A dataset's `models`: known, distinct, and comparable by cross-validation when there are several."""
    names = spec.get("models")
    if names is None:
        return
    if not names or not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
        raise ConfigError(f"{where}.models: expected a list of distinct model names, got {names!r}")
    for name in names:
        if name not in models:
            raise ConfigError(f"{where}.models: no model named {name!r} (known: {', '.join(sorted(models)) or 'none'})")
    if len(names) == 1:
        return
    if spec.get("problem") == "clustering":
        raise ConfigError(f"{where}.models: choosing among models by cross-validation needs a classification or "
                          "regression dataset; name one clustering model")
    for name in names:
        if models[name].get("fit_on") == "all":
            raise ConfigError(f"{where}.models: {name} has fit_on = \"all\"; candidates are compared by "
                              "cross-validation on the training split")
    folds = {models[n].get("cv_folds", DEFAULT_CV_FOLDS) for n in names}
    if len(folds) > 1:
        raise ConfigError(f"{where}.models: the candidates' cv_folds differ ({sorted(folds)}); they are compared on "
                          "the same folds")


def _check_gate(gate: dict, where: str) -> None:
    known = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in METRICS.items())
    if gate.get("compare", "accuracy") not in ALL_METRICS:
        raise ConfigError(f"{where}.compare: unknown metric {gate['compare']!r} (known: {known})")
    for metric, bounds in gate.items():
        if metric in GATE_OPTIONS:
            continue
        if metric not in ALL_METRICS:
            raise ConfigError(f"{where}: unknown metric {metric!r} (known: {known})")
        _check_bounds(bounds, f"{where}.{metric}")


def _check_bounds(bounds: dict, where: str) -> None:
    if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
        raise ConfigError(f"{where}: min {bounds['min']} is above max {bounds['max']}")


@lru_cache(maxsize=8)
def _load(path: str) -> dict:
    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found (set [pipeline] config in luigi.cfg)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return _validate(doc, path)


def load_config() -> dict:
    return _load(pipeline().config)


def _lookup(section: str, name: str) -> dict:
    check_name(section.rstrip("s"), name)
    entries = load_config().get(section, {})
    if name not in entries:
        raise ConfigError(f"{pipeline().config}: no {section.rstrip('s')} named {name!r}{did_you_mean(name, entries)}")
    return entries[name]


def did_you_mean(name: str, known) -> str:
    """"; did you mean 'digits'? (known: ...)" for a mistyped name."""
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{hint} (known: {', '.join(sorted(known)) or 'none'})"


def drift_limits(name: str) -> dict:
    """A dataset's `drift` limits over the defaults (pipeline/ml/drift.py)."""
    from pipeline.ml.drift import LIMITS

    return {**LIMITS, **_lookup("datasets", name).get("drift", {})}


def dataset_spec(name: str) -> dict:
    spec = dict(_lookup("datasets", name))
    spec.pop("description", None)  # words, not settings: editing them re-runs nothing
    spec.pop("drift", None)  # watched beside the runs (drift_limits), never shapes an output
    spec["split"] = {**SPLIT_DEFAULTS, **spec.get("split", {})}
    spec.setdefault("checks", {})
    spec.setdefault("target", None)
    for key in ("roles", "encoding"):  # absent and empty shape the same outputs
        if not spec.get(key):
            spec.pop(key, None)
    return spec


def default_model(dataset: str) -> str:
    """The model a dataset is deployed with when no --model is given: its one `models` entry, the
    best of several (SELECTED), or DEFAULT_MODEL for a dataset that names none."""
    names = dataset_spec(dataset).get("models") or [DEFAULT_MODEL]
    return names[0] if len(names) == 1 else SELECTED


def deployments() -> list[str]:
    """The datasets that name their `models`: what TrainValidateDeployAll runs."""
    return [name for name, spec in load_config().get("datasets", {}).items() if spec.get("models")]


def selection_spec(dataset: str) -> dict:
    """The spec of a dataset's SELECTED model: every candidate's spec, compared on the training split."""
    names = dataset_spec(dataset).get("models") or []
    if len(names) < 2:
        raise ConfigError(f"{pipeline().config}: datasets.{dataset}.models names {len(names)} model(s); "
                          f"--model {SELECTED} chooses among two or more")
    candidates = {name: model_spec(name) for name in names}
    folds = next(iter(candidates.values())).get("cv_folds", DEFAULT_CV_FOLDS)
    return {"select": candidates, "fit_on": "train", "cv_folds": folds, "params": {}}


def model_spec(name: str) -> dict:
    spec = dict(_lookup("models", name))
    spec.pop("description", None)
    spec.setdefault("params", {})
    spec.setdefault("fit_on", "train")
    if spec.get("grid"):
        spec.setdefault("cv_folds", 5)
    return spec


def gate_spec(dataset: str, model: str) -> dict:
    """The dataset+model gate when one is configured, else the dataset's, else no floors."""
    gates = load_config().get("gates", {})
    return gates.get(f"{dataset}.{model}", gates.get(dataset, {}))


def short_hash(obj) -> str:
    """A stable 10-hex-digit digest of JSON-able config, used in output paths."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]
