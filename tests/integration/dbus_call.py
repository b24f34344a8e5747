#!/usr/bin/python3
"""Calls steve over D-Bus and prints "ok VALUE" or "err ERROR.NAME message".

    dbus_call.py ADDRESS set PROPERTY TYPE VALUE
    dbus_call.py ADDRESS call METHOD [TYPE VALUE]...
"""
import sys

import dbus

TYPES = {"u": dbus.UInt32, "t": dbus.UInt64, "d": dbus.Double, "b": lambda v: dbus.Boolean(v == "true"),
         "s": dbus.String}

address, what, name, *rest = sys.argv[1:]
obj = dbus.bus.BusConnection(address).get_object("org.steve.Jobserver", "/org/steve/Jobserver")
try:
    if what == "set":
        kind, value = rest
        dbus.Interface(obj, "org.freedesktop.DBus.Properties").Set(
            "org.steve.Jobserver", name, TYPES[kind](float(value) if kind == "d" else value)
            if kind != "u" and kind != "t" else TYPES[kind](int(value)))
        print("ok")
    else:
        args = [TYPES[kind](int(value)) for kind, value in zip(rest[0::2], rest[1::2])]
        print("ok", getattr(dbus.Interface(obj, "org.steve.Jobserver"), name)(*args))
except dbus.DBusException as e:
    print("err", e.get_dbus_name(), e.get_dbus_message())
