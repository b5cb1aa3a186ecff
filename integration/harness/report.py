"""Scenario results, the summary table (stdout) and the JSON result file."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field

PASS, FAIL, SKIPPED = "pass", "fail", "skipped"


@dataclass
class Result:
    key: str                       # NAME@KIND (or NAME)
    scenario: str
    image_kind: str | None
    status: str = FAIL
    image: str | None = None       # docker tag used
    exit_code: int | None = None
    boot_s: float | None = None
    stop_s: float | None = None
    seconds: float = 0.0           # wall time of the whole scenario
    checks: list = field(default_factory=list)   # [{name, ok, detail}]
    notes: list = field(default_factory=list)
    evidence_parts: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    reason: str | None = None      # skip or failure reason
    engine: str | None = None      # harness.engines name

    def check(self, name: str, ok: bool, detail="") -> bool:
        self.checks.append({"name": name, "ok": bool(ok), "detail": str(detail)[:2000]})
        return bool(ok)

    def note(self, text: str) -> None:
        self.notes.append(text)

    def evidence(self, text: str, label: str = "") -> None:
        text = (text or "").rstrip()
        lines = text.splitlines()[-25:]
        self.evidence_parts.append((f"[{label}]\n" if label else "") + "\n".join(lines))

    def finish(self) -> None:
        if self.status == SKIPPED:
            return
        if self.reason:
            self.status = FAIL
        elif self.checks and all(c["ok"] for c in self.checks):
            self.status = PASS
        else:
            self.status = FAIL
            if not self.checks:
                self.reason = "no check ran"

    def first_failure(self) -> str:
        for c in self.checks:
            if not c["ok"]:
                d = c["detail"].strip().splitlines()
                return f"{c['name']}: {d[0][:60] if d else ''}".strip()
        return (self.reason or "").strip().splitlines()[0][:80] if self.reason else ""

    def to_json(self) -> dict:
        return {
            "scenario": self.scenario,
            "engine": self.engine,
            "image_kind": self.image_kind,
            "status": self.status,
            "pass": self.status == PASS,
            "image": self.image,
            "exit_code": self.exit_code,
            "boot_s": _r(self.boot_s),
            "stop_s": _r(self.stop_s),
            "seconds": _r(self.seconds),
            "reason": self.reason,
            "checks": self.checks,
            "notes": self.notes,
            "evidence": "\n".join(self.evidence_parts),
            "extra": self.extra,
        }


def _r(x):
    return None if x is None else round(float(x), 3)


def _f(x):
    return "-" if x is None else f"{x:.2f}"


def table(results: list) -> str:
    rows = [("ENGINE", "SCENARIO", "IMAGE", "RESULT", "EXIT", "BOOT_S", "STOP_S", "WALL_S", "NOTE")]
    for r in results:
        note = ""
        if r.status == SKIPPED:
            note = (r.reason or "").splitlines()[0][:90] if r.reason else ""
        elif r.status == FAIL:
            note = r.first_failure()
        elif r.notes:
            note = r.notes[0][:90]
        rows.append((r.engine or "-", r.scenario, r.image_kind or "-", r.status.upper(),
                     "-" if r.exit_code is None else str(r.exit_code),
                     _f(r.boot_s), _f(r.stop_s), _f(r.seconds), note))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    out = []
    for row in rows:
        out.append("  ".join(c.ljust(w) for c, w in zip(row[:-1], widths)) + "  " + row[-1])
    return "\n".join(out)


def counts(results: list) -> tuple:
    p = sum(r.status == PASS for r in results)
    f = sum(r.status == FAIL for r in results)
    s = sum(r.status == SKIPPED for r in results)
    return p, f, s


def write_json(path: str, results: list, meta: dict) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    p, f, s = counts(results)
    doc = dict(meta)
    doc["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    doc["counts"] = {"passed": p, "failed": f, "skipped": s}
    doc["scenarios"] = {r.key: r.to_json() for r in results}
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(doc, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, path)
