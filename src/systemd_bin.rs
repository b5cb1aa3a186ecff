//! What a systemd binary tells about itself: our patch marker and its major version.
//!
//! The patch series (patches/) adds the string `NIXOS2DOCKER_PATCHED_SYSTEMD=<series>` to the PID-1 binary;
//! the major version comes from the binary's DT_NEEDED entry `libsystemd-shared-NNN[.x-y].so`.
//! Both are plain byte searches, shared by `init`, `doctor` and `inspect`.

use serde::Serialize;

pub const PATCH_MARKER: &[u8] = b"NIXOS2DOCKER_PATCHED_SYSTEMD=";
const SHARED_LIB: &[u8] = b"libsystemd-shared-";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SystemdInfo {
    /// Major version (e.g. 262), when the binary names its shared library.
    pub version: Option<u32>,
    /// The patch series the binary carries (e.g. "262.1"), when it carries our marker.
    pub patched: Option<String>,
}

impl SystemdInfo {
    pub fn looks_like_systemd(&self) -> bool {
        self.version.is_some() || self.patched.is_some()
    }
}

/// Position of `needle` in `hay`: a scan for its first byte, then a comparison (a window-by-window memcmp
/// was most of the init's preamble on a 170 KiB systemd binary).
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, _) = needle.split_first()?;
    let mut from = 0;
    while let Some(p) = hay.get(from..)?.iter().position(|&b| b == first) {
        let at = from + p;
        if hay[at..].starts_with(needle) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

fn printable_run(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|b| !b.is_ascii_graphic()).unwrap_or(bytes.len());
    &bytes[..end]
}

pub fn detect(bytes: &[u8]) -> SystemdInfo {
    let patched = find(bytes, PATCH_MARKER).map(|i| {
        let value = printable_run(&bytes[i + PATCH_MARKER.len()..]);
        String::from_utf8_lossy(value).into_owned()
    });
    let version = find(bytes, SHARED_LIB).and_then(|i| {
        let rest = &bytes[i + SHARED_LIB.len()..];
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
    });
    SystemdInfo { version, patched }
}

/// A compact stand-in for a binary that keeps exactly what `detect` reads (used by `capture` fixtures,
/// which cannot carry a whole ELF file).
pub fn digest(info: &SystemdInfo) -> String {
    let mut s = String::new();
    if let Some(v) = info.version {
        s.push_str(&format!("libsystemd-shared-{v}.so\n"));
    }
    if let Some(p) = &info.patched {
        s.push_str(&format!("{}{p}\n", String::from_utf8_lossy(PATCH_MARKER)));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stock_debian_name() {
        let bin = b"\x7fELF\0\0libsystemd-shared-262.1-1.so\0libc.so.6\0";
        assert_eq!(detect(bin), SystemdInfo { version: Some(262), patched: None });
    }

    #[test]
    fn patched_with_series() {
        let bin = b"\0libsystemd-shared-262.so\0xx NIXOS2DOCKER_PATCHED_SYSTEMD=262.1\0more";
        let info = detect(bin);
        assert_eq!(info.version, Some(262));
        assert_eq!(info.patched.as_deref(), Some("262.1"));
        assert_eq!(detect(digest(&info).as_bytes()), info);
    }

    #[test]
    fn not_systemd() {
        let info = detect(b"#!/bin/sh\nexec /bin/true\n");
        assert!(!info.looks_like_systemd());
    }
}
