"""org.steve.Jobserver on a private bus configured like the system bus."""
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET

import pytest

from conftest import BUILD, ROOT, PrivateBus, as_user, wait_until

pytestmark = pytest.mark.above_transport

OBJ = ("org.steve.Jobserver", "/org/steve/Jobserver")
IFACE = "org.steve.Jobserver"


def bus_up(bus):
    return bus.busctl("get-property", *OBJ, IFACE, "Version", check=False).returncode == 0


@pytest.fixture
def steve_on_bus(start_steve, system_bus):
    def start(jobs=4, *args):
        steve = start_steve(jobs, "--bus=system", *args, env=system_bus.env)
        wait_until(lambda: bus_up(system_bus), what="steve to own its bus name")
        return steve
    return start


NO_POLICY = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig/>
"""


def test_a_name_refused_at_start_is_owned_once_the_bus_allows_it(start_steve, node_dir):
    """A bus that has not read steve's policy yet (installed after it last
    read its configuration) refuses the name: steve serves tokens, asks again
    less and less often, and owns the name once the bus has reread."""
    policy = node_dir / "steve-policy.conf"
    policy.write_text(NO_POLICY)
    bus = PrivateBus(node_dir, policy=policy)
    try:
        steve = start_steve(4, "--bus=system", env=bus.env)
        steve.wait_for_line("Cannot own org.steve.Jobserver")
        assert not bus_up(bus)
        policy.write_text((BUILD / "dbus" / "org.steve.Jobserver.conf").read_text())
        bus.busctl("call", "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "ReloadConfig")
        wait_until(lambda: bus_up(bus), timeout=20, what="steve to own its name after the bus reread")
        steve.wait_for_line("Owning org.steve.Jobserver on D-Bus now")
        assert bus.busctl("get-property", *OBJ, IFACE, "Jobs").stdout.split() == ["u", "4"]
    finally:
        bus.stop()


DBUS_CALL = ROOT / "tests" / "integration" / "dbus_call.py"


def dbus_call(bus, *args, user=None):
    argv = [sys.executable, str(DBUS_CALL), bus.address, *map(str, args)]
    if user:
        argv = as_user(user, argv)
    return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()


def get(bus, prop):
    out = bus.busctl("get-property", *OBJ, IFACE, prop).stdout.split(" ", 1)
    return out[1].strip().strip('"')


def interface_of(xml_text):
    root = ET.fromstring(xml_text)
    iface = next(i for i in root.iter("interface") if i.get("name") == IFACE)
    props = {(p.get("name"), p.get("type"), p.get("access")) for p in iface.iter("property")}
    methods = {(m.get("name"), tuple((a.get("name"), a.get("type"), a.get("direction", "in"))
                                     for a in m.iter("arg"))) for m in iface.iter("method")}
    signals = {s.get("name") for s in iface.iter("signal")}
    return props, methods, signals


def test_introspection_matches_the_interface_file(steve_on_bus, system_bus):
    steve_on_bus()
    published = system_bus.busctl("introspect", "--xml-interface", *OBJ).stdout
    contract = (ROOT / "dbus" / "org.steve.Jobserver.xml").read_text()
    assert interface_of(published) == interface_of(contract)


def test_properties_read_what_the_ioctls_read(steve_on_bus, system_bus):
    steve = steve_on_bus(6)
    assert get(system_bus, "Jobs") == "6"
    assert get(system_bus, "TokensAvailable") == "6"
    assert get(system_bus, "Path") == str(steve.path)
    assert get(system_bus, "Version") == subprocess.run(
        [steve.argv[0], "--version"], capture_output=True, text=True).stdout.split()[1]
    assert get(system_bus, "Paused") == "false"
    assert get(system_bus, "LoadRecheckTimeout") == "0.5"


@pytest.mark.parametrize("prop, sig, value, stevie_name, reads", [
    ("Jobs", "u", "4", "jobs", "4"),
    ("MinJobs", "u", "2", "min-jobs", "2"),
    ("LoadAverage", "d", "3.5", "load-average", "3.5"),
    ("LoadRecheckTimeout", "d", "0.25", "load-recheck-timeout", "0.25"),
    ("MinMemoryAvail", "t", str(1 << 30), "min-memory-avail", str(1 << 30)),
    ("CpuPressure", "d", "40", "cpu-pressure", "40"),
    ("MemoryPressure", "d", "15", "memory-pressure", "15"),
    ("PerProcessLimit", "u", "3", "per-process-limit", "3"),
    ("Paused", "b", "true", "paused", "1"),
])
def test_set_property_changes_what_stevie_sees(steve_on_bus, system_bus, prop, sig, value, stevie_name, reads):
    steve = steve_on_bus(8)
    system_bus.busctl("set-property", *OBJ, IFACE, prop, sig, value)
    assert steve.stevie(f"--get-{stevie_name}").stdout == reads + "\n"
    assert get(system_bus, prop) == value


@pytest.mark.parametrize("prop, sig, value", [
    ("Jobs", "u", "0"), ("Jobs", "u", "70000"), ("LoadAverage", "d", "nan"), ("LoadAverage", "d", "-1"),
    ("CpuPressure", "d", "101"), ("LoadRecheckTimeout", "d", "0"), ("Jobs", "s", "four"),
    ("MinMemoryAvail", "u", "5"),
])
def test_bad_values_are_invalid_args_and_change_nothing(steve_on_bus, system_bus, prop, sig, value):
    steve_on_bus(3)
    out = dbus_call(system_bus, "set", prop, sig, value)
    assert out.startswith("err org.freedesktop.DBus.Error.InvalidArgs"), out
    assert get(system_bus, "Jobs") == "3"


def test_read_only_properties_cannot_be_set(steve_on_bus, system_bus):
    steve_on_bus(3)
    r = system_bus.busctl("set-property", *OBJ, IFACE, "TokensAvailable", "u", "9", check=False)
    assert r.returncode != 0


def test_unprivileged_callers_may_read_but_not_change(steve_on_bus, system_bus):
    steve_on_bus(3)
    assert system_bus.busctl("get-property", *OBJ, IFACE, "Jobs", user="nobody").stdout.strip() == "u 3"
    out = dbus_call(system_bus, "set", "Jobs", "u", "9", user="nobody")
    assert out.startswith("err org.freedesktop.DBus.Error.AccessDenied"), out
    assert get(system_bus, "Jobs") == "3"
    out = dbus_call(system_bus, "call", "ReclaimTokens", "u", "1", user="nobody")
    assert out.startswith("err org.freedesktop.DBus.Error.AccessDenied"), out
    assert dbus_call(system_bus, "call", "GetWaiters", user="nobody") == "ok dbus.Array([], signature=dbus.Signature('(ustu)'))"


def call_json(bus, method, *args):
    import json
    out = bus.busctl("--json=short", "call", *OBJ, IFACE, method, *args).stdout
    return json.loads(out)["data"]


def test_holders_and_waiters_are_seen(steve_on_bus, system_bus, clients):
    steve = steve_on_bus(2)
    holder, waiter = clients(steve), clients(steve)
    fd = holder.open()
    holder.do("read", fd)
    holder.do("read", fd)
    waiter.send("read", waiter.open())
    steve.wait_state(waiting=1)
    before = time.time() * 1e6
    [holders] = call_json(system_bus, "GetHolders")
    [[pid, cmdline, held, jobs]] = holders
    assert (pid, held, len(jobs)) == (holder.pid, 2, 2) and "jsclient.py" in cmdline
    assert all(0 < before - start < 60e6 for _, start in jobs)
    [waiters] = call_json(system_bus, "GetWaiters")
    assert [(w[0], "jsclient.py" in w[1], w[3]) for w in waiters] == [(waiter.pid, True, 1)]
    assert get(system_bus, "Waiters") == "1"


def test_reclaim_tokens_takes_back_from_a_live_process(steve_on_bus, system_bus, clients):
    steve = steve_on_bus(2)
    stuck, waiter = clients(steve), clients(steve)
    fd = stuck.open()
    stuck.do("read", fd)
    stuck.do("read", fd)
    wait = waiter.send("read", waiter.open())
    steve.wait_state(waiting=1)
    assert call_json(system_bus, "ReclaimTokens", "u", str(stuck.pid)) == [2]
    assert waiter.result(wait) == ("ok", "+")
    # the stuck build returns its tokens later: accepted, nothing changes
    assert stuck.do("writen", fd, 2) == "2"
    st = steve.state()
    assert (st.available, st.held) == (1, 1)
    out = dbus_call(system_bus, "call", "ReclaimTokens", "u", "999999")
    assert out.startswith("err org.steve.Jobserver.Error.NoSuchProcess"), out


WATCHER = textwrap.dedent("""
    import sys, dbus, dbus.mainloop.glib
    from gi.repository import GLib
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    bus = dbus.bus.BusConnection(sys.argv[1])
    seen = []
    def changed(iface, props, invalidated):
        seen.append(dict(props))
    bus.add_signal_receiver(changed, signal_name="PropertiesChanged",
                            dbus_interface="org.freedesktop.DBus.Properties", path="/org/steve/Jobserver")
    loop = GLib.MainLoop()
    GLib.timeout_add(int(float(sys.argv[2]) * 1000), loop.quit)
    print("ready", flush=True)
    loop.run()
    print(len(seen))
    print(int(next((p["TokensAvailable"] for p in reversed(seen) if "TokensAvailable" in p), -1)))
""")

CHURN = textwrap.dedent("""
    import os, sys, time
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_NONBLOCK)
    end = time.monotonic() + float(sys.argv[2])
    n = 0
    while time.monotonic() < end:
        os.read(fd, 1); os.write(fd, b"+"); n += 1
    os.read(fd, 1)
    print(n, flush=True)
    time.sleep(30)  # holds that token until killed
""")


def test_properties_changed_is_coalesced_and_ends_on_the_final_state(steve_on_bus, system_bus):
    steve = steve_on_bus(3)
    watcher = subprocess.Popen([sys.executable, "-c", WATCHER, system_bus.address, "3.5"],
                               stdout=subprocess.PIPE, text=True)
    assert watcher.stdout.readline().strip() == "ready"
    churn = subprocess.Popen([sys.executable, "-c", CHURN, str(steve.path), "2"], stdout=subprocess.PIPE,
                             text=True)
    try:
        cycles = int(churn.stdout.readline())
        signals, last_available = (int(x) for x in watcher.communicate(timeout=30)[0].split())
    finally:
        churn.kill()
        churn.wait()
    assert cycles > 100, "the churn did too little to test coalescing"
    # 2 s of churn and up to 1.5 s of quiet: a handful, not thousands
    assert 1 <= signals <= 16, f"{signals} PropertiesChanged for {cycles} cycles"
    # the churn ended holding one token; the last signal says so
    assert last_available == 2


def test_steve_survives_the_bus_daemon_dying_and_comes_back(steve_on_bus, system_bus, clients):
    steve = steve_on_bus(2)
    system_bus.stop()
    c = clients(steve)
    fd = c.open("rdwr", "nonblock")
    assert c.do("read", fd) == "+"
    steve.wait_for_line("Lost the D-Bus connection")
    system_bus.start()
    wait_until(lambda: bus_up(system_bus), timeout=20, what="steve to reconnect")
    assert get(system_bus, "TokensHeld") == "1"


def test_without_a_bus_steve_says_so_once_and_serves(start_steve, clients):
    steve = start_steve(1)
    assert steve.log().count("D-Bus is off") == 1
    c = clients(steve)
    assert c.do("read", c.open()) == "+"
