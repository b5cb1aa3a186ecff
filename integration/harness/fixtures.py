"""--capture-fixtures: run `nixos2docker capture` inside each container kind and write
tests/fixtures/<kind>.json (one JSON object each, as printed by capture, re-indented)."""

from __future__ import annotations

import json
import os
import time

from .helpers import in_container, privileged, privileged_runtime, wait_booted
from .images import STOCK_RW_FLAGS, TMPFS_FLAGS
from .report import Result
from .util import HarnessError, Skip, log

FIXTURE_IMAGE_KIND = "sid"


def fixture_kinds(ctx) -> list:
    """(name, flags, volumes-image?, note) for every container kind."""
    emptydir = None

    def k8s_flags():
        nonlocal emptydir
        if emptydir is None:
            emptydir = ctx.mkdtemp("n2d-emptydir-")
            for sub in ("run", "tmp"):
                os.makedirs(os.path.join(emptydir, sub), mode=0o777)
                os.chmod(os.path.join(emptydir, sub), 0o1777 if sub == "tmp" else 0o755)
        return ["-v", f"{emptydir}/run:/run", "-v", f"{emptydir}/tmp:/tmp"]

    wcg = []
    if ctx.engine is not None and ctx.engine.is_docker and ctx.engine.version_at_least(28):
        wcg = [("writable-cgroups", lambda: TMPFS_FLAGS + ["--security-opt", "writable-cgroups=true"], True,
                "Docker >= 28 --security-opt writable-cgroups=true + tmpfs flags")]
    return wcg + [
        ("docker-default", lambda: list(TMPFS_FLAGS), True, "only the 3 --tmpfs flags"),
        ("privileged", lambda: ["--privileged"] + TMPFS_FLAGS + privileged_runtime(ctx), True,
         "--privileged + tmpfs flags" + (" (runtime n2d-hostcaps: capabilities this host lacks "
                                         "removed)" if privileged_runtime(ctx) else "")),
        ("cgroupns-host", lambda: TMPFS_FLAGS + STOCK_RW_FLAGS, True,
         "--cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw + tmpfs flags"),
        ("read-only", lambda: ["--read-only"] + TMPFS_FLAGS, True, "--read-only + tmpfs flags"),
        ("no-tmpfs", lambda: [], False, "no flags, image without VOLUMEs: /run is not a mount"),
        ("image-volumes", lambda: [], True, "no flags: /run, /run/lock, /tmp are the image's anonymous volumes"),
        ("init-flag", lambda: ["--init"] + TMPFS_FLAGS, True, "--init: capture runs as pid 2 under docker-init"),
        ("user-flag", lambda: ["--user", "1000"] + TMPFS_FLAGS, True, "--user 1000 + tmpfs flags"),
        ("k8s-emptydir", k8s_flags, False,
         "image without VOLUMEs; /run and /tmp bind mounts of host dirs (like Kubernetes emptyDir)"),
    ]


def capture_podman(ctx, r):
    """podman-systemd: rootful `podman run --systemd=always` (see harness/podman.py)."""
    pm = ctx.podman()
    img = ctx.image(FIXTURE_IMAGE_KIND)
    r.image = img.tag
    tag = pm.load(img)
    return pm.run_once(tag, ["--systemd=always", "--entrypoint", "/usr/local/bin/nixos2docker"],
                       ["capture"], timeout=60, expect=None), img


# Captured from `docker exec` next to a booted container (not as PID 1): what doctor and wait see there.
RELAY_FIXTURE = "running/relay"


def capture_relay(ctx, r):
    """running/relay: stock systemd behind the init (relay mode, --privileged), booted; capture runs where
    `docker exec` lands (harness.helpers.in_container)."""
    img = ctx.image(FIXTURE_IMAGE_KIND)
    r.image = img.tag
    c, t0 = ctx.docker.run_detached(img, privileged(ctx))
    _, state = wait_booted(ctx, c, t0)
    r.check("booted behind the relay", state == "running", f"state {state}")
    return in_container(ctx, c, ["nixos2docker", "capture"], timeout=60), img


def engine_fixture_kinds(ctx) -> list:
    """On a podman or user-namespaced engine, the containers a user starts there, named after the engine:
    ENGINE-default (the 3 --tmpfs flags) and, on podman, ENGINE-systemd (--systemd=always)."""
    e = ctx.engine
    what = f"{e.name} ({e.spec.description})"
    kinds = [(f"{e.name}-default", lambda: list(TMPFS_FLAGS), True, f"only the 3 --tmpfs flags on {what}")]
    if e.is_podman:
        kinds.append((f"{e.name}-systemd", lambda: ["--systemd=always"], True, f"--systemd=always on {what}"))
    return kinds


def capture_all(ctx) -> list:
    results = []
    out_dir = ctx.args.fixtures_dir
    os.makedirs(out_dir, exist_ok=True)
    if ctx.engine is not None and (ctx.engine.is_podman or ctx.engine.userns):
        kinds = engine_fixture_kinds(ctx)
    else:
        kinds = fixture_kinds(ctx) + [("podman-systemd", None, True,
                                        "rootful podman run --systemd=always --network=none "
                                        "--pids-limit=-1"),
                                       (RELAY_FIXTURE, None, True, "stock systemd booted behind the init "
                                        "(--privileged, relay mode), captured where docker exec lands")]
    for name, flags_fn, volumes, note in kinds:
        r = Result(f"capture:{name}", "capture", name, engine=getattr(ctx, "engine_name", None))
        t0 = time.monotonic()
        try:
            if name == RELAY_FIXTURE:
                p, img = capture_relay(ctx, r)
            elif flags_fn is None:
                p, img = capture_podman(ctx, r)
            else:
                img = ctx.image(FIXTURE_IMAGE_KIND, volumes=volumes)
                r.image = img.tag
                flags = ["--entrypoint", "/usr/local/bin/nixos2docker"] + flags_fn()
                p = ctx.docker.run_once(img, flags, ["capture"], timeout=60, expect=None)
            r.exit_code = p.returncode
            r.evidence(p.stderr, "stderr")
            if r.check("capture exits 0", p.returncode == 0, p.output()[-500:]):
                try:
                    doc = json.loads(p.stdout)
                except ValueError as e:
                    doc = None
                    r.check("capture prints one JSON object", False, f"{e}: {p.stdout[:200]!r}")
                if isinstance(doc, dict):
                    r.check("capture prints one JSON object", True)
                    if not doc.get("description"):
                        doc["description"] = (f"{name}: {note}; captured by integration/run "
                                              f"--capture-fixtures on {ctx.engine.name} "
                                              f"{ctx.engine.version} (cgroup v"
                                              f"{ctx.engine.facts.get('cgroup_version')}), image "
                                              f"{img.kind.name}")
                    path = os.path.join(out_dir, f"{name}.json")
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    with open(path + ".tmp", "w") as f:
                        json.dump(doc, f, indent=2, sort_keys=True)
                        f.write("\n")
                    os.replace(path + ".tmp", path)
                    r.note(f"{note} → {os.path.relpath(path, ctx.repo)}")
                    log(f"wrote {path}")
        except Skip as e:
            r.status, r.reason = "skipped", str(e)
        except HarnessError as e:
            r.reason = str(e)
        finally:
            r.seconds = time.monotonic() - t0
            r.finish()
            if ctx.docker is not None:
                ctx.docker.remove_tracked()
            if ctx._podman is not None:
                ctx._podman.remove_tracked()
        results.append(r)
    return results
