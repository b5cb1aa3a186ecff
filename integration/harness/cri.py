"""A small CRI client: the calls a kubelet makes to its container runtime, over gRPC on the runtime's unix
socket, with the messages encoded by hand (harness.protowire).

Field numbers are those of the CRI API ``runtime.v1`` (k8s.io/cri-api ``pkg/apis/runtime/v1/api.proto``, read
at kubernetes/kubernetes f9e5dd84ad4df476b02bd7237b2e2d05d6d79f7b, staging/src/k8s.io/cri-api/…).  Only the
fields the harness sets or reads are encoded; everything else keeps its proto3 default.

gRPC: Debian's ``python3-grpcio`` (``apt-get install python3-grpcio``; Debian 12: 1.51) with raw-bytes
request/response serializers.  When the interpreter running the harness is not Debian's (a pyenv Python of
the same minor version, say), Debian's dist-packages directory is appended to ``sys.path`` to find it.

``PodSpec.load(path)`` reads what a kubelet would take from a Pod manifest (a YAML subset: block mappings and
sequences, flow ``{…}``/``[…]``, comments, plain and quoted scalars) and ``sandbox_config``/``container_config``
turn it into CRI messages the way the kubelet does (see their docstrings for what is modelled and what not).
"""

from __future__ import annotations

import json
import os
import re
import sys
import uuid
from dataclasses import dataclass, field

from . import protowire as pw
from .util import HarnessError, Skip

RUNTIME = "/runtime.v1.RuntimeService/"
IMAGES = "/runtime.v1.ImageService/"

# NamespaceMode (api.proto)
POD, CONTAINER, NODE = 0, 1, 2
# ContainerState
CONTAINER_STATES = {0: "CREATED", 1: "RUNNING", 2: "EXITED", 3: "UNKNOWN"}
# SecurityProfile.ProfileType
RUNTIME_DEFAULT, UNCONFINED = 0, 1

# The kubelet's default masked and read-only /proc and /sys paths for procMount: Default (it sends them with
# every non-privileged container; the runtime applies exactly the lists it gets).
DEFAULT_MASKED_PATHS = ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                        "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
                        "/sys/firmware", "/sys/devices/virtual/powercap"]
DEFAULT_READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


def import_grpc():
    """The grpc module: the interpreter's own, else Debian's python3-grpcio (same Python minor version)."""
    try:
        import grpc
        return grpc
    except ImportError:
        pass
    deb = "/usr/lib/python3/dist-packages"
    so = f"cpython-{sys.version_info.major}{sys.version_info.minor}"
    cyg = os.path.join(deb, "grpc", "_cython")
    if os.path.isdir(cyg) and any(so in n for n in os.listdir(cyg)) and deb not in sys.path:
        sys.path.append(deb)
        try:
            import grpc
            return grpc
        except ImportError:
            pass
    raise Skip("the CRI client needs gRPC for Python: apt-get install python3-grpcio (Debian's package "
               f"is built for /usr/bin/python3; this is {sys.executable} {sys.version.split()[0]})")


class CriError(HarnessError):
    def __init__(self, method: str, code: str, details: str):
        super().__init__(f"CRI {method}: {code}: {details}")
        self.method, self.code, self.details = method, code, details


class CriClient:
    """Unary CRI calls on unix socket SOCKET; every method returns a protowire.Msg or plain values."""

    def __init__(self, socket: str):
        self.grpc = import_grpc()
        self.socket = socket
        self.channel = self.grpc.insecure_channel(f"unix://{socket}")
        self.calls: list = []   # (method, seconds, ok) — the kubelet-side trace of a scenario

    def close(self) -> None:
        self.channel.close()

    def call(self, method: str, request: bytes, timeout: float = 60) -> pw.Msg:
        import time
        stub = self.channel.unary_unary(method)  # no serializers: bytes in, bytes out
        t0 = time.monotonic()
        try:
            data = stub(request, timeout=timeout)
        except self.grpc.RpcError as e:
            self.calls.append((method.rsplit("/", 1)[-1], round(time.monotonic() - t0, 3), False))
            code = e.code().name if hasattr(e, "code") and e.code() else "UNKNOWN"
            raise CriError(method.rsplit("/", 1)[-1], code, e.details() if hasattr(e, "details") else str(e))
        self.calls.append((method.rsplit("/", 1)[-1], round(time.monotonic() - t0, 3), True))
        return pw.Msg(data)

    # -- RuntimeService ------------------------------------------------------------------------------------
    def version(self) -> dict:
        m = self.call(RUNTIME + "Version", pw.string(1, "v1"), timeout=10)
        return {"version": m.str(1), "runtime_name": m.str(2), "runtime_version": m.str(3),
                "runtime_api_version": m.str(4)}

    def status(self) -> dict:
        """StatusResponse: conditions (type → (status, reason, message)) and runtime handlers (name →
        features)."""
        m = self.call(RUNTIME + "Status", b"", timeout=10)
        conds = {c.str(1): (bool(c.int(2)), c.str(3), c.str(4)) for c in m.sub(1).subs(1)}
        handlers = {h.str(1): {"recursive_read_only_mounts": bool(h.sub(2).int(1)),
                               "user_namespaces": bool(h.sub(2).int(2))} for h in m.subs(3)}
        return {"conditions": conds, "handlers": handlers}

    def run_pod_sandbox(self, config: bytes, handler: str = "", timeout: float = 120) -> str:
        return self.call(RUNTIME + "RunPodSandbox", pw.raw(1, config) + pw.string(2, handler), timeout).str(1)

    def stop_pod_sandbox(self, pod_id: str, timeout: float = 120) -> None:
        self.call(RUNTIME + "StopPodSandbox", pw.string(1, pod_id), timeout)

    def remove_pod_sandbox(self, pod_id: str, timeout: float = 120) -> None:
        self.call(RUNTIME + "RemovePodSandbox", pw.string(1, pod_id), timeout)

    def list_pod_sandboxes(self) -> list:
        """ListPodSandbox without a filter: the ids of every sandbox the runtime knows."""
        return [p.str(1) for p in self.call(RUNTIME + "ListPodSandbox", b"", 30).subs(1)]

    def pod_sandbox_status(self, pod_id: str, verbose: bool = False) -> dict:
        m = self.call(RUNTIME + "PodSandboxStatus", pw.string(1, pod_id) + pw.boolean(2, verbose), 30)
        st = m.sub(1)
        ns = st.sub(6).sub(1).sub(2)
        return {"id": st.str(1), "state": "READY" if st.int(3) == 0 else "NOTREADY", "ip": st.sub(5).str(1),
                "runtime_handler": st.str(9), "namespace_options": {
                    "network": ns.int(1), "pid": ns.int(2), "ipc": ns.int(3),
                    "userns_mode": ns.sub(5).int(1) if ns.has(5) else None},
                "info": m.map(2)}

    def create_container(self, pod_id: str, config: bytes, sandbox_config: bytes, timeout: float = 120) -> str:
        req = pw.string(1, pod_id) + pw.raw(2, config) + pw.raw(3, sandbox_config)
        return self.call(RUNTIME + "CreateContainer", req, timeout).str(1)

    def start_container(self, cid: str, timeout: float = 120) -> None:
        self.call(RUNTIME + "StartContainer", pw.string(1, cid), timeout)

    def stop_container(self, cid: str, grace: int, timeout: float | None = None) -> None:
        """StopContainer with TIMEOUT = the grace period: the runtime sends the stop signal, waits at
        most GRACE seconds, then SIGKILL."""
        self.call(RUNTIME + "StopContainer", pw.string(1, cid) + pw.int64(2, grace),
                  timeout if timeout is not None else grace + 60)

    def remove_container(self, cid: str, timeout: float = 60) -> None:
        self.call(RUNTIME + "RemoveContainer", pw.string(1, cid), timeout)

    def container_status(self, cid: str) -> dict:
        st = self.call(RUNTIME + "ContainerStatus", pw.string(1, cid), 30).sub(1)
        return {"id": st.str(1), "state": CONTAINER_STATES.get(st.int(3), str(st.int(3))),
                "created_at": st.int(4), "started_at": st.int(5), "finished_at": st.int(6),
                "exit_code": st.int32(7), "reason": st.str(10), "message": st.str(11),
                "mounts": [(mt.str(1), mt.str(2)) for mt in st.subs(14)], "log_path": st.str(15)}

    def exec_sync(self, cid: str, cmd, timeout: int = 0, call_timeout: float | None = None) -> tuple:
        """ExecSync → (exit code, stdout, stderr); TIMEOUT (s) is the runtime's, 0 = none."""
        req = pw.string(1, cid) + pw.repeated_string(2, cmd) + pw.int64(3, timeout)
        m = self.call(RUNTIME + "ExecSync", req, call_timeout if call_timeout is not None else (timeout or 60) + 30)
        return m.int32(3), m.bytes(1).decode(errors="replace"), m.bytes(2).decode(errors="replace")

    # -- ImageService --------------------------------------------------------------------------------------
    def image_status(self, ref: str) -> dict | None:
        """ImageStatus (what the kubelet asks for imagePullPolicy: IfNotPresent); None when absent."""
        m = self.call(IMAGES + "ImageStatus", pw.sub(1, pw.string(1, ref)), 30)
        if not m.has(1):
            return None
        img = m.sub(1)
        return {"id": img.str(1), "repo_tags": img.strs(2), "size": img.int(4, signed=False)}


# -- Pod manifests --------------------------------------------------------------------------------------------
def _scalar(s: str):
    s = s.strip()
    if not s:
        return None
    if s[0] in "\"'":
        return json.loads(s) if s[0] == '"' else s[1:-1].replace("''", "'")
    if re.fullmatch(r"-?\d+", s):
        return int(s)
    return {"true": True, "false": False, "null": None, "~": None}.get(s, s)


def _flow(s: str, i: int = 0):
    """Parse a flow collection ({…} or […]) of plain/quoted scalars starting at S[I]; (value, next index)."""
    def skip(i):
        while i < len(s) and s[i] in " \t":
            i += 1
        return i

    def token(i, stops):
        i = skip(i)
        if i < len(s) and s[i] in "{[":
            return _flow(s, i)
        if i < len(s) and s[i] in "\"'":
            q = s[i]
            j = i + 1
            while j < len(s) and (s[j] != q or (q == '"' and s[j - 1] == "\\")):
                j += 1
            return _scalar(s[i:j + 1]), j + 1
        j = i
        while j < len(s) and s[j] not in stops:
            j += 1
        return _scalar(s[i:j]), j

    i = skip(i)
    if s[i] == "[":
        out, i = [], skip(i + 1)
        while s[i] != "]":
            v, i = token(i, ",]")
            out.append(v)
            i = skip(i)
            if s[i] == ",":
                i = skip(i + 1)
        return out, i + 1
    if s[i] == "{":
        obj, i = {}, skip(i + 1)
        while s[i] != "}":
            k, i = token(i, ":")
            i = skip(i)
            if s[i] != ":":
                raise ValueError(f"flow mapping: ':' expected at {s[i:i + 20]!r}")
            v, i = token(i + 1, ",}")
            obj[k] = v
            i = skip(i)
            if s[i] == ",":
                i = skip(i + 1)
        return obj, i + 1
    raise ValueError(f"flow collection expected at {s[i:i + 20]!r}")


def _value(text: str):
    text = text.strip()
    if text[:1] in ("{", "["):
        v, _ = _flow(text)
        return v
    return _scalar(text)


def parse_yaml(text: str):
    """The YAML subset of Kubernetes manifests written by hand (see the module docstring)."""
    lines = []
    for raw_line in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw_line).rstrip()
        if line.strip() and line.strip() != "---":
            lines.append((len(line) - len(line.lstrip(" ")), line.strip()))
    pos = 0

    def block(indent):
        nonlocal pos
        if pos >= len(lines):
            return None
        if lines[pos][1].startswith("- ") or lines[pos][1] == "-":
            out = []
            while pos < len(lines) and lines[pos][0] == indent and lines[pos][1][:1] == "-":
                rest = lines[pos][1][1:].strip()
                if not rest:
                    pos += 1
                    out.append(block(lines[pos][0]) if pos < len(lines) and lines[pos][0] > indent else None)
                elif re.match(r"^[^\s\[\]{}\"']+:(\s|$)", rest) and not rest.startswith("{"):
                    # "- key: value" starts a mapping whose keys sit at indent + 2
                    lines[pos] = (indent + 2, rest)
                    out.append(block(indent + 2))
                else:
                    pos += 1
                    out.append(_value(rest))
            return out
        out = {}
        while pos < len(lines) and lines[pos][0] == indent and not lines[pos][1].startswith("- "):
            m = re.match(r"^([^:]+):(?:\s+(.*))?$", lines[pos][1])
            if not m:
                raise ValueError(f"YAML: cannot parse {lines[pos][1]!r}")
            key, rest = m.group(1).strip(), (m.group(2) or "").strip()
            pos += 1
            if rest:
                out[key] = _value(rest)
            elif pos < len(lines) and (lines[pos][0] > indent or
                                       (lines[pos][0] == indent and lines[pos][1].startswith("- "))):
                out[key] = block(lines[pos][0])
            else:
                out[key] = None
        return out

    doc = block(lines[0][0]) if lines else None
    if pos != len(lines):
        raise ValueError(f"YAML: unexpected indentation at {lines[pos][1]!r}")
    return doc


@dataclass
class Volume:
    name: str
    path: str
    medium: str           # "Memory" (tmpfs) or "" (a directory on the node's disk)


@dataclass
class PodSpec:
    """What the harness takes from a Pod manifest (one container)."""
    name: str
    namespace: str
    container: str
    image: str
    grace: int                                   # terminationGracePeriodSeconds (default 30)
    volumes: list = field(default_factory=list)  # Volume, in volumeMounts order
    run_as_user: int | None = None
    privileged: bool = False
    read_only_root: bool = False
    cap_add: list = field(default_factory=list)
    cap_drop: list = field(default_factory=list)
    allow_privilege_escalation: bool | None = None
    readiness_cmd: list = field(default_factory=list)
    readiness_period: int = 10
    readiness_timeout: int = 1
    readiness_initial_delay: int = 0
    host_users: bool = True
    host_network: bool = False

    @classmethod
    def from_manifest(cls, doc: dict) -> "PodSpec":
        if not isinstance(doc, dict) or doc.get("kind") != "Pod":
            raise HarnessError("not a Pod manifest")
        spec = doc.get("spec") or {}
        ctrs = spec.get("containers") or []
        if len(ctrs) != 1:
            raise HarnessError(f"the harness drives one container per Pod, the manifest has {len(ctrs)}")
        c = ctrs[0]
        sc = c.get("securityContext") or {}
        caps = sc.get("capabilities") or {}
        vols = {v["name"]: v for v in spec.get("volumes") or []}
        mounts = []
        for vm in c.get("volumeMounts") or []:
            v = vols.get(vm["name"])
            if v is None or "emptyDir" not in v:
                raise HarnessError(f"volumeMount {vm['name']}: only emptyDir volumes are modelled")
            mounts.append(Volume(vm["name"], vm["mountPath"], (v["emptyDir"] or {}).get("medium") or ""))
        probe = c.get("readinessProbe") or {}
        return cls(
            name=doc.get("metadata", {}).get("name", "pod"),
            namespace=doc.get("metadata", {}).get("namespace") or "default",
            container=c["name"], image=c["image"],
            grace=int(spec.get("terminationGracePeriodSeconds", 30)),
            volumes=mounts, run_as_user=sc.get("runAsUser"), privileged=bool(sc.get("privileged")),
            read_only_root=bool(sc.get("readOnlyRootFilesystem")),
            cap_add=list(caps.get("add") or []), cap_drop=list(caps.get("drop") or []),
            allow_privilege_escalation=sc.get("allowPrivilegeEscalation"),
            readiness_cmd=list((probe.get("exec") or {}).get("command") or []),
            readiness_period=int(probe.get("periodSeconds", 10)),
            readiness_timeout=int(probe.get("timeoutSeconds", 1)),
            readiness_initial_delay=int(probe.get("initialDelaySeconds", 0)),
            host_users=spec.get("hostUsers", True) is not False,
            host_network=bool(spec.get("hostNetwork")))

    @classmethod
    def load(cls, path: str) -> "PodSpec":
        return cls.from_manifest(parse_yaml(open(path).read()))


@dataclass
class PodRun:
    """One pod's kubelet-side identity: uid, the emptyDir directories, the user-namespace mapping."""
    spec: PodSpec
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_dir: str = ""
    volume_dirs: dict = field(default_factory=dict)   # volume name → host directory
    userns_base: int = 0                               # host id of container id 0 (hostUsers: false)
    userns_length: int = 65536


def _mapping(run: PodRun) -> bytes:
    """IDMapping: container id 0 → the pod's host range."""
    return pw.message(pw.uint(1, run.userns_base), pw.uint(2, 0), pw.uint(3, run.userns_length))


def _namespace_options(run: PodRun) -> bytes:
    """NamespaceOption the way the kubelet fills it: network POD (NODE for hostNetwork), pid CONTAINER
    (no shareProcessNamespace), ipc POD, and for hostUsers: false a POD user namespace with one 65536-id
    mapping for uids and gids."""
    s = run.spec
    fields = [pw.int64(1, NODE if s.host_network else POD), pw.int64(2, CONTAINER), pw.int64(3, POD)]
    if not s.host_users:
        fields.append(pw.sub(5, pw.int64(1, POD), pw.raw(2, _mapping(run)), pw.raw(3, _mapping(run))))
    else:
        fields.append(pw.sub(5, pw.int64(1, NODE)))
    return pw.message(*fields)


def _labels(run: PodRun, container: str | None = None) -> dict:
    d = {"io.kubernetes.pod.name": run.spec.name, "io.kubernetes.pod.namespace": run.spec.namespace,
         "io.kubernetes.pod.uid": run.uid}
    if container:
        d["io.kubernetes.container.name"] = container
    return d


def sandbox_config(run: PodRun, cgroup_parent: str = "") -> bytes:
    """PodSandboxConfig: metadata (name, uid, namespace, attempt 0), hostname = the pod's name, the log
    directory, the kubelet's labels, linux.cgroup_parent and the sandbox security context (namespace
    options, seccomp RuntimeDefault)."""
    s = run.spec
    sec = pw.message(pw.sub(1, _namespace_options(run)), pw.boolean(6, s.privileged),
                     pw.sub(9, pw.int64(1, RUNTIME_DEFAULT)))
    linux = pw.message(pw.string(1, cgroup_parent), pw.sub(2, sec))
    return pw.message(
        pw.sub(1, pw.string(1, s.name), pw.string(2, run.uid), pw.string(3, s.namespace), pw.uint(4, 0)),
        pw.string(2, "" if s.host_network else s.name),
        pw.string(3, run.log_dir),
        pw.string_map(6, _labels(run)),
        pw.sub(8, linux))


def container_config(run: PodRun, image_ref: str) -> bytes:
    """ContainerConfig: metadata, image, no command/args (the image's ENTRYPOINT), the emptyDir mounts as
    bind mounts of the kubelet's per-pod directories (tmpfs for medium: Memory; idmapped with the pod's
    mappings under a user namespace), log path, BestEffort
    resources (cpu shares 2, OOM score adj 1000), and the security context (capabilities add/drop,
    privileged, namespace options, run_as_user, read-only root, no_new_privs = !allowPrivilegeEscalation
    when set, the default masked/read-only paths, seccomp RuntimeDefault)."""
    s = run.spec
    # with a user namespace the kubelet asks for idmapped mounts: each mount carries the pod's uid/gid
    # mappings (kubelet pkg/kubelet/kuberuntime/kuberuntime_container_linux.go,
    # applyPlatformSpecificContainerConfig), so a node-side root-owned tmpfs is root-owned in the pod
    idmap = b"" if s.host_users else (pw.raw(6, _mapping(run)) + pw.raw(7, _mapping(run)))
    mounts = [pw.sub(7, pw.string(1, v.path), pw.string(2, run.volume_dirs[v.name]), idmap) for v in s.volumes]
    caps = pw.message(pw.repeated_string(1, [c.upper() for c in s.cap_add]),
                      pw.repeated_string(2, [c.upper() for c in s.cap_drop]))
    sec = [pw.sub(1, caps), pw.boolean(2, s.privileged), pw.sub(3, _namespace_options(run))]
    if s.run_as_user is not None:
        sec.append(pw.sub(5, pw.int64(1, int(s.run_as_user))))
    sec += [pw.boolean(7, s.read_only_root),
            pw.boolean(11, s.allow_privilege_escalation is False)]
    if not s.privileged:
        sec += [pw.repeated_string(13, DEFAULT_MASKED_PATHS), pw.repeated_string(14, DEFAULT_READONLY_PATHS)]
    sec.append(pw.sub(15, pw.int64(1, RUNTIME_DEFAULT)))
    resources = pw.message(pw.int64(1, 100000), pw.int64(3, 2), pw.int64(5, 1000))
    linux = pw.message(pw.sub(1, resources), pw.sub(2, *sec))
    return pw.message(
        pw.sub(1, pw.string(1, s.container), pw.uint(2, 0)),
        pw.sub(2, pw.string(1, image_ref), pw.string(18, s.image)),
        *mounts,
        pw.string_map(9, _labels(run, s.container)),
        pw.string(11, f"{s.container}/0.log"),
        pw.sub(15, linux))
