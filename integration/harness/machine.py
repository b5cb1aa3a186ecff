"""What a measurement was taken on: recorded in every result file (docs/results.py tables it)."""
from __future__ import annotations

import os
import platform
import subprocess


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def facts(repo: str) -> dict:
    """Host name, kernel, CPUs and their model, memory, load average, and the repository's commit."""
    cpu = next((ln.split(":", 1)[1].strip() for ln in _read("/proc/cpuinfo").splitlines()
                if ln.startswith("model name")), "")
    mem = next((ln.split()[1] for ln in _read("/proc/meminfo").splitlines() if ln.startswith("MemTotal:")), "0")
    try:
        commit = subprocess.run(["git", "-C", repo, "rev-parse", "--short=12", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", repo, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip() != ""
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "", False
    return {"hostname": platform.node(), "kernel": platform.release(), "cpus": os.cpu_count(),
            "cpu_model": cpu, "memory_gib": round(int(mem) / 1048576, 1),
            "loadavg": _read("/proc/loadavg").split()[:3], "commit": commit + ("+dirty" if dirty else "")}
