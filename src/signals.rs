//! Stop signals during the preamble, and the signal state systemd inherits.
//!
//! The init blocks the signals that mean "stop" as its first act. They stay pending (a blocked signal is
//! queued even for PID 1, whose default-disposition signals the kernel would otherwise drop), and the init
//! looks for them at each step: a stop request before exec ends the preamble with 128+signal and systemd never
//! starts. Right before execve every disposition is reset to default and the original mask restored — except
//! that the stop signals systemd reads from its signalfd stay blocked ([`handed_over`]): one that arrives
//! between the init's last look and systemd's own signal setup then stays pending across execve, and systemd
//! receives it (its `manager_setup_signals()` blocks the same signals with SIG_SETMASK and reads the pending
//! ones from a signalfd; nothing in its `main()` unblocks them before that). Unblocked, the kernel would drop
//! it (PID 1, default disposition) and the container would keep running.
//!
//! Raw libc here: nix's `SigSet` cannot name real-time signals, and SIGRTMIN+3 is systemd's (and the image's)
//! stop signal.

use nix::errno::Errno;
use std::mem::MaybeUninit;

/// glibc's SIGRTMIN: the kernel's first real-time signal (32) plus the two glibc keeps for its threads. systemd
/// (built with glibc), Docker (`--stop-signal SIGRTMIN+3`) and the image's StopSignal all count from here;
/// `libc::SIGRTMIN()` is the C library's own view, 35 under musl, which would make SIGRTMIN+3 38.
pub const SIGRTMIN: i32 = 34;
/// systemd's halt signal: 37.
pub const SIGRTMIN_PLUS_3: i32 = SIGRTMIN + 3;
/// The highest signal number the kernel knows (x86_64, arm64).
pub const SIGNAL_MAX: i32 = 64;

/// The stop signals: SIGTERM (docker stop without StopSignal, Kubernetes), SIGINT (Ctrl-C with -it), SIGHUP,
/// SIGQUIT, and SIGRTMIN+3 (the image's StopSignal).
pub const STOP_SIGNALS: [i32; 5] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT, SIGRTMIN_PLUS_3];

/// The stop signals that stay blocked across execve: those systemd blocks and reads from its signalfd. Not
/// SIGQUIT: systemd installs a crash handler for it and does not block it.
pub fn handed_over() -> impl Iterator<Item = i32> {
    STOP_SIGNALS.into_iter().filter(|s| *s != libc::SIGQUIT)
}

pub fn name(sig: i32) -> String {
    if (SIGRTMIN..=SIGNAL_MAX).contains(&sig) {
        return format!("SIGRTMIN+{}", sig - SIGRTMIN);
    }
    nix::sys::signal::Signal::try_from(sig).map(|s| s.as_str().to_owned()).unwrap_or_else(|_| format!("signal {sig}"))
}

/// A signal set; `fill` = every signal, else none.
fn set_of(fill: bool, signals: impl IntoIterator<Item = i32>) -> Result<libc::sigset_t, Errno> {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset/sigfillset initialise the set they are given; sigaddset then only modifies it.
    unsafe {
        Errno::result(if fill { libc::sigfillset(set.as_mut_ptr()) } else { libc::sigemptyset(set.as_mut_ptr()) })?;
        let mut set = set.assume_init();
        for s in signals {
            Errno::result(libc::sigaddset(&mut set, s))?;
        }
        Ok(set)
    }
}

/// Every signal (for sigwaitinfo).
pub fn full_set() -> Result<libc::sigset_t, Errno> {
    set_of(true, [])
}

fn set_mask(how: libc::c_int, set: &libc::sigset_t, old: Option<&mut libc::sigset_t>) -> Result<(), Errno> {
    let old = old.map_or(std::ptr::null_mut(), |o| o as *mut libc::sigset_t);
    // SAFETY: `set` is initialised; `old` is null or points at a sigset_t sigprocmask may write.
    Errno::result(unsafe { libc::sigprocmask(how, set, old) }).map(drop)
}

/// What the mask is after [`Blocked::restore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mask {
    /// The mask the process started with (the relay's proxy, subcommands that do not exec).
    Original,
    /// The original mask plus [`handed_over`]: right before execve of systemd.
    HandOver,
}

/// The blocked state; holds the mask the process started with.
pub struct Blocked {
    original: libc::sigset_t,
}

/// Block the stop signals; remember the original mask.
pub fn block() -> Result<Blocked, Errno> {
    let set = set_of(false, STOP_SIGNALS)?;
    let mut original = set_of(false, [])?;
    set_mask(libc::SIG_BLOCK, &set, Some(&mut original))?;
    Ok(Blocked { original })
}

impl Blocked {
    /// A stop signal that is pending (it stays pending), if any.
    pub fn pending_stop(&self) -> Result<Option<i32>, Errno> {
        let mut pending = set_of(false, [])?;
        // SAFETY: `pending` is initialised; sigpending writes to it.
        Errno::result(unsafe { libc::sigpending(&mut pending) })?;
        // SAFETY: `pending` is initialised.
        Ok(STOP_SIGNALS.into_iter().find(|s| unsafe { libc::sigismember(&pending, *s) } == 1))
    }

    /// Put signals back the way a freshly started process has them: every disposition default (ones our parent
    /// set to "ignore" too), and the mask `mask` says. By reference, because the relay's child (a copy of this
    /// process) execs systemd while the original keeps relaying.
    pub fn restore(&self, mask: Mask) -> Result<(), Errno> {
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
        for sig in (1..=SIGNAL_MAX).filter(|s| *s != libc::SIGKILL && *s != libc::SIGSTOP) {
            // SAFETY: rt_sigaction with a valid struct and SIG_DFL; no handler code is involved.
            let r = unsafe {
                libc::syscall(libc::SYS_rt_sigaction, sig, &dfl, std::ptr::null_mut::<KernelSigaction>(), 8usize)
            };
            Errno::result(r)?;
        }
        // One SIG_SETMASK: setting the original mask first and blocking the stop signals again after would
        // unblock them for a moment, and the kernel would drop one that is pending (PID 1, default disposition).
        let mut target = self.original;
        if mask == Mask::HandOver {
            for s in handed_over() {
                // SAFETY: `target` is an initialised copy of the original mask.
                Errno::result(unsafe { libc::sigaddset(&mut target, s) })?;
            }
        }
        set_mask(libc::SIG_SETMASK, &target, None)
    }

    /// Restore the original mask (for subcommands that do not exec).
    pub fn release(self) -> Result<(), Errno> {
        set_mask(libc::SIG_SETMASK, &self.original, None)
    }

    /// Block every signal (the relay takes them all with sigwaitinfo); the original mask is kept for the child.
    pub fn block_all(&self) -> Result<(), Errno> {
        set_mask(libc::SIG_SETMASK, &set_of(true, [])?, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(name(libc::SIGTERM), "SIGTERM");
        assert_eq!(name(SIGRTMIN_PLUS_3), "SIGRTMIN+3");
        assert_eq!(name(33), "signal 33");
    }

    #[test]
    fn sigrtmin_plus_3_is_systemds_and_dockers_37() {
        // Docker's signal table (moby pkg/signal) and glibc systemd both mean 37; a musl build of this crate
        // must not make it 38.
        assert_eq!(SIGRTMIN_PLUS_3, 37);
        assert!(STOP_SIGNALS.contains(&37));
    }

    #[test]
    fn sigquit_is_not_handed_over() {
        let h: Vec<i32> = handed_over().collect();
        assert_eq!(h, vec![libc::SIGTERM, libc::SIGINT, libc::SIGHUP, 37]);
    }
}
