//! The last step: hand the process over to systemd.

use crate::signals::Guard;
use std::convert::Infallible;
use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStringExt;

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("cannot execute {path}: {errno}; fix: point \"target\" in the config at systemd, or install it")]
    Exec { path: String, errno: nix::errno::Errno },
    #[error("argument or environment for {path} contains a NUL byte; fix: remove it")]
    Nul { path: String },
}

impl ExecError {
    /// 127 when the file is not there, 126 when it is but cannot be run (the shell's convention).
    pub fn exit_code(&self) -> u8 {
        use nix::errno::Errno;
        match self {
            ExecError::Exec { errno: Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP, .. } => 127,
            _ => 126,
        }
    }
}

fn cstr(v: Vec<u8>, path: &str) -> Result<CString, ExecError> {
    CString::new(v).map_err(|_| ExecError::Nul { path: path.to_owned() })
}

/// Close every fd above stderr, so systemd inherits only stdin, stdout and stderr.
fn close_stray_fds() {
    // SAFETY: close_range(2) on fds we own; nothing else runs in this single-threaded process.
    let r = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    if r == 0 {
        return;
    }
    // Kernels before 5.9: close what /proc lists.
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map(|d| d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).filter(|fd| *fd > 2).collect())
        .unwrap_or_default();
    for fd in fds {
        // SAFETY: as above; a stale fd (the read_dir one) answers EBADF.
        unsafe { libc::close(fd) };
    }
}

/// Replace this process with `path`. Returns only on failure.
pub fn exec(
    path: &str,
    argv: Vec<String>,
    env: Vec<(OsString, OsString)>,
    signals: Guard,
) -> Result<Infallible, ExecError> {
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
    close_stray_fds();
    let _ = nix::unistd::chdir("/");
    signals.restore_for_exec();
    let errno = nix::unistd::execve(&c_path, &c_argv, &c_env).unwrap_err();
    Err(ExecError::Exec { path: path.to_owned(), errno })
}
