"""Fixtures for end-to-end runs: a temporary data dir, config overrides, the real `luigi` command."""
from __future__ import annotations

import configparser
import contextlib
import http.server
import io
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PIPELINE_TOML = REPO / "config" / "pipeline.toml"
FAULTS = str(Path(__file__).resolve().parent / "faults")  # PYTHONPATH entry with the fault-injection hooks
PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def tool(name: str) -> str:
    """A console script of this environment (luigi, luigid, luigi-deps-tree)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else shutil.which(name)


@dataclass
class Run:
    returncode: int
    output: str

    def ran(self, family: str) -> bool:
        """Whether the execution summary lists `family` among the tasks that ran."""
        summary = self.output.split("===== Luigi Execution Summary =====")[1]
        ran_block = summary.split("ran successfully:")[1] if "ran successfully:" in summary else ""
        ran_block = ran_block.split("\n* ")[0]
        return f" {family}(" in ran_block

    def headlines(self) -> list[str]:
        """The pipeline's one-line verdicts on a failure: FAILED, CANNOT SCHEDULE, MISSING DATA."""
        return [line for line in self.output.splitlines() if line.partition(" pipeline: ")[2].startswith(
            ("FAILED ", "CANNOT SCHEDULE ", "MISSING DATA "))]


@dataclass
class Held:
    """A real run held at a fault point (Workspace.held); `run` once it has finished."""
    process: subprocess.Popen
    run: Run | None = None


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"  # as config/logging.conf writes it


class _Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter(LOG_FORMAT))

    def emit(self, record):
        self.lines.append(self.format(record))


class Workspace:
    """A data dir, an override cfg named in LUIGI_CONFIG_PATH, and an editable pipeline.toml.

    Two ways to run the pipeline in it: `luigi(...)`, the real `luigi` command in a subprocess,
    and `run(...)`, the same command line through Luigi's own entry point (`run_with_retcodes`:
    argv parsing, scheduling, the execution summary, [retcode]) inside the test process, which
    saves the interpreter start and the imports. Likewise `cli(...)` and `main(...)` for
    `python -m pipeline`.
    """

    def __init__(self, root: Path):
        self.root = root
        self.data = root / "data"
        self.toml = root / "pipeline.toml"
        self.toml.write_text(PIPELINE_TOML.read_text())
        self.cfg = root / "override.cfg"
        self.extra: dict[str, dict[str, str]] = {}
        self._write_cfg()

    def settings(self) -> dict[str, dict[str, str]]:
        """The override cfg's own sections, before what tests add."""
        return {"pipeline": {"data_dir": str(self.data), "config": str(self.toml), "settle_seconds": "0"},
                "core": {"lock_pid_dir": str(self.root / "locks")},
                # a worker waiting for another (keep-alive) or for luigid looks again sooner than in production
                "worker": {"wait_interval": "0.2", "wait_jitter": "0.2"}}

    def _write_cfg(self):
        sections = self.settings()
        for section, options in self.extra.items():
            sections.setdefault(section, {}).update(options)
        self.cfg.write_text("".join(f"[{section}]\n" + "".join(f"{key} = {value}\n" for key, value in options.items())
                                    + "\n" for section, options in sections.items()))

    def add_cfg(self, text: str):
        """Add luigi.cfg sections or keys (merged into what the override cfg already has)."""
        parser = configparser.ConfigParser(interpolation=None)
        parser.optionxform = str
        parser.read_string(text)
        for section in parser.sections():
            self.extra.setdefault(section, {}).update(parser[section])
        self._write_cfg()

    def add_config(self, toml_text: str):
        self.toml.write_text(self.toml.read_text() + "\n" + toml_text + "\n")

    def replace_config(self, old: str, new: str):
        text = self.toml.read_text()
        assert old in text, old
        self.toml.write_text(text.replace(old, new))

    def clone(self, root: Path) -> Workspace:
        """A copy of this workspace (data, config, source files) at `root`, paths rewritten."""
        shutil.copytree(self.root, root, dirs_exist_ok=True, ignore=shutil.ignore_patterns("locks"))
        copy = object.__new__(type(self))
        extra = {section: {key: value.replace(str(self.root), str(root)) for key, value in options.items()}
                 for section, options in self.extra.items()}
        copy.__dict__.update(self.__dict__, root=root, data=root / "data", toml=root / "pipeline.toml",
                             cfg=root / "override.cfg", extra=extra)
        copy.toml.write_text(copy.toml.read_text().replace(str(self.root), str(root)))
        copy._write_cfg()
        return copy

    @property
    def env(self) -> dict:
        env = dict(os.environ, LUIGI_CONFIG_PATH=str(self.cfg))
        for name in ("PYTHONPATH", *PROXY_VARIABLES):
            env.pop(name, None)
        return env

    def command(self, *args: str, local: bool = True, python_flags: tuple = ()) -> list[str]:
        """The real `luigi` command line (through this interpreter when python_flags are given)."""
        launcher = [sys.executable, *python_flags, "-m", "luigi"] if python_flags else [tool("luigi")]
        return [*launcher, "--module", "pipeline", *args] + (["--local-scheduler"] if local else [])

    def luigi(self, *args: str, local: bool = True, python_flags: tuple = (), env: dict | None = None) -> Run:
        """Run the real `luigi` command; `env` adds variables (see tests/faults for fault injection)."""
        proc = subprocess.run(self.command(*args, local=local, python_flags=python_flags), cwd=REPO,
                              env={**self.env, **(env or {})}, capture_output=True, text=True, timeout=600)
        return Run(proc.returncode, proc.stdout + proc.stderr)

    @contextlib.contextmanager
    def held(self, *args: str, at: str = "fit", local: bool = True):
        """The real `luigi` command, held at fault point `at` (tests/faults) while the block runs; it
        goes on when the block ends. Yields a Held whose `.run` is the Run once it has finished."""
        pause = self.root / "paused"
        process = subprocess.Popen(self.command(*args, local=local), cwd=REPO, text=True,
                                   env={**self.env, "PYTHONPATH": FAULTS, "PIPELINE_TEST_PAUSE_AT": at,
                                        "PIPELINE_TEST_PAUSE_FILE": str(pause)},
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        held = Held(process)
        try:
            deadline = time.time() + 120
            while not pause.exists():
                if process.poll() is not None or time.time() > deadline:
                    process.kill()
                    pytest.fail(f"the run never reached {at}:\n{process.communicate()[0][-3000:]}")
                time.sleep(0.05)
            yield held
        finally:
            pause.unlink(missing_ok=True)
            output, _ = process.communicate(timeout=300)
            held.run = Run(process.returncode, output)

    @contextlib.contextmanager
    def configured(self):
        """Luigi's config in this process as LUIGI_CONFIG_PATH sets it for a subprocess, read afresh."""
        from luigi.configuration import LuigiConfigParser
        from luigi.task_register import Register

        from pipeline import settings

        saved = LuigiConfigParser._instance, LuigiConfigParser._config_paths
        LuigiConfigParser._instance = None
        LuigiConfigParser._config_paths = [str(REPO / "luigi.cfg"), str(self.cfg)]
        Register.clear_instance_cache()  # task objects cache their config keys
        settings._load.cache_clear()  # pipeline.toml is read once per process, and tests edit it
        try:
            yield
        finally:
            LuigiConfigParser._instance, LuigiConfigParser._config_paths = saved
            Register.clear_instance_cache()

    def run(self, *args: str) -> Run:
        """`luigi --module pipeline ARGS --local-scheduler` in this process (see the class docstring).

        Without the pid lock (it is keyed on the process's command line, here pytest's), and with
        the log lines captured as config/logging.conf would print them.
        """
        import luigi.retcodes
        from luigi.setup_logging import InterfaceLogging

        InterfaceLogging._configured = True  # Luigi must not reconfigure the test process's logging
        handler = _Lines()
        loggers = [logging.getLogger(name) for name in ("luigi-interface", "pipeline")]
        levels = [logger.level for logger in loggers]
        for logger in loggers:
            logger.addHandler(handler)
            logger.setLevel(logging.INFO)
        try:
            with self.configured():
                luigi.retcodes.run_with_retcodes(["--module", "pipeline", *args, "--local-scheduler", "--no-lock"])
        except SystemExit as exit:
            code = exit.code
        finally:
            for logger, level in zip(loggers, levels):
                logger.removeHandler(handler)
                logger.setLevel(level)
        return Run(code, "\n".join(handler.lines))

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        """`python -m pipeline ARGS` in a subprocess."""
        return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=REPO, env=self.env,
                              capture_output=True, text=True, timeout=300)

    def main(self, *args: str) -> subprocess.CompletedProcess:
        """`python -m pipeline ARGS` in this process: the same main(), its exit code and output."""
        from pipeline.__main__ import main

        out, err = io.StringIO(), io.StringIO()
        with self.configured(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
        return subprocess.CompletedProcess(["python", "-m", "pipeline", *args], code, out.getvalue(), err.getvalue())

    @property
    def store(self):
        from pipeline.storage import open_store

        return open_store(str(self.data))

    def registry_list(self) -> list[dict]:
        proc = self.main("registry", "list", "--json")
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    def registry_dir(self, dataset: str = "digits", model: str = "logreg") -> Path:
        return self.data / "registry" / dataset / model

    def production(self, dataset: str = "digits", model: str = "logreg") -> str | None:
        text = self.store.read_text(f"registry/{dataset}/{model}/production.json")
        return json.loads(text)["version"] if text else None

    def history(self, dataset: str = "digits", model: str = "logreg") -> list[dict]:
        text = self.store.read_text(f"registry/{dataset}/{model}/history.jsonl") or ""
        return [json.loads(line) for line in text.splitlines()]

    def outputs(self, stage: str) -> list:
        """Committed outputs of a stage (those with a manifest), as ArtifactDirs."""
        from pipeline.artifacts import ArtifactDir

        return [ArtifactDir(self.store, key.rsplit("/", 1)[0]) for key in self.store.keys(stage)
                if key.endswith("/manifest.json")]

    def output(self, stage: str, date: str, *partition: str):
        """The one committed output of a stage for a date (and dataset/model)."""
        [found] = [o for o in self.outputs(stage) if f"/{'/'.join([*partition, date])}/" in f"/{o.key}/"]
        return found

    def read_json(self, stage: str, date: str, name: str, *partition: str):
        return self.output(stage, date, *partition).read_json(name)


@pytest.fixture
def workspace(tmp_path) -> Workspace:
    return Workspace(tmp_path)


@contextlib.contextmanager
def running_luigid(ws: Workspace):
    """`python -m pipeline scheduler start` on a free port, stopped afterwards. Yields the port."""
    port = free_port()
    started = ws.cli("scheduler", "start", "--port", str(port))
    assert started.returncode == 0, started.stderr
    assert f"visualizer at http://127.0.0.1:{port}" in started.stdout
    try:
        yield port
    finally:
        stopped = ws.cli("scheduler", "stop")
        assert stopped.returncode == 0 and "stopped" in stopped.stdout


# ---------------------------------------------------------------- an S3-compatible server

S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test-key", "AWS_SECRET_ACCESS_KEY": "test-secret",
                  "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """moto in server mode on 127.0.0.1 (a real HTTP S3 API), for the whole test session. Yields its URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARIABLES}
    with open(log, "wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                  stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.time() + 30
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            break
        assert server.poll() is None and time.time() < deadline, f"moto did not start: {log.read_text()[-500:]}"
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    """Credentials and the endpoint in this process's environment (boto3 reads AWS_ENDPOINT_URL_S3)."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in {**S3_CREDENTIALS, "AWS_ENDPOINT_URL_S3": s3_server}.items():
        monkeypatch.setenv(name, value)
    return s3_server


_buckets = iter(range(1, 10**6))


def new_bucket(endpoint: str) -> str:
    import boto3

    name = f"pipeline-test-{os.getpid()}-{next(_buckets)}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=name)
    return name


class S3Workspace(Workspace):
    """A Workspace whose data_dir is s3://<a new bucket>/data. The runs it starts find the endpoint
    in luigi.cfg [s3] (not the environment), each with its own local cache dir."""

    def __init__(self, root: Path, endpoint: str):
        self.endpoint, self.bucket = endpoint, new_bucket(endpoint)
        self.url = f"s3://{self.bucket}/data"
        super().__init__(root)

    def settings(self) -> dict[str, dict[str, str]]:
        settings = super().settings()
        settings["pipeline"] |= {"data_dir": self.url, "cache_dir": str(self.root / "cache")}
        return {**settings, "s3": {"endpoint_url": self.endpoint}}

    @property
    def env(self) -> dict:
        env = super().env
        env.pop("AWS_ENDPOINT_URL_S3")
        return env

    @property
    def store(self):
        from pipeline.storage import open_store

        return open_store(self.url, str(self.root / "test-cache"))


@pytest.fixture
def s3_workspace(tmp_path, s3_env) -> S3Workspace:
    return S3Workspace(tmp_path, s3_env)


@pytest.fixture(params=["local", "s3"])
def any_store(request, tmp_path) -> Workspace:
    """A workspace on each store: a local data_dir, then an s3:// one on the moto server."""
    if request.param == "local":
        return Workspace(tmp_path)
    return S3Workspace(tmp_path, request.getfixturevalue("s3_env"))


# ---------------------------------------------------------------- deployed workspaces, built once

DAY1, DAY2 = "--date=2026-01-01", "--date=2026-01-02"


def _deploy_digits(ws: Workspace) -> None:
    run = ws.run("TrainValidateDeploy", DAY1)
    assert run.returncode == 0, run.output


def _deploy_customers(ws: Workspace) -> None:
    from samples import CUSTOMERS_BLOCK, customers

    customers().to_csv(ws.root / "customers.csv", index=False)
    ws.add_config(CUSTOMERS_BLOCK.format(path=ws.root / "customers.csv"))
    run = ws.run("TrainValidateDeploy", "--dataset", "customers", DAY1)
    assert run.returncode == 0, run.output


TEMPLATES = {"digits": _deploy_digits, "customers": _deploy_customers}


@pytest.fixture(scope="session")
def _templates(tmp_path_factory):
    built: dict[str, Workspace] = {}

    def template(name: str) -> Workspace:
        if name not in built:
            ws = Workspace(tmp_path_factory.mktemp(f"template-{name}"))
            TEMPLATES[name](ws)
            built[name] = ws
        return built[name]
    return template


@pytest.fixture
def deployed(_templates, tmp_path):
    """deployed(name): a fresh copy of a workspace where TrainValidateDeploy already ran for DAY1
    (production v0001): "digits" (digits/logreg) or "customers" (a CSV with text and gaps)."""
    return lambda name="digits": _templates(name).clone(tmp_path / f"ws-{name}")


@contextlib.contextmanager
def serve_http(respond):
    """An HTTP server on 127.0.0.1; `respond(path)` gives (status, body). Yields (base_url, paths asked)."""
    requests: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            requests.append(self.path)
            status, body = respond(self.path)
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def http_server(monkeypatch):
    """`serve_http`, with proxy variables cleared so requests reach the local server."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return serve_http


@pytest.fixture
def http_files(http_server):
    """A local server for a dict {url_path: bytes}; unknown paths answer 404. Yields (base_url, files)."""
    files: dict[str, bytes] = {}
    with http_server(lambda path: (200, files[path]) if path in files else (404, b"not found")) as (base, _):
        yield base, files


class Webhook:
    """A local HTTP endpoint that records the JSON bodies POSTed to it."""

    def __init__(self):
        self.posts: list[dict] = []
        self.status = 200
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.posts.append({"path": self.path, **json.loads(body)})
                self.send_response(hook.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/T0KEN/SECRET-hook"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def events(self) -> list[str]:
        return [post["event"] for post in self.posts]

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def webhook(monkeypatch):
    """A webhook receiver; its URL is in PIPELINE_WEBHOOK_URL for the runs the test starts."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    hook = Webhook()
    monkeypatch.setenv("PIPELINE_WEBHOOK_URL", hook.url)
    yield hook
    hook.close()


# ---------------------------------------------------------------- a registry of small real models

@pytest.fixture
def registry(tmp_path):
    """A registry in a local store under tmp_path; `registry.root` is its folder."""
    from pipeline.registry import Registry
    from pipeline.storage import LocalStore

    registry = Registry(LocalStore(tmp_path), "registry/ds/m", "ds", "m")
    registry.root = tmp_path / "registry" / "ds" / "m"
    return registry


@pytest.fixture
def make_candidate(tmp_path):
    """(model dir, card) for a real fitted model; C makes each candidate's bytes differ."""
    import joblib
    from sklearn.linear_model import LogisticRegression

    from pipeline.artifacts import ArtifactDir
    from pipeline.storage import LocalStore, sha256_file

    def make(candidate_id: str, C: float = 1.0, date: str = "2026-01-01"):
        model = LogisticRegression(C=C).fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
        candidate = ArtifactDir(LocalStore(tmp_path), f"candidates/{candidate_id}")
        with candidate.staging() as tmp:
            joblib.dump(model, tmp / "model.joblib")
        card = {"candidate_id": candidate_id, "model_sha256": sha256_file(candidate / "model.joblib"),
                "metrics": {"C": C}, "date": date}
        return candidate, card
    return make


# ---------------------------------------------------------------- a headless browser

CHROMIUM = "/usr/bin/chromium"  # Debian's chromium: .ci/run installs it with apt-get
# no network beyond 127.0.0.1 here: without these, chromium keeps trying Google's hosts
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--no-proxy-server"]


@pytest.fixture(scope="session")
def chromium():
    """Debian's chromium, headless, driven by Playwright, for the whole session. Skipped where
    either is missing, unless PIPELINE_REQUIRE_BROWSER is set (.ci/run sets it)."""
    missing = pytest.fail if os.environ.get("PIPELINE_REQUIRE_BROWSER") else pytest.skip
    try:
        from playwright import sync_api
    except ImportError:
        missing("playwright is missing: pip install -e '.[test]' installs it")
    if not os.path.exists(CHROMIUM):
        missing(f"{CHROMIUM} is missing: apt-get install chromium (as .ci/run does)")
    with sync_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium):
    """A fresh browser tab (its own cookies and cache); its console errors are in page.errors."""
    context = chromium.new_context()
    tab = context.new_page()
    tab.errors = []
    tab.on("pageerror", lambda error: tab.errors.append(str(error)))
    try:
        yield tab
    finally:
        context.close()
