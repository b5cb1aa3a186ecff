//! `nixos2docker doctor`: the same probes as the init, all findings, a remedy for each.

use crate::checks::{self, Mode};
use crate::exit_code;
use crate::facts::{self, Facts};
use crate::relay::{self, Decision};
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
    let (report, plan) = checks::preflight(&facts, &mode);
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

pub fn render_text(report: &checks::Report, code: u8) -> String {
    let mut out = String::new();
    let head = match &report.mode {
        Mode::PreBoot => "nixos2docker doctor: checks before boot",
        Mode::Running(_) => "nixos2docker doctor: systemd is PID 1 (running container)",
    };
    out.push_str(head);
    out.push('\n');
    for f in &report.findings {
        out.push_str(&format!("[{:^6}] {:<9} {}\n", f.severity.mark(), f.id, f.message));
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
