"""steve restarted, upgraded, crashed, stopped and started later, or
re-executed in place, while clients hold tokens, wait and poll: none of them
notices.

The test plays steve.socket: it keeps the connection (an open /dev/cuse, or
/dev/fuse mounted at the node) across steves and hands it to each with
LISTEN_FDS; every steve keeps the pool in one --state-file. A re-exec needs
neither: the connection and the pool go with it.
"""
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, STEVE, STEVIE, JOBS, Keeper, is_mounted, real_tool, wait_until

sys.path.insert(0, str(ROOT / "bench"))
from fairness import recursive_build  # noqa: E402 (the path first)
from test_real_clients import max_concurrency, start_emerge  # noqa: E402


def crash(sig):
    def event(keeper, steve):
        steve.proc.send_signal(sig)
        steve.proc.wait(timeout=10)
        return keeper.start()
    return event


def restart(keeper, steve):
    assert steve.stop() == 0
    assert "every token stay for the next steve" in steve.log()
    return keeper.start()


def stop_then_start_later(keeper, steve):
    assert steve.stop() == 0
    time.sleep(1)
    return keeper.start()


def reexec(keeper, steve):
    start = len(steve.lines)
    os.kill(steve.pid, signal.SIGUSR2)
    steve.wait_for_line("adopted the connection", start)
    steve.wait_for_line("running on", start)
    return steve


def stevie_reexec(keeper, steve):
    start = len(steve.lines)
    steve.stevie("--reexec")
    steve.wait_for_line("running on", start)
    return steve


EVENTS = {
    "restart": restart,
    "kill-9": crash(signal.SIGKILL),
    "abort": crash(signal.SIGABRT),
    "stop-then-start-later": stop_then_start_later,
    "sigusr2-reexec": reexec,
    "stevie-reexec": stevie_reexec,
}


class Build:
    """One client of each kind the project tests, holding the pool full and
    waiting for more."""

    def __init__(self, steve, clients):
        # make's way: poll, then a non-blocking read; it holds two.
        self.make = clients(steve)
        self.make_fd = self.make.open("rdwr", "nonblock")
        for _ in range(2):
            assert self.make.do("pollread", self.make_fd) == "+"
        # gcc's lto-wrapper: O_RDWR|O_NONBLOCK, a read that must not wait.
        self.gcc = clients(steve)
        self.gcc_fd = self.gcc.open("rdwr", "nonblock")
        assert self.gcc.do("read", self.gcc_fd) == "+"
        # Rust's jobserver crate: a blocking read in a helper thread; two, in order.
        self.rust = [clients(steve) for _ in range(2)]
        self.rust_fd = [c.open() for c in self.rust]
        self.rust_read = []
        for c, fd in zip(self.rust, self.rust_fd):
            self.rust_read.append(c.send("read", fd))
            steve.wait_state(waiting=len(self.rust_read))
        # make again, polling for a token it has no hope of yet.
        self.poller = clients(steve)
        self.poller_fd = self.poller.open("rdwr", "nonblock")
        self.poller_take = self.poller.send("pollread", self.poller_fd)
        time.sleep(0.3)
        assert self.poller.pending(self.poller_take)

    def finish(self, steve):
        """Returns tokens one at a time; each goes to the next in line."""
        # Returns after the event are accepted: no ENOSPC, no EIO.
        assert self.make.do("write", self.make_fd) == "1"
        assert self.rust[0].result(self.rust_read[0]) == ("ok", "+")
        assert self.rust[1].pending(self.rust_read[1])
        assert self.gcc.do("write", self.gcc_fd) == "1"
        assert self.rust[1].result(self.rust_read[1]) == ("ok", "+")
        assert self.make.do("write", self.make_fd) == "1"
        assert self.poller.result(self.poller_take) == ("ok", "+")
        for c, fd in [(self.rust[0], self.rust_fd[0]), (self.rust[1], self.rust_fd[1]),
                      (self.poller, self.poller_fd)]:
            assert c.do("write", fd) == "1"
        steve.wait_state(available=JOBS, held=0, waiting=0)
        for c in [self.make, self.gcc, self.poller, *self.rust]:
            c.send("exit")
            assert c.proc.wait(timeout=10) == 0
        steve.wait_state(available=JOBS, held=0, processes=0)


@pytest.mark.parametrize("event", ["restart", "kill-9", "sigusr2-reexec"])
def test_an_emerge_that_aborts_on_any_jobserver_error_runs_through(event, keeper, tmp_path):
    """Portage gives up the whole emerge on any error but EAGAIN: steve
    going away and coming back must show it none."""
    make = real_tool("STEVE_TEST_MAKE", "GNU make 4.4.1")
    steve = keeper.start()
    log = tmp_path / "stamps"
    emerge = start_emerge(make, steve, tmp_path, log, packages=3, emerge_jobs=2, jobs_each=8)
    wait_until(lambda: log.exists() and max_concurrency(log)[1] >= 2, what="the emerge's makes to run")
    steve = EVENTS[event](keeper, steve)
    out = emerge.communicate(timeout=120)[0]
    assert emerge.returncode == 0, out + keeper.logs()
    assert max_concurrency(log)[1] == 3 * 8
    steve.wait_state(available=JOBS, held=0)


@pytest.mark.parametrize("event", EVENTS)
def test_no_build_notices(event, keeper, clients):
    steve = keeper.start()
    build = Build(steve, clients)
    before = steve.wait_state(held=JOBS, waiting=3)

    steve = EVENTS[event](keeper, steve)

    after = steve.wait_state(held=JOBS, processes=before.processes, waiting=3)
    assert after.available == 0
    build.finish(steve)
    assert "cannot" not in steve.log().lower()


def test_a_return_while_no_steve_runs_waits_and_is_accepted(keeper, clients):
    steve = keeper.start()
    holder = clients(steve)
    fd = holder.open()
    assert holder.do("read", fd) == "+"
    steve.stop()
    returned = holder.send("write", fd)
    # The kernel holds the write until a steve reads it.
    assert holder.pending(returned, wait=0.5)
    steve = keeper.start()
    assert holder.result(returned) == ("ok", "1")
    steve.wait_state(available=JOBS, held=0)


def test_a_client_that_dies_while_no_steve_runs_leaves_its_tokens(keeper, clients):
    steve = keeper.start()
    dead, waiting = clients(steve), clients(steve)
    dead_fd = dead.open()
    for _ in range(JOBS):
        dead.do("read", dead_fd)
    blocked = waiting.send("read", waiting.open())
    steve.wait_state(waiting=1)
    steve.proc.kill()
    steve.proc.wait()
    # Its exit may wait for the next steve (the kernel flushes its file).
    dead.proc.kill()
    steve = keeper.start()
    assert waiting.result(blocked) == ("ok", "+")
    dead.proc.wait(timeout=10)
    steve.wait_state(available=JOBS - 1, held=1, processes=1)


def test_an_open_while_no_steve_runs_is_served_by_the_next(keeper, clients):
    steve = keeper.start()
    steve.stop()
    late = clients(steve)
    opened = late.send("open")
    assert late.pending(opened, wait=0.5)
    steve = keeper.start()
    status, fd = late.result(opened)
    assert status == "ok"
    assert late.do("read", fd) == "+"
    steve.wait_state(held=1)


# read(2)'s number, for /proc/PID/syscall.
READ_SYSCALL = {"x86_64": "0", "aarch64": "63"}.get(os.uname().machine)


def held_after_a_read(pid):
    """Whether pid stays stopped in a read (at its end, by strace's delay):
    stopped across samples, not just passing a syscall stop."""
    def in_read():
        try:
            state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            syscall = pathlib.Path(f"/proc/{pid}/syscall").read_text().split()[0]
        except (OSError, IndexError):
            return False
        return state == "t" and syscall == READ_SYSCALL
    for _ in range(10):
        if not in_read():
            return False
        time.sleep(0.05)
    return True


@pytest.mark.skipif(READ_SYSCALL is None, reason="read(2)'s number on this machine is not known here")
def test_a_request_read_by_a_steve_killed_at_once_is_served_by_the_next(keeper, clients, transport):
    """The kernel forgets a request once steve has read it: steve killed
    before it could note it down, the next one must still find it."""
    steve = keeper.start()
    client = clients(steve)
    fd = client.open()
    # Every read of the connection returns, a minute late: steve is caught
    # just after the kernel gave it the request.
    device = "/dev/cuse" if transport == "cuse" else "/dev/fuse"
    tracer = subprocess.Popen(["strace", "-qq", "-o", "/dev/null", "-p", str(steve.pid),
                               "-P", device, "-e", "trace=read", "-e", "inject=read:delay_exit=60s"])
    try:
        wait_until(lambda: f"TracerPid:\t{tracer.pid}\n" in pathlib.Path(f"/proc/{steve.pid}/status").read_text(),
                   what="strace attached to steve")
        asked = client.send("read", fd)
        wait_until(lambda: held_after_a_read(steve.pid), what="steve held after reading the request")
    finally:
        # steve first: let go by its tracer alive, it would go on with the
        # read. Its death is told to the tracer first: the tracer goes next.
        steve.proc.kill()
        tracer.kill()
        tracer.wait()
        steve.proc.wait()
    steve = keeper.start()
    assert client.result(asked) == ("ok", "+")
    steve.wait_state(available=JOBS - 1, held=1)


def test_run_time_changes_outlive_steve(keeper, clients):
    steve = keeper.start()
    steve.stevie("--set-jobs=5", "--pause")
    steve.proc.kill()
    steve.proc.wait()
    steve = keeper.start()
    assert steve.stevie("--get-jobs", "--get-paused").stdout.split() == ["5", "1"]
    # SIGHUP rereads the configuration: it wins, as at any start; a pause stays.
    start = len(steve.lines)
    os.kill(steve.pid, signal.SIGHUP)
    steve.wait_for_line("Reloaded", start)
    assert steve.stevie("--get-jobs", "--get-paused").stdout.split() == [str(JOBS), "1"]


def test_a_builds_weight_outlives_steve(keeper, clients):
    steve = keeper.start()
    a, b = clients(steve), clients(steve)
    a.do("read", a.open())
    b.do("read", b.open())
    steve.stevie("--set-weight", a.pid, "300")
    steve.proc.kill()
    steve.proc.wait()
    steve = keeper.start()
    st = steve.state()
    assert any(f"pid {a.pid} holds 1, build {a.pid} of weight 300:" in l for l in st.lines), st.lines
    assert any(f"pid {b.pid} holds 1, build {b.pid} of weight 1024:" in l for l in st.lines), st.lines


def test_job_ids_go_on(keeper, clients):
    steve = keeper.start()
    c = clients(steve)
    fd = c.open()
    c.do("read", fd)
    first = [l for l in steve.state().lines if "job" in l]
    steve.proc.kill()
    steve.proc.wait()
    steve = keeper.start()
    c.do("read", fd)
    lines = [l for l in steve.state().lines if "job" in l]
    assert first and lines and lines != first


def test_a_connection_whose_state_is_gone_is_refused_loudly(keeper):
    steve = keeper.start(state=False)
    steve.proc.kill()
    steve.proc.wait()
    again = keeper.start(state=False, wait=False)
    assert again.proc.wait(timeout=10) == 2
    assert "a fresh one is needed" in again.log()


def test_a_fresh_connection_starts_a_fresh_pool(keeper, node_dir, clients, transport, start_steve):
    steve = keeper.start()
    c = clients(steve)
    c.do("read", c.open())
    steve.proc.kill()
    steve.proc.wait()
    # The same state file with another, new connection: nothing is adopted.
    other = Keeper(transport, node_dir, start_steve)
    try:
        fresh = other.start(f"--state-file={keeper.state}", state=False)
        assert "adopted" not in fresh.log()
        fresh.wait_state(available=JOBS, held=0, processes=0)
    finally:
        other.close()
        # The old connection goes, as a socket unit's restart ends it; its client may exit.
        keeper.close()


def test_a_state_file_of_another_connection_is_refused(keeper, node_dir, transport, start_steve):
    other = Keeper(transport, node_dir, start_steve)
    try:
        for k in (keeper, other):
            steve = k.start()
            steve.stevie("-t")          # an open: the connection is told apart from now on
            steve.proc.kill()
            steve.proc.wait()
        wrong = other.start(f"--state-file={keeper.state}", state=False, wait=False)
        assert wrong.proc.wait(timeout=10) == 2
        assert "belongs to another connection" in wrong.log()
        # The right one is adopted.
        other.start()
    finally:
        other.close()


def test_an_upgrade_by_reexec_runs_the_new_binary(keeper, node_dir, clients):
    binary = node_dir / "steve"
    shutil.copy(STEVE, binary)
    steve = keeper.start(exe=binary)
    c = clients(steve)
    fd = c.open()
    c.do("read", fd)
    old = os.stat(f"/proc/{steve.pid}/exe").st_ino
    # What a package manager does: the new file in place of the old.
    shutil.copy(STEVE, node_dir / "steve.new")
    os.rename(node_dir / "steve.new", binary)
    steve = reexec(keeper, steve)
    assert os.stat(f"/proc/{steve.pid}/exe").st_ino == os.stat(binary).st_ino != old
    steve.wait_state(held=1, processes=1)
    assert c.do("write", fd) == "1"


def test_reexec_without_a_state_file_keeps_everything(keeper, clients):
    steve = keeper.start(state=False)
    build = Build(steve, clients)
    steve = reexec(keeper, steve)
    steve.wait_state(held=JOBS, waiting=3)
    build.finish(steve)


def test_reexec_of_a_steve_that_mounted_its_own_node(start_steve, clients, transport):
    if transport != "fuse":
        pytest.skip("FUSE: steve mounts the node itself")
    steve = start_steve(JOBS, "-v")
    build = Build(steve, clients)
    steve = reexec(None, steve)
    steve.wait_state(held=JOBS, waiting=3)
    build.finish(steve)
    path = steve.path
    assert steve.stop() == 0
    wait_until(lambda: not is_mounted(path), what=f"{path} to be unmounted")


@pytest.mark.parametrize("event", ["kill-9", "sigusr2-reexec"])
def test_stevie_running_a_command_keeps_its_token(event, keeper, clients):
    steve = keeper.start()
    run = subprocess.Popen([str(STEVIE), f"--device={steve.path}", "--", "sleep", "2"], stderr=subprocess.PIPE,
                           text=True)
    steve.wait_state(held=1, processes=1)
    steve = EVENTS[event](keeper, steve)
    steve.wait_state(held=1, processes=1)
    assert run.wait(timeout=30) == 0
    assert "cannot return the token" not in run.stderr.read()
    steve.wait_state(available=JOBS, held=0, processes=0)


def test_a_sub_build_is_found_in_its_build_again(keeper, tmp_path):
    """Adopted parents first: a sub-make joins its top make's build again."""
    make = real_tool("STEVE_TEST_MAKE", "GNU make 4.4.1")
    steve = keeper.start()
    top = subprocess.Popen([make, "-s", "-C", str(recursive_build(tmp_path / "r", tmp_path / "log", 2, 6, 3))],
                           env=dict(os.environ, MAKEFLAGS=f"--jobserver-auth=fifo:{steve.path}"))
    try:
        def sub_holders():
            lines = steve.state().lines
            return [l for l in lines if " holds " in l and "-C sub" in l]
        wait_until(lambda: sub_holders(), what="a sub-make to hold a token", timeout=30)
        steve.proc.kill()
        steve.proc.wait()
        steve = keeper.start()
        held = sub_holders()
        assert held and all(f", build {top.pid} of weight" in l for l in held), held
    finally:
        top.kill()
        top.wait()


def test_changes_through_the_bus_with_nobody_asking_outlive_a_kill(keeper, system_bus, clients):
    """A change that comes by D-Bus while no request is under way (Jobs set,
    tokens reclaimed) is committed at once, not with the next request: a
    steve killed before any request comes must not lose it."""
    from test_dbus import IFACE, OBJ

    def on_bus():
        return system_bus.busctl("get-property", *OBJ, IFACE, "Version", check=False).returncode == 0
    steve = keeper.start("--bus=system", env=system_bus.env)
    wait_until(on_bus, what="steve on the bus")
    holder = clients(steve)
    holder.do("read", holder.open())
    system_bus.busctl("set-property", *OBJ, IFACE, "Jobs", "u", "5")
    system_bus.busctl("call", *OBJ, IFACE, "ReclaimTokens", "u", str(holder.pid))
    # Answered in a later turn of the loop than the changes were made in.
    assert system_bus.busctl("get-property", *OBJ, IFACE, "Jobs").stdout.split() == ["u", "5"]
    steve.proc.kill()
    steve.proc.wait()
    steve = keeper.start("--bus=system", env=system_bus.env)
    assert steve.stevie("--get-jobs").stdout.split() == ["5"]
    steve.wait_state(available=5, held=0)
