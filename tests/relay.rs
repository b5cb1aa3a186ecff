//! Root-only: relay mode (src/relay/) with the init as PID 1 of a fresh PID + mount namespace made by
//! unshare(1), and a fake systemd that records what it gets.
//!
//! Like tests/namespace.rs these are `#[ignore]`d: a plain `cargo test` as a normal user lists them as ignored
//! (a visible skip, never a pass); the project's test command runs them as root with `--include-ignored`,
//! where they must pass. Run without root or without unshare(1) they FAIL with a message saying why.
//! Timings are never asserted; each wait has a generous limit that only turns a hang into a failure.

use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

mod common;
use common::boot::{Boot, HANDED_OVER_MASK, LIMIT, PRIVATE_CLIENT, PRIVATE_SERVER, RTMIN3};

const STOCK: &str = r#"{"target": "@FAKE@", "patched": false}"#;

#[test]
#[ignore = "root only: run by integration/test-all with --include-ignored"]
fn sigterm_reaches_systemd_as_sigrtmin3_and_its_exit_code_is_ours() {
    let mut r = Boot::start("term", STOCK, &[], &["--relay=always"], &[("FAKE_EXIT", "7")]);
    r.wait_log("ready");
    r.kill_init(libc::SIGHUP);
    r.wait_log("HUP");
    r.kill_init(libc::SIGTERM);
    let (code, err, log) = r.finish();
    assert_eq!(code, 7, "systemd's exit status must be the init's\n{err}\n{log}");
    let lines: Vec<&str> = log.lines().collect();
    assert!(lines.contains(&"pid 1"), "systemd must be PID 1 of its own namespace\n{log}");
    assert!(lines.contains(&"proc1 fake-systemd"), "its /proc must be a fresh one\n{log}");
    assert!(lines.contains(&format!("mask {HANDED_OVER_MASK}").as_str()), "the stop signals still blocked\n{log}");
    assert!(lines.contains(&"RTMIN+3"), "SIGTERM must arrive as SIGRTMIN+3\n{log}");
    assert!(lines.contains(&"proxy yes"), "the systemctl proxy's socket\n{log}");
    assert!(!lines.contains(&"TERM"), "SIGTERM must not arrive as such\n{log}");
    assert!(err.contains("relay: SIGTERM → SIGRTMIN+3 to systemd"), "{err}");
    assert!(err.contains("relay: SIGHUP to systemd"), "SIGHUP is forwarded unchanged: {err}");
    assert!(err.contains("relay mode"), "{err}");
    assert!(err.lines().all(|l| l.starts_with("nixos2docker: ")), "{err}");
}

#[test]
#[ignore = "root only: run by integration/test-all with --include-ignored"]
fn a_stop_request_before_systemd_handles_signals_is_held_not_lost() {
    // Auto mode: stock systemd, and root in the test has CAP_SYS_ADMIN.
    let mut r = Boot::start("early", STOCK, &[], &[], &[("FAKE_DELAY", "0.5")]);
    r.wait_log("started");
    r.kill_init(libc::SIGTERM);
    let (code, err, log) = r.finish();
    assert_eq!(code, 0, "{err}\n{log}");
    assert!(log.contains("RTMIN+3"), "the early SIGTERM must be delivered once the handler exists\n{log}");
    assert!(err.contains("relay mode"), "auto must relay stock systemd when CAP_SYS_ADMIN is there: {err}");
}

#[test]
#[ignore = "root only: run by integration/test-all with --include-ignored"]
fn killed_systemd_is_128_plus_signal() {
    let mut r = Boot::start("kill", STOCK, &[], &["--relay=always"], &[]);
    r.wait_log("ready");
    // SAFETY: kill(2) on the fake systemd; SIGKILL from an ancestor namespace always reaches a namespace init.
    assert_eq!(unsafe { libc::kill(r.systemd_pid(), libc::SIGKILL) }, 0);
    let (code, err, _) = r.finish();
    assert_eq!(code, 137, "{err}");
    assert!(err.contains("killed by SIGKILL"), "{err}");
}

#[test]
#[ignore = "root only: run by integration/test-all with --include-ignored"]
fn the_child_follows_the_pid1_rules() {
    // examples/fake-target records what it inherited and exits with $FAKE_TARGET_EXIT.
    let setup = r#"{"target": "@EXAMPLE@", "patched": false}"#;
    let r = Boot::start("rules", setup, &[], &["--relay=always", "--x"], &[("FAKE_TARGET_EXIT", "3")]);
    let dir = r.dir.clone();
    let (code, err, _) = r.finish();
    assert_eq!(code, 3, "{err}");
    let rep: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(rep["pid"], 1);
    assert_eq!(rep["argv"][1], "--x");
    assert_eq!(rep["env"]["container"], "docker");
    assert_eq!(rep["sigblk"], HANDED_OVER_MASK, "the original mask plus the stop signals, not the relay's");
    let ign = u64::from_str_radix(rep["sigign"].as_str().unwrap(), 16).unwrap();
    assert_eq!(ign & !(1 << (libc::SIGPIPE - 1)), 0, "default dispositions: SigIgn {ign:#x}");
    assert_eq!(rep["fds"], serde_json::json!(["0", "1", "2"]), "no stray fds (the error pipe is close-on-exec)");
    assert_eq!(rep["cwd"], "/");
}

#[test]
#[ignore = "root only: run by integration/test-all with --include-ignored"]
fn without_cap_sys_admin_always_fails_with_21_and_auto_execs() {
    let drop = ["setpriv", "--bounding-set", "-sys_admin", "--inh-caps", "-sys_admin", "--"];
    let r = Boot::start("nocap-always", STOCK, &drop, &["--relay=always"], &[]);
    let (code, err, log) = r.finish();
    assert_eq!(code, 21, "{err}");
    assert!(err.contains("CAP_SYS_ADMIN"), "{err}");
    assert!(log.is_empty(), "systemd must not start\n{log}");

    let mut r = Boot::start("nocap-auto", STOCK, &drop, &[], &[("FAKE_EXIT", "5")]);
    r.wait_log("ready");
    r.kill_init(libc::SIGTERM); // exec mode: the fake IS the init now and sees SIGTERM itself
    r.wait_log("TERM");
    r.kill_init(RTMIN3);
    let (code, err, log) = r.finish();
    assert_eq!(code, 5, "{err}\n{log}");
    assert!(err.contains("exec, no relay: no CAP_SYS_ADMIN"), "{err}");
    assert!(err.contains("SIGTERM makes it re-execute"), "the stock warning: {err}");
}

#[test]
#[ignore = "root only: run by integration/test-all with --include-ignored"]
fn never_execs_and_patched_is_never_relayed_in_auto() {
    for (name, config, args) in
        [("never", STOCK, &["--relay=never"][..]), ("patched", r#"{"target": "@FAKE@", "patched": true}"#, &[][..])]
    {
        let mut r = Boot::start(name, config, &[], args, &[("FAKE_EXIT", "4")]);
        r.wait_log("ready");
        let comm = std::fs::read_to_string(format!("/proc/{}/comm", r.init_pid())).unwrap();
        assert_eq!(comm.trim(), "fake-systemd", "{name}: exec mode: systemd is the namespace's PID 1");
        r.kill_init(RTMIN3);
        let (code, err, _) = r.finish();
        assert_eq!(code, 4, "{name}: {err}");
        assert!(!err.contains("relay mode"), "{name}: {err}");
        assert!(err.contains("exec, no relay"), "{name}: {err}");
    }
}

#[test]
#[ignore = "root only: run by integration/test-all with --include-ignored"]
fn the_private_socket_reaches_systemd_from_the_outer_namespace_through_the_proxy() {
    assert!(Command::new("python3").arg("--version").output().is_ok(), "this test needs python3");
    let mut r = Boot::start("private", STOCK, &[], &["--relay=always"], &[("FAKE_PRIVATE", PRIVATE_SERVER)]);
    r.wait_log("ready");
    r.wait_log("private");
    // Like `docker exec`: the namespaces of the init (the outer PID and mount namespace), not systemd's.
    let client = |user: &[&str]| {
        let init = r.init_pid().to_string();
        let out = Command::new("nsenter")
            .args(["-t", &init, "-m", "-p", "--"])
            .args(user)
            .args(["python3", "-c", PRIVATE_CLIENT])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    let t = Instant::now();
    let mut answer = client(&[]);
    while !answer.starts_with("pid=") && t.elapsed() < LIMIT {
        std::thread::sleep(Duration::from_millis(50)); // the relay binds the proxy once the socket exists
        answer = client(&[]);
    }
    assert!(answer.starts_with("pid=") && !answer.starts_with("pid=0 "), "a PID systemd can see: {answer}");
    assert!(answer.ends_with("uid=0 got=hello"), "{answer}");
    let nobody = client(&["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "--"]);
    assert!(!nobody.contains("got="), "non-root clients must be refused: {nobody}");
    r.kill_init(libc::SIGTERM);
    let (code, err, log) = r.finish();
    assert_eq!(code, 0, "{err}\n{log}");
    assert!(err.contains("systemctl in docker exec reaches systemd through"), "{err}");
}

#[test]
#[ignore = "root only: run by integration/test-all with --include-ignored"]
fn auto_falls_back_to_exec_when_no_pid_namespace_can_be_made_and_always_fails_with_21() {
    // In a user namespace whose max_pid_namespaces is 0, root keeps CAP_SYS_ADMIN (so auto decides to relay)
    // but clone(CLONE_NEWPID) fails with ENOSPC: the same situation as a seccomp or LSM policy that forbids it.
    let userns = ["--user", "--map-root-user"];
    let limit = "echo 0 > /proc/sys/user/max_pid_namespaces";
    let mut r = Boot::start_in(&userns, limit, "fallback", STOCK, &[], &[], &[("FAKE_EXIT", "6")]);
    r.wait_log("ready");
    let comm = std::fs::read_to_string(format!("/proc/{}/comm", r.init_pid())).unwrap();
    assert_eq!(comm.trim(), "fake-systemd", "fell back to exec: systemd is the namespace's PID 1");
    r.kill_init(RTMIN3);
    let (code, err, log) = r.finish();
    assert_eq!(code, 6, "{err}\n{log}");
    assert!(err.contains("cannot start systemd in a new PID namespace (clone: ENOSPC"), "{err}");
    assert!(err.contains("falling back to exec"), "{err}");
    assert!(log.lines().any(|l| l == "pid 1"), "{log}");
    assert!(log.lines().any(|l| l == "proxy no"), "the failed relay's proxy socket is removed\n{log}");

    let r = Boot::start_in(&userns, limit, "fallback-always", STOCK, &[], &["--relay=always"], &[]);
    let (code, err, log) = r.finish();
    assert_eq!(code, 21, "{err}");
    assert!(err.contains("ENOSPC"), "{err}");
    assert!(!log.contains("ready"), "systemd must not start: {log}");
}
