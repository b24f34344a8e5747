#!/usr/bin/python3
"""A badly behaved jobserver client for the chaos test: until SECONDS pass,
it does random things to the jobserver at PATH. It is killed, stopped and
continued from outside meanwhile.

    chaos_client.py PATH SECONDS SEED
"""
import os
import random
import select
import signal
import sys
import threading
import time

path, seconds, seed = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
held = 0
lock = threading.Lock()


def on_alarm(*_):
    raise InterruptedError      # without raising, Python would retry the read


signal.signal(signal.SIGALRM, on_alarm)


def take(fd, blocking):
    global held
    try:
        if blocking:
            signal.setitimer(signal.ITIMER_REAL, rng.uniform(0.001, 0.2))
        if os.read(fd, 1):
            with lock:
                held += 1
    except (BlockingIOError, InterruptedError):
        pass
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def give(fd, count=1):
    global held
    with lock:
        count = min(count, held)
        held -= count
    if count:
        try:
            os.write(fd, b"+" * count)
        except OSError:
            # Our count ran ahead of steve's (a bogus return below was
            # accepted, or a timer cut in after a read): start again from none.
            with lock:
                held = 0


def in_thread(fd):
    t = threading.Thread(target=lambda: (take(fd, False), give(fd)))
    t.start()
    t.join()


def child_that_takes(exec_after):
    pid = os.fork()
    if pid == 0:
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
        try:
            os.read(fd, 1)
        except BlockingIOError:
            pass
        if exec_after:
            os.execv("/bin/true", ["true"])
        os._exit(0)                 # exits holding what it took
    os.waitpid(pid, 0)


def main():
    global held
    rfd = os.open(path, os.O_RDWR)
    nfd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
    poller = select.poll()
    poller.register(nfd, select.POLLIN)
    end = time.monotonic() + seconds
    actions = 0
    while time.monotonic() < end:
        actions += 1
        action = rng.randrange(10)
        if action == 0:
            take(rfd, True)
        elif action == 1:
            take(nfd, False)
        elif action == 2:
            if poller.poll(rng.randrange(50)):
                take(nfd, False)
        elif action in (3, 4):
            give(nfd, rng.randrange(1, 3))
        elif action == 5:
            in_thread(nfd)
        elif action == 6:
            child_that_takes(rng.random() < 0.5)
        elif action == 7:
            try:
                n = os.write(nfd, b"+" * rng.randrange(1, 4))   # returns it may not hold
                with lock:
                    held = max(0, held - n)
            except OSError:
                pass
        else:
            time.sleep(rng.uniform(0, 0.01))
    print(actions, flush=True)


main()
