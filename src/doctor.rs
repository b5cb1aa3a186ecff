//! `nixos2docker doctor`: the same probes as the init, all findings, a remedy for each.

use crate::checks::{self, Finding, Mode, Severity};
use crate::exit_code;
use crate::facts::{self, Facts};
use crate::relay::{self, Decision};
use crate::sandboxing::{self, Sandboxing};
use crate::sys::System;
use serde_json::json;
use std::path::PathBuf;

pub struct Options {
    pub json: bool,
    pub config: Option<PathBuf>,
    /// A fixture to judge instead of the live container.
    pub snapshot: Option<PathBuf>,
}

/// Checks before boot, or, next to a running systemd (PID 1 or behind the relay), its state as systemctl says.
pub fn mode_for(sys: &dyn System) -> Mode {
    if !facts::locate_systemd(sys).is_up() {
        return Mode::PreBoot;
    }
    let state = sys.run("systemctl", &["is-system-running"]).ok().map(|out| out.stdout.trim().to_owned());
    Mode::Running(state.filter(|s| !s.is_empty()))
}

/// The exit code: what `init` would exit with; next to a running systemd, 0 only when it is `running`.
pub fn exit_code(report: &checks::Report) -> u8 {
    match &report.mode {
        Mode::Running(state) if state.as_deref() != Some("running") => exit_code::NOT_RUNNING,
        _ => report.exit_code(),
    }
}

pub fn run(opts: Options) -> u8 {
    match &opts.snapshot {
        None => report(&opts, &crate::sys::Live),
        Some(path) => match crate::sys::Snapshot::load(path) {
            Ok(snap) => report(&opts, &snap),
            Err(e) => {
                log::error!("{e}");
                exit_code::BAD_CONFIG
            }
        },
    }
}

fn report(opts: &Options, sys: &dyn System) -> u8 {
    let config = match crate::config::load_applicable(opts.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            log::error!("{e}");
            return exit_code::BAD_CONFIG;
        }
    };
    let facts = match facts::gather(sys, &config) {
        Ok(f) => f,
        Err(e) => {
            log::error!("{e}");
            return exit_code::PROBE;
        }
    };
    let mode = mode_for(sys);
    let (mut report, plan) = checks::preflight(&facts, &mode);
    // Next to a running systemd: what its units lost; before boot: the policy the init would hand over.
    let lost = matches!(mode, Mode::Running(_)).then(|| sandboxing::collect(sys));
    report.findings.extend(match &lost {
        Some(lost) => sandboxing_findings(lost, facts.target.patched),
        None => vec![policy_finding(config.profile.sandboxing, facts.target.patched)],
    });
    let code = exit_code(&report);
    let start = start_line(&facts, config.relay.unwrap_or_default());
    if opts.json {
        let doc = json!({
            "wouldBoot": report.problem.is_none(),
            "exitCode": code,
            "mode": report.mode.name(),
            "systemState": match &report.mode { Mode::Running(s) => s.clone(), Mode::PreBoot => None },
            "config": config.source,
            "findings": report.findings,
            "plan": plan,
            "start": start,
            "target": facts.target,
            "cgroups": facts.cgroups,
            "engine": facts.engine,
            "sandboxing": lost,
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        print!("{}", render_text(&report, code));
        println!("start: {start}");
    }
    code
}

/// How the init would start systemd here: the decision `init` takes (src/relay/decide.rs), from the same facts and the
/// config's relay mode (`--relay` on the init's command line overrides it).
pub fn start_line(facts: &Facts, mode: crate::config::RelayMode) -> String {
    match relay::decide(mode, facts.target.patched, facts.can_create_pid_ns()) {
        Ok(Decision::Relay { .. }) => "relay: systemd runs as PID 1 of a nested PID namespace under the init".into(),
        Ok(Decision::Exec { why, .. }) => format!("exec: systemd replaces the init ({why})"),
        Err(e) => format!("none: {e}"),
    }
}

/// Before boot: the policy the init would write for systemd (information, never a problem).
pub fn policy_finding(policy: Sandboxing, patched: Option<bool>) -> Finding {
    let message = match (policy, patched) {
        (_, Some(false)) => "sandboxing: stock systemd refuses a unit whose namespacing the container cannot give, \
                             as upstream, whatever the policy"
            .to_owned(),
        (Sandboxing::Degrade, _) => "sandboxing policy degrade: a unit whose namespacing the container cannot give \
                                     runs without it, named in its journal and by doctor once systemd runs (strict: \
                                     -e NIXOS2DOCKER_SANDBOXING=strict)"
            .to_owned(),
        (Sandboxing::Strict, _) => "sandboxing policy strict: a unit that asks for namespacing upstream insists on \
                                    fails as upstream (217/USER, 226/NAMESPACE); options upstream skips are skipped"
            .to_owned(),
    };
    Finding { id: "sandbox", severity: Severity::Info, message, remedy: None, exit_code: None }
}

/// Next to a running systemd: the running units whose start lost sandboxing, and entries of the record
/// directory that are no records. A warning when a unit runs without an option upstream would have refused it
/// for; information when it lost only what upstream skips too. Neither changes doctor's exit code (only an error
/// finding or a system state other than `running` does): the default policy is a choice, not a fault.
pub fn sandboxing_findings(r: &sandboxing::Report, patched: Option<bool>) -> Vec<Finding> {
    let finding = |severity, message: String, remedy: Option<String>| Finding {
        id: "sandbox",
        severity,
        message,
        remedy,
        exit_code: None,
    };
    let policy = r.policy.name();
    let mut out = Vec::new();
    if r.units.is_empty() {
        let message = if patched == Some(false) {
            "no unit lost sandboxing: stock systemd refuses what it cannot apply, as upstream".to_owned()
        } else {
            format!("no running unit lost sandboxing (policy {policy})")
        };
        out.push(finding(Severity::Ok, message, None));
    } else {
        let n = r.units.len();
        let mut message = format!(
            "{n} running unit{} without sandboxing {} asks for (policy {policy}):",
            if n == 1 { "" } else { "s" },
            if n == 1 { "it" } else { "each" }
        );
        for line in r.unit_lines() {
            message.push_str(&format!("\n  {line}"));
        }
        let (severity, remedy) = if r.any_dropped() {
            (Severity::Warning, sandboxing::STRICT_FIX.to_owned())
        } else {
            (
                Severity::Info,
                "none needed from nixos2docker: upstream systemd skips these too without a mount namespace; a unit \
                 that must have them needs a container that may create one (CAP_SYS_ADMIN, a seccomp profile \
                 allowing unshare)"
                    .to_owned(),
            )
        };
        out.push(finding(severity, message, Some(remedy)));
    }
    if !r.ignored.is_empty() {
        let list: Vec<String> = r.ignored.iter().map(|i| format!("{} ({})", i.name, i.why)).collect();
        out.push(finding(
            Severity::Warning,
            format!("ignored under {}: {}", sandboxing::DEGRADED_DIR, list.join("; ")),
            Some(format!(
                "only patched systemd writes there: look at what else did (ls -l {}) and remove it",
                sandboxing::DEGRADED_DIR
            )),
        ));
    }
    out
}

pub fn render_text(report: &checks::Report, code: u8) -> String {
    let mut out = String::new();
    let head = match &report.mode {
        Mode::PreBoot => "nixos2docker doctor: checks before boot",
        Mode::Running(_) => "nixos2docker doctor: systemd is PID 1 (running container)",
    };
    out.push_str(head);
    out.push('\n');
    for f in &report.findings {
        // A message of several lines (one per unit) continues under its first line.
        let message = f.message.replace('\n', &format!("\n{:18}", ""));
        out.push_str(&format!("[{:^6}] {:<9} {}\n", f.severity.mark(), f.id, message));
        if let Some(r) = &f.remedy {
            out.push_str(&format!("{:18}fix: {r}\n", ""));
        }
    }
    let verdict = match (&report.mode, code) {
        (Mode::PreBoot, 0) => "verdict: systemd can boot here (exit 0)".to_owned(),
        (Mode::PreBoot, c) => format!("verdict: systemd cannot boot here (exit {c}; see FAIL above)"),
        (Mode::Running(_), 0) => "verdict: systemd is running (exit 0)".to_owned(),
        (Mode::Running(s), c) => {
            format!(
                "verdict: systemd is {} (exit {c}); see `systemctl --failed`",
                s.as_deref().unwrap_or("unreachable")
            )
        }
    };
    out.push_str(&verdict);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandboxing::{DegradedUnit, Ignored, Report};

    fn unit(name: &str, dropped: &[&str], skipped: &[&str]) -> DegradedUnit {
        DegradedUnit {
            unit: name.into(),
            dropped: dropped.iter().map(|s| s.to_string()).collect(),
            skipped: skipped.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn running(findings: Vec<Finding>) -> checks::Report {
        checks::Report { mode: Mode::Running(Some("running".into())), findings, problem: None }
    }

    #[test]
    fn degraded_units_are_a_warning_that_keeps_exit_0() {
        let r = Report {
            policy: Sandboxing::Degrade,
            units: vec![
                unit("haproxy.service", &["BindReadOnlyPaths="], &[]),
                unit("redis-server.service", &["PrivateUsers="], &["PrivateTmp=", "ProtectSystem="]),
            ],
            ignored: vec![],
            stale: 3,
        };
        let f = sandboxing_findings(&r, Some(true));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Warning);
        let report = running(f);
        assert_eq!(exit_code(&report), 0, "a healthy patched container under the default policy passes");
        assert_eq!(
            render_text(&report, 0),
            "nixos2docker doctor: systemd is PID 1 (running container)\n\
             [ WARN ] sandbox   2 running units without sandboxing each asks for (policy degrade):\n\
             \x20                   haproxy.service: dropped BindReadOnlyPaths= (upstream would refuse)\n\
             \x20                   redis-server.service: dropped PrivateUsers= (upstream would refuse); skipped \
             PrivateTmp= ProtectSystem= (upstream skips them too)\n\
             \x20                 fix: to refuse such units instead, as upstream does: `docker run -e \
             NIXOS2DOCKER_SANDBOXING=strict` (podman the same); NixOS: virtualisation.dockerImage.sandboxing = \
             \"strict\"\n\
             verdict: systemd is running (exit 0)\n"
        );
    }

    #[test]
    fn only_what_upstream_skips_is_information_and_strict_is_not_offered() {
        let r = Report {
            policy: Sandboxing::Strict,
            units: vec![unit("cron.service", &[], &["PrivateTmp="])],
            ignored: vec![],
            stale: 0,
        };
        let f = sandboxing_findings(&r, Some(true));
        assert_eq!(f[0].severity, Severity::Info);
        assert_eq!(
            f[0].message,
            "1 running unit without sandboxing it asks for (policy strict):\n  cron.service: skipped PrivateTmp= \
             (upstream skips them too)"
        );
        assert!(!f[0].remedy.as_deref().unwrap().contains("SANDBOXING=strict"));
    }

    #[test]
    fn nothing_lost_is_ok_and_ignored_entries_are_a_warning() {
        let mut r = Report { policy: Sandboxing::Degrade, units: vec![], ignored: vec![], stale: 0 };
        let f = sandboxing_findings(&r, Some(true));
        assert_eq!(
            (f[0].severity, f[0].message.as_str()),
            (Severity::Ok, "no running unit lost sandboxing (policy degrade)")
        );
        r.ignored.push(Ignored { name: "planted.service".into(), why: "a symlink, not followed".into() });
        let f = sandboxing_findings(&r, Some(true));
        assert_eq!(f[1].severity, Severity::Warning);
        assert_eq!(f[1].message, "ignored under /run/nixos2docker/degraded: planted.service (a symlink, not followed)");
        assert!(f[1].remedy.as_deref().unwrap().contains("ls -l /run/nixos2docker/degraded"));
        assert_eq!(exit_code(&running(f)), 0);
    }

    #[test]
    fn before_boot_the_policy_is_information() {
        let f = policy_finding(Sandboxing::Degrade, Some(true));
        assert_eq!(f.severity, Severity::Info);
        assert!(
            f.message.starts_with("sandboxing policy degrade: ")
                && f.message.contains("NIXOS2DOCKER_SANDBOXING=strict")
        );
        assert!(policy_finding(Sandboxing::Strict, None).message.starts_with("sandboxing policy strict: "));
        assert!(policy_finding(Sandboxing::Degrade, Some(false)).message.contains("stock systemd refuses"));
    }
}
