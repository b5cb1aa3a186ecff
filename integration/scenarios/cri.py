"""The Kubernetes node path: examples/kubernetes/pod.yaml driven through containerd 2.1's CRI plugin the way a
kubelet drives it (harness.cri, harness.containerd), on the runtime handlers runc and crun, with and without
a user namespace (``hostUsers: false``).

Per pod: ImageStatus (imagePullPolicy IfNotPresent: the image is there, imported from the engine), the
emptyDirs made as the kubelet makes them (``medium: Memory`` → a tmpfs on a per-pod directory, bind-mounted),
RunPodSandbox, CreateContainer, StartContainer; the readiness probe's command through ExecSync every
``periodSeconds`` with its ``timeoutSeconds`` until it succeeds; then checks through ExecSync (systemd
``running``, /run, /run/lock, /tmp are tmpfs, CapEff of PID 1 = containerd's default set, the user
namespace's mapping), a few real daemons of the workload image (active, a request, journal, restart, stop:
scenarios/workload.py's checks); StopContainer with the grace period as timeout → the container exited 0
well inside it; StopPodSandbox, RemovePodSandbox.
"""

from __future__ import annotations

import os
import time
from types import SimpleNamespace

from harness import containerd
from harness import contract as C
from harness.cri import CriClient, CriError, PodRun, PodSpec, container_config, sandbox_config
from harness.daemons import DAEMONS, Checker
from harness.docker import BOOTED_STATES, DOCKER_DEFAULT_CAPS, caps_mask, mask_names
from harness.registry import scenario
from harness.util import HarnessError, Proc

POD_FILE = "examples/kubernetes/pod.yaml"
IMAGE_KIND = "sid-workload-patched"
WORKLOAD_SUBSET = ("nginx", "postgresql", "redis", "journal-gatewayd")
# The kubelet gives each user-namespaced pod 65536 host ids at a multiple of 65536; these are above the
# ranges /etc/subuid hands out by default (100000 + n × 65536 for the first users).
USERNS_BASE = {"runc": 65536 * 160, "crun": 65536 * 161}
# containerd's default capability set is Docker's 14 (containerd oci/spec.go, the default Unix spec).
CONTAINERD_DEFAULT_CAPEFF = caps_mask(DOCKER_DEFAULT_CAPS)


class CriExec:
    """ctx.docker's ``exec`` over CRI ExecSync, for the workload checks (scenarios/workload.py)."""

    def __init__(self, client: CriClient):
        self.client = client

    def exec(self, cid, cmd, timeout: float = 30, flags=(), expect: int | None = 0) -> Proc:
        t0 = time.monotonic()
        try:
            code, out, err = self.client.exec_sync(cid, [str(c) for c in cmd], timeout=int(max(1, timeout)))
        except CriError as e:
            code, out, err = -1, "", str(e)
        p = Proc(["ExecSync", *map(str, cmd)], code, out, err, time.monotonic() - t0, timed_out=code == -1)
        if expect is not None and p.returncode != expect:
            raise HarnessError(f"expected exit {expect}:\n{p.describe()}")
        return p


def _readiness(cli: CriClient, cid: str, spec: PodSpec, deadline_s: float = 240) -> tuple:
    """The kubelet's readiness prober: ExecSync(probe command, timeoutSeconds) every periodSeconds after
    initialDelaySeconds, until exit 0; (seconds since start, probes, last answer) or (None, …) at deadline."""
    t0 = time.monotonic()
    time.sleep(spec.readiness_initial_delay)
    probes, last = 0, ""
    while time.monotonic() - t0 < deadline_s:
        t = time.monotonic()
        probes += 1
        try:
            code, out, err = cli.exec_sync(cid, spec.readiness_cmd, timeout=spec.readiness_timeout)
            last = f"exit {code} {(out + err).strip()[:200]}"
            if code == 0:
                return time.monotonic() - t0, probes, last
        except CriError as e:
            last = str(e)[:300]
            st = cli.container_status(cid)
            if st["state"] != "RUNNING":
                return None, probes, f"container {st['state']} exit {st['exit_code']}: {last}"
        time.sleep(max(0.0, spec.readiness_period - (time.monotonic() - t)))
    return None, probes, last


def _sh(cli, cid, cmd: str, timeout: int = 30) -> tuple:
    code, out, err = cli.exec_sync(cid, ["sh", "-c", cmd], timeout=timeout)
    return code, (out + err).strip()


def run_pod(ctx, img, r, handler: str, host_users: bool, stock: bool = False) -> None:
    node = containerd.node(ctx)
    r.extra["containerd"] = node.facts
    cli = CriClient(node.socket)
    try:
        _run_pod(ctx, img, r, node, cli, handler, host_users, stock)
    finally:
        r.extra["cri_calls"] = cli.calls
        cli.close()


def _run_pod(ctx, img, r, node, cli, handler, host_users, stock) -> None:
    spec = PodSpec.load(os.path.join(ctx.repo, POD_FILE))
    spec.host_users = host_users
    v = cli.version()
    r.note(f"{v['runtime_name']} {v['runtime_version']} (CRI {v['runtime_api_version']}), handler {handler}")
    st = cli.status()
    r.check(f"runtime handler {handler} is offered", handler in st["handlers"], sorted(st["handlers"]))
    if not host_users:
        feats = st["handlers"].get(handler, {})
        r.check(f"{handler} reports user-namespace support", feats.get("user_namespaces"), feats)
    ref = node.import_image(img.tag)
    spec.image = img.tag
    r.check("ImageStatus finds the image (imagePullPolicy: IfNotPresent)", cli.image_status(ref) is not None, ref)

    run = PodRun(spec)
    pod_dir = os.path.join(node.dir, "pods", f"{spec.namespace}_{spec.name}_{run.uid}")
    run.log_dir = os.path.join(pod_dir, "logs")
    os.makedirs(run.log_dir, exist_ok=True)
    if not host_users:
        run.userns_base = USERNS_BASE[handler]
    mounted = []
    for vol in spec.volumes:  # the kubelet's emptyDir: a 0777 directory per pod; medium: Memory → tmpfs on it
        d = os.path.join(pod_dir, "volumes", "kubernetes.io~empty-dir", vol.name)
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o777)
        if vol.medium == "Memory":
            node.mount_tmpfs(d)
            mounted.append(d)
        run.volume_dirs[vol.name] = d
    sbx = sandbox_config(run, cgroup_parent=f"/kubepods/besteffort/pod{run.uid}")
    pod_id = cid = None
    try:
        t0 = time.monotonic()
        pod_id = cli.run_pod_sandbox(sbx, handler)
        ps = cli.pod_sandbox_status(pod_id)
        r.check("RunPodSandbox → READY", ps["state"] == "READY", f"{ps['state']}, ip {ps['ip']}")
        cid = cli.create_container(pod_id, container_config(run, ref), sbx)
        cli.start_container(cid)
        if stock:
            _stock_exit(r, cli, cid, run, spec)
            return
        ready_s, probes, last = _readiness(cli, cid, spec)
        r.boot_s = ready_s
        r.check(f"readiness probe ({' '.join(spec.readiness_cmd)}, every {spec.readiness_period}s) succeeds",
                ready_s is not None, f"after {ready_s:.1f}s, {probes} probes" if ready_s is not None
                else f"{probes} probes, last: {last}")
        r.extra["start_to_ready_s"] = round(time.monotonic() - t0, 2)
        cs = cli.container_status(cid)
        if ready_s is None or cs["state"] != "RUNNING":
            r.check("container running", cs["state"] == "RUNNING", f"{cs['state']} exit {cs['exit_code']}")
            if cs["state"] == "RUNNING":
                _, why = _sh(cli, cid, "systemctl is-system-running; systemctl --failed --no-legend --plain; "
                                       "for u in $(systemctl --failed --no-legend --plain | awk '{print $1}'); do "
                                       "systemctl status --no-pager -n 20 \"$u\"; done")
                r.evidence(why, "not ready: failed units")
                r.extra["not_ready"] = why[-4000:]
            r.evidence(_log_tail(run, spec), "container log")
            return
        code, state = _sh(cli, cid, "systemctl is-system-running")
        r.check("systemd is running", state == "running", state)
        _, failed = _sh(cli, cid, "systemctl --failed --no-legend --plain")
        r.extra["failed_units"] = [ln.split()[0] for ln in failed.splitlines() if ln.strip()]
        for vol in spec.volumes:
            # the example's contract: /run, /run/lock, /tmp are fresh tmpfs, as `--tmpfs` gives on Docker
            _, fs = _sh(cli, cid, f"findmnt -n -o FSTYPE {vol.path}")
            r.check(f"{vol.path} is a tmpfs (emptyDir {vol.name}, medium: {vol.medium or 'node disk'})",
                    fs == "tmpfs", fs)
            _, owner = _sh(cli, cid, f"stat -c %u:%g {vol.path}")
            r.check(f"{vol.path} is owned by root in the pod", owner == "0:0", owner)
        _, status = _sh(cli, cid, "cat /proc/1/status")
        capeff = next((int(ln.split()[1], 16) for ln in status.splitlines() if ln.startswith("CapEff:")), None)
        r.check("CapEff of PID 1 = containerd's default set", capeff == CONTAINERD_DEFAULT_CAPEFF,
                f"{capeff:016x}" + (f"; extra {mask_names(capeff & ~CONTAINERD_DEFAULT_CAPEFF)}, missing "
                                    f"{mask_names(CONTAINERD_DEFAULT_CAPEFF & ~capeff)}" if capeff is not None
                                    and capeff != CONTAINERD_DEFAULT_CAPEFF else "") if capeff is not None
                else status[-200:])
        _, uidmap = _sh(cli, cid, "cat /proc/1/uid_map")
        fields = uidmap.split()
        if host_users:
            r.check("no user namespace (uid_map is the identity)", fields[:3] == ["0", "0", "4294967295"], uidmap)
        else:
            want = ["0", str(run.userns_base), str(run.userns_length)]
            r.check("user namespace: uid_map 0 → the pod's host range", fields[:3] == want,
                    f"{uidmap} (want {' '.join(want)})")
        _workload(ctx, r, cli, cid)
        if state not in BOOTED_STATES:
            r.evidence(_log_tail(run, spec), "container log")
        t1 = time.monotonic()
        cli.stop_container(cid, spec.grace)
        r.stop_s = time.monotonic() - t1
        cs = cli.container_status(cid)
        r.exit_code = cs["exit_code"]
        r.check(f"StopContainer (timeout = terminationGracePeriodSeconds {spec.grace}) → exited 0",
                cs["state"] == "EXITED" and cs["exit_code"] == 0,
                f"{cs['state']} exit {cs['exit_code']} ({cs['reason']}) after {r.stop_s:.2f}s")
        r.check(f"stopped well inside the grace period: < {spec.grace // 3} s", r.stop_s < spec.grace // 3,
                f"{r.stop_s:.2f}s")
        r.note(f"{handler}{'' if host_users else ' + user namespace'}: ready {ready_s:.1f}s, "
               f"stop {r.stop_s:.2f}s exit {r.exit_code}")
    finally:
        if pod_id:
            for step in (cli.stop_pod_sandbox, cli.remove_pod_sandbox):
                try:
                    step(pod_id)
                except CriError as e:
                    r.check(f"{step.__name__}", False, e)
            r.check("StopPodSandbox, RemovePodSandbox", True, pod_id[:12])
        for d in mounted:
            node.umount(d)


def _stock_exit(r, cli, cid, run, spec) -> None:
    """Stock systemd in the same pod: the cgroup fs is read-only, so the init exits at once with its code
    for that case and says why in the container log (what `kubectl logs` shows)."""
    deadline = time.monotonic() + 60
    cs = cli.container_status(cid)
    while cs["state"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.5)
        cs = cli.container_status(cid)
    r.exit_code = cs["exit_code"]
    r.check(f"stock systemd: the init exits {C.EXIT_STOCK_RO_CGROUP} (read-only cgroup fs)",
            cs["state"] == "EXITED" and cs["exit_code"] == C.EXIT_STOCK_RO_CGROUP, f"{cs['state']} exit {cs['exit_code']}")
    log = _log_tail(run, spec)
    r.evidence(log, "container log")
    said = [ln for ln in log.splitlines() if C.MESSAGE_PREFIX in ln]
    r.check("the container log says why and names patched systemd",
            any("read-only" in ln and "patched systemd" in ln for ln in said), (said or [log])[0][-300:])


def _log_tail(run: PodRun, spec: PodSpec) -> str:
    path = os.path.join(run.log_dir, f"{spec.container}/0.log")
    try:
        return "\n".join(open(path, errors="replace").read().splitlines()[-40:])
    except OSError as e:
        return f"(no container log: {e})"


def _workload(ctx, r, cli, cid) -> None:
    """A few daemons of the workload image, with the workload scenario's checks, over ExecSync."""
    shim = SimpleNamespace(docker=CriExec(cli))
    evidence: dict = {}
    ck = Checker(shim, cid, evidence)
    for d in DAEMONS:
        if d.name in WORKLOAD_SUBSET:
            ck.check_daemon(d)
    for name, row in ck.rows.items():
        for check, (ok, detail) in row.items():
            r.check(f"workload: {name} {check}", ok, detail)
    for name, blocks in evidence.items():
        for b in blocks:
            r.evidence(b, f"workload {name}")


def _register(handler: str, host_users: bool) -> None:
    name = f"cri-{'' if host_users else 'userns-'}{handler}"
    what = "" if host_users else " with hostUsers: false (a user namespace: one 65536-id range per pod)"

    @scenario(name, images=[IMAGE_KIND], engines=["docker28"], order=220,
              doc=f"examples/kubernetes/pod.yaml{what} through containerd 2.1's CRI (runtime handler {handler}) "
                  "as a kubelet drives it: RunPodSandbox, CreateContainer, StartContainer, the readiness exec "
                  "probe via ExecSync → ready, systemd running, memory-backed emptyDirs are tmpfs, CapEff = "
                  f"containerd's default, daemons {', '.join(WORKLOAD_SUBSET)} answer; StopContainer with the "
                  "grace period → exit 0 well inside it; StopPodSandbox, RemovePodSandbox")
    def cri_pod(ctx, img, r):
        run_pod(ctx, img, r, handler, host_users)

    cri_pod.__name__ = name.replace("-", "_")


for _handler in containerd.HANDLERS:
    for _host_users in (True, False):
        _register(_handler, _host_users)


@scenario("cri-stock-runc", images=["sid"], engines=["docker28"], order=221,
          doc="the anchor: the same pod with stock systemd through containerd's CRI (runc): the cgroup fs is "
              f"read-only, the init exits {C.EXIT_STOCK_RO_CGROUP} at once and the container log says why")
def cri_stock(ctx, img, r):
    run_pod(ctx, img, r, "runc", True, stock=True)
