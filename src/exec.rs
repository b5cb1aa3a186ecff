//! The last step: hand the process over to systemd.

use crate::signals::Guard;
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

/// Close every fd above stderr except `keep` (the relay child's error pipe, close-on-exec), so systemd
/// inherits only stdin, stdout and stderr.
fn close_stray_fds(keep: Option<i32>) {
    let ranges: Vec<(u32, u32)> = match keep {
        Some(k) if k >= 3 => vec![(3, k as u32 - 1), (k as u32 + 1, u32::MAX)],
        _ => vec![(3, u32::MAX)],
    };
    let mut ok = true;
    for (lo, hi) in ranges.into_iter().filter(|(lo, hi)| lo <= hi) {
        // SAFETY: close_range(2) on fds we own; nothing else runs in this single-threaded process.
        ok &= unsafe { libc::syscall(libc::SYS_close_range, lo, hi, 0u32) } == 0;
    }
    if ok {
        return;
    }
    // Kernels before 5.9: close what /proc lists.
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map(|d| d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).filter(|fd| *fd > 2).collect())
        .unwrap_or_default();
    for fd in fds.into_iter().filter(|fd| Some(*fd) != keep) {
        // SAFETY: as above; a stale fd (the read_dir one) answers EBADF.
        unsafe { libc::close(fd) };
    }
}

/// A command line ready for execve: built before any fork or clone, so the child only makes system calls.
pub struct Prepared {
    pub path: String,
    c_path: CString,
    c_argv: Vec<CString>,
    c_env: Vec<CString>,
}

pub fn prepare(path: &str, argv: Vec<String>, env: Vec<(OsString, OsString)>) -> Result<Prepared, ExecError> {
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
    Ok(Prepared { path: path.to_owned(), c_path, c_argv, c_env })
}

impl Prepared {
    /// The PID-1 rules, then execve: fds above stderr closed (but `keep`), cwd `/`, default dispositions and
    /// the original signal mask. Returns only on failure, with the errno.
    pub fn exec(&self, keep: Option<i32>, signals: &Guard) -> nix::errno::Errno {
        close_stray_fds(keep);
        let _ = nix::unistd::chdir("/");
        signals.reset_for_exec();
        nix::unistd::execve(&self.c_path, &self.c_argv, &self.c_env).unwrap_err()
    }
}
