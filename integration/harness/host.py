"""integration/host-packages, read: the Debian packages the test command installs on the host and the commands
each gives (see that file).  integration/host-check proves the list on pristine Debian roots; the harness
installs from it what it finds missing."""

from __future__ import annotations

import os

LIST = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "host-packages")


def read_list(path: str = LIST) -> list:
    """[(package, [commands], from_debian, suites)] in file order; `(NAME)` entries are not Debian packages;
    suites is None (every suite) or the codenames of `PACKAGE@SUITE,…`."""
    out = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            name, sep, cmds = line.partition(":")
            if not sep or not name or " " in name.strip():
                raise SystemExit(f"{path}:{n}: expected `PACKAGE: COMMAND…`, got {line!r}")
            name, _, suites = name.strip().partition("@")
            debian = not name.startswith("(")
            out.append((name if debian else name.strip("()"), cmds.split(), debian,
                        suites.split(",") if suites else None))
    return out


def packages(entries, suite: str | None = None) -> list:
    """The Debian packages to install on SUITE (None: on any suite, the unqualified ones and all others)."""
    return [p for p, _, debian, suites in entries if debian and (suites is None or suite is None or suite in suites)]


def this_suite() -> str | None:
    try:
        with open("/etc/os-release") as f:
            return dict(ln.rstrip("\n").split("=", 1) for ln in f if "=" in ln).get("VERSION_CODENAME")
    except OSError:
        return None


def packages_giving(commands, suite: str | None = None) -> list:
    """This suite's packages that the list names for any of COMMANDS (what to apt-get install for them)."""
    entries = [e for e in read_list() if set(e[1]) & set(commands)]
    return packages(entries, suite or this_suite())
