//! `nixos2docker init`: the PID-1 preamble, top to bottom.
//!
//! preflight → exec or relay → environment → drop-ins → signals → exec. Nothing before exec may panic or
//! linger: each failure is one error line, the short summary, and a documented exit code. Relay mode
//! (src/relay/) branches off at the last step: stock systemd is started in a new PID namespace and the init
//! stays PID 1, relaying signals, until systemd ends.

use crate::checks::{self, Mode, Severity};
use crate::config::{self, Config, RelayMode};
use crate::dropins;
use crate::error::InitError;
use crate::facts;
use crate::relay::{self, Decision, RelayError};
use crate::signals::Blocked;
use crate::sys::Live;
use std::path::PathBuf;
use std::time::Instant;

pub struct Options {
    pub config: Option<PathBuf>,
    pub dry_run: bool,
    /// `--relay`; None = the config's, else auto.
    pub relay: Option<RelayMode>,
    /// Passed to systemd after the config's `args`.
    pub args: Vec<String>,
}

/// Run the preamble. Returns on failure, after a dry run, or when systemd ended in relay mode: the exit code.
pub fn run(opts: Options, signals: Blocked, started: Instant) -> u8 {
    let mut summary = None;
    match boot(opts, signals, started, &mut summary) {
        Ok(code) => code,
        Err(e) => {
            log::error!("{e}");
            if let Some(s) = summary {
                log::info!("checks: {s}; full report: docker run --rm <image> doctor");
            }
            e.exit_code()
        }
    }
}

fn stop_requested(signals: &Blocked) -> Result<(), InitError> {
    match signals.pending_stop() {
        Ok(Some(signal)) => Err(InitError::Stopped { signal, name: crate::signals::name(signal) }),
        Ok(None) => Ok(()),
        Err(errno) => Err(crate::handover::HandoverError { step: "sigpending", errno }.into()),
    }
}

fn boot(opts: Options, signals: Blocked, started: Instant, summary: &mut Option<String>) -> Result<u8, InitError> {
    // 1. Preflight: look at the container, judge it, fail fast with one clear message.
    let config: Config = config::load_applicable(opts.config.as_deref())?;
    let facts = facts::gather(&Live, &config)?;
    let (report, run_plan) = checks::preflight(&facts, &Mode::PreBoot);
    for f in report.findings.iter().filter(|f| f.severity == Severity::Warning) {
        log::warn!("{}; fix: {}", f.message, f.remedy.as_deref().unwrap_or("-"));
    }
    if let Some(problem) = report.problem.clone() {
        *summary = Some(checks::summary_line(&report));
        return Err(problem.into());
    }

    // 1b. Exec or relay: stock systemd in a new PID namespace when it may be created (src/relay/).
    let relay_mode = opts.relay.or(config.relay).unwrap_or_default();
    let can_relay = facts.can_create_pid_ns();
    let decision = relay::decide(relay_mode, facts.target.patched, can_relay)?;
    if let Decision::Exec { stock_sigterm: true, why } = decision {
        if can_relay {
            log::warn!("stock systemd without relay ({why}): SIGTERM makes it re-execute, not stop");
        }
    }
    stop_requested(&signals)?;

    // 2. Environment and command line for systemd.
    let env = dropins::exec_env(std::env::vars_os().collect(), &config.profile);
    let target = facts.target.path.clone();
    let argv: Vec<String> =
        std::iter::once(target.clone()).chain(config.args.iter().cloned()).chain(opts.args).collect();

    // 3. Runtime drop-ins under /run.
    let actions = dropins::plan(&config.profile, &run_plan, &facts.mounts);
    if opts.dry_run {
        let relay = matches!(decision, Decision::Relay { .. });
        let plan = serde_json::json!({ "exec": target, "relay": relay, "argv": argv, "actions": actions,
            "env": env.iter().map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy())).collect::<Vec<_>>() });
        println!("{}", serde_json::to_string_pretty(&plan).unwrap_or_default());
        return Ok(0);
    }
    dropins::apply(std::path::Path::new("/"), &actions)?;

    // 4. Signals: a stop request that came during the preamble wins over booting.
    stop_requested(&signals)?;

    // 5. Exec, or relay.
    let t = &facts.target;
    log::info!(
        "starting {}{} ({}) after {} µs of checks; {}",
        target,
        t.version.map(|v| format!(", systemd {v}")).unwrap_or_default(),
        match t.patched {
            Some(true) => "patched",
            Some(false) => "stock",
            None => "unknown build",
        },
        started.elapsed().as_micros(),
        match decision {
            Decision::Relay { .. } => "relay mode".to_owned(),
            Decision::Exec { why, .. } => format!("exec, no relay: {why}"),
        }
    );
    let execve = crate::exec::Execve::new(&target, argv, env)?;
    if let Decision::Relay { fallback } = decision {
        let cg = &facts.cgroups;
        let own_cgroup =
            (cg.kind == facts::CgroupKind::Unified && cg.writable && cg.private_ns).then_some("/sys/fs/cgroup");
        match relay::run(&Live, &execve, &signals, own_cgroup) {
            Ok(code) => return Ok(code),
            Err(e @ RelayError::Setup { .. }) if fallback => {
                log::warn!("{e}");
                log::warn!("falling back to exec: stock systemd, SIGTERM makes it re-execute, not stop");
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(execve.exec(&[], &signals).into())
}
