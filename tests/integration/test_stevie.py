"""stevie: parameters through the ioctl ABI, and running a command on a token."""
import os
import signal
import subprocess

import pytest

from conftest import STEVIE, real_tool
from test_real_clients import max_concurrency, write_makefile

ROUND_TRIPS = [
    ("jobs", "7", "7"),
    ("min-jobs", "0", "0"),
    ("load-average", "3.5", "3.5"),
    ("load-recheck-timeout", "0.25", "0.25"),
    ("min-memory-avail", "512M", str(512 << 20)),
    ("per-process-limit", "3", "3"),
    ("cpu-pressure", "40", "40"),
    ("memory-pressure", "12.5", "12.5"),
]


@pytest.mark.parametrize("name, value, reads", ROUND_TRIPS)
def test_every_parameter_round_trips(start_steve, name, value, reads):
    steve = start_steve(4)
    steve.stevie(f"--set-{name}", value)
    assert steve.stevie(f"--get-{name}").stdout == reads + "\n"


def test_getters_print_in_order_with_minus_one_for_unset_limits(start_steve):
    steve = start_steve(5)
    out = steve.stevie("--get-jobs", "-t", "--get-load-average", "--get-per-process-limit",
                       "--get-min-memory-avail", "--get-cpu-pressure", "--get-memory-pressure",
                       "--get-min-jobs", "--get-load-recheck-timeout", "--get-paused").stdout
    assert out.split() == ["5", "5", "-1", "-1", "-1", "-1", "-1", "1", "0.5", "0"]
    steve.stevie("--set-load-average", "2", "--set-load-average", "-1")
    assert steve.stevie("--get-load-average").stdout == "-1\n"


@pytest.mark.parametrize("args", [["--set-jobs", "0"], ["--set-jobs", "x"], ["--set-load-average", "nan"],
                                  ["--set-cpu-pressure", "101"], ["--set-min-memory-avail", "lots"],
                                  ["--set-load-recheck-timeout", "0"]])
def test_bad_values_are_refused_before_asking(start_steve, args):
    steve = start_steve(3)
    r = steve.stevie(*args, check=False)
    assert r.returncode == 2 and r.stderr.startswith("stevie: invalid")
    assert steve.stevie("--get-jobs").stdout == "3\n"


def test_setters_need_root_getters_do_not(transport, start_steve):
    if transport == "cuse":
        pytest.skip("/dev nodes get their permissions from udev")
    steve = start_steve(3, "--mode", "0666")
    assert steve.stevie("--get-jobs", user="nobody").stdout == "3\n"
    r = steve.stevie("--set-jobs", "9", user="nobody", check=False)
    assert r.returncode == 1 and "not allowed to set jobs" in r.stderr
    assert steve.stevie("--get-jobs").stdout == "3\n"


def test_clear_errors_for_missing_or_foreign_jobservers(tmp_path):
    r = subprocess.run([str(STEVIE), f"--device={tmp_path}/none", "-t"], capture_output=True, text=True)
    assert r.returncode == 1 and "no jobserver at" in r.stderr
    plain = tmp_path / "plain"
    plain.write_text("")
    r = subprocess.run([str(STEVIE), f"--device={plain}", "true"], capture_output=True, text=True)
    assert r.returncode == 1 and "is not a steve jobserver" in r.stderr
    r = subprocess.run([str(STEVIE), "--get-jobs", "true"], capture_output=True, text=True)
    assert r.returncode == 2


def test_command_runs_on_a_token_with_makeflags_and_its_status(start_steve):
    steve = start_steve(2)
    env = dict(os.environ, MAKEFLAGS="ks -j8 --jobserver-auth=fifo:/old/path")
    script = f"echo \"$MAKEFLAGS\"; {STEVIE} --device={steve.path} -t; exit 7"
    r = steve.stevie("sh", "-c", script, check=False, env=env)
    assert r.returncode == 7
    flags, tokens = r.stdout.split("\n")[:2]
    assert flags == f"ks -j8 --jobserver-auth=fifo:{steve.path}"
    assert tokens == "1", "stevie did not hold a token while the command ran"
    assert steve.stevie("-t").stdout == "2\n"


def test_command_killed_by_a_signal_gives_128_plus_n(start_steve):
    steve = start_steve(1)
    r = steve.stevie("sh", "-c", "kill -TERM $$", check=False)
    assert r.returncode == 128 + signal.SIGTERM
    assert steve.stevie("-t").stdout == "1\n"
    assert steve.stevie("no-such-command-here", check=False).returncode == 127


def test_ctrl_c_while_waiting_for_a_token_loses_nothing(start_steve, clients):
    steve = start_steve(1)
    holder = clients(steve)
    hfd = holder.open()
    holder.do("read", hfd)
    proc = subprocess.Popen([str(STEVIE), f"--device={steve.path}", "true"])
    steve.wait_state(waiting=1)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == -signal.SIGINT
    st = steve.wait_state(waiting=0)
    assert (st.available, st.held) == (0, 1)
    holder.do("write", hfd)
    assert steve.stevie("-t").stdout == "1\n"


def test_stevie_make_runs_inside_the_pool(start_steve, tmp_path):
    make = real_tool("STEVE_TEST_MAKE", "GNU make 4.4.1")
    steve = start_steve(3)
    log = tmp_path / "stamps"
    write_makefile(tmp_path / "m", log, 12, 0.2)
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS")}
    steve.stevie(make, "-s", "-C", str(tmp_path / "m"), env=env)
    peak, started = max_concurrency(log)
    assert started == 12
    # make's implicit slot is stevie's token: the pool itself is the bound
    assert 2 <= peak <= 3
    st = steve.wait_state(processes=0)
    assert (st.available, st.held) == (3, 0)


@pytest.mark.parametrize("argv, makeflags, warned", [
    (["make", "-j8"], "", True),
    (["make", "--jobs=4"], "", True),
    (["make", "-kj"], "", True),
    (["ninja", "-j", "3"], "", True),
    (["make", "-C", "dir"], "j8 --jobserver-auth=fifo:/old", True),
    (["make", "-C", "dir"], "-j8", True),
    (["make", "-C", "dir"], "ks --jobserver-auth=fifo:/old", False),
    (["make", "-C", "dir"], "--no-print-directory", False),
    (["cargo", "build", "-j", "8"], "", False),      # cargo's -j keeps the jobserver
])
def test_jobs_options_that_leave_the_pool_are_warned_about(start_steve, tmp_path, argv, makeflags, warned):
    steve = start_steve(2)
    # A stand-in named like the tool: stevie judges the command by its name.
    tool = tmp_path / argv[0]
    tool.write_text("#!/bin/sh\nexit 0\n")
    tool.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS")}
    if makeflags:
        env["MAKEFLAGS"] = makeflags
    r = steve.stevie(str(tool), *argv[1:], env=env)
    assert ("turns the jobserver client of GNU make and ninja off" in r.stderr) == warned, r.stderr
    assert steve.stevie("-t").stdout == "2\n"
