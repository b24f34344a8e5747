"""Chaos: many badly behaved clients, killed, stopped and continued at random
for a bounded time, then all killed. The pool must be whole again, and at no
moment may anyone wait while a token is free (the debug build also asserts
the ledger's invariant after every operation)."""
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT

CLIENT = ROOT / "tests" / "integration" / "chaos_client.py"
CLIENTS = 120
SECONDS = 12


def signal_group(proc, sig):
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def test_chaos_leaves_the_pool_whole(start_steve):
    jobs = 8
    steve = start_steve(jobs)
    # the VM tier emulates its CPUs: fewer clients there, and less asked of them
    clients, enough = (CLIENTS, 2000) if steve.transport == "fuse" else (12, 20)
    rng = random.Random(1)
    # clients stop on their own a little before the end, and say how much they did
    procs = [subprocess.Popen([sys.executable, str(CLIENT), str(steve.path), str(SECONDS - 2), str(i)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                              start_new_session=True)
             for i in range(clients)]
    stopped, killed = set(), 0
    try:
        end = time.monotonic() + SECONDS
        while time.monotonic() < end:
            victim = rng.choice(procs)
            roll = rng.random()
            # Half of them at most: with the VM's 12, a fast loop once killed
            # eleven, and the survivor, stopped late, had nothing to tell.
            if roll < 0.15 and victim.poll() is None and killed < clients // 2:
                signal_group(victim, signal.SIGKILL)
                killed += 1
            elif roll < 0.35:
                signal_group(victim, signal.SIGCONT if victim.pid in stopped else signal.SIGSTOP)
                stopped ^= {victim.pid}
            if rng.random() < 0.2:
                st = steve.state()
                assert not (st.waiting > 0 and st.available > 0), f"a waiter starves beside a free token: {st}"
            time.sleep(0.05)
        for p in procs:
            if p.pid in stopped:
                signal_group(p, signal.SIGCONT)
        time.sleep(1)
    finally:
        for p in procs:
            signal_group(p, signal.SIGKILL)
        for p in procs:
            p.wait()
    actions = sum(int(out) for p in procs if (out := p.stdout.read().strip()))
    print(f"chaos: {clients} clients, {actions} actions by those that lived to tell, {killed} SIGKILLs")
    assert killed > 0 and actions > enough, f"only {actions} actions, {killed} kills"
    st = steve.wait_state(processes=0, timeout=30)
    assert (st.available, st.held, st.reserved, st.waiting) == (jobs, 0, 0, 0), st
    assert steve.proc.poll() is None, "steve died"


# The soak: the same chaos while steve is restarted, killed and re-executed.
# CI runs 20 events; STEVE_SOAK_EVENTS and STEVE_SOAK_CLIENTS make it longer
# (README: Restarts, upgrades and crashes).
SOAK_EVENTS = int(os.environ.get("STEVE_SOAK_EVENTS", "20"))


def check_invariant(st, jobs):
    assert st.available >= 0 and st.available + st.held + st.reserved == jobs, \
        f"tokens made or lost: {st}"
    assert not (st.waiting > 0 and st.available > 0), f"a waiter starves beside a free token: {st}"


def test_chaos_through_restarts_kills_and_reexecs(keeper):
    jobs = 6
    steve = keeper.start(jobs=jobs)
    fuse = steve.transport == "fuse"
    clients = int(os.environ.get("STEVE_SOAK_CLIENTS", "40" if fuse else "8"))
    seconds = SOAK_EVENTS * (1.0 if fuse else 4.0) + 5
    rng = random.Random(2)
    procs = [subprocess.Popen([sys.executable, str(CLIENT), str(steve.path), str(seconds - 2), str(i)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                              start_new_session=True)
             for i in range(clients)]
    events = []
    try:
        for _ in range(SOAK_EVENTS):
            time.sleep(rng.uniform(0.1, 0.6 if fuse else 2.0))
            event = rng.choice(["kill-9", "abort", "restart", "reexec"])
            events.append(event)
            if event == "reexec":
                start = len(steve.lines)
                os.kill(steve.pid, signal.SIGUSR2)
                steve.wait_for_line("running on", start, timeout=30)
            else:
                if event == "restart":
                    assert steve.stop() == 0
                else:
                    steve.proc.send_signal(signal.SIGKILL if event == "kill-9" else signal.SIGABRT)
                    steve.proc.wait(timeout=10)
                steve = keeper.start(jobs=jobs)
            check_invariant(steve.state(), jobs)
            victim = rng.choice(procs)
            signal_group(victim, signal.SIGKILL)
        # Each client stops by itself after `seconds`; one that does not waits
        # for an answer no steve gave.
        deadline = time.monotonic() + seconds + 60
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pytest.fail(f"client {p.pid} never ended: a request went unanswered; events {events}\n"
                            + keeper.logs())
    finally:
        for p in procs:
            signal_group(p, signal.SIGKILL)
        # A killed client blocked in a request steve read waits for its
        # answer; if no steve gives it (the test failed), ending the
        # connection frees it: the keeper's descriptor and steve's.
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                steve.proc.kill()
                keeper.close()
                p.wait()
    print(f"soak: {clients} clients, events {events}")
    assert "adopted the connection" in steve.log() or events[-1] == "reexec"
    st = steve.wait_state(processes=0, timeout=60)
    assert (st.available, st.held, st.reserved, st.waiting) == (jobs, 0, 0, 0), st
