"""`python -m pipeline`: the registry and predict commands (tasks run through `luigi`)."""
from __future__ import annotations

import argparse
import json
import sys

from pipeline import notify, settings
from pipeline.artifacts import IntegrityError
from pipeline.registry import Registry, RegistryError


def _registries(dataset: str | None, model: str | None) -> list[Registry]:
    root = settings.data_dir() / "registry"
    if dataset and model:
        return [Registry.for_model(dataset, model)]
    found = []
    for path in sorted(root.glob("*/*")) if root.is_dir() else []:
        if (dataset in (None, path.parent.name)) and (model in (None, path.name)):
            found.append(Registry.for_model(path.parent.name, path.name))
    return found


def _status(registry: Registry) -> dict[str, str]:
    """Each version's state: production, rejected, retired (was live), smoke_failed, or registered."""
    status = {}
    for event in registry.history():
        if event["event"] == "rejected":
            status[event["version"]] = "rejected"
        elif event["event"] in ("promoted", "rolled_back") and event["version"]:
            status[event["version"]] = "retired"
        if event["event"] == "rolled_back" and event.get("cause") == "smoke_test":
            status[event["previous"]] = "smoke_failed"
    live = registry.production_version()
    if live:
        status[live] = "production"
    return status


def _version_row(registry: Registry, version: str, status: dict) -> dict:
    card = registry.card(version)
    metrics = {k: v for k, v in card.get("metrics", {}).items() if isinstance(v, (int, float))}
    return {"dataset": registry.dataset, "model": registry.model, "version": version,
            "status": status.get(version, "registered"), "production": status.get(version) == "production",
            "date": card.get("date"), "registered_at": card.get("registered_at"), "kind": card.get("kind"),
            "metrics": metrics}


def cmd_list(args) -> int:
    rows = []
    for registry in _registries(args.dataset, args.model):
        status = _status(registry)
        rows += [_version_row(registry, v, status) for v in registry.versions()]
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print(f"no models registered under {settings.data_dir() / 'registry'}")
    else:
        from pipeline.ml.gate import primary_metric

        table = [("dataset", "model", "version", "status", "date", "metric")]
        for r in rows:
            metric = primary_metric(r["metrics"] | {"kind": r["kind"]}) if r["kind"] else ""
            value = r["metrics"].get(metric)
            table.append((r["dataset"], r["model"], r["version"], r["status"], r["date"] or "",
                          f"{metric}={value:.4f}" if value is not None else ""))
        widths = [max(len(row[i]) for row in table) + 2 for i in range(len(table[0]))]
        for row in table:
            print("".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return 0


def cmd_show(args) -> int:
    registry = Registry.for_model(args.dataset, args.model)
    version = args.version or registry.production_version()
    if version is None:
        raise RegistryError(f"{registry}: no production model; name a version")
    card = registry.card(version)
    events = [e for e in registry.history() if e.get("version") == version]
    if args.json:
        print(json.dumps({"card": card, "status": _status(registry).get(version, "registered"),
                          "history": events}, indent=2, default=str))
        return 0
    print(f"{registry} {version} ({_status(registry).get(version, 'registered')})")
    for key in ("date", "kind", "target", "registered_at", "trained_at", "code_version", "model_sha256"):
        print(f"  {key:<14}{card.get(key)}")
    print(f"  {'estimator':<14}{card['model_spec']['estimator']} {card['model_spec'].get('params', {})}")
    print(f"  {'data':<14}{card['data']['source']['source']} rows={card['data']['rows']} "
          f"fingerprint={card['data']['fingerprint'][:12]}")
    print("  metrics")
    for key, value in card.get("metrics", {}).items():
        if isinstance(value, float):
            print(f"    {key:<18}{value:.4f}")
    print("  history")
    for event in events:
        reasons = event.get("reason") or "; ".join(event.get("reasons", []))
        print(f"    {event['at']}  {event['event']:<12}{reasons}")
    return 0


def cmd_promote(args) -> int:
    registry = Registry.for_model(args.dataset, args.model)
    before = registry.production_version()
    registry.promote(args.version, reason=args.reason or "promoted by hand")
    if before != args.version:
        notify.registry_event(registry, "promoted", args.version, previous=before,
                              reasons=[args.reason or "by hand"])
    return _report_change(args, registry, f"{registry}: {args.version} is in production")


def cmd_rollback(args) -> int:
    registry = Registry.for_model(args.dataset, args.model)
    before = registry.production_version()
    version = registry.rollback(reason=args.reason or "rolled back by hand", to=args.to)
    notify.registry_event(registry, "rolled_back", version, previous=before, reasons=[args.reason or "by hand"])
    return _report_change(args, registry, f"{registry}: rolled back from {before} to {version}")


def _report_change(args, registry, message) -> int:
    if args.json:
        print(json.dumps({"dataset": registry.dataset, "model": registry.model,
                          "production": registry.production_version()}))
    else:
        print(message)
    return 0


def cmd_predict(args) -> int:
    from pipeline.scoring import score_file

    result = score_file(args.dataset, args.model, args.input, args.output)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"scored {result['rows']} rows with {args.dataset}/{args.model} {result['version']} "
              f"-> {result['output']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def command(parent, name, func, help_text, *, names=True, filters=False):
        sub = parent.add_parser(name, help=help_text, description=help_text)
        if names:
            default_d, default_m = (None, None) if filters else (settings.DEFAULT_DATASET, settings.DEFAULT_MODEL)
            sub.add_argument("--dataset", default=default_d, help=f"dataset name (default: {default_d or 'all'})")
            sub.add_argument("--model", default=default_m, help=f"model name (default: {default_m or 'all'})")
        sub.add_argument("--json", action="store_true", help="machine-readable output")
        sub.set_defaults(func=func)
        return sub

    registry = commands.add_parser("registry", help="list, show, promote and roll back model versions")
    actions = registry.add_subparsers(dest="action", required=True)
    command(actions, "list", cmd_list, "every registered version and its status", filters=True)
    command(actions, "show", cmd_show, "a version's card and history (default: production)") \
        .add_argument("version", nargs="?")
    promote = command(actions, "promote", cmd_promote, "make a registered version the production model")
    promote.add_argument("version")
    promote.add_argument("--reason")
    rollback = command(actions, "rollback", cmd_rollback,
                       "make the previous production version (or --to VERSION) live again")
    rollback.add_argument("--to", metavar="VERSION")
    rollback.add_argument("--reason")

    predict = command(commands, "predict", cmd_predict, "score a CSV or Parquet file with the production model")
    predict.add_argument("--input", required=True, help="CSV or Parquet file with the model's feature columns")
    predict.add_argument("--output", required=True, help="where to write predictions (.parquet or .csv)")
    return parser


def main(argv=None) -> int:
    from pipeline.ml.data import DataError
    from pipeline.ml.models import ModelSpecError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (settings.ConfigError, RegistryError, IntegrityError, DataError, ModelSpecError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
