//! What the init changes before systemd starts: all of it under /run, never in the image's /etc.
//!
//! [`plan`] is pure (it decides the exact files); [`apply`] writes them below a root prefix, so tests can
//! apply a plan to a temporary directory.
//!
//! Why these directories (systemd's `src/shared/path-lookup.c`, `lookup_paths_init()`): the system unit
//! search path is, highest priority first, /run/systemd/transient, /etc/systemd/system.control,
//! **/run/systemd/system.control**, /run/systemd/generator.early, /etc/systemd/system, /run/systemd/system, …,
//! /usr/lib/systemd/system. Masks and drop-ins in /run/systemd/system.control therefore win over the image's
//! /etc/systemd/system (only `systemctl set-property` on a persistent unit, which writes
//! /etc/systemd/system.control, outranks them). Manager settings: PID 1 reads system.conf, then drop-ins from
//! /etc/systemd/system.conf.d, **/run/systemd/system.conf.d**, /usr/local/lib/… and /usr/lib/systemd/system.conf.d,
//! the last file by name winning for each key; `50-nixos2docker.conf` sorts before an admin's `90-*.conf`.

use crate::checks::RunPlan;
use crate::config::Profile;
use crate::docker_logs;
use crate::parse::mountinfo::Mount;
use crate::runfs;
use crate::sandboxing;
use nix::sys::stat::Mode;
use serde::Serialize;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

pub const CONTROL_DIR: &str = "/run/systemd/system.control";
pub const MANAGER_DIR: &str = "/run/systemd/system.conf.d";
pub const DROPIN_NAME: &str = "50-nixos2docker.conf";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "action")]
pub enum Action {
    /// Remove everything below the directory, staying on its filesystem and never following symlinks.
    EmptyDir {
        path: String,
        keep: Vec<String>,
    },
    Mkdir {
        path: String,
        mode: u32,
    },
    Symlink {
        path: String,
        target: String,
    },
    File {
        path: String,
        content: String,
    },
}

/// Every change the init makes, in order.
pub fn plan(profile: &Profile, run: &RunPlan, mounts: &[Mount]) -> Vec<Action> {
    let mut actions = Vec::new();
    if run.empty_stale_run {
        let keep =
            mounts.iter().filter(|m| m.mount_point.starts_with("/run/")).map(|m| m.mount_point.clone()).collect();
        actions.push(Action::EmptyDir { path: "/run".into(), keep });
    }
    if run.create_run_lock {
        actions.push(Action::Mkdir { path: "/run/lock".into(), mode: 0o1777 });
    }
    for m in &profile.masks {
        actions.push(Action::Symlink { path: format!("{CONTROL_DIR}/{}", m.unit), target: "/dev/null".into() });
    }
    if run.disable_controllers && !profile.root_slice.disable_controllers.is_empty() {
        actions.push(Action::File {
            path: format!("{CONTROL_DIR}/-.slice.d/{DROPIN_NAME}"),
            content: format!(
                "# Written by nixos2docker init: {}\n[Slice]\nDisableControllers={}\n",
                profile.root_slice.reason,
                profile.root_slice.disable_controllers.join(" ")
            ),
        });
    }
    actions.extend(docker_logs_files(profile, run.console));
    actions.extend(sandboxing_files(profile));
    actions
}

/// The policy file patched systemd reads (`degrade\n` or `strict\n`, nothing else) and the directory its
/// executor writes a record to for every unit start that lost sandboxing (src/sandboxing.rs). Written for
/// stock systemd too: it reads neither, and refuses as upstream whatever the policy.
fn sandboxing_files(profile: &Profile) -> Vec<Action> {
    vec![
        Action::Mkdir { path: sandboxing::DEGRADED_DIR.into(), mode: 0o755 },
        Action::File { path: sandboxing::POLICY_FILE.into(), content: profile.sandboxing.file_content() },
    ]
}

/// The manager drop-in (the profile's settings, then those `dockerLogs` needs) and, in mode `all`, journald's
/// config and unit drop-ins (src/docker_logs.rs); with a /dev/console journald forwards there, as upstream.
fn docker_logs_files(profile: &Profile, console: bool) -> Vec<Action> {
    let mode = profile.docker_logs;
    let why = format!("dockerLogs={}: {}", mode.name(), profile.docker_logs_reason);
    let mut settings = profile.manager.settings.clone();
    settings.extend(mode.manager_settings().iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let header = format!("{}\n# {why}", profile.manager.reason);
    let mut files = vec![ini_file(format!("{MANAGER_DIR}/{DROPIN_NAME}"), &header, "Manager", settings.iter())];
    let journal = mode.journald_settings(console);
    if !journal.is_empty() {
        let path = format!("{}/{DROPIN_NAME}", docker_logs::JOURNALD_DIR);
        files.push(ini_file(path, &why, "Journal", journal.iter().map(|(k, v)| (k, v))));
    }
    let unit = mode.journald_unit_settings(console);
    if !unit.is_empty() {
        let path = format!("{CONTROL_DIR}/{}.d/{DROPIN_NAME}", docker_logs::JOURNALD_UNIT);
        files.push(ini_file(path, &why, "Service", unit.iter().map(|(k, v)| (k, v))));
    }
    files
}

/// A drop-in: the header comment, one section, `key=value` lines.
fn ini_file<K: std::fmt::Display, V: std::fmt::Display>(
    path: String,
    why: &str,
    section: &str,
    settings: impl Iterator<Item = (K, V)>,
) -> Action {
    let mut content = format!("# Written by nixos2docker init: {why}\n[{section}]\n");
    for (k, v) in settings {
        content.push_str(&format!("{k}={v}\n"));
    }
    Action::File { path, content }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot prepare {path}: {source}; fix: {}", remedy(source))]
pub struct PrepareError {
    pub path: PathBuf,
    pub source: io::Error,
}

fn remedy(e: &io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::ENOSPC) => "give /run room for systemd's runtime state (--tmpfs /run:size=64m, or drop the size)",
        // A symlink where a directory was, or entries appearing while it is emptied: someone else writes there.
        Some(libc::ELOOP | libc::ENOTDIR | libc::ENOTEMPTY) => {
            "give the container a /run of its own, not shared with another writer (--tmpfs /run)"
        }
        _ => "give the container a writable tmpfs there (--tmpfs /run)",
    }
}

impl From<runfs::Failed> for PrepareError {
    fn from(f: runfs::Failed) -> Self {
        PrepareError { path: f.path, source: f.errno.into() }
    }
}

/// `path` (absolute) split into its directory (relative to the root) and its last component.
fn split(path: &str) -> (&Path, &OsStr) {
    let p = Path::new(path.trim_start_matches('/'));
    (p.parent().unwrap_or(Path::new("")), p.file_name().unwrap_or_default())
}

/// Apply `actions` below `root` (`/` for real; a temporary directory in tests). Every path below `root` is
/// reached through directory fds without following symlinks (src/runfs.rs).
pub fn apply(root: &Path, actions: &[Action]) -> Result<(), PrepareError> {
    let dir_mode = Mode::from_bits_truncate(0o755);
    for a in actions {
        match a {
            Action::EmptyDir { path, keep } => {
                let rel = Path::new(path.trim_start_matches('/'));
                let full = root.join(rel);
                let keep: Vec<PathBuf> = keep.iter().map(|k| root.join(k.trim_start_matches('/'))).collect();
                let dir = runfs::open_dir(root, rel, None)?;
                let dev =
                    nix::sys::stat::fstat(&dir).map_err(|e| PrepareError { path: full.clone(), source: e.into() })?;
                runfs::empty(&dir, &full, dev.st_dev, &keep)?;
            }
            Action::Mkdir { path, mode } => {
                let full = root.join(path.trim_start_matches('/'));
                let dir = runfs::open_dir(root, Path::new(path.trim_start_matches('/')), Some(dir_mode))?;
                // Through the fd: the umask narrowed the mode; /run/lock must be world-writable with the sticky bit.
                nix::sys::stat::fchmod(&dir, Mode::from_bits_truncate(*mode))
                    .map_err(|e| PrepareError { path: full, source: e.into() })?;
            }
            Action::Symlink { path, target } => {
                let (parent, name) = split(path);
                let dir = runfs::open_dir(root, parent, Some(dir_mode))?;
                runfs::replace_symlink(&dir, name, target, &root.join(path.trim_start_matches('/')))?;
            }
            Action::File { path, content } => {
                let (parent, name) = split(path);
                let dir = runfs::open_dir(root, parent, Some(dir_mode))?;
                runfs::write_file(&dir, name, content.as_bytes(), &root.join(path.trim_start_matches('/')))?;
            }
        }
    }
    Ok(())
}

/// The environment systemd starts with: ours, less our own variables, plus the profile's defaults for
/// variables that are not set (so podman's `container=podman` is kept).
pub fn exec_env(current: Vec<(OsString, OsString)>, profile: &Profile) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> =
        current.into_iter().filter(|(k, _)| !k.as_bytes().starts_with(b"NIXOS2DOCKER_")).collect();
    for (k, v) in &profile.environment {
        if !env.iter().any(|(ek, _)| ek == OsStr::new(k)) {
            env.push((k.into(), v.into()));
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::builtin_profile;

    fn run_plan(stale: bool, lock: bool, ro: bool) -> RunPlan {
        RunPlan { empty_stale_run: stale, create_run_lock: lock, disable_controllers: ro, console: false }
    }

    #[test]
    fn read_only_cgroup_gets_disable_controllers() {
        let p = builtin_profile().unwrap();
        let a = plan(&p, &run_plan(false, false, true), &[]);
        let slice = a.iter().find_map(|a| match a {
            Action::File { path, content } if path.contains("-.slice.d") => Some(content.clone()),
            _ => None,
        });
        let slice = slice.expect("a -.slice drop-in");
        assert!(slice.contains("[Slice]\nDisableControllers=cpu cpuset io memory pids\n"), "{slice}");
        let without = plan(&p, &run_plan(false, false, false), &[]);
        assert!(!without.iter().any(|a| matches!(a, Action::File { path, .. } if path.contains("-.slice.d"))));
    }

    #[test]
    fn every_mask_becomes_a_dev_null_link_in_the_control_dir() {
        let p = builtin_profile().unwrap();
        let a = plan(&p, &run_plan(false, false, false), &[]);
        for m in &p.masks {
            assert!(a.contains(&Action::Symlink {
                path: format!("/run/systemd/system.control/{}", m.unit),
                target: "/dev/null".into()
            }));
        }
    }

    #[test]
    fn apply_writes_below_root_and_empties_stale_run_only() {
        let tmp = std::env::temp_dir().join(format!("n2d-dropins-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let run = tmp.join("run");
        std::fs::create_dir_all(run.join("systemd/units")).unwrap();
        std::fs::write(run.join("systemd/units/stale"), "x").unwrap();
        std::fs::create_dir_all(run.join("secrets")).unwrap(); // a "mount point" to keep
        std::fs::write(run.join("secrets/token"), "keep me").unwrap();
        let outside = tmp.join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("precious"), "y").unwrap();
        std::os::unix::fs::symlink(&outside, run.join("link")).unwrap();

        let p = builtin_profile().unwrap();
        let mut actions = vec![Action::EmptyDir { path: "/run".into(), keep: vec!["/run/secrets".into()] }];
        actions.extend(plan(&p, &run_plan(false, true, true), &[]));
        apply(&tmp, &actions).unwrap();

        assert!(!run.join("systemd/units").exists(), "stale state removed");
        assert!(!run.join("link").exists(), "the symlink itself is removed");
        assert_eq!(std::fs::read_to_string(outside.join("precious")).unwrap(), "y", "symlink not followed");
        assert_eq!(std::fs::read_to_string(run.join("secrets/token")).unwrap(), "keep me", "mount kept");
        let lock = std::fs::metadata(run.join("lock")).unwrap();
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&lock.permissions()) & 0o7777, 0o1777);
        let link = std::fs::read_link(run.join("systemd/system.control/tmp.mount")).unwrap();
        assert_eq!(link, Path::new("/dev/null"));
        let mgr = std::fs::read_to_string(run.join("systemd/system.conf.d/50-nixos2docker.conf")).unwrap();
        assert!(
            mgr.starts_with("# Written by nixos2docker init: ") && mgr.contains("\n[Manager]\nLogColor=no\n"),
            "{mgr}"
        );
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    fn file<'a>(actions: &'a [Action], path: &str) -> Option<&'a str> {
        actions.iter().find_map(|a| match a {
            Action::File { path: p, content } if p == path => Some(content.as_str()),
            _ => None,
        })
    }

    #[test]
    fn docker_logs_modes_write_journald_and_manager_settings() {
        use crate::docker_logs::DockerLogs;
        let journald = "/run/systemd/journald.conf.d/50-nixos2docker.conf";
        let manager = "/run/systemd/system.conf.d/50-nixos2docker.conf";
        let unit = "/run/systemd/system.control/systemd-journald.service.d/50-nixos2docker.conf";
        let mut p = builtin_profile().unwrap();
        let a = plan(&p, &run_plan(false, false, false), &[]);
        let j = file(&a, journald).expect("mode all forwards journald to PID 1's stderr");
        assert!(j.ends_with("[Journal]\nForwardToConsole=yes\nTTYPath=/proc/self/fd/1\nMaxLevelConsole=info\n"), "{j}");
        let u = file(&a, unit).expect("journald's stdout is PID 1's stderr");
        assert!(u.starts_with("# Written by nixos2docker init: dockerLogs=all: "), "{u}");
        assert!(u.ends_with("\n[Service]\nStandardOutput=file:/proc/1/fd/2\n"), "{u}");
        let m = file(&a, manager).unwrap();
        assert!(
            m.contains("# dockerLogs=all: ")
                && m.ends_with("[Manager]\nLogColor=no\nLogTarget=journal\nShowStatus=yes\n"),
            "{m}"
        );

        // docker run -t: journald forwards to /dev/console itself (TTYPath's default), no unit drop-in.
        let tty = RunPlan { console: true, ..run_plan(false, false, false) };
        let a = plan(&p, &tty, &[]);
        let j = file(&a, journald).unwrap();
        assert!(j.ends_with("[Journal]\nForwardToConsole=yes\nMaxLevelConsole=info\n"), "{j}");
        assert!(file(&a, unit).is_none());

        p.docker_logs = DockerLogs::Pid1;
        let a = plan(&p, &run_plan(false, false, false), &[]);
        assert!(file(&a, journald).is_none() && file(&a, unit).is_none());
        let m = file(&a, manager).unwrap();
        assert!(m.ends_with("[Manager]\nLogColor=no\nLogTarget=console\nShowStatus=yes\n"), "{m}");

        p.docker_logs = DockerLogs::Off;
        p.manager.settings.insert("LogTarget".into(), "console".into());
        let a = plan(&p, &run_plan(false, false, false), &[]);
        assert!(file(&a, journald).is_none());
        assert!(
            file(&a, manager).unwrap().ends_with("[Manager]\nLogColor=no\nLogTarget=journal\nShowStatus=yes\n"),
            "dockerLogs wins"
        );
    }

    #[test]
    fn sandboxing_policy_file_and_record_directory() {
        use crate::sandboxing::Sandboxing;
        let mut p = builtin_profile().unwrap();
        let a = plan(&p, &run_plan(false, false, false), &[]);
        assert_eq!(file(&a, "/run/nixos2docker/sandboxing"), Some("degrade\n"), "the profile's default");
        assert!(a.contains(&Action::Mkdir { path: "/run/nixos2docker/degraded".into(), mode: 0o755 }));
        p.sandboxing = Sandboxing::Strict;
        let a = plan(&p, &run_plan(true, true, true), &[]);
        assert_eq!(file(&a, "/run/nixos2docker/sandboxing"), Some("strict\n"));
        let mkdir = a.iter().position(|a| matches!(a, Action::Mkdir { path, .. } if path.ends_with("/degraded")));
        assert!(
            mkdir > a.iter().position(|a| matches!(a, Action::EmptyDir { .. })),
            "made after a stale /run is emptied"
        );

        let tmp = std::env::temp_dir().join(format!("n2d-sandboxing-dropins-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(tmp.join("run")).unwrap();
        apply(&tmp, &plan(&p, &run_plan(false, false, false), &[])).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = |rel: &str| std::fs::symlink_metadata(tmp.join(rel)).unwrap().permissions().mode() & 0o7777;
        assert_eq!(std::fs::read_to_string(tmp.join("run/nixos2docker/sandboxing")).unwrap(), "strict\n");
        assert_eq!(mode("run/nixos2docker/sandboxing") & !0o022, 0o644 & !0o022, "0644 less the umask");
        assert!(std::fs::symlink_metadata(tmp.join("run/nixos2docker/degraded")).unwrap().is_dir());
        assert_eq!(mode("run/nixos2docker/degraded"), 0o755);
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn writes_under_run_never_follow_a_planted_symlink() {
        let tmp = std::env::temp_dir().join(format!("n2d-planted-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let outside = tmp.join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::create_dir_all(tmp.join("run/systemd/system.conf.d")).unwrap();
        std::fs::write(outside.join("victim"), "y").unwrap();
        // A symlink where the file goes: replaced, the file it points at untouched.
        std::os::unix::fs::symlink(outside.join("victim"), tmp.join("run/systemd/system.conf.d/50-nixos2docker.conf"))
            .unwrap();
        let file = Action::File { path: format!("{MANAGER_DIR}/{DROPIN_NAME}"), content: "[Manager]\n".into() };
        apply(&tmp, std::slice::from_ref(&file)).unwrap();
        assert_eq!(std::fs::read_to_string(outside.join("victim")).unwrap(), "y");
        let written = tmp.join("run/systemd/system.conf.d/50-nixos2docker.conf");
        assert!(!std::fs::symlink_metadata(&written).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read_to_string(&written).unwrap(), "[Manager]\n");
        // A symlinked directory on the way: an error naming it, nothing written outside.
        std::os::unix::fs::symlink(&outside, tmp.join("run/nixos2docker")).unwrap();
        let through = Action::File { path: "/run/nixos2docker/x.conf".into(), content: "z".into() };
        let e = apply(&tmp, &[through]).unwrap_err();
        assert_eq!(e.path, tmp.join("run/nixos2docker"));
        assert_eq!(e.source.raw_os_error(), Some(libc::ENOTDIR), "O_DIRECTORY|O_NOFOLLOW on a symlink");
        assert!(e.to_string().contains("(--tmpfs /run)"), "{e}");
        assert!(!outside.join("x.conf").exists());
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn env_strips_ours_and_keeps_a_runtime_container_value() {
        let p = builtin_profile().unwrap();
        let env = exec_env(
            vec![
                ("container".into(), "podman".into()),
                ("NIXOS2DOCKER_CONFIG".into(), "/x".into()),
                ("PATH".into(), "/bin".into()),
            ],
            &p,
        );
        assert_eq!(env, vec![("container".into(), "podman".into()), ("PATH".into(), "/bin".into())]);
        let env = exec_env(vec![], &p);
        assert_eq!(env, vec![("container".into(), "docker".into())]);
    }
}
