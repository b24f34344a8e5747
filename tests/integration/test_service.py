"""steve under a service manager: sd_notify and socket activation.

systemd itself is not running here; the tests do what it does. NOTIFY_SOCKET
is a datagram socket of the test's own. Socket activation hands steve an
open device as fd 3 with LISTEN_FDS/LISTEN_PID: /dev/cuse opened the way
systemd opens ListenSpecial= files (O_RDWR|O_NONBLOCK), or, on FUSE, a
/dev/fuse fd the test mounted at the node itself, the part of fusermount3
that needs root.
"""
import fcntl
import os
import pwd
import socket
import subprocess
import time

import pytest

from conftest import STEVE, activated, activation_fd, as_user, is_mounted

pytestmark = pytest.mark.above_transport

USER = "nobody"


def node_is_up(steve):
    return is_mounted(steve.path) if steve.transport == "fuse" else steve.path.exists()


def test_ready_only_once_the_node_is_up_then_status_and_stopping(start_steve, clients, notify):
    steve = start_steve(4, env={"NOTIFY_SOCKET": str(notify.path)}, wait=False)
    assert notify.next() == "READY=1"
    assert node_is_up(steve), "READY=1 before the node was there"
    assert notify.next() == "STATUS=0 of 4 tokens in use, 0 waiting, 0 processes"
    steve.wait_ready()

    c = clients(steve)
    c.do("read", c.open())
    # Changes are coalesced: at most one STATUS= a second.
    assert notify.wait_for("STATUS=1 of 4 tokens in use") == "STATUS=1 of 4 tokens in use, 0 waiting, 1 processes"
    steve.stop()
    assert notify.wait_for("STOPPING=1") == "STOPPING=1"


def test_status_is_rate_bounded(start_steve, clients, notify):
    steve = start_steve(2, env={"NOTIFY_SOCKET": str(notify.path)})
    c = clients(steve)
    fd = c.open()
    start = time.monotonic()
    for _ in range(200):
        c.do("read", fd)
        c.do("write", fd, "+")
    elapsed = time.monotonic() - start
    steve.stop()
    notify.wait_for("STOPPING=1")
    statuses = [m for m in notify.messages if m.startswith("STATUS=")]
    # READY's status, then at most one a second, then perhaps one trailing.
    assert len(statuses) <= 3 + elapsed, statuses


def test_ready_waits_for_the_bus_name(start_steve, system_bus, notify):
    steve = start_steve(2, "--bus=system", env={"NOTIFY_SOCKET": str(notify.path), **system_bus.env}, wait=False)
    notify.wait_for("READY=1")
    owner = system_bus.busctl("call", "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                              "GetNameOwner", "s", "org.steve.Jobserver", check=False)
    assert owner.returncode == 0, f"READY=1 before the bus name was owned: {owner.stderr}"
    steve.wait_ready()


def test_ready_does_not_wait_for_a_missing_bus(start_steve, notify, tmp_path):
    steve = start_steve(2, "--bus=system", wait=False,
                        env={"NOTIFY_SOCKET": str(notify.path),
                             "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path / 'no-bus-here'}"})
    assert notify.next() == "READY=1"
    steve.wait_ready()
    assert "Cannot connect to the system bus" in steve.log()


def test_watchdog_is_pinged_when_asked(start_steve, notify):
    start_steve(2, env={"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "400000"})
    notify.wait_for("WATCHDOG=1", timeout=5)
    notify.wait_for("WATCHDOG=1", timeout=5)


def test_a_service_manager_that_stops_reading_stalls_nothing(start_steve, notify, clients):
    # The socket's queue (net.unix.max_dgram_qlen, 10 on Debian) fills with
    # pings nobody reads; a blocking sd_notify() would stop steve there.
    steve = start_steve(2, env={"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "20000"})
    time.sleep(1)
    c = clients(steve)
    fd = c.open()
    for _ in range(200):
        assert c.do("read", fd, timeout=5) == "+"
        assert c.do("write", fd, timeout=5) == "1"
    assert notify.next(timeout=1).startswith("READY=1")


def test_no_watchdog_pings_unless_asked(start_steve, notify):
    start_steve(2, env={"NOTIFY_SOCKET": str(notify.path)})
    with pytest.raises(socket.timeout):
        while True:
            assert "WATCHDOG=1" not in notify.next(timeout=1.5)


# Socket activation

@pytest.fixture
def activated_node(node_dir):
    node = node_dir / "activated"
    yield node
    if is_mounted(node):
        subprocess.run(["umount", "-l", str(node)], check=False)


def test_socket_activated_steve_serves_as_an_unprivileged_user(transport, activated_node, start_steve, clients):
    fd = activation_fd(transport, activated_node, USER)
    wrap, passed = activated(fd)
    try:
        steve = start_steve(2, "-v", wrap=as_user(USER, wrap), pass_fds=(passed,), path=activated_node)
    finally:
        os.close(passed)
    device = "/dev/cuse" if transport == "cuse" else "/dev/fuse"
    assert f"serving the {device} passed by the service manager" in steve.log()
    with open(f"/proc/{steve.pid}/status") as f:
        uid = next(line.split()[1] for line in f if line.startswith("Uid:"))
    assert int(uid) == pwd.getpwnam(USER).pw_uid

    a, b = clients(steve), clients(steve)
    a.do("read", a.open())
    b.do("read", b.open())
    waiting = clients(steve)
    blocked = waiting.send("read", waiting.open())
    steve.wait_state(waiting=1)
    a.kill()
    assert waiting.result(blocked)[0] == "ok"
    assert steve.wait_state(held=2, waiting=0)
    assert steve.stop() == 0


def run_with_fd(fd, *args):
    wrap, passed = activated(fd)
    try:
        return subprocess.run([*wrap, str(STEVE), "--bus=none", *args], pass_fds=(passed,),
                              capture_output=True, text=True, timeout=20)
    finally:
        os.close(passed)


def test_a_passed_fd_that_is_no_device_is_refused(tmp_path):
    r, w = os.pipe()
    os.close(w)
    result = run_with_fd(r, "--path", str(tmp_path / "node"))
    assert result.returncode != 0
    assert "neither /dev/cuse nor /dev/fuse" in result.stderr
    assert not (tmp_path / "node").exists()


def test_a_passed_fuse_fd_needs_the_path_it_is_mounted_at(tmp_path):
    if not os.path.exists("/dev/fuse"):
        pytest.skip("no /dev/fuse")
    fd = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
    result = run_with_fd(fd)
    assert result.returncode != 0
    assert "needs --path" in result.stderr


def test_a_passed_device_open_read_only_is_refused(tmp_path):
    # systemd opens ListenSpecial= files read-only unless Writable=yes.
    device = "/dev/cuse" if os.path.exists("/dev/cuse") else "/dev/fuse"
    if not os.path.exists(device):
        pytest.skip("neither /dev/cuse nor /dev/fuse")
    fd = os.open(device, os.O_RDONLY | os.O_CLOEXEC)
    result = run_with_fd(fd, "--path", str(tmp_path / "node"))
    assert result.returncode != 0
    assert f"The passed {device} is not open for reading and writing" in result.stderr


def test_more_than_one_passed_fd_is_refused(tmp_path):
    first, second = (fcntl.fcntl(os.open("/dev/null", os.O_RDWR), fcntl.F_DUPFD_CLOEXEC, 20 + i) for i in range(2))
    shim = f'export LISTEN_FDS=2 LISTEN_PID=$$; exec "$@" 3<&{first} 4<&{second}'
    try:
        result = subprocess.run(["bash", "-c", shim, "bash", str(STEVE), "--bus=none", "--no-config",
                                 "--path", str(tmp_path / "node")], pass_fds=(first, second),
                                capture_output=True, text=True, timeout=20)
    finally:
        os.close(first)
        os.close(second)
    assert result.returncode != 0
    assert "2 file descriptors passed; steve takes one" in result.stderr
    assert not (tmp_path / "node").exists()
