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
//! - `nixos2docker doctor` under `docker exec` sees the init, not systemd, as PID 1 (it finds systemd behind it,
//!   like `wait`: [`crate::facts::locate_systemd`]).
//!
//! ## Where
//! [`decide`] holds the pure decisions (exec or relay, which signal to send, the exit code for systemd's
//! end), [`supervise`] the clone and the signal loop, [`proxy`] the systemctl proxy and its socket.

mod decide;
mod proxy;
mod supervise;

pub use decide::{Decision, Ending, decide, forward_as};
pub use proxy::{PRIVATE_SOCKET, PROXY_SOCKET};

use crate::exec::{ExecError, Execve};
use crate::handover;
use crate::signals::{self, Blocked};
use crate::sys::System;
use nix::errno::Errno;
use std::os::fd::AsRawFd;

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("--relay=always, but {reason}; fix: {remedy}")]
    Impossible { reason: String, remedy: String },
    #[error(
        "relay mode: cannot start systemd in a new PID namespace ({stage}: {errno}); fix: run with --privileged \
         (or --cap-add SYS_ADMIN without an AppArmor/SELinux policy that forbids mounts), or pass --relay=never"
    )]
    Setup { stage: &'static str, errno: Errno },
    /// execve of systemd failed in the new namespace: the same error, and exit code, as in exec mode.
    #[error(transparent)]
    Exec(ExecError),
}

impl RelayError {
    pub fn exit_code(&self) -> u8 {
        match self {
            RelayError::Impossible { .. } | RelayError::Setup { .. } => crate::exit_code::RELAY_IMPOSSIBLE,
            RelayError::Exec(e) => e.exit_code(),
        }
    }
}

/// Start `target` as PID 1 of a new PID + mount namespace and relay to it until it ends. Returns the init's
/// exit code; an error before systemd runs.
/// `cgroup_root`: the container's own writable cgroup2 directory (a private cgroup namespace), if any.
/// `sys`: where the supervisor reads whether systemd accepts a signal yet.
pub fn run(sys: &dyn System, target: &Execve, signals: &Blocked, cgroup_root: Option<&str>) -> Result<u8, RelayError> {
    if let Some(root) = cgroup_root {
        supervise::enter_init_scope(root);
    }
    let all = signals::full_set().map_err(|errno| RelayError::Setup { stage: "sigfillset", errno })?;
    let proxy = proxy::listener();
    let child = match supervise::spawn(target, signals, proxy.as_ref().map(AsRawFd::as_raw_fd)) {
        Ok(child) => child,
        Err(e) => {
            if proxy.is_some() {
                proxy::remove_listener();
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
    Ok(supervise::supervise(sys, child, proxy_ok, &all))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_failures_read_and_exit_as_in_exec_mode() {
        for (errno, code) in
            [(Errno::ENOENT, crate::exit_code::EXEC_NOT_FOUND), (Errno::EACCES, crate::exit_code::EXEC_NOT_EXECUTABLE)]
        {
            let exec = || ExecError::Exec { path: "/sbin/init".into(), errno };
            let relayed = RelayError::Exec(exec());
            assert_eq!(relayed.exit_code(), code);
            assert_eq!(relayed.exit_code(), exec().exit_code());
            assert_eq!(relayed.to_string(), exec().to_string());
        }
    }
}
