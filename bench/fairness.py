"""Builds of different shapes on one pool, and what each of them got: the
makefiles (jobs that log a start and an end stamp) and the measures, for
bench/run's fairness table and tests/integration/test_fairness.py.

A build's share is its part of the job-time that ran while every build ran:
from the last build's first job to the first build's last job.
"""
import textwrap


def stamp_rule(log, seconds):
    return (f"\t@echo start $$(date +%s%N) >> {log}; sleep {seconds}; "
            f"echo end $$(date +%s%N) >> {log}\n")


def plain_build(directory, log, jobs=40, seconds=0.3):
    """One make running jobs jobs."""
    directory.mkdir(parents=True)
    (directory / "Makefile").write_text(
        f"all: $(addprefix job,$(shell seq 1 {jobs}))\njob%:\n" + stamp_rule(log, seconds))
    return directory


def recursive_build(directory, log, subs=4, jobs=10, seconds=0.3):
    """A top make whose jobs are sub-makes: subs processes that each want tokens."""
    directory.mkdir(parents=True)
    for i in range(subs):
        plain_build(directory / f"sub{i}", log, jobs, seconds)
    (directory / "Makefile").write_text(textwrap.dedent(f"""\
        all: $(addprefix run,$(shell seq 0 {subs - 1}))
        run%:
        \t@$(MAKE) -s -C sub$*
        """))
    return directory


def intervals(log):
    """(start, end) of each job, in nanoseconds: the n-th start with the n-th end."""
    starts, ends = [], []
    for line in log.read_text().split("\n"):
        if line:
            kind, stamp = line.split()
            (starts if kind == "start" else ends).append(int(stamp))
    return list(zip(sorted(starts), sorted(ends)))


def window(jobs, since=None):
    """While every build ran: the last first start to the first last end."""
    begin = max(j[0][0] for j in jobs)
    if since is not None:
        begin = max(begin, since)
    return begin, min(j[-1][1] for j in jobs)


def shares(logs, since=None, min_seconds=1.2):
    """Each build's part of the job-time run while all of them ran."""
    jobs = [intervals(log) for log in logs]
    assert all(jobs), "a build ran no job"
    begin, end = window(jobs, since)
    assert end - begin > min_seconds * 1e9, "the builds hardly overlapped"
    used = [sum(max(0, min(e, end) - max(s, begin)) for s, e in j) for j in jobs]
    return [u / sum(used) for u in used]


def jain(xs):
    """Jain's fairness index: 1 when all are equal, 1/n when one has everything."""
    return sum(xs) ** 2 / (len(xs) * sum(x * x for x in xs))


def free_while_waiting(logs, tokens):
    """The part of the pool's token-time left unused while every build ran
    and so had jobs to start: each build runs one job on its own slot and the
    rest on tokens, so tokens + builds jobs could run. The gaps a make leaves
    between one job's end and the next start count too, as they do for a
    kernel FIFO beside it."""
    jobs = [intervals(log) for log in logs]
    begin, end = window(jobs)
    events = sorted([(max(s, begin), 1) for j in jobs for s, e in j if e > begin and s < end] +
                    [(min(e, end), -1) for j in jobs for s, e in j if e > begin and s < end])
    capacity = tokens + len(logs)
    running, at, idle = 0, begin, 0
    for t, delta in events:
        idle += max(0, capacity - running) * (t - at)
        running += delta
        at = t
    idle += max(0, capacity - running) * (end - at)
    return idle / (tokens * (end - begin)) if end > begin else 0.0


def finish_times(logs, started):
    """Seconds from the start of the run to each build's last job's end."""
    return [(intervals(log)[-1][1] - started) / 1e9 for log in logs]
