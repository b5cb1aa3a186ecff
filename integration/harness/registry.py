"""Registry of scenarios and image kinds — the plug-in API of integration/run.

Any module placed in ``integration/scenarios/`` (e.g. ``scenarios/patched.py``) is imported by
``integration/run`` at start-up, in file-name order, and may register scenarios and image kinds
without editing any other file.  The harness package ``harness`` is importable from there.

Image kinds
-----------
An image kind names a test image: a cached mmdebstrap root filesystem of a Debian suite, optional
tarballs extracted over it, then our init binary at ``/usr/local/bin/nixos2docker`` with ``/init``
pointing at it, and the image config of ``module/profile.json`` (``image`` section)::

    from harness.registry import ImageKind, register_image_kind
    from harness.images import command_overlay

    register_image_kind(ImageKind(
        name="sid-patched",              # used in scenario image lists and result keys
        suite="sid",                     # Debian suite given to mmdebstrap
        packages=None,                   # None = harness.images.DEFAULT_PACKAGES
        overlays=[command_overlay(["patches/build"])],  # callables ctx -> tarball path, lazily run
        patched=True,                    # systemd carries our patches (changes boot_flags default)
        description="sid + patched systemd from patches/build",
    ))

``overlays`` are called only when a selected scenario needs the image; each returns the absolute
path of a ``.tar``/``.tar.gz``/``.tar.xz`` that is extracted over the root filesystem (via the
classic builder's ``ADD``), or raises ``harness.util.Skip("why")`` to skip the scenarios that need
the image.  ``command_overlay(cmd)`` runs ``cmd`` (relative paths are taken from the repo root),
logs its output under the cache dir and uses the LAST line of its stdout as the tarball path.
The built-in kinds ``sid``, ``trixie`` (stock systemd) and ``sid-patched`` (the contract hook for
``patches/build``; SKIPPED while that file does not exist) are registered by ``harness.images``.
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

A scenario function receives ``ctx`` (``harness.cli.Context``: ``.docker`` container helpers,
``.image(kind, volumes=True)``, ``.repo``, ``.cache_dir``, ``.profile``, ``.TMPFS_FLAGS``,
``.STOCK_RW_FLAGS``, ``.check_capeff``, ``.podman()`` — a ``harness.podman.Podman`` with the same
helpers plus ``.load(img)``, or Skip —, ``.mkdtemp(prefix)`` — removed at exit), ``img`` (a built ``harness.images.Image``: ``.tag``,
``.kind`` (the ImageKind), ``.boot_flags``) and ``r`` (a ``harness.report.Result``: ``r.check(name, ok,
detail)``, ``r.exit_code``, ``r.boot_s``, ``r.stop_s``, ``r.evidence(text)``, ``r.note(text)``,
``r.extra[...]``).  The result passes when every check passed and at least one check ran; raising
``harness.util.Skip(reason)`` marks it SKIPPED; any other exception fails it with the traceback as
evidence.  It runs once per entry of ``images`` (result key ``NAME@KIND``); ``images=[]`` runs it
once with ``img=None``.  Containers made through ``ctx.docker`` are removed after each scenario and
at exit.  Lower ``order`` runs first (built-ins use 10..90).  ``default=False`` makes a scenario
opt-in: it runs only when named (``integration/run NAME``), never in a run of everything.
``add_images(NAME, [KIND…])`` runs an existing scenario on more kinds: the built-in ones use
``img.boot_flags`` and ``img.kind.patched``, so e.g. ``add_images("restart", ["sid-patched"])`` works
unchanged.

Other helpers: ``harness.docker`` (``DOCKER_DEFAULT_CAPEFF``, ``BOOTED_STATES``, ``mask_names``),
``harness.contract`` (exit codes of /work/contracts.md), ``harness.fixtures.privileged_runtime(ctx)``
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


@dataclass
class Scenario:
    name: str
    func: Callable
    images: list
    doc: str = ""
    order: int = 50
    default: bool = True   # False: opt-in, runs only when named on the command line

    def instances(self):
        if not self.images:
            return [(self.name, None)]
        return [(f"{self.name}@{k}", k) for k in self.images]


SCENARIOS: dict[str, Scenario] = {}
IMAGE_KINDS: dict[str, ImageKind] = {}


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
             replace: bool = False, default: bool = True):
    """Decorator: register func(ctx, img, r) as scenario NAME run on each image kind.
    ``default=False`` makes it opt-in: a run without scenario names leaves it out."""

    def deco(func):
        register_scenario(Scenario(name, func, list(images), doc or (func.__doc__ or "").strip(),
                                   order, default), replace=replace)
        return func

    return deco


def add_images(name: str, kinds) -> None:
    """Also run the (already registered) scenario NAME on image kinds KINDS, e.g.
    ``add_images("restart", ["sid-patched"])`` from scenarios/patched.py."""
    sc = SCENARIOS[name]
    for k in kinds:
        if k not in sc.images:
            sc.images.append(k)


def ordered_scenarios() -> list:
    return sorted(SCENARIOS.values(), key=lambda s: (s.order, s.name))
