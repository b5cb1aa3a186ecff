"""integration/run: argument parsing, the Context given to scenarios, the main loop, cleanup."""

from __future__ import annotations

import argparse
import atexit
import importlib
import json
import os
import pkgutil
import signal
import sys
import time
import traceback

from . import machine, util
from . import engines as eng
from .docker import mask_names
from .images import STOCK_RW_FLAGS, SUITE_SYSTEMD, TMPFS_FLAGS, ImageBuilder, prefetch_patched_build
from .registry import CORE_KEYS, IMAGE_KINDS, SCENARIOS, check_core, ordered_scenarios
from .report import PASS, SKIPPED, Result, counts, table, write_json
from .userns import register_engines
from .util import HarnessError, Skip, log, run, which

register_engines()

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # integration/
REPO = os.path.dirname(HERE)


class Interrupted(BaseException):
    def __init__(self, signum: int):
        super().__init__(f"signal {signum}")
        self.signum = signum


class Context:
    """What a scenario gets as ``ctx`` (see harness.registry)."""

    TMPFS_FLAGS = TMPFS_FLAGS
    STOCK_RW_FLAGS = STOCK_RW_FLAGS

    def __init__(self, args):
        self.args = args
        self.repo = REPO
        self.cache_dir = os.path.abspath(args.cache_dir)
        self.run_id = f"{time.strftime('%H%M%S')}-{os.getpid()}"
        self.profile = json.load(open(os.path.join(REPO, "module", "profile.json")))
        self.binary: str | None = None
        self.binary_error: str | None = None
        self.engine: eng.Engine | None = None    # the engine under test (harness.engines)
        self.engine_name: str | None = None
        self.daemon = None                       # its backend (Daemon, RootDockerDaemon, PodmanNamespace)
        self.docker = None                       # its CLI helpers (harness.docker.Docker or Podman)
        self.daemon_skip: str | None = None
        self.images: ImageBuilder | None = None
        self.tmpdirs: list = []
        self.ahead = None  # the background patches/build (images.prefetch_patched_build)
        self._podman = None
        self._podman_skip = None
        self.on_engine_stop: list = []           # callables run before the engine stops (fixtures' cleanup)

    def podman(self):
        """The podman next to this Docker engine (harness.podman.Podman), created on first use; Skip if
        unusable.  On a podman engine, that engine's own client."""
        if self.engine is not None and self.engine.is_podman and self.docker is not None:
            return self.docker
        if self._podman is None:
            if self._podman_skip:
                raise Skip(self._podman_skip)
            from .podman import Podman
            try:
                self._podman = Podman(self)
            except Skip as e:
                self._podman_skip = str(e)
                raise
            log(f"podman {self._podman.version} ready")
        return self._podman

    def image(self, kind: str, volumes: bool = True):
        if self.daemon_skip:
            raise Skip(self.daemon_skip)
        return self.images.image(kind, volumes)

    def apt_install(self, packages) -> None:
        if self.args.no_install or not util.is_root() or not which("apt-get"):
            return
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        log(f"apt-get install {' '.join(packages)} …")
        run(["apt-get", "update", "-q"], timeout=600, env=env, expect=None)
        run(["apt-get", "install", "-y", "-q", "--no-install-recommends",
             "-o", "DPkg::Lock::Timeout=600"] + list(packages), timeout=1200, env=env, expect=None)

    def check_capeff(self, c, r: Result, label: str = "") -> bool:
        """CapEff of PID 1 == the engine's documented default capability set (nothing more, nothing
        less): Docker's for Docker engines, podman's for podman engines."""
        got = self.docker.capeff(c)
        want = self.engine.default_capeff
        who = "podman" if self.engine.is_podman else "Docker"
        name = f"CapEff of PID 1 = {who} default" + (f" ({label})" if label else "")
        if got is None:
            return r.check(name, False, "could not read /proc/1/status")
        extra = mask_names(got & ~want)
        missing = mask_names(want & ~got)
        r.extra.setdefault("capeff", []).append(f"{got:016x}")
        return r.check(name, got == want,
                       f"CapEff {got:016x}, expected {want:016x}"
                       + (f"; extra {extra}" if extra else "") + (f"; missing {missing}" if missing else ""))

    def mkdtemp(self, prefix: str) -> str:
        import tempfile
        d = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
        self.tmpdirs.append(d)
        return d


def load_scenario_modules() -> None:
    import scenarios  # integration/scenarios (integration/ is on sys.path)
    for m in sorted(pkgutil.iter_modules(scenarios.__path__), key=lambda m: m.name):
        importlib.import_module(f"scenarios.{m.name}")
    check_core()


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="integration/run",
        description="Run nixos2docker's integration scenarios against a Docker daemon with cgroup v2.")
    ap.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                    help="scenario names (all kinds) or NAME@KIND; default: all")
    ap.add_argument("--list", action="store_true", help="list scenarios and image kinds, then exit")
    ap.add_argument("--engine", action="append", metavar="NAME[,NAME…]",
                    help=f"engine(s) to run on: {', '.join(eng.ENGINES)}, or all (repeatable); default "
                         f"{eng.DEFAULT_ENGINE}.  Every scenario runs on the default engine, the core on "
                         f"every engine")
    ap.add_argument("--images", default=None,
                    help="comma-separated image kinds to run on (default: each scenario's own list)")
    ap.add_argument("--binary", help="use this nixos2docker binary instead of `cargo build --release`")
    ap.add_argument("--cache-dir", default=os.environ.get("NIXOS2DOCKER_CACHE", "/var/cache/nixos2docker"))
    ap.add_argument("--results", default=os.path.join(HERE, "results", "results.json"),
                    help="JSON result file (default integration/results/results.json)")
    ap.add_argument("--allow-skip", action="store_true",
                    help="exit 0 even if scenarios were SKIPPED (never in CI)")
    ap.add_argument("--capture-fixtures", action="store_true",
                    help="run `nixos2docker capture` in each container kind and write tests/fixtures/*.json")
    ap.add_argument("--fixtures-dir", default=os.path.join(REPO, "tests", "fixtures"))
    ap.add_argument("--no-install", action="store_true", help="never apt-get install anything")
    ap.add_argument("--keep-base-images", action="store_true",
                    help="keep the imported base images on an ambient (non-private) daemon")
    ap.add_argument("-v", "--verbose", action="store_true")
    return ap.parse_args(argv)


def select(args, engine: str = eng.DEFAULT_ENGINE) -> list:
    """(scenario, key, kind) instances to run on ENGINE, in order."""
    kinds_filter = set(args.images.split(",")) if args.images else None
    wanted = args.scenarios
    out = []
    unknown = []
    for w in wanted:
        name = w.split("@", 1)[0]
        if name not in SCENARIOS:
            unknown.append(w)
        elif "@" in w and w.split("@", 1)[1] not in SCENARIOS[name].images:
            unknown.append(w)
    if unknown:
        raise SystemExit(f"integration/run: unknown scenario(s): {', '.join(unknown)} "
                         f"(see integration/run --list)")
    for sc in ordered_scenarios():
        for key, kind in sc.instances():
            if wanted and not (sc.name in wanted or key in wanted):
                continue
            if not wanted and not sc.by_default(kind):
                continue
            if kinds_filter and kind is not None and kind not in kinds_filter:
                continue
            if not sc.runs_on(kind, engine, eng.DEFAULT_ENGINE):
                continue
            out.append((sc, key, kind))
    return out


def list_scenarios() -> None:
    scs = ordered_scenarios()
    w = max([len(sc.name) for sc in scs] + [len(k) for k in IMAGE_KINDS] + [4])
    wk = max([len(",".join(sc.images)) for sc in scs] + [5])
    print(f"Scenarios ({'NAME':<{w - 1}} {'IMAGE KINDS':<{wk}} WHAT IT PROVES):")
    for sc in scs:
        kinds = ",".join(sc.images) or "-"
        core = [k or "-" for k in sc.images if k in sc.core or f"{sc.name}@{k}" in CORE_KEYS]
        where = (f"[engines: {','.join(sc.engines)}] " if sc.engines is not None else
                 f"[core on every engine: {','.join(core)}] " if core else "")
        doc = ("(opt-in: runs only when named) " if not sc.default else
               f"(by default only on {','.join(sc.default)}) " if sc.default is not True else "") + where + " ".join(sc.doc.split())
        print(f"  {sc.name:<{w}} {kinds:<{wk}} {doc}")
    print(f"\nEngines (default {eng.DEFAULT_ENGINE}; --engine NAME,… or all):")
    for e in eng.ENGINES.values():
        print(f"  {e.name:<18} {e.kind:<7} {e.description}")
    print("\nImage kinds:")
    for k in IMAGE_KINDS.values():
        print(f"  {k.name:<{w}} suite={k.suite:<8} patched={str(k.patched).lower():<5} {k.description}")


CACHED = ("rootfs", "systemd", "engines", "packages", "docker")  # what a run builds once and reuses


def cache_state(cache_dir: str) -> dict:
    """How many entries each reusable part of the cache dir holds at the start; cold = none (a new machine)."""
    counts = {}
    for d in CACHED:
        try:
            counts[d] = len(os.listdir(os.path.join(cache_dir, d)))
        except OSError:
            counts[d] = 0
    return dict(counts, cold=not any(counts.values()))


def build_binary(ctx: Context) -> None:
    if ctx.args.binary:
        b = os.path.abspath(ctx.args.binary)
        if not (os.path.isfile(b) and os.access(b, os.X_OK)):
            ctx.binary_error = f"--binary {b}: not an executable file"
        ctx.binary = b
        return
    cargo = which("cargo")
    if not cargo:
        ctx.binary_error = "cargo not found (give --binary PATH)"
        return
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(REPO, "target")
    logdir = os.path.join(ctx.cache_dir, "logs")
    os.makedirs(logdir, exist_ok=True)
    logfile = os.path.join(logdir, "cargo-build.log")
    log(f"cargo build --release (target dir {target}, log {logfile}) …")
    t0 = time.monotonic()
    rc = util.run_streaming([cargo, "build", "--release"], timeout=3600, logfile=logfile,
                            env=dict(os.environ, CARGO_TARGET_DIR=target), cwd=REPO)
    b = os.path.join(target, "release", "nixos2docker")
    if rc != 0 or not os.path.isfile(b):
        ctx.binary_error = f"cargo build --release failed (exit {rc}):\n{util.tail_file(logfile)}"
        return
    log(f"built {b} in {time.monotonic() - t0:.1f}s")
    ctx.binary = b


def run_instance(ctx: Context, sc, key: str, kind) -> Result:
    r = Result(f"{ctx.engine_name}/{key}" if ctx.engine_name else key, sc.name, kind,
               engine=ctx.engine_name)
    t0 = time.monotonic()
    log(f"--- {key}")
    try:
        img = None
        if kind is not None:
            img = ctx.image(kind)
            r.image = img.tag
        sc.func(ctx, img, r)
    except Skip as e:
        r.status, r.reason = SKIPPED, str(e)
    except Interrupted as e:
        r.reason = f"interrupted ({e})"
        ctx.partial = r
        raise
    except HarnessError as e:
        r.reason = str(e)
        r.evidence(str(e), "harness error")
    except Exception:
        tb = traceback.format_exc()
        r.reason = tb.strip().splitlines()[-1]
        r.evidence(tb, "exception")
    finally:
        r.seconds = time.monotonic() - t0
        r.finish()
        if ctx._podman is not None:
            try:
                ctx._podman.remove_tracked()
            except Exception as e:
                log(f"podman cleanup after {key}: {e}")
        if ctx.docker is not None:
            try:
                ctx.docker.remove_tracked()
            except Exception as e:  # cleanup must not mask the result
                log(f"cleanup after {key}: {e}")
    log(f"{key}: {r.status.upper()} ({r.seconds:.1f}s)"
        + (f" — {r.first_failure() or r.reason}" if r.status != PASS else ""))
    return r


class Cleanup:
    """Removes what the current engine's scenarios left and stops that engine; at exit, also the
    temporary directories.  Safe to call twice."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.done = False

    def engine(self) -> None:
        ctx = self.ctx
        hooks, ctx.on_engine_stop = ctx.on_engine_stop, []
        for hook in hooks:
            try:
                hook()
            except Exception as e:
                log(f"cleanup: {e}")
        try:
            if ctx._podman is not None:
                ctx._podman.cleanup()
        except Exception as e:
            log(f"podman cleanup: {e}")
        try:
            if ctx.docker is not None:
                if ctx.engine is not None and ctx.engine.is_podman:
                    ctx.docker.cleanup()
                else:
                    ctx.docker.remove_tracked()
                    ctx.docker.remove_labelled()
            if ctx.images is not None and ctx.docker is not None:
                remove_base = not getattr(ctx.daemon, "private", False) and not ctx.args.keep_base_images
                ctx.images.cleanup(remove_base=remove_base)
        except Exception as e:
            log(f"cleanup: {e}")
        finally:
            if ctx.engine is not None:
                ctx.engine.stop()
            elif ctx.daemon is not None:
                ctx.daemon.stop()
            ctx.engine = ctx.daemon = ctx.docker = ctx.images = ctx._podman = None
            ctx._podman_skip = ctx.daemon_skip = None

    def __call__(self) -> None:
        if self.done:
            return
        self.done = True
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        try:
            self.engine()
        finally:
            ahead = getattr(self.ctx, "ahead", None)
            if ahead is not None and ahead.poll() is None:  # interrupted before the image build waited for it
                try:
                    os.killpg(ahead.pid, signal.SIGTERM)
                except OSError:
                    pass
            import shutil
            for d in self.ctx.tmpdirs:
                shutil.rmtree(d, ignore_errors=True)


def start_engine(ctx: Context, name: str, meta: dict) -> None:
    """Start engine NAME and bind ctx to it; on failure ctx.daemon_skip says why (scenarios then fail
    as SKIPPED, which fails the run)."""
    spec = eng.ENGINES[name]
    ctx.engine_name = name
    log(f"==== engine {name}: {spec.description}")
    try:
        ctx.engine, ctx.docker = eng.start(ctx, spec)
        ctx.daemon = ctx.engine.backend
        ctx.images = ImageBuilder(ctx)
        facts = ctx.engine.facts
        meta.setdefault("engines", {})[name] = facts
        if name == eng.DEFAULT_ENGINE or "docker" not in meta:
            meta["docker"] = facts
        if getattr(ctx.daemon, "private", False):  # a crashed earlier run may have left containers / images
            ctx.docker.remove_labelled("org.nixos2docker.harness.run")
            _remove_stale_test_images(ctx)
        log(f"{name}: {spec.kind} {facts.get('server_version')}: cgroup v{facts.get('cgroup_version')} "
            f"({facts.get('cgroup_driver')}), runtime {facts.get('default_runtime')} "
            f"{facts.get('runc_version') or ''}, kernel {facts.get('kernel')}")
    except (Skip, HarnessError) as e:
        ctx.daemon_skip = f"engine {name} unavailable: {e}"
        meta.setdefault("engines", {})[name] = {"engine": name, "error": str(e)}
        log(f"SKIPPING everything on engine {name}: {e}")
        if ctx.engine is not None:
            ctx.engine.stop()
        ctx.engine = None


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    util.VERBOSE = args.verbose
    load_scenario_modules()
    if args.list:
        list_scenarios()
        return 0
    engine_names = eng.parse_engines(args.engine)
    plan = [(name, [] if args.capture_fixtures and not args.scenarios else select(args, name))
            for name in engine_names]
    if not args.capture_fixtures and not any(sel for _, sel in plan):
        raise SystemExit(f"integration/run: nothing to run on engine(s) {', '.join(engine_names)} "
                         "(see integration/run --list)")

    ctx = Context(args)
    cleanup = Cleanup(ctx)
    atexit.register(cleanup)

    def on_signal(signum, frame):
        raise Interrupted(signum)

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)

    t_start = time.monotonic()
    results: list = []
    meta = {"run_id": ctx.run_id, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "cache_dir": ctx.cache_dir, "repo": REPO, "default_engine": eng.DEFAULT_ENGINE,
            "engines_selected": engine_names, "images": {}, "engine_wall_s": {},
            "machine": machine.facts(REPO)}
    meta["caches_at_start"] = cache_state(ctx.cache_dir)
    rc = 1
    try:
        os.makedirs(ctx.cache_dir, exist_ok=True)
        ctx.ahead = prefetch_patched_build(ctx, [kind for _, sel in plan for _, _, kind in sel])
        build_binary(ctx)
        if ctx.binary_error:
            log(ctx.binary_error)
        meta["binary"] = ctx.binary
        if ctx.binary and not ctx.binary_error:
            meta["binary_sha256"] = util.sha256_file(ctx.binary)
            meta["binary_bytes"] = os.path.getsize(ctx.binary)
        for i, (name, selected) in enumerate(plan):
            if not selected and not (args.capture_fixtures and i == 0):
                continue
            t_engine = time.monotonic()
            start_engine(ctx, name, meta)
            if args.capture_fixtures and i == 0:
                from .fixtures import capture_all
                results += capture_all(ctx)
            for sc, key, kind in selected:
                results.append(run_instance(ctx, sc, key, kind))
            for k, v in _image_meta(ctx).items():
                meta["images"][f"{name}/{k}"] = v
            cleanup.engine()
            meta["engine_wall_s"][name] = round(time.monotonic() - t_engine, 1)
        rc = 0
    except Interrupted as e:
        log(f"interrupted ({e}): cleaning up")
        meta["interrupted"] = str(e)
        if getattr(ctx, "partial", None) is not None:
            results.append(ctx.partial)
        rc = 128 + e.signum
    finally:
        cleanup()
        meta["wall_s"] = round(time.monotonic() - t_start, 1)
        ci_start = os.environ.get("NIXOS2DOCKER_CI_START", "")
        if ci_start.isdigit():  # set by .ci/run: the whole CI's wall time so far (this is its last step)
            meta["ci_elapsed_s"] = round(time.time() - int(ci_start), 1)
        if results or rc == 0:
            write_json(args.results, results, meta)
    for name, d in (meta.get("engines") or {}).items():
        if d.get("error"):
            print(f"engine {name}: UNAVAILABLE: {d['error'].splitlines()[0] if d['error'] else ''}")
            continue
        pk = d.get("packages") or {}
        print(f"engine {name}: {d.get('server_version')} ({d.get('default_runtime')} "
              f"{d.get('runc_version') or ''}), cgroup v{d.get('cgroup_version')} ({d.get('cgroup_driver')}), "
              f"kernel {d.get('kernel')}; " + ", ".join(f"{k} {v}" for k, v in sorted(pk.items()))
              + f"; wall {meta['engine_wall_s'].get(name, 0):.0f}s")
    for name, im in (meta.get("images") or {}).items():
        print(f"image {name}: {im['tag']} (systemd {im['systemd_package']})")
    print(table(results))
    p, f, s = counts(results)
    print(f"\nresults: {args.results}  (wall {meta['wall_s']:.1f}s)")
    if s and not args.allow_skip:
        print(f"SKIPPED scenarios make this run fail (use --allow-skip to accept them): "
              f"{', '.join(r.key for r in results if r.status == SKIPPED)}")
    print(f"integration: {p} passed, {f} failed, {s} skipped")
    if rc:
        return rc
    if f or (s and not args.allow_skip) or not results:
        return 1
    return 0


def _remove_stale_test_images(ctx: Context) -> None:
    p = ctx.docker.cli(["images", "--format", "{{.Repository}}:{{.Tag}}", "n2d-test"], timeout=60, expect=None)
    tags = [t for t in p.stdout.split() if t.removeprefix("localhost/").startswith("n2d-test:")]
    # base images whose cached root filesystem was deleted (refresh) or re-keyed are stale too
    p = ctx.docker.cli(["images", "--format", "{{.Repository}}:{{.Tag}}", "n2d-base"], timeout=60, expect=None)
    for t in p.stdout.split():
        if t.removeprefix("localhost/").startswith("n2d-base:") and not os.path.exists(
                os.path.join(ctx.cache_dir, "rootfs", t.split(":", 1)[1] + ".tar")):
            tags.append(t)
    if tags:
        log(f"removing images left by earlier runs: {', '.join(tags)}")
        ctx.docker.cli(["rmi", "-f"] + tags, timeout=120, expect=None)


def _image_meta(ctx: Context) -> dict:
    out = {}
    if ctx.images is None:
        return out
    for (kind, vol), img in ctx.images.built.items():
        out[img.name] = {"tag": img.tag, "base": img.base_tag, "rootfs": img.rootfs,
                         "suite": img.kind.suite, "patched": img.kind.patched,
                         "systemd_expected": SUITE_SYSTEMD.get(img.kind.suite),
                         "systemd_package": ctx.images.image_systemd_version(img),
                         "build_s": round(img.build_s, 2)}
    return out
