//! Changes under /run through directory fds: nothing here follows a symlink or leaves the /run mount.
//!
//! /run may be shared with someone else (a named volume, a Kubernetes emptyDir shared with a sidecar) who can
//! swap a directory for a symlink between a check and a use. So every directory is opened component by
//! component with `openat(O_DIRECTORY|O_NOFOLLOW)`, entries are removed with `unlinkat` relative to the fd of
//! the directory that was checked, a subdirectory on another device (a mount) is left alone, and files are
//! created with `O_CREAT|O_EXCL|O_NOFOLLOW` after removing what was there — the way systemd's
//! `rm_rf_children()` (src/shared/rm-rf.c) empties a directory.

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::Mode;
use nix::unistd::{UnlinkatFlags, unlinkat};
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// A failure, with the path it concerns.
#[derive(Debug)]
pub struct Failed {
    pub path: PathBuf,
    pub errno: Errno,
}

fn at(path: &Path) -> impl Fn(Errno) -> Failed + '_ {
    move |errno| Failed { path: path.to_owned(), errno }
}

const DIR_FLAGS: OFlag =
    OFlag::O_RDONLY.union(OFlag::O_DIRECTORY).union(OFlag::O_NOFOLLOW).union(OFlag::O_CLOEXEC).union(OFlag::O_NONBLOCK);

/// Open `root` (followed: it is the caller's, e.g. `/`), then each component of `rel` without following
/// symlinks; missing components are created with `create`'s mode, or fail with ENOENT when it is None.
pub fn open_dir(root: &Path, rel: &Path, create: Option<Mode>) -> Result<OwnedFd, Failed> {
    let mut path = root.to_owned();
    let mut fd = nix::fcntl::open(root, DIR_FLAGS.difference(OFlag::O_NOFOLLOW), Mode::empty()).map_err(at(&path))?;
    for c in rel.components() {
        let Component::Normal(name) = c else { continue };
        path.push(name);
        fd = match openat(&fd, name, DIR_FLAGS, Mode::empty()) {
            Ok(next) => next,
            Err(Errno::ENOENT) if create.is_some() => {
                let mode = create.unwrap_or(Mode::empty());
                match nix::sys::stat::mkdirat(&fd, name, mode) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(at(&path)(e)),
                }
                openat(&fd, name, DIR_FLAGS, Mode::empty()).map_err(at(&path))?
            }
            Err(e) => return Err(at(&path)(e)),
        };
    }
    Ok(fd)
}

/// Remove `name` in `dir` unless it is a directory; a missing entry is fine.
pub fn remove_entry(dir: &OwnedFd, name: &OsStr, path: &Path) -> Result<(), Failed> {
    match unlinkat(dir, name, UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(at(path)(e)),
    }
}

/// Write `content` to a new file `name` in `dir` (mode 0644), replacing whatever non-directory was there;
/// never through a symlink.
pub fn write_file(dir: &OwnedFd, name: &OsStr, content: &[u8], path: &Path) -> Result<(), Failed> {
    use std::io::Write;
    remove_entry(dir, name, path)?;
    let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = openat(dir, name, flags, Mode::from_bits_truncate(0o644)).map_err(at(path))?;
    std::fs::File::from(fd).write_all(content).map_err(|e| at(path)(Errno::from_raw(e.raw_os_error().unwrap_or(0))))
}

/// Make `name` in `dir` a symlink to `target`, replacing whatever non-directory was there.
pub fn replace_symlink(dir: &OwnedFd, name: &OsStr, target: &str, path: &Path) -> Result<(), Failed> {
    remove_entry(dir, name, path)?;
    nix::unistd::symlinkat(target, dir, name).map_err(at(path))
}

/// Remove everything below the directory `dir` (whose path is `path`), leaving entries on another device than
/// `dev` and the paths in `keep` (mount points) with the directories that lead to them.
pub fn empty(dir: &OwnedFd, path: &Path, dev: u64, keep: &[PathBuf]) -> Result<(), Failed> {
    let names: Vec<OsString> = {
        let mut d = nix::dir::Dir::from_fd(nix::unistd::dup(dir).map_err(at(path))?).map_err(at(path))?;
        let mut names = Vec::new();
        for e in d.iter() {
            let e = e.map_err(at(path))?;
            let n = e.file_name().to_bytes();
            if n != b"." && n != b".." {
                names.push(OsStr::from_bytes(n).to_owned());
            }
        }
        names
    };
    for name in names {
        let p = path.join(&name);
        if keep.iter().any(|k| k == &p) {
            continue;
        }
        match openat(dir, name.as_os_str(), DIR_FLAGS, Mode::empty()) {
            Ok(sub) => {
                // A directory, not a symlink to one (O_NOFOLLOW); what it holds is removed through this fd, so
                // swapping it for a symlink now changes nothing.
                let st = nix::sys::stat::fstat(sub.as_fd()).map_err(at(&p))?;
                if st.st_dev != dev {
                    continue; // another filesystem mounted here
                }
                empty(&sub, &p, dev, keep)?;
                if !keep.iter().any(|k| k.starts_with(&p)) {
                    match unlinkat(dir, name.as_os_str(), UnlinkatFlags::RemoveDir) {
                        Ok(()) | Err(Errno::ENOENT) => {}
                        Err(e) => return Err(at(&p)(e)),
                    }
                }
            }
            // Not a directory, or a symlink (to anything): remove the entry itself.
            Err(Errno::ENOTDIR | Errno::ELOOP) => remove_entry(dir, &name, &p)?,
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(at(&p)(e)),
        }
    }
    Ok(())
}

/// `/proc/self/fd/N/NAME`: a path to `name` in the directory `dir` that the kernel resolves through the fd,
/// for calls that only take paths (bind(2) of a unix socket, mount(2)).
pub fn fd_path(dir: &OwnedFd, name: &str) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}/{name}", dir.as_raw_fd()))
}
