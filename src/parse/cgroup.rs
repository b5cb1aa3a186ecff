//! `/proc/<pid>/cgroup`: `hierarchy-ID:controller-list:cgroup-path`, one line per hierarchy.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub hierarchy: u32,
    pub controllers: Vec<String>,
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cgroup line {line}: {what}")]
pub struct ParseError {
    pub line: usize,
    pub what: &'static str,
}

pub fn parse(text: &str) -> Result<Vec<Entry>, ParseError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let err = |what| ParseError { line: n + 1, what };
        let mut f = line.splitn(3, ':');
        let hierarchy = f.next().and_then(|v| v.parse().ok()).ok_or(err("bad hierarchy id"))?;
        let controllers = f.next().ok_or(err("missing controller list"))?;
        let path = f.next().ok_or(err("missing cgroup path"))?.to_owned();
        let controllers = controllers.split(',').filter(|c| !c.is_empty()).map(str::to_owned).collect();
        out.push(Entry { hierarchy, controllers, path });
    }
    Ok(out)
}

/// The path in the unified (v2) hierarchy, if the process is in one (`0::/path`).
pub fn unified_path(entries: &[Entry]) -> Option<&str> {
    entries.iter().find(|e| e.hierarchy == 0 && e.controllers.is_empty()).map(|e| e.path.as_str())
}

/// A private cgroup namespace shows the container's own cgroup as `/` in every hierarchy.
/// (With `--cgroupns=host` the path names the container's cgroup on the host, e.g. `/docker/<id>`.)
pub fn looks_private(entries: &[Entry]) -> bool {
    !entries.is_empty() && entries.iter().all(|e| e.path == "/" || e.path == "/init.scope")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unified_private() {
        let e = parse("0::/\n").unwrap();
        assert_eq!(unified_path(&e), Some("/"));
        assert!(looks_private(&e));
    }

    #[test]
    fn unified_host_namespace() {
        let e = parse("0::/system.slice/docker-0123abcd.scope\n").unwrap();
        assert!(!looks_private(&e));
    }

    #[test]
    fn hybrid_lines() {
        let e = parse("12:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n0::/docker/abc\n").unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].controllers, vec!["cpu", "cpuacct"]);
        assert_eq!(unified_path(&e), Some("/docker/abc"));
        assert!(!looks_private(&e));
    }

    #[test]
    fn garbage_names_line() {
        assert_eq!(parse("0::/\nx:y\n").unwrap_err().line, 2);
    }
}
