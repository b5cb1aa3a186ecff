//! The last step: hand the process over to systemd.

use crate::handover::{self, HandoverError};
use crate::signals::{Blocked, Mask};
use std::ffi::{CString, OsString};
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStringExt;

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("cannot execute {path}: {errno}; fix: point \"target\" in the config at systemd, or install it")]
    Exec { path: String, errno: nix::errno::Errno },
    #[error("argument or environment for {path} contains a NUL byte; fix: remove it")]
    Nul { path: String },
    #[error(transparent)]
    Handover(#[from] HandoverError),
}

impl ExecError {
    /// 127 when the file is not there, 126 when it is but cannot be run (the shell's convention).
    pub fn exit_code(&self) -> u8 {
        use nix::errno::Errno;
        match self {
            ExecError::Exec { errno: Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP, .. } => {
                crate::exit_code::EXEC_NOT_FOUND
            }
            ExecError::Handover(_) => crate::exit_code::PREPARE,
            _ => crate::exit_code::EXEC_NOT_EXECUTABLE,
        }
    }
}

fn cstr(v: Vec<u8>, path: &str) -> Result<CString, ExecError> {
    CString::new(v).map_err(|_| ExecError::Nul { path: path.to_owned() })
}

/// A command line ready for execve: built before any fork or clone, so the child only makes system calls.
pub struct Execve {
    pub path: String,
    c_path: CString,
    c_argv: Vec<CString>,
    c_env: Vec<CString>,
}

impl Execve {
    pub fn new(path: &str, argv: Vec<String>, env: Vec<(OsString, OsString)>) -> Result<Execve, ExecError> {
        let c_path = cstr(path.as_bytes().to_vec(), path)?;
        let c_argv = argv.into_iter().map(|a| cstr(a.into_bytes(), path)).collect::<Result<Vec<_>, _>>()?;
        let c_env = env
            .into_iter()
            .map(|(k, v)| {
                let mut kv = k.into_vec();
                kv.push(b'=');
                kv.extend(v.into_vec());
                cstr(kv, path)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { path: path.to_owned(), c_path, c_argv, c_env })
    }

    /// The PID-1 rules ([`handover::apply`]: fds above stderr closed but `keep`, cwd `/`, default dispositions,
    /// the original mask with the stop signals still blocked for systemd), then execve. Returns only on failure.
    pub fn exec(&self, keep: &[RawFd], signals: &Blocked) -> ExecError {
        if let Err(e) = handover::apply(keep, signals, Mask::HandOver) {
            return e.into();
        }
        let Err(errno) = nix::unistd::execve(&self.c_path, &self.c_argv, &self.c_env);
        ExecError::Exec { path: self.path.clone(), errno }
    }
}
