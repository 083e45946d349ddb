"""Scoring a file with the production model: the one path `predict` and batch scoring share."""
from __future__ import annotations

from pathlib import Path

from pipeline.ml.data import DataError, name_list
from pipeline.registry import Registry


def check_columns(frame, features: dict, label: str) -> None:
    missing = [name for name in features if name not in frame.columns]
    if missing:
        raise DataError(f"{label}: missing column(s) the model needs: {name_list(missing)}")


def score_frame(frame, model, card: dict, label: str):
    """Input rows plus a `prediction` column (and class probabilities)."""
    from pipeline.ml.metrics import predict_frame

    check_columns(frame, card["features"], label)
    predictions = predict_frame(model, frame[list(card["features"])], card["kind"])
    return frame.join(predictions)


def score_file(dataset: str, model: str, input_path: str, output_path: str) -> dict:
    """Score a CSV or Parquet file with the production model; write CSV or Parquet by suffix."""
    from pipeline.sources import read_source

    version, estimator, card = Registry.for_model(dataset, model).load_production()
    frame, _ = read_source(str(input_path))
    scored = score_frame(frame, estimator, card, str(input_path))
    scored["model_version"] = version
    write_frame(scored, Path(output_path))
    return {"version": version, "rows": len(scored), "output": str(output_path)}


def write_frame(frame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    if path.suffix.lower() == ".csv":
        frame.to_csv(tmp, index=False)
    else:
        frame.to_parquet(tmp, index=False)
    tmp.replace(path)
