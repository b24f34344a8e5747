"""Out of memory: with allocations failing in steve, clients get ENOMEM (or
their request fails), steve keeps serving, and once memory is back nothing is
lost. Uses tests/tools/failmalloc.c through LD_PRELOAD, so not in the
sanitizer build, whose allocator cannot be interposed."""
import collections
import os
import subprocess

import pytest

from conftest import ROOT, VALGRIND, sanitized


@pytest.fixture
def failmalloc(tmp_path):
    if sanitized():
        pytest.skip("ASan's allocator cannot be interposed")
    if VALGRIND:
        pytest.skip("memcheck replaces malloc before any LD_PRELOAD library")
    lib = tmp_path / "failmalloc.so"
    subprocess.run(["cc", "-O1", "-shared", "-fPIC", "-o", str(lib), str(ROOT / "tests/tools/failmalloc.c"), "-ldl"],
                   check=True)
    return lib, tmp_path / "armed"


def client_cycle(path):
    pid = os.fork()
    if pid == 0:
        try:
            fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
            os.read(fd, 1)
            os.write(fd, b"+")
            os._exit(0)
        except OSError as e:
            os._exit(e.errno)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_allocation_failures_give_enomem_and_lose_nothing(start_steve, failmalloc):
    lib, armed = failmalloc
    steve = start_steve(4, env={"LD_PRELOAD": str(lib), "FAILMALLOC_EVERY": "40", "FAILMALLOC_ARM": str(armed)})
    armed.touch()
    try:
        outcomes = collections.Counter(client_cycle(steve.path) for _ in range(300))
    finally:
        armed.unlink()
    print(f"enomem: client outcomes by errno: {dict(outcomes)}")
    assert steve.proc.poll() is None, "steve died when memory ran out"
    assert outcomes[0] > 0, outcomes
    assert sum(n for code, n in outcomes.items() if code != 0) > 0, f"no allocation failed: {outcomes}"
    assert set(outcomes) <= {0, 12, 11, 5}, outcomes     # ok, ENOMEM, EAGAIN (no token), EIO
    st = steve.wait_state(held=0, processes=0, timeout=20)
    assert (st.available, st.reserved, st.waiting) == (4, 0, 0)
    assert client_cycle(steve.path) == 0
