//! Root-only fault injection: the init as PID 1 of a fresh PID + mount namespace (tests/common/boot.rs) under
//! system calls a seccomp filter denies, stop signals at random moments, a symlink race against the stale-/run
//! cleanup, and a /run too small for the drop-ins. Each case ends — with systemd's exit status, 128+signal, or
//! a documented error — and never hangs; `LIMIT` only turns a hang into a failure.
//!
//! `#[ignore]`d like tests/namespace.rs: integration/test-all runs them as root with `--include-ignored`.

use std::time::{Duration, Instant};

mod common;
use common::boot::{Boot, LIMIT, PRIVATE_CLIENT, PRIVATE_SERVER, RTMIN3};

const STOCK: &str = r#"{"target": "@FAKE@", "patched": false}"#;
const PATCHED: &str = r#"{"target": "@FAKE@", "patched": true}"#;

// System call numbers (the same on x86_64 and arm64's generic table for these three) and errnos.
const CLOSE_RANGE: u32 = 436;
const PIDFD_OPEN: u32 = 434;
const CLONE3: u32 = 435;
const ENOSYS: i32 = libc::ENOSYS;
const EPERM: i32 = libc::EPERM;

fn deny(rules: &[(u32, i32)]) -> Vec<String> {
    let spec: Vec<String> = rules.iter().map(|(nr, e)| format!("{nr}:{e}")).collect();
    vec!["@EXAMPLE@".into(), "--deny".into(), spec.join(",")]
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
#[ignore = "root only: run by integration/test-all with --include-ignored"]
fn relay_stops_on_sigterm_when_close_range_fails() {
    // Without a fallback the proxy kept the relay's error pipe open: the relay waited for its EOF forever with
    // every signal blocked, and `docker kill -s TERM` did nothing.
    for errno in [ENOSYS, EPERM] {
        let launcher = deny(&[(CLOSE_RANGE, errno)]);
        let mut r = Boot::start(&format!("close-range-{errno}"), STOCK, &strs(&launcher), &["--relay=always"], &[]);
        r.wait_log("ready");
        r.kill_init(libc::SIGTERM);
        let (code, err, log) = r.finish();
        assert_eq!(code, 0, "close_range → errno {errno}: {err}\n{log}");
        assert!(log.lines().any(|l| l == "RTMIN+3"), "errno {errno}: SIGTERM reached systemd\n{log}");
        assert!(log.lines().any(|l| l == "proxy yes"), "errno {errno}\n{log}");
    }
}

#[test]
#[ignore = "root only: run by integration/test-all with --include-ignored"]
fn without_close_range_systemd_still_inherits_only_stdio_in_both_modes() {
    for (name, args) in [("exec", &["--relay=never"][..]), ("relay", &["--relay=always"][..])] {
        let launcher = deny(&[(CLOSE_RANGE, ENOSYS)]);
        let config = r#"{"target": "@EXAMPLE@", "patched": false}"#;
        let r = Boot::start_in(
            &[],
            "exec 7</dev/null 9</dev/null",
            &format!("fds-{name}"),
            config,
            &strs(&launcher),
            args,
            &[],
        );
        let dir = r.dir.clone();
        let (code, err, _) = r.finish();
        assert_eq!(code, 0, "{name}: {err}");
        let rep: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
        assert_eq!(rep["fds"], serde_json::json!(["0", "1", "2"]), "{name}: stray fds closed by the fallback");
        assert_eq!(rep["cwd"], "/", "{name}");
    }
}

#[test]
#[ignore = "root only: run by integration/test-all with --include-ignored"]
fn relay_and_its_proxy_work_when_pidfd_open_and_clone3_fail() {
    assert!(std::process::Command::new("python3").arg("--version").output().is_ok(), "this test needs python3");
    for errno in [ENOSYS, EPERM] {
        let launcher = deny(&[(PIDFD_OPEN, errno), (CLONE3, errno)]);
        let env = [("FAKE_PRIVATE", PRIVATE_SERVER)];
        let mut r = Boot::start(&format!("clone3-{errno}"), STOCK, &strs(&launcher), &["--relay=always"], &env);
        r.wait_log("ready");
        r.wait_log("private");
        // The proxy cannot start a thread per client under clone3 → EPERM (glibc falls back to clone only on
        // ENOSYS); it must serve the client itself rather than drop it or abort.
        let init = r.init_pid().to_string();
        let t = Instant::now();
        let answer = loop {
            let out = std::process::Command::new("nsenter")
                .args(["-t", &init, "-m", "-p", "--", "python3", "-c", PRIVATE_CLIENT])
                .output()
                .unwrap();
            let answer = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            if answer.ends_with("uid=0 got=hello") || t.elapsed() > LIMIT {
                break answer;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(
            answer.ends_with("uid=0 got=hello"),
            "errno {errno}: systemctl's socket through the proxy: {answer}\n{}",
            r.log()
        );
        r.kill_init(libc::SIGTERM);
        let (code, err, log) = r.finish();
        assert_eq!(code, 0, "errno {errno}: {err}\n{log}");
    }
}

/// A small xorshift generator: random delays without a dependency; the seed is printed for a rerun.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("FAULTS_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1
        });
        eprintln!("random delays: FAULTS_SEED={seed}");
        Rng(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

const TRIES: usize = 100;

/// Send `signal` at a random moment in the first 200 ms (every other try: 5 ms) after the init blocked its stop
/// signals, `TRIES` times; every run must end with one of `codes`.
fn storm(mode: &str, config: &str, args: &[&str], signal: i32, codes: &[i32]) {
    let mut rng = Rng::new();
    let mut seen = std::collections::BTreeMap::new();
    for i in 0..TRIES {
        // Every other try within the first 5 ms: the preamble itself (≈ 1 ms) and the hand-over.
        let delay = Duration::from_micros(rng.below(if i % 2 == 0 { 5_000 } else { 200_000 }));
        let mut r = Boot::start(&format!("storm-{mode}"), config, &[], args, &[]);
        let init = r.wait_init_blocked();
        std::thread::sleep(delay);
        // SAFETY: kill(2) on the namespace's PID 1.
        assert_eq!(unsafe { libc::kill(init, signal) }, 0);
        let (code, err, log) = r.finish();
        assert!(codes.contains(&code), "{mode}, try {i}, signal after {delay:?}: exit {code}\n{err}\n{log}");
        *seen.entry(code).or_insert(0) += 1;
    }
    eprintln!("{mode}: {TRIES} stop signals, exit codes {seen:?}");
}

#[test]
#[ignore = "root only: run by integration/test-all with --include-ignored"]
fn a_stop_signal_at_any_moment_is_honoured_in_exec_mode() {
    // Before exec: 128+37; after: the fake systemd takes the pending SIGRTMIN+3 and exits 0. Lost: a hang.
    storm("exec", PATCHED, &[], RTMIN3, &[0, 128 + RTMIN3]);
}

#[test]
#[ignore = "root only: run by integration/test-all with --include-ignored"]
fn a_stop_signal_at_any_moment_is_honoured_in_relay_mode() {
    storm("relay", STOCK, &["--relay=always"], libc::SIGTERM, &[0, 128 + libc::SIGTERM]);
}

/// A persistent /run (a directory bind-mounted there, not a tmpfs: the init empties it) shared with a writer
/// that keeps swapping a directory of it for a symlink to a directory outside /run.
const RACE_SETUP: &str = r#"
umount /run
mkdir -p "$D/run" "$D/outside"
mount --bind "$D/run" /run
mkdir -p /run/stale/dir
for i in $(seq 1 200); do echo x > "/run/stale/dir/f$i"; echo precious > "$D/outside/f$i"; done
python3 -c '
import os, sys
d, out = "/run/stale/dir", sys.argv[1]
open("/run/racer-ready", "w").close()
while True:
    try:
        os.rename(d, d + ".away"); os.symlink(out, d); os.unlink(d); os.rename(d + ".away", d)
    except OSError:
        pass
' "$D/outside" &
while [ ! -e /run/racer-ready ]; do sleep 0.01; done
"#;

#[test]
#[ignore = "root only: run by integration/test-all with --include-ignored"]
fn the_stale_run_cleanup_never_deletes_outside_run_under_a_symlink_race() {
    let config = r#"{"target": "@EXAMPLE@", "patched": true}"#;
    let mut outcomes = std::collections::BTreeMap::new();
    for i in 0..20 {
        let name = format!("race-{i}");
        let dir = common::stage(&format!("relay-{name}")).dir; // Boot::start_in uses the same directory
        let setup = RACE_SETUP.replace("$D", dir.to_str().unwrap());
        let r = Boot::start_in(&[], &setup, &name, config, &[], &["--relay=never"], &[]);
        let (code, err, _) = r.finish();
        let outside = dir.join("outside");
        let left = std::fs::read_dir(&outside).map(|d| d.count()).unwrap_or(0);
        assert_eq!(left, 200, "run {i}: files outside /run were deleted (exit {code})\n{err}");
        // Emptied (0: the target ran), or an error naming the path the writer changed under it (18).
        assert!(code == 0 || code == 18, "run {i}: exit {code}\n{err}");
        *outcomes.entry(code).or_insert(0) += 1;
    }
    eprintln!("symlink race: exit codes {outcomes:?}");
}

#[test]
#[ignore = "root only: run by integration/test-all with --include-ignored"]
fn a_run_without_room_gives_a_clear_error_not_a_hang() {
    // A 4 KiB tmpfs (one page) that is already full: the first drop-in does not fit.
    let setup = "umount /run\nmount -t tmpfs -o size=4k tmpfs /run\nhead -c 4096 /dev/zero > /run/filler || true";
    let r = Boot::start_in(&[], setup, "tiny-run", PATCHED, &[], &[], &[]);
    let (code, err, log) = r.finish();
    assert_eq!(code, 18, "{err}\n{log}");
    assert!(err.contains("No space left on device") && err.contains("/run/systemd"), "{err}");
    assert!(err.contains("--tmpfs /run:size="), "names the flag that fixes it: {err}");
    assert!(log.is_empty(), "systemd must not start: {log}");
}
