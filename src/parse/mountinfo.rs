//! `/proc/self/mountinfo` (see proc(5)).
//!
//! `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    pub id: u32,
    pub parent: u32,
    /// Root of the mount within its filesystem (`/` for a whole filesystem, a subdir for a bind mount).
    pub root: String,
    pub mount_point: String,
    /// Per-mount options (`rw`, `ro`, `nosuid`, …).
    pub options: Vec<String>,
    pub fstype: String,
    pub source: String,
    /// Per-superblock options.
    pub super_options: Vec<String>,
}

impl Mount {
    pub fn read_only(&self) -> bool {
        self.options.iter().any(|o| o == "ro") || self.super_options.iter().any(|o| o == "ro")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mountinfo line {line}: {what}")]
pub struct ParseError {
    pub line: usize,
    pub what: &'static str,
}

/// Undo the octal escapes the kernel applies to space, tab, newline and backslash.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            let oct = &b[i + 1..i + 4];
            if oct.iter().all(|c| (b'0'..=b'7').contains(c)) {
                let v = (oct[0] - b'0') as u32 * 64 + (oct[1] - b'0') as u32 * 8 + (oct[2] - b'0') as u32;
                if let Ok(byte) = u8::try_from(v) {
                    out.push(byte);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn split_opts(s: &str) -> Vec<String> {
    s.split(',').filter(|o| !o.is_empty()).map(str::to_owned).collect()
}

pub fn parse(text: &str) -> Result<Vec<Mount>, ParseError> {
    let mut mounts = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        if line.trim().is_empty() {
            continue;
        }
        let err = |what| ParseError { line: line_no, what };
        let (left, right) = line.split_once(" - ").ok_or(err("no ' - ' separator"))?;
        let mut f = left.split(' ');
        let id = f.next().and_then(|v| v.parse().ok()).ok_or(err("bad mount id"))?;
        let parent = f.next().and_then(|v| v.parse().ok()).ok_or(err("bad parent id"))?;
        let _devno = f.next().ok_or(err("missing major:minor"))?;
        let root = unescape(f.next().ok_or(err("missing root"))?);
        let mount_point = unescape(f.next().ok_or(err("missing mount point"))?);
        let options = split_opts(f.next().ok_or(err("missing mount options"))?);
        let mut r = right.split(' ');
        let fstype = r.next().filter(|s| !s.is_empty()).ok_or(err("missing fs type"))?.to_owned();
        let source = unescape(r.next().unwrap_or(""));
        let super_options = split_opts(r.next().unwrap_or(""));
        mounts.push(Mount { id, parent, root, mount_point, options, fstype, source, super_options });
    }
    Ok(mounts)
}

/// The mount visible at `path`: the last one listed with that mount point (later mounts cover earlier ones).
pub fn at<'a>(mounts: &'a [Mount], path: &str) -> Option<&'a Mount> {
    mounts.iter().rev().find(|m| m.mount_point == path)
}

/// The mount that contains `path`: the one with the longest mount point that is a path prefix of it.
pub fn containing<'a>(mounts: &'a [Mount], path: &str) -> Option<&'a Mount> {
    let mut best: Option<&Mount> = None;
    for m in mounts.iter() {
        let mp = m.mount_point.as_str();
        let inside = mp == "/" || path == mp || path.strip_prefix(mp).is_some_and(|rest| rest.starts_with('/'));
        if inside && best.is_none_or(|b| mp.len() >= b.mount_point.len()) {
            best = Some(m);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
1177 1003 0:93 / / rw,relatime master:534 - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w
1178 1177 0:96 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
1184 1181 0:31 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup rw,nsdelegate,memory_recursiveprot
1190 1177 0:100 / /run rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw,inode64
1191 1190 0:101 / /run/lock rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw,inode64
1192 1177 254:0 /var/lib/docker/volumes/x/_data /my\\040dir rw,relatime - ext4 /dev/vda rw
";

    #[test]
    fn parses_fields_and_escapes() {
        let m = parse(SAMPLE).unwrap();
        assert_eq!(m.len(), 6);
        assert_eq!(m[2].mount_point, "/sys/fs/cgroup");
        assert_eq!(m[2].fstype, "cgroup2");
        assert!(m[2].read_only(), "per-mount ro must count");
        assert!(!m[3].read_only());
        assert_eq!(m[5].mount_point, "/my dir");
        assert_eq!(m[5].root, "/var/lib/docker/volumes/x/_data");
        assert_eq!(m[5].super_options, vec!["rw"]);
    }

    #[test]
    fn lookup_prefers_last_and_longest() {
        let m = parse(SAMPLE).unwrap();
        assert_eq!(at(&m, "/run").unwrap().id, 1190);
        assert!(at(&m, "/tmp").is_none());
        assert_eq!(containing(&m, "/tmp").unwrap().mount_point, "/");
        assert_eq!(containing(&m, "/run/lock/x").unwrap().id, 1191);
        assert_eq!(containing(&m, "/running").unwrap().mount_point, "/");
    }

    #[test]
    fn rejects_garbage_with_line_number() {
        let e = parse("1 2 3:4 / / rw - tmpfs x rw\nnonsense line\n").unwrap_err();
        assert_eq!(e.line, 2);
        let e = parse("x 2 3:4 / / rw - tmpfs x rw\n").unwrap_err();
        assert_eq!(e.what, "bad mount id");
    }
}
