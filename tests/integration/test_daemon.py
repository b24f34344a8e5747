"""The daemon's command line, lifecycle and node permissions."""
import os
import pwd
import signal
import subprocess

import pytest

from conftest import STEVE, is_mounted, wait_until


def run_steve(*args, timeout=10):
    return subprocess.run([str(STEVE), *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("args, message", [
    (["-j", "0"], "invalid number of jobs '0'"),
    (["-j", "x"], "invalid number of jobs 'x'"),
    (["--jobs=-3"], "invalid number of jobs '-3'"),
    (["--user", "no-such-user-here"], "unknown user 'no-such-user-here'"),
    (["--mode", "999"], "invalid mode '999'"),
    (["--reserve-timeout", "0"], "invalid timeout '0'"),
    (["--dev-name", "../x"], "invalid device name '../x'"),
    (["surplus"], "unexpected argument 'surplus'"),
])
def test_bad_options_get_one_line_and_status_2_before_mounting(tmp_path, args, message):
    node = tmp_path / "node"
    r = run_steve("--path", str(node), *args)
    assert r.returncode == 2
    assert r.stderr.splitlines() == [f"steve: {message}" + r.stderr.splitlines()[0].split(message, 1)[1]]
    assert not node.exists() and not is_mounted(node)


def test_unmountable_paths_fail_with_status_2(tmp_path):
    r = run_steve("--path", str(tmp_path / "missing" / "node"))
    assert r.returncode == 2 and "Cannot create" in r.stderr
    r = run_steve("--path", str(tmp_path))
    assert r.returncode == 2 and "is not a regular file" in r.stderr
    assert not is_mounted(tmp_path)


def test_help_names_every_option_and_version_prints():
    r = run_steve("--help")
    assert r.returncode == 0
    for option in ["--jobs", "--dev-name", "--path", "--fallback-path", "--user", "--owner",
                   "--group", "--mode", "--reserve-timeout", "--verbose", "--debug", "--help",
                   "--version", "SIGUSR1"]:
        assert option in r.stdout
    r = run_steve("--version")
    assert r.returncode == 0 and r.stdout.startswith("steve ")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_fails_blocked_readers_removes_the_node_and_exits_0(start_steve, clients, sig):
    steve = start_steve(1)
    holder, reader = clients(steve), clients(steve)
    holder.do("read", holder.open())
    wait = reader.send("read", reader.open())
    steve.wait_state(waiting=1)
    assert steve.stop(sig) == 0
    status, value = reader.result(wait)
    assert status == "err", "a blocked reader got a token from a stopping daemon"
    if steve.transport == "fuse":
        assert not is_mounted(steve.path)
        assert not steve.path.exists(), "the node steve created is left behind"
    else:
        wait_until(lambda: not steve.path.exists(), what="the device to disappear")


def test_starts_with_the_line_naming_where_and_how_many(start_steve):
    steve = start_steve(7)
    assert f"steve: running on {steve.path} for 7 jobs" in steve.log()


def test_user_option_drops_privileges_for_good(start_steve, clients):
    steve = start_steve(2, "--user", "nobody")
    nobody = pwd.getpwnam("nobody")
    with open(f"/proc/{steve.pid}/status") as f:
        ids = {l.split(":")[0]: l.split()[1:] for l in f if l.startswith(("Uid", "Gid"))}
    assert ids["Uid"] == [str(nobody.pw_uid)] * 4
    assert ids["Gid"] == [str(nobody.pw_gid)] * 4
    c = clients(steve)
    assert c.do("read", c.open()) == "+"
    assert steve.stop() == 0
    if steve.transport == "fuse":
        wait_until(lambda: not is_mounted(steve.path), what="fusermount3 to unmount")


def test_fuse_node_permissions_are_enforced(transport, start_steve, clients):
    if transport != "fuse":
        pytest.skip("/dev nodes get their permissions from udev")
    steve = start_steve(1)
    st = steve.path.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (0, 0, 0o660)
    stranger = clients(steve, user="nobody")
    assert stranger.err("open") == "EACCES"


def test_fuse_node_owner_and_mode_options(transport, start_steve, clients):
    if transport != "fuse":
        pytest.skip("FUSE node only")
    steve = start_steve(1, "--owner", "nobody", "--mode", "0600")
    st = steve.path.stat()
    assert (st.st_uid, st.st_mode & 0o7777) == (pwd.getpwnam("nobody").pw_uid, 0o600)
    owner = clients(steve, user="nobody")
    assert owner.do("read", owner.open()) == "+"


def test_fallback_path_is_used_only_without_dev_cuse(tmp_path):
    node = tmp_path / "fallback"
    proc = subprocess.Popen([str(STEVE), "-j", "2", "--bus=none", "--fallback-path", str(node)],
                            stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        while not any("running on" in l for l in lines):
            lines.append(proc.stderr.readline().strip())
            assert lines[-1], "steve stopped before it ran"
        if os.path.exists("/dev/cuse"):
            assert lines[-1].startswith("steve: running on /dev/steve")
        else:
            assert any("/dev/cuse does not exist" in l and str(node) in l for l in lines)
            assert lines[-1] == f"steve: running on {node} for 2 jobs"
            assert is_mounted(node)
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    assert not is_mounted(node)


def test_two_instances_serve_separate_pools(start_steve, clients):
    # on CUSE: two --dev-name devices; on FUSE: two paths
    big, small = start_steve(3), start_steve(1)
    assert big.path != small.path
    a, b = clients(big), clients(small)
    afd, bfd = a.open("rdwr", "nonblock"), b.open("rdwr", "nonblock")
    assert [a.do("read", afd) for _ in range(3)] == ["+"] * 3
    assert b.do("read", bfd) == "+"
    assert b.err("read", bfd) == "EAGAIN"
    assert (big.state().held, small.state().held) == (3, 1)
