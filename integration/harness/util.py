"""Small helpers: logging to stderr, subprocess with mandatory timeouts."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass

PREFIX = "integration:"
VERBOSE = False


def log(msg: str) -> None:
    print(f"{PREFIX} {msg}", file=sys.stderr, flush=True)


def debug(msg: str) -> None:
    if VERBOSE:
        print(f"{PREFIX} [debug] {msg}", file=sys.stderr, flush=True)


class HarnessError(Exception):
    """An error of the harness itself (not of the thing under test)."""


class Skip(Exception):
    """Raised by a scenario (or by a resource it needs) when it cannot run here.

    The scenario is reported as SKIPPED with str(exc) as the reason.
    """


@dataclass
class Proc:
    cmd: list
    returncode: int  # -1 when timed out
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def output(self) -> str:
        return (self.stdout or "") + (self.stderr or "")

    def describe(self) -> str:
        rc = "timeout" if self.timed_out else str(self.returncode)
        tail = "\n".join(self.output().strip().splitlines()[-15:])
        return f"$ {' '.join(map(str, self.cmd))}\n[exit {rc}, {self.seconds:.2f}s]\n{tail}"


def run(cmd, timeout: float, env=None, expect: int | None = 0, input: str | None = None,
        cwd=None) -> Proc:
    """Run cmd (list) with a timeout. Raises HarnessError unless it exits with `expect` (default 0);
    expect=None accepts any exit (and a timeout): the caller judges the Proc itself."""
    cmd = [str(c) for c in cmd]
    debug("$ " + " ".join(cmd))
    t0 = time.monotonic()
    try:
        cp = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                            input=input, cwd=cwd, errors="replace")
        p = Proc(cmd, cp.returncode, cp.stdout, cp.stderr, time.monotonic() - t0)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        p = Proc(cmd, -1, out, err, time.monotonic() - t0, timed_out=True)
    except FileNotFoundError as e:
        p = Proc(cmd, 127, "", str(e), time.monotonic() - t0)
    if expect is not None and (p.timed_out or p.returncode != expect):
        raise HarnessError(f"expected exit {expect}:\n{p.describe()}")
    return p


def run_streaming(cmd, timeout: float, logfile: str, env=None, cwd=None) -> int:
    """Run a long command with its output going to logfile; returns exit code (-1 on timeout)."""
    cmd = [str(c) for c in cmd]
    debug("$ " + " ".join(cmd) + f" > {logfile}")
    with open(logfile, "ab") as f:
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                             start_new_session=True)
        try:
            return p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, 9)
            except ProcessLookupError:
                pass
            p.wait(timeout=30)
            return -1
        except BaseException:
            try:
                os.killpg(p.pid, 9)
            except ProcessLookupError:
                pass
            raise


def tail_file(path: str, n: int = 20) -> str:
    try:
        with open(path, errors="replace") as f:
            return "\n".join(f.read().splitlines()[-n:])
    except OSError:
        return ""


def which(name: str) -> str | None:
    from shutil import which as w
    return w(name)


def is_root() -> bool:
    return os.geteuid() == 0


def sha256_file(path: str) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
