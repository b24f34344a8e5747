"""The Debian package on a system that has none of steve's files, under a
real systemd (tests/tools/package builds the packages and boots the VM):
install, a build as a member of the jobserver group, an upgrade while two
builds run, and a purge that leaves the system as it was. The tests run in
order, each on what the one before left. The guest's root is an overlay of
the host's; /steve-vm-changes shows its upper layer, every file the guest
changed, which is what is compared before and after."""
import grp
import hashlib
import os
import pathlib
import pwd
import stat
import subprocess
import tempfile

import pytest
from helpers import BUS, DEVICE, peak_concurrency, run, show, stamp_makefile, tokens, wait_until

PACKAGES = os.environ.get("STEVE_PACKAGE_DIR")
pytestmark = pytest.mark.skipif(os.environ.get("STEVE_UNDER_SYSTEMD") != "1" or not PACKAGES,
                                reason="needs the packages and the systemd VM (tests/tools/package)")

MAKE = os.environ.get("STEVE_TEST_MAKE")
CHANGES = pathlib.Path("/steve-vm-changes")
HOST = pathlib.Path("/steve-vm-host")
BUILDER = "builder"
POLICY_RC_D = "/usr/sbin/policy-rc.d"
# Changed by what runs meanwhile, not by the package: logs, caches, apt's and
# dpkg's own books, the journal, systemd's and man-db's state, PackageKit's
# (apt's hook wakes it to record each transaction), and the databases of
# servers the host image runs (PostgreSQL here).
NOT_THE_PACKAGES = ("var/log/", "var/cache/", "var/lib/apt/", "var/lib/dpkg/status", "var/lib/dpkg/available",
                    "var/lib/dpkg/lock", "var/lib/dpkg/triggers/", "var/lib/dpkg/updates/",
                    "var/lib/systemd/timers/", "var/lib/systemd/random-seed", "var/lib/systemd/catalog/",
                    "var/lib/private/", "var/lib/PackageKit/", "var/lib/postgresql/", "etc/ld.so.cache",
                    "tmp/", "var/tmp/", f"home/{BUILDER}/")
# The accounts: Debian leaves system users and groups behind on purge (files
# they own may outlive the package), so these may differ by exactly them.
ACCOUNTS = ("etc/passwd", "etc/group", "etc/shadow", "etc/gshadow",
            "etc/passwd-", "etc/group-", "etc/shadow-", "etc/gshadow-")


def package(directory, name="steve"):
    debs = sorted(pathlib.Path(directory).glob(f"{name}_*.deb"))
    assert len(debs) == 1, f"{directory}: {debs}"
    return debs[0]


def kind(path):
    """What is at path: absent, or its type, mode and content."""
    try:
        st = path.lstat()
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        return ("link", os.readlink(path))
    if stat.S_ISREG(st.st_mode):
        return ("file", st.st_mode & 0o7777, hashlib.sha256(path.read_bytes()).hexdigest())
    if stat.S_ISDIR(st.st_mode):
        return ("dir", st.st_mode & 0o7777)
    if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0 and path.is_relative_to(CHANGES):
        return None     # overlayfs's whiteout: the guest removed what the host has
    return ("special", stat.S_IFMT(st.st_mode), st.st_rdev)


def snapshot():
    """The guest's root where it differs from the host's: every path in the
    overlay's upper layer, and what it holds there."""
    seen = {}
    for top, dirs, files in os.walk(CHANGES):
        for name in dirs + files:
            path = pathlib.Path(top, name)
            rel = str(path.relative_to(CHANGES))
            if not rel.startswith(NOT_THE_PACKAGES):
                seen[rel] = kind(path)
    return seen


def differences(before, after):
    """Paths whose content differs between two snapshots, as the guest sees
    them: a path only one snapshot has is the host's in the other (a
    directory copied up to hold a file that is gone again is no change)."""
    def seen(snap, rel):
        return snap[rel] if rel in snap else kind(HOST / rel)
    return sorted(rel for rel in before.keys() | after.keys() if seen(before, rel) != seen(after, rel))


def account_lines(rel):
    path = pathlib.Path("/", rel)
    return set(path.read_text().splitlines()) if path.exists() else set()


state = {}


@pytest.fixture(scope="module", autouse=True)
def builder():
    # A container image's policy-rc.d (Docker's says 101: start nothing) would
    # keep the maintainer scripts from starting and stopping the units; a
    # booted Debian system has none. Moved aside in the guest's overlay only.
    if os.path.exists(POLICY_RC_D):
        os.rename(POLICY_RC_D, POLICY_RC_D + ".host")
    # Other packages' work on each dpkg run, minutes of it under TCG: man-db
    # rebuilding its index for the man pages, and apt's hook waking
    # PackageKit. Neither touches steve's files.
    if os.path.exists("/var/lib/man-db/auto-update"):
        os.unlink("/var/lib/man-db/auto-update")
    run("systemctl", "mask", "--now", "packagekit.service", check=False)
    if BUILDER not in {p.pw_name for p in pwd.getpwall()}:
        run("useradd", "--create-home", BUILDER)
    state["before"] = snapshot()
    state["accounts"] = {rel: account_lines(rel) for rel in ACCOUNTS}
    yield
    run("apt-get", "purge", "-y", "-q", "steve", check=False)


def test_the_system_has_no_steve_before():
    assert run("dpkg-query", "-W", "steve", check=False).returncode != 0
    for path in ("/usr/sbin/steve", "/lib/systemd/system/steve.socket", "/etc/steve.conf", "/run/steve"):
        assert not os.path.lexists(path), path
    assert not DEVICE.exists()


def test_install_enables_and_starts_the_socket_and_gives_the_device_to_jobserver():
    run("apt-get", "install", "-y", "-q", str(package(PACKAGES)))
    assert show("ActiveState", "steve.socket") == "active"
    assert run("systemctl", "is-enabled", "steve.socket").stdout.strip() == "enabled"
    wait_until(lambda: DEVICE.exists() and show("ActiveState") == "active", "/dev/steve and steve.service")
    # udev gives it to the group just after the kernel makes it.
    wait_until(lambda: DEVICE.stat().st_gid == grp.getgrnam("jobserver").gr_gid, "udev to give /dev/steve to jobserver")
    assert DEVICE.stat().st_mode & 0o777 == 0o660
    # Debian's name for the user, from -Dservice-user=_steve.
    assert show("User") == "_steve"
    with open(f"/proc/{show('MainPID')}/status") as f:
        assert f"Uid:\t{pwd.getpwnam('_steve').pw_uid}\t" in f.read()
    assert run("dpkg-query", "-W", "-f=${Status}", "steve").stdout == "install ok installed"


def as_builder(*argv, **kwargs):
    return subprocess.Popen(["runuser", "-u", BUILDER, "--", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kwargs)


def start_builds(count, makefile):
    """count make builds as the builder, in its home (pytest's tmp_path is
    root's alone); makefile(directory, log, top) writes each one's."""
    assert MAKE, "STEVE_TEST_MAKE is not set (tests/tools/package sets it)"
    top = pathlib.Path(tempfile.mkdtemp(dir=pwd.getpwnam(BUILDER).pw_dir))
    log = top / "stamps"
    for i in range(count):
        makefile(top / f"m{i}", log, top)
    run("chown", "-R", f"{BUILDER}:", str(top))
    procs = [as_builder(MAKE, "-s", "-C", str(top / f"m{i}"),
                        env=dict(os.environ, MAKEFLAGS=f"--jobserver-auth=fifo:{DEVICE}")) for i in range(count)]
    return top, log, procs


def finish_builds(log, procs, expected, timeout=600):
    for p in procs:
        out = p.communicate(timeout=timeout)[0]
        assert p.returncode == 0, f"{p.args} failed:\n{out}"
        assert "jobserver" not in out and "steve" not in out, out
    peak, started = peak_concurrency(log)
    assert started == expected
    return peak


def test_a_member_of_jobserver_builds_in_the_pool_and_a_stranger_may_not_open_it():
    run("usermod", "--append", "--groups", "jobserver", BUILDER)
    pool = tokens()[0]
    _, log, procs = start_builds(1, lambda directory, log, top: stamp_makefile(directory, log, 8, 0.3))
    peak = finish_builds(log, procs, 8)
    # Its implicit slot and the pool's tokens: more than one job at once, no more than the pool allows.
    assert 2 <= peak <= pool + 1, f"{peak} jobs at once with a pool of {pool}"
    assert tokens() == (pool, 0)
    stranger = subprocess.run(["runuser", "-u", "nobody", "--", "head", "-c1", str(DEVICE)],
                              capture_output=True, text=True)
    assert stranger.returncode != 0 and "Permission denied" in stranger.stderr


def gated_makefile(directory, log, gate):
    """Four jobs, then two that wait for the gate file (one on make's
    implicit slot, one on a token), then six more jobs on tokens."""
    directory.mkdir(parents=True)
    stamp = f"@echo start $$(date +%s%N) >> {log}; sleep {{}}; echo end $$(date +%s%N) >> {log}"
    (directory / "Makefile").write_text(
        "all: $(addprefix late,1 2 3 4 5 6)\n"
        "late%: wait1 wait2\n\t" + stamp.format(0.5) + "\n"
        "wait%: $(addprefix early,1 2 3 4)\n\t@while [ ! -e " + str(gate) + " ]; do sleep 0.2; done\n"
        "early%:\n\t" + stamp.format(1) + "\n")


def test_an_upgrade_while_two_builds_hold_the_pool_restarts_steve_and_neither_build_notices():
    pool = 2
    run("busctl", "set-property", *BUS, "Jobs", "u", str(pool))
    socket_since = show("ActiveEnterTimestampMonotonic", "steve.socket")
    device = DEVICE.stat()
    steve = int(show("MainPID"))
    top, log, procs = start_builds(2, lambda directory, log, top: gated_makefile(directory, log, top / "gate"))
    # Both builds waiting at their gates: each holds one token.
    wait_until(lambda: log.exists() and peak_concurrency(log)[1] == 8 and tokens() == (0, pool),
               "the builds to hold the whole pool at their gates", timeout=120)

    run("apt-get", "install", "-y", "-q", str(package(pathlib.Path(PACKAGES) / "next")))
    assert run("dpkg-query", "-W", "-f=${Version}", "steve").stdout.endswith("+rebuild1")
    assert show("ActiveState") == "active" and int(show("MainPID")) not in (0, steve), "steve was not restarted"
    # The service was restarted; the socket, and with it the device, was not.
    assert show("ActiveEnterTimestampMonotonic", "steve.socket") == socket_since
    assert (DEVICE.stat().st_ino, DEVICE.stat().st_rdev) == (device.st_ino, device.st_rdev)
    # The new steve knows who holds the pool.
    assert all(p.poll() is None for p in procs)
    assert tokens() == (0, pool)

    (top / "gate").touch()
    finish_builds(log, procs, 2 * 10, timeout=300)
    wait_until(lambda: tokens() == (pool, 0), "the whole pool back")
    journal = run("journalctl", "-u", "steve.service", "-o", "cat", "--no-pager").stdout
    assert "adopted the connection and the pool" in journal, journal[-2000:]


def test_purge_leaves_nothing_running_enabled_or_on_disk():
    files = run("dpkg-query", "-L", "steve").stdout.split()
    run("apt-get", "purge", "-y", "-q", "steve")
    assert run("dpkg-query", "-W", "-f=${Status}", "steve", check=False).stdout in ("", "unknown ok not-installed")
    for unit in ("steve.socket", "steve.service"):
        assert show("ActiveState", unit) == "inactive"
        assert show("LoadState", unit) == "not-found"
    assert not DEVICE.exists() and not os.path.lexists("/run/steve")
    uid = pwd.getpwnam("_steve").pw_uid
    assert not [p for p in os.listdir("/proc") if p.isdigit() and os.path.exists(f"/proc/{p}")
                and os.stat(f"/proc/{p}").st_uid == uid], "a process of _steve is left"
    left = [f for f in files if os.path.lexists(f) and not os.path.isdir(f)]
    assert not left, f"files of the package left: {left}"

    before, after = state["before"], snapshot()
    changed = [rel for rel in differences(before, after) if rel not in ACCOUNTS]
    assert not changed, "the purge left the system changed: " + ", ".join(
        f"{rel}: {before.get(rel, 'as the host')} -> {after.get(rel, 'as the host')}" for rel in changed)
    for rel, lines in state["accounts"].items():
        added = {line.split(":")[0] for line in account_lines(rel) - lines}
        assert added <= {"_steve", "jobserver", BUILDER}, f"{rel} gained {added}"
