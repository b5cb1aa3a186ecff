"""Stock systemd's ways in on the user-namespaced engines (harness.userns): there, a container's root is
not the host's root, so the host's cgroup tree is never writable from inside.  The compat scenario records
each way in as it is refused, fails or boots, and asserts exactly that outcome (``ANCHORS``): Docker
refuses writable-cgroups in a user namespace (rootless or --userns-remap); the insecure host cgroup mount
is read-only there (our init exits 15); rootless podman without a user systemd session cannot delegate a
cgroup (--systemd=always: exit 15); rootful podman with --userns=auto delegates one (boots)."""

from __future__ import annotations

from . import contract as C
from .docker import BOOTED_STATES
from .util import HarnessError

WCG = ["--security-opt", "writable-cgroups=true"]
WCG_REFUSED = "conflicts with user namespaces and rootless mode"

# (engine kind, userns) → [(way in, flags (see _flags), expected outcome)]
# outcomes: ("refused", words of the engine's error), ("exit", code of the init), ("boots", None)
ANCHORS = {
    ("docker", "remap"): [
        ("writable-cgroups", "wcg", ("refused", WCG_REFUSED)),
        ("insecure rw mount", "rw", ("exit", C.EXIT_STOCK_RO_CGROUP)),
    ],
    ("docker", "rootless"): [
        ("writable-cgroups", "wcg", ("refused", WCG_REFUSED)),
        ("insecure rw mount", "rw", ("exit", C.EXIT_STOCK_RO_CGROUP)),
    ],
    ("podman", "rootless"): [
        ("podman --systemd=always", "systemd", ("exit", C.EXIT_STOCK_RO_CGROUP)),
    ],
    ("podman", "auto"): [  # rootful podman hands the container's root its cgroup (mapped owner)
        ("podman --systemd=always", "systemd", ("boots", None)),
    ],
}


def _flags(ctx, which: str) -> list:
    return {"wcg": ctx.TMPFS_FLAGS + WCG, "rw": ctx.TMPFS_FLAGS + ctx.STOCK_RW_FLAGS,
            "systemd": ["--systemd=always"]}[which]


def observe(ctx, img, r, flags, label: str) -> tuple:
    """Start IMG with FLAGS; the outcome: ("refused", engine error), ("exit", code) or ("boots", state)."""
    try:
        c, t0 = ctx.docker.run_detached(img, flags)
    except HarnessError as e:  # the engine's own words: the line of its error that says why
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        return "refused", next((ln for ln in lines if WCG_REFUSED in ln), lines[-1] if lines else "")
    dt, state = ctx.docker.wait_booted(c, t0, timeout=60)
    if state in BOOTED_STATES:
        s, code = ctx.docker.timed_stop(c)
        r.check(f"{label}: stop with the image's StopSignal → exit 0", code == 0, f"exit {code} after {s:.2f}s")
        return "boots", f"{state} in {dt:.2f} s, stop exit {code} ({s:.2f} s)"
    r.evidence(ctx.docker.logs(c, tail=40), f"logs ({label})")
    code = ctx.docker.wait_exit(c, timeout=30)
    return ("exit", code) if code is not None else ("hangs", state)


def stock_anchors(ctx, img, r) -> dict:
    """Run every way in of this engine (ANCHORS) and check its exact outcome; returns the verdicts."""
    verdicts = {}
    for label, which, (kind, want) in ANCHORS[(ctx.engine.kind, ctx.engine.userns)]:
        got_kind, got = observe(ctx, img, r, _flags(ctx, which), label)
        if kind == "refused":
            ok = got_kind == "refused" and want in got
            expect = f"refused ({want})"
        elif kind == "exit":
            ok = got_kind == "exit" and got == want
            expect = f"exit {want}"
        else:
            ok = got_kind == "boots"
            expect = "boots"
        r.check(f"{label}: {expect} in a user namespace ({ctx.engine.userns})", ok, f"{got_kind}: {got}")
        verdicts[label] = f"{got_kind}: {str(got)[:160]}"
    return verdicts


# The init's and doctor's fix for stock systemd on a read-only cgroup fs, exactly, per engine (kind, userns)
# where it differs from Docker's own (src/checks.rs stock_remedy): only the ways that engine accepts.
_PATCHED_ONLY = "use an image with nixos2docker's patched systemd: it is the only way here. "
STOCK_REMEDY = {
    ("docker", "remap"): _PATCHED_ONLY + (
        "In a user namespace (rootless Docker, --userns-remap) Docker refuses `--security-opt "
        "writable-cgroups=true` (\"conflicts with user namespaces and rootless mode\"), and the host's cgroup fs "
        "stays read-only for the container's root even with `--cgroupns=host -v "
        "/sys/fs/cgroup:/sys/fs/cgroup:rw`"),
    ("podman", "rootless"): _PATCHED_ONLY + (
        "Rootless podman gives stock systemd a writable cgroup (`--systemd=always`) only when it runs in a "
        "systemd user session that delegates one (cgroup manager systemd), and this container got none; the "
        "host's cgroup fs is read-only from a user namespace"),
    ("podman", ""): ("use an image with nixos2docker's patched systemd; or run it with `podman run "
                     "--systemd=always` (rootful podman delegates the container's own cgroup, also with "
                     "--userns=auto)"),
}
STOCK_REMEDY[("docker", "rootless")] = STOCK_REMEDY[("docker", "remap")]
STOCK_REMEDY[("podman", "auto")] = STOCK_REMEDY[("podman", "")]


def stock_remedy(engine):
    """The exact fix the init and doctor name for stock systemd on ENGINE, or None on Docker without a
    user namespace (there, the scenarios check each of its remedies by name)."""
    return STOCK_REMEDY.get((engine.kind, engine.userns))
