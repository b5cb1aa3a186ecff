//! Stop signals during the preamble.
//!
//! The init blocks the signals that mean "stop" as its first act. They stay pending (a blocked signal is
//! queued even for PID 1, whose default-disposition signals the kernel would otherwise drop), and the init
//! looks for them at each step: a stop request before exec ends the preamble with 128+signal and systemd never
//! starts. Right before execve the original mask and default dispositions are restored, so systemd starts
//! exactly as if the runtime had started it.
//!
//! Raw libc here: nix's `SigSet` cannot name real-time signals, and SIGRTMIN+3 is systemd's (and the image's)
//! stop signal.

use std::mem::MaybeUninit;

/// The stop signals: SIGTERM (docker stop without StopSignal, Kubernetes), SIGINT (Ctrl-C with -it), SIGHUP,
/// SIGQUIT, and SIGRTMIN+3 (the image's StopSignal).
pub fn stop_signals() -> Vec<i32> {
    vec![libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT, libc::SIGRTMIN() + 3]
}

pub fn name(sig: i32) -> String {
    if sig >= libc::SIGRTMIN() && sig <= libc::SIGRTMAX() {
        return format!("SIGRTMIN+{}", sig - libc::SIGRTMIN());
    }
    nix::sys::signal::Signal::try_from(sig).map(|s| s.as_str().to_owned()).unwrap_or_else(|_| format!("signal {sig}"))
}

fn empty_set() -> libc::sigset_t {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set it is given.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        set.assume_init()
    }
}

/// The blocked state; holds the mask the process started with.
pub struct Guard {
    original: libc::sigset_t,
}

/// Block the stop signals; remember the original mask.
pub fn block() -> Guard {
    let mut set = empty_set();
    let mut original = empty_set();
    // SAFETY: both sets are initialised; sigprocmask only reads `set` and writes `original`.
    unsafe {
        for s in stop_signals() {
            libc::sigaddset(&mut set, s);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, &mut original);
    }
    Guard { original }
}

impl Guard {
    /// A stop signal that is pending (it stays pending), if any.
    pub fn pending_stop(&self) -> Option<i32> {
        let mut pending = empty_set();
        // SAFETY: `pending` is initialised; sigpending writes to it.
        unsafe { libc::sigpending(&mut pending) };
        // SAFETY: `pending` is initialised.
        stop_signals().into_iter().find(|s| unsafe { libc::sigismember(&pending, *s) } == 1)
    }

    /// Put signals back the way a freshly started process has them: every disposition default, the original
    /// mask. Called right before execve (dispositions set to "ignore" by our parent are reset too); by reference,
    /// because the relay's child (a copy of this process) execs systemd while the original keeps relaying.
    pub fn reset_for_exec(&self) {
        // The kernel's struct sigaction (x86_64 and arm64 alike); glibc's sigaction() refuses the two
        // real-time signals it reserves (32, 33), which a parent may still have set to "ignore".
        #[repr(C)]
        struct KernelSigaction {
            handler: usize,
            flags: libc::c_ulong,
            restorer: usize,
            mask: u64,
        }
        let dfl = KernelSigaction { handler: libc::SIG_DFL, flags: 0, restorer: 0, mask: 0 };
        for sig in 1..=libc::SIGRTMAX() {
            if sig == libc::SIGKILL || sig == libc::SIGSTOP {
                continue;
            }
            // SAFETY: rt_sigaction with a valid struct and SIG_DFL; no handler code is involved.
            unsafe {
                libc::syscall(libc::SYS_rt_sigaction, sig, &dfl, std::ptr::null_mut::<KernelSigaction>(), 8usize)
            };
        }
        self.reset_mask();
    }

    /// Restore the original mask (for subcommands that do not exec).
    pub fn release(self) {
        self.reset_mask();
    }

    fn reset_mask(&self) {
        // SAFETY: `original` was filled by sigprocmask.
        unsafe { libc::sigprocmask(libc::SIG_SETMASK, &self.original, std::ptr::null_mut()) };
    }

    /// Block every signal (the relay takes them all with sigwaitinfo); the original mask is kept for the child.
    pub fn block_all(&self) {
        let mut all = empty_set();
        // SAFETY: `all` is initialised; sigfillset fills it, sigprocmask only reads it.
        unsafe {
            libc::sigfillset(&mut all);
            libc::sigprocmask(libc::SIG_SETMASK, &all, std::ptr::null_mut());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(name(libc::SIGTERM), "SIGTERM");
        assert_eq!(name(libc::SIGRTMIN() + 3), "SIGRTMIN+3");
    }
}
