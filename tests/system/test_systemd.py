"""steve under a real systemd (tests/vm/run --systemd boots one in the VM):
the installed steve.socket and steve.service, the installed udev rule,
sysusers file and D-Bus files, on the real system bus. Skipped anywhere else:
it installs into / and starts system services."""
import grp
import json
import os
import pathlib
import pwd
import shutil
import subprocess
import time

import pytest

pytestmark = pytest.mark.skipif(os.environ.get("STEVE_UNDER_SYSTEMD") != "1",
                                reason="needs the systemd VM (tests/vm/run --systemd)")

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("STEVE_BUILD_DIR", ROOT / "build")).resolve()
DEVICE = pathlib.Path("/dev/steve")
BUS = ("org.steve.Jobserver", "/org/steve/Jobserver", "org.steve.Jobserver")


def run(*argv, check=True):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if check:
        assert r.returncode == 0, f"{argv}: {r.stdout}{r.stderr}"
    return r


def wait_until(predicate, what, timeout=60):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def show(prop, unit="steve.service"):
    return run("systemctl", "show", "-P", prop, unit).stdout.strip()


def journal():
    return run("journalctl", "-u", "steve.service", "-o", "cat", "--no-pager").stdout


def active():
    return show("ActiveState") == "active" and DEVICE.exists()


def jobs():
    return int(run("busctl", "get-property", *BUS, "Jobs").stdout.split()[1])


@pytest.fixture(scope="module", autouse=True)
def installed():
    run("meson", "install", "-C", str(BUILD), "--no-rebuild", "--quiet")
    run("systemd-sysusers")
    run("udevadm", "control", "--reload")
    run("systemctl", "daemon-reload")
    run("systemctl", "reload", "dbus")
    yield
    run("systemctl", "stop", "steve.service", "steve.socket", check=False)


@pytest.fixture
def steve():
    run("systemctl", "start", "steve.socket")
    wait_until(active, "steve.service to be active with /dev/steve")
    yield int(show("MainPID"))
    run("systemctl", "stop", "steve.service", "steve.socket", check=False)
    wait_until(lambda: not DEVICE.exists(), "/dev/steve to go")


def take_and_return(path=DEVICE):
    fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
    try:
        assert len(os.read(fd, 1)) == 1
        assert os.write(fd, b"+") == 1
    finally:
        os.close(fd)


def test_socket_activation_runs_steve_unprivileged_in_its_sandbox(steve):
    with open(f"/proc/{steve}/status") as f:
        status = f.read()
    uid = pwd.getpwnam("steve").pw_uid
    assert f"Uid:\t{uid}\t{uid}\t{uid}\t{uid}" in status
    assert "CapEff:\t0000000000000000" in status and "Seccomp:\t2" in status
    assert "serving the /dev/cuse passed by the service manager" in journal()
    take_and_return()


def test_udev_gives_dev_steve_to_the_jobserver_group(steve):
    st = DEVICE.stat()
    assert (st.st_gid, st.st_mode & 0o777) == (grp.getgrnam("jobserver").gr_gid, 0o660)


def test_ready_and_status_reach_systemd(steve):
    assert show("Type") == "notify"
    fd = os.open(DEVICE, os.O_RDWR)
    try:
        os.read(fd, 1)
        wait_until(lambda: show("StatusText").startswith("1 of "), "STATUS= with one token in use")
        os.write(fd, b"+")
    finally:
        os.close(fd)
    wait_until(lambda: show("StatusText").startswith("0 of "), "STATUS= with none in use")


def test_journal_gets_priorities(steve):
    entries = [json.loads(l) for l in run("journalctl", "-u", "steve.service", "-o", "json",
                                          "--no-pager").stdout.splitlines()]
    running = [e for e in entries if "running on /dev/steve" in e.get("MESSAGE", "")]
    assert running and running[-1]["PRIORITY"] == "5"
    assert not any(e.get("MESSAGE", "").startswith("steve: ") for e in entries)


def test_dbus_on_the_system_bus_and_reload(steve):
    run("busctl", "set-property", *BUS, "Jobs", "u", "5")
    assert jobs() == 5
    config = pathlib.Path(run("sh", "-c", f"{BUILD}/daemon/steve --help | sed -n 's/.*default: \\(.*steve.conf\\),/\\1/p'")
                          .stdout.strip())
    assert config.name == "steve.conf"
    config.write_text("jobs = 3\n")
    try:
        run("systemctl", "reload", "steve.service")
        wait_until(lambda: jobs() == 3, "the reload to set 3 jobs")
        assert show("ActiveState") == "active" and int(show("MainPID")) == steve
    finally:
        config.unlink()


def test_restart_gives_a_fresh_device(steve):
    run("systemctl", "restart", "steve.service")
    wait_until(active, "steve to be back")
    assert int(show("MainPID")) != steve
    take_and_return()


def test_a_crash_is_restarted(steve):
    os.kill(steve, 9)
    wait_until(lambda: active() and int(show("MainPID")) not in (0, steve), "steve to be restarted", timeout=90)
    take_and_return()


def test_dbus_activation_starts_the_service(steve):
    run("systemctl", "stop", "steve.service", "steve.socket")
    wait_until(lambda: not DEVICE.exists(), "/dev/steve to go")
    assert jobs() > 0
    wait_until(active, "steve started by D-Bus activation")
    take_and_return()


def test_polkit_refuses_a_stranger_on_the_system_bus(steve):
    # The polkit worker thread runs under the unit's system call filter too.
    r = run("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
            "busctl", "set-property", *BUS, "Jobs", "u", "7", check=False)
    assert r.returncode != 0
    assert "Interactive authentication required" in r.stderr or "Access denied" in r.stderr \
        or "Not authorized" in r.stderr, r.stderr
    assert jobs() != 7
    assert show("ActiveState") == "active"


def test_watchdog_pings_reach_systemd(steve):
    dropin = pathlib.Path("/run/systemd/system/steve.service.d/watchdog.conf")
    dropin.parent.mkdir(parents=True, exist_ok=True)
    dropin.write_text("[Service]\nWatchdogSec=2s\n")
    try:
        run("systemctl", "daemon-reload")
        run("systemctl", "restart", "steve.service")
        wait_until(active, "steve back with a 2 s watchdog")
        pid = int(show("MainPID"))
        assert show("WatchdogUSec") == "2s"
        time.sleep(6)   # three watchdog periods: without pings systemd aborts steve after one
        assert show("ActiveState") == "active" and int(show("MainPID")) == pid
        assert "Watchdog timeout" not in run("journalctl", "-u", "steve.service", "--no-pager").stdout
    finally:
        dropin.unlink()
        run("systemctl", "daemon-reload")


@pytest.fixture
def example_rule():
    """The shipped example rule installed, and daemon in the jobserver group."""
    rule = pathlib.Path("/etc/polkit-1/rules.d/50-steve-jobserver.rules")
    rule.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "polkit" / "50-steve-jobserver.rules", rule)
    run("usermod", "-aG", "jobserver", "daemon")
    yield "daemon"
    rule.unlink()
    run("gpasswd", "-d", "daemon", "jobserver", check=False)


def as_member(user, *argv):
    return run("setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", *argv, check=False)


def test_polkit_grants_the_jobserver_group_with_steve_unprivileged(steve, example_rule):
    # steve runs as steve here, as shipped: polkitd answers it about its
    # callers only because the actions name steve as their owner.
    r = as_member(example_rule, "busctl", "set-property", *BUS, "Jobs", "u", "7")
    assert r.returncode == 0, r.stderr
    assert jobs() == 7
    r = as_member(example_rule, str(BUILD / "client" / "stevie"), "--set-jobs", "6")
    assert r.returncode == 0, r.stderr
    assert jobs() == 6
    # configure only: managing stays an administrator's
    r = as_member(example_rule, "busctl", "call", *BUS, "ReclaimTokens", "u", "1")
    assert r.returncode != 0 and ("Access denied" in r.stderr or "Not authorized" in r.stderr), r.stderr
    r = as_member("nobody", "busctl", "set-property", *BUS, "Jobs", "u", "5")
    assert r.returncode != 0
    assert jobs() == 6


def test_the_sandbox_bounds_tasks_and_memory(steve):
    assert show("TasksMax") == "32"
    assert show("MemoryMax") == str(256 << 20)
    # /dev/cuse is not allowed: the passed fd needs it not (ProtectClock adds the rtc).
    assert "cuse" not in show("DeviceAllow")
    take_and_return()
