"""Frames in, facts out: fingerprints and the data checks behind ValidateData."""
from __future__ import annotations

import hashlib
import math

import numpy as np
import pandas as pd

# A text column whose values are nearly all numbers is a numeric column with a stray marker
# ("n.a.", "-", "?") that would otherwise be one-hot encoded, silently.
NUMERIC_TEXT_SHARE = 0.95


# Larger magnitudes overflow float64 when squared (variances, scaling): refused as not finite.
MAX_ABS = 1e150


def fingerprint_frame(frame: pd.DataFrame) -> str:
    """sha256 of a frame's content: column names, dtypes and values, not the file it came from."""
    digest = hashlib.sha256()
    digest.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """One uint64 per row, from its values: the same row hashes the same on any day."""
    return pd.util.hash_pandas_object(frame, index=False).to_numpy()


def unseen_rows(frame: pd.DataFrame, seen: np.ndarray) -> pd.DataFrame:
    """The rows of `frame` whose hash is not in `seen` (rows some model was not fitted on)."""
    return frame[~np.isin(row_hashes(frame), seen)]


def duplicate_columns(columns) -> list[str]:
    seen, dups = set(), []
    for name in columns:
        if name in seen and name not in dups:
            dups.append(name)
        seen.add(name)
    return dups


def drop_missing_target(frame: pd.DataFrame, target: str | None, problem: str | None = None) -> pd.DataFrame:
    """Rows whose target is missing cannot be learned from; ValidateData counts them.

    The index (each row's position in the snapshot) is kept, so splits can be traced back.
    Integer class labels that a gap turned into floats (1 -> 1.0) are integers again.
    """
    if not target or target not in frame.columns:
        return frame
    kept = frame[frame[target].notna()]
    labels = kept[target]
    if problem == "classification" and pd.api.types.is_float_dtype(labels) and len(labels):
        values = labels.to_numpy()
        if bool(np.isfinite(values).all() and (np.abs(values) < 2 ** 53).all() and (values == np.floor(values)).all()):
            kept = kept.assign(**{target: labels.astype("int64")})
    return kept


def _column_summary(series: pd.Series) -> dict:
    summary = {
        "dtype": str(series.dtype),
        "nulls": int(series.isna().sum()),
        "null_fraction": round(float(series.isna().mean()), 6) if len(series) else 0.0,
        "unique": int(series.nunique(dropna=True)),
    }
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        values = series.dropna()
        if len(values):
            summary["min"] = plain(values.min())
            summary["max"] = plain(values.max())
    return summary


def plain(value):
    """A numpy scalar as a plain Python value; non-finite floats as text (for JSON reports)."""
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _type_ok(series: pd.Series, expected: str) -> bool:
    if expected == "boolean":
        return pd.api.types.is_bool_dtype(series)
    if expected == "string":
        return _is_text(series)
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    if expected == "integer":
        values = series.dropna()
        return numeric and bool((values == np.floor(values)).all())
    return numeric


def _examples(series: pd.Series, mask: pd.Series, n: int = 3) -> str:
    return ", ".join(repr(v) for v in series[mask].head(n).tolist())


# A class is a strong minority below this share of the rows and below half of an even share.
MINORITY_SHARE = 0.10


def validate_frame(frame: pd.DataFrame, *, target: str | None, problem: str, checks: dict,
                   roles: dict | None = None, encoding: dict | None = None) -> dict:
    """Check a frame against the always-on rules, the declared column `roles` and `encoding`, and `checks`.

    Returns a report; `report["violations"]` lists what failed as {column, rule, detail}, and
    `report["warnings"]` what passed but deserves a look (a strong class imbalance).
    """
    violations: list[dict] = []

    def fail(column, rule, detail):
        violations.append({"column": column, "rule": rule, "detail": detail})

    for name in duplicate_columns(frame.columns):
        fail(name, "unique_columns", "the column name appears more than once")
    if frame.shape[1] == 0:
        fail(None, "not_empty", "no columns")
    if len(frame) == 0:
        fail(None, "not_empty", "no rows")

    missing_target = 0
    if target and not violations:
        if target not in frame.columns:
            fail(target, "target_present", f"target column not found (columns: {name_list(frame.columns)})")
        else:
            missing_target = int(frame[target].isna().sum())

    usable = drop_missing_target(frame, target, problem) if not violations else frame
    if not violations and len(usable) == 0:
        fail(target, "not_empty", "every row has a missing target")

    if not violations:
        _check_values(usable, target, problem, checks, fail)
        _check_roles(usable, target, roles or {}, fail)
        _check_encoding(usable, roles or {}, encoding or {}, fail)

    report = {
        "rows": int(len(frame)),
        "columns": int(frame.shape[1]),
        "rows_dropped_missing_target": missing_target,
        "rows_usable": int(len(usable)),
        "target": target,
        "problem": problem,
        "checks": checks,
        # frame[name] is a frame, not a column, when the name is duplicated
        "column_summary": {} if duplicate_columns(frame.columns) else
        {str(c): _column_summary(frame[c]) for c in frame.columns},
        "violations": violations,
        "warnings": [],
        "passed": not violations,
    }
    if target and target in frame.columns and problem == "classification" and not violations:
        counts = usable[target].value_counts()
        report["class_counts"] = {str(k): int(v) for k, v in counts.items()}
        report["warnings"] += class_imbalance(counts)
    return report


def class_imbalance(counts: pd.Series) -> list[str]:
    """A warning when the rarest class is a strong minority: accuracy then rewards ignoring it."""
    share = counts / counts.sum()
    rarest, common = share.idxmin(), share.idxmax()
    if share[rarest] >= min(MINORITY_SHARE, 0.5 / len(counts)):
        return []
    return [f"class imbalance: class {plain(rarest)!r} is {share[rarest]:.1%} of {int(counts.sum())} rows "
            f"({plain(common)!r}: {share[common]:.1%}); always predicting {plain(common)!r} scores accuracy "
            f"{share[common]:.3f}, so compare on balanced_accuracy or roc_auc, not accuracy (and consider "
            'class_weight = "balanced" in the model\'s params)']


def _check_encoding(frame, roles, encoding, fail):
    from pipeline.ml.features import column_kind

    for column in encoding:
        if column not in frame.columns:
            fail(column, "encoding", f"column named in encoding is missing (columns: {name_list(frame.columns)})")
        elif (kind := column_kind(frame[column], roles.get(column))) != "categorical":
            fail(column, "encoding", f"only categorical columns are encoded, and this one is {kind} "
                 f'(declare roles.{column} = "categorical" to encode it)')


def _check_roles(frame, target, roles, fail):
    from pipeline.ml.features import as_timestamps

    for column, role in roles.items():
        if column not in frame.columns:
            fail(column, "role", f"declared {role} column is missing (columns: {name_list(frame.columns)})")
            continue
        if column == target:
            fail(column, "role", f"the target cannot also be declared {role}")
            continue
        series = frame[column]
        if role == "numeric" and not (_type_ok(series, "numeric") or pd.api.types.is_bool_dtype(series)):
            bad = pd.to_numeric(series, errors="coerce").isna() & series.notna()
            if bad.any():
                fail(column, "role", f"declared numeric, but {int(bad.sum())} value(s) are not numbers "
                     f"(e.g. {_examples(series, bad)})")
        elif role == "date":
            bad = as_timestamps(series).isna() & series.notna()
            if bad.any():
                fail(column, "role", f"declared date, but {int(bad.sum())} value(s) are not dates "
                     f"(e.g. {_examples(series, pd.Series(bad.to_numpy(), index=series.index))})")


def _check_values(frame, target, problem, checks, fail):
    for column in frame.columns:
        series = frame[column]
        if series.isna().all():
            fail(column, "not_all_null", "every value is missing")
        elif pd.api.types.is_float_dtype(series):
            values = series.to_numpy(dtype="float64", na_value=np.nan)
            inf, huge = np.isinf(values), np.abs(values) > MAX_ABS
            if inf.any():
                fail(column, "finite", f"{int(inf.sum())} infinite value(s)")
            elif huge.any():
                fail(column, "finite", f"{int(huge.sum())} value(s) beyond ±{MAX_ABS:g} "
                     f"(e.g. {_examples(series, pd.Series(huge, index=series.index))}); squaring them overflows")
        elif column != target and _is_text(series):
            _check_numeric_text(column, series, fail)

    if problem == "classification" and target:
        n_classes = frame[target].nunique()
        if n_classes < 2:
            fail(target, "min_classes", f"{n_classes} class(es); classification needs at least 2")
    if problem == "regression" and target and not _type_ok(frame[target], "numeric"):
        fail(target, "numeric_target", f"regression needs a numeric target, found {frame[target].dtype} "
             f"(e.g. {_examples(frame[target], frame[target].notna())})")

    min_rows = checks.get("min_rows")
    if min_rows is not None and len(frame) < min_rows:
        fail(None, "min_rows", f"{len(frame)} usable rows, at least {min_rows} required")

    for column, expected in checks.get("columns", {}).items():
        if column not in frame.columns:
            fail(column, "required_column", "declared column is missing")
        elif not _type_ok(frame[column], expected):
            series = frame[column]
            bad = pd.to_numeric(series, errors="coerce").isna() & series.notna()
            example = f" (e.g. {_examples(series, bad)})" if expected in ("numeric", "integer") and bad.any() else ""
            fail(column, "type", f"expected {expected}, found {series.dtype}{example}")

    max_null = checks.get("max_null_fraction")
    if max_null is not None:
        limits = max_null if isinstance(max_null, dict) else {c: max_null for c in frame.columns}
        for column, limit in limits.items():
            if column not in frame.columns:
                fail(column, "max_null_fraction", "declared column is missing")
                continue
            fraction = float(frame[column].isna().mean())
            if fraction > limit:
                fail(column, "max_null_fraction", f"{fraction:.3f} of values are missing, at most {limit} allowed")

    for column, bounds in checks.get("ranges", {}).items():
        if column not in frame.columns:
            fail(column, "range", "declared column is missing")
            continue
        values = pd.to_numeric(frame[column], errors="coerce")
        low, high = bounds.get("min"), bounds.get("max")
        below = int((values < low).sum()) if low is not None else 0
        above = int((values > high).sum()) if high is not None else 0
        if below or above:
            fail(column, "range", f"{below + above} value(s) outside [{low}, {high}]"
                 f" (min {plain(values.min())}, max {plain(values.max())})")


def _is_text(series: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(series) or pd.api.types.is_object_dtype(series)


def _check_numeric_text(column, series, fail):
    values = series.dropna()
    try:
        counts = values.value_counts()  # each distinct value once: a million rows are a few thousand values
    except TypeError:  # unhashable values (lists from a nested Parquet column): as text
        values = values.astype(str)
        counts = values.value_counts()
    stray = pd.to_numeric(counts.index.astype(str), errors="coerce").isna()
    present, not_numbers = int(counts.sum()), int(counts[stray].sum())
    if present and not_numbers and 1 - not_numbers / present >= NUMERIC_TEXT_SHARE:
        fail(column, "numeric_text", f"{not_numbers} of {present} values are not numbers "
             f"(e.g. {_examples(values, values.isin(counts.index[stray]))}); list them in the dataset's na_values "
             "or fix the source")


def describe_violations(dataset: str, violations: list[dict]) -> str:
    """One line naming the dataset, each column and rule that failed."""
    parts = []
    for v in violations:
        where = f"column '{v['column']}'" if v["column"] is not None else "table"
        parts.append(f"{where}: {v['rule']}: {v['detail']}")
    return f"dataset '{dataset}': " + "; ".join(parts)


def name_list(names, limit: int = 8) -> str:
    names = [str(n) for n in names]
    more = f", ... ({len(names)} in all)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def split_frame(frame: pd.DataFrame, *, target: str | None, problem: str, test_size: float, seed: int,
                stratify: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train/test split with a fixed seed, stratified for classification when every class can be.

    Both parts keep the input's index, so every row's source position survives the split.
    """
    from sklearn.model_selection import train_test_split

    labels = None
    if stratify and problem == "classification" and target:
        counts = frame[target].value_counts()
        n_test = math.ceil(test_size * len(frame))
        # sklearn can stratify only when each split has room for one row of every class
        if counts.min() >= 2 and min(n_test, len(frame) - n_test) >= len(counts):
            labels = frame[target]
    train, test = train_test_split(frame, test_size=test_size, random_state=seed, stratify=labels)
    return train, test


def xy(frame: pd.DataFrame, target: str | None, roles: dict | None = None) -> tuple[pd.DataFrame, pd.Series | None]:
    """Features (without the `drop` and `id` role columns) and target; the target is None for
    unlabelled clustering data."""
    from pipeline.ml.features import feature_columns

    X = frame[feature_columns(frame.columns, target, roles)]
    return X, (frame[target] if target and target in frame.columns else None)
