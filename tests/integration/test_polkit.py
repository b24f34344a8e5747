"""polkit decides who changes steve, through D-Bus and through ioctls alike.

The real polkitd runs against a private bus, in a private mount namespace
where tmpfs covers the actions and rules directories (holding steve's policy,
its example rule and a test rule) and /etc/group gains a jobserver group.
Nothing outside the namespace changes.
"""
import os
import pathlib
import pwd
import shlex
import subprocess
import time

import pytest

from conftest import ROOT, PrivateBus, wait_until
from test_dbus import OBJ, IFACE, dbus_call, get

POLKITD = "/usr/lib/polkit-1/polkitd"
JOBSERVER_GID = 4242
IN_GROUP = "daemon"             # a member of jobserver: the example rule lets it configure
STRANGER = "nobody"             # in no group: denied
CHALLENGED = "bin"              # the test rule asks for authentication

TEST_RULE = f"""
polkit.addRule(function(action, subject) {{
    if (action.id.indexOf("org.steve.Jobserver.") == 0 && subject.user == "{CHALLENGED}")
        return polkit.Result.AUTH_ADMIN;
}});
"""


class Polkitd:
    def __init__(self, bus, directory):
        self.bus = bus
        self.directory = directory
        group = pathlib.Path("/etc/group").read_text()
        if f":{JOBSERVER_GID}:" in group or "\njobserver:" in group:
            pytest.skip("this machine already has a jobserver group or gid 4242")
        (directory / "group").write_text(group + f"jobserver:x:{JOBSERVER_GID}:{IN_GROUP}\n")
        (directory / "99-test.rules").write_text(TEST_RULE)
        self.proc = None
        self.start()

    def start(self):
        d = self.directory
        script = " && ".join([
            "mount -t tmpfs tmpfs /usr/share/polkit-1/actions",
            f"cp {ROOT}/polkit/org.steve.Jobserver.policy /usr/share/polkit-1/actions/",
            "mount -t tmpfs tmpfs /usr/share/polkit-1/rules.d",
            "mount -t tmpfs -o mode=0755 tmpfs /etc/polkit-1/rules.d",
            f"cp {ROOT}/polkit/50-steve-jobserver.rules {d}/99-test.rules /etc/polkit-1/rules.d/",
            "chmod 0644 /etc/polkit-1/rules.d/* /usr/share/polkit-1/actions/*",
            f"mount --bind {d}/group /etc/group",
            f"exec {POLKITD} --no-debug",   # it drops to the polkitd user itself
        ])
        self.proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                                     env=dict(os.environ, **self.bus.env), stderr=subprocess.DEVNULL)
        wait_until(lambda: "org.freedesktop.PolicyKit1" in self.bus.busctl("list", "--acquired").stdout,
                   what="polkitd on the bus")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def polkit(node_dir):
    bus = PrivateBus(node_dir, ["/usr/share/dbus-1/system.d/org.freedesktop.PolicyKit1.conf"])
    daemon = Polkitd(bus, node_dir)
    yield bus, daemon
    daemon.kill()
    bus.stop()


@pytest.fixture
def steve_polkit(start_steve, polkit):
    bus, daemon = polkit

    def start(jobs=4):
        steve = start_steve(jobs, "--bus=system", "--mode=0666", "-v", env=bus.env)
        if steve.transport == "cuse":
            steve.path.chmod(0o666)     # what a udev rule would do for the jobserver group
        wait_until(lambda: bus.busctl("get-property", *OBJ, IFACE, "Version", check=False).returncode == 0,
                   what="steve on the bus")
        return steve
    return start


def test_stranger_is_refused_through_both_doors(transport, steve_polkit, polkit):
    bus, _ = polkit
    steve = steve_polkit(3)
    r = steve.stevie("--set-jobs", "4", user=STRANGER, check=False)
    assert r.returncode == 1 and "not allowed to set jobs" in r.stderr
    out = dbus_call(bus, "set", "Jobs", "u", "4", user=STRANGER)
    assert out.startswith("err org.freedesktop.DBus.Error.AccessDenied"), out
    assert get(bus, "Jobs") == "3"
    assert steve.stevie("--get-jobs", user=STRANGER).stdout == "3\n"
    steve.wait_for_line(f"org.steve.Jobserver.configure denied: uid {pwd.getpwnam(STRANGER).pw_uid}")


def test_example_rule_lets_the_jobserver_group_configure_but_not_manage(transport, steve_polkit, polkit, clients):
    bus, _ = polkit
    steve = steve_polkit(3)
    steve.stevie("--set-jobs", "4", user=IN_GROUP)
    assert get(bus, "Jobs") == "4"
    assert dbus_call(bus, "set", "Jobs", "u", "5", user=IN_GROUP) == "ok"
    assert steve.stevie("--get-jobs").stdout == "5\n"
    # pause and reclaim are org.steve.Jobserver.manage, which the rule does not grant
    r = steve.stevie("--pause", user=IN_GROUP, check=False)
    assert r.returncode == 1
    out = dbus_call(bus, "call", "ReclaimTokens", "u", "1", user=IN_GROUP)
    assert out.startswith("err org.freedesktop.DBus.Error.AccessDenied"), out
    steve.wait_for_line("org.steve.Jobserver.manage denied: uid 1")


def test_authentication_required_is_said_so_on_dbus(steve_polkit, polkit):
    bus, _ = polkit
    steve_polkit(3)
    out = dbus_call(bus, "set", "Jobs", "u", "4", user=CHALLENGED)
    assert out.startswith("err org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"), out
    assert get(bus, "Jobs") == "3"


def test_root_needs_no_polkit(steve_polkit, polkit):
    bus, daemon = polkit
    steve = steve_polkit(3)
    daemon.kill()
    steve.stevie("--set-jobs", "6")
    bus.busctl("set-property", *OBJ, IFACE, "Paused", "b", "true")
    assert steve.stevie("--get-jobs", "--get-paused").stdout.split() == ["6", "1"]


def test_dead_polkitd_means_denied_quickly_and_tokens_keep_flowing(transport, steve_polkit, polkit, clients):
    bus, daemon = polkit
    steve = steve_polkit(2)
    steve.stevie("--set-jobs", "3", user=IN_GROUP)       # polkitd answers
    daemon.kill()
    started = time.monotonic()
    r = steve.stevie("--set-jobs", "4", user=IN_GROUP, check=False)
    assert r.returncode == 1
    out = dbus_call(bus, "set", "Jobs", "u", "4", user=IN_GROUP)
    assert out.startswith("err org.freedesktop.DBus.Error.AccessDenied"), out
    assert time.monotonic() - started < 10, "a dead polkitd must not stall the answer"
    assert get(bus, "Jobs") == "3"
    steve.wait_for_line("polkit gave no answer")
    c = clients(steve)
    assert c.do("read", c.open()) == "+"
    # and it comes back
    daemon.start()
    wait_until(lambda: steve.stevie("--set-jobs", "5", user=IN_GROUP, check=False).returncode == 0,
               what="polkitd to answer again")
