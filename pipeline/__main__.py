"""`ml-pipeline` (or `python -m pipeline`): the list, registry, predict, report, invalidate and
scheduler commands.

Tasks run through `luigi --module pipeline ...`; these commands read and change what they made.
"""
from __future__ import annotations

import argparse
import json
import sys

from pipeline import settings
from pipeline.errors import ConfigError, IntegrityError, PipelineError, RegistryError
from pipeline.ml.errors import MLError
from pipeline.ml.gate import shown_metrics
from pipeline.registry import Registry


def _version_row(registry: Registry, version: str, status: dict, rejected: set[str]) -> dict:
    row = {"dataset": registry.dataset, "model": registry.model, "version": version,
           "status": status.get(version, "registered"), "production": status.get(version) == "production",
           "rejected_by_gate": version in rejected}
    try:
        card = registry.card(version)
    except (IntegrityError, RegistryError) as exc:  # listed as damaged: the rest of the registry stays readable
        return {**row, "status": "damaged", "production": False, "error": str(exc), "date": None, "registered_at": None,
                "kind": None, "metrics": {}}
    metrics = shown_metrics(card.get("metrics", {}))
    return {**row, "date": card.get("date"), "registered_at": card.get("registered_at"), "kind": card.get("kind"),
            "metrics": metrics}


def cmd_list(args) -> int:
    rows = []
    for registry in Registry.all(args.dataset, args.model):
        status = registry.statuses()
        rejected = {e["version"] for e in registry.history() if e["event"] == "rejected"}
        rows += [_version_row(registry, v, status, rejected) for v in registry.versions()]
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print(f"no models registered under {settings.store().url('registry')}")
    else:
        from pipeline.ml.gate import primary_metric

        table = [("dataset", "model", "version", "status", "date", "metric")]
        for r in rows:
            metric = primary_metric(r["metrics"] | {"kind": r["kind"]}) if r["kind"] else ""
            value = r["metrics"].get(metric)
            shown = f"{r['status']} (rejected)" if r["rejected_by_gate"] and r["status"] != "rejected" else r["status"]
            table.append((r["dataset"], r["model"], r["version"], shown, r["date"] or "",
                          f"{metric}={value:.4f}" if value is not None else ""))
        _print_rows(table)
    for r in rows:
        if r["status"] == "damaged":
            print(f"error: {r['error']}", file=sys.stderr)
    return 1 if any(r["status"] == "damaged" for r in rows) else 0


def cmd_show(args) -> int:
    registry = Registry.for_model(args.dataset, args.model)
    registry.require()
    version = args.version or registry.production_version()
    if version is None:
        raise RegistryError(f"{registry}: no production model; name a version")
    card = registry.card(version)
    events = registry.history_of(version)
    if args.json:
        print(json.dumps({"card": card, "status": registry.statuses().get(version, "registered"),
                          "history": events}, indent=2, default=str))
        return 0
    print(f"{registry} {version} ({registry.statuses().get(version, 'registered')})")
    for key in ("date", "kind", "target", "registered_at", "trained_at", "code_version", "model_sha256"):
        print(f"  {key:<14}{card.get(key)}")
    print(f"  {'estimator':<14}{card['model_spec']['estimator']} {card['model_spec'].get('params', {})}")
    print(f"  {'data':<14}{card['data']['source']['source']} rows={card['data']['rows']} "
          f"fingerprint={card['data']['fingerprint'][:12]}")
    search = card.get("search") or {}
    if search.get("best_model"):
        among = ", ".join(dict.fromkeys(point["model"] for point in search["points"]))
        print(f"  {'selected':<14}{search['best_model']} by {search['folds']}-fold {search['scoring']} among {among}")
    baseline = card.get("metrics", {}).get("baseline") or {}
    print(f"  metrics{'':<13}{'baseline' if baseline else ''}")
    for key, value in shown_metrics(card.get("metrics", {})).items():
        against = f"{baseline[key]:.4f}" if isinstance(baseline.get(key), float) else ""
        print(f"    {key:<18}{value:<10.4f}{against}".rstrip())
    print("  history")
    for event in events:
        print(f"    {event['at']}  {_event_line(event, version)}".rstrip())
    return 0


def _event_line(event: dict, version: str) -> str:
    reason = event.get("reason") or "; ".join(event.get("reasons", []))
    if event.get("version") == version:
        return f"{event['event']:<12}{reason}"
    if event["event"] == "promoted":  # another version went live in its place
        return f"{'replaced':<12}by {event['version']}: {reason}"
    return f"{'rolled_back':<12}{reason} (production went to {event['version'] or 'nothing'})"


def cmd_promote(args) -> int:
    from pipeline.deployment import promote_by_hand

    registry = Registry.for_model(args.dataset, args.model)
    warning = promote_by_hand(registry, args.version, args.reason or "promoted by hand", force=args.force)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    return _report_change(args, registry, f"{registry}: {args.version} is in production")


def cmd_repair(args) -> int:
    registry = Registry.for_model(args.dataset, args.model)
    pointer = registry.repair()
    live = pointer["version"] if pointer else None
    return _report_change(args, registry, f"{registry}: production.json rebuilt from history.jsonl: "
                                          + (f"{live} is in production" if live else "nothing is in production"))


def cmd_rollback(args) -> int:
    registry = Registry.for_model(args.dataset, args.model)
    before = registry.production_version()
    version = registry.rollback(reason=args.reason or "rolled back by hand", to=args.to)
    return _report_change(args, registry, f"{registry}: rolled back from {before} to {version}")


def _report_change(args, registry, message) -> int:
    from pipeline.tracking import mirror

    mirror(registry)  # MLflow's champion alias follows, when MLflow is configured
    if args.json:
        print(json.dumps({"dataset": registry.dataset, "model": registry.model,
                          "production": registry.production_version()}))
    else:
        print(message)
    return 0


def cmd_mlflow(args) -> int:
    """Make MLflow show every registry (or one dataset's, one model's), whatever it missed."""
    from pipeline import tracking
    from pipeline.tasks.report import RunReport

    if not tracking.tracking_uri():
        raise ConfigError("no MLflow tracking URI: set MLFLOW_TRACKING_URI, or tracking_uri in luigi.cfg's [mlflow]")
    results, unreachable = [], False
    for registry in Registry.all(args.dataset, args.model):
        reports = {report.read_json(RunReport.RUN)["candidate"]["version"]: report
                   for report in RunReport.committed(dataset=registry.dataset, model=registry.model)}
        done = tracking.mirror(registry, reports=reports, force=True)
        unreachable |= done is None
        results.append({"registry": str(registry), "registered_model": tracking.names(*str(registry).split("/"))[1],
                        **(done or {"error": "MLflow is unreachable (see the warning above)"})})
    if args.json:
        print(json.dumps(results, indent=2))
    for result in [] if args.json else results:
        if "error" in result:
            print(f"{result['registry']}: not mirrored: {result['error']}")
            continue
        print(f"{result['registry']} -> {result['registered_model']}: {len(result['runs'])} run(s), "
              f"{len(result['versions'])} model version(s), {len(result['reports'])} report(s) logged; "
              f"champion: {result['champion'] or 'none'}")
    return 1 if unreachable else 0


def cmd_predict(args) -> int:
    from pipeline.retry import call_with_retries
    from pipeline.scoring import check_output_name, score_with_production, write_frame

    check_output_name(args.output, args.input)
    config = settings.pipeline()  # a source answering 5xx for a moment is tried again, as tasks do
    scored, info, drift = call_with_retries(lambda: score_with_production(args.dataset, args.model, args.input),
                                            f"predict {args.input}", attempts=config.transient_attempts,
                                            backoff=config.transient_backoff)
    for problem in (drift or {}).get("problems", []):
        print(f"warning: drift: {args.input}: {problem}", file=sys.stderr)
    write_frame(scored, args.output)
    if args.json:
        print(json.dumps({"version": info["model_version"], "rows": info["rows"], "output": args.output}))
    else:
        print(f"scored {info['rows']} rows with {args.dataset}/{args.model} {info['model_version']} "
              f"-> {args.output}")
    return 0


def cmd_scheduler(args) -> int:
    from pipeline import scheduler

    if args.action == "start":
        info = scheduler.start(address=args.address, port=args.port)
        print(f"luigid running (pid {info['pid']}): visualizer at {scheduler.url(info)}  "
              f"state and task history in {scheduler.home()}")
    elif args.action == "run":
        print(f"luigid on http://{args.address}:{args.port} in the foreground; state and task history in "
              f"{scheduler.home()}", flush=True)
        scheduler.run(address=args.address, port=args.port)
    elif args.action == "stop":
        info = scheduler.stop()
        print(f"luigid (pid {info['pid']}) stopped" if info else "luigid is not running")
    else:
        info = scheduler.server_info()
        if info is None:
            print("luigid is not running")
            return 3
        counts = scheduler.task_counts(info)
        print(f"luigid running (pid {info['pid']}) at {scheduler.url(info)}: "
              + ", ".join(f"{n} {status.lower()}" for status, n in counts.items()))
    return 0


def cmd_logs(args) -> int:
    """The latest log of a task (or every attempt's file, with --all)."""
    from pipeline import tasklogs

    found = tasklogs.attempts(args.task, args.dataset, args.model, args.date)
    if not found:
        narrowed = " ".join(f"--{k} {v}" for k, v in (("dataset", args.dataset), ("model", args.model),
                                                        ("date", args.date)) if v)
        raise PipelineError(f"no logs of {args.task} {narrowed}".rstrip() + f" under {tasklogs.root()}")
    if args.all or args.json:
        print(json.dumps([str(p) for p in found], indent=2) if args.json else "\n".join(map(str, found)))
    else:
        print(f"# {found[-1]}")
        print(found[-1].read_text(errors="replace"), end="")
    return 0


def cmd_check(args) -> int:
    """Exit 1 (and alert) when a deployment's last successful run, or its production model, is too old."""
    from pipeline import freshness
    from pipeline.formats import seconds

    try:
        max_age = seconds(args.max_age)
        max_model_age = seconds(args.max_model_age) if args.max_model_age else None
    except ValueError as exc:
        raise ConfigError(f"--max-age / --max-model-age: {exc}") from None
    if args.dataset:
        targets = [(args.dataset, args.model or _deployment(args.dataset))]
    else:
        targets = [(dataset, settings.default_model(dataset)) for dataset in settings.deployments()]
    results = [freshness.check(d, m, max_age=max_age, max_model_age=max_model_age) for d, m in targets]
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print("\n".join(result["said"] for result in results) or "no deployments configured (datasets with `models`)")
    for result in results:
        if result["stale"]:
            freshness.alert(result)
    return 1 if any(result["stale"] for result in results) else 0


def cmd_invalidate(args) -> int:
    import datetime as dt

    from pipeline.invalidate import invalidate

    try:
        date = dt.date.fromisoformat(args.date)
    except ValueError:
        raise ConfigError(f"--date {args.date!r} is not a date (YYYY-MM-DD)") from None
    moved = invalidate(args.task, args.dataset, args.model, date)
    if args.json:
        print(json.dumps([{"from": source, "to": target} for source, target in moved], indent=2))
        return 0
    for source, target in moved:
        print(f"moved {source} -> {target}")
    if not moved:
        print(f"nothing to invalidate: no committed output of {args.task} or after it for {args.date}")
    return 0


def _failed_validation(page: dict, key: str, as_json: bool) -> int:
    from pipeline.report import validation_text
    from pipeline.storage import is_s3

    store = settings.store()
    html = store.url(key)
    if is_s3(settings.pipeline().data_dir):  # a copy to open in a browser, as for run reports
        local = store.host_dir(key.rsplit("/", 1)[0]) / "report.html"
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(store.read_bytes(key))
        html = str(local)
    if as_json:
        print(json.dumps({"failed_validation": page, "report": html}, indent=2))
    else:
        print(validation_text(page), end="")
        print(f"\nfull report: {html}")
    return 0


def cmd_report(args) -> int:
    from pipeline.report import text_summary
    from pipeline.tasks.report import RunReport
    from pipeline.tasks.validate import ValidateData

    model = args.model or (_deployment(args.dataset) if args.dataset else None)  # a dataset: its deployment's
    reports = RunReport.committed(dataset=args.dataset, model=model)
    runs = sorted(((report.read_json(RunReport.RUN), report) for report in reports),
                  key=lambda item: item[0]["generated_at"])
    # a validation is a dataset's: `--model` alone names no dataset whose failure to show
    failures = sorted(ValidateData.failures(args.dataset) if args.dataset or not args.model else [],
                      key=lambda item: item[0]["generated_at"])
    if failures and (not runs or failures[-1][0]["generated_at"] > runs[-1][0]["generated_at"]):
        return _failed_validation(*failures[-1], as_json=args.json)  # the latest run stopped at validation
    if not runs:
        raise PipelineError(f"no run reports under {settings.store().url(RunReport.stage)} yet "
                            "(TrainValidateDeploy writes them)")
    latest, report = runs[-1]  # the run made last, whatever its --date
    history = Registry.for_model(latest["dataset"], latest["model"]).history()
    html = str(report / RunReport.HTML)  # on S3: its verified copy in the local cache, to open in a browser
    if args.json:
        print(json.dumps({"run": latest, "report": html, "stored_at": report.url, "history": history}, indent=2))
        return 0
    print(text_summary(latest, history), end="")
    print(f"\nfull report: {html}")
    return 0


def cmd_config(args) -> int:
    """The configured datasets (with their deployment), models and gates."""
    config = settings.load_config()
    datasets = {name: {"source": spec["source"], "problem": spec["problem"], "target": spec.get("target"),
                       "deployment": _deployment(name), "models": spec.get("models", [])}
                for name, spec in config.get("datasets", {}).items()}
    models = {name: {"estimator": spec["estimator"], "params": spec.get("params", {}), "grid": spec.get("grid", {})}
              for name, spec in config.get("models", {}).items()}
    gates = config.get("gates", {})
    if args.json:
        print(json.dumps({"config": settings.pipeline().config, "datasets": datasets, "models": models,
                          "gates": gates}, indent=2))
        return 0
    print(settings.pipeline().config)
    _print_rows([("dataset", "problem", "deployment", "source")] + [
        (name, d["problem"], d["deployment"] + (f" of {', '.join(d['models'])}" if len(d["models"]) > 1 else ""),
         d["source"]) for name, d in datasets.items()])
    print()
    _print_rows([("model", "estimator", "params", "grid")] + [
        (name, m["estimator"], json.dumps(m["params"]) if m["params"] else "",
         json.dumps(m["grid"]) if m["grid"] else "") for name, m in models.items()])
    print()
    _print_rows([("gate", "rules")] + [(name, "; ".join(_rule_text(k, v) for k, v in gate.items()))
                                       for name, gate in gates.items()])
    return 0


def _rule_text(key: str, value) -> str:
    if not isinstance(value, dict):
        return f"{key} {value}"
    return " and ".join(f"{key} {op} {bound}" for op, bound in ((">=", value.get("min")), ("<=", value.get("max")))
                        if bound is not None)


def _print_rows(rows) -> None:
    """Rows of cells as columns, each padded to its widest cell."""
    widths = [max(len(str(row[i])) for row in rows) + 2 for i in range(len(rows[0]))]
    for row in rows:
        print("".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip())


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("luigi-ml-pipeline")
    except PackageNotFoundError:  # run from a checkout that was not installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ml-pipeline", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(parent, name, func, help_text, *, names=True, filters=None):
        """filters: for a command that narrows down (None: one dataset and model), what it shows
        without --dataset and --model."""
        sub = parent.add_parser(name, help=help_text, description=help_text)
        if names and filters:
            sub.add_argument("--dataset", help=f"narrow to one dataset (default: {filters[0]})")
            sub.add_argument("--model", help=f"narrow to one model (default: {filters[1]})")
        elif names:
            sub.add_argument("--dataset", default=settings.DEFAULT_DATASET,
                             help=f"dataset name (default: {settings.DEFAULT_DATASET})")
            sub.add_argument("--model", help="model name (default: the dataset's deployment: its one `models` entry, "
                                             f"best for several, else {settings.DEFAULT_MODEL})")
        sub.set_defaults(resolve_model=names and not filters)
        sub.add_argument("--json", action="store_true", help="machine-readable output")
        sub.set_defaults(func=func)
        return sub

    command(commands, "list", cmd_config, "the configured datasets (and each one's deployment), models and gates",
            names=False)

    registry_help = "list, show, promote and roll back model versions"
    registry = commands.add_parser("registry", help=registry_help, description=registry_help)
    actions = registry.add_subparsers(dest="action", required=True)
    command(actions, "list", cmd_list, "every registered version and its status", filters=("all", "all"))
    command(actions, "show", cmd_show, "a version's card and history (default: production)") \
        .add_argument("version", nargs="?", help="a version such as v0002 (default: the one in production)")
    promote = command(actions, "promote", cmd_promote, "make a registered version the production model")
    promote.add_argument("version", help="the version to put in production, such as v0002")
    promote.add_argument("--reason", help="recorded in the history (default: 'promoted by hand')")
    promote.add_argument("--force", action="store_true", help="promote a version the gate rejected (says why first)")
    rollback = command(actions, "rollback", cmd_rollback,
                       "make the previous production version (or --to VERSION) live again")
    rollback.add_argument("--to", metavar="VERSION", help="the version to make live (default: the previous one)")
    rollback.add_argument("--reason", help="recorded in the history (default: 'rolled back by hand')")
    command(actions, "repair", cmd_repair, "rebuild a damaged production.json from history.jsonl")

    mlflow = commands.add_parser("mlflow", help="mirror the registry to MLflow", description="mirror the registry "
                                 "to MLflow (MLFLOW_TRACKING_URI or luigi.cfg's [mlflow] tracking_uri)")
    command(mlflow.add_subparsers(dest="action", required=True), "sync", cmd_mlflow,
            "log what MLflow is missing: a run per registry version, a model version, the champion alias",
            filters=("all", "all"))

    predict = command(commands, "predict", cmd_predict, "score a CSV or Parquet file with the production model")
    predict.add_argument("--input", required=True,
                         help="CSV or Parquet file (a path or an s3:// URL) with the model's feature columns")
    predict.add_argument("--output", required=True, help="where to write predictions (.parquet, .pq or .csv)")

    command(commands, "report", cmd_report, "print the latest run report and its registry's history",
            filters=("the latest run of any", "with --dataset, its deployment; else any"))

    logs = command(commands, "logs", cmd_logs, "print the latest attempt's log of a task (every attempt has one, "
                   "failed ones too)", filters=("any", "any"))
    logs.add_argument("task", help="a task family, e.g. TrainModel")
    logs.add_argument("--date", help="the run's date, YYYY-MM-DD (default: any)")
    logs.add_argument("--all", action="store_true", help="list every attempt's file instead, oldest first")

    check = command(commands, "check", cmd_check, "exit 1 and alert when a deployment's last successful run (or "
                    "its production model) is too old: a dead man's switch for cron",
                    filters=("every configured deployment", "with --dataset, its deployment"))
    check.add_argument("--max-age", required=True, help="how old the last successful run may be, e.g. 26h")
    check.add_argument("--max-model-age", help="how long ago the production model may have been trained, e.g. 8d")

    invalidate = command(commands, "invalidate", cmd_invalidate,
                         "move a task's outputs and everything downstream of it (for one run) to data_dir/trash")
    invalidate.add_argument("task", help="a task family, e.g. TrainModel")
    invalidate.add_argument("--date", required=True, help="the run's date, YYYY-MM-DD")

    scheduler_help = "luigid, the central scheduler and visualizer, in the background"
    scheduler = commands.add_parser(
        "scheduler", help=scheduler_help, description=f"{scheduler_help}; state and task history in data_dir/luigid")
    scheduler.add_argument("action", choices=["start", "run", "stop", "status"],
                           help="start it in the background (or say where it runs), run it in the foreground "
                                "(for systemd), stop it, or count its tasks by status (exit 3 when it is not running)")
    scheduler.add_argument("--address", default="127.0.0.1", help="address to bind (default: 127.0.0.1 only)")
    scheduler.add_argument("--port", type=int, default=8082, help="port (default: 8082, Luigi's default)")
    scheduler.set_defaults(func=cmd_scheduler)
    return parser


def _check_names(args) -> None:
    """A dataset or model named on the command line is configured, or has a registry to look at:
    "unknown dataset 'digts'; did you mean 'digits'? (known: ...)", not "no models registered"."""
    store = settings.store()
    for kind, section in (("dataset", "datasets"), ("model", "models")):
        name = getattr(args, kind, None)
        if name is None:
            continue
        settings.check_name(kind, name)
        known = set(settings.load_config().get(section, {})) | ({settings.SELECTED} if kind == "model" else set())
        if kind == "dataset":
            known |= set(store.children("registry"))
        else:
            known |= {m for d in store.children("registry") for m in store.children(f"registry/{d}")}
        if name not in known:
            raise ConfigError(f"unknown {kind} {name!r}{settings.did_you_mean(name, known)}")


def _deployment(dataset: str) -> str:
    """The dataset's deployment; DEFAULT_MODEL for a dataset the config no longer names (its
    registry may still be there to look at)."""
    try:
        return settings.default_model(dataset)
    except ConfigError:
        return settings.DEFAULT_MODEL


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = _run(args)
        sys.stdout.flush()  # here, not at exit: a reader that left is noticed in the handler below
        return code
    except BrokenPipeError:  # `ml-pipeline report | head`: the reader left; nothing more to say
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _run(args) -> int:
    try:
        if getattr(args, "resolve_model", False) and args.model is None:
            args.model = _deployment(args.dataset)
        _check_names(args)
        return args.func(args)
    except (PipelineError, MLError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def console() -> None:
    """The `ml-pipeline` console script."""
    sys.exit(main())


if __name__ == "__main__":
    console()
