"""The sandboxing policy (patches 0019, src/sandboxing.rs): what a unit runs without in a default container is
chosen (``-e NIXOS2DOCKER_SANDBOXING=degrade|strict``) and never silent.

A unit asks for ``PrivateUsers=`` and ``TemporaryFileSystem=`` over a secret that only the namespace would keep
from it (a root unit: outside its own user namespace, root's CAP_DAC_OVERRIDE reads a file of another owner;
``TemporaryFileSystem=`` would hide the directory). A second unit asks only for options upstream itself skips
without a mount namespace (``PrivateTmp=``, ``ProtectSystem=``).

- ``degrade`` (the default, no ``-e``): the unit runs and reads the secret — the loss is real — and the loss is
  named by ``systemctl status``, ``journalctl -u``, ``nixos2docker doctor`` and ``nixos2docker wait --json``;
  the record PID 1 keeps cannot be written by a service user.
- ``strict``: the unit is refused as upstream refuses it (217/USER or 226/NAMESPACE) and never reads the
  secret; the upstream-skipped unit still runs, and its skipped options are named.

``sandboxing-workload`` runs the workload image (integration/workload) under both policies: every unit the
default policy runs without an option upstream refuses to drop is listed by doctor and wait --json, and under
``strict`` exactly those units fail, as upstream, while every other unit stays active.
"""

from __future__ import annotations

import json

from harness.daemons import DAEMONS
from harness.docker import BOOTED_STATES
from harness.helpers import boot, journal, stop, unit_props, write_file
from harness.images import patched_versions
from harness.registry import scenario

PATCHED = tuple(kind for _, _, kind in patched_versions())
STRICT = ["-e", "NIXOS2DOCKER_SANDBOXING=strict"]
RECORDS = "/run/nixos2docker/degraded"

SECRET_DIR = "/srv/n2d-secret"
SECRET = "n2d-secret-7f3a"
# A root unit: only its own user namespace (PrivateUsers=) takes the container root's capabilities away, only
# the tmpfs (TemporaryFileSystem=) hides the directory. It says whether it could read the secret.
PROBE = "n2d-sandbox.service"
PROBE_UNIT = f"""[Unit]
Description=nixos2docker sandboxing probe (PrivateUsers= and TemporaryFileSystem= over a secret)

[Service]
PrivateUsers=yes
TemporaryFileSystem={SECRET_DIR}:ro
ExecStart=/bin/sh -c 'if cat {SECRET_DIR}/key; then echo "secret readable"; else echo "secret hidden"; fi; exec sleep infinity'
"""
# Only options upstream skips silently when the mount namespace cannot be made.
SKIPPER = "n2d-skipped.service"
SKIPPER_UNIT = """[Service]
PrivateTmp=yes
ProtectSystem=full
ExecStart=/bin/sleep infinity
"""
DROPPED = ("PrivateUsers=", "TemporaryFileSystem=")
SKIPPED = ("PrivateTmp=", "ProtectSystem=")
REFUSED = ("status=217/USER", "status=226/NAMESPACE")


def _setup(ctx, c, r) -> bool:
    ok = ctx.docker.exec(c, ["sh", "-c", f"mkdir -p {SECRET_DIR} && echo {SECRET} > {SECRET_DIR}/key && "
                             f"chown -R 1000:1000 {SECRET_DIR} && chmod 0700 {SECRET_DIR} && "
                             f"chmod 0600 {SECRET_DIR}/key"], timeout=30, expect=None).returncode == 0
    for name, text in ((PROBE, PROBE_UNIT), (SKIPPER, SKIPPER_UNIT)):
        ok = ok and write_file(ctx, c, f"/etc/systemd/system/{name}", text).returncode == 0
    p = ctx.docker.exec(c, ["systemctl", "daemon-reload"], timeout=60, expect=None)
    r.check("probe units and the secret (uid 1000, 0600) installed", ok and p.returncode == 0, p.output()[-300:])
    return ok


def _listed(j: dict) -> dict:
    """unit -> its entry in wait --json's list of running units that lost sandboxing."""
    return {e.get("unit"): e for e in (j.get("sandboxing") or {}).get("units", []) if isinstance(e, dict)}


def _wait_json(ctx, c, r) -> dict:
    p = ctx.docker.exec(c, ["nixos2docker", "wait", "--timeout", "0", "--json"], timeout=60, expect=None)
    try:
        return json.loads(p.stdout)
    except ValueError:
        r.check("nixos2docker wait --json prints JSON", False, p.output()[-400:])
        return {}


def _named(text: str, options) -> list:
    return [o for o in options if o not in text]


def _policy_reported(ctx, c, r, policy: str) -> None:
    p = ctx.docker.exec(c, ["cat", "/run/nixos2docker/sandboxing"], timeout=30, expect=None)
    r.check(f"the init wrote the policy {policy} for PID 1", p.stdout.strip() == policy, p.output()[-200:])
    j = _wait_json(ctx, c, r)
    r.check(f"wait --json reports the policy {policy}", json.dumps(j.get("sandboxing", {})).count(f'"{policy}"') > 0,
            json.dumps(j.get("sandboxing"))[-300:])


@scenario("sandboxing", images=PATCHED, order=134,
          doc="policy degrade (default): a root unit with PrivateUsers= + TemporaryFileSystem= runs without them "
              "(reads a secret) and systemctl status, journalctl -u, doctor and wait --json name the options; "
              "policy strict (-e NIXOS2DOCKER_SANDBOXING=strict): the unit is refused as upstream (217/226), "
              "an upstream-skipped unit still runs with its options named")
def sandboxing(ctx, img, r):
    # --- degrade (no -e: the default) ---
    c, r.boot_s, state = boot(ctx, img, r, ctx.TMPFS_FLAGS, label="degrade")
    if state not in BOOTED_STATES:
        return
    _policy_reported(ctx, c, r, "degrade")
    if _setup(ctx, c, r):
        for unit in (PROBE, SKIPPER):
            p = ctx.docker.exec(c, ["systemctl", "start", unit], timeout=60, expect=None)
            r.check(f"degrade: {unit} starts", p.returncode == 0, p.output()[-300:])
        out = journal(ctx, c, "-u", PROBE, until=lambda o: "secret " in o and not _named(o, DROPPED))
        r.check("degrade: the unit ran without its namespaces (it read the secret)",
                SECRET in out and "secret readable" in out, out[-400:])
        r.check("degrade: journalctl -u names PrivateUsers= and TemporaryFileSystem=", not _named(out, DROPPED),
                f"missing {_named(out, DROPPED)}: {out[-500:]}")
        st = ctx.docker.exec(c, ["systemctl", "status", "--no-pager", PROBE], timeout=30, expect=None).stdout
        r.check("degrade: systemctl status names PrivateUsers= and TemporaryFileSystem=", not _named(st, DROPPED),
                st[-600:])
        out = journal(ctx, c, "-u", SKIPPER, until=lambda o: not _named(o, SKIPPED))
        r.check("degrade: journalctl -u names the options upstream skips (PrivateTmp=, ProtectSystem=)",
                not _named(out, SKIPPED) and "upstream" in out, out[-400:])

        inv = unit_props(ctx, c, PROBE, ["InvocationID"]).get("InvocationID", "")
        rec = ctx.docker.exec(c, ["cat", f"{RECORDS}/{PROBE}"], timeout=30, expect=None).stdout
        r.check("degrade: PID 1's record names the invocation and the dropped options",
                f"INVOCATION_ID={inv}" in rec and bool(inv) and not _named(rec, DROPPED), rec[-300:])
        p = ctx.docker.exec(c, ["sh", "-c", f"echo x > {RECORDS}/forged.service"], timeout=30,
                            flags=["-u", "65534:65534"], expect=None)
        r.check("a service user cannot write a record", p.returncode != 0, p.output()[-200:])

        p = ctx.docker.exec(c, ["nixos2docker", "doctor"], timeout=60, expect=None)
        doc = p.stdout
        r.check("degrade: doctor exits 0 and lists the unit with PrivateUsers= and TemporaryFileSystem=",
                p.returncode == 0 and PROBE in doc and not _named(doc, DROPPED), p.output()[-800:])
        r.check("degrade: doctor lists the unit whose options upstream skips too",
                SKIPPER in doc and not _named(doc, SKIPPED), doc[-800:])
        r.check("degrade: doctor names the fix to refuse instead (NIXOS2DOCKER_SANDBOXING=strict)",
                "NIXOS2DOCKER_SANDBOXING=strict" in doc, doc[-800:])
        r.evidence(doc, "nixos2docker doctor (degrade)")
        j = _wait_json(ctx, c, r)
        listed = _listed(j).get(PROBE)
        r.check("degrade: wait --json lists the unit with both dropped options",
                listed is not None and not _named(" ".join(listed.get("dropped", [])), DROPPED),
                json.dumps(j.get("sandboxing"))[-500:])
        ctx.docker.exec(c, ["systemctl", "stop", PROBE], timeout=60, expect=None)
        j = _wait_json(ctx, c, r)
        r.check("degrade: a stopped unit is no longer listed by wait --json", PROBE not in _listed(j),
                json.dumps(j.get("sandboxing"))[-300:])
    stop(ctx, c, r, check="docker stop → exit 0 (degrade)")

    # --- strict ---
    c, _, state = boot(ctx, img, r, ctx.TMPFS_FLAGS + STRICT, label="strict")
    if state not in BOOTED_STATES:
        return
    _policy_reported(ctx, c, r, "strict")
    if _setup(ctx, c, r):
        p = ctx.docker.exec(c, ["systemctl", "start", PROBE], timeout=60, expect=None)
        out = journal(ctx, c, "-u", PROBE, until=lambda o: any(s in o for s in REFUSED))
        refused = [s for s in REFUSED if s in out]
        state = unit_props(ctx, c, PROBE, ["ActiveState"]).get("ActiveState")
        r.check("strict: the unit is refused as upstream refuses it (217/USER or 226/NAMESPACE)",
                bool(refused) and state != "active", p.output()[-200:] + out[-400:])
        r.check("strict: the secret was never read", SECRET not in out and "secret readable" not in out, out[-300:])
        p = ctx.docker.exec(c, ["systemctl", "start", SKIPPER], timeout=60, expect=None)
        r.check("strict: a unit with only options upstream skips runs", p.returncode == 0, p.output()[-300:])
        out = journal(ctx, c, "-u", SKIPPER, until=lambda o: not _named(o, SKIPPED))
        r.check("strict: journalctl -u names the skipped options", not _named(out, SKIPPED), out[-400:])
        p = ctx.docker.exec(c, ["nixos2docker", "doctor"], timeout=60, expect=None)
        r.check("strict: doctor lists the unit whose options upstream skips", SKIPPER in p.stdout
                and not _named(p.stdout, SKIPPED), p.output()[-800:])
        j = _wait_json(ctx, c, r)
        r.check("strict: wait --json lists the skipped unit, not the refused one",
                SKIPPER in _listed(j) and PROBE not in _listed(j), json.dumps(j.get("sandboxing"))[-500:])
        r.evidence(p.stdout, "nixos2docker doctor (strict)")
    stop(ctx, c, r, check="docker stop → exit 0 (strict)")


# --- the workload image under both policies ----------------------------------------------------------------

# The workload image kinds (integration/scenarios/workload.py names them so), one per patched version.
WORKLOAD = tuple(f"{kind.removesuffix('-patched')}-workload-patched" for _, _, kind in patched_versions())
NEEDS = ("Id", "PrivateUsers", "PrivateUsersEx", "DynamicUser", "TemporaryFileSystem", "BindPaths",
         "BindReadOnlyPaths", "ProtectControlGroupsEx")


def _units(ctx, c, *states) -> list:
    p = ctx.docker.exec(c, ["systemctl", "list-units", "--type=service", "--no-legend", "--plain", "--all",
                            "--state=" + ",".join(states)], timeout=30, expect=None)
    return sorted(ln.split()[0] for ln in p.stdout.splitlines() if ln.split())


def _moved_binds(value: str) -> bool:
    """A BindPaths=/BindReadOnlyPaths= value (`SRC:DST:OPTS …`) with a bind that moves files (SRC ≠ DST)."""
    for entry in value.split():
        parts = entry.lstrip("-").split(":")
        if len(parts) >= 2 and parts[0] != parts[1]:
            return True
    return False


def needy(props: dict) -> list:
    """The options of one unit (systemctl show NEEDS) that upstream refuses to run without in a container that
    refuses namespaces — what `degrade` drops and `strict` refuses."""
    out = []
    if props.get("PrivateUsers") == "yes" or props.get("PrivateUsersEx", "no") not in ("no", ""):
        out.append("PrivateUsers=")
    if props.get("DynamicUser") == "yes":
        out.append("DynamicUser=")
    if props.get("TemporaryFileSystem"):
        out.append("TemporaryFileSystem=")
    if _moved_binds(props.get("BindPaths", "")):
        out.append("BindPaths=")
    if _moved_binds(props.get("BindReadOnlyPaths", "")):
        out.append("BindReadOnlyPaths=")
    if props.get("ProtectControlGroupsEx") in ("private", "strict"):
        out.append("ProtectControlGroups=")
    return out


def _needy_units(ctx, c, units) -> dict:
    """unit -> the options it needs that the container refuses (units needing none are left out)."""
    if not units:
        return {}
    p = ctx.docker.exec(c, ["systemctl", "show", "-p", ",".join(NEEDS), *units], timeout=60, expect=None)
    found = {}
    for block in p.stdout.split("\n\n"):
        props = dict(ln.split("=", 1) for ln in block.splitlines() if "=" in ln)
        opts = needy(props)
        if props.get("Id") and opts:
            found[props["Id"]] = opts
    return found


def _wake(ctx, c) -> None:
    """One request to every socket-activated daemon of the workload (journal-gatewayd, a DynamicUser= unit),
    so that the units started on demand are judged too."""
    for d in DAEMONS:
        if d.socket:
            ctx.docker.exec(c, ["sh", "-c", d.request], timeout=30, expect=None)


@scenario("sandboxing-workload", images=WORKLOAD, order=201,
          doc="the workload image under both policies: with degrade (default) doctor and wait --json list "
              "exactly the running units that need what the container refuses (PrivateUsers=, DynamicUser=, "
              "Bind*Paths=, TemporaryFileSystem=, ProtectControlGroups=private); with strict exactly those "
              "fail as upstream (217/USER, 226/NAMESPACE) and every other unit stays active")
def sandboxing_workload(ctx, img, r):
    c, r.boot_s, state = boot(ctx, img, r, ctx.TMPFS_FLAGS, label="degrade", timeout=180)
    if state not in BOOTED_STATES:
        return
    _wake(ctx, c)
    active = _units(ctx, c, "active", "activating", "reloading")
    need = _needy_units(ctx, c, active)
    r.extra["needy_units"] = need
    r.evidence("\n".join(f"{u}: {' '.join(o)}" for u, o in sorted(need.items())) or "(none)",
               "running units that need what the container refuses")
    r.check("degrade: the workload runs units that need what the container refuses", bool(need), " ".join(active))
    j = _wait_json(ctx, c, r)
    listed = _listed(j)
    wrong = {u: need[u] for u in need if u not in listed or _named(json.dumps(listed[u]), need[u])}
    extra = sorted(u for u, e in listed.items() if u not in need and e.get("dropped"))
    r.check("degrade: wait --json lists each of them with the options dropped, and no other unit as dropping one",
            not wrong and not extra, f"missing or incomplete: {wrong}; listed as dropping without need: {extra}")
    p = ctx.docker.exec(c, ["nixos2docker", "doctor"], timeout=60, expect=None)
    r.check("degrade: doctor exits 0 and names each of them", p.returncode == 0 and all(u in p.stdout for u in need),
            f"not named: {[u for u in need if u not in p.stdout]}\n{p.output()[-800:]}")
    r.evidence(p.stdout, "nixos2docker doctor (degrade)")
    stop(ctx, c, r, check="docker stop → exit 0 (degrade)")

    c, _, state = boot(ctx, img, r, ctx.TMPFS_FLAGS + STRICT, label="strict", timeout=180,
                       allow_failed=tuple(need))
    if state not in BOOTED_STATES:
        return
    _policy_reported(ctx, c, r, "strict")
    _wake(ctx, c)
    now = set(_units(ctx, c, "active", "activating", "reloading"))
    for unit in sorted(need):
        out = journal(ctx, c, "-u", unit, until=lambda o: any(s in o for s in REFUSED))
        r.check(f"strict: {unit} ({' '.join(need[unit])}) is refused as upstream refuses it",
                unit not in now and any(s in out for s in REFUSED), out[-400:])
    lost = sorted(u for u in active if u not in need and u not in now)
    r.check("strict: every other unit that ran under degrade runs", not lost, " ".join(lost))
    j = _wait_json(ctx, c, r)
    dropping = sorted(u for u, e in _listed(j).items() if e.get("dropped"))
    r.check("strict: wait --json lists no running unit that dropped an option", not dropping, " ".join(dropping))
    stop(ctx, c, r, check="docker stop → exit 0 (strict)")
