"""The jobserver protocol as clients see it: reads, writes, waiting, polling."""

from conftest import wait_until


def test_read_hands_out_one_token_per_call_whatever_the_size(start_steve, clients):
    steve = start_steve(3)
    c = clients(steve)
    fd = c.open("rdwr", "nonblock")
    assert [c.do("read", fd, 4096) for _ in range(3)] == ["+", "+", "+"]
    assert c.err("read", fd, 1) == "EAGAIN"
    st = steve.state()
    assert (st.available, st.held, st.processes) == (0, 3, 1)


def test_read_of_zero_bytes_takes_nothing(start_steve, clients):
    steve = start_steve(2)
    c = clients(steve)
    fd = c.open()
    assert c.do("read", fd, 0) == "-"
    assert steve.state().available == 2


def test_blocking_readers_are_served_in_queue_order(start_steve, clients):
    steve = start_steve(1)
    holder, a, b, c = (clients(steve) for _ in range(4))
    hfd = holder.open()
    assert holder.do("read", hfd) == "+"
    waits = {}
    for n, cl in enumerate((a, b, c), start=1):
        waits[cl] = cl.send("read", cl.open())
        steve.wait_state(waiting=n)
    order = []
    holder.do("write", hfd)
    for _ in range(3):
        done = wait_until(lambda: [cl for cl in (a, b, c) if cl not in order and not cl.pending(waits[cl], 0.05)])
        assert len(done) == 1, "one token, one reader served"
        order.append(done[0])
        done[0].do("write", 3)          # fd 3: the first file each client opened
    assert order == [a, b, c]
    assert steve.state().available == 1


def test_a_served_process_goes_to_the_back_of_the_queue(start_steve, clients):
    steve = start_steve(1)
    a, b = clients(steve), clients(steve)
    afd, bfd = a.open(), b.open()
    assert a.do("read", afd) == "+"
    a_again = a.send("read", afd)
    steve.wait_state(waiting=1)
    b_wait = b.send("read", bfd)
    steve.wait_state(waiting=2)
    a.do("write", afd)
    # a returned its token while it was queued first: it is served again...
    assert a.result(a_again) == ("ok", "+")
    a_third = a.send("read", afd)
    steve.wait_state(waiting=2)
    a.do("write", afd)
    # ...but having just been served, it now waits behind b.
    assert b.result(b_wait) == ("ok", "+")
    assert a.pending(a_third)
    b.do("write", bfd)
    assert a.result(a_third) == ("ok", "+")


def test_nonblocking_read_gets_eagain_and_does_not_queue_under_fifo(start_steve, clients):
    steve = start_steve(1, "--policy=fifo")
    a, b = clients(steve), clients(steve)
    assert a.do("read", a.open()) == "+"
    assert b.err("read", b.open("rdonly", "nonblock")) == "EAGAIN"
    assert steve.state().waiting == 0


def test_a_refused_nonblocking_reader_below_its_share_gets_the_next_token(start_steve, clients):
    """ninja 1.13, gcc's lto1 and emerge read without blocking and come back
    later: a claim keeps the next token for them a while (here longer than
    the test's steps take on a busy machine)."""
    steve = start_steve(1, "--claim-timeout=10")
    a, b = clients(steve), clients(steve)
    afd, bfd = a.open(), b.open("rdonly", "nonblock")
    assert a.do("read", afd) == "+"
    assert b.err("read", bfd) == "EAGAIN"
    assert steve.state().waiting == 1          # its claim
    a.do("write", afd)
    steve.wait_state(reserved=1, waiting=0)
    assert a.err("read", a.open("rdonly", "nonblock")) == "EAGAIN"
    assert b.do("read", bfd) == "+"
    b.do("write", b.open("wronly"))
    steve.wait_state(held=0)


def test_an_unused_claim_goes_back_after_the_claim_timeout(start_steve, clients):
    # Long enough for a busy machine's report to see the claim before it goes.
    steve = start_steve(1, "--claim-timeout=2")
    a, b = clients(steve), clients(steve)
    afd = a.open()
    assert a.do("read", afd) == "+"
    assert b.err("read", b.open("rdonly", "nonblock")) == "EAGAIN"
    a.do("write", afd)
    steve.wait_state(reserved=1)
    steve.wait_state(reserved=0, available=1, what="the claim to expire", timeout=30)


def test_signal_interrupts_a_blocked_read_with_eintr_and_loses_nothing(start_steve, clients):
    steve = start_steve(1)
    holder, reader = clients(steve), clients(steve)
    hfd = holder.open()
    assert holder.do("read", hfd) == "+"
    wait = reader.send("rawread", reader.open())
    steve.wait_state(waiting=1)
    reader.do("interrupt", wait)
    assert reader.result(wait) == ("err", "EINTR")
    st = steve.wait_state(waiting=0)
    assert (st.available, st.held) == (0, 1)
    holder.do("write", hfd)
    st = steve.state()
    assert (st.available, st.held, st.waiting) == (1, 0, 0)


def test_killed_reader_leaves_the_queue_and_the_next_is_served(start_steve, clients):
    steve = start_steve(1)
    holder, doomed, patient = clients(steve), clients(steve), clients(steve)
    hfd = holder.open()
    assert holder.do("read", hfd) == "+"
    doomed.send("read", doomed.open())
    steve.wait_state(waiting=1)
    wait = patient.send("read", patient.open())
    steve.wait_state(waiting=2)
    doomed.kill()
    steve.wait_state(waiting=1, processes=2)
    holder.do("write", hfd)
    assert patient.result(wait) == ("ok", "+")
    st = steve.state()
    assert (st.available, st.held, st.waiting) == (0, 1, 0)


def test_fionread_counts_the_tokens_this_caller_could_take(transport, start_steve, clients):
    steve = start_steve(3)
    c, other = clients(steve), clients(steve)
    fd = c.open("rdwr", "nonblock")
    assert c.do("read", fd) == "+"
    if transport == "fuse":
        # A regular file's FIONREAD is the kernel's own answer (size 0 minus
        # no position, the node being a stream); it never reaches steve.
        assert c.do("fionread", fd) == "0"
        return
    assert c.do("fionread", fd) == "2"
    ofd = other.open("rdwr", "nonblock")
    assert other.do("poll", ofd, 0) == "in"         # one token now reserved for other
    assert c.do("fionread", fd) == "1"
    assert other.do("fionread", ofd) == "2"
