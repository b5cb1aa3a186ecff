"""Registry of scenarios and image kinds — the plug-in API of integration/run.

Any module placed in ``integration/scenarios/`` (e.g. ``scenarios/patched.py``) is imported by
``integration/run`` at start-up, in file-name order, and may register scenarios and image kinds
without editing any other file.  The harness package ``harness`` is importable from there.

Image kinds
-----------
An image kind names a test image: a cached mmdebstrap root filesystem of a Debian suite, optional
tarballs extracted over it (configuration), then either (stock kinds) our init binary at
``/usr/local/bin/nixos2docker`` with ``/init`` pointing at it and the image config of
``module/profile.json`` (``image`` section), or (``systemd=VERSION``, the patched kinds) the user's
route: that root imported as the base and ``examples/debian/Dockerfile`` built on it with the apt
repository of ``packaging/build-repo VERSION`` (the patched systemd and the init as Debian packages)::

    from harness.registry import ImageKind, register_image_kind

    register_image_kind(ImageKind(
        name="trixie-patched",           # used in scenario image lists and result keys
        suite="trixie",                  # Debian suite given to mmdebstrap
        packages=None,                   # None = harness.images.DEFAULT_PACKAGES
        overlays=[],                     # callables ctx -> tarball path, lazily run
        systemd="257.13",                # a version of patches/versions: packaging/build-repo 257.13
        patched=True,                    # systemd carries our patches (changes boot_flags default)
        description="trixie + the nixos2docker packages of systemd 257.13",
    ))

``overlays`` are called only when a selected scenario needs the image; each returns the absolute
path of a ``.tar``/``.tar.gz``/``.tar.xz`` that is extracted over the root filesystem (via the
classic builder's ``ADD``), or raises ``harness.util.Skip("why")`` to skip the scenarios that need
the image.  ``command_overlay(cmd)`` runs ``cmd`` (relative paths are taken from the repo root),
logs its output under the cache dir and uses the LAST line of its stdout as the tarball path.
The built-in kinds ``sid``, ``trixie`` (stock systemd) and ``sid-patched`` (systemd 262 through
``packaging/build-repo``) are registered by ``harness.images``.
Pass ``replace=True`` to ``register_image_kind`` to redefine a kind.

``ImageKind.boot_flags`` are the docker run flags with which the image is expected to BOOT:
stock systemd → the insecure baseline ``--cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw`` plus
the three ``--tmpfs`` flags; patched → only the three ``--tmpfs`` flags.  Override per kind.

Scenarios
---------
::

    from harness.registry import scenario

    @scenario("patched-boot", images=["sid-patched"], order=100,
              doc="patched systemd boots with only the --tmpfs flags")
    def patched_boot(ctx, img, r):
        c = ctx.docker.run(img, ctx.TMPFS_FLAGS)      # detached, --network none, labelled
        r.boot_s, state = ctx.docker.wait_booted(c)   # docker exec systemctl is-system-running --wait
        r.check("running", state == "running", state)
        ctx.check_capeff(c, r)                        # CapEff of PID 1 == Docker's default set
        r.stop_s, r.exit_code = ctx.docker.timed_stop(c)
        r.check("exit 0", r.exit_code == 0, r.exit_code)

Engines
-------
Scenarios run on the DEFAULT engine (harness.engines.DEFAULT_ENGINE: Docker 28.5); ``core=[KIND…]``
(or ``core=True``, or ``add_core("NAME@KIND", …)``; the core list is scenarios/engines.py) puts those instances in the core that runs on every
engine (``integration/run --engine all``); ``engines=["docker28", …]`` runs a scenario only on the named
engines (e.g. a Docker ≥ 28 feature).  Write scenarios against ``ctx.docker`` — it is bound to the engine
under test (Docker's or podman's CLI with the same helpers) — and ask ``ctx.engine`` (``.name``,
``.kind``, ``.is_docker``, ``.is_podman``, ``.version``, ``.version_at_least(28)``, ``.default_capeff``,
``.privileged_runtime()``, ``.facts``) where engines differ.  Never hard-code a socket or ``docker``.

A scenario function receives ``ctx`` (``harness.cli.Context``: ``.docker`` container helpers,
``.image(kind, volumes=True)``, ``.repo``, ``.cache_dir``, ``.profile``, ``.TMPFS_FLAGS``,
``.STOCK_RW_FLAGS``, ``.check_capeff`` (against the engine's default set), ``.podman()`` — the podman next
to a Docker engine, a ``harness.podman.Podman`` with the same helpers plus ``.load(img)``, or Skip —, ``.mkdtemp(prefix)`` — removed at exit), ``img`` (a built ``harness.images.Image``: ``.tag``,
``.kind`` (the ImageKind), ``.boot_flags``) and ``r`` (a ``harness.report.Result``: ``r.check(name, ok,
detail)``, ``r.exit_code``, ``r.boot_s``, ``r.stop_s``, ``r.evidence(text)``, ``r.note(text)``,
``r.extra[...]``).  The result passes when every check passed and at least one check ran; raising
``harness.util.Skip(reason)`` marks it SKIPPED; any other exception fails it with the traceback as
evidence.  It runs once per entry of ``images`` (result key ``NAME@KIND``); ``images=[]`` runs it
once with ``img=None``.  Containers made through ``ctx.docker`` are removed after each scenario and
at exit.  Lower ``order`` runs first (built-ins use 10..90).  ``default=False`` makes a scenario
opt-in: it runs only when named (``integration/run NAME``), never in a run of everything;
``default=[KIND…]`` runs only those instances in a run of everything (the others when named).
``add_images(NAME, [KIND…])`` runs an existing scenario on more kinds: the built-in ones use
``img.boot_flags`` and ``img.kind.patched``, so e.g. ``add_images("restart", ["sid-patched"])`` works
unchanged.

Steps scenarios share: ``harness.helpers`` (``boot``, ``failed_units``, ``in_container``, ``wait_booted``,
``stop``, ``kill_and_wait``, ``timed_exit``, ``privileged``); a scenario module imports those, never another
scenario module.  Other helpers: ``harness.docker`` (``DOCKER_DEFAULT_CAPEFF``, ``BOOTED_STATES``, ``mask_names``),
``harness.contract`` (the exit codes of src/exit_code.rs), ``harness.helpers.privileged_runtime(ctx)``
(flags every ``--privileged`` container needs on the private daemon of a host that lacks
capabilities; empty elsewhere), ``harness.images.TMPFS_FLAGS`` / ``STOCK_RW_FLAGS``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional


@dataclass
class ImageKind:
    name: str
    suite: str
    packages: Optional[list] = None
    overlays: list = field(default_factory=list)
    patched: bool = False
    boot_flags: Optional[list] = None
    description: str = ""
    systemd: Optional[str] = None  # a version of patches/versions: built through the Debian packages


@dataclass
class Scenario:
    name: str
    func: Callable
    images: list
    doc: str = ""
    order: int = 50
    default: object = True  # False: opt-in, runs only when named; a list of kinds: only those by default

    def by_default(self, kind) -> bool:
        """Does instance (self, KIND) run in a run that names no scenario?"""
        return self.default is True or (isinstance(self.default, (list, tuple)) and kind in self.default)
    core: list = field(default_factory=list)   # image kinds whose instance runs on EVERY engine
    engines: Optional[list] = None             # None: the default engine (+ core); else exactly these

    def runs_on(self, kind, engine: str, default_engine: str) -> bool:
        """Does instance (self, KIND) run on ENGINE?  ("default" in ``engines`` = the default engine.)"""
        if self.engines is not None:
            return engine in self.engines or ("default" in self.engines and engine == default_engine)
        return engine == default_engine or kind in self.core or f"{self.name}@{kind}" in CORE_KEYS

    def instances(self):
        if not self.images:
            return [(self.name, None)]
        return [(f"{self.name}@{k}", k) for k in self.images]


SCENARIOS: dict[str, Scenario] = {}
IMAGE_KINDS: dict[str, ImageKind] = {}
CORE_KEYS: set = set()  # "NAME@KIND" instances that run on every engine (add_core)


def register_image_kind(kind: ImageKind, replace: bool = False) -> ImageKind:
    if kind.name in IMAGE_KINDS and not replace:
        raise ValueError(f"image kind {kind.name!r} registered twice (use replace=True)")
    IMAGE_KINDS[kind.name] = kind
    return kind


def register_scenario(sc: Scenario, replace: bool = False) -> Scenario:
    if sc.name in SCENARIOS and not replace:
        raise ValueError(f"scenario {sc.name!r} registered twice (use replace=True)")
    SCENARIOS[sc.name] = sc
    return sc


def scenario(name: str, images=("sid", "trixie"), doc: str = "", order: int = 50,
             replace: bool = False, default: bool = True, core=(), engines=None):
    """Decorator: register func(ctx, img, r) as scenario NAME run on each image kind.
    ``default=False`` makes it opt-in: a run without scenario names leaves it out (``default=[KIND…]``:
    leaves out the other kinds' instances).

    ``core``: image kinds (a subset of ``images``, or True for all) whose instance belongs to the CORE
    that runs on every engine; ``engines``: run only on these engines (names of harness.engines, or
    "default"), on all of ``images``."""

    def deco(func):
        kinds = list(images)
        core_kinds = (kinds or [None]) if core is True else list(core)
        register_scenario(Scenario(name, func, kinds, doc or (func.__doc__ or "").strip(), order,
                                   default=default, core=core_kinds,
                                   engines=None if engines is None else list(engines)),
                          replace=replace)
        return func

    return deco


def add_core(*keys: str) -> None:
    """Put instances ``NAME@KIND`` in the core (run on every engine).  The scenarios may be registered
    later (modules load in file-name order); ``check_core`` verifies the keys once all are loaded."""
    CORE_KEYS.update(keys)


def check_core() -> None:
    for key in sorted(CORE_KEYS):
        name, _, kind = key.partition("@")
        if name not in SCENARIOS or kind not in SCENARIOS[name].images:
            raise ValueError(f"core instance {key!r} is not a registered scenario@kind")


def add_images(name: str, kinds) -> None:
    """Also run the (already registered) scenario NAME on image kinds KINDS, e.g.
    ``add_images("restart", ["sid-patched"])`` from scenarios/patched.py."""
    sc = SCENARIOS[name]
    for k in kinds:
        if k not in sc.images:
            sc.images.append(k)


def ordered_scenarios() -> list:
    return sorted(SCENARIOS.values(), key=lambda s: (s.order, s.name))
