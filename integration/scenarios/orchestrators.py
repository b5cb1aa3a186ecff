"""The repository's orchestrator examples, run as a user runs them: examples/compose/compose.yaml under
Debian's docker-compose v2 plugin (Docker 28 engine), examples/kubernetes/pod.yaml under `podman kube
play`/`kube down` (podman 5.8 engine).  The examples are used unchanged; the harness only names the image
(compose: NIXOS2DOCKER_IMAGE; pod: the image line of a copy) and, for compose, adds an override file with
`network_mode: none` (the harness's engines run without networking)."""

from __future__ import annotations

import json
import os
import re
import time

from harness.docker import BOOTED_STATES, Container
from harness.helpers import failed_units
from harness.registry import scenario
from harness.util import HarnessError

COMPOSE_FILE = "examples/compose/compose.yaml"
POD_FILE = "examples/kubernetes/pod.yaml"


def _compose(ctx, project: str, files, args, timeout=180, env=None):
    cmd = ["compose", "-p", project]
    for f in files:
        cmd += ["-f", f]
    return ctx.docker.cli(cmd + list(args), timeout=timeout, env=env, expect=None)


@scenario("compose-up", images=["sid-patched"], engines=["docker28"], order=85,
          doc="examples/compose/compose.yaml (zero extra settings) under Debian's docker-compose v2 plugin: "
              "`docker compose up --wait` returns when the image's HEALTHCHECK says healthy and systemd is "
              "running by then; `docker compose stop` → exit 0 well inside stop_grace_period; `down -v` cleans up")
def compose_up(ctx, img, r):
    p = ctx.docker.cli(["compose", "version", "--short"], timeout=30, expect=None)
    r.check("docker compose plugin present", p.ok, p.output().strip())
    if not p.ok:
        return
    r.extra["compose_version"] = p.stdout.strip()
    path = os.path.join(ctx.repo, COMPOSE_FILE)
    text = open(path).read()
    for word in ("tmpfs", "privileged", "cap_add", "cgroup", "security_opt", "volumes:"):
        r.check(f"the example has no {word}", word not in re.sub(r"#.*", "", text), word)
    override = os.path.join(ctx.mkdtemp("n2d-compose-"), "harness-override.yaml")
    with open(override, "w") as f:
        f.write("services:\n  system:\n    network_mode: none\n")
    project = f"n2d-{ctx.run_id}".replace("-", "")
    files = [path, override]
    env = {"NIXOS2DOCKER_IMAGE": img.tag}
    try:
        t0 = time.monotonic()
        up = _compose(ctx, project, files, ["up", "--wait", "--wait-timeout", "120", "-d"], env=env)
        r.boot_s = time.monotonic() - t0
        r.evidence(up.output(), "docker compose up --wait")
        r.check("docker compose up --wait exits 0 (healthy)", up.ok, f"exit {up.returncode} after {r.boot_s:.1f}s")
        ps = _compose(ctx, project, files, ["ps", "-a", "--format", "json"], env=env)
        rows = [json.loads(ln) for ln in ps.stdout.splitlines() if ln.strip().startswith("{")]
        if not rows:
            raise HarnessError("docker compose ps printed no container:\n" + ps.describe())
        name = rows[0]["Name"]
        c = Container(name, img.tag, [], [])
        health = ctx.docker.cli(["inspect", "--format", "{{.State.Health.Status}}", name], timeout=30, expect=None)
        r.check("container health is healthy when up --wait returns", health.stdout.strip() == "healthy",
                health.output().strip())
        st = ctx.docker.exec(c, ["systemctl", "is-system-running"], timeout=30, expect=None)
        r.check("systemd is running", st.stdout.strip() == "running", st.output().strip())
        if st.stdout.strip() in BOOTED_STATES:
            ctx.check_capeff(c, r)
        t1 = time.monotonic()
        stop = _compose(ctx, project, files, ["stop"], env=env)
        r.stop_s = time.monotonic() - t1
        r.check("docker compose stop exits 0", stop.ok, stop.output().strip()[-300:])
        r.exit_code = ctx.docker.exit_code(c)
        r.check("container exit code 0", r.exit_code == 0, f"exit {r.exit_code}")
        r.check("stopped well inside stop_grace_period (30 s): < 10 s", r.stop_s < 10, f"{r.stop_s:.2f}s")
        r.note(f"compose {r.extra['compose_version']}: up --wait {r.boot_s:.1f}s, stop {r.stop_s:.2f}s, exit "
               f"{r.exit_code}")
    finally:
        down = _compose(ctx, project, files, ["down", "-v", "--timeout", "10"], env=env)
        r.check("docker compose down -v exits 0", down.ok, down.output().strip()[-300:])


def _pod_copy(ctx, image: str) -> str:
    text = open(os.path.join(ctx.repo, POD_FILE)).read()
    new, n = re.subn(r"(?m)^(\s*image:\s*).*$", lambda m: m.group(1) + image, text)
    if n != 1:
        raise HarnessError(f"{POD_FILE}: expected one image: line, found {n}")
    path = os.path.join(ctx.mkdtemp("n2d-pod-"), "pod.yaml")
    with open(path, "w") as f:
        f.write(new)
    return path


@scenario("kube-play", images=["sid-patched"], engines=["podman58"], order=86,
          doc="examples/kubernetes/pod.yaml (emptyDir medium Memory for /run, /run/lock, /tmp; no privileges, no "
              "hostPath; terminationGracePeriodSeconds 30) under `podman kube play`: boots to running with podman's "
              "default capabilities, /run is a tmpfs; `podman kube down` (the image's StopSignal) stops it cleanly: "
              "died with exit 0 well inside the grace period; played again, SIGTERM (a kubelet's stop signal for "
              "an image without STOPSIGNAL) → exit 0 too")
def kube_play(ctx, img, r):
    pm = ctx.docker
    text = open(os.path.join(ctx.repo, POD_FILE)).read()
    body = re.sub(r"#.*", "", text)
    for word in ("hostPath", "privileged: true", "hostNetwork", "hostPID", "SYS_ADMIN"):
        r.check(f"the manifest has no {word}", word not in body, word)
    grace = int(re.search(r"terminationGracePeriodSeconds:\s*(\d+)", body).group(1))
    path = _pod_copy(ctx, img.tag)
    pod = "nixos2docker-example"
    c = Container(f"{pod}-system", img.tag, [], [])
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 2))
    try:
        t0 = time.monotonic()
        p = pm.cli(["kube", "play", "--network", "none", path], timeout=120, expect=None)
        r.evidence(p.output(), "podman kube play")
        r.check("podman kube play exits 0", p.ok, p.output().strip()[-300:])
        if not p.ok:
            return
        r.boot_s, state = pm.wait_booted(c, t0, timeout=90)
        r.check("boots to running", state == "running", f"state {state} after {r.boot_s:.2f}s")
        if state in BOOTED_STATES:
            ctx.check_capeff(c, r)
            m = pm.exec(c, ["findmnt", "-n", "-o", "FSTYPE", "/run"], timeout=30, expect=None)
            r.check("/run is a tmpfs (emptyDir medium: Memory)", m.stdout.strip() == "tmpfs", m.output().strip())
            r.extra["failed_units"] = failed_units(ctx, c, client=pm)
        sig = pm.cli(["inspect", "--format", "{{.Config.StopSignal}}", c.name], timeout=30, expect=None).stdout.strip()
        r.extra["stop_signal"] = sig
        t1 = time.monotonic()
        d = pm.cli(["kube", "down", path], timeout=grace + 60, expect=None)
        r.stop_s = time.monotonic() - t1
        r.evidence(d.output(), "podman kube down")
        r.check("podman kube down exits 0", d.ok, d.output().strip()[-300:])
        ev = pm.cli(["events", "--stream=false", "--since", since, "--filter", f"container={c.name}",
                     "--filter", "event=died", "--format", "{{.ContainerExitCode}}"], timeout=60, expect=None)
        codes = [ln.strip() for ln in ev.stdout.splitlines() if ln.strip()]
        r.exit_code = int(codes[-1]) if codes and codes[-1].lstrip("-").isdigit() else None
        r.evidence(ev.output(), "podman events (died)")
        r.check("the container died with exit 0 (clean shutdown)", r.exit_code == 0, f"exit {r.exit_code}")
        r.check(f"stopped well inside the grace period ({grace} s): < {grace // 3} s", r.stop_s < grace // 3,
                f"{r.stop_s:.2f}s")
        # The kubelet's CRI runtime (containerd, CRI-O) sends the image's STOPSIGNAL, SIGTERM only when there is
        # none (or, with KEP-4960, when the Pod says so): the SIGTERM path must be clean too.
        p = pm.cli(["kube", "play", "--network", "none", path], timeout=120, expect=None)
        r.check("podman kube play (again) exits 0", p.ok, p.output().strip()[-300:])
        t2 = time.monotonic()
        dt2, state2 = pm.wait_booted(c, t2, timeout=90)
        if state2 in BOOTED_STATES:
            t3 = time.monotonic()
            k = pm.cli(["kill", "-s", "TERM", c.name], timeout=30, expect=None)
            r.check("podman kill -s TERM accepted", k.ok, k.output().strip())
            code = pm.wait_exit(c, timeout=grace)
            dt3 = time.monotonic() - t3
            r.extra.update({"sigterm_exit_code": code, "sigterm_s": round(dt3, 2)})
            r.check("SIGTERM (a kubelet's stop without STOPSIGNAL) → exit 0 inside the grace period", code == 0,
                    f"exit {code} after {dt3:.2f}s")
        else:
            r.check("boots to running (again)", False, f"state {state2} after {dt2:.2f}s")
        r.note(f"kube play → running {r.boot_s:.2f}s; kube down {r.stop_s:.2f}s (stop signal {sig or '?'}), "
               f"exit {r.exit_code}; SIGTERM exit {r.extra.get('sigterm_exit_code')}")
    finally:
        pm.cli(["kube", "down", "--force", path], timeout=120, expect=None)
