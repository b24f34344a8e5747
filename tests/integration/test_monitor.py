"""Watching the pool: stevie --status (text and JSON), stevie --top (in a
pseudo-terminal and as plain lines), and the D-Bus members they read:
HeldBack, Generation, GetProcesses, GetHistory."""
import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import textwrap
import threading
import time

import pytest

from conftest import STEVIE, as_user, wait_until
from test_limits import context_switches, fake_proc  # noqa: F401 (a fixture)

pytestmark = pytest.mark.above_transport

OBJ = ("org.steve.Jobserver", "/org/steve/Jobserver")
IFACE = "org.steve.Jobserver"
BUSY = "14.20 9.00 9.00 1/100 1\n"


@pytest.fixture
def watched(start_steve, system_bus, fake_proc):  # noqa: F811
    """steve on the private system bus, its load read from a stand-in /proc."""
    def start(jobs=4, *args):
        steve = start_steve(jobs, "--bus=system", "-v", "--mode=0666", *args,
                            env={**system_bus.env, "STEVE_PROC": str(fake_proc.root)})
        wait_until(lambda: system_bus.busctl("get-property", *OBJ, IFACE, "Version", check=False).returncode == 0,
                   what="steve on the bus")
        return steve
    return start


def stevie(bus, *args, user=None, **kwargs):
    argv = [str(STEVIE), *args]
    if user:
        argv = as_user(user, argv)
    return subprocess.run(argv, capture_output=True, text=True, timeout=30,
                          env={**os.environ, **bus.env}, **kwargs)


LEADER = textwrap.dedent("""\
    import os, subprocess, sys, time
    fd = os.open(sys.argv[1], os.O_RDWR)
    os.read(fd, 1)
    # A child through a shell, as make runs a sub-make: it waits for a token.
    child = subprocess.Popen(["sh", "-c", "sleep 0; exec " + sys.executable + " -c "
                              "'import os, sys; fd = os.open(sys.argv[1], os.O_RDWR); os.read(fd, 1); "
                              "os.read(fd, 1); import time; time.sleep(600)' " + sys.argv[1]])
    print("started", child.pid, flush=True)
    time.sleep(600)
    """)


@pytest.fixture
def build(tmp_path):
    """build(steve) -> a leader holding a token, whose grandchild waits."""
    procs = []

    def start(steve):
        script = tmp_path / "leader.py"
        script.write_text(LEADER)
        p = subprocess.Popen([sys.executable, str(script), str(steve.path)], stdout=subprocess.PIPE, text=True,
                             start_new_session=True)
        procs.append(p)
        words = p.stdout.readline().split()
        assert words[0] == "started", words
        return p.pid, int(words[1])
    yield start
    for p in procs:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()


def test_status_says_what_holds_who_waits_and_why(watched, system_bus, fake_proc, build, clients):  # noqa: F811
    fake_proc(loadavg=BUSY)
    steve = watched(4, "--load-average", "12", "--min-jobs", "2", "--min-memory-avail", "1536M")
    other = clients(steve)
    other.do("read", other.open())
    leader, child = build(steve)
    steve.wait_state(held=2, waiting=1)
    system_bus.busctl("set-property", *OBJ, IFACE, "Paused", "b", "true")

    text = stevie(system_bus, "--status")
    assert text.returncode == 0, text.stderr
    out = text.stdout
    assert "Pool: 2 free, 2 held, 1 waiting, 3 processes, 2 builds" in out, out
    assert "Limits: load-average 12, min-memory-avail 1.5G (min-jobs 2)" in out
    assert "Held back: paused, load 14.2 >= 12" in out
    assert re.search(rf"^  {leader} .*leader\.py.*: 1 token, 2 processes, running", out, re.M), out
    assert re.search(rf"^  pid {child} for [0-9.]+s \(build {leader}, user root\)", out, re.M), out
    # two builds hold or wait: each is owed half the pool
    assert re.search(rf"^  {leader} .*\n      weight 1024, share 2\.0 of 4 tokens$", out, re.M), out

    doc = json.loads(stevie(system_bus, "--status", "--json").stdout)
    pool = doc["pool"]
    assert (pool["jobs"], pool["held"], pool["waiting"], pool["processes"], pool["builds"]) == (4, 2, 1, 3, 2)
    assert pool["paused"] is True and pool["held_back"] == "paused, load 14.2 >= 12"
    assert doc["parameters"]["load-average"] == 12 and doc["parameters"]["min-jobs"] == 2
    assert doc["parameters"]["min-memory-avail"] == 1536 << 20
    builds = {b["pid"]: b for b in doc["builds"]}
    assert builds[leader]["processes"] == 2 and builds[leader]["waiting"] == 1 and builds[leader]["held"] == 1
    assert "leader.py" in builds[leader]["command"] and builds[leader]["since"] > 0
    assert builds[other.pid]["processes"] == 1
    assert (builds[leader]["weight"], builds[leader]["share"]) == (1024, 2.0)
    procs = {p["pid"]: p for p in doc["processes"]}
    assert procs[child]["build"] == leader and procs[child]["waiting"] is True
    assert procs[child]["waiting_since"] > 0 and procs[child]["jobs"] == []
    assert procs[leader]["held"] == 1 and len(procs[leader]["jobs"]) == 1
    assert procs[leader]["jobs"][0]["started"] <= doc["time"]


def test_status_as_another_user_shows_names_not_command_lines(watched, system_bus, build):
    steve = watched(4)
    leader, _ = build(steve)
    steve.wait_state(held=3)
    r = stevie(system_bus, "--status", "--json", user="nobody")
    assert r.returncode == 0, r.stderr
    procs = {p["pid"]: p for p in json.loads(r.stdout)["processes"]}
    assert procs[leader]["command"] == "python3" or "leader.py" not in procs[leader]["command"]


def test_status_says_when_steve_is_not_there(system_bus, tmp_path):
    r = stevie(system_bus, "--status")
    assert r.returncode == 1 and "steve is not on the system bus" in r.stderr, r.stderr
    r = subprocess.run([str(STEVIE), "--status"], capture_output=True, text=True, timeout=30,
                       env={**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path}/none"})
    assert r.returncode == 1 and "cannot reach the system bus" in r.stderr, r.stderr


def test_status_options_are_checked():
    for args, said in [(["--json"], "go with --status"), (["--status", "--get-jobs"], "take no command"),
                       (["--top", "--json"], "--json goes with --status"), (["--status", "make"], "take no command")]:
        r = subprocess.run([str(STEVIE), *args], capture_output=True, text=True)
        assert r.returncode == 2 and said in r.stderr, (args, r.stderr)


def get(bus, prop):
    return bus.busctl("get-property", *OBJ, IFACE, prop).stdout.split(" ", 1)[1].strip()


def test_history_records_change_points_and_nothing_while_idle(watched, system_bus, clients):
    steve = watched(4)
    c = clients(steve)
    fd = c.open()
    for _ in range(3):
        c.do("read", fd)
    time.sleep(1.1)
    c.do("write", fd)
    out = system_bus.busctl("--json=short", "call", *OBJ, IFACE, "GetHistory").stdout
    points = json.loads(out)["data"][0]
    assert [p[1] for p in points][-1] == 2 and max(p[1] for p in points) == 3
    assert all(a[0] < b[0] for a, b in zip(points, points[1:]))
    time.sleep(1.5)
    again = json.loads(system_bus.busctl("--json=short", "call", *OBJ, IFACE, "GetHistory").stdout)["data"][0]
    # No new point; times are the same within the clocks' rounding.
    assert [p[1:] for p in again] == [p[1:] for p in points]
    assert all(abs(a[0] - b[0]) < 1000 for a, b in zip(again, points))


def test_generation_is_signalled_coalesced_under_a_token_storm(watched, system_bus, clients):
    steve = watched(4)
    monitor = subprocess.Popen(["dbus-monitor", "--address", system_bus.address,
                                f"type='signal',path='{OBJ[1]}',interface='org.freedesktop.DBus.Properties'"],
                               stdout=subprocess.PIPE, text=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(monitor.stdout), daemon=True)
    reader.start()

    def emitted():
        return [int(v) for v in re.findall(r'string "Generation"\s+variant\s+uint64 (\d+)', "".join(lines))]
    try:
        # dbus-monitor prints its own NameAcquired once its match rules (or,
        # where the bus allows, BecomeMonitor) are in place: from then on it sees all.
        wait_until(lambda: "member=NameAcquired" in "".join(lines), timeout=30, what="dbus-monitor in place")
        before = int(get(system_bus, "Generation"))
        c = clients(steve)
        fd = c.open()
        start = time.monotonic()
        for _ in range(1000):
            c.do("read", fd)
            c.do("write", fd)
        seconds = time.monotonic() - start
        time.sleep(0.6)       # the last change goes out within a quarter second
        final = int(get(system_bus, "Generation"))
        # ...and reaches the monitor when the bus daemon and the monitor get to it.
        wait_until(lambda: final in emitted(), timeout=10, what=f"Generation {final} signalled")
        time.sleep(0.5)
    finally:
        monitor.terminate()
        monitor.wait(timeout=10)
        reader.join(timeout=10)
    assert final > before + 1000
    signals = "".join(lines).count("member=PropertiesChanged")
    assert 1 <= signals <= 4 * seconds + 3, f"{signals} signals in {seconds:.1f}s"
    # The final state is the last one said.
    assert emitted()[-1] == final, emitted()[-5:]


# --top

def spawn_top(bus, rows=30, cols=120, user=None):
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.update(bus.env, TERM="xterm", LANG="C.UTF-8")
        if user:
            import pwd
            pw = pwd.getpwnam(user)
            os.setgroups([])
            os.setgid(pw.pw_gid)
            os.setuid(pw.pw_uid)
        os.execv(str(STEVIE), [str(STEVIE), "--top"])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    os.kill(pid, signal.SIGWINCH)
    return pid, fd


def read_until(fd, needle, timeout):
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise AssertionError(f"--top never showed {needle!r}; it showed {seen[-2000:]!r}")
        try:
            seen += os.read(fd, 65536)
        except OSError:
            raise AssertionError(f"--top ended before showing {needle!r}: {seen[-2000:]!r}")
    return seen


def settled_switches(pid, quiet=0.5, timeout=30):
    """pid's context switches once they have stood still for quiet seconds."""
    deadline = time.monotonic() + timeout
    count = context_switches(pid)
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = context_switches(pid)
        if now == count:
            return now
        count = now
    raise AssertionError(f"steve (pid {pid}) never went quiet for {quiet} s")


def test_top_redraws_on_changes_quits_on_q_and_costs_an_idle_steve_nothing(watched, system_bus, clients):
    steve = watched(4)
    pid, fd = spawn_top(system_bus)
    try:
        read_until(fd, b"0/4 held", 10)
        # --top's first calls answered (on a busy machine they can come late),
        # then nothing changes: steve does nothing, however long --top watches.
        before = settled_switches(steve.pid)
        time.sleep(2)
        assert context_switches(steve.pid) == before
        holder = clients(steve)
        holder.do("read", holder.open())
        # Its row is drawn whole (counters change digit by digit on the screen),
        # its build's share of the pool and weight with it: all of it, 1024.
        # --top has no timer: it redraws on steve's signal, or never.
        read_until(fd, f"{holder.pid:7d} {holder.pid:7d} {'4.0/1024':>12} root".encode(), 30)
        os.write(fd, b"q")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            try:
                os.read(fd, 65536)
            except OSError:
                pass
            time.sleep(0.05)
        assert done and os.waitstatus_to_exitcode(status) == 0
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)


def test_top_shows_a_refusal_and_a_too_small_terminal(watched, system_bus, clients):
    watched(4)
    pid, fd = spawn_top(system_bus, rows=5, cols=30, user="nobody")
    try:
        read_until(fd, b"terminal too small", 10)
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
        os.kill(pid, signal.SIGWINCH)
        read_until(fd, b"0/4 held", 10)
        # No polkit here: a stranger's pause is refused, and --top says so.
        os.write(fd, b"p")
        read_until(fd, b"refused", 10)
        assert get(system_bus, "Paused") == "false"
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(fd)


def next_line(proc, timeout=15):
    if not select.select([proc.stdout], [], [], timeout)[0]:
        raise AssertionError(f"--top printed nothing for {timeout}s")
    return proc.stdout.readline()


def test_top_without_a_terminal_prints_a_line_per_change_and_outlives_steve(watched, system_bus, clients):
    steve = watched(4)
    top = subprocess.Popen([str(STEVIE), "--top"], stdout=subprocess.PIPE, text=True,
                           env={**os.environ, **system_bus.env})
    try:
        assert "0/4 held, 0 waiting, 0 processes" in next_line(top)
        holder = clients(steve)
        holder.do("read", holder.open())
        assert "1/4 held, 0 waiting, 1 processes, 1 builds; held back: nothing" in next_line(top)
        steve.stop()
        assert "steve is not on the system bus" in next_line(top)
        watched(4)
        assert "/4 held" in next_line(top)
    finally:
        top.terminate()
        assert top.wait(timeout=10) == 0


def test_top_says_when_the_bus_goes_and_picks_up_when_it_is_back(watched, system_bus, clients):
    steve = watched(4)
    top = subprocess.Popen([str(STEVIE), "--top"], stdout=subprocess.PIPE, text=True,
                           env={**os.environ, **system_bus.env})
    try:
        assert "0/4 held" in next_line(top)
        system_bus.stop()
        assert "lost the bus; reconnecting" in next_line(top)
        system_bus.start()
        holder = clients(steve)
        holder.do("read", holder.open())
        # steve and --top both find the new bus on their own.
        line = next_line(top)
        while "1/4 held" not in line:
            assert line, "--top ended"
            line = next_line(top)
    finally:
        top.terminate()
        assert top.wait(timeout=10) == 0


# What a UTF-8 terminal obeys or a reader is fooled by: CSI and OSC as C1
# characters (U+009B, U+009D, ST U+009C), NEL, a right-to-left override and an
# isolate; and a backslash that spells an escape of its own.
STEERING = ["\u009b2J", "\u009d0;owned\u009c", "\u0085", "\u202eekam", "\u2066x\u2069", "\\x1b[31m"]
RAW = [c.encode() for c in ("\u009b", "\u009d", "\u009c", "\u0085", "\u202e", "\u2066", "\u2069")]


def test_names_and_command_lines_cannot_steer_a_terminal(watched, system_bus, node_dir):
    steve = watched(4)
    if steve.transport == "cuse":
        steve.path.chmod(0o666)         # udev's rules are the VM's, not the unit's
    # comm too: the name every user sees
    script = node_dir / "s.py"
    script.write_text("import ctypes, os, sys, time; ctypes.CDLL(None).prctl(15, '\u202eekam'.encode(), 0, 0, 0); "
                      "fd = os.open(sys.argv[1], os.O_RDWR); os.read(fd, 1); print(1, flush=True); time.sleep(60)")
    script.chmod(0o644)
    proc = subprocess.Popen(as_user("nobody", [sys.executable, str(script), str(steve.path), *STEERING]),
                            stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"1\n"
        steve.wait_state(held=1)
        for user in (None, "nobody"):
            for mode in (["--status"], ["--status", "--json"]):
                argv = [str(STEVIE), *mode]
                r = subprocess.run(as_user(user, argv) if user else argv, capture_output=True, timeout=30,
                                   env={**os.environ, **system_bus.env})
                assert r.returncode == 0, r.stderr
                assert not [c for c in RAW if c in r.stdout], (user, mode, r.stdout)
                assert b"\\u202e" in r.stdout, (user, mode, r.stdout)
                if user is None:
                    # root sees the command line; the forged escape shows as typed
                    assert b"\\u009b2J" in r.stdout and b"\\\\x1b[31m" in r.stdout, r.stdout
        steve.stop()        # then every line it said is there to check
        assert not [line for line in steve.said() if any(c.decode() in line for c in RAW)], steve.log()
    finally:
        proc.kill()
        proc.wait()
