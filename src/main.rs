//! nixos2docker: a PID-1 preamble that makes systemd boot in stock, unprivileged Docker containers.

use clap::Parser;
use nixos2docker::cli::{self, Cli, Command};
use nixos2docker::{doctor, exit_code, init, inspect, logging, signals, sys, wait};

fn main() {
    let started = std::time::Instant::now();
    // PID 1 rule: stop signals are blocked before anything else happens.
    let blocked = signals::block();
    logging::init();
    let signals = match blocked {
        Ok(guard) => guard,
        Err(errno) => {
            log::error!("{}", nixos2docker::handover::HandoverError { step: "sigprocmask", errno });
            std::process::exit(exit_code::PREPARE.into());
        }
    };
    let cli = match Cli::try_parse_from(cli::normalize(std::env::args_os().collect())) {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            std::process::exit(0);
        }
        Err(e) => {
            log::error!("{}", e.to_string().trim_start_matches("error: ").trim_end());
            std::process::exit(exit_code::USAGE.into());
        }
    };
    let code = match cli.command {
        Command::Init { config, dry_run, relay, args } => {
            init::run(init::Options { config, dry_run, relay, args }, signals, started)
        }
        Command::Doctor { json, config, snapshot } => {
            release(signals);
            doctor::run(doctor::Options { json, config, snapshot })
        }
        Command::Capture { description } => {
            release(signals);
            let snap = sys::Snapshot::take(&sys::Live, description);
            println!("{}", serde_json::to_string_pretty(&snap).unwrap_or_default());
            0
        }
        Command::Wait { timeout, json } => {
            release(signals);
            wait::run(wait::Options { timeout: std::time::Duration::from_secs_f64(timeout), json })
        }
        Command::Inspect { path, json } => {
            release(signals);
            inspect::run(inspect::Options { path, json })
        }
    };
    std::process::exit(code.into());
}

/// Subcommands other than `init` run with the mask the process started with.
fn release(signals: signals::Blocked) {
    if let Err(errno) = signals.release() {
        log::warn!("cannot restore the signal mask: {errno}");
    }
}
