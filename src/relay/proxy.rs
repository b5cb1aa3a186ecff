//! The systemctl proxy: systemd's private socket made reachable from `docker exec` (see the module above).

use crate::handover;
use crate::runfs;
use crate::signals::{Blocked, Mask};
use nix::errno::Errno;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// systemd's private socket. Stock systemd refuses connections on it from processes outside its PID namespace
/// ("Incoming private connection from unprivileged client, refusing": their PID is 0 there), and systemctl
/// run as root only ever uses this socket (no fallback to the D-Bus system bus).
pub const PRIVATE_SOCKET: &str = "/run/systemd/private";
/// The relay's stand-in for it, served from inside systemd's PID namespace (see [`serve`]).
pub const PROXY_SOCKET: &str = "/run/nixos2docker/systemd-private";
pub(super) const PROXY_BIND_POLL: Duration = Duration::from_millis(50);
const PROXY_BIND_LIMIT: Duration = Duration::from_secs(300);

const PROXY_NAME: &str = "systemd-private";

/// The directory of [`PROXY_SOCKET`], opened without following symlinks (created when missing).
fn proxy_dir() -> Result<OwnedFd, runfs::Failed> {
    let mode = nix::sys::stat::Mode::from_bits_truncate(0o755);
    runfs::open_dir(Path::new("/"), Path::new("run/nixos2docker"), Some(mode))
}

/// The listening socket of the proxy, made before the clone so the proxy inherits it; bound through the
/// directory's fd, so a symlink planted in /run does not move it.
pub(super) fn listener() -> Option<std::os::unix::net::UnixListener> {
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

/// Remove the proxy's socket again (systemd could not be started).
pub(super) fn remove_listener() {
    let _ = proxy_dir().and_then(|dir| runfs::remove_entry(&dir, PROXY_NAME.as_ref(), PROXY_SOCKET.as_ref()));
}

/// The proxy: a process in systemd's PID and mount namespaces (forked by its PID 1 right before execve, so
/// systemd adopts it and stops it at shutdown like any other process) that accepts root clients on
/// [`PROXY_SOCKET`] and splices each to systemd's real private socket. systemd sees the proxy's PID, which it
/// can resolve, and uid 0. Clients other than root are refused, since systemd would take them for root. File
/// descriptors passed in messages (SCM_RIGHTS) are not carried over.
pub(super) fn serve(listener: i32, signals: &Blocked) -> ! {
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
pub(super) struct ProxySocketBind {
    pub(super) pending: bool,
}

impl ProxySocketBind {
    pub(super) fn poll(&mut self, since: Instant) {
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
