"""Scheduling limits: load, memory, pressure, per process, pool size, pause.

Load, MemAvailable and pressure are read from a stand-in directory (STEVE_PROC)
that each test writes, so the tests decide how busy the machine looks.
"""
import os
import subprocess
import time

import pytest

from conftest import STEVE, is_mounted

CALM = {"loadavg": "0.10 0.10 0.10 1/100 1\n",
        "meminfo": "MemTotal: 16000000 kB\nMemAvailable: 8000000 kB\n",
        "pressure/cpu": "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
                        "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
        "pressure/memory": "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
                           "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"}


@pytest.fixture
def fake_proc(tmp_path):
    root = tmp_path / "proc"
    (root / "pressure").mkdir(parents=True)

    def write(**files):
        for name, text in files.items():
            path = root / name.replace("__", "/")
            path.write_text(text)
    write(**{k.replace("/", "__"): v for k, v in CALM.items()})
    write.root = root
    return write


def context_switches(pid):
    with open(f"/proc/{pid}/status") as f:
        return sum(int(l.split()[1]) for l in f if "ctxt_switches" in l)


@pytest.mark.parametrize("option, value, busy, calm", [
    ("--load-average", "2", {"loadavg": "5.00 1.00 1.00 1/100 1\n"}, {"loadavg": CALM["loadavg"]}),
    ("--min-memory-avail", "1G", {"meminfo": "MemAvailable: 1000 kB\n"}, {"meminfo": CALM["meminfo"]}),
    ("--cpu-pressure", "20", {"pressure__cpu": "some avg10=35.00 avg60=0 avg300=0 total=1\n"},
     {"pressure__cpu": CALM["pressure/cpu"]}),
    ("--memory-pressure", "10", {"pressure__memory": "some avg10=10.00 avg60=0 avg300=0 total=1\n"},
     {"pressure__memory": CALM["pressure/memory"]}),
])
def test_system_limit_holds_back_tokens_beyond_min_jobs_and_releases_them(
        start_steve, clients, fake_proc, option, value, busy, calm):
    fake_proc(**busy)
    steve = start_steve(4, option, value, "--load-recheck-timeout", "0.1",
                        env={"STEVE_PROC": str(fake_proc.root)})
    first, second = clients(steve), clients(steve)
    ffd = first.open("rdwr", "nonblock")
    assert first.do("read", ffd) == "+", "min-jobs (1) token held back"
    assert first.err("read", ffd) == "EAGAIN"
    wait = second.send("read", second.open())
    assert second.pending(wait, 0.5)
    fake_proc(**calm)
    assert second.result(wait, timeout=5) == ("ok", "+")
    assert first.do("read", ffd) == "+"


def test_min_jobs_sets_the_floor_under_a_limit(start_steve, clients, fake_proc):
    fake_proc(loadavg="9.00 9.00 9.00 1/1 1\n")
    steve = start_steve(4, "-l", "1", "--min-jobs", "2", env={"STEVE_PROC": str(fake_proc.root)})
    c = clients(steve)
    fd = c.open("rdwr", "nonblock")
    assert [c.do("read", fd), c.do("read", fd)] == ["+", "+"]
    assert c.err("read", fd) == "EAGAIN"


def test_no_timer_runs_while_nobody_waits(start_steve, clients, fake_proc):
    fake_proc(loadavg="9.00 9.00 9.00 1/1 1\n")
    steve = start_steve(2, "-l", "1", "--load-recheck-timeout", "0.05", env={"STEVE_PROC": str(fake_proc.root)})
    c = clients(steve)
    assert c.do("read", c.open("rdwr", "nonblock")) == "+"     # throttled, nobody waiting
    before = context_switches(steve.pid)
    time.sleep(1)
    assert context_switches(steve.pid) - before <= 2
    # a waiter held back by the limit: now steve rechecks about 20 times a second
    c.send("read", c.open())
    steve.wait_state(waiting=1)
    before = context_switches(steve.pid)
    time.sleep(1)
    assert context_switches(steve.pid) - before >= 5


def test_pressure_limit_without_psi_is_refused_clearly(tmp_path, fake_proc):
    for name in ("cpu", "memory"):
        (fake_proc.root / "pressure" / name).unlink()
    node = tmp_path / "node"
    r = subprocess.run([str(STEVE), "--path", str(node), "--cpu-pressure", "10"], capture_output=True,
                       text=True, timeout=10, env=dict(os.environ, STEVE_PROC=str(fake_proc.root)))
    assert r.returncode == 2
    assert "no pressure stall information" in r.stderr
    assert not is_mounted(node)


def test_pressure_setter_without_psi_is_refused(start_steve, fake_proc):
    (fake_proc.root / "pressure" / "memory").unlink()
    steve = start_steve(2, env={"STEVE_PROC": str(fake_proc.root)})
    r = steve.stevie("--set-memory-pressure", "10", check=False)
    assert r.returncode == 1 and "refused memory-pressure '10'" in r.stderr
    assert steve.stevie("--get-memory-pressure").stdout == "-1\n"


def test_per_process_limit_caps_one_process_not_the_others(start_steve, clients):
    steve = start_steve(4, "--per-process-limit", "2")
    greedy, other = clients(steve), clients(steve)
    gfd = greedy.open("rdwr", "nonblock")
    assert [greedy.do("read", gfd), greedy.do("read", gfd)] == ["+", "+"]
    assert greedy.err("read", gfd) == "EAGAIN"
    assert greedy.do("poll", gfd, 50) == "timeout"
    more = greedy.send("read", greedy.open())
    assert greedy.pending(more)
    ofd = other.open("rdwr", "nonblock")
    assert [other.do("read", ofd), other.do("read", ofd)] == ["+", "+"]
    greedy.do("write", gfd)
    assert greedy.result(more) == ("ok", "+")


def test_lowering_jobs_takes_nothing_back_and_raising_serves_at_once(start_steve, clients):
    steve = start_steve(4)
    holder, waiter = clients(steve), clients(steve)
    hfd = holder.open("rdwr", "nonblock")
    for _ in range(3):
        holder.do("read", hfd)
    steve.stevie("--set-jobs", "2")
    st = steve.state()
    assert (st.jobs, st.held, st.available) == (2, 3, -1)
    assert steve.stevie("-t").stdout == "-1\n"
    wait = waiter.send("read", waiter.open())
    holder.do("writen", hfd, 2)                       # 1 held of 2: room for one
    assert waiter.result(wait) == ("ok", "+")
    wait = waiter.send("read", 3)
    steve.wait_state(waiting=1)
    steve.stevie("--set-jobs", "3")
    assert waiter.result(wait) == ("ok", "+")


def test_pause_stops_new_tokens_and_resume_serves_waiters(start_steve, clients):
    steve = start_steve(2)
    c, waiter = clients(steve), clients(steve)
    fd = c.open("rdwr", "nonblock")
    assert c.do("read", fd) == "+"
    steve.stevie("--pause")
    assert steve.stevie("--get-paused").stdout == "1\n"
    assert c.err("read", fd) == "EAGAIN"
    wait = waiter.send("read", waiter.open())
    assert waiter.pending(wait)
    assert c.do("write", fd) == "1"                   # returns still work
    assert waiter.pending(wait)
    steve.stevie("--resume")
    assert waiter.result(wait) == ("ok", "+")


def test_unreadable_proc_files_leave_tokens_flowing_and_say_so(start_steve, clients, fake_proc):
    (fake_proc.root / "loadavg").unlink()
    steve = start_steve(2, "-l", "1", env={"STEVE_PROC": str(fake_proc.root)})
    c = clients(steve)
    fd = c.open("rdwr", "nonblock")
    assert [c.do("read", fd), c.do("read", fd)] == ["+", "+"]
    steve.wait_for_line("Cannot read the system's load")
