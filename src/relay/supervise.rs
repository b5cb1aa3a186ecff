//! The relay's system calls: clone systemd into a new PID + mount namespace, then relay signals to it and
//! reap until it ends.

use super::RelayError;
use super::decide::{Ending, forward_as};
use super::proxy::{self, PROXY_BIND_POLL, ProxySocketBind};
use crate::exec::{ExecError, Execve};
use crate::parse::status;
use crate::signals::{self, Blocked};
use crate::sys::System;
use nix::errno::Errno;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// Signals are sent after this long even when systemd does not accept them yet.
const HOLD_LIMIT: Duration = Duration::from_secs(5);
const HOLD_POLL: Duration = Duration::from_millis(10);

/// Move the init into ROOT/init.scope, where systemd puts itself anyway, before starting systemd: cgroup v2
/// allows enabling controllers for child cgroups only in a cgroup without processes of its own, and systemd
/// cannot move the init out of its root cgroup itself (the init's PID is not in systemd's namespace).
pub(super) fn enter_init_scope(root: &str) {
    let scope = format!("{root}/init.scope");
    let moved = std::fs::create_dir(&scope)
        .or_else(|e| if e.kind() == std::io::ErrorKind::AlreadyExists { Ok(()) } else { Err(e) })
        .and_then(|()| std::fs::write(format!("{scope}/cgroup.procs"), "0"));
    match moved {
        Ok(()) => log::debug!("relay: moved to {scope}, so that systemd can enable controllers below {root}"),
        Err(e) => log::warn!("relay: cannot move to {scope} ({e}): systemd may not enable cgroup controllers"),
    }
}

// Stages the child reports through the error pipe.
const STAGE_PRIVATE: u8 = 1;
const STAGE_PROC: u8 = 2;
const STAGE_EXEC: u8 = 3;
const STAGE_SETSID: u8 = 4;
const STAGE_HANDOVER: u8 = 5;

fn stage_name(stage: u8) -> &'static str {
    match stage {
        STAGE_PRIVATE => "making mounts private",
        STAGE_PROC => "mounting /proc",
        STAGE_EXEC => "execve",
        STAGE_SETSID => "setsid",
        STAGE_HANDOVER => "closing fds, chdir, resetting signals",
        _ => "clone",
    }
}

pub(super) fn spawn(target: &Execve, signals: &Blocked, proxy: Option<i32>) -> Result<Pid, RelayError> {
    use nix::sched::CloneFlags;
    let (rd, wr) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|errno| RelayError::Setup { stage: "pipe", errno })?;
    // From here on every signal waits for sigwaitinfo (the child restores the original mask before execve). If
    // the child cannot start, they stay blocked: the exec fallback restores the mask right before its execve.
    signals.block_all().map_err(|errno| RelayError::Setup { stage: "sigprocmask", errno })?;
    let wr_fd = wr.as_raw_fd();
    let mut stack = vec![0u8; 256 * 1024];
    let cb = Box::new(|| child(target, signals, wr_fd, proxy));
    // SAFETY: the child runs on its own stack in a copy of this single-threaded process (no CLONE_VM) and
    // either execs or _exits.
    let pid = unsafe {
        nix::sched::clone(cb, &mut stack, CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS, Some(libc::SIGCHLD))
    };
    drop(wr);
    let pid = match pid {
        Ok(pid) => pid,
        Err(errno) => return Err(RelayError::Setup { stage: "clone", errno }),
    };
    match read_report(&rd) {
        None => Ok(pid),
        Some((stage, errno)) => {
            let _ = waitpid(pid, None);
            if stage == STAGE_EXEC {
                Err(RelayError::Exec(ExecError::Exec { path: target.path.clone(), errno }))
            } else {
                Err(RelayError::Setup { stage: stage_name(stage), errno })
            }
        }
    }
}

/// The child's report: nothing (EOF: execve succeeded and closed the pipe) or (stage, errno).
fn read_report(rd: &OwnedFd) -> Option<(u8, Errno)> {
    let mut buf = [0u8; 5];
    let mut got = 0;
    while got < buf.len() {
        match nix::unistd::read(rd, &mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(Errno::EINTR) => continue,
            Err(_) => break,
        }
    }
    (got == buf.len()).then(|| (buf[0], Errno::from_raw(i32::from_le_bytes([buf[1], buf[2], buf[3], buf[4]]))))
}

/// PID 1 of the new namespaces. System calls only; never returns.
fn child(target: &Execve, signals: &Blocked, report: i32, proxy: Option<i32>) -> isize {
    use nix::mount::{MsFlags, mount};
    let fail = |stage: u8, errno: Errno| -> isize {
        let mut msg = [stage, 0, 0, 0, 0];
        msg[1..].copy_from_slice(&(errno as i32).to_le_bytes());
        // SAFETY: write(2) of a local buffer to our pipe, then _exit(2) without running any destructor.
        unsafe {
            libc::write(report, msg.as_ptr().cast(), msg.len());
            libc::_exit(1)
        }
    };
    if let Err(e) = mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>) {
        return fail(STAGE_PRIVATE, e);
    }
    let proc_flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    if let Err(e) = mount(Some("proc"), "/proc", Some("proc"), proc_flags, None::<&str>) {
        return fail(STAGE_PROC, e);
    }
    if let Err(e) = nix::unistd::setsid() {
        return fail(STAGE_SETSID, e);
    }
    if let Some(listener) = proxy {
        // SAFETY: fork(2) in this single-threaded process; the child only runs proxy_main and never returns.
        match unsafe { libc::fork() } {
            0 => proxy::serve(listener, signals),
            -1 => log::warn!(
                "relay: cannot start the systemctl proxy ({}): systemctl in docker exec will fail",
                Errno::last()
            ),
            _ => {}
        }
    }
    match target.exec(&[report], signals) {
        ExecError::Handover(e) => fail(STAGE_HANDOVER, e.errno),
        ExecError::Exec { errno, .. } => fail(STAGE_EXEC, errno),
        ExecError::Nul { .. } => fail(STAGE_EXEC, Errno::EINVAL),
    }
}

/// Wait for the next signal of `all` (all are blocked), at most `timeout`. (signal, si_code, si_pid).
fn next_signal(all: &libc::sigset_t, timeout: Option<Duration>) -> Option<(i32, i32, i32)> {
    let mut info = std::mem::MaybeUninit::<libc::siginfo_t>::zeroed();
    // SAFETY: `all` is initialised; sigwaitinfo/sigtimedwait write `info` when they return a signal.
    unsafe {
        let sig = match timeout {
            None => libc::sigwaitinfo(all, info.as_mut_ptr()),
            Some(t) => {
                let ts = libc::timespec { tv_sec: t.as_secs() as libc::time_t, tv_nsec: t.subsec_nanos() as _ };
                libc::sigtimedwait(all, info.as_mut_ptr(), &ts)
            }
        };
        if sig <= 0 {
            return None;
        }
        let info = info.assume_init();
        Some((sig, info.si_code, info.si_pid()))
    }
}

fn accepted_by(sys: &dyn System, child: Pid, signal: i32) -> bool {
    sys.read_text(&format!("/proc/{child}/status")).is_ok_and(|s| status::accepts_signal(&s, signal))
}

/// Relay signals to `child` and reap until it ends; the init's exit code.
pub(super) fn supervise(sys: &dyn System, child: Pid, proxy: bool, all: &libc::sigset_t) -> u8 {
    let started = Instant::now();
    let own_pid = std::process::id() as i32;
    let mut held: Vec<(i32, i32)> = Vec::new(); // (received, to send)
    let mut proxy_bind = ProxySocketBind { pending: proxy };
    loop {
        let timeout = match (held.is_empty(), proxy_bind.pending) {
            (false, _) => Some(HOLD_POLL),
            (true, true) => Some(PROXY_BIND_POLL),
            (true, false) => None,
        };
        if let Some((sig, code, sender)) = next_signal(all, timeout) {
            if let Some(to) = forward_as(sig, code, sender, own_pid) {
                held.push((sig, to));
            }
        }
        // Reap everything that ended: systemd, and orphans of `docker exec` sessions.
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(status) if status.pid() == Some(child) => {
                    if let Some(ending) = Ending::from_status(status) {
                        let code = ending.exit_code();
                        log::info!("relay: {}; exit {code}", ending.describe());
                        return code;
                    }
                }
                Ok(_) => {}
            }
        }
        let late = started.elapsed() >= HOLD_LIMIT;
        held.retain(|&(sig, to)| {
            if !late && !accepted_by(sys, child, to) {
                return true;
            }
            let arrow = if sig == to { String::new() } else { format!(" → {}", signals::name(to)) };
            log::info!("relay: {}{arrow} to systemd", signals::name(sig));
            // SAFETY: kill(2) on our own child.
            if unsafe { libc::kill(child.as_raw(), to) } != 0 {
                // ESRCH: systemd has just ended; the reaping above reports how.
                log::warn!("relay: cannot send {} to systemd: {}", signals::name(to), Errno::last());
            }
            false
        });
        proxy_bind.poll(started);
    }
}
