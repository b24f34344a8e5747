"""What the tests under a real systemd share: commands, waiting, the bus,
and builds whose jobs log when they run."""
import pathlib
import subprocess
import time

DEVICE = pathlib.Path("/dev/steve")
BUS = ("org.steve.Jobserver", "/org/steve/Jobserver", "org.steve.Jobserver")


def run(*argv, check=True):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if check:
        assert r.returncode == 0, f"{argv}: {r.stdout}{r.stderr}"
    return r


def wait_until(predicate, what, timeout=60):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def show(prop, unit="steve.service"):
    return run("systemctl", "show", "-P", prop, unit).stdout.strip()


def stamp_makefile(directory, log, jobs, seconds):
    directory.mkdir(parents=True)
    (directory / "Makefile").write_text(
        f"all: $(addprefix job,$(shell seq 1 {jobs}))\n"
        f"job%:\n\t@echo start $$(date +%s%N) >> {log}; sleep {seconds}; echo end $$(date +%s%N) >> {log}\n")


def peak_concurrency(log):
    events = sorted((int(stamp), 1 if kind == "start" else -1)
                    for kind, stamp in (line.split() for line in log.read_text().splitlines() if line))
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    return peak, sum(1 for _, d in events if d == 1)


def tokens():
    available = int(run("busctl", "get-property", *BUS, "TokensAvailable").stdout.split()[1])
    held = int(run("busctl", "get-property", *BUS, "TokensHeld").stdout.split()[1])
    return available, held
