"""Sample data for end-to-end tests: an ordinary churn table, written to CSV or Parquet by the test."""
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression


def customers(n=400, seed=0) -> pd.DataFrame:
    """Mixed numeric and text columns, missing values, a text target that depends on both."""
    rng = np.random.default_rng(seed)
    plan = rng.choice(["basic", "plus", "pro"], size=n)
    region = rng.choice(["north", "south", "east", "west"], size=n)
    tenure = rng.integers(1, 72, size=n).astype(float)
    spend = rng.normal(50, 15, size=n).round(2)
    score = tenure / 72 + (plan == "pro") * 0.6 - (plan == "basic") * 0.4 + rng.normal(0, 0.15, n)
    frame = pd.DataFrame({"plan": plan, "region": region, "tenure": tenure, "monthly_spend": spend,
                          "churned": np.where(score > 0.45, "no", "yes")})
    frame.loc[rng.choice(n, n // 10, replace=False), "tenure"] = np.nan
    frame.loc[rng.choice(n, n // 13, replace=False), "region"] = None
    frame.loc[rng.choice(n, n // 80, replace=False), "churned"] = None
    return frame


CUSTOMERS_BLOCK = """
[datasets.customers]
source = "{path}"
target = "churned"
problem = "classification"
checks = {{ min_rows = 100, columns = {{ tenure = "numeric", plan = "string" }}, max_null_fraction = 0.3 }}

[gates.customers]
accuracy = {{ min = 0.7 }}
"""



class NoisyClassifier(ClassifierMixin, BaseEstimator):
    """Logistic regression whose predict replaces a `noise` share of its answers at random,
    differently on every call: a model that passes the gate and then fails its smoke test."""

    def __init__(self, noise=0.0):
        self.noise = noise

    def fit(self, X, y):
        self.model_ = LogisticRegression(max_iter=2000).fit(X, y)
        self.classes_ = self.model_.classes_
        return self

    def predict(self, X):
        predicted = self.model_.predict(X)
        rng = np.random.default_rng()
        replaced = rng.random(len(predicted)) < self.noise
        predicted[replaced] = rng.choice(self.classes_, int(replaced.sum()))
        return predicted


class BuggyClassifier(ClassifierMixin, BaseEstimator):
    """A classifier whose fit has a bug (a KeyError): what a traceback is for."""

    def fit(self, X, y):
        return {}["missing"]
