//! `/proc/<pid>/uid_map` (and gid_map): `inside outside count`, one line per mapped range
//! (user_namespaces(7)). The initial user namespace maps everything onto itself: `0 0 4294967295`.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Range {
    pub inside: u32,
    pub outside: u32,
    pub count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("uid_map line {line}: {what}")]
pub struct ParseError {
    pub line: usize,
    pub what: &'static str,
}

pub fn parse(text: &str) -> Result<Vec<Range>, ParseError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let err = |what| ParseError { line: n + 1, what };
        let mut f = line.split_whitespace().map(str::parse::<u32>);
        let mut next = |what| f.next().and_then(Result::ok).ok_or(err(what));
        let inside = next("bad inside id")?;
        let outside = next("bad outside id")?;
        let count = next("bad count")?;
        out.push(Range { inside, outside, count });
    }
    Ok(out)
}

/// Where the container's root stands, from its uid_map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UserNs {
    /// The initial user namespace (or one mapping all ids onto themselves): root is the host's root.
    Host,
    /// Root is mapped onto ONE id of its own, the rest onto subordinate ids: an engine run by an
    /// unprivileged user (rootless podman, rootless Docker), whose own uid is root's.
    Rootless { root: u32 },
    /// Root is mapped onto a subordinate id of a wider range (Docker --userns-remap, podman --userns=auto,
    /// Kubernetes hostUsers: false).
    Remapped { root: u32 },
}

impl UserNs {
    pub fn is_host(self) -> bool {
        self == UserNs::Host
    }
}

/// Classify a parsed uid_map (no ranges at all: the file was not readable, taken as the host's).
pub fn classify(ranges: &[Range]) -> UserNs {
    let Some(root) = ranges.iter().find(|r| r.inside == 0) else {
        return UserNs::Host;
    };
    if ranges.iter().all(|r| r.inside == r.outside) {
        return UserNs::Host;
    }
    if root.count == 1 { UserNs::Rootless { root: root.outside } } else { UserNs::Remapped { root: root.outside } }
}

/// How many ids the namespace maps (u64: the initial namespace maps 2^32 - 1).
pub fn mapped_ids(ranges: &[Range]) -> u64 {
    ranges.iter().map(|r| u64::from(r.count)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_namespace() {
        let r = parse("         0          0 4294967295\n").unwrap();
        assert_eq!(classify(&r), UserNs::Host);
        assert_eq!(mapped_ids(&r), 4_294_967_295);
    }

    #[test]
    fn rootless_maps_root_onto_the_users_own_id() {
        let r = parse("         0       2000          1\n         1     200000      65536\n").unwrap();
        assert_eq!(classify(&r), UserNs::Rootless { root: 2000 });
        assert_eq!(mapped_ids(&r), 65537);
    }

    #[test]
    fn remap_maps_root_onto_a_subordinate_id() {
        let r = parse("0 300000 65536\n").unwrap();
        assert_eq!(classify(&r), UserNs::Remapped { root: 300000 });
    }

    #[test]
    fn unreadable_is_the_host() {
        assert_eq!(classify(&[]), UserNs::Host);
    }

    #[test]
    fn garbage_names_line() {
        assert_eq!(parse("0 0 1\n0 x 1\n").unwrap_err(), ParseError { line: 2, what: "bad outside id" });
        assert_eq!(parse("0 0\n").unwrap_err().what, "bad count");
    }
}
