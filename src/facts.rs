//! Gathers the facts the checks judge, through the [`System`] seam. Reads only; changes nothing.

use crate::config::Config;
use crate::parse::{cgroup, mountinfo, status};
use crate::sys::{DEFAULT_TARGETS, PathInfo, System, magic};
use crate::systemd_bin::{self, SystemdInfo};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CgroupKind {
    /// cgroup2 mounted at /sys/fs/cgroup.
    Unified,
    /// v1 controllers on a tmpfs plus cgroup2 at /sys/fs/cgroup/unified.
    Hybrid,
    /// v1 only.
    Legacy,
    /// Nothing usable at /sys/fs/cgroup.
    Missing,
}

#[derive(Debug, Clone, Serialize)]
pub struct Cgroups {
    pub kind: CgroupKind,
    /// The hierarchy systemd would manage is writable.
    pub writable: bool,
    /// The container has its own cgroup namespace (its cgroup shows as `/`).
    pub private_ns: bool,
    pub own_path: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub path: String,
    pub info: PathInfo,
    /// What the binary says about itself (None for scripts and unreadable files).
    pub systemd: SystemdInfo,
    /// Patched or not: the config's word, else the marker.
    pub patched: Option<bool>,
    pub version: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Pid1 {
    pub comm: String,
    pub cmdline: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Facts {
    pub pid: i32,
    pub uid: u32,
    /// PID 1 of this PID namespace when that is not us.
    pub pid1: Option<Pid1>,
    pub mounts: Vec<mountinfo::Mount>,
    pub status: status::Status,
    pub cgroups: Cgroups,
    pub paths: BTreeMap<String, PathInfo>,
    pub target: Target,
}

#[derive(Debug, thiserror::Error)]
pub enum GatherError {
    #[error("cannot read {path}: {source}; is /proc mounted? (docker always mounts it; check the runtime)")]
    Read { path: &'static str, source: std::io::Error },
    #[error("cannot parse /proc/self/mountinfo: {0}; please report this with the file attached")]
    Mountinfo(#[from] mountinfo::ParseError),
    #[error("cannot parse /proc/self/status: {0}; please report this with the file attached")]
    Status(#[from] status::ParseError),
    #[error("cannot parse /proc/self/cgroup: {0}; please report this with the file attached")]
    Cgroup(#[from] cgroup::ParseError),
}

fn read(sys: &dyn System, path: &'static str) -> Result<String, GatherError> {
    sys.read_text(path).map_err(|source| GatherError::Read { path, source })
}

pub fn gather(sys: &dyn System, config: &Config) -> Result<Facts, GatherError> {
    let pid = sys.pid();
    let mounts = mountinfo::parse(&read(sys, "/proc/self/mountinfo")?)?;
    let status = status::parse(&read(sys, "/proc/self/status")?)?;
    let cgroup_entries = cgroup::parse(&read(sys, "/proc/self/cgroup")?)?;
    let pid1 = (pid != 1).then(|| Pid1 {
        comm: sys.read_text("/proc/1/comm").map(|s| s.trim().to_owned()).unwrap_or_default(),
        cmdline: sys
            .read_text("/proc/1/cmdline")
            .map(|s| s.split('\0').filter(|a| !a.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default(),
    });
    let paths: BTreeMap<String, PathInfo> =
        crate::sys::PROBED_PATHS.iter().map(|p| ((*p).to_owned(), sys.path_info(p))).collect();
    let cgroups = classify_cgroups(&paths, &cgroup_entries);
    let target = find_target(sys, config);
    Ok(Facts { pid, uid: sys.uid(), pid1, mounts, status, cgroups, paths, target })
}

fn classify_cgroups(paths: &BTreeMap<String, PathInfo>, entries: &[cgroup::Entry]) -> Cgroups {
    let info = |p: &str| paths.get(p).copied().unwrap_or_default();
    let root = info("/sys/fs/cgroup");
    let (kind, managed) = match root.fs_magic {
        Some(magic::CGROUP2) => (CgroupKind::Unified, root),
        Some(magic::TMPFS) if info("/sys/fs/cgroup/unified").fs_magic == Some(magic::CGROUP2) => {
            (CgroupKind::Hybrid, info("/sys/fs/cgroup/systemd"))
        }
        Some(magic::TMPFS) if info("/sys/fs/cgroup/systemd").fs_magic == Some(magic::CGROUP1) => {
            (CgroupKind::Legacy, info("/sys/fs/cgroup/systemd"))
        }
        _ => (CgroupKind::Missing, root),
    };
    Cgroups {
        kind,
        writable: managed.writable,
        private_ns: cgroup::looks_private(entries),
        own_path: cgroup::unified_path(entries).map(str::to_owned),
    }
}

fn find_target(sys: &dyn System, config: &Config) -> Target {
    let path = match &config.target {
        Some(t) => t.clone(),
        None => DEFAULT_TARGETS.iter().find(|p| sys.path_info(p).exists).unwrap_or(&DEFAULT_TARGETS[0]).to_string(),
    };
    let info = sys.path_info(&path);
    let systemd = if info.exists {
        sys.read_bytes(&path).map(|b| systemd_bin::detect(&b)).unwrap_or_default()
    } else {
        SystemdInfo::default()
    };
    let patched = config.patched.or_else(|| systemd.looks_like_systemd().then_some(systemd.patched.is_some()));
    let version = config.systemd_version.or(systemd.version);
    Target { path, info, systemd, patched, version }
}

impl Facts {
    pub fn mount_at(&self, path: &str) -> Option<&mountinfo::Mount> {
        mountinfo::at(&self.mounts, path)
    }

    pub fn path(&self, path: &str) -> PathInfo {
        self.paths.get(path).copied().unwrap_or_default()
    }

    /// Whether this container may create a PID namespace (relay mode): CAP_SYS_ADMIN in the effective set.
    /// Under Docker the container's user namespace is the initial one, so that capability is what the kernel
    /// asks for; Docker's default seccomp profile also allows clone(CLONE_NEWPID) only with it. An LSM policy
    /// may still forbid mounting the fresh /proc: the relay then falls back to exec (`auto`) or fails.
    pub fn can_create_pid_ns(&self) -> bool {
        self.status.cap_eff & (1u64 << caps::Capability::CAP_SYS_ADMIN.index()) != 0
    }

    /// Capability names in a mask, lower case without `cap_`, sorted by name.
    pub fn cap_names(mask: u64) -> Vec<String> {
        caps::all()
            .into_iter()
            .filter(|c| c.index() < 64 && mask & (1u64 << c.index()) != 0)
            .map(|c| c.to_string().trim_start_matches("CAP_").to_lowercase())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    }
}

/// Docker's default capability set (moby's `oci/caps/defaults.go`), as a bit mask.
pub fn docker_default_caps() -> u64 {
    use caps::Capability::*;
    [
        CAP_CHOWN,
        CAP_DAC_OVERRIDE,
        CAP_FSETID,
        CAP_FOWNER,
        CAP_MKNOD,
        CAP_NET_RAW,
        CAP_SETGID,
        CAP_SETUID,
        CAP_SETFCAP,
        CAP_SETPCAP,
        CAP_NET_BIND_SERVICE,
        CAP_SYS_CHROOT,
        CAP_KILL,
        CAP_AUDIT_WRITE,
    ]
    .iter()
    .fold(0u64, |m, c| m | (1u64 << c.index()))
}
