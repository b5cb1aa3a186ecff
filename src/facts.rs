//! Gathers the facts the checks judge, through the [`System`] seam. Reads only; changes nothing.

use crate::config::Config;
use crate::parse::{cgroup, mountinfo, stat, status, uid_map};
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

/// Which engine runs the container, as far as the container can tell (its marks in the filesystem and the
/// files it bind-mounts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// `/.dockerenv` exists, or /etc/hostname is Docker's `…/containers/<id>/hostname`.
    Docker,
    /// `/run/.containerenv` exists or is mounted (a `--tmpfs /run` may hide it), or /etc/hostname is podman's
    /// `…/overlay-containers/<id>/userdata/hostname`.
    Podman,
    /// Neither (containerd's CRI under a kubelet, nerdctl, an unknown runtime).
    Unknown,
}

/// The engine in front of us: its kind and the user namespace it gave the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Engine {
    pub kind: EngineKind,
    pub userns: uid_map::UserNs,
    /// How many uids the user namespace maps.
    pub mapped_ids: u64,
}

impl Engine {
    /// The engine's default capability set: podman's (containers-common) for podman, Docker's otherwise.
    pub fn default_caps(&self) -> u64 {
        match self.kind {
            EngineKind::Podman => podman_default_caps(),
            EngineKind::Docker | EngineKind::Unknown => docker_default_caps(),
        }
    }

    pub fn default_caps_name(&self) -> &'static str {
        match self.kind {
            EngineKind::Podman => "podman's default set",
            EngineKind::Docker | EngineKind::Unknown => "Docker's default set",
        }
    }
}

/// The engine's kind from its marks (PATHS and MOUNTS as gathered) and the user namespace from
/// /proc/self/uid_map's text.
pub fn classify_engine(
    paths: &BTreeMap<String, PathInfo>,
    mounts: &[mountinfo::Mount],
    uid_map_text: Option<&str>,
) -> Engine {
    let exists = |p: &str| paths.get(p).is_some_and(|i| i.exists);
    let hostname = mounts.iter().rev().find(|m| m.mount_point == "/etc/hostname").map(|m| m.root.as_str());
    let kind = if exists("/run/.containerenv")
        || mounts.iter().any(|m| m.mount_point == "/run/.containerenv")
        || hostname.is_some_and(|r| r.contains("/overlay-containers/") && r.ends_with("/userdata/hostname"))
    {
        EngineKind::Podman
    } else if exists("/.dockerenv") || hostname.is_some_and(|r| r.contains("/containers/") && r.ends_with("/hostname"))
    {
        EngineKind::Docker
    } else {
        EngineKind::Unknown
    };
    // an unreadable or unparsable uid_map says nothing: taken as the initial namespace
    let ranges = uid_map_text.and_then(|t| uid_map::parse(t).ok()).unwrap_or_default();
    let userns = uid_map::classify(&ranges);
    let mapped_ids = if ranges.is_empty() { u64::from(u32::MAX) } else { uid_map::mapped_ids(&ranges) };
    Engine { kind, userns, mapped_ids }
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
    pub engine: Engine,
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
    let engine = classify_engine(&paths, &mounts, sys.read_text("/proc/self/uid_map").ok().as_deref());
    Ok(Facts { pid, uid: sys.uid(), pid1, mounts, status, cgroups, paths, target, engine })
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

/// Where systemd runs, seen from this PID namespace: the one answer `doctor` and `wait` give to "is systemd
/// up, as PID 1 or behind the relay?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SystemdAt {
    /// PID 1 is systemd (exec mode).
    Pid1,
    /// Behind the relay: systemd is PID 1 of a nested PID namespace and a child of our PID 1 (relay mode);
    /// its PID here.
    Relayed(u32),
    /// Nowhere yet: PID 1 is something else (the init preamble, NixOS's stage 2), its comm.
    Absent { pid1_comm: String },
}

/// Where systemd runs ([`SystemdAt`]). Behind the relay means a child of PID 1 named `systemd` that is PID 1
/// of its own PID namespace (its `NSpid:` ends in 1): not merely the init being PID 1 (that is so during the
/// preamble and after systemd ended too), and not any process named `systemd` left to PID 1 (a service user
/// can start one from `docker exec`; it stays in the container's PID namespace).
pub fn locate_systemd(sys: &dyn System) -> SystemdAt {
    let pid1_comm = sys.read_text("/proc/1/comm").map(|c| c.trim().to_owned()).unwrap_or_default();
    if pid1_comm == "systemd" && sys.pid() != 1 {
        return SystemdAt::Pid1;
    }
    let nested_init = |pid: u32| {
        sys.read_text(&format!("/proc/{pid}/status"))
            .ok()
            .and_then(|text| status::parse(&text).ok())
            .is_some_and(|st| st.ns_pids.len() >= 2 && st.ns_pids.last() == Some(&1))
    };
    let relayed = sys.pids().into_iter().filter(|&pid| pid > 1).find(|&pid| {
        sys.read_text(&format!("/proc/{pid}/stat"))
            .is_ok_and(|text| stat::parse(&text).is_some_and(|s| s.comm == "systemd" && s.ppid == 1))
            && nested_init(pid)
    });
    match relayed {
        Some(pid) => SystemdAt::Relayed(pid),
        None => SystemdAt::Absent { pid1_comm },
    }
}

impl SystemdAt {
    pub fn is_up(&self) -> bool {
        !matches!(self, SystemdAt::Absent { .. })
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

/// podman's default capability set (containers-common's `default_capabilities`: Docker's without MKNOD,
/// NET_RAW and AUDIT_WRITE), as a bit mask.
pub fn podman_default_caps() -> u64 {
    use caps::Capability::*;
    [
        CAP_CHOWN,
        CAP_DAC_OVERRIDE,
        CAP_FOWNER,
        CAP_FSETID,
        CAP_KILL,
        CAP_NET_BIND_SERVICE,
        CAP_SETFCAP,
        CAP_SETGID,
        CAP_SETPCAP,
        CAP_SETUID,
        CAP_SYS_CHROOT,
    ]
    .iter()
    .fold(0u64, |m, c| m | (1u64 << c.index()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::Snapshot;

    /// A `docker exec` session (PID 90) next to PID 1, with these /proc files.
    fn exec_session(files: &[(&str, &str)]) -> Snapshot {
        let files = files.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Snapshot { pid: 90, files, ..Snapshot::default() }
    }

    const RELAYED_STAT: &str = "57 (systemd) S 1 57 57 0 -1 4194560 2000 0 0 0 3 4 0 0 20 0 1 0 100 0 0";
    const RELAYED_STATUS: &str = "Name:\tsystemd\nPid:\t57\nPPid:\t1\nNSpid:\t57\t1\nNSsid:\t57\t1\n";

    #[test]
    fn systemd_as_pid1_is_up() {
        assert_eq!(locate_systemd(&exec_session(&[("/proc/1/comm", "systemd\n")])), SystemdAt::Pid1);
    }

    #[test]
    fn systemd_behind_the_relay_is_pid1_of_a_nested_namespace_under_pid1() {
        let snap = exec_session(&[
            ("/proc/1/comm", "nixos2docker\n"),
            ("/proc/57/stat", RELAYED_STAT),
            ("/proc/57/status", RELAYED_STATUS),
        ]);
        assert_eq!(locate_systemd(&snap), SystemdAt::Relayed(57));
        assert!(locate_systemd(&snap).is_up());
    }

    #[test]
    fn the_init_alone_is_not_systemd_running() {
        // The preamble, or the relay after systemd ended: PID 1 is the init, no systemd under it.
        let at = locate_systemd(&exec_session(&[("/proc/1/comm", "nixos2docker\n")]));
        assert_eq!(at, SystemdAt::Absent { pid1_comm: "nixos2docker".into() });
        assert!(!at.is_up());
    }

    #[test]
    fn a_process_named_systemd_left_to_pid1_is_not_systemd_behind_the_relay() {
        // Started from `docker exec` (e.g. a copy of sleep named systemd) and orphaned: PID 1 adopted it, but
        // it lives in the container's PID namespace (NSpid has one entry).
        let snap = exec_session(&[
            ("/proc/1/comm", "nixos2docker\n"),
            ("/proc/91/stat", "91 (systemd) S 1 91 91 0 -1"),
            ("/proc/91/status", "Name:\tsystemd\nPid:\t91\nNSpid:\t91\n"),
        ]);
        assert_eq!(locate_systemd(&snap), SystemdAt::Absent { pid1_comm: "nixos2docker".into() });
        // Nor a nested init that is not PID 1's child.
        let snap = exec_session(&[
            ("/proc/1/comm", "nixos2docker\n"),
            ("/proc/57/stat", "57 (systemd) S 40 57 57 0 -1"),
            ("/proc/57/status", RELAYED_STATUS),
        ]);
        assert!(!locate_systemd(&snap).is_up());
    }

    #[test]
    fn we_as_pid1_are_not_systemd() {
        let snap = Snapshot { pid: 1, ..exec_session(&[("/proc/1/comm", "systemd\n")]) };
        assert!(!locate_systemd(&snap).is_up());
    }
}
