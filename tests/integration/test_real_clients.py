"""Real build tools, written elsewhere, sharing one steve pool.

GNU make 4.4.1 is built from Debian's source by tests/tools/build-make
(STEVE_TEST_MAKE names it); cargo is used where installed. Concurrency is
counted by the jobs themselves: each logs a start and an end stamp while it
runs, so the count can only be lower than what the tools really ran.
"""
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import textwrap

import pytest

from conftest import real_tool


def max_concurrency(log):
    events = []
    for line in log.read_text().split("\n"):
        if line:
            kind, stamp = line.split()
            events.append((int(stamp), 1 if kind == "start" else -1))
    # at equal stamps count ends first: never overstate
    events.sort(key=lambda e: (e[0], e[1]))
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    return peak, sum(1 for _, d in events if d == 1)


def jobserver_env(steve, **extra):
    env = dict(os.environ, MAKEFLAGS=f"--jobserver-auth=fifo:{steve.path}", **extra)
    env.pop("MFLAGS", None)
    env.pop("CARGO_MAKEFLAGS", None)
    return env


def write_makefile(directory, log, jobs, seconds):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "Makefile").write_text(textwrap.dedent(f"""\
        all: $(addprefix job,$(shell seq 1 {jobs}))
        job%:
        \t@echo start $$(date +%s%N) >> {log}; sleep {seconds}; echo end $$(date +%s%N) >> {log}
        """))


PORTAGE = pathlib.Path(__file__).with_name("portage_client.py")


def start_emerge(make, steve, directory, log, packages, emerge_jobs, jobs_each=6, seconds=0.3):
    """portage_client.py: emerge's jobserver-token, a make build of jobs_each
    jobs under each package job."""
    for n in range(packages):
        write_makefile(directory / f"pkg{n}", log, jobs_each, seconds)
    return subprocess.Popen([sys.executable, str(PORTAGE), str(steve.path), str(emerge_jobs), str(packages),
                             make, "-s", "-C", str(directory / "pkg{n}")],
                            env=jobserver_env(steve), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_an_emerge_with_jobserver_tokens_and_the_makes_under_it_share_the_pool(start_steve, tmp_path):
    make = real_tool("STEVE_TEST_MAKE", "GNU make 4.4.1")
    steve = start_steve(3)
    log = tmp_path / "stamps"
    emerge = start_emerge(make, steve, tmp_path, log, packages=4, emerge_jobs=2)
    out = emerge.communicate(timeout=120)[0]
    assert emerge.returncode == 0, out
    assert "jobserver" not in out, out
    peak, started = max_concurrency(log)
    assert started == 4 * 6
    # Each package job holds a token and its make runs one job on that
    # (its implicit slot): never more jobs than the pool.
    assert 2 <= peak <= 3, f"{peak} jobs at once"
    steve.wait_state(available=3, held=0)


def test_concurrent_makes_share_the_pool_and_never_exceed_it(start_steve, tmp_path):
    make = real_tool("STEVE_TEST_MAKE", "GNU make 4.4.1")
    jobs, makes = 4, 3
    steve = start_steve(jobs)
    log = tmp_path / "stamps"
    runs = []
    for i in range(makes):
        write_makefile(tmp_path / f"m{i}", log, 12, 0.2)
        runs.append(subprocess.Popen([make, "-s", "-C", str(tmp_path / f"m{i}")],
                                     env=jobserver_env(steve)))
    assert [p.wait(timeout=120) for p in runs] == [0] * makes
    peak, started = max_concurrency(log)
    assert started == 12 * makes
    # each make runs one job on its implicit slot, the rest on tokens
    assert peak <= jobs + makes
    assert peak > makes, "the makes did not take tokens from steve"
    st = steve.wait_state(processes=0)
    assert (st.available, st.held, st.reserved) == (jobs, 0, 0)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_make_killed_mid_build_leaks_no_token(start_steve, tmp_path, sig):
    make = real_tool("STEVE_TEST_MAKE", "GNU make 4.4.1")
    steve = start_steve(3)
    write_makefile(tmp_path / "m", tmp_path / "stamps", 10, 30)
    proc = subprocess.Popen([make, "-s", "-C", str(tmp_path / "m")], env=jobserver_env(steve),
                            start_new_session=True)
    try:
        # generous waits: under qemu's TCG a loaded make starts slowly
        steve.wait_state(held=3, what="make to take every token", timeout=60)
        # ^C reaches the whole foreground process group, not make alone
        if sig == signal.SIGINT:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        proc.wait(timeout=60)
        st = steve.wait_state(held=0, timeout=60)
        assert (st.available, st.reserved, st.waiting) == (3, 0, 0)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def find_cargo():
    for candidate in (shutil.which("cargo"), os.path.expanduser("~/.cargo/bin/cargo")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.skip("cargo is not installed")


def write_workspace(root, crates, wrapper_log, seconds=0.5):
    root.mkdir()
    members = [f"c{i}" for i in range(crates)]
    (root / "Cargo.toml").write_text(
        "[workspace]\nresolver = \"2\"\nmembers = [%s]\n" % ", ".join(f'"{m}"' for m in members))
    for m in members:
        (root / m / "src").mkdir(parents=True)
        (root / m / "Cargo.toml").write_text(
            f'[package]\nname = "{m}"\nversion = "0.1.0"\nedition = "2021"\n')
        (root / m / "src" / "lib.rs").write_text("pub fn f() -> u32 { 42 }\n")
    # Counts the rustc runs that compile crates (not cargo's probes).
    wrapper = root / "rustc-wrapper"
    wrapper.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        case " $* " in *" --crate-name c"[0-9]*) ;; *) exec "$@" ;; esac
        echo start $(date +%s%N) >> {wrapper_log}
        sleep {seconds}
        "$@"; status=$?
        echo end $(date +%s%N) >> {wrapper_log}
        exit $status
        """))
    wrapper.chmod(0o755)
    return wrapper


def test_cargo_builds_within_the_pool(start_steve, tmp_path):
    cargo = find_cargo()
    jobs, crates = 2, 6
    steve = start_steve(jobs)
    log = tmp_path / "stamps"
    wrapper = write_workspace(tmp_path / "ws", crates, log)
    env = jobserver_env(steve, RUSTC_WRAPPER=str(wrapper), CARGO_TARGET_DIR=str(tmp_path / "target"))
    env["PATH"] = f"{os.path.dirname(cargo)}:{env.get('PATH', '')}"
    r = subprocess.run([cargo, "build", "--offline", "-q", "-j", "8"], cwd=tmp_path / "ws",
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    peak, started = max_concurrency(log)
    assert started == crates
    # cargo's own -j 8 would allow all six at once; the pool allows 2 + cargo's implicit slot
    assert 2 <= peak <= jobs + 1
    st = steve.wait_state(processes=0)
    assert (st.available, st.held) == (jobs, 0)
