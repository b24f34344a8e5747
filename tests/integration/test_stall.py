"""A user who stalls their own mmap lock, or their own execve(), cannot
stall steve.

Reading /proc/PID/cmdline takes that process's mmap lock, and any user can
hold their own for as long as they like: a page fault on a FUSE file that
never answers (stallfs, which fusermount3 would let them mount), with an
mmap() queued behind it (stall-client). steve reads command lines off its
loop, with a deadline, so while such a client holds a token, other clients'
tokens keep flowing, GetHolders and the SIGUSR1 report answer (with the
process's name), and the watchdog keeps being pinged.

Reading /proc/PID/stat takes the process's exec_update_lock on newer
kernels, which an execve() holds while it closes O_CLOEXEC files: one on
stallfs never closes. steve reads the status of a client's parents, not
their stat (daemon/proc.h).
"""
import json
import os
import signal
import subprocess
import threading
import time

import pytest

from conftest import BUILD, VALGRIND, as_user, python_as_user, wait_until
from test_dbus import IFACE, OBJ

pytestmark = pytest.mark.above_transport

STALLFS = BUILD / "tests" / "stallfs"
STALL_CLIENT = BUILD / "tests" / "stall-client"


class StallFs:
    """stallfs mounted at a directory; its file never answers a read."""

    def __init__(self, mountpoint):
        self.mountpoint = mountpoint
        mountpoint.mkdir()
        self.proc = subprocess.Popen([str(STALLFS), str(mountpoint)], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline() == "mounted\n"
        self.file = mountpoint / "f"
        self.exec_file = mountpoint / "x"      # closing it never ends

    def release(self):
        """Gone, its connection too: what waits on its reads fails and can die."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        subprocess.run(["umount", "-l", str(self.mountpoint)], stderr=subprocess.DEVNULL, check=False)


@pytest.fixture
def stallfs(node_dir):
    fs = StallFs(node_dir / "stall")
    yield fs
    fs.release()


def read_hangs(path, seconds):
    """Whether reading path ourselves would hang: the precondition."""
    done = threading.Event()

    def read():
        try:
            with open(path, "rb") as f:
                f.read()
        except OSError:
            pass
        done.set()
    threading.Thread(target=read, daemon=True).start()
    return not done.wait(seconds)


def stuck_in_execve(pid):
    """Whether pid's execve() hangs, and reading its stat with it (newer
    kernels): the precondition. Its execve() may not have begun yet."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if read_hangs(f"/proc/{pid}/stat", 0.5):
            return True
        time.sleep(0.1)
    return False


def cmdline_read_hangs(pid, seconds):
    """Whether reading pid's command line ourselves would hang: the precondition."""
    return read_hangs(f"/proc/{pid}/cmdline", seconds)


def slowest_cycle(client, seconds):
    """The slowest take-and-return of one token over seconds."""
    fd = client.open()
    worst = 0.0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        client.do("read", fd)
        client.do("write", fd)
        worst = max(worst, time.monotonic() - t0)
    return worst


def test_a_stalled_mmap_lock_stalls_nobody_else(start_steve, system_bus, notify, clients, stallfs):
    steve = start_steve(4, "--bus=system", "--mode=0666",
                        env={"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "400000", **system_bus.env})
    if steve.transport == "cuse":
        steve.path.chmod(0o666)
    wait_until(lambda: system_bus.busctl("get-property", *OBJ, IFACE, "Version", check=False).returncode == 0,
               what="steve on the bus")
    baseline = slowest_cycle(clients(steve), 1.0)
    staller = subprocess.Popen(as_user("nobody", [str(STALL_CLIENT), str(steve.path), str(stallfs.file)]),
                               stdout=subprocess.PIPE, text=True)
    try:
        assert staller.stdout.readline() == "holding\n"
        assert staller.stdout.readline() == "stalled\n"
        assert cmdline_read_hangs(staller.pid, 1.0), "the stall did not take: this test proves nothing"

        # Everything at once, the way a busy machine would.
        watchdog, stop = [], threading.Event()

        def count_pings():
            while not stop.is_set():
                try:
                    if "WATCHDOG=1" in notify.next(timeout=0.5):
                        watchdog.append(time.monotonic())
                except OSError:
                    pass
        pinger = threading.Thread(target=count_pings, daemon=True)
        pinger.start()

        listings = []

        def list_holders():
            for _ in range(3):
                t0 = time.monotonic()
                r = system_bus.busctl("--json=short", "call", *OBJ, IFACE, "GetHolders", user="nobody")
                listings.append((time.monotonic() - t0, json.loads(r.stdout)["data"][0]))
        lister = threading.Thread(target=list_holders)
        lister.start()
        report_start = len(steve.lines)
        os.kill(steve.pid, signal.SIGUSR1)

        worst = slowest_cycle(clients(steve), 3.0)
        lister.join(timeout=30)
        stop.set()
        pinger.join(timeout=5)

        # The attack this guards against stalled cycles for as long as the
        # stall lasts (seconds, here the whole window); a loop that waited out
        # the 0.25 s fetch deadline would take a quarter second a listing.
        # 150 ms, or where steve is slower (qemu's TCG under ASan), ten times
        # the slowest cycle of the same client before the stall, tells both
        # apart. (50 ms did not: under ASan on two busy cores a cycle took
        # 57-79 ms now and then, before this wave's changes too, with neither
        # the listings nor the report running.) Under memcheck steve's timing
        # is too coarse for the second: only a stall of the loop (1 s of the
        # 3 s window) fails there.
        limit = 1.0 if VALGRIND else max(0.15, 10 * baseline)
        assert worst < limit, (f"a token cycle took {worst * 1000:.0f} ms during the stall "
                               f"(the slowest before it: {baseline * 1000:.0f} ms)")
        assert len(listings) == 3, "GetHolders did not answer"
        for seconds, holders in listings:
            assert seconds < 3, f"GetHolders took {seconds:.1f} s"
            mine = [h for h in holders if h[0] == staller.pid]
            assert mine and mine[0][1] == "stall-client", f"the staller is shown as {mine}"
        end = steve.wait_for_line("end of report", report_start, timeout=5)
        assert any(f"pid {staller.pid} holds 1" in l for l in steve.lines[report_start:end])
        gaps = [b - a for a, b in zip(watchdog, watchdog[1:])]
        assert len(watchdog) >= 4 and max(gaps) < 1.0, f"watchdog pings at {watchdog}"
        assert "takes too long" in steve.log()
    finally:
        # A page fault waiting on FUSE outlives SIGKILL until its file system goes.
        staller.kill()
        stallfs.release()
        staller.wait(timeout=30)


def test_stalls_of_one_user_cost_others_no_command_line(start_steve, system_bus, clients, node_dir):
    """Five stalled processes of nobody's (four used to leave every later
    read refused, and a refused client was never read again: root saw its
    own processes by name only). A file system each: an open of a file with
    a read pending waits for that read."""
    steve = start_steve(8, "--bus=system", "--mode=0666", env=system_bus.env)
    if steve.transport == "cuse":
        steve.path.chmod(0o666)
    wait_until(lambda: system_bus.busctl("get-property", *OBJ, IFACE, "Version", check=False).returncode == 0,
               what="steve on the bus")
    stallers, filesystems = [], []
    try:
        for i in range(5):
            filesystems.append(StallFs(node_dir / f"stall-{i}"))
            s = subprocess.Popen(as_user("nobody", [str(STALL_CLIENT), str(steve.path), str(filesystems[-1].file)]),
                                 stdout=subprocess.PIPE, text=True)
            stallers.append(s)
            assert s.stdout.readline() == "holding\n" and s.stdout.readline() == "stalled\n"
        mine = clients(steve)
        mine.do("read", mine.open())
        for attempt in range(3):
            r = system_bus.busctl("--json=short", "call", *OBJ, IFACE, "GetHolders")
            holders = {h[0]: h[1] for h in json.loads(r.stdout)["data"][0]}
            assert all(holders[s.pid] == "stall-client" for s in stallers), holders
            assert "jsclient" in holders[mine.pid], (attempt, holders)
        # A client that comes later is read too.
        later = clients(steve)
        later.do("read", later.open())
        r = system_bus.busctl("--json=short", "call", *OBJ, IFACE, "GetHolders")
        assert "jsclient" in {h[0]: h[1] for h in json.loads(r.stdout)["data"][0]}[later.pid]
    finally:
        for s in stallers:
            s.kill()
        for fs in filesystems:
            fs.release()
        for s in stallers:
            s.wait(timeout=30)


EXEC_STALLER = """
import os, sys
steve, stuck = sys.argv[1], sys.argv[2]
os.open(stuck, os.O_RDONLY | os.O_CLOEXEC)
if os.fork() == 0:
    sys.stdin.readline()            # the test has seen the parent stuck
    fd = os.open(steve, os.O_RDWR)
    token = os.read(fd, 1)
    os.write(fd, token)
    print("served", flush=True)
    os._exit(0)
print(os.getpid(), flush=True)
os.execv("/bin/true", ["true"])     # stuck closing the stallfs file, for good
"""


def test_a_parent_stuck_in_execve_stalls_nobody(start_steve, clients, stallfs, node_dir):
    """A client whose parent (not a client) is stuck in execve: steve walks
    up to the parent to find the client's build, and must not wait on it."""
    steve = start_steve(2, "--mode=0666")
    staller = python_as_user("nobody", node_dir, "exec-staller.py", EXEC_STALLER, steve.path, stallfs.exec_file)
    try:
        parent = int(staller.stdout.readline())
        if not stuck_in_execve(parent):
            pytest.skip("this kernel's /proc/PID/stat does not wait for an execve()")
        staller.stdin.write("go\n")
        staller.stdin.flush()
        served = threading.Event()
        threading.Thread(target=lambda: staller.stdout.readline() == "served\n" and served.set(),
                         daemon=True).start()
        assert served.wait(10), "the child of a process stuck in execve was never served:\n" + steve.log()
        # And everyone else is served as before.
        assert slowest_cycle(clients(steve), 1.0) < (2.0 if VALGRIND else 0.5)
        steve.wait_state(available=2, held=0)
    finally:
        stallfs.release()       # the execve() goes on, and ends
        staller.kill()
        staller.wait()


EXEC_STALLED_HOLDER = """
import os, sys
steve, stuck = sys.argv[1], sys.argv[2]
fd = os.open(steve, os.O_RDWR)
os.set_inheritable(fd, True)        # kept through the execve, with its token
assert len(os.read(fd, 1)) == 1
print(os.getpid(), flush=True)
sys.stdin.readline()                # steve has read its command line
os.open(stuck, os.O_RDONLY | os.O_CLOEXEC)
os.execv("/bin/sleep", ["sleep", "600"])    # stuck closing the stallfs file, for good
"""


def test_a_holder_stuck_in_execve_through_a_restart_keeps_its_token_and_stalls_nobody(keeper, clients, stallfs,
                                                                                       node_dir):
    """The next steve reads each recorded process's stat to know it is the
    same process; one stuck in execve never answers, and steve must start
    anyway, keeping the token for the process of the recorded user."""
    steve = keeper.start("--mode=0666")
    holder = python_as_user("nobody", node_dir, "holder.py", EXEC_STALLED_HOLDER, steve.path, stallfs.exec_file)
    try:
        pid = int(holder.stdout.readline())
        # Its command line read before it gets stuck: a reader stuck on it
        # would outlive steve's exit (a sanitizer's leak check then hangs).
        steve.wait_for_line(f"pid {pid} connected")
        holder.stdin.write("go\n")
        holder.stdin.flush()
        if not stuck_in_execve(pid):
            pytest.skip("this kernel's /proc/PID/stat does not wait for an execve()")
        steve.wait_state(held=1)
        assert steve.stop() == 0
        steve = keeper.start("--mode=0666")
        steve.wait_for_line(f"pid {pid} does not answer for its /proc stat")
        steve.wait_state(held=1, processes=1)
        assert slowest_cycle(clients(steve), 1.0) < (2.0 if VALGRIND else 0.5)
    finally:
        stallfs.release()
        holder.kill()
        try:
            holder.wait(timeout=10)
        except subprocess.TimeoutExpired:
            # Its exit flushes its fd to steve: with no steve to answer, only
            # the end of the connection lets it go.
            keeper.close()
            holder.wait()
