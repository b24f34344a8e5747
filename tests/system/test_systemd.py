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
from helpers import BUS, DEVICE, peak_concurrency, run, show, stamp_makefile, tokens, wait_until

pytestmark = pytest.mark.skipif(os.environ.get("STEVE_UNDER_SYSTEMD") != "1",
                                reason="needs the systemd VM (tests/vm/run --systemd)")

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("STEVE_BUILD_DIR", ROOT / "build")).resolve()


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
    uid = pwd.getpwnam(show("User")).pw_uid
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


# Restarts, upgrades, crashes and stops while builds run: none of them notices.

MAKE = os.environ.get("STEVE_TEST_MAKE")
POOL = 3


def find_cargo():
    for candidate in (shutil.which("cargo"), os.path.expanduser("~/.cargo/bin/cargo")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def cargo_workspace(root, crates, log):
    """crates crates whose compiles each log their start and end and take 2 s."""
    members = [f"c{i}" for i in range(crates)]
    root.mkdir()
    (root / "Cargo.toml").write_text(
        "[workspace]\nresolver = \"2\"\nmembers = [%s]\n" % ", ".join(f'"{m}"' for m in members))
    for m in members:
        (root / m / "src").mkdir(parents=True)
        (root / m / "Cargo.toml").write_text(f'[package]\nname = "{m}"\nversion = "0.1.0"\nedition = "2021"\n')
        (root / m / "src" / "lib.rs").write_text("pub fn f() -> u32 { 42 }\n")
    wrapper = root / "rustc-wrapper"
    wrapper.write_text(
        "#!/bin/sh\n"
        "case \" $* \" in *\" --crate-name c\"[0-9]*) ;; *) exec \"$@\" ;; esac\n"
        f"echo start $(date +%s%N) >> {log}; sleep 2; \"$@\"; s=$?; echo end $(date +%s%N) >> {log}; exit $s\n")
    wrapper.chmod(0o755)
    return wrapper


class Builds:
    """Two make 4.4.1 builds and, where cargo is installed, a cargo build, all
    on /dev/steve; the jobs log when they run."""

    def __init__(self, tmp_path, jobs=16, seconds=0.5):
        assert MAKE, "STEVE_TEST_MAKE is not set (tests/run-tests sets it)"
        env = dict(os.environ, MAKEFLAGS=f"--jobserver-auth=fifo:{DEVICE}")
        self.log = tmp_path / "stamps"
        self.procs = []
        self.expected = 0
        for i in range(2):
            stamp_makefile(tmp_path / f"m{i}", self.log, jobs, seconds)
            self.procs.append(subprocess.Popen([MAKE, "-s", "-C", str(tmp_path / f"m{i}")], env=env,
                                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
            self.expected += jobs
        cargo = find_cargo()
        if cargo:
            wrapper = cargo_workspace(tmp_path / "ws", 6, self.log)
            cenv = dict(env, RUSTC_WRAPPER=str(wrapper), CARGO_TARGET_DIR=str(tmp_path / "target"),
                        PATH=f"{os.path.dirname(cargo)}:{env.get('PATH', '')}")
            self.procs.append(subprocess.Popen([cargo, "build", "--offline", "-q", "-j", "8"], cwd=tmp_path / "ws",
                                               env=cenv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
            self.expected += 6
        # Under way, tokens taken, before anything happens to steve.
        wait_until(lambda: self.log.exists() and peak_concurrency(self.log)[1] >= 4, "the builds to start")

    def finish(self):
        outputs = [p.communicate(timeout=600)[0] for p in self.procs]
        for p, out in zip(self.procs, outputs):
            assert p.returncode == 0, f"{p.args} failed:\n{out}"
            assert "jobserver" not in out and "jobs pipe" not in out, out
        peak, started = peak_concurrency(self.log)
        assert started == self.expected
        # Each tool runs one job on its implicit slot, the rest on tokens.
        assert peak <= POOL + len(self.procs), f"{peak} jobs at once"
        wait_until(lambda: tokens() == (POOL, 0), "the whole pool back")


def crash(sig):
    def event(steve):
        os.kill(steve, sig)
        wait_until(lambda: active() and int(show("MainPID")) not in (0, steve), "steve to be restarted",
                   timeout=90)
    return event


def restart(steve):
    run("systemctl", "restart", "steve.service")
    wait_until(lambda: active() and int(show("MainPID")) != steve, "steve to be back")


def stop_then_request(steve):
    run("systemctl", "stop", "steve.service")
    assert DEVICE.exists(), "the device went with the service"
    # The builds' next request starts it again (socket activation of the device).
    wait_until(lambda: active() and int(show("MainPID")) not in (0, steve), "a request to start steve",
               timeout=90)


def reexec(steve):
    before = journal().count("adopted the connection")
    run("busctl", "call", *BUS, "Reexecute")
    wait_until(lambda: journal().count("adopted the connection") > before, "the re-exec")
    assert int(show("MainPID")) == steve and show("ActiveState") == "active"


# An upgrade is the package's: tests/system/test_package.py installs a newer
# .deb while two builds run.
@pytest.mark.parametrize("event", [restart, crash(9), crash(6), stop_then_request, reexec],
                         ids=["restart", "kill-9", "abort", "stop-then-request", "reexec"])
def test_running_builds_never_notice(steve, tmp_path, event):
    run("busctl", "set-property", *BUS, "Jobs", "u", str(POOL))
    builds = Builds(tmp_path)
    event(steve)
    assert DEVICE.exists()
    # A change made at run time is kept too.
    assert jobs() == POOL
    builds.finish()
    assert "a fresh one is needed" not in journal()


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
