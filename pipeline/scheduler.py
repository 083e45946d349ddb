"""`ml-pipeline scheduler start|run|stop|status`: luigid in the background (start) or the foreground
(run, for systemd), state under data_dir.

    data_dir/luigid/
        luigid.cfg      what start adds to Luigi's config for luigid: task history in SQLite, and
                        Prometheus metrics on /metrics when prometheus_client is installed
        server.json     pid, address and port of the running luigid
        state.pickle    luigid's task state, kept across restarts
        history.db      task history (every status change, with timestamps)
        logs/           luigi-server.log and the process's own output

luigid has no authentication: it binds to 127.0.0.1 unless told otherwise.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from pipeline.errors import SchedulerError
from pipeline.formats import now, write_json
from pipeline.settings import pipeline, store
from pipeline.storage import pid_alive

DEFAULT_PORT = 8082  # Luigi's default: workers find it without --scheduler-port
_LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # luigid is never behind a proxy


def home() -> Path:
    """luigid's own state is local to its host: data_dir/luigid, or the cache dir with an s3:// data_dir."""
    return store().host_dir("luigid").resolve()


def server_info() -> dict | None:
    """pid/address/port of the luigid that `start` launched, if that process still runs.

    After a reboot the recorded pid may belong to another program: it counts only if its
    command line is this module's.
    """
    path = home() / "server.json"
    if not path.exists():
        return None
    info = json.loads(path.read_text())
    return info if _runs_this_module(info["pid"]) else None


def _runs_this_module(pid: int) -> bool:
    if not pid_alive(pid):
        return False
    try:
        return b"pipeline.scheduler" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc (macOS): trust the live pid


def url(info: dict) -> str:
    return f"http://{info['address']}:{info['port']}"


def start(address: str = "127.0.0.1", port: int = DEFAULT_PORT, wait: float = 30.0) -> dict:
    running = server_info()
    if running:
        return running
    if _listening(address, port):
        raise SchedulerError(f"{address}:{port} is already in use by another program; choose another --port")
    root, command = home(), _command(address, port)
    with open(root / "logs" / "luigid.out", "ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)  # not killed with the shell that started it
    info = {"pid": process.pid, "address": address, "port": port, "started": now()}
    deadline = time.time() + wait
    while not _listening(address, port):
        if process.poll() is not None or time.time() > deadline:
            process.kill()
            tail = (root / "logs" / "luigid.out").read_text(errors="replace").strip().splitlines()[-3:]
            raise SchedulerError(f"luigid did not start on {address}:{port}: {' | '.join(tail) or 'no output'}")
        time.sleep(0.1)
    write_json(root / "server.json", info)
    return info


def run(address: str = "127.0.0.1", port: int = DEFAULT_PORT):
    """luigid in the foreground, in place of this process (for systemd: config/luigid.service).
    `status` and `stop` find it as they find one that `start` launched."""
    running = server_info()
    if running:
        raise SchedulerError(f"luigid already runs (pid {running['pid']}); stop it first")
    if _listening(address, port):
        raise SchedulerError(f"{address}:{port} is already in use by another program; choose another --port")
    command = _command(address, port)
    write_json(home() / "server.json", {"pid": os.getpid(), "address": address, "port": port, "started": now()})
    os.execv(command[0], command)


def _command(address: str, port: int) -> list[str]:
    """The luigid command line, with task history in SQLite under home()."""
    root = home()
    (root / "logs").mkdir(parents=True, exist_ok=True)
    config = root / "luigid.cfg"
    config.write_text("[scheduler]\nrecord_task_history = true\n" + _metrics_config() + "\n"
                      f"[task_history]\ndb_connection = sqlite:///{root / 'history.db'}\n")
    return [sys.executable, "-m", "pipeline.scheduler", str(config), "--address", address, "--port", str(port),
            "--state-path", str(root / "state.pickle"), "--logdir", str(root / "logs")]


def _metrics_config() -> str:
    """luigid's Prometheus /metrics with the pipeline's gauges (pipeline/metrics.py), when
    prometheus_client is installed and luigi.cfg picks no metrics collector of its own."""
    import importlib.util

    import luigi.configuration

    if importlib.util.find_spec("prometheus_client") is None or \
            luigi.configuration.get_config().has_option("scheduler", "metrics_collector"):
        return ""
    return "metrics_collector = custom\nmetrics_custom_import = pipeline.metrics.PipelineMetricsCollector\n"


def stop(wait: float = 15.0) -> dict | None:
    info = server_info()
    if info is None:
        return None
    os.kill(info["pid"], signal.SIGTERM)
    deadline = time.time() + wait
    while pid_alive(info["pid"]) and time.time() < deadline:
        time.sleep(0.1)
    if pid_alive(info["pid"]):
        os.kill(info["pid"], signal.SIGKILL)
    (home() / "server.json").unlink(missing_ok=True)
    return info


def task_counts(info: dict) -> dict[str, int]:
    """How many tasks luigid knows in each status."""
    counts = {}
    for status in ("RUNNING", "PENDING", "FAILED", "DONE", "DISABLED"):
        query = urllib.parse.quote(json.dumps({"status": status, "upstream_status": "", "search": ""}))
        with _LOCAL.open(f"{url(info)}/api/task_list?data={query}", timeout=5) as response:
            counts[status] = len(json.loads(response.read())["response"])
    return counts


def _listening(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=0.2).close()
        return True
    except OSError:
        return False


def _serve(argv: list[str]) -> None:
    """Run luigid in this process with the extra config file named first in argv, serving the
    task logs and run reports of a local data_dir read-only beside its own pages."""
    import luigi.cmdline
    import luigi.configuration
    import luigi.server

    luigi.configuration.add_config_path(argv[0])
    _task_history_on_sqlalchemy_2()
    luigi_app = luigi.server.app

    def app(scheduler):
        application = luigi_app(scheduler)
        application.add_handlers(r".*", _file_routes())
        return application

    luigi.server.app = app  # luigi.server.run builds its tornado application with it
    luigi.cmdline.luigid(argv[1:])


def _task_history_on_sqlalchemy_2() -> None:
    """Luigi 3.8's task history checks its SQLite schema with a plain-string `execute`, which
    SQLAlchemy 2 refuses (spotify/luigi#3227; the fix, #3267, is not released), and MLflow needs
    SQLAlchemy 2. The same check, written SQLAlchemy's way, for the luigid this command runs."""
    import luigi.db_task_history as history
    import sqlalchemy

    luigis = history._upgrade_schema

    def upgrade(engine):
        if engine.dialect.name != "sqlite":
            return luigis(engine)
        if "task_id" not in [column["name"] for column in sqlalchemy.inspect(engine).get_columns("tasks")]:
            with engine.begin() as connection:  # a history.db made by Luigi before 2.7.2
                connection.execute(sqlalchemy.text("ALTER TABLE tasks ADD COLUMN task_id VARCHAR(200)"))
                connection.execute(sqlalchemy.text("CREATE INDEX ix_task_id ON tasks (task_id)"))

    history._upgrade_schema = upgrade


def _file_routes() -> list:
    """/pipeline/runs/logs/... and /pipeline/reports/... from data_dir (GET and HEAD only; nothing outside them)."""
    import tornado.web

    from pipeline.storage import is_s3
    from pipeline.tasklogs import LOGS, ROUTE

    class ReadOnlyFiles(tornado.web.StaticFileHandler):
        def get_content_type(self):
            return "text/plain; charset=utf-8" if self.absolute_path.endswith(".log") else super().get_content_type()

    data_dir = pipeline().data_dir
    if is_s3(data_dir):
        return []
    data = Path(data_dir).resolve()
    return [(rf"{ROUTE}/{LOGS}/(.*)", ReadOnlyFiles, {"path": str(data / LOGS)}),
            (rf"{ROUTE}/reports/(.*)", ReadOnlyFiles, {"path": str(data / "reports")})]


if __name__ == "__main__":
    _serve(sys.argv[1:])
