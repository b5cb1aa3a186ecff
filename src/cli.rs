//! Command line: `nixos2docker <command>`, or `/init ARGS` through a link named `init`.

use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "nixos2docker", version, about = "Boot systemd as PID 1 in a stock, unprivileged Docker container")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the container, prepare /run and exec systemd (the image's entrypoint).
    Init {
        /// Config file (default: $NIXOS2DOCKER_CONFIG, else /etc/nixos2docker/config.json if present).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Run the checks and print what would be written and executed; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Stock systemd: run it as PID 1 of a new PID namespace and turn SIGTERM into SIGRTMIN+3 (auto: when
        /// systemd is stock and the container has CAP_SYS_ADMIN). Default: the config's "relay", else auto.
        #[arg(long, value_enum, value_name = "MODE")]
        relay: Option<crate::config::RelayMode>,
        /// Arguments for systemd (e.g. systemd.unit=rescue.target --log-level=debug).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "ARGS")]
        args: Vec<String>,
    },
    /// Explain whether systemd can boot in this container, with a fix for each problem.
    Doctor {
        /// Machine-readable report.
        #[arg(long)]
        json: bool,
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Judge a captured container (`nixos2docker capture` output) instead of this one.
        #[arg(long, value_name = "FIXTURE", hide = true)]
        snapshot: Option<PathBuf>,
    },
    /// Print what the checks read in this container as a JSON fixture (for tests and bug reports).
    Capture {
        /// Free text stored in the fixture (e.g. the docker run flags).
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Wait until systemd is PID 1 and has finished booting (`docker exec C nixos2docker wait`); exit 0 when
    /// `running`, else name the failed units with their last log lines.
    Wait {
        /// Give up after this many seconds (0: look once, e.g. in a HEALTHCHECK).
        #[arg(long, value_name = "S", default_value_t = crate::wait::DEFAULT_TIMEOUT_S,
              value_parser = parse_seconds)]
        timeout: f64,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Read a docker-archive or OCI image and say whether (and how) it will boot.
    Inspect {
        path: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

/// Words that, after `/init`, select a subcommand instead of being passed to systemd.
const SUBCOMMAND_WORDS: &[&str] = &["doctor", "capture", "inspect", "wait", "help", "--help", "-h", "--version", "-V"];

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1e9).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a number of seconds (e.g. --timeout 90, --timeout 0.5)")),
    }
}

/// Rewrite argv so that `/init ARGS` means `nixos2docker init ARGS` (or `nixos2docker doctor …` etc.).
pub fn normalize(argv: Vec<OsString>) -> Vec<OsString> {
    let invoked_as_init = argv.first().and_then(|a0| std::path::Path::new(a0).file_name()).is_some_and(|n| n == "init");
    if !invoked_as_init {
        return argv;
    }
    let mut out = vec![OsString::from("nixos2docker")];
    let rest = &argv[1..];
    let first = rest.first().and_then(|a| a.to_str());
    if !first.is_some_and(|f| SUBCOMMAND_WORDS.contains(&f)) {
        out.push("init".into());
    }
    out.extend(rest.iter().cloned());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Command {
        let argv = args.iter().map(OsString::from).collect();
        Cli::try_parse_from(normalize(argv)).unwrap().command
    }

    #[test]
    fn init_link_boots_and_passes_systemd_args() {
        match parse(&["/init", "systemd.unit=rescue.target", "--log-level=debug"]) {
            Command::Init { args, dry_run, config, .. } => {
                assert_eq!(args, vec!["systemd.unit=rescue.target", "--log-level=debug"]);
                assert!(!dry_run);
                assert!(config.is_none());
            }
            c => panic!("{c:?}"),
        }
        assert!(matches!(parse(&["/init"]), Command::Init { args, .. } if args.is_empty()));
    }

    #[test]
    fn relay_flag_before_systemd_args() {
        use crate::config::RelayMode;
        match parse(&["/init", "--relay=never", "--log-level=debug"]) {
            Command::Init { relay, args, .. } => {
                assert_eq!(relay, Some(RelayMode::Never));
                assert_eq!(args, vec!["--log-level=debug"]);
            }
            c => panic!("{c:?}"),
        }
        assert!(matches!(
            parse(&["nixos2docker", "init", "--relay", "always"]),
            Command::Init { relay: Some(RelayMode::Always), .. }
        ));
        assert!(matches!(parse(&["/init"]), Command::Init { relay: None, .. }));
        let argv = ["/init", "--relay=sometimes"].iter().map(OsString::from).collect();
        assert!(Cli::try_parse_from(normalize(argv)).is_err());
    }

    #[test]
    fn wait_timeout_and_json() {
        assert!(matches!(parse(&["nixos2docker", "wait"]), Command::Wait { timeout, json: false } if timeout == 90.0));
        assert!(
            matches!(parse(&["/init", "wait", "--timeout", "0", "--json"]), Command::Wait { timeout, json: true } if timeout == 0.0)
        );
        for bad in ["-1", "soon", "inf"] {
            let argv = ["nixos2docker", "wait", "--timeout", bad].iter().map(OsString::from).collect();
            assert!(Cli::try_parse_from(normalize(argv)).is_err(), "{bad}");
        }
    }

    #[test]
    fn init_link_runs_doctor() {
        assert!(matches!(parse(&["/init", "doctor", "--json"]), Command::Doctor { json: true, .. }));
    }

    #[test]
    fn own_flags_before_systemd_args() {
        match parse(&["nixos2docker", "init", "--config", "/c.json", "--dry-run", "--", "--unit=x"]) {
            Command::Init { args, dry_run, config, .. } => {
                assert_eq!(config.as_deref(), Some(std::path::Path::new("/c.json")));
                assert!(dry_run);
                assert_eq!(args, vec!["--unit=x"]);
            }
            c => panic!("{c:?}"),
        }
    }
}
