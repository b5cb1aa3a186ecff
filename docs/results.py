#!/usr/bin/env python3
"""docs/results.py — measurements as result files, and the tables generated from them.

    docs/results.py add RESULTS.json [--machine-here] [--cold] [--ci-s=SECONDS]
        keep a harness result file (integration/run --results, default integration/results/results.json) as
        docs/results/harness-<date>-<run id>.json: the date, the machine, every engine's versions, the counts,
        and per scenario its status, exit code, boot, stop and wall seconds, and the workload's checks.
        A result file written before the harness recorded its machine needs --machine-here (this machine's
        facts are recorded, marked as such) — only when it was run here. The harness records whether its cache
        dir was empty at the start ("cold": nothing to reuse, as on a new machine); --cold says so, marked as
        recorded afterwards, for a file written before the harness recorded it. Under .ci/run the harness
        records the whole CI's wall time when it finished (test-all's last step); --ci-s=SECONDS records
        it, marked as measured by the caller, for a run whose harness did not (e.g. `date +%s` around
        .ci/run, which stops at the first failing step).
    docs/results.py add benches/results/boot-….json      (and density-…, first-run-…, preamble-…)
        keep a bench's result file (already in that form: date, machine, engine, every run's figures).
    docs/gen --write
        regenerates the tables in docs/measurements.md from every file in docs/results/ (blocks()).

Nothing in a table is typed by hand: a figure that is not in a result file is not in the docs.
"""
import glob
import json
import os
import statistics
import sys

DOCS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(DOCS)
ENGINE_KEYS = ("server_version", "version", "runtime", "runtime_version", "containerd_version", "cgroup_version",
               "kernel", "packages")


def condense(doc: dict) -> dict:
    """The part of a harness result file the tables need."""
    scen, workload = {}, {}
    for key, r in sorted(doc.get("scenarios", {}).items()):
        scen[key] = {k: r.get(k) for k in ("engine", "scenario", "image_kind", "status", "exit_code", "boot_s",
                                           "stop_s", "seconds")}
        modes = (r.get("extra") or {}).get("modes")
        if isinstance(modes, dict):
            workload[key] = {m: {d: {c: bool(v[0]) for c, v in row.items()} for d, row in res.get("rows", {}).items()}
                             for m, res in modes.items()}
    engines = {}
    for name, facts in (doc.get("engines") or {}).items():
        facts = facts or {}
        engines[name] = {k: facts[k] for k in ENGINE_KEYS if k in facts} or {"error": str(facts.get("error", ""))[:200]}
    return {"kind": "harness", "run_id": doc.get("run_id"), "started": doc.get("started"),
            "finished": doc.get("finished"), "machine": doc.get("machine"), "engines": engines,
            "engines_selected": doc.get("engines_selected"), "counts": doc.get("counts"), "wall_s": doc.get("wall_s"),
            "engine_wall_s": doc.get("engine_wall_s"), "caches": doc.get("caches_at_start"),
            "interrupted": doc.get("interrupted"), "ci_elapsed_s": doc.get("ci_elapsed_s"),
            "scenarios": scen, "workload": workload}


# result files of the benches, kept as they are: kind → file name prefix in docs/results/
BENCH_PREFIX = {"bench-boot": "boot", "bench-density": "density", "bench-first-run": "first-run",
                "bench-preamble": "preamble"}


def add(path: str, machine_here: bool, cold: bool = False, ci_s: float = None) -> str:
    with open(path, encoding="utf-8") as f:
        raw = json.load(f)
    doc = raw if raw.get("kind") in BENCH_PREFIX else condense(raw)
    if not doc["machine"]:
        if not machine_here:
            raise SystemExit(f"nixos2docker: docs/results.py: {path} records no machine (an older harness): run it "
                             "again, or pass --machine-here if it was run on this machine")
        sys.path.insert(0, os.path.join(REPO, "integration"))
        from harness import machine  # noqa: E402
        run_repo = raw.get("repo") if os.path.isdir(str(raw.get("repo"))) else REPO  # the commit that ran
        doc["machine"] = dict(machine.facts(run_repo), recorded="by docs/results.py add, not by the run "
                              "(its load average is the one at that time)")
    if ci_s is not None and doc.get("kind") == "harness" and doc.get("ci_elapsed_s") is None:
        doc["ci_elapsed_s"], doc["ci_recorded"] = ci_s, "measured around .ci/run by its caller"
    if cold and doc.get("kind") == "harness" and not doc.get("caches"):
        doc["caches"] = {"cold": True, "recorded": "by docs/results.py add --cold, not by the run"}
    if not doc["started"]:
        raise SystemExit(f"nixos2docker: docs/results.py: {path} has no start date")
    prefix = BENCH_PREFIX.get(doc["kind"], "harness")
    out = os.path.join(DOCS, "results", f"{prefix}-{doc['started'][:10]}-{doc['run_id'] or 'run'}.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")
    return out


def load(repo: str) -> list:
    out = []
    for p in sorted(glob.glob(os.path.join(repo, "docs", "results", "*.json"))):
        with open(p, encoding="utf-8") as f:
            d = json.load(f)
        d["_file"] = os.path.relpath(p, os.path.join(repo, "docs"))
        out.append(d)
    return sorted(out, key=lambda d: d.get("started") or "")


def _machine(m: dict) -> str:
    if not m:
        return "not recorded"
    return (f"{m.get('hostname', '?')}: {m.get('cpus', '?')} × {m.get('cpu_model') or 'CPU'}, "
            f"{m.get('memory_gib', '?')} GiB, kernel {m.get('kernel', '?')}, "
            + ("recorded after the run" if m.get("recorded") else f"load {' '.join(m.get('loadavg') or [])}"))


def _engine(facts: dict) -> str:
    if "error" in facts:
        return f"error: {facts['error']}"
    parts = [f"{k} {facts[k]}" for k in ENGINE_KEYS if k in facts and k != "packages"]
    pk = facts.get("packages") or {}
    if isinstance(pk, dict):
        parts += [f"{k} {v}" for k, v in sorted(pk.items())]
    return ", ".join(parts).replace("|", "/")


def _spread(xs: list) -> str:
    xs = [x for x in xs if isinstance(x, (int, float))]
    if not xs:
        return "–"
    return f"{statistics.median(xs):.2f} ({min(xs):.2f}–{max(xs):.2f})"


NONE = "| – | no result file in docs/results/ yet (`docs/results.py add`) |\n|---|---|"


def _caches(caches) -> str:
    """cold (the cache dir held nothing to reuse), warm, or ? (not recorded)."""
    if not isinstance(caches, dict):
        return "?"
    return "cold" if caches.get("cold") else "warm"


CI_TARGET_S = 3600  # a cold .ci/run must stay under 60 min (CI's hard limit is 90)


def _ci(d: dict) -> str:
    """The whole .ci/run's wall time when the harness (its last step) finished, and its ratio to 60 min."""
    s = d.get("ci_elapsed_s")
    if not isinstance(s, (int, float)):
        return "–"
    how = f", {d['ci_recorded']}" if d.get("ci_recorded") else ""
    return f"{s:.0f} s ({s / CI_TARGET_S:.2f}{how})"


def runs_table(files: list) -> str:
    if not files:
        return NONE
    rows = ["| started (UTC) | file | commit | machine | engines | caches | passed | failed | skipped | wall "
            "| whole CI (ratio to 60 min) |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for d in files:
        c = d.get("counts") or {}
        m = d.get("machine") or {}
        rows.append(f"| {d.get('started')} | [{os.path.basename(d['_file'])}]({d['_file']}) | {m.get('commit', '?')} "
                    f"| {_machine(m)} | {', '.join(d.get('engines_selected') or [])} | {_caches(d.get('caches'))} "
                    f"| {c.get('passed')} "
                    f"| {c.get('failed')} | {c.get('skipped')} | {d.get('wall_s')} s"
                    f"{' (interrupted: ' + str(d['interrupted']) + ')' if d.get('interrupted') else ''} "
                    f"| {_ci(d)} |")
    return "\n".join(rows)


def engines_table(files: list) -> str:
    if not files:
        return NONE
    d = files[-1]
    rows = [f"Run of {d.get('started')} ({os.path.basename(d['_file'])}):", "",
            "| engine | versions | wall |", "|---|---|---|"]
    for name, facts in sorted((d.get("engines") or {}).items()):
        rows.append(f"| {name} | {_engine(facts)} | {(d.get('engine_wall_s') or {}).get(name, '–')} s |")
    return "\n".join(rows)


def boot_stop_table(files: list) -> str:
    if not files:
        return NONE
    d = files[-1]
    groups: dict = {}
    for r in d.get("scenarios", {}).values():
        if r.get("status") == "pass" and any(isinstance(r.get(k), (int, float)) for k in ("boot_s", "stop_s")):
            groups.setdefault((r.get("engine") or "-", r.get("image_kind") or "-"), []).append(r)
    rows = [f"Run of {d.get('started')} ({os.path.basename(d['_file'])}); seconds, median (min–max) over the "
            "passed scenarios that boot and stop a container:", "",
            "| engine | image kind | scenarios | boot to `running` s | `docker stop` s |", "|---|---|---|---|---|"]
    for (e, k), rs in sorted(groups.items()):
        rows.append(f"| {e} | `{k}` | {len(rs)} | {_spread([r.get('boot_s') for r in rs])} "
                    f"| {_spread([r.get('stop_s') for r in rs])} |")
    return "\n".join(rows)


def workload_table(files: list) -> str:
    d = next((f for f in reversed(files) if f.get("workload")), None)
    if d is None:
        return "| – | no result file in docs/results/ with the workload scenario yet |\n|---|---|"
    rows = [f"Run of {d.get('started')} ({os.path.basename(d['_file'])}); checks passed per mode, failing ones "
            "named:", "", "| instance | mode | passed | failing |", "|---|---|---|---|"]
    for key, modes in sorted(d["workload"].items()):
        for m, daemons in modes.items():
            checks = [(f"{dn} {c}", ok) for dn, row in daemons.items() for c, ok in row.items()]
            bad = [n for n, ok in checks if not ok]
            rows.append(f"| {key} | {m} | {len(checks) - len(bad)}/{len(checks)} | {', '.join(bad) or '–'} |")
    return "\n".join(rows)


def boot_bench_table(files: list) -> str:
    d = next((f for f in reversed(files) if f.get("kind") == "bench-boot"), None)
    if d is None:
        return "| – | no benches/boot result in docs/results/ yet |\n|---|---|"
    (engine, facts), = d["engines"].items()
    rows = [f"Run of {d['started']} ({os.path.basename(d['_file'])}), {d['runs']} interleaved runs per mode, "
            f"{d.get('image')}; machine {_machine(d.get('machine') or {})}; engine {engine}: {_engine(facts)}; "
            f"podman {d.get('podman')}. Seconds, median (min–max); ratio = ours / that mode's median.", "",
            "| mode | boot to `running` s | stop s | boot ratio | stop ratio |", "|---|---|---|---|---|"]
    med = {m: (statistics.median(b) if b else None) for m, b in d["boot_s"].items()}
    smed = {m: (statistics.median(x) if x else None) for m, x in d["stop_s"].items()}
    for m in d["boot_s"]:
        rb = f"{med['ours'] / med[m]:.2f}" if m != "ours" and med.get("ours") and med[m] else "–"
        rs = f"{smed['ours'] / smed[m]:.2f}" if m != "ours" and smed.get("ours") and smed[m] else "–"
        rows.append(f"| {m} | {_spread(d['boot_s'][m])} | {_spread(d['stop_s'][m])} | {rb} | {rs} |")
    if d.get("left_out"):
        rows += ["", "Left out (not running, or a non-zero stop): " + "; ".join(d["left_out"])]
    return "\n".join(rows)


def density_table(files: list) -> str:
    """Every benches/density run: per engine and mode, all-up seconds and PSS per container, ratios ours/mode."""
    runs = [f for f in files if f.get("kind") == "bench-density"]
    if not runs:
        return "| – | no benches/density result in docs/results/ yet |\n|---|---|"
    rows = ["| run | engine | N | mode | final states | all up s | PSS per container MiB | time ratio | memory ratio |",
            "|---|---|---|---|---|---|---|---|---|"]
    for d in runs:
        (engine, facts), = d["engines"].items()
        ours = d["modes"].get("ours") or {}
        for m, v in sorted(d["modes"].items(), key=lambda kv: kv[0] != "ours"):
            def ratio(key):
                a, b = ours.get(key), v.get(key)
                return f"{a / b:.2f}" if m != "ours" and a and b else "–"
            up = v.get("all_up_s")
            rows.append(f"| {d['started']} | {engine} ({_engine(facts)}) | {d['n']} | {m} | "
                        f"{', '.join(sorted(set(v.get('states') or [])))} | {up if up is not None else 'not all up'} | "
                        f"{v.get('pss_mib_mean') if v.get('pss_mib_mean') is not None else '–'} | "
                        f"{ratio('all_up_s')} | {ratio('pss_mib_mean')} |")
    machines = sorted({_machine(d.get("machine") or {}) for d in runs})
    return "\n".join(rows + ["", "Machines: " + "; ".join(machines)])


def _secs(phase) -> str:
    if not isinstance(phase, dict) or not isinstance(phase.get("seconds"), (int, float)):
        return "–"
    at = phase.get("ends_at_s")
    return f"{phase['seconds']:.1f}" + (f" (ends at {at:.0f})" if isinstance(at, (int, float)) else "")


# benches/first-run's phases, in the order they are tabled: key → column
FIRST_RUN_PHASES = (("cargo_build", "cargo build"), ("engine_root", "engine root"),
                    ("root_filesystem", "root filesystem"), ("systemd_build", "systemd build (background)"),
                    ("systemd_chroot", "of which build chroot"), ("demo", "demo scenario"))


def first_run_table(files: list) -> str:
    """Every benches/first-run run: each phase's seconds (they overlap), the whole wall time, its ratio to the
    target."""
    runs = [f for f in files if f.get("kind") == "bench-first-run"]
    if not runs:
        return "| – | no benches/first-run result in docs/results/ yet |\n|---|---|"
    rows = ["| started (UTC) | commit | crates | exit (demo) | "
            + " | ".join(f"{c} s" for _, c in FIRST_RUN_PHASES) + " | whole s | target s | ratio |",
            "|---|---|---|---|" + "---|" * len(FIRST_RUN_PHASES) + "---|---|---|"]
    for d in runs:
        ph = d.get("phases") or {}
        rows.append(f"| {d['started']} | {(d.get('machine') or {}).get('commit', '?')} | {d.get('crates')} "
                    f"| {d.get('exit_code')} ({d.get('demo_status') or '?'}) | "
                    + " | ".join(_secs(ph.get(k)) for k, _ in FIRST_RUN_PHASES)
                    + f" | {d.get('whole_s')} | {d.get('target_s'):.0f} | {d.get('ratio'):.2f} |")
    notes = ["", "Machines: " + "; ".join(sorted({_machine(d.get("machine") or {}) for d in runs}))]
    for d in runs:
        for name, facts in sorted((d.get("engines") or {}).items()):
            notes.append(f"Engine of {d['started']}: {name}: {_engine(facts or {})}")
    return "\n".join(rows + notes)


def preamble_table(files: list) -> str:
    """Every benches/preamble run: the init's preamble in-process and end to end, and the binary's size."""
    runs = [f for f in files if f.get("kind") == "bench-preamble"]
    if not runs:
        return "| – | no benches/preamble result in docs/results/ yet |\n|---|---|"
    rows = ["| started (UTC) | commit | in-process µs, median (min–max) | added end to end µs/run (runs) "
            "| ratio to 1 ms: in-process, end to end | stripped binary bytes | ratio to 1.5 MiB |",
            "|---|---|---|---|---|---|---|"]
    for d in runs:
        ip = [x for x in d.get("inprocess_us") or [] if isinstance(x, (int, float))]
        med, added, target = (statistics.median(ip) if ip else None), d.get("added_us"), d.get("target_us")
        ratio = lambda v: f"{v / target:.2f}" if isinstance(v, (int, float)) and target else "–"  # noqa: E731
        size, tsize = d.get("binary_bytes"), d.get("target_bytes")
        rows.append(f"| {d['started']} | {(d.get('machine') or {}).get('commit', '?')} "
                    f"| {f'{med:.0f} ({min(ip)}–{max(ip)})' if ip else '–'} | {added} ({d.get('runs')}) "
                    f"| {ratio(med)}, {ratio(added)} | {size} "
                    f"| {f'{size / tsize:.2f}' if size and tsize else '–'} |")
    machines = sorted({_machine(d.get("machine") or {}) for d in runs})
    return "\n".join(rows + ["", "Machines: " + "; ".join(machines)])


def blocks(repo: str = REPO) -> dict:
    """name → (table, source) for docs/gen."""
    everything = load(repo)
    files = [f for f in everything if f.get("kind") == "harness"]
    src = "docs/results/"
    return {"results:runs": (runs_table(files), src), "results:engines": (engines_table(files), src),
            "results:boot-stop": (boot_stop_table(files), src), "results:workload": (workload_table(files), src),
            "results:boot-bench": (boot_bench_table(everything), src),
            "results:density": (density_table(everything), src),
            "results:first-run": (first_run_table(everything), src),
            "results:preamble": (preamble_table(everything), src)}


def main(argv: list) -> int:
    if len(argv) >= 2 and argv[0] == "add":
        ci = [a.split("=", 1)[1] for a in argv[2:] if a.startswith("--ci-s=")]
        if ci and not ci[0].replace(".", "", 1).isdigit():
            raise SystemExit(f"nixos2docker: docs/results.py: --ci-s={ci[0]}: not a number of seconds")
        print(add(argv[1], "--machine-here" in argv[2:], "--cold" in argv[2:], float(ci[0]) if ci else None))
        print("nixos2docker: docs/results.py: now run docs/gen --write", file=sys.stderr)
        return 0
    print(__doc__.strip(), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
