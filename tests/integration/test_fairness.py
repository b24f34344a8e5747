"""How the pool is shared between builds started together: real GNU make 4.4.1
(and cargo where installed), each build logging a start and an end stamp per
job. A build's share is its part of the job-time that ran while every build
ran (from the last build's first job to the first build's last job).
"""
import os
import subprocess
import textwrap
import time

from conftest import real_tool
from test_real_clients import find_cargo, jobserver_env, write_workspace

JOBS = 4
SECONDS = 0.3


def stamp_rule(log):
    return (f"\t@echo start $$(date +%s%N) >> {log}; sleep {SECONDS}; "
            f"echo end $$(date +%s%N) >> {log}\n")


def plain_build(directory, log, jobs=40):
    directory.mkdir(parents=True)
    (directory / "Makefile").write_text(
        f"all: $(addprefix job,$(shell seq 1 {jobs}))\njob%:\n" + stamp_rule(log))
    return directory


def recursive_build(directory, log, subs=4, jobs=10):
    """A top make whose jobs are sub-makes: four processes that each want tokens."""
    directory.mkdir(parents=True)
    for i in range(subs):
        plain_build(directory / f"sub{i}", log, jobs)
    (directory / "Makefile").write_text(textwrap.dedent(f"""\
        all: $(addprefix run,$(shell seq 0 {subs - 1}))
        run%:
        \t@$(MAKE) -s -C sub$*
        """))
    return directory


def intervals(log):
    starts, spans = [], []
    for line in log.read_text().split("\n"):
        if line:
            kind, stamp = line.split()
            if kind == "start":
                starts.append(int(stamp))
            else:
                spans.append(int(stamp))
    starts.sort()
    spans.sort()
    return list(zip(starts, spans))


def shares(logs, since=None):
    """Each build's part of the job-time run while all of them ran."""
    jobs = [intervals(log) for log in logs]
    assert all(jobs), "a build ran no job"
    begin = max(j[0][0] for j in jobs)
    if since is not None:
        begin = max(begin, since)
    end = min(j[-1][1] for j in jobs)
    assert end - begin > 4 * SECONDS * 1e9, "the builds hardly overlapped"
    used = [sum(max(0, min(e, end) - max(s, begin)) for s, e in j) for j in jobs]
    return [u / sum(used) for u in used]


def run_builds(steve, commands, tmp_path):
    procs = [subprocess.Popen(argv, env=jobserver_env(steve, **env), cwd=tmp_path)
             for argv, env in commands]
    try:
        assert [p.wait(timeout=180) for p in procs] == [0] * len(procs)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    st = steve.wait_state(processes=0)
    assert (st.available, st.held, st.reserved) == (JOBS, 0, 0)


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


def test_a_niced_make_gets_less_than_a_third(start_steve, tmp_path):
    make = real_tool("STEVE_TEST_MAKE", "GNU make 4.4.1")
    steve = start_steve(JOBS)
    logs = [tmp_path / "normal.log", tmp_path / "niced.log"]
    normal = plain_build(tmp_path / "normal", logs[0])
    niced = plain_build(tmp_path / "niced", logs[1])
    run_builds(steve, [([make, "-s", "-C", str(normal)], {}),
                       (["nice", "-n", "10", make, "-s", "-C", str(niced)], {})], tmp_path)
    got = shares(logs)
    assert got[1] < 1 / 3, got


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


def test_make_cargo_and_a_recursive_make_each_get_a_third(start_steve, tmp_path):
    make = real_tool("STEVE_TEST_MAKE", "GNU make 4.4.1")
    cargo = find_cargo()
    steve = start_steve(JOBS)
    logs = [tmp_path / "plain.log", tmp_path / "cargo.log", tmp_path / "recursive.log"]
    plain = plain_build(tmp_path / "plain", logs[0])
    recursive = recursive_build(tmp_path / "recursive", logs[2])
    wrapper = write_workspace(tmp_path / "ws", 24, logs[1], seconds=SECONDS)
    cargo_env = {"RUSTC_WRAPPER": str(wrapper), "CARGO_TARGET_DIR": str(tmp_path / "target"),
                 "PATH": f"{os.path.dirname(cargo)}:{os.environ.get('PATH', '')}"}
    run_builds(steve, [([make, "-s", "-C", str(plain)], {}),
                       ([cargo, "build", "--offline", "-q", "--manifest-path", str(tmp_path / "ws" / "Cargo.toml")],
                        cargo_env),
                       ([make, "-s", "-C", str(recursive)], {})], tmp_path)
    got = shares(logs)
    assert all(0.25 <= s <= 0.42 for s in got), got


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
        events = sorted([(s, 1) for s, _ in intervals(log)] + [(e, -1) for _, e in intervals(log)],
                        key=lambda e: (e[0], e[1]))
        running = peak = 0
        for _, delta in events:
            running += delta
            peak = max(peak, running)
        # every token and its own slot: nothing is kept back for the idle build
        assert peak == JOBS + 1
    finally:
        idle.kill()
        idle.wait()


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
