"""Drift: how far new rows are from the rows a model was trained on, per feature.

A model's card keeps a profile of its training rows (`profile`): for a numeric feature the
shares of ten quantile bins; for a categorical one the shares of its nine most frequent
categories and of all the others together, and every category it had (up to 10,000); the
missing rate and the dtype of each. New rows are compared with it (`compare`):

- the population stability index, PSI = sum((new - old) * ln(new / old)) over those ten bins:
  under 0.1 is stable, over 0.25 a shift (ten bins for every feature keep its noise alike);
- the share of rows with a category the training rows never had;
- the change in the missing rate, in points.

`problems` names what exceeds the dataset's `drift` limits. Numpy does the work; nothing here
reads files or config.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

BINS = 10
MAX_KNOWN = 10_000  # categories remembered to tell an unseen one; past that, unseen is not measured
OTHER = "(other)"  # the categories past the most frequent BINS - 1, and any the training rows never had
EPSILON = 1e-4  # an empty bin's share, so that ln() stays finite
# PSI of a sample of n rows is noisy, about (bins - 1) / n even without drift: fewer than
# min_rows rows are not judged on it (unseen categories and missing rates still are)
LIMITS = {"max_psi": 0.25, "max_unseen": 0.1, "max_missing_change": 0.1, "min_rows": 200, "refuse": False}


def profile(X: pd.DataFrame, kinds: dict[str, str]) -> dict:
    """The training rows' profile, per feature (a date keeps only its dtype: it is not compared)."""
    dtypes = dict(zip(X.columns, X.dtypes))
    present = {name: kind for name, kind in kinds.items() if name in dtypes}
    found = _plain_numbers_profile(X, [name for name, kind in present.items()
                                       if kind == "numeric" and dtypes[name].kind in PLAIN_NUMBERS], dtypes)
    for name, kind in present.items():
        if name not in found:
            found[name] = _numbers_profile(X[name]) if kind == "numeric" else _profile(X[name], kind)
    return {name: found[name] for name in present}


PLAIN_NUMBERS = "biuf"  # numpy's bool, integer and float dtypes: no missing value but NaN
BLOCK_CELLS = 2_000_000  # numbers profiled at a time: many columns at once, and the copy stays small


def _plain_numbers_profile(X: pd.DataFrame, names: list[str], dtypes: dict) -> dict:
    """_numbers_profile of each column of plain numbers without a missing value, the quantiles
    computed for a block of columns at once (a column with a missing value is left out)."""
    found, step = {}, max(1, BLOCK_CELLS // max(len(X), 1))
    for start in range(0, len(names) if len(X) else 0, step):
        block = X[names[start:start + step]].to_numpy(dtype=float)
        whole = ~np.isnan(block).any(axis=0)
        block = block if whole.all() else block[:, whole]
        edges = np.quantile(block, np.linspace(0, 1, BINS + 1)[1:-1], axis=0)
        for j, name in enumerate([name for name, kept in zip(names[start:start + step], whole) if kept]):
            cuts = np.unique(edges[:, j])
            found[name] = {"kind": "numeric", "dtype": str(dtypes[name]), "missing": 0.0,
                           "edges": cuts.tolist(), "shares": _bin_shares(block[:, j], cuts).tolist()}
    return found


def _numbers_profile(column: pd.Series) -> dict:
    values = pd.to_numeric(column, errors="coerce").dropna().to_numpy(dtype=float)
    edges = np.unique(np.quantile(values, np.linspace(0, 1, BINS + 1)[1:-1])) if len(values) else np.array([])
    return {**_profile(column, "numeric"), "edges": edges.tolist(), "shares": _bin_shares(values, edges).tolist()}


def _profile(column: pd.Series, kind: str) -> dict:
    entry = {"kind": kind, "dtype": str(column.dtype), "missing": float(column.isna().mean()) if len(column) else 0.0}
    if kind not in ("numeric", "date"):
        counts = _label_counts(column)
        kept = (counts.head(BINS - 1) / max(counts.sum(), 1)).to_dict()
        entry |= {"shares": {**kept, OTHER: 1.0 - sum(kept.values()) if len(counts) > len(kept) else 0.0},
                  "known": sorted(counts.index) if len(counts) <= MAX_KNOWN else None}
    return entry


def _label_counts(column: pd.Series) -> pd.Series:
    """Rows per category of a categorical column as the encoder sees them (3, 3.0 and "3" are one),
    most frequent first, missing left out: counted on codes, each distinct value made text once."""
    from pipeline.ml.features import categories_of

    counts = categories_of(column).value_counts()
    return counts[counts > 0].rename(index=str)


def _bin_shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
    return counts / max(len(values), 1)


def psi(expected, actual) -> float:
    expected, actual = (np.clip(np.asarray(share, dtype=float), EPSILON, None) for share in (expected, actual))
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def compare(reference: dict, X: pd.DataFrame) -> dict:
    """Each profiled feature's PSI, unseen share and missing rates in X against the profile:
    {"columns": {name: {...}}, "max_psi", "worst", "absent": [profiled features X lacks], "rows"}."""
    columns, absent = {}, []
    for name, ref in reference.items():
        if ref["kind"] not in ("numeric", "categorical"):
            continue
        if name not in X.columns:
            absent.append(name)
            continue
        column = X[name]
        missing = float(column.isna().mean()) if len(column) else 0.0
        result = {"kind": ref["kind"], "missing_before": ref["missing"], "missing_after": missing,
                  "missing_change": missing - ref["missing"]}
        if ref["kind"] == "numeric":
            values = pd.to_numeric(column, errors="coerce").dropna().to_numpy(dtype=float)
            result["psi"] = psi(ref["shares"], _bin_shares(values, np.asarray(ref["edges"]))) if len(values) else None
        else:
            counts = _label_counts(column)
            seen = int(counts.sum())
            if ref.get("known") is not None:
                result["unseen"] = float(counts[~counts.index.isin(ref["known"])].sum() / seen) if seen else 0.0
            top = {cat: float(counts.get(cat, 0)) / max(seen, 1) for cat in ref["shares"] if cat != OTHER}
            shares = {**top, OTHER: 1.0 - sum(top.values())}
            result["psi"] = psi(list(ref["shares"].values()), [shares[cat] for cat in ref["shares"]]) if seen else None
        columns[name] = result
    scored = {name: c["psi"] for name, c in columns.items() if c.get("psi") is not None}
    worst = max(scored, key=scored.get) if scored else None
    return {"rows": len(X), "columns": columns, "max_psi": scored.get(worst), "worst": worst, "absent": absent}


def problems(drift: dict, limits: dict) -> list[str]:
    """What exceeds the limits, worst first, one line per feature and measure."""
    found, judged = [], drift["rows"] >= limits["min_rows"]
    for name, c in sorted(drift["columns"].items(), key=lambda item: -(item[1].get("psi") or 0.0)):
        if judged and c.get("psi") is not None and c["psi"] > limits["max_psi"]:
            found.append(f"column '{name}': PSI {c['psi']:.3f} > {limits['max_psi']}")
        if (c.get("unseen") or 0.0) > limits["max_unseen"]:
            found.append(f"column '{name}': {c['unseen']:.1%} of rows have a category training never saw "
                         f"(> {limits['max_unseen']:.0%})")
        if abs(c["missing_change"]) > limits["max_missing_change"]:
            found.append(f"column '{name}': missing in {c['missing_after']:.1%} of rows, was {c['missing_before']:.1%} "
                         f"(change > {limits['max_missing_change']:.0%})")
    return found
