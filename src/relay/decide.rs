//! The relay's decisions, pure: exec or relay, what to send systemd for a received signal, the init's exit code
//! for the way systemd ended.

use super::RelayError;
use crate::config::RelayMode;
use crate::signals;
use nix::sys::wait::WaitStatus;

/// How systemd is started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// execve: systemd replaces the init. `stock_sigterm` when it is stock systemd (SIGTERM will not stop it).
    Exec { stock_sigterm: bool, why: &'static str },
    /// clone into a new PID + mount namespace and relay signals. `fallback` = may exec instead if the namespace
    /// cannot be set up (auto mode).
    Relay { fallback: bool },
}

/// The decision (pure): `patched` is the target's patched flag (None: not a systemd binary), `pid_ns` whether
/// the container may create a PID namespace ([`crate::facts::Facts::can_create_pid_ns`]).
pub fn decide(mode: RelayMode, patched: Option<bool>, pid_ns: bool) -> Result<Decision, RelayError> {
    let stock = patched == Some(false);
    match mode {
        RelayMode::Never => Ok(Decision::Exec { stock_sigterm: stock, why: "--relay=never" }),
        RelayMode::Always if pid_ns => Ok(Decision::Relay { fallback: false }),
        RelayMode::Always => Err(RelayError::Impossible {
            reason: "the container lacks CAP_SYS_ADMIN, which creating a PID namespace needs".into(),
            remedy: "run it with --privileged or --cap-add SYS_ADMIN, or use --relay=auto".into(),
        }),
        RelayMode::Auto if stock && pid_ns => Ok(Decision::Relay { fallback: true }),
        RelayMode::Auto if stock => Ok(Decision::Exec { stock_sigterm: true, why: "no CAP_SYS_ADMIN" }),
        RelayMode::Auto if patched == Some(true) => Ok(Decision::Exec { stock_sigterm: false, why: "patched systemd" }),
        RelayMode::Auto => Ok(Decision::Exec { stock_sigterm: false, why: "not a systemd binary" }),
    }
}

/// What the relay does with a signal it received: the signal to send to systemd, if any.
/// `code` and `sender` are siginfo's si_code and si_pid; `own_pid` is the init's.
pub fn forward_as(signal: i32, code: i32, sender: i32, own_pid: i32) -> Option<i32> {
    if signal == libc::SIGCHLD || signal == libc::SIGKILL || signal == libc::SIGSTOP {
        return None;
    }
    // Sent by a process (<= 0: SI_USER, SI_QUEUE, SI_TKILL, …) or the kernel on someone's behalf (the terminal:
    // SI_KERNEL). Positive codes are faults and child events about the init itself.
    if code > 0 && code != libc::SI_KERNEL {
        return None;
    }
    // A signal the init caused itself (SIGPIPE from a write to a closed stderr carries its own PID).
    if code == libc::SI_USER && sender == own_pid {
        return None;
    }
    Some(if signal == libc::SIGTERM { signals::SIGRTMIN_PLUS_3 } else { signal })
}

/// How systemd ended, and the init's exit code for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Exited(i32),
    /// reboot(2) with halt or poweroff inside its PID namespace (the kernel killed it with SIGINT).
    Halted,
    /// reboot(2) with restart inside its PID namespace (the kernel killed it with SIGHUP).
    Rebooted,
    Killed(i32),
}

impl Ending {
    pub fn from_status(status: WaitStatus) -> Option<Ending> {
        match status {
            WaitStatus::Exited(_, code) => Some(Ending::Exited(code)),
            WaitStatus::Signaled(_, nix::sys::signal::Signal::SIGINT, _) => Some(Ending::Halted),
            WaitStatus::Signaled(_, nix::sys::signal::Signal::SIGHUP, _) => Some(Ending::Rebooted),
            WaitStatus::Signaled(_, sig, _) => Some(Ending::Killed(sig as i32)),
            _ => None,
        }
    }

    pub fn exit_code(self) -> u8 {
        match self {
            Ending::Exited(code) => (code & 0xff) as u8,
            Ending::Halted => 0,
            Ending::Rebooted => crate::exit_code::REBOOT,
            Ending::Killed(sig) => (128 + sig).clamp(0, 255) as u8,
        }
    }

    pub(super) fn describe(self) -> String {
        match self {
            Ending::Exited(code) => format!("systemd exited with status {code}"),
            Ending::Halted => "systemd halted (its reboot(2) ended its PID namespace with SIGINT)".into(),
            Ending::Rebooted => format!(
                "systemd asked for a reboot (its reboot(2) ended its PID namespace with SIGHUP): exit {} so that a \
                 restart policy (--restart on-failure) reboots the container",
                crate::exit_code::REBOOT
            ),
            Ending::Killed(sig) => format!("systemd was killed by {}", signals::name(sig)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::unistd::Pid;

    #[test]
    fn auto_relays_only_stock_systemd_with_cap_sys_admin() {
        assert_eq!(decide(RelayMode::Auto, Some(false), true).unwrap(), Decision::Relay { fallback: true });
        assert!(matches!(
            decide(RelayMode::Auto, Some(false), false).unwrap(),
            Decision::Exec { stock_sigterm: true, .. }
        ));
        assert!(matches!(
            decide(RelayMode::Auto, Some(true), true).unwrap(),
            Decision::Exec { stock_sigterm: false, why: "patched systemd" }
        ));
        assert!(matches!(decide(RelayMode::Auto, None, true).unwrap(), Decision::Exec { stock_sigterm: false, .. }));
    }

    #[test]
    fn always_relays_or_fails_with_the_reason() {
        assert_eq!(decide(RelayMode::Always, Some(true), true).unwrap(), Decision::Relay { fallback: false });
        assert_eq!(decide(RelayMode::Always, None, true).unwrap(), Decision::Relay { fallback: false });
        let e = decide(RelayMode::Always, Some(false), false).unwrap_err();
        assert_eq!(e.exit_code(), crate::exit_code::RELAY_IMPOSSIBLE);
        assert!(e.to_string().contains("CAP_SYS_ADMIN"), "{e}");
        assert!(e.to_string().contains("--privileged"), "{e}");
    }

    #[test]
    fn never_execs() {
        assert!(matches!(
            decide(RelayMode::Never, Some(false), true).unwrap(),
            Decision::Exec { stock_sigterm: true, why: "--relay=never" }
        ));
    }

    #[test]
    fn sigterm_becomes_rtmin3_and_the_rest_is_forwarded_unchanged() {
        let rt3 = signals::SIGRTMIN_PLUS_3;
        assert_eq!(forward_as(libc::SIGTERM, libc::SI_USER, 0, 1), Some(rt3));
        assert_eq!(forward_as(rt3, libc::SI_USER, 0, 1), Some(rt3));
        assert_eq!(forward_as(libc::SIGINT, libc::SI_KERNEL, 0, 1), Some(libc::SIGINT));
        assert_eq!(forward_as(libc::SIGHUP, libc::SI_USER, 42, 1), Some(libc::SIGHUP));
        assert_eq!(forward_as(libc::SIGUSR1, libc::SI_QUEUE, 42, 1), Some(libc::SIGUSR1));
    }

    #[test]
    fn own_events_are_not_forwarded() {
        assert_eq!(forward_as(libc::SIGCHLD, libc::CLD_EXITED, 5, 1), None);
        assert_eq!(forward_as(libc::SIGCHLD, libc::SI_USER, 5, 1), None);
        assert_eq!(forward_as(libc::SIGPIPE, libc::SI_USER, 1, 1), None, "our own EPIPE");
        assert_eq!(forward_as(libc::SIGSEGV, 1 /* SEGV_MAPERR */, 0, 1), None);
    }

    #[test]
    fn endings_map_to_exit_codes() {
        use nix::sys::signal::Signal;
        let p = Pid::from_raw(7);
        let code = |s| Ending::from_status(s).unwrap().exit_code();
        assert_eq!(code(WaitStatus::Exited(p, 7)), 7);
        assert_eq!(code(WaitStatus::Exited(p, 0)), 0);
        assert_eq!(code(WaitStatus::Signaled(p, Signal::SIGINT, false)), 0, "halt/poweroff");
        assert_eq!(code(WaitStatus::Signaled(p, Signal::SIGHUP, false)), crate::exit_code::REBOOT);
        assert_eq!(code(WaitStatus::Signaled(p, Signal::SIGKILL, false)), 137);
        assert_eq!(code(WaitStatus::Signaled(p, Signal::SIGABRT, true)), 134);
        assert_eq!(Ending::from_status(WaitStatus::StillAlive), None);
    }
}
