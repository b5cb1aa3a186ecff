"""The OCI runtime wrappers the harness registers with its engines (see each script's docstring), and whether
this host needs the capability one."""

from __future__ import annotations

import os

_HERE = os.path.dirname(os.path.abspath(__file__))
# runtime `n2d-hostcaps`: drops from the OCI config the capabilities this host's bounding set lacks
HOSTCAPS_RUNTIME = os.path.join(_HERE, "runc-hostcaps")
# runtime `n2d-crun`: crun refuses resources whose cgroup2 controller is missing (this host's cgroup2 has
# none but hugetlb); the wrapper drops those entries and execs crun
CRUN_RUNTIME = os.path.join(_HERE, "crun-hostcgroup")


def host_lacks_caps() -> bool:
    """True when this host's own bounding set lacks capabilities the kernel knows."""
    try:
        last = int(open("/proc/sys/kernel/cap_last_cap").read())
        with open("/proc/self/status") as f:
            bnd = int([ln for ln in f if ln.startswith("CapBnd:")][0].split()[1], 16)
    except (OSError, ValueError, IndexError):
        return False
    return bnd != (1 << (last + 1)) - 1
