"""podman --systemd=always: the remedy the init names for stock systemd on a read-only cgroup fs."""

from __future__ import annotations

from harness.docker import BOOTED_STATES, DOCKER_DEFAULT_CAPEFF, mask_names
from harness.helpers import failed_units, stop
from harness.registry import scenario


@scenario("podman-boot", images=("sid", "trixie"), order=70,
          doc="the remedy named by the init: stock systemd boots through our init under rootful "
              "`podman run --systemd=always` (no --tmpfs, no cgroup flags) to running; PID 1 has no "
              "capability beyond Docker's default set; `podman stop` exits 0")
def podman_boot(ctx, img, r):
    pm = ctx.podman()
    r.extra["podman"] = pm.version
    tag = pm.load(img)
    c, t0 = pm.run_detached(tag, ["--systemd=always"])
    r.boot_s, state = pm.wait_booted(c, t0, timeout=90)
    r.check("boots to running", state == "running", f"state {state} after {r.boot_s:.2f}s")
    logs = pm.logs(c, tail=40)
    if state in BOOTED_STATES:
        r.extra["failed_units"] = failed_units(ctx, c, client=pm)
        got = pm.capeff(c)
        extra = mask_names((got or 0) & ~DOCKER_DEFAULT_CAPEFF)
        r.extra["capeff"] = None if got is None else f"{got:016x}"
        r.check("CapEff of PID 1 ⊆ Docker's default set", got is not None and not extra,
                f"CapEff {got:016x}" + (f"; beyond Docker's default: {extra}" if extra else "")
                if got is not None else "could not read /proc/1/status")
    stop(ctx, c, r, "podman stop → exit 0", client=pm)
    r.evidence(logs, "podman logs")
