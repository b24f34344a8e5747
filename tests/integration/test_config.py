"""The config file (steve.conf(5)): every option as a key, the command line
over it, SIGHUP rereading it, and errors that change nothing."""
import os
import signal
import subprocess

import pytest

from conftest import STEVE, is_mounted

pytestmark = pytest.mark.above_transport

GETTERS = ["--get-jobs", "--get-min-jobs", "--get-load-average", "--get-load-recheck-timeout",
           "--get-min-memory-avail", "--get-per-process-limit", "--get-cpu-pressure",
           "--get-memory-pressure"]


def params(steve):
    return steve.stevie(*GETTERS).stdout.split()


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "steve.conf"

    def write(text):
        path.write_text(text)
        return path
    write.path = path
    return write


def test_every_runtime_setting_is_read_from_the_file(start_steve, config):
    path = config("""# steve.conf for the tests
jobs = 6
min-jobs = 2
load-average = 40 ; inline comments too
load-recheck-timeout = 0.25
min-memory-avail = 1M
per-process-limit = 3
cpu-pressure = 90
memory-pressure = 95
reserve-timeout = 2
verbose = yes
""")
    steve = start_steve(None, f"--config={path}")
    assert params(steve) == ["6", "2", "40", "0.25", "1048576", "3", "90", "95"]


def test_node_settings_come_from_the_file(start_steve, config, node_dir):
    path = config("mode = 0640\nowner = nobody\nbus = none\n")
    steve = start_steve(2, f"--config={path}")
    if steve.transport == "fuse":
        st = os.stat(steve.path)
        assert st.st_mode & 0o777 == 0o640
        assert st.st_uid == 65534


def test_the_command_line_wins_over_the_file(start_steve, config):
    path = config("jobs = 6\nper-process-limit = 3\n")
    steve = start_steve(3, f"--config={path}", "--per-process-limit=1")
    assert params(steve)[0] == "3" and params(steve)[5] == "1"


def test_no_config_reads_no_file(start_steve, config):
    online = os.sysconf("SC_NPROCESSORS_ONLN")
    path = config(f"jobs = {online + 1}\n")
    steve = start_steve(None, f"--config={path}", "--no-config")
    assert params(steve)[0] == str(online)


def run_steve(*args):
    return subprocess.run([str(STEVE), "--bus=none", *args], capture_output=True, text=True, timeout=10)


@pytest.mark.parametrize("text, message", [
    ("jobs = many\n", ":1: invalid number of jobs 'many'"),
    ("\n\nsurplus = 1\n", ":3: unknown setting 'surplus'"),
    ("help = yes\n", ":1: unknown setting 'help'"),
    ("verbose = maybe\n", ":1: invalid boolean 'maybe'"),
    ("jobs = 2\nno equals sign here\n", ":2: not a 'key = value' line"),
    ("[steve]\njobs = 2\n", ":2: sections are not used"),
    ("fallback-path = /tmp/x\n", "--path and --fallback-path exclude each other"),
])
def test_a_bad_file_stops_steve_at_start_with_file_and_line(config, tmp_path, text, message):
    path = config(text)
    node = tmp_path / "node"
    r = run_steve(f"--config={path}", "--path", str(node))
    assert r.returncode == 2, r.stderr
    assert message in r.stderr
    assert not is_mounted(node)


def test_a_named_file_must_exist(tmp_path):
    r = run_steve(f"--config={tmp_path / 'missing.conf'}")
    assert r.returncode == 2
    assert "Cannot read" in r.stderr and "No such file" in r.stderr


def test_sighup_rereads_the_file_and_says_so_to_the_service_manager(start_steve, config, clients, notify):
    path = config("jobs = 2\n")
    steve = start_steve(None, f"--config={path}", env={"NOTIFY_SOCKET": str(notify.path)})
    notify.wait_for("READY=1")
    holder = clients(steve)
    fd = holder.open()
    holder.do("read", fd)
    holder.do("read", fd)

    config("jobs = 5\nper-process-limit = 4\n")
    os.kill(steve.pid, signal.SIGHUP)
    assert notify.wait_for("RELOADING=1").startswith("RELOADING=1\nMONOTONIC_USEC=")
    notify.wait_for("READY=1")
    assert params(steve)[0] == "5" and params(steve)[5] == "4"
    # Nothing held was lost in the resize.
    st = steve.wait_state(held=2)
    assert st.available == 3


def test_the_policy_is_read_from_the_file_and_reloaded(start_steve, config):
    path = config("policy = fifo\nclaim-timeout = 0.2\n")
    steve = start_steve(None, f"--config={path}")
    assert steve.stevie("--get-policy").stdout == "fifo\n"
    config("policy = fair\n")
    start = len(steve.lines)
    os.kill(steve.pid, signal.SIGHUP)
    steve.wait_for_line("Reloaded", start)
    assert steve.stevie("--get-policy").stdout == "fair\n"
    config("policy = lottery\n")
    start = len(steve.lines)
    os.kill(steve.pid, signal.SIGHUP)
    steve.wait_for_line("policy", start)
    assert steve.stevie("--get-policy").stdout == "fair\n"
    r = steve.stevie("--set-policy=lottery", check=False)
    assert r.returncode == 2 and "invalid policy 'lottery' (fair or fifo)" in r.stderr, r.stderr
    steve.stevie("--set-policy=fifo")
    assert steve.stevie("--get-policy").stdout == "fifo\n"


def test_a_bad_reload_keeps_everything_and_says_why(start_steve, config):
    path = config("jobs = 3\n")
    steve = start_steve(None, f"--config={path}")
    start = len(steve.lines)
    config("jobs = 7\nbogus = 1\n")
    os.kill(steve.pid, signal.SIGHUP)
    steve.wait_for_line("keeping the settings", start)
    assert any(":2: unknown setting 'bogus'" in line for line in steve.lines[start:])
    assert params(steve)[0] == "3"
    assert steve.proc.poll() is None


def test_reload_keeps_a_pause_and_warns_about_restart_only_settings(start_steve, config):
    path = config("jobs = 3\n")
    steve = start_steve(None, f"--config={path}")
    steve.stevie("--pause")
    start = len(steve.lines)
    config("jobs = 4\nmode = 0600\n")
    os.kill(steve.pid, signal.SIGHUP)
    steve.wait_for_line("Reloaded", start)
    assert any("mode changed; it takes effect when steve restarts" in line for line in steve.lines[start:])
    assert steve.stevie("--get-paused").stdout == "1\n"
    assert params(steve)[0] == "4"


def test_reload_reapplies_the_command_line_over_the_file(start_steve, config):
    path = config("jobs = 3\n")
    steve = start_steve(None, f"--config={path}", "--per-process-limit=2")
    config("jobs = 5\n")
    os.kill(steve.pid, signal.SIGHUP)
    steve.wait_for_line("Reloaded")
    assert params(steve)[0] == "5" and params(steve)[5] == "2"


def test_journal_priorities_when_stderr_is_the_journal(node_dir):
    node = node_dir / "journal-node"
    # What systemd does: JOURNAL_STREAM names stderr's device and inode.
    shim = 'export JOURNAL_STREAM=$(stat -L -c %d:%i /proc/$$/fd/2); exec "$@"'
    proc = subprocess.Popen(["bash", "-c", shim, "bash", str(STEVE), "--no-config", "--bus=none",
                             "-j", "2", "--path", str(node)], stderr=subprocess.PIPE, text=True)
    try:
        lines = [proc.stderr.readline() for _ in range(2)]
    finally:
        proc.terminate()
        rest = proc.communicate(timeout=10)[1]
    assert lines[0].startswith("<5>D-Bus is off"), lines
    assert lines[1].startswith("<5>running on"), lines
    assert "<5>Terminated received, stopping" in rest
    assert "steve: " not in "".join(lines) + rest


def test_an_inherited_journal_stream_that_is_not_stderr_changes_nothing(node_dir):
    # A child started from a journal-connected shell inherits JOURNAL_STREAM
    # while its stderr goes elsewhere: keep the plain prefix then.
    node = node_dir / "not-journal-node"
    proc = subprocess.Popen([str(STEVE), "--no-config", "--bus=none", "-j", "2", "--path", str(node)],
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, JOURNAL_STREAM="1:2"))
    try:
        line = proc.stderr.readline()
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert line.startswith("steve: D-Bus is off"), line
