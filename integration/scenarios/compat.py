"""The compatibility matrix for STOCK systemd (the patched image's modes are the core scenarios): on every
engine, each way a user might start a stock image, with its measured verdict (README, "Compatibility").

  docker engines: --security-opt writable-cgroups=true (+ the 3 --tmpfs flags) — boots on Docker >= 28, refused
                  by older daemons; the insecure --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw — boots
  podman engines: --systemd=always — boots; writable-cgroups does not exist there
  user-namespaced engines (harness.userns): none boots; harness.anchors.ANCHORS has each refusal or exit
"""

from __future__ import annotations

from harness.docker import BOOTED_STATES
from harness.helpers import boot
from harness.registry import add_core, scenario
from harness.util import HarnessError
from harness.anchors import stock_anchors

WCG = ["--security-opt", "writable-cgroups=true"]


def _boot_and_stop(ctx, img, r, flags, mode: str) -> str:
    c, dt, state = boot(ctx, img, r, flags, label=mode)
    if state not in BOOTED_STATES:
        return f"no boot ({state})"
    s, code = ctx.docker.timed_stop(c)
    r.check(f"{mode}: stop with the image's StopSignal → exit 0", code == 0, f"exit {code} after {s:.2f}s")
    return f"boots ({dt:.2f} s), stop exit {code} ({s:.2f} s)"


@scenario("compat", images=["sid"], order=88,
          doc="stock systemd's ways in, per engine: Docker — writable-cgroups (boots on >= 28, refused before) "
              "and the insecure --cgroupns=host rw mount (boots); podman — --systemd=always (boots); each booted "
              "one stops with exit 0; the verdicts are recorded (extra.verdicts) for the README's table")
def compat(ctx, img, r):
    verdicts = {}
    if ctx.engine.userns:  # nothing lets stock systemd write a cgroup there: the exact refusal or exit
        verdicts = stock_anchors(ctx, img, r)
    elif ctx.engine.is_podman:
        verdicts["podman --systemd=always"] = _boot_and_stop(ctx, img, r, ["--systemd=always"], "systemd=always")
    else:
        flags = ctx.TMPFS_FLAGS + WCG
        if ctx.engine.version_at_least(28):
            verdicts["writable-cgroups"] = _boot_and_stop(ctx, img, r, flags, "writable-cgroups")
        else:
            try:
                c, t0 = ctx.docker.run_detached(img, flags)
                refused, why = False, f"accepted: {ctx.docker.state(c).get('Status')}"
            except HarnessError as e:
                refused, why = True, str(e).strip().splitlines()[-1]
            r.check(f"writable-cgroups refused by Docker {ctx.engine.version} (< 28)", refused, why)
            verdicts["writable-cgroups"] = f"refused: {why[:120]}"
        verdicts["insecure rw mount"] = _boot_and_stop(ctx, img, r, ctx.TMPFS_FLAGS + ctx.STOCK_RW_FLAGS,
                                                       "insecure rw")
    r.extra["verdicts"] = verdicts
    r.note("; ".join(f"{k}: {v}" for k, v in verdicts.items()))


add_core("compat@sid")
