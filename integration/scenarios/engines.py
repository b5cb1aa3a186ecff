"""The CORE: scenario instances that run on every engine of harness.engines (``integration/run --engine
all``), not only on the default one — boot, logs, stop, exit code, restart, zero flags (patched systemd,
the product's main path) and the init's / doctor's verdict on stock systemd (Docker ≥ 28 and podman
change what the right advice is).  Other modules add theirs with ``add_core("NAME@KIND")``."""

from harness.registry import add_core

add_core(
    "patched-boot@sid-patched",
    "patched-logs@sid-patched",
    "patched-stop@sid-patched",
    "patched-exit-code@sid-patched",
    "restart@sid-patched",
    "patched-zero-flags@sid-patched",
    "stock-ro@sid",
    "doctor@sid",
)
