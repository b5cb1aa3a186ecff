//! Relay mode: stock systemd as PID 1 of a nested PID namespace, with the init relaying signals to it.
//!
//! ## Three ways to start systemd
//!
//! | mode | when | what the runtime must give | `docker stop` / `docker kill -s TERM` / Kubernetes |
//! |---|---|---|---|
//! | **patched exec** | systemd carries the nixos2docker patches | `--tmpfs /run --tmpfs /run/lock --tmpfs /tmp` (or the image's volumes); Docker's default caps, seccomp and read-only cgroup fs | SIGTERM stops it (the patches) |
//! | **stock exec** | stock systemd and no CAP_SYS_ADMIN, or `--relay=never` | the same, plus a **writable** cgroup fs (`--cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw`, insecure; or podman `--systemd=always`) | only SIGRTMIN+3 (the image's StopSignal) stops it; SIGTERM makes it re-execute, so `docker stop` without the image's StopSignal and Kubernetes wait for the grace period and SIGKILL it (exit 137) |
//! | **stock relay** | stock systemd and CAP_SYS_ADMIN (default `--relay=auto`), or `--relay=always` | the stock exec needs plus CAP_SYS_ADMIN: `--privileged`, or `--cap-add SYS_ADMIN` with a writable cgroup fs (and no AppArmor/SELinux policy that forbids mounting proc) | SIGTERM is translated to SIGRTMIN+3: a clean halt, exit 0 |
//!
//! `--relay=auto|always|never` on `init` (or `"relay"` in the config file; the flag wins). `auto` relays when
//! systemd is stock (not patched, and a systemd binary) and the container has CAP_SYS_ADMIN; if creating the
//! namespace fails anyway (a seccomp or LSM policy), it warns and falls back to the stock exec. `always` relays
//! even patched systemd and fails with exit 21 when it cannot. `never` always execs.
//!
//! ## What the relay does
//! The init stays PID 1 of the container and clone()s a child into a new PID + mount namespace. The child
//! makes every mount private (nothing it mounts leaks back), mounts a fresh /proc (so systemd sees itself as
//! PID 1 and only its own processes), becomes a session leader, then follows the same PID-1 rules as the exec
//! mode (src/handover.rs: fds above stderr closed, cwd `/`, default dispositions, the original signal mask with
//! the stop signals still blocked for systemd's signalfd) and execs systemd, which is PID 1 there. The init
//! closes the fds it inherited, moves to `/`, then:
//! - takes every signal with sigwaitinfo (all blocked, no handlers) and forwards each one sent by someone else
//!   (kill(2), sigqueue(2), the terminal), translating **SIGTERM → SIGRTMIN+3** (systemd's halt). SIGINT and
//!   SIGHUP are forwarded unchanged and keep systemd's meaning, exactly as in exec mode: SIGINT (Ctrl-C under
//!   `docker run -it`, `docker kill -s INT`) starts ctrl-alt-del.target, i.e. a reboot (exit 129 below, or 0
//!   without CAP_SYS_BOOT); SIGHUP makes systemd reload its configuration. Use SIGTERM or SIGRTMIN+3 to stop.
//!   Kernel-generated signals aimed at the init itself (SIGCHLD, a SIGPIPE from its own writes) are not
//!   forwarded.
//! - holds a signal until systemd accepts it (it shows as blocked or caught in /proc/PID/status), because the
//!   kernel silently drops signals sent to a namespace's init that has no handler yet: a `docker stop` right
//!   after `docker run` is not lost. After 5 s a signal is sent regardless.
//! - reaps every child (systemd, and orphans of `docker exec` sessions, which live in the container's
//!   namespace) and exits with systemd's exit status: `systemctl exit 7` → 7; killed by signal N → 128+N.
//!   `reboot(2)` inside a child PID namespace does not reboot: the kernel kills that namespace's init with
//!   SIGINT (halt, poweroff) or SIGHUP (reboot). Halt and poweroff therefore end with **exit 0**; reboot ends
//!   with **exit 129** (128+SIGHUP, the code the stock exec gives for a reboot under `--privileged`), so a
//!   restart policy (`docker run --restart on-failure`) reboots the container with a fresh /run. Without
//!   CAP_SYS_BOOT (e.g. `--cap-add SYS_ADMIN` alone) systemd's reboot(2) fails and it exits 0 for all three.
//!
//! ## `docker exec` next to the relay
//! `docker exec` processes join the container's namespaces, not systemd's: `ps` there shows the init as PID 1
//! and systemd under it. systemd's mount namespace starts as a copy of the container's, so /run is the same
//! tmpfs: journald's files and sockets, /run/dbus and the varlink sockets are shared; `journalctl` and
//! `busctl` (over D-Bus) work. systemctl (and systemd-run, systemd-analyze) run as root only use
//! /run/systemd/private, and stock systemd refuses clients on it whose PID it cannot see ("Incoming private
//! connection from unprivileged client, refusing"; their PID is 0 in its namespace). So the relay runs a small
//! proxy inside systemd's PID namespace (`n2d-sd-proxy`, forked by systemd's PID 1 right before execve, so
//! systemd adopts and stops it) listening on /run/nixos2docker/systemd-private, and once systemd has created
//! its socket, bind-mounts the proxy's socket over /run/systemd/private in the container's mount namespace
//! only. `docker exec C systemctl …` and the image's healthcheck then work as with exec mode; systemd and its
//! services keep the real socket. Limits:
//! - the proxy forwards root clients only (systemd would take every proxied client for root), and does not
//!   carry file descriptors passed inside messages (e.g. `systemd-run --pty` from `docker exec`);
//! - PIDs differ between the views: systemctl shows systemd's numbering, `ps` in `docker exec` the container's;
//!   `nsenter -t <systemd's PID> -p -m` gives systemd's view;
//! - mounts systemd makes later (/run/user/UID, /run/credentials, …) are not visible from `docker exec`;
//! - tools that hand systemd their own PID from a `docker exec` session fail (`systemd-run --scope`,
//!   `systemd-notify`);
//! - `nixos2docker doctor` under `docker exec` sees the init, not systemd, as PID 1.

use crate::config::RelayMode;
use crate::exec::{ExecError, Execve};
use crate::handover;
use crate::runfs;
use crate::signals::{self, Blocked, Mask};
use nix::errno::Errno;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How systemd is started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// execve: systemd replaces the init. `stock_sigterm` when it is stock systemd (SIGTERM will not stop it).
    Exec { stock_sigterm: bool, why: &'static str },
    /// clone into a new PID + mount namespace and relay signals. `fallback` = may exec instead if the namespace
    /// cannot be set up (auto mode).
    Relay { fallback: bool },
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("--relay=always, but {reason}; fix: {remedy}")]
    Impossible { reason: String, remedy: String },
    #[error(
        "relay mode: cannot start systemd in a new PID namespace ({stage}: {errno}); fix: run with --privileged \
         (or --cap-add SYS_ADMIN without an AppArmor/SELinux policy that forbids mounts), or pass --relay=never"
    )]
    Setup { stage: &'static str, errno: Errno },
    #[error("cannot execute {path}: {errno}; fix: point \"target\" in the config at systemd, or install it")]
    Exec { path: String, errno: Errno },
}

impl RelayError {
    pub fn exit_code(&self) -> u8 {
        match self {
            RelayError::Impossible { .. } | RelayError::Setup { .. } => crate::exit_code::RELAY_IMPOSSIBLE,
            RelayError::Exec { errno: Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP, .. } => 127,
            RelayError::Exec { .. } => 126,
        }
    }
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

    fn describe(self) -> String {
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

/// Whether a process accepts `signal`, from its /proc/PID/status: blocked (it reads it from a signalfd, like
/// systemd) or caught (a handler). A namespace's init that does neither never receives it.
pub fn accepts(status: &str, signal: i32) -> bool {
    let mask = |field: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or(0)
    };
    let bit = 1u64 << ((signal - 1) as u32 & 63);
    (mask("SigBlk:") | mask("SigCgt:")) & bit != 0
}

/// Signals are sent after this long even when systemd does not accept them yet.
const HOLD_LIMIT: Duration = Duration::from_secs(5);
const HOLD_POLL: Duration = Duration::from_millis(10);

/// Start `target` as PID 1 of a new PID + mount namespace and relay to it until it ends. Returns the init's
/// exit code; an error before systemd runs.
/// `cgroup_root`: the container's own writable cgroup2 directory (a private cgroup namespace), if any.
pub fn run(target: &Execve, signals: &Blocked, cgroup_root: Option<&str>) -> Result<u8, RelayError> {
    if let Some(root) = cgroup_root {
        enter_init_scope(root);
    }
    let all = signals::full_set().map_err(|errno| RelayError::Setup { stage: "sigfillset", errno })?;
    let proxy = proxy_listener();
    let child = match spawn(target, signals, proxy.as_ref().map(AsRawFd::as_raw_fd)) {
        Ok(child) => child,
        Err(e) => {
            if proxy.is_some() {
                let _ =
                    proxy_dir().and_then(|dir| runfs::remove_entry(&dir, PROXY_NAME.as_ref(), PROXY_SOCKET.as_ref()));
            }
            return Err(e);
        }
    };
    let proxy_ok = proxy.is_some();
    drop(proxy); // the proxy in systemd's namespace has its own copy
    // PID 1 rules for the init itself, which stays: no fd inherited from the runtime kept open, cwd `/`.
    handover::close_fds_above_stderr(&[]);
    if let Err(e) = handover::chdir_root() {
        log::warn!("relay: {e}");
    }
    log::info!("relay: systemd is PID 1 of a new PID namespace (PID {child} here); SIGTERM → SIGRTMIN+3");
    Ok(supervise(child, proxy_ok, &all))
}

/// Move the init into ROOT/init.scope, where systemd puts itself anyway, before starting systemd: cgroup v2
/// allows enabling controllers for child cgroups only in a cgroup without processes of its own, and systemd
/// cannot move the init out of its root cgroup itself (the init's PID is not in systemd's namespace).
fn enter_init_scope(root: &str) {
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

fn spawn(target: &Execve, signals: &Blocked, proxy: Option<i32>) -> Result<Pid, RelayError> {
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
                Err(RelayError::Exec { path: target.path.clone(), errno })
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
            0 => proxy_main(listener, signals),
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

fn accepted_by(child: Pid, signal: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{child}/status")).is_ok_and(|s| accepts(&s, signal))
}

/// systemd's private socket. Stock systemd refuses connections on it from processes outside its PID namespace
/// ("Incoming private connection from unprivileged client, refusing": their PID is 0 there), and systemctl
/// run as root only ever uses this socket (no fallback to the D-Bus system bus).
pub const PRIVATE_SOCKET: &str = "/run/systemd/private";
/// The relay's stand-in for it, served from inside systemd's PID namespace (see `proxy_main`).
pub const PROXY_SOCKET: &str = "/run/nixos2docker/systemd-private";
const PROXY_BIND_POLL: Duration = Duration::from_millis(50);
const PROXY_BIND_LIMIT: Duration = Duration::from_secs(300);

const PROXY_NAME: &str = "systemd-private";

/// The directory of [`PROXY_SOCKET`], opened without following symlinks (created when missing).
fn proxy_dir() -> Result<OwnedFd, runfs::Failed> {
    let mode = nix::sys::stat::Mode::from_bits_truncate(0o755);
    runfs::open_dir(Path::new("/"), Path::new("run/nixos2docker"), Some(mode))
}

/// The listening socket of the proxy, made before the clone so the proxy inherits it; bound through the
/// directory's fd, so a symlink planted in /run does not move it.
fn proxy_listener() -> Option<std::os::unix::net::UnixListener> {
    let made = proxy_dir().and_then(|dir| {
        runfs::remove_entry(&dir, PROXY_NAME.as_ref(), PROXY_SOCKET.as_ref())?;
        std::os::unix::net::UnixListener::bind(runfs::fd_path(&dir, PROXY_NAME)).map_err(|e| runfs::Failed {
            path: PROXY_SOCKET.into(),
            errno: Errno::from_raw(e.raw_os_error().unwrap_or(0)),
        })
    });
    made.inspect_err(|f| {
        log::warn!("relay: cannot create {} ({}): systemctl in docker exec will fail", f.path.display(), f.errno)
    })
    .ok()
}

/// The proxy: a process in systemd's PID and mount namespaces (forked by its PID 1 right before execve, so
/// systemd adopts it and stops it at shutdown like any other process) that accepts root clients on
/// [`PROXY_SOCKET`] and splices each to systemd's real private socket. systemd sees the proxy's PID, which it
/// can resolve, and uid 0. Clients other than root are refused, since systemd would take them for root. File
/// descriptors passed in messages (SCM_RIGHTS) are not carried over.
fn proxy_main(listener: i32, signals: &Blocked) -> ! {
    use std::os::fd::FromRawFd;
    use std::os::unix::net::UnixListener;
    // Only the listening socket stays open (not the relay's error pipe); signals as for any other process.
    if let Err(e) = handover::apply(&[listener], signals, Mask::Original) {
        log::warn!("relay: systemctl proxy: {e}");
        // SAFETY: _exit(2) without running destructors of the copied process state.
        unsafe { libc::_exit(1) }
    }
    // SAFETY: prctl(2) with a static, NUL-terminated name.
    if unsafe { libc::prctl(libc::PR_SET_NAME, c"n2d-sd-proxy".as_ptr()) } != 0 {
        log::debug!("relay: systemctl proxy: cannot set its name: {}", Errno::last());
    }
    // SAFETY: the fd was inherited through fork and is owned by nothing else in this process.
    let listener = unsafe { UnixListener::from_raw_fd(listener) };
    for client in listener.incoming().flatten() {
        if peer_uid(&client) != Some(0) {
            continue;
        }
        // One thread per client; where none can be made (the container's pids limit, a seccomp profile that
        // denies clone3), the client is served here, one at a time, instead of aborting.
        let Ok(copy) = client.try_clone() else { continue };
        if std::thread::Builder::new().spawn(move || splice(&copy)).is_err() {
            splice(&client);
        }
    }
    // SAFETY: _exit(2).
    unsafe { libc::_exit(0) }
}

/// Connect `client` to systemd's private socket and copy both ways until both sides have closed, in this
/// thread (poll(2), no helper thread that could fail to start).
fn splice(client: &std::os::unix::net::UnixStream) {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::io::{Read, Write};
    use std::os::fd::AsFd;
    let Ok(server) = std::os::unix::net::UnixStream::connect(PRIVATE_SOCKET) else { return };
    let ends = [client, &server];
    let mut open = [true, true]; // client → server, server → client
    let mut buf = vec![0u8; 64 * 1024];
    while open[0] || open[1] {
        let mut fds: Vec<PollFd> = (0..2)
            .map(|i| PollFd::new(ends[i].as_fd(), if open[i] { PollFlags::POLLIN } else { PollFlags::empty() }))
            .collect();
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(_) => return,
        }
        let ready: Vec<bool> = fds.iter().map(|f| f.any().unwrap_or(false)).collect();
        for i in 0..2 {
            if !(open[i] && ready[i]) {
                continue;
            }
            let (mut from, mut to) = (ends[i], ends[1 - i]);
            match from.read(&mut buf) {
                Ok(0) => {
                    open[i] = false;
                    let _ = to.shutdown(std::net::Shutdown::Write);
                }
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }
}

/// SO_PEERCRED's uid of a connected unix socket.
fn peer_uid(sock: &std::os::unix::net::UnixStream) -> Option<u32> {
    let mut cred = libc::ucred { pid: 0, uid: u32::MAX, gid: u32::MAX };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt(2) writes at most `len` bytes into `cred`.
    let r = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (r == 0).then_some(cred.uid)
}

/// Points [`PRIVATE_SOCKET`] at the proxy in the container's mount namespace (where `docker exec` lands) once
/// systemd has created it, by bind-mounting [`PROXY_SOCKET`] over it there. systemd's mount namespace is
/// private, so systemd, its services and the proxy keep the real socket.
struct ProxySocketBind {
    pending: bool,
}

impl ProxySocketBind {
    fn poll(&mut self, since: Instant) {
        if !self.pending {
            return;
        }
        let Ok(target) = socket_at("run/systemd", "private") else {
            if since.elapsed() > PROXY_BIND_LIMIT {
                self.pending = false;
                log::warn!("relay: {PRIVATE_SOCKET} did not appear; systemctl in docker exec will not work");
            }
            return;
        };
        self.pending = false;
        let Ok(source) = socket_at("run/nixos2docker", PROXY_NAME) else { return };
        // Both through O_PATH fds opened without following symlinks: a symlink planted at either path cannot
        // redirect the bind mount.
        let (source, target) = (fd_link(&source), fd_link(&target));
        let bind = nix::mount::MsFlags::MS_BIND;
        match nix::mount::mount(Some(&source), &target, None::<&str>, bind, None::<&str>) {
            Ok(()) => log::info!("relay: systemctl in docker exec reaches systemd through {PROXY_SOCKET}"),
            Err(e) => log::warn!("relay: cannot bind {PROXY_SOCKET} over {PRIVATE_SOCKET}: {e}"),
        }
    }
}

/// An O_PATH fd of the socket `name` in the directory `dir` (relative to `/`), never through a symlink; ENOTSOCK
/// when it is something else.
fn socket_at(dir: &str, name: &str) -> Result<OwnedFd, Errno> {
    use nix::fcntl::OFlag;
    let dir = runfs::open_dir(Path::new("/"), Path::new(dir), None).map_err(|f| f.errno)?;
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = nix::fcntl::openat(&dir, name, flags, nix::sys::stat::Mode::empty())?;
    let st = nix::sys::stat::fstat(&fd)?;
    if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(Errno::ENOTSOCK);
    }
    Ok(fd)
}

fn fd_link(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Relay signals to `child` and reap until it ends; the init's exit code.
fn supervise(child: Pid, proxy: bool, all: &libc::sigset_t) -> u8 {
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
            if !late && !accepted_by(child, to) {
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn accepts_reads_blocked_and_caught_masks() {
        // systemd blocks what it handles (signalfd); bash catches (trap).
        let status = "Name:\tx\nSigPnd:\t0000000000000000\nSigBlk:\t0000001000000000\nSigIgn:\t0000000000001000\n\
                      SigCgt:\t0000000000004002\n";
        assert!(accepts(status, signals::SIGRTMIN_PLUS_3), "SIGRTMIN+3 is 37: bit 36");
        assert!(accepts(status, libc::SIGINT));
        assert!(accepts(status, libc::SIGTERM));
        assert!(!accepts(status, libc::SIGPIPE), "ignored is not accepted");
        assert!(!accepts(status, libc::SIGHUP));
        assert!(!accepts("", libc::SIGTERM));
    }
}
