//! Root-only: the init as PID 1 of a fresh PID + mount namespace, with tmpfs mounts made by the test and a fake
//! target (examples/fake-target.rs) that records what it inherited.
//!
//! These tests are `#[ignore]`d so that a plain `cargo test` as a normal user lists them as ignored (a visible
//! skip, never a pass); the project's test command (integration/test-all) runs them with `--include-ignored`
//! as root, where they must pass — if they are run without root or without unshare(1) they FAIL, loudly.

use serde_json::Value;

use std::process::{Command, Output};

mod common;

struct Run {
    out: Output,
    report: Option<Value>,
}

impl Run {
    fn code(&self) -> i32 {
        self.out.status.code().unwrap_or(-1)
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }
}

/// Run `setup` (shell) then exec `launcher… nixos2docker init --config CFG ARGS…` as PID 1 of a new namespace.
fn run_init(name: &str, setup: &str, config: &str, launcher: &[&str], args: &[&str]) -> Run {
    common::require_root("namespace tests");
    let stage = common::stage(&format!("ns-{name}"));
    let dir = &stage.dir;
    let cfg = dir.join("config.json");
    std::fs::write(&cfg, config.replace("@FAKE@", stage.fake_target.to_str().unwrap())).unwrap();
    let launcher: Vec<&str> =
        launcher.iter().map(|a| if *a == "@FAKE@" { stage.fake_target.to_str().unwrap() } else { a }).collect();
    let report = dir.join("report.json");
    let script = format!("set -e\n{setup}\nexec \"$@\"");
    let mut cmd = Command::new("unshare");
    cmd.args([
        "--pid",
        "--mount",
        "--fork",
        "--mount-proc",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        &script,
        "sh",
    ]);
    cmd.args(&launcher).arg(&stage.bin).args(["init", "--config", cfg.to_str().unwrap()]).args(args);
    cmd.env("FAKE_TARGET_REPORT", &report).env("NIXOS2DOCKER_CONFIG", "/must/not/leak").env_remove("container");
    let out = cmd.output().expect("spawn unshare");
    let report = std::fs::read_to_string(&report).ok().map(|t| serde_json::from_str(&t).unwrap());
    Run { out, report }
}

const TMPFS: &str = "mount -t tmpfs tmpfs /run\nmount -t tmpfs tmpfs /tmp";

fn profile() -> Value {
    serde_json::from_str(include_str!("../module/profile.json")).unwrap()
}

#[test]
#[ignore = "root only: run by integration/test-all with --include-ignored"]
fn boots_target_with_clean_state_and_golden_dropins() {
    // A stray fd (7) and ignored signals are what a sloppy runtime could hand us.
    let setup = format!("{TMPFS}\nexec 7</dev/null\ntrap '' HUP INT USR1");
    let r = run_init(
        "boot",
        &setup,
        r#"{"target": "@FAKE@", "patched": true, "args": ["--from-config"]}"#,
        &[],
        &["systemd.unit=multi-user.target", "--log-level=debug"],
    );
    assert_eq!(r.code(), 0, "init failed: {}", r.stderr());
    let rep = r.report.expect("the target ran and wrote its report");
    let argv: Vec<&str> = rep["argv"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(argv[1..], ["--from-config", "systemd.unit=multi-user.target", "--log-level=debug"]);
    assert_eq!(rep["pid"], 1, "the target must be PID 1 (exec, not fork)");
    assert_eq!(rep["env"]["container"], "docker");
    assert!(rep["env"].get("NIXOS2DOCKER_CONFIG").is_none(), "our variables must not leak to systemd");
    // The original (empty) mask plus the stop signals systemd takes over: SIGHUP, SIGINT, SIGTERM, SIGRTMIN+3.
    assert_eq!(rep["sigblk"], "0000001000004003", "signal mask: the original plus the handed-over stop signals");
    // The fake target is a Rust program: its runtime ignores SIGPIPE (bit 12) before main; nothing else may be.
    let ign = u64::from_str_radix(rep["sigign"].as_str().unwrap(), 16).unwrap();
    assert_eq!(ign & !(1 << (libc::SIGPIPE - 1)), 0, "dispositions must be default: SigIgn {ign:#x}");
    assert_eq!(rep["fds"], serde_json::json!(["0", "1", "2"]), "stray fds must be closed");
    assert_eq!(rep["cwd"], "/");
    assert_eq!(rep["runLockMode"], 0o1777, "/run/lock created inside the fresh /run");

    // Golden drop-ins: exactly the masks of the profile, the manager file, journald's two files of dockerLogs
    // mode `all` (the default), and no slice drop-in unless the cgroup fs is read-only (it is writable or
    // hybrid on the test host).
    let p = profile();
    assert_eq!(p["dockerLogs"], "all");
    let why = format!("dockerLogs=all: {}", p["dockerLogsReason"].as_str().unwrap());
    let mut expected = serde_json::Map::new();
    for m in p["masks"].as_array().unwrap() {
        let unit = m["unit"].as_str().unwrap();
        expected.insert(format!("/run/systemd/system.control/{unit}"), "-> /dev/null".into());
    }
    let mut mgr =
        format!("# Written by nixos2docker init: {}\n# {why}\n[Manager]\n", p["manager"]["reason"].as_str().unwrap());
    let mut settings: std::collections::BTreeMap<String, String> = p["manager"]["settings"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    settings.insert("LogTarget".into(), "journal".into());
    for (k, v) in settings {
        mgr.push_str(&format!("{k}={v}\n"));
    }
    expected.insert("/run/systemd/system.conf.d/50-nixos2docker.conf".into(), mgr.into());
    // The test's mount namespace shares the host's /dev: with a /dev/console journald forwards there (as
    // under `docker run -t`), else to PID 1's stderr through its own stdout.
    let journald = if std::path::Path::new("/dev/console").exists() {
        "[Journal]\nForwardToConsole=yes\nMaxLevelConsole=info\n"
    } else {
        expected.insert(
            "/run/systemd/system.control/systemd-journald.service.d/50-nixos2docker.conf".into(),
            format!("# Written by nixos2docker init: {why}\n[Service]\nStandardOutput=file:/proc/1/fd/2\n").into(),
        );
        "[Journal]\nForwardToConsole=yes\nTTYPath=/proc/self/fd/1\nMaxLevelConsole=info\n"
    };
    expected.insert(
        "/run/systemd/journald.conf.d/50-nixos2docker.conf".into(),
        format!("# Written by nixos2docker init: {why}\n{journald}").into(),
    );
    // The sandboxing policy for patched systemd (the profile's default), and the empty record directory.
    assert_eq!(p["sandboxing"], "degrade");
    expected.insert("/run/nixos2docker/sandboxing".into(), "degrade\n".into());
    assert_eq!(rep["run"], Value::Object(expected));
    assert_eq!(rep["degradedDirMode"], 0o755, "/run/nixos2docker/degraded made for patched systemd's records");
}

#[test]
#[ignore = "root only: run by integration/test-all with --include-ignored"]
fn sandboxing_env_wins_and_a_bad_value_is_17() {
    let setup = format!("{TMPFS}\nexport NIXOS2DOCKER_SANDBOXING=strict");
    let cfg = r#"{"target": "@FAKE@", "patched": true, "profile": {"sandboxing": "degrade"}}"#;
    let r = run_init("sandboxing-strict", &setup, cfg, &[], &[]);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    let rep = r.report.unwrap();
    assert_eq!(rep["run"]["/run/nixos2docker/sandboxing"], "strict\n");
    assert!(rep["env"].get("NIXOS2DOCKER_SANDBOXING").is_none(), "our variables must not leak to systemd");
    let setup = format!("{TMPFS}\nexport NIXOS2DOCKER_SANDBOXING=lax");
    let r = run_init("sandboxing-bad", &setup, cfg, &[], &[]);
    assert_eq!(r.code(), 17, "{}", r.stderr());
    assert!(r.report.is_none(), "the target must not run");
    assert!(r.stderr().contains("NIXOS2DOCKER_SANDBOXING=\"lax\" is not a sandboxing policy"), "{}", r.stderr());
}

#[test]
#[ignore = "root only: run by integration/test-all with --include-ignored"]
fn keeps_a_container_value_set_by_the_runtime() {
    let setup = format!("{TMPFS}\nexport container=podman");
    let r = run_init("podman", &setup, r#"{"target": "@FAKE@", "patched": true}"#, &[], &[]);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert_eq!(r.report.unwrap()["env"]["container"], "podman");
}

#[test]
#[ignore = "root only: run by integration/test-all with --include-ignored"]
fn no_run_mount_fails_with_12_and_names_the_flag() {
    let r = run_init(
        "no-run",
        "if mountpoint -q /run; then umount -R -l /run; fi\nmount -t tmpfs tmpfs /tmp",
        r#"{"target": "@FAKE@"}"#,
        &[],
        &[],
    );
    assert_eq!(r.code(), 12, "{}", r.stderr());
    assert!(r.stderr().contains("--tmpfs /run"), "{}", r.stderr());
    assert!(r.stderr().lines().all(|l| l.starts_with("nixos2docker: ")), "{}", r.stderr());
    assert!(r.report.is_none(), "the target must not run");
}

#[test]
#[ignore = "root only: run by integration/test-all with --include-ignored"]
fn sigterm_before_exec_ends_with_143_without_starting_the_target() {
    let sigterm = libc::SIGTERM.to_string();
    let r = run_init(
        "sigterm",
        TMPFS,
        r#"{"target": "@FAKE@", "patched": true}"#,
        &["@FAKE@", "--launch-with-pending", &sigterm],
        &[],
    );
    assert_eq!(r.code(), 143, "{}", r.stderr());
    assert!(r.stderr().contains("SIGTERM"), "{}", r.stderr());
    assert!(r.report.is_none(), "the target must never run");
}

#[test]
#[ignore = "root only: run by integration/test-all with --include-ignored"]
fn missing_target_is_127_and_non_executable_is_126() {
    let r = run_init("missing", TMPFS, r#"{"target": "/nonexistent/systemd"}"#, &[], &[]);
    assert_eq!(r.code(), 127, "{}", r.stderr());
    assert!(r.stderr().contains("/nonexistent/systemd"), "{}", r.stderr());
    let r = run_init("noexec", TMPFS, r#"{"target": "/etc/hostname"}"#, &[], &[]);
    assert_eq!(r.code(), 126, "{}", r.stderr());
}
