//! The checks on containers captured by the harness (`integration/run --capture-fixtures` runs
//! `nixos2docker capture` inside real Docker containers of each kind and writes tests/fixtures/<kind>.json).
//!
//! Every fixture must have an expectation here: a new capture without one fails, so nobody adds data that
//! nothing judges.

use nixos2docker::checks::{self, Mode, Problem, Severity};
use nixos2docker::config::{self, Config};
use nixos2docker::facts;
use nixos2docker::sys::Snapshot;
use std::path::Path;

struct Expect {
    /// Exit code with the image's own (stock) systemd.
    stock: u8,
    /// Exit code when the same systemd carries our patches.
    patched: u8,
    /// Findings (id, severity) that must be present.
    findings: &'static [(&'static str, Severity)],
    empty_stale_run: bool,
    disable_controllers: bool,
}

fn expectation(name: &str) -> Option<Expect> {
    use Severity::*;
    let e = |stock, patched, findings, empty_stale_run, disable_controllers| {
        Some(Expect { stock, patched, findings, empty_stale_run, disable_controllers })
    };
    match name {
        // Only --tmpfs /run --tmpfs /run/lock --tmpfs /tmp: read-only cgroup2, private namespace.
        "docker-default" => {
            e(15, 0, &[("pid1", Ok), ("run", Ok), ("tmp", Ok), ("cgroup", Ok), ("caps", Ok)], false, true)
        }
        // --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw: boots stock systemd, but insecure.
        "cgroupns-host" => e(0, 0, &[("cgroup", Warning), ("systemd", Warning)], false, false),
        // --privileged: Docker mounts the cgroup fs writable in a private namespace; extra capabilities.
        "privileged" => e(0, 0, &[("cgroup", Ok), ("caps", Info)], false, false),
        // No flags, the image declares VOLUME /run /run/lock /tmp: persistent volumes, emptied before boot.
        "image-volumes" => e(15, 0, &[("run", Warning), ("cgroup", Ok)], true, true),
        // A Kubernetes emptyDir at /run: a bind mount of a node directory.
        "k8s-emptydir" => e(15, 0, &[("run", Warning)], true, true),
        // podman run --systemd=always: podman delegates a writable cgroup2 in a private namespace. Captured
        // with podman's built-in capability list (Docker's 14), so three beyond podman's default set.
        "podman-systemd" => e(0, 0, &[("cgroup", Ok), ("caps", Info), ("systemd", Warning)], true, false),
        // Docker >= 28 --security-opt writable-cgroups=true: a writable subtree in a private namespace, Docker's
        // default capabilities (no relay): stock systemd boots, exec'd, and keeps re-executing on SIGTERM.
        "writable-cgroups" => e(0, 0, &[("cgroup", Ok), ("caps", Ok), ("systemd", Warning)], false, false),
        "no-tmpfs" => e(12, 12, &[("run", Error), ("tmp", Warning)], false, true),
        "init-flag" => e(10, 10, &[("pid1", Error)], false, true),
        "user-flag" => e(11, 11, &[("uid", Error)], false, true),
        "read-only" => e(16, 16, &[("root-fs", Error)], false, true),
        // The engines other than rootful Docker (integration/harness/userns.py), captured there: ENGINE-default
        // (the 3 --tmpfs flags) and, on podman, ENGINE-systemd (--systemd=always). podman's own default
        // capabilities are no finding; a user namespace is reported.
        "podman58-default" => e(15, 0, &[("cgroup", Ok), ("caps", Ok), ("userns", Ok)], false, true),
        "podman58-systemd" => e(0, 0, &[("cgroup", Ok), ("caps", Ok), ("systemd", Warning)], true, false),
        "podman58-rootless-default" => e(15, 0, &[("cgroup", Ok), ("caps", Ok), ("userns", Info)], false, true),
        // rootless podman without a systemd user session has no cgroup to delegate: read-only even here
        "podman58-rootless-systemd" => e(15, 0, &[("cgroup", Ok), ("caps", Ok), ("userns", Info)], true, true),
        "podman58-userns-default" => e(15, 0, &[("cgroup", Ok), ("caps", Ok), ("userns", Info)], false, true),
        // rootful podman with --userns=auto delegates the container's cgroup: stock systemd boots
        "podman58-userns-systemd" => e(0, 0, &[("cgroup", Ok), ("userns", Info), ("systemd", Warning)], true, false),
        "docker28-userns-default" | "docker28-rootless-default" => {
            e(15, 0, &[("cgroup", Ok), ("caps", Ok), ("userns", Info)], false, true)
        }
        _ => None,
    }
}

fn judge(snap: &Snapshot, patched: bool) -> (checks::Report, checks::RunPlan) {
    let mut config: Config = config::load(None).unwrap();
    config.patched = Some(patched);
    let facts = facts::gather(snap, &config).expect("fixture parses");
    checks::preflight(&facts, &Mode::PreBoot)
}

#[test]
fn every_captured_container_is_judged_as_expected() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("tests/fixtures exists") {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        let exp =
            expectation(&name).unwrap_or_else(|| panic!("fixture {name} has no expectation in tests/fixtures.rs"));
        let snap = Snapshot::load(&path).unwrap();
        let at = facts::locate_systemd(&snap);
        assert!(!at.is_up(), "{name}: captured before boot, yet systemd is seen running: {at:?}");
        let (stock, plan) = judge(&snap, false);
        assert_eq!(stock.exit_code(), exp.stock, "{name} (stock): {:#?}", stock.findings);
        let (patched, _) = judge(&snap, true);
        assert_eq!(patched.exit_code(), exp.patched, "{name} (patched): {:#?}", patched.findings);
        for (id, sev) in exp.findings {
            assert!(
                stock.findings.iter().any(|f| f.id == *id && f.severity == *sev),
                "{name}: expected {id} {sev:?} in {:#?}",
                stock.findings
            );
        }
        assert_eq!(plan.empty_stale_run, exp.empty_stale_run, "{name}: empty_stale_run");
        assert_eq!(plan.disable_controllers, exp.disable_controllers, "{name}: disable_controllers");
        for f in &stock.findings {
            if f.severity >= Severity::Warning {
                assert!(f.remedy.as_deref().is_some_and(|r| !r.is_empty()), "{name}: {} has no remedy", f.id);
            }
        }
        seen += 1;
    }
    assert!(seen >= 8, "expected the harness's captures in {}, found {seen}", dir.display());
}

#[test]
fn stock_on_read_only_cgroup_names_every_way_out() {
    let snap =
        Snapshot::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/docker-default.json")).unwrap();
    let (report, _) = judge(&snap, false);
    let p = report.problem.expect("stock systemd cannot boot here");
    assert!(matches!(p, Problem::StockOnReadOnlyCgroup { version: Some(262), .. }), "{p:?}");
    let msg = p.to_string();
    for needle in [
        "read-only",
        "patched systemd",
        "--security-opt writable-cgroups=true",
        "Docker >= 28",
        "podman run --systemd=always",
        "--cgroupns=host",
        "insecure",
    ] {
        assert!(msg.contains(needle), "message lacks {needle:?}: {msg}");
    }
    // The safe one-flag fix for a stock image on a current Docker comes before the insecure bind mount.
    assert!(msg.find("writable-cgroups").unwrap() < msg.find("--cgroupns=host").unwrap(), "{msg}");
    assert!(msg.ends_with("/sys/fs/cgroup:/sys/fs/cgroup:rw`"), "ends with the exact flag: {msg}");
}

/// A fixture, its engine kind and user namespace, words its stock fix must and must not have.
type Case = (
    &'static str,
    nixos2docker::facts::EngineKind,
    nixos2docker::parse::uid_map::UserNs,
    &'static [&'static str],
    &'static [&'static str],
);

/// On each engine the fix for stock systemd names only what that engine accepts (issue: the init used to
/// recommend writable-cgroups, the rw cgroup mount and --systemd=always where they are refused or fail).
#[test]
fn stock_fix_is_the_one_of_the_engine_in_front_of_us() {
    use nixos2docker::facts::EngineKind::*;
    use nixos2docker::parse::uid_map::UserNs;
    const ONLY_PATCHED: &str = "use an image with nixos2docker's patched systemd: it is the only way here.";
    // fixture, engine kind, user namespace (root's host uid), words the fix must have, words it must not have
    let cases: &[Case] = &[
        ("docker-default", Docker, UserNs::Host, &["--security-opt writable-cgroups=true", "--cgroupns=host"], &[]),
        ("podman58-default", Podman, UserNs::Host, &["podman run --systemd=always"], &["writable-cgroups", "cgroupns"]),
        (
            "podman58-userns-default",
            Podman,
            UserNs::Remapped { root: 400000 },
            &["podman run --systemd=always"],
            &["writable-cgroups", "cgroupns"],
        ),
        (
            "podman58-rootless-default",
            Podman,
            UserNs::Rootless { root: 2000 },
            &[ONLY_PATCHED, "user session"],
            &["run it with", "writable-cgroups", "cgroupns"],
        ),
        ("podman58-rootless-systemd", Podman, UserNs::Rootless { root: 2000 }, &[ONLY_PATCHED], &["run it with"]),
        (
            "docker28-userns-default",
            Docker,
            UserNs::Remapped { root: 300000 },
            &[ONLY_PATCHED, "refuses"],
            &["podman", "or, on"],
        ),
        (
            "docker28-rootless-default",
            Docker,
            UserNs::Rootless { root: 2000 },
            &[ONLY_PATCHED, "refuses"],
            &["podman", "or, on"],
        ),
    ];
    for (name, kind, userns, must, must_not) in cases {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/{name}.json"));
        let snap = Snapshot::load(&path).unwrap();
        let mut config: Config = config::load(None).unwrap();
        config.patched = Some(false);
        let facts = facts::gather(&snap, &config).unwrap();
        assert_eq!((facts.engine.kind, facts.engine.userns), (*kind, *userns), "{name}: {:?}", facts.engine);
        let (report, _) = checks::preflight(&facts, &Mode::PreBoot);
        let p = report.problem.unwrap_or_else(|| panic!("{name}: stock systemd cannot boot here"));
        assert!(matches!(p, Problem::StockOnReadOnlyCgroup { .. }), "{name}: {p:?}");
        let fix = p.remedy();
        assert_eq!(fix, checks::stock_remedy(&facts.engine), "{name}");
        for w in *must {
            assert!(fix.contains(w), "{name}: the fix lacks {w:?}: {fix}");
        }
        for w in *must_not {
            assert!(!fix.contains(w), "{name}: the fix names {w:?}, which this engine refuses or cannot do: {fix}");
        }
        let caps = report.findings.iter().find(|f| f.id == "caps").unwrap();
        assert!(!caps.message.contains("missing from"), "{name}: {}", caps.message);
    }
}

/// podman's --userns=auto without a size maps only the ids the image's files use: a warning that names the size.
#[test]
fn too_few_mapped_ids_are_a_warning() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/podman58-userns-default.json");
    let mut snap = Snapshot::load(&path).unwrap();
    let (full, _) = judge(&snap, true);
    assert!(!full.findings.iter().any(|f| f.id == "userns" && f.severity == Severity::Warning), "{full:#?}");
    snap.files.insert("/proc/self/uid_map".into(), "         0     400000       1024\n".into());
    let (small, _) = judge(&snap, true);
    assert_eq!(small.exit_code(), 0, "a warning, not a failure");
    let w = small.findings.iter().find(|f| f.id == "userns" && f.severity == Severity::Warning).expect("a warning");
    assert!(w.message.contains("only 1024 ids"), "{}", w.message);
    assert!(w.remedy.as_deref().unwrap().contains("--userns=auto:size=65536"), "{w:?}");
}

#[test]
fn init_flag_says_drop_init() {
    let snap = Snapshot::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/init-flag.json")).unwrap();
    let (report, _) = judge(&snap, true);
    let msg = report.problem.expect("must fail").to_string();
    assert!(msg.contains("docker-init") && msg.contains("drop --init"), "{msg}");
}

#[test]
fn doctor_json_on_a_fixture() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/docker-default.json");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nixos2docker"))
        .args(["doctor", "--json", "--snapshot"])
        .arg(&fixture)
        .env_remove("NIXOS2DOCKER_CONFIG")
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(out.status.code(), Some(15));
    assert_eq!(v["exitCode"], 15);
    assert_eq!(v["wouldBoot"], false);
    assert_eq!(v["mode"], "preboot");
    assert_eq!(v["cgroups"]["kind"], "unified");
    assert_eq!(v["cgroups"]["writable"], false);
    assert_eq!(v["cgroups"]["private_ns"], true);
    assert_eq!(v["target"]["version"], 262);
    let systemd = v["findings"].as_array().unwrap().iter().find(|f| f["id"] == "systemd").unwrap();
    assert_eq!(systemd["severity"], "error");
    assert_eq!(systemd["exitCode"], 15);
    assert!(systemd["remedy"].as_str().unwrap().contains("--systemd=always"));
    assert_eq!(v["start"], "exec: systemd replaces the init (no CAP_SYS_ADMIN)");
}

/// doctor names the start `init` would choose, the config's relay mode included.
#[test]
fn doctor_reports_the_relay_decision() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/privileged.json");
    let dir = std::env::temp_dir().join(format!("n2d-doctor-relay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let never = dir.join("never.json");
    std::fs::write(&never, r#"{"relay":"never"}"#).unwrap();
    let start = |config: Option<&Path>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_nixos2docker"));
        cmd.args(["doctor", "--json", "--snapshot"]).arg(&fixture).env_remove("NIXOS2DOCKER_CONFIG");
        if let Some(c) = config {
            cmd.arg("--config").arg(c);
        }
        let out = cmd.output().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
        v["start"].as_str().unwrap_or_default().to_owned()
    };
    assert!(start(None).starts_with("relay:"), "{}", start(None));
    assert_eq!(start(Some(&never)), "exec: systemd replaces the init (--relay=never)");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn writable_cgroups_means_stock_exec_not_relay() {
    let snap =
        Snapshot::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/writable-cgroups.json")).unwrap();
    let (report, plan) = judge(&snap, false);
    assert_eq!(report.exit_code(), 0, "{:#?}", report.findings);
    assert!(!plan.disable_controllers, "a writable cgroup fs: systemd may use its controllers");
    let find = |id: &str| report.findings.iter().find(|f| f.id == id).unwrap().message.clone();
    assert!(find("cgroup").contains("writable, private cgroup namespace"), "{}", find("cgroup"));
    let systemd = find("systemd");
    assert!(systemd.contains("exec'd as PID 1") && systemd.contains("SIGTERM"), "{systemd}");
}

/// `nixos2docker capture` where `docker exec` lands next to stock systemd booted behind the init (relay mode,
/// --privileged; `integration/run --capture-fixtures` writes tests/fixtures/running/relay.json): doctor and
/// wait must both find systemd behind the relay, and PID 1 is the init.
#[test]
fn systemd_behind_the_relay_is_found_in_a_captured_relay_container() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/running/relay.json");
    let snap = Snapshot::load(&fixture).unwrap();
    assert_ne!(snap.pid, 1, "captured from docker exec");
    let at = facts::locate_systemd(&snap);
    assert!(matches!(at, facts::SystemdAt::Relayed(pid) if pid > 1), "{at:?}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nixos2docker"))
        .args(["doctor", "--json", "--snapshot"])
        .arg(&fixture)
        .env_remove("NIXOS2DOCKER_CONFIG")
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(v["mode"], "running", "{v}");
}
