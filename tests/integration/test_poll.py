"""poll(): POLLIN only for a token this caller may take, reserved until it reads."""
import time


# A reservation that must still be there when the test's next steps come: on
# a busy machine (or the VM's emulated CPU) those took more than the default
# half second, and the token went on.
OUTLASTS_THE_TEST = ("--reserve-timeout", "30")


def test_poll_reserves_a_token_a_blocking_reader_cannot_take(start_steve, clients):
    steve = start_steve(1, *OUTLASTS_THE_TEST)
    poller, reader = clients(steve), clients(steve)
    pfd = poller.open("rdwr", "nonblock")
    assert poller.do("poll", pfd, 0) == "in"
    st = steve.state()
    assert (st.available, st.reserved) == (0, 1)
    wait = reader.send("read", reader.open())
    assert reader.pending(wait), "the reserved token went to a blocking reader"
    assert poller.do("read", pfd) == "+"
    poller.do("write", pfd)
    assert reader.result(wait) == ("ok", "+")


def test_pollin_only_when_a_token_is_available_to_this_caller(start_steve, clients):
    steve = start_steve(1, *OUTLASTS_THE_TEST)
    first, second = clients(steve), clients(steve)
    assert first.do("poll", first.open(), 0) == "in"
    sfd = second.open("rdwr", "nonblock")
    assert second.do("poll", sfd, 50) == "timeout"
    assert second.err("read", sfd) == "EAGAIN"


def test_reservation_expires_and_the_token_goes_on(start_steve, clients):
    steve = start_steve(1, "--reserve-timeout", "0.3")
    poller, reader = clients(steve), clients(steve)
    pfd = poller.open("rdwr", "nonblock")
    # Before the poll, so that a busy machine's delays only add to the wait.
    started = time.monotonic()
    assert poller.do("poll", pfd, 0) == "in"
    wait = reader.send("read", reader.open())
    assert reader.result(wait) == ("ok", "+")
    assert time.monotonic() - started >= 0.25
    assert poller.err("read", pfd) == "EAGAIN"
    st = steve.state()
    assert (st.reserved, st.held) == (0, 1)


def test_waiting_poller_is_woken_when_a_token_is_reserved_for_it(start_steve, clients):
    steve = start_steve(1, *OUTLASTS_THE_TEST)
    holder, poller, reader = clients(steve), clients(steve), clients(steve)
    hfd = holder.open()
    assert holder.do("read", hfd) == "+"
    pfd = poller.open("rdwr", "nonblock")
    polling = poller.send("poll", pfd, 10000)
    steve.wait_state(waiting=1)
    # A blocking reader queued after the poller must not get the token first.
    wait = reader.send("read", reader.open())
    steve.wait_state(waiting=2)
    holder.do("write", hfd)
    assert poller.result(polling, timeout=5) == ("ok", "in")
    assert reader.pending(wait)
    assert poller.do("read", pfd) == "+"
    poller.do("write", pfd)
    assert reader.result(wait) == ("ok", "+")


def test_poll_reports_writable_always(start_steve, clients):
    import select
    steve = start_steve(1)
    c = clients(steve)
    assert c.do("read", c.open()) == "+"
    import os
    fd = os.open(steve.path, os.O_WRONLY | os.O_NONBLOCK)
    try:
        p = select.poll()
        p.register(fd, select.POLLOUT)
        assert p.poll(0) == [(fd, select.POLLOUT)]
    finally:
        os.close(fd)
