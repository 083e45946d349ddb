"""Scoring new rows with the production model: `python -m pipeline predict`, BatchPredict, the smoke test."""
from __future__ import annotations

from pathlib import Path

from pipeline.errors import StorageError
from pipeline.ml.errors import DataError, ModelSpecError
from pipeline.registry import Registry
from pipeline.settings import dataset_spec
from pipeline.storage import write_atomically

OUTPUT_SUFFIXES = (".parquet", ".pq", ".csv")


def check_input(frame, card: dict, label: str) -> None:
    """The columns a model needs are there, numeric where it was fitted on numbers."""
    import numpy as np
    import pandas as pd

    from pipeline.ml.data import name_list
    from pipeline.ml.features import as_timestamps

    dtypes = dict(zip(frame.columns, frame.dtypes))
    missing = [name for name in card["features"] if name not in dtypes]
    if missing:
        raise DataError(f"{label}: missing column(s) the model needs: {name_list(missing)}")
    floats = [name for name in card["features"] if pd.api.types.is_float_dtype(dtypes[name])]
    infinite = {name for name, found in np.isinf(frame[floats]).any().items() if found} if floats else set()
    for name, kind in card["features"].items():  # checked in the model's column order: the first problem is said
        if kind == "date":
            series = frame[name]
            bad = as_timestamps(series, card.get("encoding", {}).get(name, {}).get("format")).isna() & series.notna()
            if bad.any():
                raise DataError(f"{label}: column '{name}' must hold dates, found {int(bad.sum())} value(s) that are "
                                f"not (e.g. {series[bad].head(3).tolist()})")
        elif kind == "numeric" and not pd.api.types.is_numeric_dtype(dtypes[name]):
            series = frame[name]
            bad = pd.to_numeric(series, errors="coerce").isna() & series.notna()
            if bad.any():  # numbers stored as text are fine: the model reads them as numbers
                raise DataError(f"{label}: column '{name}' must be numeric, found {series.dtype} "
                                f"(e.g. {series[bad].head(3).tolist()})")
        if name in infinite:
            rows = np.isinf(frame[name].to_numpy(dtype=float, na_value=np.nan))
            raise DataError(f"{label}: column '{name}': {int(rows.sum())} infinite value(s) "
                            f"(e.g. row {rows.nonzero()[0][0]}); the model cannot score them")


def score_frame(frame, model, card: dict, label: str):
    """Input rows plus a `prediction` column (and class probabilities)."""
    from pipeline.ml.data import name_list
    from pipeline.ml.metrics import predict_frame
    from pipeline.ml.models import can_score_new_rows

    if not can_score_new_rows(model):
        raise ModelSpecError(
            f"{label}: {card['model_spec']['estimator']} cannot score new rows: it labels only the rows it was fitted "
            f"on; add inductive = {{ estimator = \"sklearn.ensemble.RandomForestClassifier\" }} to "
            f"models.{card['model']} to deploy a model that assigns new rows to its clusters")
    check_input(frame, card, label)
    predictions = predict_frame(model, frame[list(card["features"])], card["kind"])
    clash = [c for c in [*predictions.columns, "model_version"] if c in frame.columns]
    if clash:
        raise DataError(f"{label}: already has column(s) {name_list(clash)} that scoring adds; rename them")
    return frame.join(predictions)


def score_with_production(dataset: str, model: str, location: str):
    """(scored rows, info, drift) of a CSV or Parquet file (a path or an s3:// or http(s) URL), scored
    by the production model. Each row gets `prediction`, class probabilities and `model_version`;
    info names the version, the input (with its sha256) and the number of rows; drift compares the
    file with the model's training rows (pipeline/monitoring.py)."""
    from pipeline.monitoring import drift_against
    from pipeline.sources import read_source

    spec = dataset_spec(dataset)  # files to score are written like the dataset's source
    version, estimator, card = Registry.for_model(dataset, model).load_production()
    frame, source = read_source(location, sep=spec.get("sep"), na_values=spec.get("na_values"))
    scored = score_frame(frame, estimator, card, location).assign(model_version=version)
    return scored, {"model_version": version, "input": source, "rows": len(scored)}, drift_against(card, frame)


def check_output_name(path: Path, input_location: str | None = None) -> None:
    """Refuse an output name scoring cannot write to (or the input itself), before any work is done."""
    path = Path(path)
    if input_location and Path(input_location).exists() and path.exists() and path.samefile(input_location):
        raise DataError(f"{path}: the output is the input file; write the predictions to another file")
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise DataError(f"{path}: the output name must end in .parquet, .pq or .csv")
    if path.is_dir():
        raise StorageError(f"{path}: cannot write the output: it is a folder")
    blocked = next((parent for parent in path.parents if parent.exists() and not parent.is_dir()), None)
    if blocked:
        raise StorageError(f"{path}: cannot write the output: {blocked} is a file, not a folder")


def write_frame(frame, path: Path) -> None:
    """Write rows as CSV or Parquet (by the name's suffix) in one step: a reader never sees half a file."""
    path = Path(path)
    check_output_name(path)
    write = (lambda tmp: frame.to_csv(tmp, index=False)) if path.suffix.lower() == ".csv" else \
        (lambda tmp: frame.to_parquet(tmp, index=False))
    try:
        write_atomically(path, write)
    except OSError as exc:  # a full disk, no permission: the user's environment, not a bug
        raise StorageError(f"{path}: cannot write the output: {exc.strerror or exc}") from None
