//! `nixos2docker wait`: block until systemd is PID 1 and has finished booting, then say how it went.
//!
//! Made for `docker run -d IMG && docker exec C nixos2docker wait`: right after `docker run` PID 1 is still
//! the init preamble (or, in relay mode, the init with systemd as its child) and systemd's bus socket does
//! not exist yet, so `systemctl is-system-running --wait` fails at once. Here each poll first looks at
//! /proc (is systemd running as PID 1, or behind the relay? [`facts::locate_systemd`]) and only then asks
//! `systemctl is-system-running` (no `--wait`: one short answer per poll, so the deadline always holds).
//! The boot has finished when the answer is `running`, `degraded`, `maintenance` or `stopping`
//! (systemd's `src/systemctl/systemctl-is-system-running.c`: it waits while `initializing` or `starting`).
//!
//! [`observe_until`] is the loop, [`Report`] the pure outcome; what they ask (/proc, systemctl, journalctl)
//! goes through the [`System`] seam, so tests run on scripted answers.

use crate::exit_code;
use crate::facts::{self, SystemdAt};
use crate::parse::systemctl;
use crate::sandboxing;
use crate::sys::System;
use serde::Serialize;
use std::time::{Duration, Instant};

pub const DEFAULT_TIMEOUT_S: f64 = 90.0;
/// Between two polls: short enough that `wait` returns within a tenth of a second of the boot's end.
const POLL: Duration = Duration::from_millis(100);
/// Failed units whose log lines are fetched (each costs a journalctl run).
const MAX_UNITS_WITH_LOG: usize = 10;
/// Log lines shown per failed unit, and how many journal lines they are picked from.
const LOG_LINES: usize = 5;
const LOG_SCAN: &str = "40";

pub struct Options {
    pub timeout: Duration,
    pub json: bool,
}

/// systemd's system states (`systemctl is-system-running`, `src/core/manager.c` `manager_state_to_string`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Offline,
    Unknown,
    Initializing,
    Starting,
    Running,
    Degraded,
    Maintenance,
    Stopping,
}

impl State {
    /// The state in `systemctl is-system-running`'s stdout (its last non-empty line).
    pub fn parse(stdout: &str) -> Option<State> {
        let word = stdout.lines().map(str::trim).rfind(|l| !l.is_empty())?;
        Some(match word {
            "offline" => State::Offline,
            "unknown" => State::Unknown,
            "initializing" => State::Initializing,
            "starting" => State::Starting,
            "running" => State::Running,
            "degraded" => State::Degraded,
            "maintenance" => State::Maintenance,
            "stopping" => State::Stopping,
            _ => return None,
        })
    }

    /// The boot has finished: waiting longer will not change the answer.
    pub fn is_final(self) -> bool {
        matches!(self, State::Running | State::Degraded | State::Maintenance | State::Stopping)
    }

    pub fn name(self) -> &'static str {
        match self {
            State::Offline => "offline",
            State::Unknown => "unknown",
            State::Initializing => "initializing",
            State::Starting => "starting",
            State::Running => "running",
            State::Degraded => "degraded",
            State::Maintenance => "maintenance",
            State::Stopping => "stopping",
        }
    }
}

/// What one poll saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// PID 1 is not systemd (the init preamble, NixOS's stage-2 script, or no systemd at all): its comm.
    NotSystemd(String),
    /// systemd runs but did not answer (no bus socket yet): systemctl's message.
    NoAnswer(String),
    State(State),
}

/// A failed unit and its last log lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedUnit {
    pub unit: String,
    pub log: Vec<String>,
    /// `journal` (`journalctl -u UNIT`); `journal-pid` (the journal lines of the unit's main process, when
    /// none is attributed to the unit: no per-unit cgroups); `status` (`systemctl status UNIT`, when the journal
    /// has neither); `none` (not fetched).
    pub log_source: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error("cannot run {program}: {source}; fix: install systemd in the image (systemctl must be on PATH)")]
    Spawn { program: &'static str, source: std::io::Error },
}

/// Run `program` through the seam: (stdout, stderr), or the error that it cannot be started.
fn ask(sys: &dyn System, program: &'static str, args: &[&str]) -> Result<(String, String), WaitError> {
    sys.run(program, args).map(|o| (o.stdout, o.stderr)).map_err(|source| WaitError::Spawn { program, source })
}

/// How the wait ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Finished(State),
    /// The deadline passed; what the last poll saw.
    TimedOut(Seen),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub outcome: Outcome,
    pub seconds: f64,
    pub timeout_s: f64,
    pub failed: Vec<FailedUnit>,
    /// Running units whose start lost sandboxing (src/sandboxing.rs); None when systemd never answered.
    pub sandboxing: Option<sandboxing::Report>,
}

pub fn exit_code(outcome: &Outcome) -> u8 {
    match outcome {
        Outcome::Finished(State::Running) => 0,
        Outcome::Finished(State::Degraded) => exit_code::WAIT_DEGRADED,
        Outcome::Finished(_) => exit_code::WAIT_NOT_UP,
        Outcome::TimedOut(_) => exit_code::WAIT_TIMEOUT,
    }
}

/// One poll: /proc first, systemctl only once systemd runs.
pub fn poll(sys: &dyn System) -> Result<Seen, WaitError> {
    if let SystemdAt::Absent { pid1_comm } = facts::locate_systemd(sys) {
        return Ok(Seen::NotSystemd(pid1_comm));
    }
    let (out, err) = ask(sys, "systemctl", &["is-system-running"])?;
    Ok(match State::parse(&out) {
        Some(s) => Seen::State(s),
        None => Seen::NoAnswer(err.lines().map(str::trim).rfind(|l| !l.is_empty()).unwrap_or("no answer").to_owned()),
    })
}

/// Poll until the boot has finished or `timeout` has passed (at least one poll, so `--timeout 0` is a
/// single look), sleeping `interval` between polls.
pub fn observe_until(sys: &dyn System, timeout: Duration, interval: Duration) -> Result<(Outcome, f64), WaitError> {
    let start = Instant::now();
    loop {
        let seen = poll(sys)?;
        if let Seen::State(s) = seen {
            if s.is_final() {
                return Ok((Outcome::Finished(s), start.elapsed().as_secs_f64()));
            }
        }
        let elapsed = start.elapsed();
        if elapsed >= timeout {
            return Ok((Outcome::TimedOut(seen), elapsed.as_secs_f64()));
        }
        std::thread::sleep(interval.min(timeout - elapsed));
    }
}

/// The last `n` lines, the unit's own before PID 1's: its messages about the unit ("Failed to read pids.max
/// …", "Failed with result …") would otherwise push out what the unit itself said. Order is kept.
pub fn pick_log_lines(lines: &[String], n: usize) -> Vec<String> {
    let from_pid1 = |l: &String| l.contains(" systemd[1]: ");
    let own = lines.iter().filter(|l| !from_pid1(l)).count();
    let mut keep_own = own.min(n);
    let mut keep_pid1 = n - keep_own;
    let mut picked: Vec<&String> = Vec::new();
    for l in lines.iter().rev() {
        let slot = if from_pid1(l) { &mut keep_pid1 } else { &mut keep_own };
        if *slot > 0 {
            *slot -= 1;
            picked.push(l);
        }
    }
    picked.into_iter().rev().cloned().collect()
}

/// The failed units, with the log lines of the first few.
pub fn failed_units(sys: &dyn System) -> Result<Vec<FailedUnit>, WaitError> {
    let args = ["list-units", "--failed", "--plain", "--no-legend", "--no-pager", "--full"];
    let names = systemctl::failed_units(&ask(sys, "systemctl", &args)?.0);
    Ok(names
        .into_iter()
        .enumerate()
        .map(|(i, unit)| {
            let (log, log_source) = if i < MAX_UNITS_WITH_LOG { unit_log(sys, &unit) } else { (vec![], "none") };
            FailedUnit { unit, log, log_source }
        })
        .collect())
}

pub fn run(opts: Options) -> u8 {
    let sys = crate::sys::Live;
    let result = observe_until(&sys, opts.timeout, POLL).and_then(|(outcome, seconds)| {
        // Failed units matter after any boot that did not end `running` (a timed-out boot may have some).
        let failed = match &outcome {
            Outcome::Finished(State::Running) | Outcome::TimedOut(Seen::NotSystemd(_) | Seen::NoAnswer(_)) => vec![],
            _ => failed_units(&sys)?,
        };
        // What lost sandboxing: once systemd answers (patched systemd writes the records as units start).
        let sandboxing = matches!(outcome, Outcome::Finished(_) | Outcome::TimedOut(Seen::State(_)))
            .then(|| sandboxing::collect(&sys));
        Ok(Report { outcome, seconds, timeout_s: opts.timeout.as_secs_f64(), failed, sandboxing })
    });
    match result {
        Ok(report) => {
            if opts.json {
                println!("{}", serde_json::to_string_pretty(&report.to_json()).unwrap_or_default());
            } else {
                print!("{}", report.text());
            }
            exit_code(&report.outcome)
        }
        Err(e) => {
            if opts.json {
                println!("{}", serde_json::json!({ "exitCode": exit_code::PROBE, "error": e.to_string() }));
            }
            log::error!("{e}");
            exit_code::PROBE
        }
    }
}

impl Report {
    /// The state name, or what stood in for it when systemd never answered.
    pub fn state(&self) -> String {
        match &self.outcome {
            Outcome::Finished(s) | Outcome::TimedOut(Seen::State(s)) => s.name().to_owned(),
            Outcome::TimedOut(Seen::NotSystemd(_)) => "preboot".to_owned(),
            Outcome::TimedOut(Seen::NoAnswer(_)) => "unreachable".to_owned(),
        }
    }

    /// One line: what happened and the exact next step.
    pub fn summary(&self) -> String {
        let units = self.failed.iter().map(|u| u.unit.as_str()).collect::<Vec<_>>();
        let first = units.first().copied().unwrap_or("UNIT");
        let t = self.seconds;
        match &self.outcome {
            Outcome::Finished(State::Running) => format!("running after {t:.2} s"),
            Outcome::Finished(State::Degraded) => format!(
                "degraded after {t:.2} s: {} failed unit{} ({}); fix: systemctl status {first}",
                units.len(),
                if units.len() == 1 { "" } else { "s" },
                units.join(", ")
            ),
            Outcome::Finished(State::Maintenance) => format!(
                "maintenance after {t:.2} s: the boot went to rescue or emergency mode; fix: journalctl -b -p warning"
            ),
            Outcome::Finished(s) => format!("{} after {t:.2} s: the system is shutting down", s.name()),
            Outcome::TimedOut(seen) => {
                let why = match seen {
                    Seen::NotSystemd(comm) => format!("PID 1 is still `{comm}`, not systemd"),
                    Seen::NoAnswer(msg) => format!("systemd does not answer yet ({msg})"),
                    Seen::State(s) => format!("systemd is still {}", s.name()),
                };
                let more = (self.timeout_s * 2.0).max(30.0).ceil();
                format!("timed out after {t:.2} s: {why}; fix: --timeout {more}")
            }
        }
    }

    pub fn text(&self) -> String {
        let mut out = format!("nixos2docker wait: {}\n", self.summary());
        for u in &self.failed {
            out.push_str(&format!("failed: {}\n", u.unit));
            if u.log_source == "journal-pid" {
                out.push_str("    (no journal lines attributed to the unit; those of its main process)\n");
            }
            if u.log_source == "status" {
                out.push_str("    (no journal lines for the unit; from systemctl status)\n");
            }
            for l in &u.log {
                out.push_str(&format!("    {l}\n"));
            }
        }
        if let Some(line) = self.sandboxing.as_ref().and_then(sandboxing_line) {
            out.push_str(&line);
            out.push('\n');
        }
        out
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "state": self.state(),
            "finished": matches!(self.outcome, Outcome::Finished(_)),
            "exitCode": exit_code(&self.outcome),
            "seconds": (self.seconds * 1000.0).round() / 1000.0,
            "timeoutSeconds": self.timeout_s,
            "message": self.summary(),
            "failedUnits": self.failed,
            "sandboxing": self.sandboxing,
        })
    }
}

/// One line naming the running units that lost sandboxing (None when there are none).
fn sandboxing_line(r: &sandboxing::Report) -> Option<String> {
    if r.units.is_empty() {
        return None;
    }
    let units: Vec<String> = r
        .units
        .iter()
        .map(|u| {
            let mut lost = u.dropped.clone();
            lost.extend(u.skipped.iter().cloned());
            format!("{} ({})", u.unit, lost.join(" "))
        })
        .collect();
    Some(format!(
        "sandboxing (policy {}): {} running unit{} without options {} asks for: {}; details: nixos2docker doctor",
        r.policy.name(),
        units.len(),
        if units.len() == 1 { "" } else { "s" },
        if units.len() == 1 { "it" } else { "each" },
        units.join(", ")
    ))
}

fn lines(out: &str) -> Vec<String> {
    out.lines().map(str::trim_end).filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

/// The unit's last log lines and where they came from (see [`FailedUnit::log_source`]).
fn unit_log(sys: &dyn System, unit: &str) -> (Vec<String>, &'static str) {
    let journal = |filter: &str| {
        ask(sys, "journalctl", &["-b", "-n", LOG_SCAN, "--no-pager", "-q", filter])
            .map(|(out, _)| pick_log_lines(&lines(&out), LOG_LINES))
    };
    if let Ok(l) = journal(&format!("--unit={unit}")) {
        if !l.is_empty() {
            return (l, "journal");
        }
    }
    // Without per-unit cgroups the journal may not know a line's unit: take the main process's own lines.
    let pid = ask(sys, "systemctl", &["show", unit, "--property=ExecMainPID", "--value"])
        .map(|(out, _)| out.trim().to_owned())
        .unwrap_or_default();
    if pid.parse::<u32>().is_ok_and(|p| p > 1) {
        if let Ok(l) = journal(&format!("_PID={pid}")) {
            if !l.is_empty() {
                return (l, "journal-pid");
            }
        }
    }
    match ask(sys, "systemctl", &["status", unit, "--lines=0", "--no-pager", "--full"]) {
        Ok((out, _)) => (lines(&out).into_iter().map(|l| l.trim().to_owned()).collect(), "status"),
        Err(_) => (vec![], "none"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// Scripted answers: PID 1's comm per poll, then is-system-running's stdout per poll.
    struct Script {
        pid1: RefCell<Vec<&'static str>>,
        states: RefCell<Vec<(&'static str, &'static str)>>,
        failed: &'static str,
    }

    impl Script {
        fn new(pid1: &[&'static str], states: &[(&'static str, &'static str)], failed: &'static str) -> Script {
            Script { pid1: RefCell::new(pid1.to_vec()), states: RefCell::new(states.to_vec()), failed }
        }
    }

    fn next<T: Copy>(v: &RefCell<Vec<T>>) -> T {
        let mut v = v.borrow_mut();
        if v.len() > 1 { v.remove(0) } else { v[0] }
    }

    /// A `docker exec` session next to PID 1 (no relay); systemctl and journalctl answer from the script.
    impl System for Script {
        fn pid(&self) -> i32 {
            2
        }
        fn uid(&self) -> u32 {
            0
        }
        fn read_text(&self, path: &str) -> std::io::Result<String> {
            match path {
                "/proc/1/comm" => Ok(format!("{}\n", next(&self.pid1))),
                _ => Err(std::io::ErrorKind::NotFound.into()),
            }
        }
        fn read_bytes(&self, path: &str) -> std::io::Result<Vec<u8>> {
            self.read_text(path).map(String::into_bytes)
        }
        fn path_info(&self, _: &str) -> crate::sys::PathInfo {
            crate::sys::PathInfo::default()
        }
        fn pids(&self) -> Vec<u32> {
            vec![1]
        }
        fn list_dir(&self, path: &str) -> std::io::Result<Vec<crate::sys::Entry>> {
            Err(std::io::Error::new(std::io::ErrorKind::NotFound, path.to_owned()))
        }
        fn read_regular(&self, path: &str, _: usize) -> std::io::Result<String> {
            self.read_text(path)
        }
        fn run(&self, program: &str, args: &[&str]) -> std::io::Result<crate::sys::Output> {
            let stdout = match (program, args) {
                ("systemctl", ["is-system-running"]) => {
                    let (stdout, stderr) = next(&self.states);
                    return Ok(crate::sys::Output { stdout: stdout.into(), stderr: stderr.into() });
                }
                ("systemctl", ["list-units", "--failed", ..]) => self.failed.to_owned(),
                ("journalctl", [.., filter]) => {
                    let unit = filter.trim_start_matches("--unit=");
                    format!("{unit}: boom-marker\nsystemd[1]: {unit}: Failed with result 'exit-code'.\n")
                }
                _ => return Err(std::io::ErrorKind::NotFound.into()),
            };
            Ok(crate::sys::Output { stdout, stderr: String::new() })
        }
    }

    const NO_BUS: (&str, &str) =
        ("", "Failed to connect to system scope bus via local transport: No such file or directory\n");

    #[test]
    fn states_parse_and_only_booted_ones_are_final() {
        assert_eq!(State::parse("running\n"), Some(State::Running));
        assert_eq!(State::parse("starting\n"), Some(State::Starting));
        assert_eq!(State::parse("\n  degraded \n\n"), Some(State::Degraded));
        assert_eq!(State::parse(""), None);
        assert_eq!(State::parse("Failed to connect to bus"), None);
        for s in ["offline", "unknown", "initializing", "starting", "running", "degraded", "maintenance", "stopping"] {
            let st = State::parse(s).unwrap();
            assert_eq!(st.name(), s);
            assert_eq!(st.is_final(), matches!(s, "running" | "degraded" | "maintenance" | "stopping"), "{s}");
        }
    }

    #[test]
    fn waits_through_preamble_and_missing_bus_until_running() {
        let h = Script::new(&["init", "init", "systemd"], &[NO_BUS, ("starting\n", ""), ("running\n", "")], "");
        let (outcome, _) = observe_until(&h, Duration::from_secs(5), Duration::ZERO).unwrap();
        assert_eq!(outcome, Outcome::Finished(State::Running));
        assert_eq!(exit_code(&outcome), 0);
    }

    #[test]
    fn timeout_zero_is_one_look_and_names_what_it_saw() {
        let h = Script::new(&["init"], &[("running\n", "")], "");
        let (outcome, _) = observe_until(&h, Duration::ZERO, Duration::ZERO).unwrap();
        assert_eq!(outcome, Outcome::TimedOut(Seen::NotSystemd("init".into())));
        assert_eq!(exit_code(&outcome), exit_code::WAIT_TIMEOUT);
        let r = Report { outcome, seconds: 0.0, timeout_s: 0.0, failed: vec![], sandboxing: None };
        assert!(r.summary().contains("PID 1 is still `init`, not systemd; fix: --timeout 30"), "{}", r.summary());

        let h = Script::new(&["systemd"], &[NO_BUS], "");
        let (outcome, _) = observe_until(&h, Duration::ZERO, Duration::ZERO).unwrap();
        let r = Report { outcome, seconds: 0.0, timeout_s: 90.0, failed: vec![], sandboxing: None };
        assert_eq!(r.state(), "unreachable");
        assert!(r.summary().contains("Failed to connect to system scope bus"), "{}", r.summary());
        assert!(r.summary().ends_with("fix: --timeout 180"), "{}", r.summary());

        let h = Script::new(&["systemd"], &[("starting\n", "")], "");
        let (outcome, _) = observe_until(&h, Duration::from_millis(30), Duration::from_millis(10)).unwrap();
        assert_eq!(outcome, Outcome::TimedOut(Seen::State(State::Starting)));
    }

    #[test]
    fn degraded_report_names_units_and_log_lines_in_text_and_json() {
        let h = Script::new(&["systemd"], &[("degraded\n", "")], "n2d-fail.service loaded failed failed x\n");
        let (outcome, seconds) = observe_until(&h, Duration::from_secs(1), Duration::ZERO).unwrap();
        assert_eq!(exit_code(&outcome), exit_code::WAIT_DEGRADED);
        let r = Report { outcome, seconds, timeout_s: 90.0, failed: failed_units(&h).unwrap(), sandboxing: None };
        let text = r.text();
        assert!(text.starts_with("nixos2docker wait: degraded after "), "{text}");
        assert!(text.contains("1 failed unit (n2d-fail.service); fix: systemctl status n2d-fail.service\n"), "{text}");
        assert!(text.contains("failed: n2d-fail.service\n    n2d-fail.service: boom-marker\n"), "{text}");
        let j = r.to_json();
        assert_eq!(j["state"], "degraded");
        assert_eq!(j["exitCode"], exit_code::WAIT_DEGRADED);
        assert_eq!(j["finished"], true);
        assert_eq!(j["failedUnits"][0]["unit"], "n2d-fail.service");
        assert_eq!(j["failedUnits"][0]["logSource"], "journal");
        assert_eq!(j["failedUnits"][0]["log"][0], "n2d-fail.service: boom-marker");
    }

    #[test]
    fn log_lines_prefer_the_units_own_and_keep_order() {
        let l = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let journal = l(&[
            "h sh[61]: first",
            "h sh[61]: N2D-MARKER",
            "h systemd[1]: x.service: Main process exited, code=exited, status=3",
            "h systemd[1]: x.service: Failed to read pids.max, ignoring",
            "h systemd[1]: x.service: Failed to read pids.max, ignoring",
            "h systemd[1]: x.service: Failed with result 'exit-code'.",
        ]);
        assert_eq!(
            pick_log_lines(&journal, 3),
            l(&["h sh[61]: first", "h sh[61]: N2D-MARKER", "h systemd[1]: x.service: Failed with result 'exit-code'."])
        );
        assert_eq!(pick_log_lines(&journal, 1), l(&["h sh[61]: N2D-MARKER"]));
        assert_eq!(pick_log_lines(&journal, 10), journal);
        assert!(pick_log_lines(&[], 5).is_empty());
    }

    #[test]
    fn sandboxing_in_json_and_one_text_line() {
        use crate::sandboxing::{DegradedUnit, Sandboxing};
        let unit = |name: &str, dropped: &[&str], skipped: &[&str]| DegradedUnit {
            unit: name.into(),
            dropped: dropped.iter().map(|s| s.to_string()).collect(),
            skipped: skipped.iter().map(|s| s.to_string()).collect(),
        };
        let report = sandboxing::Report {
            policy: Sandboxing::Degrade,
            units: vec![
                unit("redis-server.service", &["PrivateUsers="], &["PrivateTmp=", "ProtectSystem="]),
                unit("cron.service", &[], &["PrivateTmp="]),
            ],
            ignored: vec![sandboxing::Ignored { name: "x.service".into(), why: "a symlink, not followed".into() }],
            stale: 1,
        };
        let mut r = Report {
            outcome: Outcome::Finished(State::Running),
            seconds: 1.0,
            timeout_s: 90.0,
            failed: vec![],
            sandboxing: Some(report),
        };
        let j = r.to_json();
        assert_eq!(j["sandboxing"]["policy"], "degrade");
        assert_eq!(j["sandboxing"]["units"][0]["unit"], "redis-server.service");
        assert_eq!(j["sandboxing"]["units"][0]["dropped"], serde_json::json!(["PrivateUsers="]));
        assert_eq!(j["sandboxing"]["units"][0]["skipped"], serde_json::json!(["PrivateTmp=", "ProtectSystem="]));
        assert_eq!(j["sandboxing"]["units"][1]["dropped"], serde_json::json!([]));
        assert_eq!(j["sandboxing"]["ignored"][0]["name"], "x.service");
        assert_eq!(j["sandboxing"]["stale"], 1);
        assert_eq!(exit_code(&r.outcome), 0, "lost sandboxing does not change the exit code");
        assert_eq!(
            r.text(),
            "nixos2docker wait: running after 1.00 s\nsandboxing (policy degrade): 2 running units without options \
             each asks for: redis-server.service (PrivateUsers= PrivateTmp= ProtectSystem=), cron.service \
             (PrivateTmp=); details: nixos2docker doctor\n"
        );
        r.sandboxing.as_mut().unwrap().units.clear();
        assert_eq!(r.text(), "nixos2docker wait: running after 1.00 s\n", "no line without units");
        assert_eq!(r.to_json()["sandboxing"]["units"], serde_json::json!([]));
        r.sandboxing = None;
        assert!(r.to_json()["sandboxing"].is_null(), "not collected before systemd answers");
    }

    #[test]
    fn maintenance_and_stopping_are_not_up() {
        for (s, word) in [(State::Maintenance, "rescue or emergency"), (State::Stopping, "shutting down")] {
            let r = Report {
                outcome: Outcome::Finished(s),
                seconds: 1.0,
                timeout_s: 90.0,
                failed: vec![],
                sandboxing: None,
            };
            assert_eq!(exit_code(&r.outcome), exit_code::WAIT_NOT_UP);
            assert!(r.summary().contains(word), "{}", r.summary());
        }
    }
}
