//! `nixos2docker init`: the PID-1 preamble, top to bottom.
//!
//! preflight → environment → drop-ins → signals → exec. Nothing before exec may panic or linger: each
//! failure is one error line, the short summary, and a documented exit code.

use crate::checks::{self, Mode, Severity};
use crate::config::{self, Config};
use crate::error::InitError;
use crate::prepare;
use crate::probe;
use crate::signals::Guard;
use crate::sys::Live;
use std::path::PathBuf;
use std::time::Instant;

pub struct Options {
    pub config: Option<PathBuf>,
    pub dry_run: bool,
    /// Passed to systemd after the config's `args`.
    pub args: Vec<String>,
}

/// Run the preamble. Returns only on failure (or after a dry run): the exit code.
pub fn run(opts: Options, signals: Guard, started: Instant) -> u8 {
    let mut summary = None;
    match boot(opts, signals, started, &mut summary) {
        Ok(()) => 0,
        Err(e) => {
            log::error!("{e}");
            if let Some(s) = summary {
                log::info!("checks: {s}; full report: docker run --rm <image> doctor");
            }
            e.exit_code()
        }
    }
}

fn load_config(flag: Option<PathBuf>) -> Result<Config, InitError> {
    let env = std::env::var(config::CONFIG_ENV).ok();
    let default_exists = std::path::Path::new(config::DEFAULT_CONFIG_PATH).exists();
    let path = config::locate(flag.as_deref(), env.as_deref(), default_exists);
    Ok(config::load(path.as_deref())?)
}

fn stop_requested(signals: &Guard) -> Result<(), InitError> {
    match signals.pending_stop() {
        Some(signal) => Err(InitError::Stopped { signal, name: crate::signals::name(signal) }),
        None => Ok(()),
    }
}

fn boot(opts: Options, signals: Guard, started: Instant, summary: &mut Option<String>) -> Result<(), InitError> {
    // 1. Preflight: look at the container, judge it, fail fast with one clear message.
    let config = load_config(opts.config)?;
    let facts = probe::gather(&Live, &config)?;
    let (report, run_plan) = checks::preflight(&facts, &Mode::PreBoot);
    for f in report.findings.iter().filter(|f| f.severity == Severity::Warning) {
        log::warn!("{}; fix: {}", f.message, f.remedy.as_deref().unwrap_or("-"));
    }
    if let Some(problem) = report.problem.clone() {
        *summary = Some(checks::summary_line(&report));
        return Err(problem.into());
    }
    stop_requested(&signals)?;

    // 2. Environment and command line for systemd.
    let env = prepare::exec_env(std::env::vars_os().collect(), &config.profile);
    let target = facts.target.path.clone();
    let argv: Vec<String> =
        std::iter::once(target.clone()).chain(config.args.iter().cloned()).chain(opts.args).collect();

    // 3. Runtime drop-ins under /run.
    let actions = prepare::plan(&config.profile, &run_plan, &facts.mounts);
    if opts.dry_run {
        let plan = serde_json::json!({ "exec": target, "argv": argv, "actions": actions,
            "env": env.iter().map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy())).collect::<Vec<_>>() });
        println!("{}", serde_json::to_string_pretty(&plan).unwrap_or_default());
        return Ok(());
    }
    prepare::apply(std::path::Path::new("/"), &actions)?;

    // 4. Signals: a stop request that came during the preamble wins over booting.
    stop_requested(&signals)?;

    // 5. Exec.
    let t = &facts.target;
    log::info!(
        "starting {}{} ({}) after {} µs of checks",
        target,
        t.version.map(|v| format!(", systemd {v}")).unwrap_or_default(),
        match t.patched {
            Some(true) => "patched",
            Some(false) => "stock",
            None => "unknown build",
        },
        started.elapsed().as_micros()
    );
    match crate::exec::exec(&target, argv, env, signals) {
        Ok(never) => match never {},
        Err(e) => Err(e.into()),
    }
}
