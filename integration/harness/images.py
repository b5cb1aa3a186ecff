"""Cached Debian root filesystems (mmdebstrap) and the test images built from them.

Cache layout under ``${NIXOS2DOCKER_CACHE:-/var/cache/nixos2docker}``:

  rootfs/<suite>-<key>.tar       mmdebstrap output; key = sha256 of (RECIPE_VERSION, suite, variant,
                                 packages, mirror, dpkg/apt options) — the init binary is NOT part of
                                 it, so rebuilding the binary never re-runs mmdebstrap
  rootfs/<suite>-<key>.log       mmdebstrap's log
  overlays/<sha>.tar             overlay tarballs normalised for usrmerge (lib/ → usr/lib/ …)
  logs/                          logs of overlay commands (patches/build …)
  docker/                        the private dockerd (see daemon.py)

Images: the root filesystem is ``docker import``-ed once as ``n2d-base:<suite>-<key>`` (kept in the
private daemon's data-root between runs), then each run builds ``n2d-test:<kind>-<run>`` with the
classic builder (``DOCKER_BUILDKIT=0 docker build``, works offline) from a tiny context: the overlay
tarballs and a layer with our binary at /usr/local/bin/nixos2docker plus /init → that binary, and the
image config of module/profile.json's ``image`` section.  Test tags are removed at exit.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile
import time
from dataclasses import dataclass

from .registry import IMAGE_KINDS, ImageKind, register_image_kind
from .util import HarnessError, Skip, log, run_streaming, tail_file, which

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE_DOCKERFILE = os.path.join(REPO, "examples", "debian", "Dockerfile")
RECIPE_VERSION = 1
MIRROR = os.environ.get("NIXOS2DOCKER_DEBIAN_MIRROR", "http://deb.debian.org/debian")
VARIANT = "minbase"
DEFAULT_PACKAGES = ["systemd", "dbus", "procps"]
DPKG_EXCLUDES = ["/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*"]
APT_OPTS = ['Acquire::Check-Valid-Until "false"', 'Acquire::Retries "3"']
# the stock systemd each suite ships (reported, not asserted)
SUITE_SYSTEMD = {"sid": "262.1", "trixie": "257.13", "bookworm": "252.39"}

TMPFS_FLAGS = ["--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp"]
STOCK_RW_FLAGS = ["--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw"]

USRMERGE_DIRS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")


def kind_boot_flags(kind: ImageKind) -> list:
    if kind.boot_flags is not None:
        return list(kind.boot_flags)
    return list(TMPFS_FLAGS) + ([] if kind.patched else list(STOCK_RW_FLAGS))


@dataclass
class Image:
    tag: str
    kind: ImageKind
    volumes: bool
    base_tag: str
    rootfs: str
    build_s: float = 0.0

    @property
    def boot_flags(self) -> list:
        return kind_boot_flags(self.kind)

    @property
    def name(self) -> str:
        return self.kind.name + ("" if self.volumes else "-novol")


def command_overlay(cmd, timeout: float = 3600, directory: bool = False):
    """An overlay provider running CMD (list; relative cmd[0] is taken from the repo root).

    The LAST line of CMD's stdout must be the absolute path of a .tar(.gz|.xz) to extract over the
    root filesystem (the contract of patches/build) — or, with ``directory``, of a directory (the
    contract of packaging/build-repo).  Missing CMD → Skip.
    """
    cmd = list(cmd)

    def provide(ctx) -> str:
        exe = cmd[0] if os.path.isabs(cmd[0]) else os.path.join(ctx.repo, cmd[0])
        if not os.path.exists(exe):
            raise Skip(f"{cmd[0]} does not exist (yet)")
        if not os.access(exe, os.X_OK):
            raise Skip(f"{cmd[0]} is not executable")
        logdir = os.path.join(ctx.cache_dir, "logs")
        os.makedirs(logdir, exist_ok=True)
        rel = os.path.relpath(exe, ctx.repo)
        logname = rel.replace("/", "-") if not rel.startswith("..") else os.path.basename(exe)
        logfile = os.path.join(logdir, logname + ".log")
        outfile = logfile + ".stdout"
        log(f"running {' '.join(cmd)} (log {logfile}) …")
        with open(logfile, "ab") as lf, open(outfile, "wb") as of:
            import subprocess
            lf.write(f"\n==== {time.ctime()} {' '.join(cmd)} ====\n".encode())
            lf.flush()
            p = subprocess.Popen([exe] + cmd[1:], cwd=ctx.repo, stdout=of, stderr=lf,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
            try:
                rc = p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, 9)
                p.wait(timeout=30)
                raise HarnessError(f"{cmd[0]} timed out after {timeout:.0f}s; see {logfile}")
            except BaseException:
                os.killpg(p.pid, 9)
                raise
        out = open(outfile, errors="replace").read().strip().splitlines()
        if rc != 0:
            raise HarnessError(f"{cmd[0]} exited {rc}; see {logfile}\n{tail_file(logfile)}")
        if not out:
            raise HarnessError(f"{cmd[0]} printed nothing on stdout (expected a tarball path)")
        path = out[-1].strip()
        if not os.path.isabs(path) or not (os.path.isdir(path) if directory else os.path.isfile(path)):
            what = "a directory" if directory else "a file"
            raise HarnessError(f"{cmd[0]}: last stdout line {path!r} is not an absolute path to {what}")
        return path

    provide.__name__ = f"command_overlay({' '.join(cmd)})"
    return provide


# What patches/build would otherwise install with apt-get (its need()): a background build may only start
# when none is missing, so that apt never runs twice at once.
PREFETCH_NEEDS = ("mmdebstrap", "zstd", "git", "curl", "unshare", "flock")
DEBIAN_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


def ahead_versions(kinds) -> list:
    """The systemd versions of the patched kinds among KINDS, in run order, each once."""
    out = []
    for k in kinds:
        kind = IMAGE_KINDS.get(k)
        if kind is not None and kind.patched and kind.systemd and kind.systemd not in out:
            out.append(kind.systemd)
    return out


def prefetch_patched_build(ctx, kinds) -> object:
    """Start ``patches/build`` in the background for the systemd of every patched kind among KINDS (in run
    order, one after the other; all but the first at nice 10, so that the scenarios running meanwhile keep
    the CPU), and return the process (None when nothing is started).  A cold first run then builds systemd
    while the binary, the engine root and the root filesystem are made, and a cold CI builds the older
    versions while the stock scenarios run; the image build that needs an artefact calls patches/build too,
    which waits for the running one (a lock per cache dir) and finds its artefact, or builds it itself and
    reports what failed.  Not started when a tool patches/build installs is missing (apt must not run twice
    at once)."""
    import shlex
    import subprocess
    versions = ahead_versions(kinds)
    if not versions:
        return None
    missing = [t for t in PREFETCH_NEEDS if not shutil.which(t)]
    if missing or not os.path.exists(DEBIAN_KEYRING):
        log(f"not building systemd {versions[0]} ahead: {', '.join(missing) or DEBIAN_KEYRING} missing "
            "(patches/build installs it when the image is built)")
        return None
    logdir = os.path.join(ctx.cache_dir, "logs")
    os.makedirs(logdir, exist_ok=True)
    logfile = os.path.join(logdir, "patches-build-ahead.log")
    log(f"building systemd {versions[0]} with patches/build in the background (log {logfile})")
    if versions[1:]:
        log(f"then, at nice 10, systemd {', '.join(versions[1:])}")
    build = shlex.quote(os.path.join(ctx.repo, "patches", "build"))
    script = "; ".join(f"{'nice -n 10 ' if i else ''}{build} --version {shlex.quote(v)} >/dev/null"
                       for i, v in enumerate(versions))
    with open(logfile, "ab") as lf:
        lf.write(f"\n==== {time.ctime()} patches/build --version {' '.join(versions)} (ahead) ====\n".encode())
        lf.flush()
        return subprocess.Popen(["sh", "-c", script], cwd=ctx.repo, stdout=subprocess.DEVNULL, stderr=lf,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                env=dict(os.environ, NIXOS2DOCKER_CACHE=ctx.cache_dir))


def patched_versions() -> list:
    """(version, suite, kind) of every line of patches/versions: the systemd versions that carry a patch
    series, the Debian suite each is built for and installed over, and the image kind that boots it."""
    rows = []
    with open(os.path.join(REPO, "patches", "versions")) as f:
        for line in f:
            cols = line.split()
            if cols and not cols[0].startswith("#"):
                rows.append((cols[0], cols[2], cols[3]))
    return rows


# Built-in kinds -----------------------------------------------------------------------------------
register_image_kind(ImageKind("sid", "sid", description="Debian sid, stock systemd (262.x)"))
register_image_kind(ImageKind("trixie", "trixie", description="Debian trixie, stock systemd (257.x)"))
register_image_kind(ImageKind(
    "sid-patched", "sid", patched=True, systemd=next(v for v, _, k in patched_versions() if k == "sid-patched"),
    description="Debian sid + the nixos2docker packages of the patched systemd (examples/debian/Dockerfile)"))


def _pid_max() -> int | None:
    try:
        with open("/proc/sys/kernel/pid_max") as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


def podman_build_flags(pid_max: int | None = None) -> list:
    """podman build: docker format (else HEALTHCHECK is dropped), and RUN steps with this process's own
    RLIMIT_NOFILE and RLIMIT_NPROC: rootful buildah raises them for RUN otherwise, which fails where the host
    lacks CAP_SYS_RESOURCE ("setrlimit `RLIMIT_NOFILE`: Operation not permitted").  RLIMIT_NPROC is also
    capped at kernel.pid_max (PID_MAX, default: read it): podman 4.3 lowers its own RLIMIT_NPROC to pid_max
    when it starts (containers-common's default ulimits), and runc 1.1 then cannot raise the RUN step's
    limit above that without the capability ("error setting rlimit type 6"); no more processes than
    pid_max can exist anyway."""
    import resource
    if pid_max is None:
        pid_max = _pid_max()
    flags = ["--format", "docker"]
    for name, res in (("nofile", resource.RLIMIT_NOFILE), ("nproc", resource.RLIMIT_NPROC)):
        soft, hard = resource.getrlimit(res)
        if res == resource.RLIMIT_NPROC and pid_max:
            hard = pid_max if hard == resource.RLIM_INFINITY else min(hard, pid_max)
            soft = hard if soft == resource.RLIM_INFINITY else min(soft, hard)
        lim = lambda v: -1 if v == resource.RLIM_INFINITY else v  # noqa: E731
        flags += ["--ulimit", f"{name}={lim(soft)}:{lim(hard)}"]
    return flags


def profile_instructions(profile: dict, volumes: bool = True, start_interval: bool = True) -> list:
    """The Dockerfile instructions of module/profile.json's ``image`` section (ENTRYPOINT, STOPSIGNAL,
    ENV, VOLUME, HEALTHCHECK, LABEL), one line each: the harness's stock images use them, and
    examples/debian/Dockerfile must carry the same lines (integration/tests)."""
    img = profile.get("image", {})
    q = json.dumps
    lines = [f"ENTRYPOINT {q(img.get('entrypoint', ['/init']))}"]
    if img.get("stopSignal"):
        lines.append(f"STOPSIGNAL {img['stopSignal']}")
    env = img.get("env", {})
    if env:
        lines.append("ENV " + " ".join(f"{k}={q(str(v))}" for k, v in env.items()))
    if volumes and img.get("volumes"):
        lines.append(f"VOLUME {q(img['volumes'])}")
    hc = img.get("healthcheck")
    if hc and hc.get("test"):
        test = hc["test"]
        opts = []
        flags = [("intervalSeconds", "interval"), ("timeoutSeconds", "timeout"),
                 ("startPeriodSeconds", "start-period")]
        if start_interval:
            flags.append(("startIntervalSeconds", "start-interval"))
        for key, flag in flags:
            if key in hc:
                opts.append(f"--{flag}={hc[key]}s")
        if "retries" in hc:
            opts.append(f"--retries={hc['retries']}")
        if test[0] == "CMD":
            cmd = q(test[1:])
        elif test[0] == "CMD-SHELL":
            cmd = test[1]
        else:
            raise HarnessError(f"unsupported healthcheck test {test!r}")
        lines.append(f"HEALTHCHECK {' '.join(opts)} CMD {cmd}")
    labels = img.get("labels", {})
    if labels:
        lines.append("LABEL " + " ".join(f"{q(k)}={q(str(v))}" for k, v in labels.items()))
    return lines


class ImageBuilder:
    def __init__(self, ctx):
        self.ctx = ctx
        self.cache_dir = ctx.cache_dir
        self.built: dict = {}
        self.failed: dict = {}
        self.test_tags: list = []
        self.base_tags_created: list = []
        self._start_interval: bool | None = None
        self._repos: dict = {}

    # -- root filesystems ---------------------------------------------------------------------
    def rootfs_key(self, suite: str, packages: list) -> str:
        recipe = {"recipe": RECIPE_VERSION, "suite": suite, "variant": VARIANT,
                  "packages": sorted(packages), "mirror": MIRROR, "dpkg": DPKG_EXCLUDES,
                  "apt": APT_OPTS}
        return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]

    def rootfs(self, suite: str, packages: list) -> str:
        key = self.rootfs_key(suite, packages)
        d = os.path.join(self.cache_dir, "rootfs")
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, f"{suite}-{key}.tar")
        if os.path.isfile(path):
            return path
        if not which("mmdebstrap"):
            self.ctx.apt_install(["mmdebstrap"])
        if not which("mmdebstrap"):
            raise Skip("mmdebstrap is missing and could not be installed")
        import fcntl
        with open(path + ".lock", "w") as lk:
            deadline = time.monotonic() + 1500  # > mmdebstrap's own 1200 s timeout
            while True:
                try:
                    fcntl.flock(lk, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise HarnessError(f"timed out waiting for {path}.lock")
                    time.sleep(1)
            if os.path.isfile(path):
                return path
            logfile = path[:-4] + ".log"
            tmp = path + f".tmp{os.getpid()}"
            cmd = ["mmdebstrap", f"--variant={VARIANT}", "--format=tar",
                   "--include=" + ",".join(packages)]
            cmd += [f"--aptopt={o}" for o in APT_OPTS]
            cmd += [f"--dpkgopt=path-exclude={e}" for e in DPKG_EXCLUDES]
            cmd += [suite, tmp, MIRROR]
            log(f"building the {suite} root filesystem with mmdebstrap (log {logfile}) …")
            t0 = time.monotonic()
            rc = run_streaming(cmd, timeout=1200, logfile=logfile)
            if rc != 0 or not os.path.isfile(tmp):
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise HarnessError(f"mmdebstrap {suite} failed (exit {rc}); see {logfile}\n"
                                   + tail_file(logfile))
            os.rename(tmp, path)
            log(f"{suite} root filesystem built in {time.monotonic() - t0:.1f}s: {path}")
        return path

    def systemd_version(self, rootfs: str) -> str | None:
        """Version of the systemd package in a cached root filesystem (from var/lib/dpkg/status)."""
        meta = rootfs + ".meta.json"
        try:
            return json.load(open(meta)).get("systemd")
        except (OSError, ValueError):
            pass
        version = None
        try:
            with tarfile.open(rootfs) as t:
                for m in t:
                    if m.name.lstrip("./") == "var/lib/dpkg/status":
                        text = t.extractfile(m).read().decode(errors="replace")
                        for para in text.split("\n\n"):
                            if "\nPackage: systemd\n" in "\n" + para + "\n":
                                for line in para.splitlines():
                                    if line.startswith("Version:"):
                                        version = line.split(":", 1)[1].strip()
                        break
        except (OSError, tarfile.TarError):
            return None
        with open(meta, "w") as f:
            json.dump({"systemd": version}, f)
        return version

    # -- base images (docker import) ------------------------------------------------------------
    def image_systemd_version(self, img) -> str | None:
        """The systemd package version an image installs: a patched kind's from its apt repository (the
        version examples/debian/Dockerfile installs, `<debian>+n2d<marker>`), else the root filesystem's."""
        repo = self._repos.get(img.kind.systemd) if img.kind.patched else None
        if repo:
            try:
                with open(os.path.join(repo, "Packages")) as f:
                    for stanza in f.read().split("\n\n"):
                        fields = dict(ln.split(": ", 1) for ln in stanza.splitlines() if ": " in ln)
                        if fields.get("Package") == "systemd":
                            return fields.get("Version")
            except OSError:
                pass
        return self.systemd_version(img.rootfs)

    def base_image(self, suite: str, packages: list) -> tuple:
        rootfs = self.rootfs(suite, packages)
        key = self.rootfs_key(suite, packages)
        tag = f"n2d-base:{suite}-{key}"
        d = self.ctx.docker
        if d.cli(["image", "inspect", "--format", "{{.Id}}", tag], timeout=30, expect=None).ok:
            return tag, rootfs
        log(f"docker import {os.path.basename(rootfs)} as {tag}")
        d.cli(["import", "--message", f"nixos2docker harness rootfs {suite} {key}", rootfs, tag], timeout=600)
        self.base_tags_created.append(tag)
        return tag, rootfs

    # -- overlays -----------------------------------------------------------------------------
    def normalised_overlay(self, src: str) -> str:
        """Copy an overlay tarball, rewriting bin/ sbin/ lib*/ to usr/… (the images are usrmerged,
        and Docker's ADD would replace the /lib symlink by a directory)."""
        st = os.stat(src)
        key = hashlib.sha256(f"{os.path.realpath(src)}:{st.st_size}:{st.st_mtime_ns}:v1".encode()
                             ).hexdigest()[:24]
        d = os.path.join(self.cache_dir, "overlays")
        os.makedirs(d, exist_ok=True)
        out = os.path.join(d, key + ".tar")
        if os.path.isfile(out):
            return out
        tmp = out + f".tmp{os.getpid()}"
        with tarfile.open(src, "r:*") as tin, tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tout:
            for m in tin:
                name = m.name
                while name.startswith("./"):
                    name = name[2:]
                name = name.lstrip("/")
                if not name or name == ".":
                    continue
                top = name.split("/", 1)[0]
                if top in USRMERGE_DIRS:
                    if "/" not in name and m.isdir():
                        continue  # the usrmerge symlink stays
                    name = "usr/" + name
                if m.islnk():
                    ln = m.linkname.lstrip("./").lstrip("/")
                    if ln.split("/", 1)[0] in USRMERGE_DIRS:
                        ln = "usr/" + ln
                    m.linkname = ln
                m.name = name
                tout.addfile(m, tin.extractfile(m) if m.isreg() else None)
        os.rename(tmp, out)
        return out

    # -- test images --------------------------------------------------------------------------
    def _binary_layer(self, path: str) -> None:
        binary = self.ctx.binary
        with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
            for dname in ("usr", "usr/local", "usr/local/bin"):
                ti = tarfile.TarInfo(dname)
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                t.addfile(ti)
            ti = t.gettarinfo(binary, "usr/local/bin/nixos2docker")
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = "root"
            ti.mode = 0o755
            with open(binary, "rb") as f:
                t.addfile(ti, f)
            ti = tarfile.TarInfo("init")
            ti.type, ti.linkname, ti.mode = tarfile.SYMTYPE, "/usr/local/bin/nixos2docker", 0o777
            t.addfile(ti)

    def _on_podman(self) -> bool:
        """Whether the engine under test (which builds the images) is podman."""
        engine = getattr(self.ctx, "engine", None)
        return engine is not None and engine.is_podman

    def start_interval_supported(self) -> bool:
        """HEALTHCHECK --start-interval needs Docker ≥ 25 (API 1.44); older builders reject the flag."""
        if self._start_interval is None and self._on_podman():
            self._start_interval = False  # podman's build: not part of what the harness checks
        if self._start_interval is None:
            p = self.ctx.docker.cli(["version", "--format", "{{.Server.APIVersion}}"], timeout=30, expect=None)
            try:
                self._start_interval = tuple(int(x) for x in p.stdout.strip().split(".")) >= (1, 44)
            except ValueError:
                self._start_interval = False
            if not self._start_interval:
                log(f"engine API {p.stdout.strip() or '?'} < 1.44: images get no HEALTHCHECK --start-interval")
        return self._start_interval

    def dockerfile(self, base_tag: str, overlays: list, volumes: bool, kind: ImageKind) -> str:
        lines = [f"FROM {base_tag}"]
        lines += [f"ADD {o} /" for o in overlays]
        lines.append("ADD nixos2docker-layer.tar /")
        lines += profile_instructions(self.ctx.profile, volumes, self.start_interval_supported())
        q = json.dumps
        labels = {"org.nixos2docker.harness.kind": kind.name, "org.nixos2docker.harness.run": self.ctx.run_id}
        lines.append("LABEL " + " ".join(f"{q(k)}={q(str(v))}" for k, v in labels.items()))
        return "\n".join(lines) + "\n"

    def image(self, kind_name: str, volumes: bool = True) -> Image:
        key = (kind_name, volumes)
        if key in self.built:
            return self.built[key]
        if key in self.failed:
            raise self.failed[key]
        try:
            img = self._build(kind_name, volumes)
        except (Skip, HarnessError) as e:
            self.failed[key] = e
            raise
        self.built[key] = img
        return img

    def _build(self, kind_name: str, volumes: bool) -> Image:
        if kind_name not in IMAGE_KINDS:
            raise HarnessError(f"unknown image kind {kind_name!r} (known: {', '.join(IMAGE_KINDS)})")
        kind = IMAGE_KINDS[kind_name]
        if self.ctx.binary_error:
            raise HarnessError(self.ctx.binary_error)
        if kind.systemd:
            return self._build_debian(kind, volumes)
        t0 = time.monotonic()
        packages = kind.packages or DEFAULT_PACKAGES
        base_tag, rootfs = self.base_image(kind.suite, packages)
        overlay_paths = [self.normalised_overlay(prov(self.ctx)) for prov in kind.overlays]
        tag = f"n2d-test:{kind.name}{'' if volumes else '-novol'}-{self.ctx.run_id}"
        with tempfile.TemporaryDirectory(prefix="n2d-build-") as tmp:
            os.chmod(tmp, 0o755)  # a rootless engine's CLI reads the context as its own user
            names = []
            for i, p in enumerate(overlay_paths):
                n = f"overlay{i}.tar"
                try:
                    os.link(p, os.path.join(tmp, n))
                except OSError:
                    shutil.copyfile(p, os.path.join(tmp, n))
                names.append(n)
            self._binary_layer(os.path.join(tmp, "nixos2docker-layer.tar"))
            with open(os.path.join(tmp, "Dockerfile"), "w") as f:
                f.write(self.dockerfile(base_tag, names, volumes, kind))
            # classic builder (offline); podman: docker format, else HEALTHCHECK is dropped
            fmt = podman_build_flags() if self._on_podman() else []
            self.ctx.docker.cli(["build", "-q", "--network", "none", "--rm", "--force-rm"] + fmt
                                + ["-t", tag, tmp], timeout=600, env={"DOCKER_BUILDKIT": "0"})
        self.test_tags.append(tag)
        img = Image(tag, kind, volumes, base_tag, rootfs, time.monotonic() - t0)
        log(f"built {tag} in {img.build_s:.1f}s")
        return img

    # -- patched kinds: the Debian packages and examples/debian/Dockerfile ------------------------------
    def apt_repo(self, version: str) -> str:
        """The apt repository of packaging/build-repo VERSION for the binary under test (cached by
        build-repo under the cache dir, keyed by patches/build's artefact, the binary and Debian's debs)."""
        if version not in self._repos:
            self._repos[version] = command_overlay(
                ["packaging/build-repo", version, "--binary", self.ctx.binary], directory=True)(self.ctx)
        return self._repos[version]

    def example_dockerfile(self, volumes: bool) -> str:
        """examples/debian/Dockerfile as the engine under test builds it: without VOLUME for a -novol
        image, without HEALTHCHECK --start-interval where the builder rejects it (Docker < 25)."""
        with open(EXAMPLE_DOCKERFILE) as f:
            text = f.read()
        if not volumes:
            text = "".join(line for line in text.splitlines(True) if not line.startswith("VOLUME "))
        if not self.start_interval_supported():
            text = re.sub(r" --start-interval=\S+", "", text)
        return text

    def _build_debian(self, kind: ImageKind, volumes: bool) -> Image:
        """The user's route: the suite's root filesystem (+ the kind's configuration overlays) as the
        base image ``n2d-debian:<kind>-<run>``, then ``docker build -f examples/debian/Dockerfile
        --build-arg BASE=n2d-debian --build-arg SUITE=<kind>-<run>`` with the apt repository of
        packaging/build-repo as the context."""
        t0 = time.monotonic()
        packages = kind.packages or DEFAULT_PACKAGES
        root_tag, rootfs = self.base_image(kind.suite, packages)
        repo = self.apt_repo(kind.systemd)
        d = self.ctx.docker
        fmt = podman_build_flags() if self._on_podman() else []
        base_name = f"{kind.name}-{self.ctx.run_id}"
        base_tag = f"n2d-debian:{base_name}"
        if base_tag not in self.test_tags:
            overlays = [self.normalised_overlay(prov(self.ctx)) for prov in kind.overlays]
            with tempfile.TemporaryDirectory(prefix="n2d-build-") as tmp:
                os.chmod(tmp, 0o755)  # a rootless engine's CLI reads the context as its own user
                lines = [f"FROM {root_tag}"]
                for i, p in enumerate(overlays):
                    try:
                        os.link(p, os.path.join(tmp, f"overlay{i}.tar"))
                    except OSError:
                        shutil.copyfile(p, os.path.join(tmp, f"overlay{i}.tar"))
                    lines.append(f"ADD overlay{i}.tar /")
                with open(os.path.join(tmp, "Dockerfile"), "w") as f:
                    f.write("\n".join(lines) + "\n")
                d.cli(["build", "-q", "--network", "none", "--rm", "--force-rm"] + fmt + ["-t", base_tag, tmp],
                      timeout=600, env={"DOCKER_BUILDKIT": "0"})
            self.test_tags.append(base_tag)
        tag = f"n2d-test:{kind.name}{'' if volumes else '-novol'}-{self.ctx.run_id}"
        text = self.example_dockerfile(volumes)
        with tempfile.TemporaryDirectory(prefix="n2d-dockerfile-") as tmp:
            os.chmod(tmp, 0o755)
            dockerfile = EXAMPLE_DOCKERFILE
            with open(EXAMPLE_DOCKERFILE) as f:
                if f.read() != text:
                    dockerfile = os.path.join(tmp, "Dockerfile")
                    with open(dockerfile, "w") as out:
                        out.write(text)
            labels = ["--label", f"org.nixos2docker.harness.kind={kind.name}",
                      "--label", f"org.nixos2docker.harness.run={self.ctx.run_id}"]
            d.cli(["build", "-q", "--network", "none", "--rm", "--force-rm"] + fmt + labels
                  + ["--build-arg", "BASE=n2d-debian", "--build-arg", f"SUITE={base_name}",
                     "-f", dockerfile, "-t", tag, repo], timeout=900, env={"DOCKER_BUILDKIT": "0"})
        self.test_tags.append(tag)
        img = Image(tag, kind, volumes, base_tag, rootfs, time.monotonic() - t0)
        log(f"built {tag} in {img.build_s:.1f}s (examples/debian/Dockerfile, {os.path.basename(repo)})")
        return img

    def cleanup(self, remove_base: bool) -> None:
        tags = list(self.test_tags) + (list(self.base_tags_created) if remove_base else [])
        for tag in tags:
            p = self.ctx.docker.cli(["rmi", "-f", tag], timeout=120, expect=None)
            if not p.ok and "No such image" not in p.output():
                log(f"could not remove image {tag}: {p.output().strip()}")
        self.test_tags.clear()
