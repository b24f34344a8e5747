"""How the pool is shared between builds started together: real GNU make 4.4.1
(and cargo where installed), each build logging a start and an end stamp per
job. A build's share is its part of the job-time that ran while every build
ran (from the last build's first job to the first build's last job).
"""
import os
import subprocess
import sys
import time

import pytest

from conftest import ROOT, VALGRIND, real_tool, wait_until
from test_real_clients import find_cargo, jobserver_env, max_concurrency, write_workspace

sys.path.insert(0, str(ROOT / "bench"))
from fairness import plain_build, recursive_build, shares  # noqa: E402 (the path first)

JOBS = 4
SECONDS = 0.3

# A share is job-time, and under memcheck each answer of steve's takes tens of
# times longer, which the builds that ask more often pay more for (measured: a
# plain make's 24.9 % of three). The fair path's memory is checked by the
# sanitized tiers and fuzz-ledger; here the shares would measure memcheck.
shares_test = pytest.mark.skipif(bool(VALGRIND), reason="shares are timings, and memcheck's slowness decides them")


def pool_in_use(steve):
    wait_until(lambda: steve.state().available == 0, what="the builds so far to take the pool", timeout=60)


def run_builds(steve, commands, tmp_path, jobs=JOBS):
    """Each build once those before it have taken the pool. steve takes no
    token back: of builds started at the same instant, the make that reads
    first may take tokens its long jobs hold for seconds (a recursive make's
    top holds one per sub-make for the sub-make's whole run); it did so in a
    third of the starts here, and the recursive build then ran 2/3. Arriving
    at a pool in use, each build gets its share as jobs end."""
    procs = []
    try:
        for argv, env in commands:
            if procs:
                pool_in_use(steve)
            procs.append(subprocess.Popen(argv, env=jobserver_env(steve, **env), cwd=tmp_path))
        assert [p.wait(timeout=180) for p in procs] == [0] * len(procs)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    st = steve.wait_state(processes=0)
    assert (st.available, st.held, st.reserved) == (jobs, 0, 0)


@shares_test
@pytest.mark.above_transport  # the policy is the ledger's
def test_a_recursive_make_and_a_plain_one_share_the_pool_evenly(start_steve, tmp_path):
    make = real_tool("STEVE_TEST_MAKE", "GNU make 4.4.1")
    steve = start_steve(JOBS)
    logs = [tmp_path / "plain.log", tmp_path / "recursive.log"]
    plain = plain_build(tmp_path / "plain", logs[0])
    recursive = recursive_build(tmp_path / "recursive", logs[1])
    run_builds(steve, [([make, "-s", "-C", str(plain)], {}), ([make, "-s", "-C", str(recursive)], {})], tmp_path)
    got = shares(logs)
    # Served in the order they ask, the recursive build's five askers took 67-73 %.
    assert all(0.40 <= s <= 0.60 for s in got), got


@shares_test
@pytest.mark.above_transport  # the policy is the ledger's
def test_a_niced_make_gets_less_than_a_third(start_steve, tmp_path):
    make = real_tool("STEVE_TEST_MAKE", "GNU make 4.4.1")
    steve = start_steve(JOBS)
    logs = [tmp_path / "normal.log", tmp_path / "niced.log"]
    # long enough that the first round (each build's first token) weighs little
    normal = plain_build(tmp_path / "normal", logs[0], jobs=80)
    niced = plain_build(tmp_path / "niced", logs[1])
    run_builds(steve, [([make, "-s", "-C", str(normal)], {}),
                       (["nice", "-n", "10", make, "-s", "-C", str(niced)], {})], tmp_path)
    got = shares(logs)
    assert got[1] < 1 / 3, got


@shares_test
@pytest.mark.above_transport  # the policy is the ledger's
def test_fifo_policy_serves_in_the_order_processes_ask(start_steve, tmp_path):
    """The old order, still to be had: the recursive build takes more than half."""
    make = real_tool("STEVE_TEST_MAKE", "GNU make 4.4.1")
    steve = start_steve(JOBS, "--policy=fifo")
    logs = [tmp_path / "plain.log", tmp_path / "recursive.log"]
    plain = plain_build(tmp_path / "plain", logs[0])
    recursive = recursive_build(tmp_path / "recursive", logs[1])
    run_builds(steve, [([make, "-s", "-C", str(plain)], {}), ([make, "-s", "-C", str(recursive)], {})], tmp_path)
    got = shares(logs)
    assert got[1] > 0.55, got


@shares_test
def test_make_cargo_and_a_recursive_make_each_get_a_third(start_steve, tmp_path, transport):
    """cargo keeps the tokens it has for its next units and returns them only
    when its work runs out: alone first, it would keep the whole pool. It
    joins a pool a make is using, and the recursive make joins last."""
    if transport == "cuse":
        pytest.skip("in the VM's emulated CPU rustc's compile outlasts the job tenfold: cargo's job-time "
                    "measures the emulator, not the pool (measured: 25/51/25 %); this runs on FUSE")
    make = real_tool("STEVE_TEST_MAKE", "GNU make 4.4.1")
    cargo = find_cargo()
    # Two tokens a build: with four, one build holds the odd one, most often
    # cargo, which keeps what it has (3/7 of the jobs).
    steve = start_steve(6)
    logs = [tmp_path / "plain.log", tmp_path / "cargo.log", tmp_path / "recursive.log"]
    # Jobs of 0.5 s: what make spends around a job (its poll, read and fork,
    # the shell) and cargo does not weighs less against them.
    plain = plain_build(tmp_path / "plain", logs[0], jobs=30, seconds=0.5)
    recursive = recursive_build(tmp_path / "recursive", logs[2], jobs=8, seconds=0.5)
    wrapper = write_workspace(tmp_path / "ws", 30, logs[1], seconds=0.5)
    cargo_env = {"RUSTC_WRAPPER": str(wrapper), "CARGO_TARGET_DIR": str(tmp_path / "target"),
                 "PATH": f"{os.path.dirname(cargo)}:{os.environ.get('PATH', '')}"}
    run_builds(steve, [([make, "-s", "-C", str(plain)], {}),
                       ([cargo, "build", "--offline", "-q", "--manifest-path", str(tmp_path / "ws" / "Cargo.toml")],
                        cargo_env),
                       ([make, "-s", "-C", str(recursive)], {})], tmp_path, jobs=6)
    got = shares(logs)
    assert all(0.25 <= s <= 0.42 for s in got), got


@pytest.mark.above_transport  # the policy is the ledger's
def test_a_lone_build_beside_an_idle_one_uses_the_whole_pool(start_steve, tmp_path):
    make = real_tool("STEVE_TEST_MAKE", "GNU make 4.4.1")
    steve = start_steve(JOBS)
    idle_dir = tmp_path / "idle"
    idle_dir.mkdir()
    (idle_dir / "Makefile").write_text("all:\n\t@sleep 30\n")
    idle = subprocess.Popen([make, "-s", "-C", str(idle_dir)], env=jobserver_env(steve))
    try:
        log = tmp_path / "busy.log"
        busy = plain_build(tmp_path / "busy", log, jobs=20)
        r = subprocess.run([make, "-s", "-C", str(busy)], env=jobserver_env(steve), timeout=120)
        assert r.returncode == 0
        peak, started = max_concurrency(log)
        # every token and its own slot: nothing is kept back for the idle build
        assert (peak, started) == (JOBS + 1, 20)
    finally:
        idle.kill()
        idle.wait()


@shares_test
@pytest.mark.above_transport  # the policy is the ledger's
def test_a_weight_changed_at_run_time_counts_from_then_on(start_steve, tmp_path):
    make = real_tool("STEVE_TEST_MAKE", "GNU make 4.4.1")
    steve = start_steve(JOBS)
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    a = plain_build(tmp_path / "a", logs[0], jobs=60)
    b = plain_build(tmp_path / "b", logs[1], jobs=60)
    procs = [subprocess.Popen([make, "-s", "-C", str(d)], env=jobserver_env(steve)) for d in (a, b)]
    try:
        time.sleep(1.5)
        changed = time.time_ns()
        steve.stevie("--set-weight", str(procs[1].pid), "15")
        assert [p.wait(timeout=180) for p in procs] == [0, 0]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    before = shares(logs, since=None)
    after = shares(logs, since=changed + int(0.5e9))
    assert after[1] < 1 / 3, (before, after)
    assert after[1] < before[1], (before, after)


def ninja_build(directory, log, jobs, seconds):
    directory.mkdir(parents=True)
    outs = " ".join(f"out{i}" for i in range(jobs))
    (directory / "build.ninja").write_text(
        "rule job\n"
        f"  command = echo start $$(date +%s%N) >> {log}; sleep {seconds}; echo end $$(date +%s%N) >> {log}; "
        "touch $out\n" + "".join(f"build out{i}: job\n" for i in range(jobs)) + f"default {outs}\n")
    return directory


@shares_test
def test_ninja_beside_a_recursive_make_gets_its_share(start_steve, tmp_path, transport):
    """ninja 1.13 reads without blocking and tries again only when one of its
    jobs ends: served in the order processes ask it lost to every blocking
    and polling reader. Claims keep its next token for it."""
    if transport != "cuse":
        pytest.skip("ninja takes a FIFO or (patched as Gentoo does) a character device, never a FUSE file")
    ninja = real_tool("STEVE_TEST_NINJA", "ninja 1.13 taking character devices")
    make = real_tool("STEVE_TEST_MAKE", "GNU make 4.4.1")
    got = {}
    for policy in ("fifo", "fair"):
        steve = start_steve(JOBS, f"--policy={policy}")
        logs = [tmp_path / f"{policy}-ninja.log", tmp_path / f"{policy}-recursive.log"]
        ninja_dir = ninja_build(tmp_path / f"{policy}-ninja", logs[0], 40, 0.5)
        recursive = recursive_build(tmp_path / f"{policy}-recursive", logs[1], jobs=10, seconds=0.5)
        run_builds(steve, [([ninja, "--quiet", "-C", str(ninja_dir)], {}), ([make, "-s", "-C", str(recursive)], {})],
                   tmp_path)
        got[policy] = shares(logs)
        steve.stop()
    print(f"ninja beside a recursive make: fifo {got['fifo'][0]:.0%}, fair {got['fair'][0]:.0%}")
    assert 0.40 <= got["fair"][0] <= 0.60, got
