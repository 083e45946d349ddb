"""Scoring a file with the production model (`python -m pipeline predict`)."""
from __future__ import annotations

from pathlib import Path

from pipeline.ml.data import DataError, name_list
from pipeline.registry import Registry

OUTPUT_SUFFIXES = (".parquet", ".pq", ".csv")


def check_input(frame, card: dict, label: str) -> None:
    """The columns a model needs are there, numeric where it was fitted on numbers."""
    import pandas as pd

    missing = [name for name in card["features"] if name not in frame.columns]
    if missing:
        raise DataError(f"{label}: missing column(s) the model needs: {name_list(missing)}")
    for name, kind in card["features"].items():
        series = frame[name]
        if kind == "numeric" and not (pd.api.types.is_numeric_dtype(series) or series.isna().all()):
            bad = pd.to_numeric(series, errors="coerce").isna() & series.notna()
            raise DataError(f"{label}: column '{name}' must be numeric, found {series.dtype} "
                            f"(e.g. {series[bad].head(3).tolist()})")


def score_frame(frame, model, card: dict, label: str):
    """Input rows plus a `prediction` column (and class probabilities)."""
    from pipeline.ml.metrics import predict_frame

    check_input(frame, card, label)
    predictions = predict_frame(model, frame[list(card["features"])], card["kind"])
    clash = [c for c in [*predictions.columns, "model_version"] if c in frame.columns]
    if clash:
        raise DataError(f"{label}: already has column(s) {name_list(clash)} that scoring adds; rename them")
    return frame.join(predictions)


def score_file(dataset: str, model: str, input_path: str, output_path: str) -> dict:
    """Score a CSV or Parquet file with the production model; write CSV or Parquet by suffix."""
    from pipeline.sources import read_source

    output = Path(output_path)
    if output.suffix.lower() not in OUTPUT_SUFFIXES:
        raise DataError(f"{output}: the output name must end in .parquet or .csv")
    from pipeline.settings import dataset_spec

    version, estimator, card = Registry.for_model(dataset, model).load_production()
    spec = dataset_spec(dataset)  # files to score are written like the dataset's source
    frame, _ = read_source(str(input_path), sep=spec.get("sep"), na_values=spec.get("na_values"))
    scored = score_frame(frame, estimator, card, str(input_path))
    scored["model_version"] = version
    write_frame(scored, output)
    return {"version": version, "rows": len(scored), "output": str(output)}


def write_frame(frame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    if path.suffix.lower() == ".csv":
        frame.to_csv(tmp, index=False)
    else:
        frame.to_parquet(tmp, index=False)
    tmp.replace(path)
