"""Hostile and broken clients: each gets a clear error and the pool stays whole."""
import errno
import fcntl
import json
import os
import resource
import struct
import subprocess
import sys
import threading
import time

import pytest

from conftest import STEVE, STEVIE, as_user, is_mounted, python_as_user, real_tool, wait_until
from test_dbus import IFACE, OBJ

STEVE_MAGIC = 0xB7


def ioc(direction, nr, size):
    return (direction << 30) | (size << 16) | (STEVE_MAGIC << 8) | nr


def assert_whole(steve, jobs):
    st = steve.wait_state(held=0, reserved=0, timeout=20)
    assert (st.available, st.jobs, st.waiting) == (jobs, jobs, 0)


def test_megabytes_written_by_a_process_holding_nothing(start_steve):
    steve = start_steve(2)
    fd = os.open(steve.path, os.O_RDWR)
    try:
        with pytest.raises(OSError) as e:
            os.write(fd, b"+" * (4 << 20))
        assert e.value.errno == errno.ENOSPC
    finally:
        os.close(fd)
    assert_whole(steve, 2)


def test_reads_of_every_size_take_at_most_one(start_steve):
    steve = start_steve(3)
    fd = os.open(steve.path, os.O_RDWR | os.O_NONBLOCK)
    try:
        assert os.read(fd, 0) == b""
        assert os.read(fd, 1 << 20) == b"+"
        assert os.read(fd, 1 << 24) == b"+"
        assert steve.state().held == 2
        os.write(fd, b"++")
    finally:
        os.close(fd)
    assert_whole(steve, 3)


@pytest.mark.parametrize("cmd", [
    0x5401,                                  # TCGETS: not ours
    ioc(2, 0x7F, 4),                         # our magic, no such getter
    ioc(1, 0x01, 8),                         # GET_TOKENS's number as a setter
    ioc(2, 0x02, 2),                         # GET_JOBS with a wrong size
    ioc(3, 0x02, 4),                         # read-write direction
])
def test_ioctls_with_bad_numbers_are_refused(start_steve, cmd):
    steve = start_steve(2)
    fd = os.open(steve.path, os.O_RDWR)
    try:
        with pytest.raises(OSError) as e:
            fcntl.ioctl(fd, cmd, bytes(16))
        assert e.value.errno in (errno.ENOTTY, errno.EINVAL)
    finally:
        os.close(fd)
    assert steve.stevie("--get-jobs").stdout == "2\n"


def test_setter_payloads_out_of_range_are_einval(start_steve):
    steve = start_steve(2)
    fd = os.open(steve.path, os.O_RDWR)
    try:
        for cmd, payload in [(ioc(1, 0x02, 4), struct.pack("I", 0)),
                             (ioc(1, 0x02, 4), struct.pack("I", 1 << 31)),
                             (ioc(1, 0x04, 8), struct.pack("d", float("nan"))),
                             (ioc(1, 0x04, 8), struct.pack("d", -5.0)),
                             (ioc(1, 0x08, 8), struct.pack("d", 1e300)),
                             (ioc(1, 0x0A, 4), struct.pack("I", 7))]:
            with pytest.raises(OSError) as e:
                fcntl.ioctl(fd, cmd, payload)
            assert e.value.errno == errno.EINVAL, hex(cmd)
    finally:
        os.close(fd)
    assert steve.stevie("--get-jobs", "--get-load-average", "--get-paused").stdout.split() == ["2", "-1", "0"]


@pytest.fixture
def many_fds_allowed():
    """Room for 2000 more descriptors (the VM's default soft limit is 1024)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, 4096))
    if want < 2200:
        pytest.skip(f"the hard limit on open files is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_thousands_of_fds_from_one_process(start_steve, many_fds_allowed):
    steve = start_steve(2)
    fds = []
    try:
        for _ in range(2000):
            fds.append(os.open(steve.path, os.O_RDWR | os.O_NONBLOCK))
        got = sum(1 for fd in fds[:10] if _try_read(fd))
        assert got == 2
        assert steve.state().processes == 1
        os.write(fds[-1], b"++")
    finally:
        for fd in fds:
            os.close(fd)
    assert_whole(steve, 2)


def _try_read(fd):
    try:
        return os.read(fd, 1) == b"+"
    except BlockingIOError:
        return False


def test_one_process_cannot_take_all_with_a_per_process_limit(start_steve, clients):
    steve = start_steve(8, "--per-process-limit", "3")
    greedy, modest = clients(steve), clients(steve)
    gfd = greedy.open("rdwr", "nonblock")
    taken = 0
    for _ in range(10):
        status, _ = greedy.result(greedy.send("read", gfd))
        taken += status == "ok"
    assert taken == 3
    mfd = modest.open("rdwr", "nonblock")
    assert [modest.do("read", mfd) for _ in range(3)] == ["+"] * 3
    greedy.kill()
    modest.kill()
    assert_whole(steve, 8)


def test_setters_racing_each_other_end_in_one_valid_state(start_steve):
    steve = start_steve(4)
    values = [str(v) for v in range(1, 33)]

    def hammer(v):
        for _ in range(5):
            steve.stevie("--set-jobs", v)
    threads = [threading.Thread(target=hammer, args=(v,)) for v in values[:8]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = steve.stevie("--get-jobs").stdout.strip()
    assert final in values[:8]
    st = steve.state()
    assert (st.jobs, st.available) == (int(final), int(final))


def test_one_user_cannot_take_all_with_a_per_user_limit(start_steve, clients):
    # Four processes under -p 1 took the whole pool; -U bounds their user.
    steve = start_steve(4, "--per-process-limit=1", "--per-user-limit=2", "--mode=0666")
    if steve.transport == "cuse":
        steve.path.chmod(0o666)
    greedy = [clients(steve, user="nobody") for _ in range(4)]
    got = []
    for c in greedy:
        status, _ = c.result(c.send("read", c.open("rdwr", "nonblock")))
        got.append(status)
    assert got.count("ok") == 2, got
    # A blocked read of that user waits, parked: it holds up no one else.
    waiting = greedy[3]
    blocked = waiting.send("read", waiting.open())
    other = clients(steve, user="daemon")
    ofd = other.open("rdwr", "nonblock")
    assert [other.do("read", ofd) for _ in range(1)] == ["+"]
    assert waiting.pending(blocked)
    assert steve.stevie("--get-per-user-limit").stdout == "2\n"
    # Raising the limit serves the parked read at once.
    steve.stevie("--set-per-user-limit", "3")
    assert waiting.result(blocked)[0] == "ok"
    for c in [*greedy, other]:
        c.kill()
    assert_whole(steve, 4)


def test_command_lines_cannot_forge_log_lines_or_break_d_bus(start_steve, system_bus, clients):
    steve = start_steve(4, "--bus=system", "-v", env=system_bus.env)
    wait_until(lambda: system_bus.busctl("get-property", *OBJ, IFACE, "Version", check=False).returncode == 0,
               what="steve on the bus")
    # A newline with a journal priority after it, a byte that is no UTF-8, and
    # a character cut in two by the 1024-byte limit on command lines.
    forger = ["x\n<0>forged", b"\xff\xfe".decode("latin-1"), "a" * (1024 - 60) + "\u20ac" * 30]
    script = "import os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR); os.read(fd, 1); print(1, flush=True); time.sleep(60)"
    argv = [sys.executable.encode(), b"-c", script.encode(), str(steve.path).encode(),
            forger[0].encode(), b"\xff\xfe", forger[2].encode()]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline() == b"1\n"
        r = system_bus.busctl("--json=short", "call", *OBJ, IFACE, "GetHolders")
        label = json.loads(r.stdout)["data"][0][0][1]
        assert "x\\n<0>forged \\xff\\xfe" in label, label
        st = steve.state()
        line = next(l for l in st.lines if f"pid {proc.pid} holds" in l)
        assert "x\\n<0>forged" in line
        connected = steve.wait_for_line(f"pid {proc.pid} connected")
        assert "\\n<0>forged" in steve.lines[connected]
        # Every line up to and after the forger's, once steve has said them all.
        steve.stop()
        assert not any(l.startswith("<0>") or l.startswith("forged") for l in steve.said()), steve.log()
    finally:
        proc.kill()
        proc.wait()


def test_callers_steve_cannot_see_are_refused_with_eperm(node_dir):
    # steve in a pid namespace of its own: the host's processes reach it
    # with pid 0. They cannot be accounted, and polkit cannot be asked about them.
    node = node_dir / "hidden-pids"
    steve = subprocess.Popen(["unshare", "--pid", "--fork", "--kill-child=SIGTERM", str(STEVE), "-j", "2", "--bus=none", "--no-config",
                              "--mode=0666", "--path", str(node)], stderr=subprocess.PIPE, text=True)
    try:
        while "running on" not in (line := steve.stderr.readline()):
            assert line, "steve stopped before it ran"
        r = subprocess.run(as_user("nobody", [str(STEVIE), f"--device={node}", "--set-jobs", "3"]),
                           capture_output=True, text=True)
        assert r.returncode == 1 and "not allowed to set jobs" in r.stderr, r.stderr
        fd = os.open(node, os.O_RDWR | os.O_NONBLOCK)
        try:
            with pytest.raises(PermissionError):
                os.read(fd, 1)
        finally:
            os.close(fd)
    finally:
        # unshare ignores SIGTERM while it waits; its death sends steve one.
        steve.kill()
        steve.wait(timeout=10)
        wait_until(lambda: not is_mounted(node), what="steve to stop and unmount", timeout=10)
        if is_mounted(node):
            subprocess.run(["umount", "-l", str(node)], check=False)


def test_a_state_file_others_could_change_is_refused(start_steve, node_dir, tmp_path):
    # A directory anyone may write to, as --state-file=/tmp/... would be.
    shared = node_dir / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    planted = shared / "planted"
    subprocess.run(as_user("nobody", ["sh", "-c", f"umask 0; : > {planted}"]), check=True)
    loose = shared / "loose"
    loose.touch()
    loose.chmod(0o622)
    target = tmp_path / "target"
    target.write_bytes(b"precious")
    link = shared / "link"
    link.symlink_to(target)
    for path, why in [(planted, "belongs to another user"), (loose, "others may write to it"),
                      (link, "is a symbolic link")]:
        steve = start_steve(2, f"--state-file={path}", wait=False)
        assert steve.proc.wait(timeout=10) == 2, steve.log()
        assert f"Refusing the state file {path}: " in steve.log() and why in steve.log(), steve.log()
    assert target.read_bytes() == b"precious"
    # One steve creates there is its own, 0600, and used.
    mine = shared / "mine"
    start_steve(2, f"--state-file={mine}").wait_state(available=2)
    assert (os.stat(mine).st_mode & 0o777, os.stat(mine).st_uid) == (0o600, os.geteuid())


# Threads of one user in read(): those beyond the cap are answered EINTR
# (steve keeps no memory for them) and read again, as every client does.
READERS = """
import ctypes, errno, os, sys, threading, time
libc = ctypes.CDLL(None, use_errno=True)
fd = os.open(sys.argv[1], os.O_RDWR)
refused = []
def reader():
    buf = ctypes.create_string_buffer(1)
    # libc's read: Python's own would read again on EINTR by itself.
    while libc.read(fd, buf, 1) != 1:
        assert ctypes.get_errno() == errno.EINTR, ctypes.get_errno()
        refused.append(1)
        time.sleep(0.05)
    time.sleep(0.05)
    os.write(fd, b"+")
threads = [threading.Thread(target=reader) for _ in range(int(sys.argv[2]))]
for t in threads:
    t.start()
print("started", flush=True)
sys.stdin.readline()
for t in threads:
    t.join()
print("done", len(refused) > 0, flush=True)
"""


def test_blocked_reads_of_one_user_are_capped_and_none_is_lost(start_steve, node_dir, clients):
    steve = start_steve(2, "--waiters-per-user=8", "--mode=0666")
    if steve.transport == "cuse":
        steve.path.chmod(0o666)
    root = clients(steve)
    fd = root.open()
    root.do("read", fd)
    root.do("read", fd)
    readers = python_as_user("nobody", node_dir, "readers.py", READERS, steve.path, 30)
    try:
        assert readers.stdout.readline() == "started\n"
        # Eight kept waiting, however many threads ask; root's own still waits its turn.
        wait = root.send("read", fd)
        steve.wait_state(waiting=9, timeout=20)
        for _ in range(5):
            assert steve.state().waiting <= 9
            time.sleep(0.1)
        readers.stdin.write("\n")
        readers.stdin.flush()
        root.do("write", fd)
        root.do("write", fd)
        assert readers.stdout.readline() == "done True\n"
        assert root.result(wait)[0] == "ok"
    finally:
        readers.kill()
        readers.wait()
    root.do("write", fd)
    assert_whole(steve, 2)


# Processes of user nobody that each open steve and stay: what steve keeps of
# each costs it a pidfd and some 2 KiB, so a user may have so many at once.
OPENERS = """
import os, sys
results = os.pipe()
for _ in range(int(sys.argv[2])):
    if os.fork() == 0:
        try:
            os.open(sys.argv[1], os.O_RDWR)
            os.write(results[1], b"ok\\n")
        except OSError as e:
            os.write(results[1], (os.strerror(e.errno) + "\\n").encode())
        sys.stdin.read()
        os._exit(0)
with os.fdopen(results[0]) as f:
    for _ in range(int(sys.argv[2])):
        print(f.readline().strip(), flush=True)
sys.stdin.read()
"""


def test_processes_of_one_user_are_capped_and_a_refused_make_builds_alone(start_steve, node_dir, clients):
    make_path = real_tool("STEVE_TEST_MAKE", "GNU make 4.4.1")
    steve = start_steve(2, "--clients-per-user=8", "--mode=0666")
    if steve.transport == "cuse":
        steve.path.chmod(0o666)
    openers = python_as_user("nobody", node_dir, "openers.py", OPENERS, steve.path, 12)
    try:
        said = sorted(openers.stdout.readline().strip() for _ in range(12))
        assert said == ["Too many users"] * 4 + ["ok"] * 8, said
        # Not root's: its processes are its own eight.
        root = clients(steve)
        root.do("read", root.open())
        # A make of nobody's refused: it says why and builds with its one job.
        (node_dir / "Makefile").write_text("all: a b\na b:\n\t@echo $@\n")
        make = subprocess.run(as_user("nobody", [make_path, "-C", str(node_dir), "-s"]),
                              env={**os.environ, "MAKEFLAGS": f"-j2 --jobserver-auth=fifo:{steve.path}"},
                              capture_output=True, text=True, timeout=60)
        assert make.returncode == 0, make.stderr
        assert f"cannot open jobserver {steve.path}: Too many users" in make.stderr, make.stderr
    finally:
        openers.stdin.close()
        openers.wait()
    # Their processes gone, nobody's are welcome again.
    wait_until(lambda: steve.state().processes == 1, what="nobody's processes gone")
    again = subprocess.run(as_user("nobody", [sys.executable, "-c", f"import os; os.open('{steve.path}', os.O_RDWR)"]),
                           capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
