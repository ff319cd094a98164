"""The runner's pieces without a server: resource accounting, job processes (their own process
group, stdout/stderr files, exit codes, measured memory and CPU) and stopping them."""

from __future__ import annotations

import os
import resource
import signal
import sys
import time
from pathlib import Path

import pytest

from teamgate.runner.processes import Exit, Processes
from teamgate.runner.resources import GIB, Need, Pool, parse_memory
from teamgate.runner.results import result_body, status_of


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1m", 1 << 20), ("8g", 8 * GIB), ("2T", 2 << 40), ("512", 512), (" 4k ", 4096)],
)
def test_memory_amounts_as_torc_writes_them(text: str, expected: int) -> None:
    assert parse_memory(text) == expected


@pytest.mark.parametrize("text", ["1.5g", "8gb", "", "g", "-1m"])
def test_bad_memory_amounts_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="invalid memory amount"):
        parse_memory(text)


def test_need_of_requirements_defaults_to_torcs_default() -> None:
    assert Need.of(None) == Need(1, 1 << 20, 0)
    assert Need.of({"num_cpus": 4, "memory": "2g", "num_gpus": 1}) == Need(4, 2 * GIB, 1)


def test_pool_holds_what_running_jobs_need_and_gives_it_back() -> None:
    pool = Pool(num_cpus=4, memory_bytes=8 * GIB)
    big = Need(num_cpus=3, memory_bytes=6 * GIB)
    assert pool.fits(big)
    pool.take(big)
    assert pool.claim_body() == {"num_cpus": 1, "memory_gb": 2.0, "num_gpus": 0, "num_nodes": 1}
    assert not pool.fits(big)
    assert pool.fits(Need(1, GIB))
    pool.take(Need(1, 2 * GIB))
    assert not pool.can_claim()
    pool.give(big)
    pool.give(Need(1, 2 * GIB))
    assert pool.free == pool.total
    pool.give(big)  # never more than the machine has
    assert pool.free == pool.total


def run_one(processes: Processes, command: str, tmp_path: Path, **env: str) -> Exit:
    processes.spawn(
        command,
        env={"PATH": os.environ["PATH"], **env},
        stdout=tmp_path / "out",
        stderr=tmp_path / "err",
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done = processes.reap()
        if done:
            return done[0][1]
        processes.wait(5)
    raise AssertionError("the job never exited")


def test_a_job_runs_under_bash_with_its_env_and_files(tmp_path: Path) -> None:
    processes = Processes()
    exit = run_one(processes, 'echo "hi $WHO"; echo oops >&2; exit 3', tmp_path, WHO="torc")
    assert exit.return_code == 3
    assert (tmp_path / "out").read_text() == "hi torc\n"
    assert (tmp_path / "err").read_text() == "oops\n"
    assert len(processes) == 0


def test_process_group_and_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    exit = run_one(Processes(), "ps -o pgid= -p $$ > pgid; echo $$ > pid; pwd > cwd", tmp_path)
    assert exit.return_code == 0
    pid = int((tmp_path / "pid").read_text())
    assert int((tmp_path / "pgid").read_text()) == pid  # it leads its own group
    assert pid != os.getpgid(0)
    assert Path((tmp_path / "cwd").read_text().strip()) == tmp_path


def test_peak_memory_and_cpu_are_measured(tmp_path: Path) -> None:
    # Above this process's own peak: a job's peak counts only beyond the runner's (a test
    # process that already held more memory than the job would see no figure at all).
    size = max(400 << 20, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 + (200 << 20))
    grab = (
        f"{sys.executable} -c 'import time; b = bytearray({size}); t = time.process_time()\n"
        "while time.process_time() - t < 0.3: pass'"
    )
    exit = run_one(Processes(), grab, tmp_path)
    assert exit.return_code == 0, (tmp_path / "err").read_text()
    assert exit.peak_memory_bytes is not None and exit.peak_memory_bytes >= size
    assert exit.cpu_seconds >= 0.3
    assert 20 < exit.avg_cpu_percent <= 200


def test_a_small_job_has_no_peak_memory_rather_than_the_runners(tmp_path: Path) -> None:
    exit = run_one(Processes(), "exit 0", tmp_path)
    assert exit.peak_memory_bytes is None


def test_waiting_ends_when_a_job_exits_not_at_the_timeout(tmp_path: Path) -> None:
    processes = Processes()
    processes.spawn("exit 0", env={}, stdout=tmp_path / "o", stderr=tmp_path / "e")
    began = time.monotonic()
    processes.wait(60)
    assert time.monotonic() - began < 30
    assert [e.return_code for _p, e in processes.reap()] == [0]


def test_waiting_ends_when_the_wake_fd_is_written(tmp_path: Path) -> None:
    processes = Processes()
    processes.spawn("read x", env={}, stdout=tmp_path / "o", stderr=tmp_path / "e")
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b"x")
    began = time.monotonic()
    processes.wait(60, wake_fds=[read_fd])
    assert time.monotonic() - began < 30
    processes.stop_all(grace=5)
    os.close(read_fd)
    os.close(write_fd)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_stopping_reaches_everything_the_command_started(tmp_path: Path) -> None:
    processes = Processes()
    marker = tmp_path / "child"
    # a background grandchild that ignores SIGTERM, and a leader waiting on it
    command = f"(trap '' TERM; sleep 300) & echo $! > {marker}.tmp; mv {marker}.tmp {marker}; wait"
    processes.spawn(command, env=dict(os.environ), stdout=tmp_path / "o", stderr=tmp_path / "e")
    while not marker.exists():
        processes.wait(0.01)  # the marker, written by the job, says the grandchild exists
    child = int(marker.read_text())
    stopped = processes.stop_all(grace=0.5)
    assert len(stopped) == 1
    process, exit = stopped[0]
    assert process.signal_sent in (signal.SIGTERM, signal.SIGKILL)
    assert status_of(exit, signal_sent=process.signal_sent)[0] == "terminated"
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.01)  # the grandchild is init's now: its exit is reaped there
    assert not _alive(child)


def test_a_job_that_ends_on_sigterm_is_recorded_minus_15(tmp_path: Path) -> None:
    processes = Processes()
    processes.spawn(
        "exec sleep 300", env=dict(os.environ), stdout=tmp_path / "o", stderr=tmp_path / "e"
    )
    [(process, exit)] = processes.stop_all(grace=10)
    assert exit.return_code == -15
    assert status_of(exit, signal_sent=process.signal_sent) == ("terminated", -15)


def test_status_and_result_body() -> None:
    exit = Exit(return_code=0, wall_seconds=120.0, cpu_seconds=60.0, peak_memory_bytes=2048)
    assert status_of(exit, signal_sent=None) == ("completed", 0)
    assert status_of(Exit(2, 1.0, 0.0, 0), signal_sent=None) == ("failed", 2)
    quick = result_body(
        {"id": 1, "workflow_id": 1},
        run_id=1,
        compute_node_id=1,
        status="completed",
        return_code=0,
        exit=Exit(0, 0.001, 0.01, None),
    )
    assert "peak_memory_bytes" not in quick and "avg_cpu_percent" not in quick
    job = {"id": 7, "workflow_id": 3, "attempt_id": 2}
    body = result_body(
        job, run_id=1, compute_node_id=5, status="completed", return_code=0, exit=exit
    )
    assert body["exec_time_minutes"] == 2.0
    assert body["avg_cpu_percent"] == body["peak_cpu_percent"] == 50.0
    assert body["peak_memory_bytes"] == 2048
    assert (body["job_id"], body["workflow_id"], body["run_id"], body["attempt_id"]) == (7, 3, 1, 2)
    assert body["completion_time"].endswith("Z")
