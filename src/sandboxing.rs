//! The sandboxing policy (the profile's `sandboxing`, overridden by `NIXOS2DOCKER_SANDBOXING`) that the init
//! hands to patched systemd, and what the running system lost under it, for `doctor` and `wait`.
//!
//! A default container cannot give a unit the namespaces some sandboxing options need (no `CAP_SYS_ADMIN`,
//! Docker's seccomp profile refuses `unshare`). Upstream systemd then skips the mount-namespace options
//! silently and refuses the unit for the others (`PrivateUsers=`, `BindPaths=`, `TemporaryFileSystem=`,
//! `DynamicUser=`'s implied protections). Patched systemd reads the policy from [`POLICY_FILE`]:
//!
//! - `degrade` (the default): it runs such a unit without them;
//! - `strict`: it refuses them as upstream does;
//!
//! and, for every unit start that lost sandboxing, writes a record under [`DEGRADED_DIR`] (parsed by
//! src/parse/degraded.rs). [`collect`] reads them through the [`System`] seam and keeps those of the units'
//! current runs. Per-option classes: patches/README.md, "Sandboxing in a default Docker container".

use crate::parse::{degraded, systemctl};
use crate::sys::{EntryKind, System};
use serde::{Deserialize, Serialize};

pub const ENV: &str = "NIXOS2DOCKER_SANDBOXING";
/// What the init writes for patched systemd: `degrade\n` or `strict\n` (absent: degrade).
pub const POLICY_FILE: &str = "/run/nixos2docker/sandboxing";
/// Where patched systemd writes one record per unit start that lost sandboxing (created by the init).
pub const DEGRADED_DIR: &str = "/run/nixos2docker/degraded";
/// A record larger than this is not one.
const RECORD_LIMIT: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sandboxing {
    /// Run a unit without the sandboxing options the container cannot give, and say so.
    #[default]
    Degrade,
    /// Refuse such a unit, as upstream systemd does.
    Strict,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "{ENV}={value:?} is not a sandboxing policy (degrade, strict); fix: -e {ENV}=degrade (run units without \
     what the container cannot give), or -e {ENV}=strict (refuse them as upstream systemd does)"
)]
pub struct PolicyError {
    pub value: String,
}

/// How to make patched systemd refuse instead of degrade.
pub const STRICT_FIX: &str = "to refuse such units instead, as upstream does: `docker run -e NIXOS2DOCKER_SANDBOXING=strict` \
     (podman the same); NixOS: virtualisation.dockerImage.sandboxing = \"strict\"";

impl Sandboxing {
    pub fn name(self) -> &'static str {
        match self {
            Sandboxing::Degrade => "degrade",
            Sandboxing::Strict => "strict",
        }
    }

    /// The profile's policy, unless the environment variable names another (an empty value does not count).
    pub fn with_env(self, env: Option<&str>) -> Result<Sandboxing, PolicyError> {
        match env.map(str::trim) {
            None | Some("") => Ok(self),
            Some("degrade") => Ok(Sandboxing::Degrade),
            Some("strict") => Ok(Sandboxing::Strict),
            Some(other) => Err(PolicyError { value: other.to_owned() }),
        }
    }

    /// The content of [`POLICY_FILE`].
    pub fn file_content(self) -> String {
        format!("{}\n", self.name())
    }

    /// The policy patched systemd applies, from [`POLICY_FILE`]'s text (None: no file).
    pub fn from_file(text: Option<&str>) -> Sandboxing {
        if degraded::policy_is_strict(text) { Sandboxing::Strict } else { Sandboxing::Degrade }
    }
}

/// A running unit whose current start lost sandboxing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DegradedUnit {
    pub unit: String,
    /// Skipped by the series where upstream would refuse the unit (empty under `strict`).
    pub dropped: Vec<String>,
    /// Skipped by upstream too (no mount namespace).
    pub skipped: Vec<String>,
}

/// An entry of [`DEGRADED_DIR`] that is not a record, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ignored {
    pub name: String,
    pub why: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The policy in effect (from [`POLICY_FILE`]; absent: degrade).
    pub policy: Sandboxing,
    pub units: Vec<DegradedUnit>,
    /// Entries that are no records (a symlink, not a regular file, malformed), or whose unit systemctl could
    /// not be asked about.
    pub ignored: Vec<Ignored>,
    /// Records of units that stopped or restarted since (not listed: they say nothing about now).
    pub stale: usize,
}

fn ignored(name: &str, why: impl Into<String>) -> Ignored {
    Ignored { name: name.to_owned(), why: why.into() }
}

/// The policy in effect and every running unit whose current start lost sandboxing.
pub fn collect(sys: &dyn System) -> Report {
    let mut report = Report { policy: Sandboxing::Degrade, units: Vec::new(), ignored: Vec::new(), stale: 0 };
    match sys.read_regular(POLICY_FILE, 64) {
        Ok(text) => report.policy = Sandboxing::from_file(Some(&text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        // Reported, and not claimed to be strict: the report must never overstate what a unit keeps.
        Err(e) => report.ignored.push(ignored(POLICY_FILE, format!("unreadable policy file: {e}"))),
    }
    let entries = match sys.list_dir(DEGRADED_DIR) {
        Ok(entries) => entries,
        // No directory: stock systemd, or an init that does not make it; nothing was recorded.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return report,
        Err(e) => {
            report.ignored.push(ignored(DEGRADED_DIR, format!("cannot list it: {e}")));
            return report;
        }
    };
    let mut records = Vec::new();
    for entry in entries {
        let name = entry.name.as_str();
        let kind = match entry.kind {
            EntryKind::File => None,
            EntryKind::Symlink => Some("a symlink, not followed"),
            EntryKind::Dir => Some("a directory"),
            EntryKind::Other => Some("not a regular file"),
        };
        if let Some(kind) = kind {
            report.ignored.push(ignored(name, kind));
            continue;
        }
        if !degraded::is_unit_name(name) {
            report.ignored.push(ignored(name, "not a unit name"));
            continue;
        }
        match sys.read_regular(&format!("{DEGRADED_DIR}/{name}"), RECORD_LIMIT).map(|t| degraded::record(&t)) {
            Ok(Ok(record)) => records.push((entry.name, record)),
            Ok(Err(e)) => report.ignored.push(ignored(name, format!("malformed: {e}"))),
            Err(e) => report.ignored.push(ignored(name, format!("unreadable: {e}"))),
        }
    }
    let names: Vec<&str> = records.iter().map(|(n, _)| n.as_str()).collect();
    for ((name, record), props) in records.iter().zip(unit_states(sys, &names)) {
        let props = match props {
            Ok(p) => p,
            Err(e) => {
                report.ignored.push(ignored(name, format!("cannot ask systemctl whether it is current: {e}")));
                continue;
            }
        };
        let prop = |k: &str| props.get(k).map(String::as_str).unwrap_or("");
        if !degraded::is_current(record, prop("ActiveState"), prop("InvocationID")) {
            report.stale += 1;
        } else if !record.is_empty() {
            let (dropped, skipped) = (record.dropped.clone(), record.skipped.clone());
            report.units.push(DegradedUnit { unit: name.clone(), dropped, skipped });
        }
    }
    report
}

type Properties = std::collections::BTreeMap<String, String>;

/// Each unit's `ActiveState` and `InvocationID`: one `systemctl show` for all of them (the healthcheck runs
/// `wait` every few seconds), else one per unit when the answer does not have a block per unit.
fn unit_states(sys: &dyn System, units: &[&str]) -> Vec<Result<Properties, String>> {
    const PROPS: &str = "--property=Id,ActiveState,InvocationID";
    if units.is_empty() {
        return Vec::new();
    }
    let args: Vec<&str> = ["show", PROPS, "--"].into_iter().chain(units.iter().copied()).collect();
    if let Ok(out) = sys.run("systemctl", &args) {
        let blocks = systemctl::show_blocks(&out.stdout);
        if blocks.len() == units.len() {
            return blocks.into_iter().map(Ok).collect();
        }
    }
    units
        .iter()
        .map(|u| {
            sys.run("systemctl", &["show", PROPS, "--", u])
                .map(|out| systemctl::show(&out.stdout))
                .map_err(|e| e.to_string())
        })
        .collect()
}

impl Report {
    /// One line per unit: `UNIT: dropped A= B= (upstream would refuse); skipped C= (upstream skips them too)`.
    pub fn unit_lines(&self) -> Vec<String> {
        self.units
            .iter()
            .map(|u| {
                let mut parts = Vec::new();
                if !u.dropped.is_empty() {
                    parts.push(format!("dropped {} (upstream would refuse)", u.dropped.join(" ")));
                }
                if !u.skipped.is_empty() {
                    parts.push(format!("skipped {} (upstream skips them too)", u.skipped.join(" ")));
                }
                format!("{}: {}", u.unit, parts.join("; "))
            })
            .collect()
    }

    /// Some unit runs without an option upstream would have refused it for.
    pub fn any_dropped(&self) -> bool {
        self.units.iter().any(|u| !u.dropped.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::{Output, Snapshot};

    const ID: &str = "0123456789abcdef0123456789abcdef";
    const OTHER: &str = "fedcba9876543210fedcba9876543210";

    #[test]
    fn env_overrides_and_rejects_unknown_policies() {
        assert_eq!(Sandboxing::Degrade.with_env(None).unwrap(), Sandboxing::Degrade);
        assert_eq!(Sandboxing::Strict.with_env(Some("")).unwrap(), Sandboxing::Strict);
        assert_eq!(Sandboxing::Degrade.with_env(Some("strict")).unwrap(), Sandboxing::Strict);
        assert_eq!(Sandboxing::Strict.with_env(Some(" degrade ")).unwrap(), Sandboxing::Degrade);
        let e = Sandboxing::Degrade.with_env(Some("off")).unwrap_err().to_string();
        assert_eq!(
            e,
            "NIXOS2DOCKER_SANDBOXING=\"off\" is not a sandboxing policy (degrade, strict); fix: -e \
             NIXOS2DOCKER_SANDBOXING=degrade (run units without what the container cannot give), or -e \
             NIXOS2DOCKER_SANDBOXING=strict (refuse them as upstream systemd does)"
        );
        assert!(Sandboxing::Degrade.with_env(Some("Strict")).is_err(), "names are lowercase");
    }

    #[test]
    fn file_content_round_trips_through_the_executors_rule() {
        for p in [Sandboxing::Degrade, Sandboxing::Strict] {
            assert_eq!(p.file_content(), format!("{}\n", p.name()));
            assert_eq!(Sandboxing::from_file(Some(&p.file_content())), p);
            let j = serde_json::to_string(&p).unwrap();
            assert_eq!(j, format!("\"{}\"", p.name()));
            assert_eq!(serde_json::from_str::<Sandboxing>(&j).unwrap(), p);
        }
        assert_eq!(Sandboxing::from_file(None), Sandboxing::Degrade);
        assert_eq!(Sandboxing::from_file(Some("garbage")), Sandboxing::Strict);
    }

    fn record(id: &str, dropped: &str, skipped: &str) -> String {
        format!("INVOCATION_ID={id}\nPOLICY=degrade\nDROPPED={dropped}\nSKIPPED={skipped}\n")
    }

    fn block(unit: &str, state: &str, id: &str) -> String {
        format!("Id={unit}\nActiveState={state}\nInvocationID={id}\n")
    }

    /// One unit's answer to `systemctl show`.
    fn show(unit: &str, state: &str, id: &str) -> (String, Output) {
        let line = format!("systemctl show --property=Id,ActiveState,InvocationID -- {unit}");
        (line, Output { stdout: block(unit, state, id), stderr: String::new() })
    }

    /// A running container with records: current, stale, planted and malformed.
    fn container() -> Snapshot {
        let d = DEGRADED_DIR;
        let mut s = Snapshot { pid: 90, ..Snapshot::default() };
        s.files.insert(POLICY_FILE.into(), "degrade\n".into());
        s.files.insert(format!("{d}/redis-server.service"), record(ID, "PrivateUsers=", "PrivateTmp= ProtectSystem="));
        s.files.insert(format!("{d}/haproxy.service"), record(ID, "BindReadOnlyPaths=", ""));
        s.files.insert(format!("{d}/cron.service"), record(ID, "", "PrivateTmp="));
        s.files.insert(format!("{d}/old.service"), record(OTHER, "PrivateUsers=", ""));
        s.files.insert(format!("{d}/stopped.service"), record(ID, "PrivateUsers=", ""));
        s.files.insert(format!("{d}/bad.service"), "INVOCATION_ID=xyz\n".into());
        s.files.insert(format!("{d}/notes.txt"), record(ID, "PrivateUsers=", ""));
        s.links.insert(format!("{d}/planted.service"), "/etc/shadow".into());
        s.paths.insert(format!("{d}/fifo.service"), crate::sys::PathInfo { exists: true, ..Default::default() });
        s.commands.extend([
            show("redis-server.service", "active", ID),
            show("haproxy.service", "reloading", ID),
            show("cron.service", "activating", ID),
            show("old.service", "active", ID),
            show("stopped.service", "inactive", ""),
            show("planted.service", "active", ID),
        ]);
        s
    }

    #[test]
    fn collect_keeps_current_records_and_reports_what_it_ignored() {
        let r = collect(&container());
        assert_eq!(r.policy, Sandboxing::Degrade);
        let units: Vec<_> = r.units.iter().map(|u| u.unit.as_str()).collect();
        assert_eq!(units, ["cron.service", "haproxy.service", "redis-server.service"]);
        assert_eq!(r.units[2].dropped, ["PrivateUsers="]);
        assert_eq!(r.units[2].skipped, ["PrivateTmp=", "ProtectSystem="]);
        assert_eq!(r.stale, 2, "old.service restarted since, stopped.service is inactive");
        let ignored: Vec<_> = r.ignored.iter().map(|i| (i.name.as_str(), i.why.as_str())).collect();
        assert_eq!(
            ignored,
            [
                ("bad.service", "malformed: INVOCATION_ID=xyz is not 32 lowercase hex digits"),
                ("fifo.service", "not a regular file"),
                ("notes.txt", "not a unit name"),
                ("planted.service", "a symlink, not followed"),
            ]
        );
        assert!(r.any_dropped());
        assert_eq!(
            r.unit_lines()[2],
            "redis-server.service: dropped PrivateUsers= (upstream would refuse); skipped PrivateTmp= \
             ProtectSystem= (upstream skips them too)"
        );
        assert_eq!(r.unit_lines()[0], "cron.service: skipped PrivateTmp= (upstream skips them too)");
    }

    #[test]
    fn no_directory_is_no_record_and_the_policy_file_decides() {
        let r = collect(&Snapshot::default());
        assert_eq!(r, Report { policy: Sandboxing::Degrade, units: vec![], ignored: vec![], stale: 0 });
        let mut s = Snapshot::default();
        s.files.insert(POLICY_FILE.into(), "strict\n".into());
        assert_eq!(collect(&s).policy, Sandboxing::Strict);
        s.files.remove(POLICY_FILE);
        s.links.insert(POLICY_FILE.into(), "/elsewhere".into());
        let r = collect(&s);
        assert_eq!(r.policy, Sandboxing::Degrade);
        assert_eq!(r.ignored[0].name, POLICY_FILE);
    }

    #[test]
    fn one_systemctl_call_for_all_units_when_it_answers_per_unit() {
        let mut s = container();
        s.commands.clear();
        let units = ["cron.service", "haproxy.service", "old.service", "redis-server.service", "stopped.service"];
        let line = format!("systemctl show --property=Id,ActiveState,InvocationID -- {}", units.join(" "));
        let answer = [
            block("cron.service", "active", ID),
            block("haproxy.service", "deactivating", ID),
            block("old.service", "active", ID),
            block("redis-server.service", "failed", ID),
            block("stopped.service", "inactive", ""),
        ]
        .join("\n");
        s.commands.insert(line.clone(), Output { stdout: answer, stderr: String::new() });
        let r = collect(&s);
        let units: Vec<_> = r.units.iter().map(|u| u.unit.as_str()).collect();
        assert_eq!(units, ["cron.service", "haproxy.service"]);
        assert_eq!(r.stale, 3);
        // An answer without a block per unit is not guessed at: each unit is asked on its own.
        s.commands.insert(line, Output { stdout: block("cron.service", "active", ID), stderr: String::new() });
        s.commands.extend([show("redis-server.service", "active", ID)]);
        let r = collect(&s);
        assert_eq!(r.units.iter().map(|u| u.unit.as_str()).collect::<Vec<_>>(), ["redis-server.service"]);
    }

    #[test]
    fn without_systemctl_a_record_is_not_claimed_current() {
        let mut s = container();
        s.commands.clear();
        let r = collect(&s);
        assert!(r.units.is_empty());
        assert!(
            r.ignored.iter().any(|i| i.name == "redis-server.service" && i.why.starts_with("cannot ask systemctl"))
        );
    }

    #[test]
    fn live_listing_reports_symlinks_and_fifos_and_never_reads_through_them() {
        use crate::sys::{Live, System};
        let tmp = std::env::temp_dir().join(format!("n2d-sandboxing-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(tmp.join("sub")).unwrap();
        std::fs::write(tmp.join("secret"), "s3cret").unwrap();
        std::fs::write(tmp.join("a.service"), record(ID, "PrivateUsers=", "")).unwrap();
        std::os::unix::fs::symlink(tmp.join("secret"), tmp.join("b.service")).unwrap();
        nix::unistd::mkfifo(&tmp.join("c.service"), nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        let dir = tmp.to_str().unwrap();
        let kinds: Vec<_> = Live.list_dir(dir).unwrap().into_iter().map(|e| (e.name, e.kind)).collect();
        let want = [
            ("a.service", EntryKind::File),
            ("b.service", EntryKind::Symlink),
            ("c.service", EntryKind::Other),
            ("secret", EntryKind::File),
            ("sub", EntryKind::Dir),
        ];
        assert_eq!(kinds, want.map(|(n, k)| (n.to_owned(), k)));
        assert!(Live.read_regular(&format!("{dir}/a.service"), RECORD_LIMIT).unwrap().starts_with("INVOCATION_ID="));
        let e = Live.read_regular(&format!("{dir}/b.service"), RECORD_LIMIT).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP), "{e}");
        let e = Live.read_regular(&format!("{dir}/c.service"), RECORD_LIMIT).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "a FIFO is neither read nor waited on: {e}");
        assert!(Live.read_regular(&format!("{dir}/secret"), 3).is_err(), "larger than the limit");
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
