"""The preprocessing step of every model, built from the columns of the training frame."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

# One-hot columns beyond this many categories are folded into one "infrequent" column, so an
# id-like text column cannot blow the feature matrix up.
MAX_CATEGORIES = 30


def split_columns(X: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(numeric, categorical) column names; booleans and text count as categorical."""
    numeric, categorical = [], []
    for name, dtype in X.dtypes.items():
        is_number = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
        (numeric if is_number else categorical).append(name)
    return numeric, categorical


def build_preprocessor(X: pd.DataFrame, *, scale: bool = True) -> ColumnTransformer:
    """Impute, one-hot encode and (optionally) scale, fitted later on the training rows only."""
    numeric, categorical = split_columns(X)
    numeric_steps = [("impute", SimpleImputer(strategy="median"))]
    if scale:
        numeric_steps.append(("scale", StandardScaler()))
    categorical_steps = [
        ("missing", FunctionTransformer(missing_as_nan, feature_names_out="one-to-one")),
        ("impute", SimpleImputer(strategy="most_frequent")),
        ("encode", OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=MAX_CATEGORIES,
                                 sparse_output=False)),
    ]
    return ColumnTransformer(
        [("numeric", Pipeline(numeric_steps), numeric),
         ("categorical", Pipeline(categorical_steps), categorical)],
        verbose_feature_names_out=False,
    )


def missing_as_nan(X):
    """Boolean columns with gaps hold None, which the imputer does not see as missing; NaN it is."""
    X = pd.DataFrame(X).astype(object)
    return X.where(X.notna(), np.nan)


def feature_schema(X: pd.DataFrame) -> dict[str, str]:
    """What a model needs from an input file: each feature column and its kind."""
    numeric, _ = split_columns(X)
    return {str(c): ("numeric" if c in numeric else "categorical") for c in X.columns}
