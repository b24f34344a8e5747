#!/usr/bin/python3
"""emerge with FEATURES=jobserver-token, as Portage joins a jobserver: it
opens the path once, O_RDWR|O_NONBLOCK; before each package job it reads one
byte, and on EAGAIN waits until the fd is readable and reads again; when the
job ends it writes that same byte back. Any other error (EOF, EIO, a short
write) aborts the whole emerge: it kills its jobs and exits 2.

    portage_client.py PATH JOBS PACKAGES COMMAND [ARGS...]

runs PACKAGES package jobs, at most JOBS at once (emerge --jobs), each
COMMAND with "{n}" in its arguments replaced by the package's number. Exits
0 when every job did, 1 when one failed, 2 on a jobserver error."""
import os
import select
import subprocess
import sys


class JobserverError(Exception):
    pass


def take(fd):
    """A token, or None when none is free now."""
    try:
        token = os.read(fd, 1)
    except BlockingIOError:
        return None
    except OSError as e:
        raise JobserverError(f"read: {e}") from e
    if len(token) != 1:
        raise JobserverError("read: end of file")
    return token


def give_back(fd, token):
    try:
        written = os.write(fd, token)
    except OSError as e:
        raise JobserverError(f"write: {e}") from e
    if written != 1:
        raise JobserverError(f"write: {written} bytes")


def emerge(fd, jobs, packages, command):
    pending = list(range(packages))
    running = {}        # pidfd -> (child, the byte it was started on)
    failed = False
    try:
        while pending or running:
            want_token = bool(pending) and len(running) < jobs
            while want_token:
                token = take(fd)
                if token is None:
                    break
                n = pending.pop(0)
                child = subprocess.Popen([arg.replace("{n}", str(n)) for arg in command])
                running[os.pidfd_open(child.pid)] = (child, token)
                want_token = bool(pending) and len(running) < jobs
            poller = select.poll()
            for pidfd in running:
                poller.register(pidfd, select.POLLIN)
            if want_token:
                poller.register(fd, select.POLLIN)
            for ready, _ in poller.poll():
                if ready in running:
                    child, token = running.pop(ready)
                    os.close(ready)
                    failed |= child.wait() != 0
                    give_back(fd, token)
    except JobserverError:
        for pidfd, (child, _) in running.items():
            child.kill()
            child.wait()
            os.close(pidfd)
        raise
    return 1 if failed else 0


def main():
    path, jobs, packages, command = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
    fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
    try:
        return emerge(fd, jobs, packages, command)
    except JobserverError as e:
        print(f"emerge: jobserver {path}: {e}; aborting", file=sys.stderr)
        return 2
    finally:
        os.close(fd)


if __name__ == "__main__":
    sys.exit(main())
