//! The seam between the code and the machine: every system fact `init`, `doctor` and `wait` use (files under
//! /proc, paths, the processes, what systemctl and journalctl answer) comes through [`System`].
//!
//! [`Live`] asks the kernel; [`Snapshot`] answers from a JSON fixture (written by `nixos2docker capture`
//! inside real containers), so the checks run in unit tests exactly as they run as PID 1.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io;

/// Files the probes read.
pub const PROBED_FILES: &[&str] = &[
    "/proc/self/mountinfo",
    "/proc/self/status",
    "/proc/self/cgroup",
    "/proc/self/uid_map",
    "/proc/1/comm",
    "/proc/1/cmdline",
];

/// Paths whose filesystem type and writability the probes look at.
pub const PROBED_PATHS: &[&str] = &[
    "/",
    "/run",
    "/run/lock",
    "/tmp",
    "/sys/fs/cgroup",
    "/sys/fs/cgroup/unified",
    "/sys/fs/cgroup/systemd",
    "/dev/console",
    // the engine's marks: podman's /run/.containerenv, Docker's /.dockerenv
    "/run/.containerenv",
    "/.dockerenv",
];

/// Where the init looks for systemd when the config names no target.
pub const DEFAULT_TARGETS: &[&str] = &["/sbin/init", "/lib/systemd/systemd", "/usr/lib/systemd/systemd"];

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathInfo {
    pub exists: bool,
    #[serde(default)]
    pub is_dir: bool,
    /// statfs(2) f_type, when the path exists.
    #[serde(default)]
    pub fs_magic: Option<u64>,
    /// access(W_OK) succeeds and the filesystem is not mounted read-only.
    #[serde(default)]
    pub writable: bool,
    /// A regular file with access(X_OK).
    #[serde(default)]
    pub executable: bool,
}

/// What a directory entry is, as lstat(2) sees it: a symlink is never followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    /// A FIFO, socket or device.
    Other,
}

/// One entry of a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub kind: EntryKind,
}

/// What a command printed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
}

pub trait System {
    fn pid(&self) -> i32;
    fn uid(&self) -> u32;
    fn read_text(&self, path: &str) -> io::Result<String>;
    /// Bytes of a (binary) file, for the systemd marker search.
    fn read_bytes(&self, path: &str) -> io::Result<Vec<u8>>;
    fn path_info(&self, path: &str) -> PathInfo;
    /// The PIDs of this PID namespace (the numeric entries of /proc), ascending.
    fn pids(&self) -> Vec<u32>;
    /// The entries of a directory, by name, each with its type (a symlink is reported as one, not followed).
    fn list_dir(&self, path: &str) -> io::Result<Vec<Entry>>;
    /// The text of a regular file of at most `limit` bytes, opened without following a symlink (O_NOFOLLOW);
    /// an error for a symlink, anything but a regular file, or a larger file.
    fn read_regular(&self, path: &str, limit: usize) -> io::Result<String>;
    /// Run `program` with `args` (stdin closed, no colours, no pager); an error when it cannot be started.
    fn run(&self, program: &str, args: &[&str]) -> io::Result<Output>;
}

/// The running machine.
pub struct Live;

impl System for Live {
    fn pid(&self) -> i32 {
        std::process::id() as i32
    }

    fn uid(&self) -> u32 {
        nix::unistd::geteuid().as_raw()
    }

    fn read_text(&self, path: &str) -> io::Result<String> {
        let bytes = std::fs::read(path)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn read_bytes(&self, path: &str) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    fn path_info(&self, path: &str) -> PathInfo {
        use nix::unistd::{AccessFlags, access};
        let Ok(meta) = std::fs::metadata(path) else { return PathInfo::default() };
        let fs_magic = nix::sys::statfs::statfs(path).ok().map(|s| s.filesystem_type().0 as u64);
        let ro_mount = nix::sys::statvfs::statvfs(path)
            .map(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
            .unwrap_or(false);
        PathInfo {
            exists: true,
            is_dir: meta.is_dir(),
            fs_magic,
            writable: !ro_mount && access(path, AccessFlags::W_OK).is_ok(),
            executable: meta.is_file() && access(path, AccessFlags::X_OK).is_ok(),
        }
    }

    fn pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
            .collect();
        pids.sort_unstable();
        pids
    }

    fn list_dir(&self, path: &str) -> io::Result<Vec<Entry>> {
        let mut entries = Vec::new();
        for e in std::fs::read_dir(path)? {
            let e = e?;
            // d_type, or lstat(2) where the filesystem does not give it: never the symlink's target.
            let t = e.file_type()?;
            let kind = if t.is_symlink() {
                EntryKind::Symlink
            } else if t.is_dir() {
                EntryKind::Dir
            } else if t.is_file() {
                EntryKind::File
            } else {
                EntryKind::Other
            };
            entries.push(Entry { name: e.file_name().to_string_lossy().into_owned(), kind });
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    fn read_regular(&self, path: &str, limit: usize) -> io::Result<String> {
        use std::io::Read;
        use std::os::unix::fs::OpenOptionsExt;
        // O_NONBLOCK: a FIFO put there between the listing and this open must not block the reader.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)?;
        if !file.metadata()?.is_file() {
            return Err(not_regular(path));
        }
        let mut bytes = Vec::new();
        file.take(limit as u64 + 1).read_to_end(&mut bytes)?;
        if bytes.len() > limit {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("{path} is larger than {limit} bytes")));
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn run(&self, program: &str, args: &[&str]) -> io::Result<Output> {
        let out = std::process::Command::new(program)
            .args(args)
            .env("SYSTEMD_COLORS", "0")
            .env("SYSTEMD_PAGER", "")
            .stdin(std::process::Stdio::null())
            .output()?;
        Ok(Output {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// A captured container, as stored in `tests/fixtures/*.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// What kind of container this was captured in (free text, e.g. the `docker run` flags).
    #[serde(default)]
    pub description: String,
    pub pid: i32,
    pub uid: u32,
    pub files: BTreeMap<String, String>,
    pub paths: BTreeMap<String, PathInfo>,
    /// Answers of commands, keyed by the command line (`systemctl is-system-running`); none are captured.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub commands: BTreeMap<String, Output>,
    /// Symlinks (path → target), for tests of readers that must not follow them; none are captured.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub links: BTreeMap<String, String>,
}

impl Snapshot {
    /// Capture what the probes read from `sys`. Targets are stored as a digest of what the marker search
    /// needs (see [`crate::systemd_bin::digest`]), not as whole binaries.
    pub fn take(sys: &dyn System, description: String) -> Snapshot {
        let mut files = BTreeMap::new();
        for f in PROBED_FILES {
            if let Ok(text) = sys.read_text(f) {
                files.insert((*f).to_owned(), text);
            }
        }
        let mut paths = BTreeMap::new();
        for p in PROBED_PATHS.iter().chain(DEFAULT_TARGETS) {
            paths.insert((*p).to_owned(), sys.path_info(p));
        }
        // The children of PID 1 (in relay mode, systemd), as much as [`crate::facts::locate_systemd`] reads.
        for pid in sys.pids() {
            let stat = format!("/proc/{pid}/stat");
            let Ok(text) = sys.read_text(&stat) else { continue };
            if crate::parse::stat::parse(&text).is_some_and(|s| s.ppid == 1) {
                let status = format!("/proc/{pid}/status");
                if let Ok(st) = sys.read_text(&status) {
                    files.insert(status, st);
                }
                files.insert(stat, text);
            }
        }
        for t in DEFAULT_TARGETS {
            if let Ok(bytes) = sys.read_bytes(t) {
                files.insert((*t).to_owned(), crate::systemd_bin::digest(&crate::systemd_bin::detect(&bytes)));
            }
        }
        Snapshot {
            description,
            pid: sys.pid(),
            uid: sys.uid(),
            files,
            paths,
            commands: BTreeMap::new(),
            links: BTreeMap::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot load fixture {path}: {reason}; fix: give a file written by `nixos2docker capture`")]
pub struct SnapshotError {
    pub path: std::path::PathBuf,
    pub reason: String,
}

impl Snapshot {
    pub fn load(path: &std::path::Path) -> Result<Snapshot, SnapshotError> {
        let err = |reason: String| SnapshotError { path: path.to_owned(), reason };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        serde_json::from_str(&text).map_err(|e| err(e.to_string()))
    }
}

fn not_found(path: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{path} is not in the snapshot"))
}

fn not_regular(path: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("{path} is not a regular file"))
}

impl System for Snapshot {
    fn pid(&self) -> i32 {
        self.pid
    }

    fn uid(&self) -> u32 {
        self.uid
    }

    fn read_text(&self, path: &str) -> io::Result<String> {
        self.files.get(path).cloned().ok_or_else(|| not_found(path))
    }

    fn read_bytes(&self, path: &str) -> io::Result<Vec<u8>> {
        self.read_text(path).map(String::into_bytes)
    }

    fn path_info(&self, path: &str) -> PathInfo {
        self.paths.get(path).copied().unwrap_or_default()
    }

    /// The PIDs whose /proc/PID/stat was captured, and PID 1.
    fn pids(&self) -> Vec<u32> {
        let captured = self.files.keys().filter_map(|f| f.strip_prefix("/proc/")?.strip_suffix("/stat")?.parse().ok());
        let mut pids: Vec<u32> = std::iter::once(1).chain(captured).collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// Files, links and paths captured directly below `path`; paths that are neither directories nor files
    /// stand for FIFOs and such.
    fn list_dir(&self, path: &str) -> io::Result<Vec<Entry>> {
        let prefix = format!("{}/", path.trim_end_matches('/'));
        let below = |p: &str| p.strip_prefix(&prefix).filter(|n| !n.is_empty() && !n.contains('/')).map(str::to_owned);
        let mut entries: BTreeMap<String, EntryKind> = BTreeMap::new();
        for (p, info) in self.paths.iter().filter(|(_, i)| i.exists) {
            if let Some(n) = below(p) {
                entries.insert(n, if info.is_dir { EntryKind::Dir } else { EntryKind::Other });
            }
        }
        entries.extend(self.files.keys().filter_map(|p| below(p)).map(|n| (n, EntryKind::File)));
        entries.extend(self.links.keys().filter_map(|p| below(p)).map(|n| (n, EntryKind::Symlink)));
        if entries.is_empty() && !self.path_info(path).is_dir {
            return Err(not_found(path));
        }
        Ok(entries.into_iter().map(|(name, kind)| Entry { name, kind }).collect())
    }

    fn read_regular(&self, path: &str, limit: usize) -> io::Result<String> {
        if self.links.contains_key(path) {
            return Err(io::Error::from_raw_os_error(libc::ELOOP));
        }
        match self.files.get(path) {
            Some(text) if text.len() > limit => {
                Err(io::Error::new(io::ErrorKind::InvalidData, format!("{path} is larger than {limit} bytes")))
            }
            Some(text) => Ok(text.clone()),
            None if self.path_info(path).exists => Err(not_regular(path)),
            None => Err(not_found(path)),
        }
    }

    fn run(&self, program: &str, args: &[&str]) -> io::Result<Output> {
        let line = std::iter::once(program).chain(args.iter().copied()).collect::<Vec<_>>().join(" ");
        self.commands.get(&line).cloned().ok_or_else(|| not_found(&line))
    }
}

/// statfs(2) magic numbers (linux/magic.h).
pub mod magic {
    pub const TMPFS: u64 = 0x0102_1994;
    pub const CGROUP2: u64 = 0x6367_7270;
    pub const CGROUP1: u64 = 0x0027_e0eb;
}
