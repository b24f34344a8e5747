"""polkit decides who changes steve, through D-Bus and through ioctls alike,
in the configuration that ships: steve running as its own user, steve, as the
systemd unit, the OpenRC script and D-Bus activation run it.

A private mount namespace stands in for the system's configuration: tmpfs
over polkit's actions and rules directories (steve's policy, its example
rule and a test rule) and /etc/passwd and /etc/group with the steve user and
a jobserver group, bind-mounted. dbus-daemon, the real polkitd and steve run
in it; steve is handed its node the way socket activation hands it and runs
as steve. Callers and clients outside see the same bus socket and node.
Nothing outside the namespace changes.
"""
import json
import os
import pathlib
import pwd
import subprocess
import time

import pytest

from conftest import BUILD, ROOT, STEVIE, PrivateBus, is_mounted, wait_until
from test_dbus import OBJ, IFACE, dbus_call, get
from test_service import activated, activation_fd

pytestmark = pytest.mark.above_transport

POLKITD = "/usr/lib/polkit-1/polkitd"
STEVE_UID = 4243                # the steve user, in the namespace only
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


class SystemNamespace:
    """The system's configuration for steve, polkitd and the bus, in a mount
    namespace kept open by a sleeping process; enter() runs a command in it."""

    def __init__(self, directory):
        for name in ("passwd", "group"):
            text = pathlib.Path("/etc", name).read_text()
            if f":{STEVE_UID}:" in text or f":{JOBSERVER_GID}:" in text or "\nsteve:" in text \
                    or "\njobserver:" in text:
                pytest.skip(f"this machine has a steve user, a jobserver group or uses ids {STEVE_UID}/{JOBSERVER_GID}")
        (directory / "passwd").write_text(pathlib.Path("/etc/passwd").read_text() +
                                          f"steve:x:{STEVE_UID}:{STEVE_UID}:steve jobserver:/nonexistent:"
                                          "/usr/sbin/nologin\n")
        (directory / "group").write_text(pathlib.Path("/etc/group").read_text() +
                                         f"steve:x:{STEVE_UID}:\njobserver:x:{JOBSERVER_GID}:{IN_GROUP}\n")
        (directory / "99-test.rules").write_text(TEST_RULE)
        d = directory
        script = " && ".join([
            "mount -t tmpfs tmpfs /usr/share/polkit-1/actions",
            f"cp {BUILD}/polkit/org.steve.Jobserver.policy /usr/share/polkit-1/actions/",
            "mount -t tmpfs tmpfs /usr/share/polkit-1/rules.d",
            "mount -t tmpfs -o mode=0755 tmpfs /etc/polkit-1/rules.d",
            f"cp {ROOT}/polkit/50-steve-jobserver.rules {d}/99-test.rules /etc/polkit-1/rules.d/",
            "chmod 0644 /etc/polkit-1/rules.d/* /usr/share/polkit-1/actions/*",
            f"mount --bind {d}/passwd /etc/passwd",
            f"mount --bind {d}/group /etc/group",
            "echo ready",
            "exec sleep infinity",
        ])
        self.holder = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                                       stdout=subprocess.PIPE, text=True)
        assert self.holder.stdout.readline() == "ready\n", "cannot set up the namespace"

    def enter(self, argv):
        # Its root too: in the VM tier the tests run chrooted, and a mount
        # namespace's own root is the initramfs.
        return ["nsenter", f"--target={self.holder.pid}", "--mount", "--root", "--wd", "--", *argv]

    def close(self):
        self.holder.kill()
        self.holder.wait()


class Polkitd:
    def __init__(self, ns, bus):
        self.ns, self.bus = ns, bus
        self.proc = None
        self.start()

    def start(self):
        # It drops to the polkitd user itself.
        self.proc = subprocess.Popen(self.ns.enter([POLKITD, "--no-debug"]), env=dict(os.environ, **self.bus.env),
                                     stderr=subprocess.DEVNULL)
        wait_until(lambda: "org.freedesktop.PolicyKit1" in self.bus.busctl("list", "--acquired").stdout,
                   what="polkitd on the bus")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def polkit(node_dir):
    ns = SystemNamespace(node_dir)
    bus = PrivateBus(node_dir, ["/usr/share/dbus-1/system.d/org.freedesktop.PolicyKit1.conf"], wrap=ns.enter([]))
    daemon = Polkitd(ns, bus)
    yield ns, bus, daemon
    daemon.kill()
    bus.stop()
    ns.close()


@pytest.fixture
def shipped_steve(transport, start_steve, polkit, node_dir):
    """steve as the unit runs it: handed its node by the service manager,
    running as steve, in the system's configuration."""
    ns, bus, _ = polkit
    node = node_dir / "shipped"
    started = []

    def start(jobs=4):
        fd = activation_fd(transport, node, "root")
        wrap, passed = activated(fd)
        try:
            steve = start_steve(jobs, "--bus=system", "-v", "--mode=0666", env=bus.env, pass_fds=(passed,),
                                path=node,
                                wrap=ns.enter(["setpriv", f"--reuid={STEVE_UID}", f"--regid={STEVE_UID}",
                                               "--clear-groups", *wrap]))
        finally:
            os.close(passed)
        # udev gives the device to the jobserver group; the tests' callers are
        # in it or not, but all of them must reach the node to be asked at all.
        if transport == "cuse":
            steve.path.chmod(0o666)
        started.append(steve)
        wait_until(lambda: bus.busctl("get-property", *OBJ, IFACE, "Version", check=False).returncode == 0,
                   what="steve on the bus")
        with open(f"/proc/{steve.pid}/status") as f:
            assert f"Uid:\t{STEVE_UID}\t{STEVE_UID}\t{STEVE_UID}\t{STEVE_UID}" in f.read()
        return steve
    yield start
    if transport == "fuse" and is_mounted(node):
        subprocess.run(["umount", "-l", str(node)], check=False, stderr=subprocess.DEVNULL)


def test_stranger_is_refused_through_both_doors(shipped_steve, polkit):
    _, bus, _ = polkit
    steve = shipped_steve(3)
    r = steve.stevie("--set-jobs", "4", user=STRANGER, check=False)
    assert r.returncode == 1 and "not allowed to set jobs" in r.stderr
    out = dbus_call(bus, "set", "Jobs", "u", "4", user=STRANGER)
    assert out.startswith("err org.freedesktop.DBus.Error.AccessDenied"), out
    assert get(bus, "Jobs") == "3"
    assert steve.stevie("--get-jobs", user=STRANGER).stdout == "3\n"
    steve.wait_for_line(f"org.steve.Jobserver.configure denied: uid {pwd.getpwnam(STRANGER).pw_uid}")


def test_example_rule_lets_the_jobserver_group_configure_but_not_manage(shipped_steve, polkit):
    _, bus, _ = polkit
    steve = shipped_steve(3)
    # The grant itself: what never worked while tests ran steve as root.
    steve.stevie("--set-jobs", "4", user=IN_GROUP)
    assert get(bus, "Jobs") == "4"
    assert dbus_call(bus, "set", "Jobs", "u", "5", user=IN_GROUP) == "ok"
    assert steve.stevie("--get-jobs").stdout == "5\n"
    steve.wait_for_line(f"org.steve.Jobserver.configure allowed: uid {pwd.getpwnam(IN_GROUP).pw_uid}")
    # pause, reclaim and min-jobs 0 are org.steve.Jobserver.manage, which the rule does not grant
    assert steve.stevie("--pause", user=IN_GROUP, check=False).returncode == 1
    r = steve.stevie("--set-min-jobs", "0", user=IN_GROUP, check=False)
    assert r.returncode == 1 and "not allowed" in r.stderr
    assert steve.stevie("--set-min-jobs", "2", user=IN_GROUP).returncode == 0
    out = dbus_call(bus, "call", "ReclaimTokens", "u", "1", user=IN_GROUP)
    assert out.startswith("err org.freedesktop.DBus.Error.AccessDenied"), out
    steve.wait_for_line("org.steve.Jobserver.manage denied: uid 1")


def build_weights(bus):
    out = bus.busctl("--json=short", "call", *OBJ, IFACE, "GetBuilds").stdout
    return {pid: weight for pid, weight, _, _ in json.loads(out)["data"][0]}


def test_a_weight_is_configure_but_lowering_ones_own_is_free(shipped_steve, polkit):
    _, bus, _ = polkit
    steve = shipped_steve(3)
    # Like nice: less than one's nice value gives is anyone's to ask for...
    assert steve.stevie("--weight", "110", "true", user=STRANGER).returncode == 0
    steve.wait_for_line("leads a build of weight 110 now")
    # ...more is not.
    r = steve.stevie("--weight", "2000", "true", user=STRANGER, check=False)
    assert r.returncode == 1 and "not allowed to set that weight" in r.stderr, r.stderr
    holder = subprocess.Popen([str(STEVIE), f"--device={steve.path}", "sleep", "60"])
    try:
        wait_until(lambda: holder.pid in build_weights(bus), what="stevie to hold a token")
        r = steve.stevie("--set-weight", holder.pid, "100", user=STRANGER, check=False)
        assert r.returncode == 1 and "not allowed" in r.stderr, r.stderr
        out = dbus_call(bus, "call", "SetWeight", "u", str(holder.pid), "u", "100", user=STRANGER)
        assert out.startswith("err org.freedesktop.DBus.Error.AccessDenied"), out
        assert build_weights(bus)[holder.pid] == 1024
        # configure, which the example rule grants the jobserver group, may
        steve.stevie("--set-weight", holder.pid, "100", user=IN_GROUP)
        assert build_weights(bus)[holder.pid] == 100
        assert dbus_call(bus, "call", "SetWeight", "u", str(holder.pid), "u", "3000", user=IN_GROUP) == "ok None"
        assert build_weights(bus)[holder.pid] == 3000
        out = dbus_call(bus, "call", "SetWeight", "u", "999999", "u", "3000", user=IN_GROUP)
        assert out.startswith("err org.steve.Jobserver.Error.NoSuchProcess"), out
    finally:
        holder.kill()
        holder.wait()


def test_authentication_required_is_said_so_on_dbus(shipped_steve, polkit):
    _, bus, _ = polkit
    shipped_steve(3)
    out = dbus_call(bus, "set", "Jobs", "u", "4", user=CHALLENGED)
    assert out.startswith("err org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"), out
    assert get(bus, "Jobs") == "3"


def test_root_needs_no_polkit(shipped_steve, polkit):
    _, bus, daemon = polkit
    steve = shipped_steve(3)
    daemon.kill()
    steve.stevie("--set-jobs", "6")
    bus.busctl("set-property", *OBJ, IFACE, "Paused", "b", "true")
    assert steve.stevie("--get-jobs", "--get-paused").stdout.split() == ["6", "1"]


def test_dead_polkitd_means_denied_quickly_and_tokens_keep_flowing(shipped_steve, polkit, clients):
    _, bus, daemon = polkit
    steve = shipped_steve(2)
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


def holders(bus, user=None):
    r = bus.busctl("--json=short", "call", *OBJ, IFACE, "GetHolders", user=user)
    return {pid: label for pid, label, *_ in json.loads(r.stdout)["data"][0]}


def test_command_lines_are_shown_to_their_owner_and_root_only(shipped_steve, polkit, clients):
    _, bus, _ = polkit
    steve = shipped_steve(4)
    mine, theirs = clients(steve, user=STRANGER), clients(steve)
    mine.do("read", mine.open())
    theirs.do("read", theirs.open())
    as_stranger = holders(bus, user=STRANGER)
    assert "jsclient.py" in as_stranger[mine.pid], "a caller sees its own command lines"
    assert as_stranger[theirs.pid] == "python3", "another user's command line leaked"
    as_group = holders(bus, user=IN_GROUP)
    assert as_group[mine.pid] == "python3" and as_group[theirs.pid] == "python3"
    as_root = holders(bus)
    assert "jsclient.py" in as_root[mine.pid] and "jsclient.py" in as_root[theirs.pid]
    # Asked through polkit (org.steve.Jobserver.inspect), not refused: names instead.
    steve.wait_for_line(f"org.steve.Jobserver.inspect denied: uid {pwd.getpwnam(STRANGER).pw_uid}")


@pytest.mark.through_transport  # an unprivileged steve hands its CUSE connection over
def test_reexecute_is_manage_and_keeps_the_pool_as_the_steve_user(shipped_steve, polkit, clients):
    _, bus, _ = polkit
    steve = shipped_steve(3)
    holder = clients(steve)
    fd = holder.open()
    assert holder.do("read", fd) == "+"
    # The example rule grants configure, not manage.
    r = steve.stevie("--reexec", user=IN_GROUP, check=False)
    assert r.returncode == 1 and "not allowed to re-execute" in r.stderr, r.stderr
    out = dbus_call(bus, "call", "Reexecute", user=IN_GROUP)
    assert out.startswith("err org.freedesktop.DBus.Error.AccessDenied"), out
    assert "re-executing" not in steve.log()
    # Root may: the call is answered, steve re-executes as the user it is
    # and owns its bus name again, and the holder's token is still its own.
    start = len(steve.lines)
    bus.busctl("call", *OBJ, IFACE, "Reexecute")
    steve.wait_for_line("adopted the connection", start)
    steve.wait_for_line("running on", start)
    wait_until(lambda: bus.busctl("get-property", *OBJ, IFACE, "Version", check=False).returncode == 0,
               what="steve on the bus again")
    with open(f"/proc/{steve.pid}/status") as f:
        assert f"Uid:\t{STEVE_UID}\t{STEVE_UID}\t{STEVE_UID}\t{STEVE_UID}" in f.read()
    steve.wait_state(held=1, processes=1)
    assert holder.do("write", fd) == "1"
    steve.wait_state(available=3, held=0)
