"""Drift of new rows from a model's training rows: PSI, unseen categories, missing rates."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.ml.drift import LIMITS, OTHER, compare, problems, profile, psi

KINDS = {"age": "numeric", "plan": "categorical", "signup": "date"}


def rows(n: int, seed: int, shift: float = 0.0, plans=("basic", "pro", "team"), missing: float = 0.0):
    rng = np.random.default_rng(seed)
    age = rng.normal(40 + shift, 10, n)
    age[rng.random(n) < missing] = np.nan
    return pd.DataFrame({"age": age, "plan": rng.choice(plans, n), "signup": pd.Timestamp("2026-01-01")})


def test_the_profile_keeps_quantile_bins_category_shares_and_missing_rates_not_dates():
    found = profile(rows(1000, 0, missing=0.1), KINDS)
    assert set(found) == {"age", "plan", "signup"} and found["signup"] == {"kind": "date", "dtype": "datetime64[us]",
                                                                        "missing": 0.0}
    assert len(found["age"]["edges"]) == 9 and sum(found["age"]["shares"]) == pytest.approx(1.0)
    assert all(share == pytest.approx(0.1, abs=0.01) for share in found["age"]["shares"])
    assert found["age"]["missing"] == pytest.approx(0.1, abs=0.02)
    assert set(found["plan"]["shares"]) == {"basic", "pro", "team", OTHER}
    assert found["plan"]["known"] == ["basic", "pro", "team"]


def test_the_same_distribution_is_stable_and_a_shift_is_not():
    reference = profile(rows(5000, 0), KINDS)
    same = compare(reference, rows(5000, 1))
    assert same["max_psi"] < 0.02 and problems(same, LIMITS) == []
    moved = compare(reference, rows(5000, 1, shift=8.0))
    assert moved["worst"] == "age" and moved["columns"]["age"]["psi"] > 0.25
    assert problems(moved, LIMITS)[0].startswith("column 'age': PSI ")


def test_unseen_categories_missing_values_and_absent_columns_are_counted():
    reference = profile(rows(2000, 0), KINDS)
    new = rows(2000, 1, plans=("basic", "pro", "team", "enterprise"), missing=0.3)
    drift = compare(reference, new.drop(columns=["signup"]))
    plan, age = drift["columns"]["plan"], drift["columns"]["age"]
    assert plan["unseen"] == pytest.approx(0.25, abs=0.03)
    assert age["missing_change"] == pytest.approx(0.3, abs=0.03)
    said = problems(drift, LIMITS)
    assert any(line.startswith("column 'plan': 2") and "category training never saw" in line for line in said)
    assert any(line.startswith("column 'age': missing in 3") for line in said)
    assert compare(reference, new.drop(columns=["plan"]))["absent"] == ["plan"]


def test_a_small_sample_is_not_judged_on_its_psi():
    reference = profile(rows(5000, 0), KINDS)
    few = compare(reference, rows(50, 1, shift=8.0))
    assert few["columns"]["age"]["psi"] > 0.25 and problems(few, LIMITS) == []
    assert problems(few, {**LIMITS, "min_rows": 10})[0].startswith("column 'age': PSI ")


def test_psi_of_empty_bins_stays_finite():
    assert np.isfinite(psi([0.5, 0.5, 0.0], [0.0, 0.5, 0.5]))
    assert psi([0.25] * 4, [0.25] * 4) == 0.0


def test_many_categories_and_integer_codes_with_a_gap_are_not_a_false_alarm():
    rng = np.random.default_rng(0)
    regions = [f"r{i}" for i in range(60)]  # past the nine kept for PSI: still known, not "unseen"
    train = pd.DataFrame({"region": rng.choice(regions, 3000), "zip": rng.choice([10001, 10002, 10003], 3000)})
    kinds = {"region": "categorical", "zip": "categorical"}
    reference = profile(train, kinds)
    batch = pd.DataFrame({"region": rng.choice(regions, 300), "zip": rng.choice([10001, 10002, 10003], 300)})
    batch["zip"] = batch["zip"].astype(float)
    batch.loc[0, "zip"] = np.nan  # an empty cell: the codes become floats, 10001.0, and are the same categories
    drift = compare(reference, batch)
    assert drift["columns"]["region"]["unseen"] == 0.0 and drift["columns"]["zip"]["unseen"] == 0.0
    assert drift["max_psi"] < 0.1 and problems(drift, LIMITS) == []


def test_columns_of_plain_numbers_profiled_together_are_profiled_as_one_at_a_time(monkeypatch):
    from pipeline.ml import drift

    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"x": rng.normal(size=500), "n": rng.integers(0, 4, 500), "flag": rng.random(500) < 0.2,
                          "gaps": np.where(rng.random(500) < 0.1, np.nan, rng.normal(size=500)),
                          "counts": pd.array(rng.integers(0, 9, 500), dtype="Int64"), "text": ["1.5"] * 500,
                          "plan": rng.choice(["a", "b"], 500)})
    kinds = {"x": "numeric", "n": "numeric", "flag": "numeric", "gaps": "numeric", "counts": "numeric",
             "text": "numeric", "plan": "categorical", "absent": "numeric"}
    one_at_a_time = {name: drift._numbers_profile(frame[name]) if kind == "numeric" else
                     drift._profile(frame[name], kind) for name, kind in kinds.items() if name in frame}
    assert profile(frame, kinds) == one_at_a_time and list(profile(frame, kinds)) == list(one_at_a_time)
    monkeypatch.setattr(drift, "BLOCK_CELLS", 700)  # blocks of one column
    assert profile(frame, kinds) == one_at_a_time
    assert profile(frame.head(0), kinds)["x"] == {"kind": "numeric", "dtype": "float64", "missing": 0.0, "edges": [],
                                                  "shares": [0.0]}
