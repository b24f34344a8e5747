#!/usr/bin/python3
"""A small jobserver protocol client driven by the tests.

Reads commands from stdin, one per line: "ID COMMAND ARGS...". Each command
runs in a thread of its own, so a blocking read does not stop the next
command, and every thread is a thread of this one process (steve must
account them together). Answers "ID ok VALUE" or "ID err ERRNAME" on stdout.
"""
import array
import ctypes
import errno
import fcntl
import os
import select
import signal
import sys
import termios
import threading

path = sys.argv[1]
out_lock = threading.Lock()
libc = ctypes.CDLL(None, use_errno=True)
readers = {}            # command id -> thread ident of a raw read
signal.signal(signal.SIGUSR1, lambda *_: None)


def answer(cid, text):
    with out_lock:
        sys.stdout.write(f"{cid} {text}\n")
        sys.stdout.flush()


def cmd_open(mode="rdwr", *flags):
    how = {"rdonly": os.O_RDONLY, "wronly": os.O_WRONLY, "rdwr": os.O_RDWR}[mode]
    if "nonblock" in flags:
        how |= os.O_NONBLOCK
    return os.open(path, how)


def cmd_read(fd, size="1"):
    return os.read(int(fd), int(size)).decode("latin-1") or "-"


def cmd_rawread(fd):
    """read(2) without Python's retry on EINTR, so an interrupt is visible."""
    readers[threading.current_thread().name] = threading.get_ident()
    buf = ctypes.create_string_buffer(1)
    n = libc.read(int(fd), buf, 1)
    if n < 0:
        raise OSError(ctypes.get_errno(), "read")
    return buf.raw[:n].decode("latin-1") or "-"


def cmd_interrupt(cid):
    signal.pthread_kill(readers[cid], signal.SIGUSR1)
    return 0


def cmd_write(fd, data="+"):
    return os.write(int(fd), data.encode())


def cmd_writen(fd, n):
    return os.write(int(fd), b"+" * int(n))


def cmd_poll(fd, timeout_ms):
    p = select.poll()
    p.register(int(fd), select.POLLIN)
    return "in" if p.poll(int(timeout_ms)) else "timeout"


def cmd_pollread(fd):
    """GNU make's way: poll until readable, then a non-blocking read; a
    wakeup with nothing to read polls again."""
    while True:
        p = select.poll()
        p.register(int(fd), select.POLLIN)
        p.poll()
        try:
            return os.read(int(fd), 1).decode("latin-1") or "-"
        except BlockingIOError:
            continue


def cmd_fionread(fd):
    buf = array.array("i", [0])
    fcntl.ioctl(int(fd), termios.FIONREAD, buf)
    return buf[0]


def cmd_close(fd):
    os.close(int(fd))
    return 0


def cmd_tid():
    return threading.get_native_id()


def cmd_exit(status="0"):
    sys.stdout.flush()
    os._exit(int(status))


COMMANDS = {name[4:]: fn for name, fn in globals().items() if name.startswith("cmd_")}


def run(cid, name, args):
    try:
        answer(cid, f"ok {COMMANDS[name](*args)}")
    except OSError as e:
        answer(cid, f"err {errno.errorcode.get(e.errno, e.errno)}")


for line in sys.stdin:
    cid, name, *args = line.split()
    threading.Thread(target=run, args=(cid, name, args), name=cid, daemon=True).start()
