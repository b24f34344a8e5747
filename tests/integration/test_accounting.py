"""Who holds what: writes return tokens, per process, and exits return them all."""
import os
import signal
import subprocess
import sys

import pytest

from conftest import python_as_user


def test_any_byte_returns_one_token(start_steve, clients):
    steve = start_steve(3)
    c = clients(steve)
    fd = c.open("rdwr", "nonblock")
    for _ in range(3):
        c.do("read", fd)
    # make writes '+', gcc's lto-wrapper 'G', the Rust jobserver crate '|'
    for byte in "+G|":
        assert c.do("write", fd, byte) == "1"
    assert steve.state().available == 3


def test_an_opener_is_a_client_before_it_reads(start_steve, clients):
    """make opens the jobserver at start and reads only for its second job:
    its sub-makes must find it a client already, to join its build."""
    steve = start_steve(2)
    c = clients(steve)
    c.open()
    st = steve.wait_state(processes=1)
    assert (st.available, st.held) == (2, 0)


def test_returning_more_than_held_is_enospc_and_changes_nothing(start_steve, clients):
    steve = start_steve(4)
    c = clients(steve)
    fd = c.open("rdwr", "nonblock")
    c.do("read", fd)
    c.do("read", fd)
    assert c.err("writen", fd, 3) == "ENOSPC"
    st = steve.state()
    assert (st.available, st.held) == (2, 2)
    assert c.do("writen", fd, 2) == "2"
    assert c.err("write", fd) == "ENOSPC", "a process that acquired has no implicit slot to return"
    assert steve.state().available == 4


def test_an_implicit_slot_nobody_lent_is_taken_but_makes_no_token(start_steve, clients):
    steve = start_steve(2)
    early, greedy = clients(steve), clients(steve)
    efd = early.open()
    assert early.do("write", efd) == "1"
    assert early.err("write", efd) == "ENOSPC", "only once"
    assert greedy.err("writen", greedy.open(), 2) == "ENOSPC", "only exactly one"
    st = steve.state()
    assert (st.available, st.held) == (2, 0)
    # and it may take tokens as usual afterwards
    assert early.do("read", efd) == "+"
    assert steve.state().held == 1


def test_fresh_processes_cannot_inflate_the_pool(start_steve, clients):
    steve = start_steve(4)
    holder = clients(steve)
    holder.do("read", holder.open())
    stray = [clients(steve) for _ in range(10)]
    for c in stray:
        assert c.do("write", c.open()) == "1"
    st = steve.state()
    assert (st.available, st.held, st.processes) == (3, 1, 11)


LENDER = """
import os, subprocess, sys
fd = os.open(sys.argv[1], os.O_RDWR)
assert os.read(fd, 1) == b"+"
print("holding", flush=True)
# The job that runs on that token returns it first thing (cc-rs does).
child = subprocess.run([sys.executable, "-c",
                        "import os, sys; fd = os.open(sys.argv[1], os.O_RDWR); print(os.write(fd, b'+'))",
                        sys.argv[1]], capture_output=True, text=True)
print("child wrote", child.stdout.strip() or child.stderr.strip(), flush=True)
sys.stdin.readline()
# The parent returns the token when its job is done, as make does.
try:
    print("parent wrote", os.write(fd, b"+"), flush=True)
except OSError as e:
    print("parent failed", e.errno, flush=True)
sys.stdin.readline()
"""


def test_an_implicit_slot_is_the_ancestors_token(start_steve):
    steve = start_steve(2)
    lender = subprocess.Popen([sys.executable, "-c", LENDER, str(steve.path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert lender.stdout.readline() == "holding\n"
        assert lender.stdout.readline() == "child wrote 1\n"
        # The token went back to the pool while the child ran on it; with
        # the child's end it is the parent's again, whose byte it is.
        st = steve.wait_state(processes=1)
        assert (st.available, st.held) == (1, 1)
        lender.stdin.write("\n")
        lender.stdin.flush()
        assert lender.stdout.readline() == "parent wrote 1\n", "make's later return was refused"
        st = steve.state()
        assert (st.available, st.held) == (2, 0), "the later return made a token"
    finally:
        lender.kill()
        lender.wait()
    steve.wait_state(processes=0, available=2)


# One process forks fresh children that each "return their implicit slot"
# and stay, and reads again after each: it took 7 tokens under -j 4 -U 2.
FORKER = """
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_NONBLOCK)
got = 0
for _ in range(int(sys.argv[2])):
    try:
        got += len(os.read(fd, 1))
    except BlockingIOError:
        pass
    r, w = os.pipe()
    if os.fork() == 0:
        os.write(fd, b"+")
        os.write(w, b"x")
        time.sleep(600)
        os._exit(0)
    os.read(r, 1)
print(got, flush=True)
sys.stdin.readline()
"""


def test_implicit_slots_count_against_the_user_limit_and_the_pool(start_steve, node_dir):
    steve = start_steve(4, "--per-user-limit=2", "--mode=0666")
    if steve.transport == "cuse":
        steve.path.chmod(0o666)
    forker = python_as_user("nobody", node_dir, "forker.py", FORKER, steve.path, 12, start_new_session=True)
    try:
        got = int(forker.stdout.readline())
        assert got == 2, f"user nobody read {got} tokens under -U 2"
        st = steve.wait_state(processes=13)
        assert st.available + st.held == 4 and st.held <= 2, st
        # The children go: their loans end, the tokens are the forker's again.
        children = [int(p) for p in open(f"/proc/{forker.pid}/task/{forker.pid}/children").read().split()]
        for pid in children:
            os.kill(pid, signal.SIGKILL)
        st = steve.wait_state(processes=1, held=2)
        assert st.available == 2, st
    finally:
        os.killpg(forker.pid, signal.SIGKILL)
        forker.wait()
    assert steve.wait_state(processes=0).available == 4


def test_threads_of_one_process_share_its_holdings(start_steve, clients):
    steve = start_steve(2)
    c = clients(steve)
    rfd, wfd = c.open("rdonly"), c.open("wronly")
    # Every command runs on a thread of its own: read on two, return on a third.
    tids = {c.do("tid") for _ in range(3)}
    assert len(tids) == 3
    assert c.do("read", rfd) == "+" and c.do("read", rfd) == "+"
    st = steve.state()
    assert (st.held, st.processes) == (2, 1)
    assert c.do("writen", wfd, 2) == "2"
    assert steve.state().available == 2


def test_blocked_read_on_one_thread_does_not_stall_a_write_on_another(start_steve, clients):
    steve = start_steve(1)
    c, other = clients(steve), clients(steve)
    fd = c.open()
    assert c.do("read", fd) == "+"
    other_wait = other.send("read", other.open())
    steve.wait_state(waiting=1)
    c.send("read", fd)                   # blocks a thread of c on the same fd
    steve.wait_state(waiting=2)
    assert c.do("write", fd, timeout=5) == "1"
    assert other.result(other_wait) == ("ok", "+")


def test_closing_returns_nothing_exit_returns_everything(start_steve, clients):
    steve = start_steve(3)
    holder, waiter = clients(steve), clients(steve)
    fd = holder.open()
    for _ in range(3):
        holder.do("read", fd)
    holder.do("close", fd)
    st = steve.state()
    assert (st.available, st.held) == (0, 3)
    wait = waiter.send("read", waiter.open())
    steve.wait_state(waiting=1)
    holder.kill()
    assert waiter.result(wait) == ("ok", "+")
    st = steve.wait_state(processes=1)
    assert (st.available, st.held, st.waiting) == (2, 1, 0)


def test_exit_of_a_thread_returns_nothing_of_its_process(start_steve, clients):
    steve = start_steve(2)
    c = clients(steve)
    fd = c.open()
    # the reading thread ends right after the read; the process lives on
    assert c.do("read", fd) == "+"
    st = steve.state()
    assert (st.held, st.processes) == (1, 1)


def fork_with_pid(target, body):
    """Forks a child that gets pid target (via ns_last_pid), runs body, exits."""
    for _ in range(50):
        with open("/proc/sys/kernel/ns_last_pid", "w") as f:
            f.write(str(target - 1))
        pid = os.fork()
        if pid == 0:
            try:
                code = body() if os.getpid() == target else 99
            finally:
                os._exit(code if isinstance(code, int) else 1)
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 99:
            return pid, os.waitstatus_to_exitcode(status)
    pytest.fail(f"could not get pid {target}")


def test_reused_pid_does_not_inherit_holdings(start_steve, clients):
    if os.geteuid() != 0:
        pytest.skip("needs root to set ns_last_pid")
    steve = start_steve(3)
    victim = clients(steve)
    vfd = victim.open()
    victim.do("read", vfd)
    victim.do("read", vfd)
    pid = victim.pid
    victim.kill()

    def returns_two():
        fd = os.open(steve.path, os.O_WRONLY)
        try:
            os.write(fd, b"++")
            return 0                     # inherited the dead process's tokens
        except OSError as e:
            return 7 if e.errno == 28 else 1
    _, code = fork_with_pid(pid, returns_two)
    assert code == 7, "a new process with a dead one's pid could return its tokens"
    st = steve.wait_state(processes=0)
    assert (st.available, st.held) == (3, 0)


def test_report_lists_holders_jobs_and_waiters(start_steve, clients):
    steve = start_steve(1)
    holder, waiter = clients(steve), clients(steve)
    holder.do("read", holder.open())
    waiter.send("read", waiter.open())
    st = steve.wait_state(waiting=1)
    holder_line = next(l for l in st.lines if f"pid {holder.pid} holds 1" in l)
    assert "jsclient.py" in holder_line and "job 1 for " in holder_line
    waiter_line = next(l for l in st.lines if f"pid {waiter.pid} waits (read)" in l)
    assert "jsclient.py" in waiter_line


def test_a_client_in_a_child_pid_namespace_is_accounted_by_its_host_pid(start_steve, clients):
    # What a container started on the host is: steve sees its processes
    # with their pids in steve's own namespace.
    steve = start_steve(2)
    c = clients(steve, wrap=["unshare", "--pid", "--fork", "--kill-child"])
    assert c.do("read", c.open()) == "+"
    st = steve.state()
    assert st.held == 1
    holder = [l for l in st.lines if "holds 1" in l]
    assert len(holder) == 1
    host_pid = int(holder[0].split("pid ")[1].split()[0])
    assert host_pid != 1, "steve saw the pid from inside the namespace"
    with open(f"/proc/{host_pid}/status") as f:
        nspid = [l.split()[1:] for l in f if l.startswith("NSpid:")][0]
    assert nspid == [str(host_pid), "1"], f"not the namespace's first process: NSpid {nspid}"
    # Its death is seen from the host as well.
    os.kill(host_pid, signal.SIGKILL)
    st = steve.wait_state(held=0)
    assert st.available == 2
