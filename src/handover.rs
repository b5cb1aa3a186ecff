//! The PID-1 rules before systemd runs, in one place — exec mode, the relay's child and the relay's proxy all
//! call [`apply`]: file descriptors above stderr closed, cwd `/`, every signal disposition default, the mask
//! [`Mask`] says. Each step's result is checked.
//!
//! Closing fds: close_range(2), and when that is missing (kernels before 5.9, or a seccomp profile that predates
//! it and answers ENOSYS or EPERM) the fds /proc/self/fd lists, else every fd below RLIMIT_NOFILE. A stray fd
//! is not cosmetic: the relay's error pipe left open in its proxy makes the relay wait for an EOF that never
//! comes, with every signal blocked.

use crate::signals::{Blocked, Mask};
use nix::errno::Errno;
use std::os::fd::{AsRawFd, RawFd};

#[derive(Debug, thiserror::Error)]
#[error(
    "cannot hand the process over to systemd: {step} failed ({errno}); fix: allow {step} in the container's seccomp \
     profile (--security-opt seccomp=PROFILE)"
)]
pub struct HandoverError {
    pub step: &'static str,
    pub errno: Errno,
}

/// Close the fds above stderr except `keep`, `chdir("/")`, reset every disposition and set the mask.
pub fn apply(keep: &[RawFd], signals: &Blocked, mask: Mask) -> Result<(), HandoverError> {
    close_fds_above_stderr(keep);
    chdir_root()?;
    signals.restore(mask).map_err(|errno| HandoverError { step: "rt_sigaction/sigprocmask", errno })
}

pub fn chdir_root() -> Result<(), HandoverError> {
    nix::unistd::chdir("/").map_err(|errno| HandoverError { step: "chdir", errno })
}

/// The ranges of fds to close: 3.. minus `keep`.
fn ranges(keep: &[RawFd]) -> Vec<(u32, u32)> {
    let mut keep: Vec<u32> = keep.iter().filter(|fd| **fd > 2).map(|fd| *fd as u32).collect();
    keep.sort_unstable();
    keep.dedup();
    let mut out = Vec::new();
    let mut lo = 3u32;
    for k in keep {
        if k > lo {
            out.push((lo, k - 1));
        }
        lo = k + 1;
    }
    out.push((lo, u32::MAX));
    out
}

/// Close every fd above stderr but `keep`. Never fails: each fallback is tried in turn; a close(2) of an fd
/// that is not open answers EBADF, which is what is wanted.
pub fn close_fds_above_stderr(keep: &[RawFd]) {
    let ranges = ranges(keep);
    // SAFETY: close_range(2) on fds this process owns; the callers are single-threaded.
    let all = ranges.iter().all(|(lo, hi)| unsafe { libc::syscall(libc::SYS_close_range, *lo, *hi, 0u32) } == 0);
    if all {
        return;
    }
    let close = |fd: i32| {
        if fd > 2 && !keep.contains(&fd) {
            // SAFETY: as above.
            unsafe { libc::close(fd) };
        }
    };
    match listed_fds() {
        Some(fds) => fds.into_iter().for_each(close),
        None => {
            let max = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
                .map(|(soft, _)| soft.min(1 << 20) as i32)
                .unwrap_or(1 << 16);
            (3..max).for_each(close);
        }
    }
}

/// The open fds /proc/self/fd lists (without the one used to read it), or None when it cannot be read.
fn listed_fds() -> Option<Vec<i32>> {
    use nix::fcntl::OFlag;
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let mut dir = nix::dir::Dir::open("/proc/self/fd", flags, nix::sys::stat::Mode::empty()).ok()?;
    let own = dir.as_raw_fd();
    let fds = dir
        .iter()
        .filter_map(|e| e.ok()?.file_name().to_str().ok()?.parse::<i32>().ok())
        .filter(|fd| *fd != own)
        .collect();
    Some(fds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_skip_kept_fds() {
        assert_eq!(ranges(&[]), vec![(3, u32::MAX)]);
        assert_eq!(ranges(&[2, 1]), vec![(3, u32::MAX)]);
        assert_eq!(ranges(&[3]), vec![(4, u32::MAX)]);
        assert_eq!(ranges(&[7, 5, 7]), vec![(3, 4), (6, 6), (8, u32::MAX)]);
        assert_eq!(ranges(&[5, 6]), vec![(3, 4), (7, u32::MAX)]);
    }
}
