//! The records patched systemd's executor writes for a unit start that lost sandboxing
//! (`/run/nixos2docker/degraded/UNIT`), and the policy file it reads (`/run/nixos2docker/sandboxing`).
//!
//! A record is text, one `KEY=value` a line:
//!
//! ```text
//! INVOCATION_ID=<32 lowercase hex: the unit's invocation>
//! POLICY=degrade
//! DROPPED=PrivateUsers= TemporaryFileSystem=
//! SKIPPED=PrivateTmp= ProtectSystem=
//! ```
//!
//! `DROPPED` names the options the series skips where upstream refuses the unit (empty under `strict`),
//! `SKIPPED` those upstream itself skips when it cannot make a mount namespace; each is a space-separated list
//! of option names ending in `=`, possibly empty. Keys this parser does not know are ignored (a newer series
//! may add some); a known key given twice, a line without `=`, a bad invocation id or option name make the
//! record malformed.

use std::fmt;

/// One record, as the executor wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub invocation_id: String,
    /// `POLICY=`, as written (`degrade` or `strict`); None when the line is missing.
    pub policy: Option<String>,
    pub dropped: Vec<String>,
    pub skipped: Vec<String>,
}

impl Record {
    /// The unit lost nothing (both lists empty).
    pub fn is_empty(&self) -> bool {
        self.dropped.is_empty() && self.skipped.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    NoInvocationId,
    BadInvocationId(String),
    /// A line that is not `KEY=value` (shown escaped).
    NotKeyValue(String),
    Duplicate(&'static str),
    /// A token of `DROPPED=` or `SKIPPED=` that is not an option name ending in `=`.
    BadOption {
        key: &'static str,
        token: String,
    },
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::NoInvocationId => write!(f, "no INVOCATION_ID= line"),
            RecordError::BadInvocationId(v) => {
                write!(f, "INVOCATION_ID={} is not 32 lowercase hex digits", v.escape_debug())
            }
            RecordError::NotKeyValue(l) => write!(f, "line {:?} is not KEY=value", l),
            RecordError::Duplicate(k) => write!(f, "{k}= given twice"),
            RecordError::BadOption { key, token } => {
                write!(f, "{key}= lists {:?}, not an option name ending in '='", token)
            }
        }
    }
}

/// Longest option name accepted (systemd's longest is well below).
const MAX_OPTION: usize = 64;

fn is_option(token: &str) -> bool {
    token.strip_suffix('=').is_some_and(|name| {
        !name.is_empty()
            && name.len() <= MAX_OPTION
            && name.starts_with(|c: char| c.is_ascii_uppercase())
            && name.chars().all(|c| c.is_ascii_alphanumeric())
    })
}

fn options(key: &'static str, value: &str) -> Result<Vec<String>, RecordError> {
    value
        .split_ascii_whitespace()
        .map(|t| if is_option(t) { Ok(t.to_owned()) } else { Err(RecordError::BadOption { key, token: t.to_owned() }) })
        .collect()
}

fn set<T>(slot: &mut Option<T>, key: &'static str, value: T) -> Result<(), RecordError> {
    if slot.replace(value).is_some() {
        return Err(RecordError::Duplicate(key));
    }
    Ok(())
}

/// Parse a record's text.
pub fn record(text: &str) -> Result<Record, RecordError> {
    let (mut id, mut policy, mut dropped, mut skipped) = (None, None, None, None);
    for line in text.lines().map(|l| l.trim_end_matches('\r')) {
        if line.trim().is_empty() {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(RecordError::NotKeyValue(line.chars().take(80).collect()));
        };
        match key {
            "INVOCATION_ID" => set(&mut id, "INVOCATION_ID", value.to_owned())?,
            "POLICY" => set(&mut policy, "POLICY", value.trim().to_owned())?,
            "DROPPED" => set(&mut dropped, "DROPPED", options("DROPPED", value)?)?,
            "SKIPPED" => set(&mut skipped, "SKIPPED", options("SKIPPED", value)?)?,
            _ => {} // a key of a newer series
        }
    }
    let id = id.ok_or(RecordError::NoInvocationId)?;
    if !is_invocation_id(&id) {
        return Err(RecordError::BadInvocationId(id.chars().take(80).collect()));
    }
    Ok(Record { invocation_id: id, policy, dropped: dropped.unwrap_or_default(), skipped: skipped.unwrap_or_default() })
}

/// 32 lowercase hex digits: an sd_id128 as `systemctl show -p InvocationID` prints it.
pub fn is_invocation_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The record belongs to the unit's current run: the unit is running (active, activating, reloading or
/// deactivating) and its `InvocationID` is the record's. Anything else is a stale record of an earlier start.
pub fn is_current(record: &Record, active_state: &str, invocation_id: &str) -> bool {
    matches!(active_state, "active" | "activating" | "reloading" | "deactivating")
        && record.invocation_id == invocation_id
}

/// A file name that can be a unit's (systemd's `unit_name_is_valid()`, roughly): the characters systemd
/// allows, a known type suffix, at most 255 bytes. Anything else under the directory is not a record.
pub fn is_unit_name(name: &str) -> bool {
    const TYPES: &[&str] =
        &["service", "socket", "target", "device", "mount", "automount", "swap", "timer", "path", "slice", "scope"];
    let Some((prefix, suffix)) = name.rsplit_once('.') else { return false };
    !prefix.is_empty()
        && name.len() <= 255
        && TYPES.contains(&suffix)
        && !name.starts_with('.')
        && prefix.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '_' | '.' | '\\' | '@'))
}

/// Is the policy file's text `strict`? The patched executor's rule: a missing file means `degrade`; a file
/// that says anything but `degrade` means `strict` (so a damaged file never relaxes anything).
pub fn policy_is_strict(text: Option<&str>) -> bool {
    text.is_some_and(|t| t.trim() != "degrade")
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef";

    fn fixture(lines: &[&str]) -> String {
        lines.iter().map(|l| format!("{l}\n")).collect()
    }

    #[test]
    fn parses_the_executors_record() {
        let text = fixture(&[
            &format!("INVOCATION_ID={ID}"),
            "POLICY=degrade",
            "DROPPED=PrivateUsers= TemporaryFileSystem=",
            "SKIPPED=PrivateTmp= ProtectSystem=",
        ]);
        let r = record(&text).unwrap();
        assert_eq!(r.invocation_id, ID);
        assert_eq!(r.policy.as_deref(), Some("degrade"));
        assert_eq!(r.dropped, ["PrivateUsers=", "TemporaryFileSystem="]);
        assert_eq!(r.skipped, ["PrivateTmp=", "ProtectSystem="]);
        assert!(!r.is_empty());
    }

    #[test]
    fn empty_lists_missing_lists_and_unknown_keys() {
        let r = record(&fixture(&[&format!("INVOCATION_ID={ID}"), "POLICY=strict", "DROPPED=", "SKIPPED=PrivateTmp="]))
            .unwrap();
        assert!(r.dropped.is_empty());
        assert_eq!(r.skipped, ["PrivateTmp="]);
        // A newer series' key is ignored; lists left out are empty; CRLF and blank lines are fine.
        let r = record(&format!("\nINVOCATION_ID={ID}\r\nREASON=no user namespace\nNEWKEY=x=y\n")).unwrap();
        assert!(r.is_empty() && r.policy.is_none());
    }

    #[test]
    fn malformed_records_are_errors_naming_what_is_wrong() {
        assert_eq!(record(""), Err(RecordError::NoInvocationId));
        assert_eq!(record("DROPPED=PrivateUsers=\n"), Err(RecordError::NoInvocationId));
        let upper = "0123456789ABCDEF0123456789ABCDEF";
        assert_eq!(record(&format!("INVOCATION_ID={upper}\n")), Err(RecordError::BadInvocationId(upper.into())));
        assert_eq!(
            record("INVOCATION_ID=0123-4567\n").unwrap_err().to_string(),
            "INVOCATION_ID=0123-4567 is not 32 lowercase hex digits"
        );
        let text = format!("INVOCATION_ID={ID}\nINVOCATION_ID={ID}\n");
        assert_eq!(record(&text), Err(RecordError::Duplicate("INVOCATION_ID")));
        let text = format!("INVOCATION_ID={ID}\ngarbage\n");
        assert_eq!(record(&text).unwrap_err().to_string(), "line \"garbage\" is not KEY=value");
        let text = format!("INVOCATION_ID={ID}\nDROPPED=PrivateUsers \x1b[31mX=\n");
        assert_eq!(record(&text), Err(RecordError::BadOption { key: "DROPPED", token: "PrivateUsers".into() }));
        let text = format!("INVOCATION_ID={ID}\nSKIPPED=PrivateTmp=yes\n");
        assert!(matches!(record(&text), Err(RecordError::BadOption { key: "SKIPPED", .. })));
        let text = format!("INVOCATION_ID={ID}\nSKIPPED=\x1b[31mX=\n");
        assert!(record(&text).unwrap_err().to_string().contains("\\u{1b}"), "control characters are escaped");
    }

    #[test]
    fn only_a_running_unit_with_the_same_invocation_is_current() {
        let r = record(&format!("INVOCATION_ID={ID}\nDROPPED=PrivateUsers=\n")).unwrap();
        for state in ["active", "activating", "reloading", "deactivating"] {
            assert!(is_current(&r, state, ID), "{state}");
        }
        for state in ["inactive", "failed", "maintenance", ""] {
            assert!(!is_current(&r, state, ID), "{state}");
        }
        assert!(!is_current(&r, "active", "fedcba9876543210fedcba9876543210"), "restarted since: stale");
        assert!(!is_current(&r, "active", ""), "no invocation: stale");
    }

    #[test]
    fn unit_names() {
        for ok in ["redis-server.service", "getty@tty1.service", "sys-fs-fuse-connections.mount", "a\\x2db.socket"] {
            assert!(is_unit_name(ok), "{ok}");
        }
        for bad in ["", ".service", "redis", "redis.conf", ".hidden.service", "a b.service", "x/y.service", "é.service"]
        {
            assert!(!is_unit_name(bad), "{bad}");
        }
        assert!(!is_unit_name(&format!("{}.service", "a".repeat(250))));
    }

    #[test]
    fn policy_file_absent_means_degrade_anything_else_strict() {
        assert!(!policy_is_strict(None));
        assert!(!policy_is_strict(Some("degrade\n")));
        assert!(policy_is_strict(Some("strict\n")));
        assert!(policy_is_strict(Some("")));
        assert!(policy_is_strict(Some("Degrade\n")));
    }
}
