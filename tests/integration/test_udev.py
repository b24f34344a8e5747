"""udev/70-steve.rules on a real CUSE device (the VM tier): udevadm test
applies the rule to steve's device and the node ends up group jobserver,
mode 0660. Runs in a private mount namespace with the rule, a group file
that has a jobserver group and udev's runtime directory all on tmpfs or
bind mounts, so the machine's udev setup is untouched."""
import os
import subprocess

import pytest

from conftest import ROOT

JOBSERVER_GID = 4242


def test_udev_rule_gives_the_jobserver_group_the_device(transport, start_steve, tmp_path):
    if transport != "cuse":
        pytest.skip("udev rules apply to CUSE devices; the FUSE node's permissions are steve's")
    steve = start_steve(2)
    os.chmod(steve.path, 0o600)
    group = tmp_path / "group"
    group.write_text(open("/etc/group").read() + f"jobserver:x:{JOBSERVER_GID}:\n")
    script = f"""
        set -e
        mkdir -p /run/udev
        mount -t tmpfs tmpfs /run/udev
        mkdir /run/udev/rules.d
        cp {ROOT}/udev/70-steve.rules /run/udev/rules.d/
        mount --bind {group} /etc/group
        if [ -d /dev/char ]; then mount -t tmpfs tmpfs /dev/char; fi
        udevadm test --action=add /sys/class/cuse/{steve.path.name}
    """
    r = subprocess.run(["unshare", "--mount", "sh", "-c", script], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "70-steve.rules" in r.stdout + r.stderr
    st = os.stat(steve.path)
    assert (st.st_gid, st.st_mode & 0o777) == (JOBSERVER_GID, 0o660)
