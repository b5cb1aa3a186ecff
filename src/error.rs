//! The init's failures before exec, each with its exit code from the one table (src/exit_code.rs).

use crate::checks::Problem;
use crate::config::ConfigError;
use crate::dropins::PrepareError;
use crate::exec::ExecError;
use crate::exit_code;
use crate::facts::GatherError;
use crate::handover::HandoverError;
use crate::relay::RelayError;

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Facts(#[from] GatherError),
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
            InitError::Config(_) => exit_code::BAD_CONFIG,
            InitError::Facts(_) => exit_code::PROBE,
            InitError::Check(p) => p.exit_code(),
            InitError::Prepare(_) | InitError::Handover(_) => exit_code::PREPARE,
            InitError::Exec(e) => e.exit_code(),
            InitError::Relay(e) => e.exit_code(),
            InitError::Stopped { signal, .. } => exit_code::after_signal(*signal),
        }
    }
}
