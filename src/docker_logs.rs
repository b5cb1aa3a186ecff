//! What `docker logs` shows (the profile's `dockerLogs`, overridden by `NIXOS2DOCKER_DOCKER_LOGS`), and the
//! journald and manager settings the init writes under /run for it.
//!
//! `docker logs` is PID 1's stdout and stderr. journald copies journal entries to a terminal with its console
//! forwarding (`ForwardToConsole=`, systemd's `src/journal/journald-console.c`), writing to `TTYPath=`.
//! journald cannot open `/proc/1/fd/2` itself: opening another process's fd link needs ptrace access, and
//! journald's capabilities (its unit's `CapabilityBoundingSet=` within Docker's default set) are not a superset
//! of PID 1's (EACCES). So its unit gets `StandardOutput=file:/proc/1/fd/2`, which PID 1's executor opens
//! before it drops capabilities, and `TTYPath=/proc/self/fd/1` is journald's own fd 1 (always allowed).
//! (`StandardOutput=tty` would need the patched executor: stock systemd fails such a unit with 209/STDOUT when
//! there is no /dev/console, and the same files are written for stock systemd.) Upstream journald forwards
//! only to a terminal (`open_terminal()` rejects a pipe with ENOTTY); the patched journald accepts the
//! container's log pipe. PID 1 logs to the journal (`LogTarget=journal`; patched systemd falls back to stderr
//! while journald is not running) so that its lines reach `docker logs` once. Status lines (`ShowStatus=`,
//! the profile keeps them on) are no repetition: patched PID 1 writes one to the container log only while its
//! log lines do not reach it (before journald runs, after it stops).
//!
//! With a terminal (`docker run -t`) /dev/console exists and journald forwards to it by default (TTYPath= is
//! left alone, no unit drop-in): that works with stock systemd too, whose PID 1 and services get /dev/null as
//! stdio.
//!
//! | mode | journald.conf drop-in | systemd-journald.service drop-in | manager settings |
//! |---|---|---|---|
//! | `all` | `ForwardToConsole=yes`, `TTYPath=/proc/self/fd/1`, `MaxLevelConsole=info` | `StandardOutput=file:/proc/1/fd/2` | `LogTarget=journal` |
//! | `pid1` | none | none | `LogTarget=console` |
//! | `off` | none | none | `LogTarget=journal` |

use serde::{Deserialize, Serialize};

pub const ENV: &str = "NIXOS2DOCKER_DOCKER_LOGS";
pub const JOURNALD_DIR: &str = "/run/systemd/journald.conf.d";
/// The unit whose stdout becomes the container log in mode `all`.
pub const JOURNALD_UNIT: &str = "systemd-journald.service";

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DockerLogs {
    /// Every journal entry (services and PID 1), through journald's console forwarding.
    #[default]
    All,
    /// PID 1's messages only (and the init's).
    Pid1,
    /// The init's lines, and PID 1's until journald runs.
    Off,
}

#[derive(Debug, thiserror::Error)]
#[error("{ENV}={value:?} is not a docker logs mode (all, pid1, off); fix: -e {ENV}=all")]
pub struct ModeError {
    pub value: String,
}

impl DockerLogs {
    pub fn name(self) -> &'static str {
        match self {
            DockerLogs::All => "all",
            DockerLogs::Pid1 => "pid1",
            DockerLogs::Off => "off",
        }
    }

    /// The profile's mode, unless the environment variable names another (an empty value does not count).
    pub fn with_env(self, env: Option<&str>) -> Result<DockerLogs, ModeError> {
        match env.map(str::trim) {
            None | Some("") => Ok(self),
            Some("all") => Ok(DockerLogs::All),
            Some("pid1") => Ok(DockerLogs::Pid1),
            Some("off") => Ok(DockerLogs::Off),
            Some(other) => Err(ModeError { value: other.to_owned() }),
        }
    }

    /// `[Manager]` settings this mode needs (they win over the profile's `manager.settings`).
    pub fn manager_settings(self) -> &'static [(&'static str, &'static str)] {
        match self {
            DockerLogs::Pid1 => &[("LogTarget", "console")],
            DockerLogs::All | DockerLogs::Off => &[("LogTarget", "journal")],
        }
    }

    /// `[Journal]` settings for journald's drop-in; empty when journald should not forward. `console`:
    /// /dev/console exists (`docker run -t`), journald writes there by default, also upstream's.
    pub fn journald_settings(self, console: bool) -> &'static [(&'static str, &'static str)] {
        match (self, console) {
            (DockerLogs::All, false) => {
                &[("ForwardToConsole", "yes"), ("TTYPath", "/proc/self/fd/1"), ("MaxLevelConsole", "info")]
            }
            (DockerLogs::All, true) => &[("ForwardToConsole", "yes"), ("MaxLevelConsole", "info")],
            (DockerLogs::Pid1 | DockerLogs::Off, _) => &[],
        }
    }

    /// `[Service]` settings for systemd-journald.service; empty when journald should not forward, or forwards
    /// to /dev/console.
    pub fn journald_unit_settings(self, console: bool) -> &'static [(&'static str, &'static str)] {
        match (self, console) {
            (DockerLogs::All, false) => &[("StandardOutput", "file:/proc/1/fd/2")],
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_and_rejects_unknown_modes() {
        assert_eq!(DockerLogs::All.with_env(None).unwrap(), DockerLogs::All);
        assert_eq!(DockerLogs::Off.with_env(Some("")).unwrap(), DockerLogs::Off);
        assert_eq!(DockerLogs::All.with_env(Some("pid1")).unwrap(), DockerLogs::Pid1);
        assert_eq!(DockerLogs::Pid1.with_env(Some("off")).unwrap(), DockerLogs::Off);
        assert_eq!(DockerLogs::Off.with_env(Some("all")).unwrap(), DockerLogs::All);
        let e = DockerLogs::All.with_env(Some("verbose")).unwrap_err().to_string();
        assert_eq!(
            e,
            "NIXOS2DOCKER_DOCKER_LOGS=\"verbose\" is not a docker logs mode (all, pid1, off); \
             fix: -e NIXOS2DOCKER_DOCKER_LOGS=all"
        );
    }

    #[test]
    fn only_all_forwards_and_no_mode_touches_status_lines() {
        for m in [DockerLogs::All, DockerLogs::Pid1, DockerLogs::Off] {
            assert!(!m.manager_settings().iter().any(|(k, _)| *k == "ShowStatus"), "{m:?}");
            for tty in [false, true] {
                assert_eq!(m.journald_settings(tty).is_empty(), m != DockerLogs::All, "{m:?}");
                assert_eq!(m.journald_unit_settings(tty).is_empty(), m != DockerLogs::All || tty, "{m:?}");
            }
            assert_eq!(m.manager_settings().contains(&("LogTarget", "console")), m == DockerLogs::Pid1, "{m:?}");
        }
        assert!(DockerLogs::All.journald_settings(false).contains(&("TTYPath", "/proc/self/fd/1")));
        assert!(!DockerLogs::All.journald_settings(true).iter().any(|(k, _)| *k == "TTYPath"));
        assert!(DockerLogs::All.manager_settings().contains(&("LogTarget", "journal")));
        assert!(DockerLogs::Off.manager_settings().contains(&("LogTarget", "journal")));
        assert!(DockerLogs::All.journald_unit_settings(false).contains(&("StandardOutput", "file:/proc/1/fd/2")));
    }

    #[test]
    fn names_round_trip_through_json() {
        for m in [DockerLogs::All, DockerLogs::Pid1, DockerLogs::Off] {
            let j = serde_json::to_string(&m).unwrap();
            assert_eq!(j, format!("\"{}\"", m.name()));
            assert_eq!(serde_json::from_str::<DockerLogs>(&j).unwrap(), m);
        }
        assert!(serde_json::from_str::<DockerLogs>("\"All\"").is_err());
    }
}
