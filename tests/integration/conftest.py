"""Fixtures that start the real steve daemon and drive it.

steve runs on FUSE at a file in a temporary directory, and on CUSE where
/dev/cuse exists (the VM tier). Every daemon and client started here is
stopped, and every mount removed, even when a test fails.
"""
import ctypes
import fcntl
import os
import pathlib
import pwd
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("STEVE_BUILD_DIR", ROOT / "build")).resolve()
STEVE = BUILD / "daemon" / "steve"
STEVIE = BUILD / "client" / "stevie"
JSCLIENT = pathlib.Path(__file__).with_name("jsclient.py")
REQUIRE_REAL_CLIENTS = os.environ.get("STEVE_REQUIRE_REAL_CLIENTS") == "1"

STATE_RE = re.compile(r"(-?\d+)/(\d+) tokens available, (-?\d+) held, (\d+) reserved, "
                      r"(\d+) processes, (\d+) waiting")


SANITIZER_RE = re.compile(r"ERROR: (Address|Leak)Sanitizer|runtime error:")

def sanitizer_report(lines):
    """The first sanitizer report in steve's output, with what led to it, or
    "". The report comes first: CI shows the start of a long message only."""
    first = next((i for i, l in enumerate(lines) if SANITIZER_RE.search(l)), None)
    if first is None:
        return ""
    return "\n".join(lines[first:first + 120] + ["", "--- what steve said before it:"] +
                     lines[max(0, first - 40):first])


def sanitized():
    """True when steve was built with ASan (tests/run-tests --sanitize)."""
    return "libasan" in subprocess.run(["ldd", str(STEVE)], capture_output=True, text=True).stdout


# STEVE_VALGRIND=/path/to/valgrind runs every steve under memcheck (tests/run-tests
# --valgrind). With -q memcheck writes nothing but errors and definite leaks, so
# any line in its log is a report.
VALGRIND = os.environ.get("STEVE_VALGRIND")
VALGRIND_ARGS = ["-q", "--leak-check=full", "--show-leak-kinds=definite",
                 "--errors-for-leak-kinds=definite", "--vgdb=no", "--num-callers=40",
                 f"--suppressions={ROOT / 'tests' / 'valgrind.supp'}"]


# What the tests run besides steve; tests/tools/install-deps installs them all.
TOOLS = ["setpriv", "unshare", "mount", "umount", "fusermount3", "busctl", "dbus-daemon", "man",
         "systemd-analyze", "systemd-sysusers", "udevadm", "ldd", "bash", "meson", "ninja",
         "/usr/lib/polkit-1/polkitd", "strace"]


# Tests of what lies above the transport (the bus, polkit, monitoring, the
# policy, configuration) reach the device only as the token tests do: on
# CUSE they are skipped, and the FUSE tier runs them. STEVE_CUSE_ALL=1 runs
# them on CUSE as well.
CUSE_ALL = os.environ.get("STEVE_CUSE_ALL") == "1"


def pytest_configure(config):
    config.addinivalue_line("markers", "above_transport: the FUSE tier's alone unless STEVE_CUSE_ALL=1")
    config.addinivalue_line("markers", "through_transport: on every transport, in an above_transport file")


def pytest_sessionstart(session):
    """Says at the start what cannot work, with the fix, rather than letting
    tests time out on a missing tool or on a tree other users cannot reach."""
    # A run started in the background (cmd &) ignores ^C and quit, and so
    # would every client it starts: ignoring is inherited across exec. The
    # tests that send SIGINT want it to do what it does in a terminal.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)
    missing = [t for t in TOOLS if not shutil.which(t)]
    if missing:
        raise pytest.UsageError(f"the tests need {', '.join(missing)}: run tests/tools/install-deps "
                                "(tests/run-tests does)")
    if not STEVE.exists():
        raise pytest.UsageError(f"no steve at {STEVE}: build first (meson setup build && meson compile -C build)")
    # Clients, stevie and steve itself run as nobody, daemon and bin.
    reach = subprocess.run(as_user("nobody", ["test", "-r", str(JSCLIENT), "-a", "-x", str(STEVE)]))
    if reach.returncode != 0:
        raise pytest.UsageError(
            f"user nobody cannot reach {JSCLIENT} and {STEVE}, which tests run as other users: the tree "
            "lies in a directory only root may enter (Debian's /root is 0700). Run the suite through "
            "tests/run-tests, or tests/tools/shared-view (which opens the way for the run), or move the tree.")


def as_user(user, argv):
    """argv run as user, with that user's group and no others."""
    pw = pwd.getpwnam(user)
    return ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups", *argv]


def python_as_user(user, directory, name, source, *args, **popen_kwargs):
    """A Python script, written to directory/name (readable by all), run as user."""
    script = directory / name
    script.write_text(source)
    script.chmod(0o644)
    return subprocess.Popen(as_user(user, [sys.executable, str(script), *map(str, args)]),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, **popen_kwargs)


def wait_until(predicate, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def is_mounted(path):
    with open("/proc/self/mounts") as f:
        return any(line.split()[1] == str(path) for line in f)


class State:
    def __init__(self, m, lines):
        self.available, self.jobs, self.held, self.reserved, self.processes, self.waiting = \
            (int(g) for g in m.groups())
        self.lines = lines

    def __repr__(self):
        return (f"State(available={self.available}/{self.jobs}, held={self.held}, "
                f"reserved={self.reserved}, processes={self.processes}, waiting={self.waiting})")


class Steve:
    """One running daemon; its stderr is collected line by line."""

    def __init__(self, transport, tmp_path, args, jobs, env=None, wrap=(), pass_fds=(), wait=True, path=None,
                 exe=STEVE):
        self.transport = transport
        self.lines = []
        self.eof = False
        self.cond = threading.Condition()
        if transport == "fuse":
            self.path = path or tmp_path / f"jobserver-{next(Steve.counter)}"
            where = ["--path", str(self.path)]
        else:
            # udev/70-steve.rules matches steve.*; a path in /dev: a device a steve before set up
            if path and path.parent == pathlib.Path("/dev"):
                name = path.name
            else:
                name = f"steve.test-{os.getpid()}-{next(Steve.counter)}"
            self.path = pathlib.Path("/dev") / name
            where = ["--dev-name", name]
        # Tests that want a bus ask for one (system_bus); others must not touch the machine's.
        if not any(a.startswith("--bus") for a in args):
            args = [*args, "--bus=none"]
        # Nor the machine's config file.
        if not any(a.startswith("--config") for a in args):
            args = [*args, "--no-config"]
        jobs_arg = [] if jobs is None else ["-j", str(jobs)]
        self.argv = [str(exe), *jobs_arg, *where, *args]
        self.valgrind_log = None
        launch = self.argv
        if VALGRIND:
            self.valgrind_log = tmp_path / f"valgrind-{next(Steve.counter)}.log"
            self.valgrind_log.touch(mode=0o666)     # steve may run as another user
            self.valgrind_log.chmod(0o666)
            launch = [VALGRIND, *VALGRIND_ARGS, f"--log-file={self.valgrind_log}", *self.argv]
            # valgrind finds its tools where it was installed, which may be a
            # path only root can reach; the view's copy serves any user.
            env = {**(env or {}), "VALGRIND_LIB": str(pathlib.Path(VALGRIND).parents[1] / "libexec" / "valgrind")}
        # wrap: a command line that execs the rest (setpriv, a socket-activation shim).
        self.proc = subprocess.Popen([*wrap, *launch], stderr=subprocess.PIPE, text=True, pass_fds=pass_fds,
                                     env=None if env is None else dict(os.environ, **env))
        threading.Thread(target=self._collect, daemon=True).start()
        if wait:
            self.wait_ready()

    def wait_ready(self):
        self.wait_for_line("running on", timeout=10)
        if self.transport == "cuse":
            wait_until(self.path.exists, what=f"{self.path} to appear")

    counter = iter(range(1, 1 << 30))

    def _collect(self):
        for line in self.proc.stderr:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    @property
    def pid(self):
        return self.proc.pid

    def said(self, timeout=60):
        """The lines steve said: so far while it runs, every one once it has
        exited. The collecting thread reaches the end of steve's stderr after
        the exit, on a busy machine long after: a test that read the lines
        right after wait() could miss the last one (the reason steve gave for
        stopping, a sanitizer's report)."""
        with self.cond:
            if self.proc.poll() is not None and not self.cond.wait_for(lambda: self.eof, timeout):
                raise AssertionError(f"steve (pid {self.pid}) exited, but its stderr stayed open for "
                                     f"{timeout} s: something it started holds it")
            return list(self.lines)

    def log(self):
        return "\n".join(self.said())

    def wait_for_line(self, needle, start=0, timeout=5):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(start, len(self.lines)):
                    if needle in self.lines[i]:
                        return i
                left = deadline - time.monotonic()
                if left <= 0 or self.eof:
                    raise AssertionError(f"steve never said {needle!r}; log:\n" + "\n".join(self.lines))
                self.cond.wait(min(left, 0.1))

    def state(self):
        """Asks for the SIGUSR1 report and parses it."""
        with self.cond:
            start = len(self.lines)
        os.kill(self.pid, signal.SIGUSR1)
        i = self.wait_for_line("tokens available", start)
        end = self.wait_for_line("end of report", i)
        with self.cond:
            m = STATE_RE.search(self.lines[i])
            detail = [l for l in self.lines[i + 1:end] if l.startswith("steve:   ")]
        return State(m, detail)

    def stevie(self, *args, user=None, check=True, **kwargs):
        """Runs stevie against this steve; returns the CompletedProcess."""
        argv = [str(STEVIE), f"--device={self.path}", *map(str, args)]
        if user:
            argv = as_user(user, argv)
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60, **kwargs)
        if check:
            assert r.returncode == 0, f"{argv} -> {r.returncode}: {r.stderr}"
        return r

    def wait_state(self, what="state", timeout=10, **expected):
        last = None

        def matches():
            nonlocal last
            last = self.state()
            return all(getattr(last, k) == v for k, v in expected.items())
        try:
            wait_until(matches, timeout=timeout, what=f"{what} {expected}")
        except AssertionError:
            raise AssertionError(f"wanted {expected}, last {last}")
        return last

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def memcheck_report(self):
        """What memcheck said about this daemon; empty when clean or not under valgrind."""
        if self.valgrind_log is None or not self.valgrind_log.exists():
            return ""
        return self.valgrind_log.read_text()

    def cleanup(self):
        self.stop()
        if self.transport == "fuse" and is_mounted(self.path):
            subprocess.run(["umount", "-l", str(self.path)], check=False, stderr=subprocess.DEVNULL)


class Client:
    """A jsclient.py process: one client process of the jobserver."""

    def __init__(self, path, env=None, preexec_fn=None, user=None, wrap=()):
        argv = [sys.executable, str(JSCLIENT), str(path)]
        if user:
            argv = as_user(user, argv)
        # wrap: a command line that runs the rest (unshare, for namespaces)
        argv = [*wrap, *argv]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, bufsize=1, env=env, preexec_fn=preexec_fn)
        self.answers = {}
        self.queue = queue.Queue()
        self.ids = iter(range(1, 1 << 30))
        self.stderr = []
        self.readers = [threading.Thread(target=self._collect, daemon=True),
                        threading.Thread(target=self._collect_stderr, daemon=True)]
        for t in self.readers:
            t.start()

    def _collect(self):
        for line in self.proc.stdout:
            cid, status, value = (line.rstrip("\n").split(" ", 2) + [""])[:3]
            self.queue.put((cid, status, value))
        self.queue.put((None, "exited", ""))

    def _collect_stderr(self):
        for line in self.proc.stderr:
            self.stderr.append(line.rstrip("\n"))

    @property
    def pid(self):
        return self.proc.pid

    def send(self, *command):
        cid = str(next(self.ids))
        try:
            self.proc.stdin.write(" ".join([cid, *map(str, command)]) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass        # it has exited: result() says how, with its last words
        return cid

    def result(self, cid, timeout=10):
        deadline = time.monotonic() + timeout
        while cid not in self.answers:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"client {self.pid}: no answer to command {cid}")
            try:
                got_id, status, value = self.queue.get(timeout=left)
            except queue.Empty:
                continue
            if got_id is None:
                # It died: say why, rather than wait for an answer that cannot come.
                self.queue.put((None, status, value))
                self.proc.wait(timeout=10)
                self.readers[1].join(timeout=60)       # its last words come after its exit
                raise AssertionError(f"client {self.pid} exited with status {self.proc.returncode} before "
                                     f"answering command {cid}: " + "\n".join(self.stderr))
            self.answers[got_id] = (status, value)
        return self.answers.pop(cid)

    def pending(self, cid, wait=0.2):
        """True if command cid has not answered within wait seconds."""
        try:
            self.answers[cid] = self.result(cid, timeout=wait)
            return False
        except AssertionError:
            return True

    def do(self, *command, timeout=10):
        status, value = self.result(self.send(*command), timeout)
        if status != "ok":
            raise OSError(f"{command}: {value}")
        return value

    def err(self, *command, timeout=10):
        status, value = self.result(self.send(*command), timeout)
        assert status == "err", f"{command} succeeded with {value!r}"
        return value

    def open(self, mode="rdwr", *flags):
        return int(self.do("open", mode, *flags))

    def kill(self, sig=signal.SIGKILL):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        for t in self.readers:
            t.join(timeout=5)
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass        # what a send() left unwritten to a client that had exited
        self.proc.stdout.close()
        self.proc.stderr.close()


def transports():
    """FUSE everywhere, CUSE where /dev/cuse exists; STEVE_TRANSPORTS=cuse (the
    VM tier) demands CUSE and runs only it."""
    wanted = os.environ.get("STEVE_TRANSPORTS", "").split(",")
    if wanted == ["cuse"]:
        if not os.path.exists("/dev/cuse"):
            raise RuntimeError("STEVE_TRANSPORTS=cuse, but there is no /dev/cuse")
        return ["cuse"]
    return ["fuse", "cuse"] if os.path.exists("/dev/cuse") else ["fuse"]


def pytest_collection_modifyitems(config, items):
    def above(item):
        callspec = getattr(item, "callspec", None)
        return (callspec is not None and callspec.params.get("transport") == "cuse"
                and item.get_closest_marker("above_transport") and not item.get_closest_marker("through_transport"))
    if CUSE_ALL:
        return
    left = [item for item in items if above(item)]
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = [item for item in items if not above(item)]
        print(f"\nconftest: {len(left)} tests above the transport left to the FUSE tier (STEVE_CUSE_ALL=1 runs them)")


@pytest.fixture(params=transports())
def transport(request):
    return request.param


@pytest.fixture
def node_dir():
    """A directory every user may enter (pytest's tmp_path is root's alone),
    so that permission tests see the node's own permissions at work."""
    path = pathlib.Path(tempfile.mkdtemp(prefix="steve-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def start_steve(transport, node_dir):
    """start_steve(jobs=4, *args) -> a running Steve; stopped afterwards."""
    started = []

    def start(jobs=4, *args, **kwargs):
        s = Steve(transport, node_dir, list(args), jobs, **kwargs)
        started.append(s)
        return s
    yield start
    for s in started:
        s.cleanup()
    for s in started:
        report = sanitizer_report(s.said())
        assert not report, "sanitizer report from steve:\n" + report
        memcheck = s.memcheck_report()
        assert not memcheck, "memcheck report from steve:\n" + memcheck


@pytest.fixture
def clients():
    """clients(steve) -> a new client process; all are killed afterwards."""
    made = []

    def make(steve, **kwargs):
        c = Client(steve.path, **kwargs)
        made.append(c)
        return c
    yield make
    for c in made:
        c.close()


def real_tool(env_name, description):
    """The path of a real client built for the tests, or a skip (a failure in CI)."""
    path = os.environ.get(env_name)
    if path and os.access(path, os.X_OK):
        return path
    message = f"{description} not available (set {env_name}; tests/run-tests builds it)"
    if REQUIRE_REAL_CLIENTS:
        pytest.fail(message)
    pytest.skip(message)


BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
  <include>{policy}</include>
  {extra}
</busconfig>
"""


class PrivateBus:
    """A dbus-daemon configured like the system bus, with steve's policy file,
    on a socket of its own."""

    def __init__(self, directory, extra_policies=(), extra_config="", wrap=(),
                 policy=BUILD / "dbus" / "org.steve.Jobserver.conf"):
        self.directory = directory
        self.socket = directory / "system_bus_socket"
        self.address = f"unix:path={self.socket}"
        self.config = directory / "bus.conf"
        self.config.write_text(BUS_CONFIG.format(
            socket=self.socket, policy=policy,
            extra="\n".join([*(f"<include>{p}</include>" for p in extra_policies), extra_config])))
        self.proc = None
        self.wrap = wrap        # a command line that runs the rest: another namespace
        self.start()

    def start(self):
        if self.socket.exists():
            self.socket.unlink()
        self.proc = subprocess.Popen([*self.wrap, "dbus-daemon", "--nofork", "--nopidfile",
                                      f"--config-file={self.config}"])
        wait_until(self.socket.exists, what="dbus-daemon's socket")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    @property
    def env(self):
        return {"DBUS_SYSTEM_BUS_ADDRESS": self.address}

    def busctl(self, *args, user=None, check=True):
        argv = ["busctl", f"--address={self.address}", *map(str, args)]
        if user:
            argv = as_user(user, argv)
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        if check:
            assert r.returncode == 0, f"{argv}: {r.stderr}"
        return r


@pytest.fixture
def system_bus(node_dir):
    bus = PrivateBus(node_dir)
    yield bus
    bus.stop()


# Socket activation: what systemd does with steve.socket, done by the tests.

libc = ctypes.CDLL(None, use_errno=True)
MS_NOSUID, MS_NODEV = 2, 4


def mount_fuse_for(path, user):
    """What fusermount3 does as root: open /dev/fuse and mount it at path for user."""
    path.touch()
    fd = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
    pw = pwd.getpwnam(user)
    options = (f"fd={fd},rootmode=100000,user_id={pw.pw_uid},group_id={pw.pw_gid},"
               "default_permissions,allow_other")
    if libc.mount(b"steve", str(path).encode(), b"fuse.steve", MS_NOSUID | MS_NODEV, options.encode()) < 0:
        err = ctypes.get_errno()
        os.close(fd)
        raise OSError(err, f"mount {path}: {os.strerror(err)}")
    return fd


def activation_fd(transport, node, user):
    if transport == "cuse":
        return os.open("/dev/cuse", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    fd = mount_fuse_for(node, user)
    os.set_blocking(fd, False)
    return fd


def activated(fd):
    """A wrapper that execs its arguments with fd as fd 3, as a passed socket."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    shim = f'export LISTEN_FDS=1 LISTEN_PID=$$; exec "$@" 3<&{high} {high}<&-'
    return ["bash", "-c", shim, "bash"], high


# What steve.socket does, for the restart tests.

JOBS = 3


class Keeper:
    """What steve.socket does: holds the connection while steves come and go."""

    counter = iter(range(1, 1 << 30))

    def __init__(self, transport, node_dir, start_steve):
        self.transport = transport
        n = next(Keeper.counter)
        if transport == "fuse":
            self.node = node_dir / f"restart-{n}"
        else:
            self.node = pathlib.Path("/dev") / f"steve.test-restart-{os.getpid()}-{n}"
        self.state = node_dir / f"state-{n}"
        self.start_steve = start_steve
        self.fd = activation_fd(transport, self.node, "root")
        self.started = []

    def start(self, *args, jobs=JOBS, state=True, **kwargs):
        wrap, passed = activated(os.dup(self.fd))
        extra = [f"--state-file={self.state}"] if state else []
        try:
            s = self.start_steve(jobs, "-v", *extra, *args, wrap=wrap, pass_fds=(passed,), path=self.node,
                                 **kwargs)
        finally:
            os.close(passed)
        self.started.append(s)
        return s

    def logs(self, last=60):
        """The end of what each steve said, oldest steve first."""
        return "\n".join(f"--- steve {i} (pid {s.pid}):\n" + "\n".join(s.said()[-last:])
                         for i, s in enumerate(self.started, 1))

    def close(self):
        if self.fd < 0:
            return
        os.close(self.fd)
        self.fd = -1
        if self.transport == "fuse" and is_mounted(self.node):
            os.system(f"umount -l '{self.node}'")


@pytest.fixture
def keeper(transport, node_dir, start_steve):
    k = Keeper(transport, node_dir, start_steve)
    yield k
    k.close()


class NotifySocket:
    """A NOTIFY_SOCKET of the test's own: what steve tells its service manager."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.messages = []

    def next(self, timeout=10):
        self.sock.settimeout(timeout)
        data = self.sock.recv(4096).decode()
        self.messages.append(data)
        return data

    def wait_for(self, prefix, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"no {prefix!r} among {self.messages}"
            message = self.next(left)
            if any(line.startswith(prefix) for line in message.splitlines()):
                return message


@pytest.fixture
def notify(tmp_path):
    n = NotifySocket(tmp_path / "notify")
    yield n
    n.sock.close()
