"""The harness itself: what it reads of a process that has finished is all
that process said, however busy the machine is."""
import os
import subprocess

import pytest

from conftest import Client, Steve

LAST_WORDS = "#!/bin/sh\necho 'steve: first words' >&2\necho 'steve: last words' >&2\nexit 2\n"


@pytest.fixture
def busy_loops():
    """Two busy loops a CPU while the test runs: the reading thread then
    often runs well after the process it reads has exited."""
    loops = [subprocess.Popen(["sh", "-c", "while :; do :; done"]) for _ in range(2 * (os.cpu_count() or 1))]
    yield
    for loop in loops:
        loop.kill()
        loop.wait()


def test_a_steve_that_exits_at_once_is_read_to_its_last_line(busy_loops, tmp_path):
    exe = tmp_path / "last-words"
    exe.write_text(LAST_WORDS)
    exe.chmod(0o755)
    for _ in range(100):
        steve = Steve("fuse", tmp_path, [], 1, exe=exe, wait=False)
        assert steve.proc.wait(timeout=60) == 2
        assert steve.said() == ["steve: first words", "steve: last words"]


def test_a_client_that_dies_is_reported_with_its_last_words(busy_loops, tmp_path):
    for _ in range(20):
        # wrap runs the rest: here a shell that says its piece and exits.
        c = Client(tmp_path / "none", wrap=["sh", "-c", "echo 'client: last words' >&2; exit 3", "sh"])
        try:
            with pytest.raises(AssertionError, match="exited with status 3 .*client: last words"):
                c.result(c.send("open", "rdwr"), timeout=60)
        finally:
            c.close()
