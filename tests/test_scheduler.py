"""luigid in the background: where its state lives, which server.json counts, start/status/stop for real."""
import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request

import pytest
from conftest import free_port

from pipeline import scheduler
from pipeline.errors import SchedulerError
from pipeline.storage import pid_alive

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@pytest.fixture
def other_program():
    """A live process that is not luigid (what a recorded pid may be after a reboot)."""
    process = subprocess.Popen(["sleep", "30"])
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def record_server(workspace, pid: int, port: int = 8082):
    home = workspace.data / "luigid"
    home.mkdir(parents=True, exist_ok=True)
    (home / "server.json").write_text(json.dumps({"pid": pid, "address": "127.0.0.1", "port": port}))
    return home / "server.json"


def answers(port: int) -> bool:
    try:
        with NO_PROXY.open(f"http://127.0.0.1:{port}/api/task_list", timeout=2) as response:
            return response.status == 200 and "response" in json.loads(response.read())
    except OSError:
        return False


def test_home_is_data_dir_luigid_for_a_local_data_dir(workspace):
    with workspace.configured():
        assert scheduler.home() == (workspace.data / "luigid").resolve()


def test_no_server_json_means_not_running(workspace):
    with workspace.configured():
        assert scheduler.server_info() is None
        assert scheduler.stop() is None


def test_a_server_json_whose_pid_is_another_program_is_ignored_and_that_program_is_left_alone(workspace,
                                                                                            other_program):
    server_json = record_server(workspace, other_program.pid)
    with workspace.configured():
        assert scheduler.server_info() is None
        assert scheduler.stop() is None
    assert other_program.poll() is None  # still running: stop() never signalled it
    status = workspace.main("scheduler", "status")
    assert (status.returncode, status.stdout) == (3, "luigid is not running\n")
    assert other_program.poll() is None and server_json.exists()


def test_a_server_json_whose_pid_is_dead_is_ignored(workspace):
    process = subprocess.Popen(["sleep", "30"])
    process.kill()
    process.wait()
    record_server(workspace, process.pid)
    with workspace.configured():
        assert scheduler.server_info() is None
    stopped = workspace.main("scheduler", "stop")
    assert (stopped.returncode, stopped.stdout) == (0, "luigid is not running\n")


def test_start_refuses_a_port_another_program_listens_on(workspace):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with workspace.configured(), pytest.raises(SchedulerError) as raised:
            scheduler.start(port=port)
        assert str(raised.value) == f"127.0.0.1:{port} is already in use by another program; choose another --port"
        cli = workspace.main("scheduler", "start", "--port", str(port))
    assert (cli.returncode, cli.stderr) == (1, f"error: {raised.value}\n")
    assert not (workspace.data / "luigid" / "server.json").exists()


def test_start_status_stop_round_trip_with_a_real_luigid(workspace):
    port = free_port()
    info = None
    try:
        with workspace.configured():
            info = scheduler.start(port=port)  # this process is luigid's parent: stopped, it lingers unreaped
            assert answers(port)
            assert scheduler.server_info() == info
            assert (info["address"], info["port"]) == ("127.0.0.1", port)
            assert json.loads((workspace.data / "luigid" / "server.json").read_text()) == info
            assert scheduler.task_counts(info) == {"RUNNING": 0, "PENDING": 0, "FAILED": 0, "DONE": 0, "DISABLED": 0}
            assert scheduler.start(port=port)["pid"] == info["pid"]  # already running: the same luigid

        status = workspace.main("scheduler", "status")
        assert status.returncode == 0
        assert status.stdout == (f"luigid running (pid {info['pid']}) at http://127.0.0.1:{port}: "
                                 "0 running, 0 pending, 0 failed, 0 done, 0 disabled\n")

        with workspace.configured():
            started = time.monotonic()
            assert scheduler.stop() == info
            assert time.monotonic() - started < 10  # not the 15 s it waits for a process that does not exit
        assert not pid_alive(info["pid"])
        assert not answers(port)
        assert not (workspace.data / "luigid" / "server.json").exists()
        status = workspace.main("scheduler", "status")
        assert (status.returncode, status.stdout) == (3, "luigid is not running\n")
    finally:
        if info and pid_alive(info["pid"]):
            with contextlib.suppress(ProcessLookupError):
                os.kill(info["pid"], signal.SIGKILL)


def test_scheduler_run_is_luigid_in_the_foreground_that_status_and_stop_find(workspace):
    import shutil
    import sys
    from pathlib import Path

    port = free_port()
    script = str(Path(sys.executable).parent / "ml-pipeline")
    process = subprocess.Popen([script if Path(script).exists() else shutil.which("ml-pipeline"), "scheduler", "run",
                                "--port", str(port)], env=workspace.env, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 30
        while not answers(port):
            assert process.poll() is None and time.time() < deadline, "luigid did not start"
            time.sleep(0.1)
        assert process.stdout.readline().startswith(f"luigid on http://127.0.0.1:{port} in the foreground")
        status = workspace.cli("scheduler", "status")
        assert status.stdout.startswith(f"luigid running (pid {process.pid}) at http://127.0.0.1:{port}: ")
        # a run that is pointed at a scheduler that is not there gives up in seconds, with a hint
        workspace.add_cfg("[core]\nrpc_retry_wait = 1\n")
        down = workspace.luigi("TrainValidateDeploy", "--scheduler-port", str(free_port()), local=False)
        assert down.returncode == 40 and "Traceback" not in down.output
        assert "is luigid running? start it with `ml-pipeline scheduler start`" in down.output.splitlines()[-1]
        assert workspace.cli("scheduler", "stop").stdout == f"luigid (pid {process.pid}) stopped\n"
        assert process.wait(timeout=15) is not None
    finally:
        if process.poll() is None:
            process.kill()
