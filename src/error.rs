//! The init's failures before exec, each with its documented exit code (README, "Exit codes").

use crate::checks::Problem;
use crate::config::ConfigError;
use crate::exec::ExecError;
use crate::handover::HandoverError;
use crate::prepare::PrepareError;
use crate::probe::ProbeError;
use crate::relay::RelayError;

pub const EXIT_USAGE: u8 = 2;
pub const EXIT_CONFIG: u8 = 17;
/// Preparing /run, or handing the process over to systemd (fds, cwd, signals), failed.
pub const EXIT_PREPARE: u8 = 18;
pub const EXIT_PROBE: u8 = 19;
/// `doctor` next to a running systemd whose state is not `running`.
pub const EXIT_NOT_RUNNING: u8 = 20;
/// Relay mode was required (`--relay=always`) but cannot start: no CAP_SYS_ADMIN, or the namespace setup failed.
pub const EXIT_RELAY: u8 = 21;
/// `wait`: the boot finished `degraded` (failed units).
pub const EXIT_WAIT_DEGRADED: u8 = 22;
/// `wait`: the boot finished in `maintenance` (rescue/emergency) or the system is `stopping`.
pub const EXIT_WAIT_NOT_UP: u8 = 23;
/// `wait`: the timeout passed before the boot finished (PID 1 not yet systemd, or still starting).
pub const EXIT_WAIT_TIMEOUT: u8 = 24;
/// Relay mode: systemd asked for a reboot (128+SIGHUP, what the kernel killed it with).
pub const EXIT_REBOOT: u8 = 129;

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Probe(#[from] ProbeError),
    #[error(transparent)]
    Check(#[from] Problem),
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error(transparent)]
    Relay(#[from] RelayError),
    #[error(transparent)]
    Handover(#[from] HandoverError),
    #[error("received {name} before systemd started: stopping without booting")]
    Stopped { signal: i32, name: String },
}

impl InitError {
    pub fn exit_code(&self) -> u8 {
        match self {
            InitError::Config(_) => EXIT_CONFIG,
            InitError::Probe(_) => EXIT_PROBE,
            InitError::Check(p) => p.exit_code(),
            InitError::Prepare(_) | InitError::Handover(_) => EXIT_PREPARE,
            InitError::Exec(e) => e.exit_code(),
            InitError::Relay(e) => e.exit_code(),
            InitError::Stopped { signal, .. } => (128 + signal).clamp(0, 255) as u8,
        }
    }
}
