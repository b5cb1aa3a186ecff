//! One layer, read once as a stream: the metadata of every entry, the bytes of the few files the checks need
//! (bounded), and the sha256 of the blob and of the uncompressed tar.

use super::InspectError;
use crate::systemd_bin::{self, SystemdInfo};
use flate2::read::MultiGzDecoder;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::io::{self, BufRead, BufReader, Read};

/// At most this many bytes of a probed file are read (a systemd binary is well below; ours too).
pub const PROBE_CAP: u64 = 64 << 20;
/// Bytes of a probed file kept for the report (shebang, ELF magic).
const HEAD_KEEP: usize = 256;
/// Text files (the init's config) kept whole up to this size.
const TEXT_KEEP: u64 = 64 << 10;
/// More entries than this in one image is not something we hold in memory.
pub const MAX_ENTRIES: usize = 4_000_000;
/// Bytes that only our own binary carries (the config variable's name), next to the ELF magic.
const OUR_INIT_MARKER: &[u8] = crate::config::CONFIG_ENV.as_bytes();

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A reader that hashes and counts what passes through.
pub struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> Hashing<R> {
    pub fn new(inner: R) -> Self {
        Hashing { inner, hasher: Sha256::new(), count: 0 }
    }

    /// Read to the end, then return the hex digest and the byte count.
    pub fn finish(mut self) -> io::Result<(String, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((hex(&self.hasher.finalize()), self.count))
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

pub fn sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Which files' bytes to read while streaming: exact paths (normalized, no leading `/`), and any file with one of
/// a few base names (symlinks across layers are resolved only after the last layer, so candidates are read early).
#[derive(Debug, Clone, Default)]
pub struct Wanted {
    pub exact: HashSet<Vec<u8>>,
}

const WANTED_BASENAMES: &[&[u8]] = &[b"systemd", b"init", b"nixos2docker"];

impl Wanted {
    pub fn wants(&self, path: &[u8]) -> bool {
        if self.exact.contains(path) {
            return true;
        }
        let base = path.rsplit(|b| *b == b'/').next().unwrap_or(path);
        WANTED_BASENAMES.contains(&base)
            || (base.ends_with(b"config.json") && path.windows(12).any(|w| w == b"nixos2docker"))
    }
}

/// What the checks need of a file's bytes.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    pub head: Vec<u8>,
    pub systemd: SystemdInfo,
    pub our_init: bool,
    /// Whole content of a small text file (the init's config).
    pub text: Option<String>,
    /// The file was larger than [`PROBE_CAP`]: only its start was searched.
    pub truncated: bool,
}

impl Probe {
    pub fn is_elf(&self) -> bool {
        self.head.starts_with(b"\x7fELF")
    }

    pub fn shebang(&self) -> Option<String> {
        let rest = self.head.strip_prefix(b"#!")?;
        let line = rest.split(|b| *b == b'\n').next().unwrap_or(rest);
        Some(String::from_utf8_lossy(line).trim().to_owned())
    }

    pub fn from_bytes(bytes: &[u8], truncated: bool) -> Probe {
        let is_elf = bytes.starts_with(b"\x7fELF");
        let our_init = is_elf && bytes.windows(OUR_INIT_MARKER.len()).any(|w| w == OUR_INIT_MARKER);
        let text = (bytes.len() as u64 <= TEXT_KEEP && !is_elf)
            .then(|| std::str::from_utf8(bytes).ok().map(str::to_owned))
            .flatten();
        Probe {
            head: bytes[..bytes.len().min(HEAD_KEEP)].to_vec(),
            // Our own binary names the marker as a constant; it says nothing about a systemd.
            systemd: if our_init { SystemdInfo::default() } else { systemd_bin::detect(bytes) },
            our_init,
            text,
            truncated,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Dir {
        mode: u32,
    },
    File {
        mode: u32,
        size: u64,
        probe: Option<u32>,
    },
    Symlink {
        target: Box<[u8]>,
    },
    Hardlink {
        target: Box<[u8]>,
    },
    /// Character/block device, fifo.
    Special {
        mode: u32,
    },
    /// `.wh.NAME`: hides NAME of the lower layers.
    Whiteout,
    /// `.wh..wh..opq`: hides every lower entry below this directory.
    Opaque,
}

#[derive(Debug, Clone)]
pub struct Entry {
    /// Normalized: no leading `/`, no `.`/`..`/empty components; the root is the empty path.
    pub path: Box<[u8]>,
    pub kind: Kind,
}

#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub entries: Vec<Entry>,
    pub probes: Vec<Probe>,
    /// sha256 (hex) and size of the blob as stored.
    pub blob_digest: String,
    pub blob_size: u64,
    /// sha256 (hex) and size of the uncompressed tar (the diff_id).
    pub diff_id: String,
    pub tar_size: u64,
    pub compression: &'static str,
    /// Entries that `docker load` refuses (paths escaping the root) — reported as findings.
    pub escaping: Vec<String>,
}

/// Normalize a tar path: `None` when it climbs above the root.
pub fn normalize(raw: &[u8]) -> Option<Vec<u8>> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for c in raw.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join(&b'/'))
}

fn split_parent(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|b| *b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&[], path),
    }
}

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    if dir.is_empty() { name.to_vec() } else { [dir, b"/", name].concat() }
}

fn terr(e: io::Error) -> InspectError {
    InspectError(format!("invalid or truncated layer tar: {e}"))
}

/// A layer that could not be read, with the sha256 of its blob when the blob itself could be read to its end
/// (so that the caller can tell a corrupted blob, i.e. a digest mismatch, from a bad tar).
#[derive(Debug)]
pub struct LayerError {
    pub error: InspectError,
    pub blob_digest: Option<String>,
}

/// Read one layer blob (plain or gzip-compressed tar) to its end.
pub fn read(blob: &mut dyn Read, wanted: &Wanted, budget: &mut usize) -> Result<Summary, InspectError> {
    read_layer(blob, wanted, budget).map_err(|e| e.error)
}

/// [`read`], keeping the blob's digest on failure.
pub fn read_layer(blob: &mut dyn Read, wanted: &Wanted, budget: &mut usize) -> Result<Summary, LayerError> {
    let mut outer = Hashing::new(blob);
    let result = scan_blob(&mut outer, wanted, budget);
    match result {
        Ok(mut summary) => {
            let (d, n) = outer.finish().map_err(|e| LayerError { error: terr(e), blob_digest: None })?;
            if summary.compression == "none" {
                summary.diff_id.clone_from(&d);
                summary.tar_size = n;
            }
            summary.blob_digest = d;
            summary.blob_size = n;
            Ok(summary)
        }
        Err(error) => Err(LayerError { error, blob_digest: outer.finish().ok().map(|(d, _)| d) }),
    }
}

fn scan_blob<R: Read>(outer: &mut Hashing<R>, wanted: &Wanted, budget: &mut usize) -> Result<Summary, InspectError> {
    let mut buf = BufReader::with_capacity(1 << 20, outer);
    let magic = buf.fill_buf().map_err(terr)?.iter().take(4).copied().collect::<Vec<u8>>();
    if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Err(InspectError("zstd-compressed layers are not supported".into()));
    }
    let mut summary;
    if magic.starts_with(&[0x1f, 0x8b]) {
        let mut inner = Hashing::new(MultiGzDecoder::new(&mut buf));
        summary = scan(BufReader::with_capacity(256 << 10, &mut inner), wanted, budget)?;
        let (d, n) = inner.finish().map_err(terr)?;
        summary.diff_id = d;
        summary.tar_size = n;
        summary.compression = "gzip";
    } else {
        summary = scan(&mut buf, wanted, budget)?;
        summary.compression = "none";
    }
    io::copy(&mut buf, &mut io::sink()).map_err(terr)?;
    Ok(summary)
}

/// Walk the tar's entries; what is left after the end-of-archive blocks stays in `r` for the caller to hash.
fn scan<R: Read>(r: R, wanted: &Wanted, budget: &mut usize) -> Result<Summary, InspectError> {
    let mut s = Summary::default();
    let mut archive = tar::Archive::new(r);
    let mut buf = Vec::new();
    for entry in archive.entries().map_err(terr)? {
        let mut entry = entry.map_err(terr)?;
        if *budget == 0 {
            return Err(InspectError(format!("more than {MAX_ENTRIES} entries in the image: refusing to index it")));
        }
        *budget -= 1;
        let raw = entry.path_bytes().into_owned();
        let Some(path) = normalize(&raw) else {
            s.escaping.push(String::from_utf8_lossy(&raw).into_owned());
            continue;
        };
        let header = entry.header();
        let mode = header.mode().unwrap_or(0);
        let et = header.entry_type();
        let (dir, base) = split_parent(&path);
        if base == b".wh..wh..opq" {
            s.entries.push(Entry { path: dir.into(), kind: Kind::Opaque });
            continue;
        }
        if let Some(hidden) = base.strip_prefix(b".wh.") {
            if !hidden.starts_with(b".wh.") && !hidden.is_empty() {
                s.entries.push(Entry { path: join(dir, hidden).into(), kind: Kind::Whiteout });
            }
            continue;
        }
        let kind = if et.is_dir() {
            Kind::Dir { mode }
        } else if et.is_symlink() {
            Kind::Symlink { target: entry.link_name_bytes().map(|t| t.into_owned()).unwrap_or_default().into() }
        } else if et.is_hard_link() {
            let target = entry.link_name_bytes().map(|t| t.into_owned()).unwrap_or_default();
            match normalize(&target) {
                Some(t) => Kind::Hardlink { target: t.into() },
                None => {
                    s.escaping.push(format!(
                        "{} (hard link to {})",
                        String::from_utf8_lossy(&raw),
                        String::from_utf8_lossy(&target)
                    ));
                    continue;
                }
            }
        } else if et.is_file() || et.is_contiguous() || et.is_gnu_sparse() {
            let size = entry.size();
            // A sparse file is never a binary worth reading (and may be terabytes of holes).
            let probe = if wanted.wants(&path) && !et.is_gnu_sparse() {
                buf.clear();
                (&mut entry).take(PROBE_CAP).read_to_end(&mut buf).map_err(terr)?;
                let truncated = size > PROBE_CAP;
                s.probes.push(Probe::from_bytes(&buf, truncated));
                Some((s.probes.len() - 1) as u32)
            } else {
                None
            };
            Kind::File { mode, size, probe }
        } else if et.is_character_special() || et.is_block_special() || et.is_fifo() {
            Kind::Special { mode }
        } else {
            continue; // pax global headers and other metadata-only members
        };
        s.entries.push(Entry { path: path.into(), kind });
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_paths() {
        assert_eq!(normalize(b"/usr//bin/./x").unwrap(), b"usr/bin/x");
        assert_eq!(normalize(b"./").unwrap(), b"");
        assert_eq!(normalize(b"a/../b").unwrap(), b"b");
        assert!(normalize(b"../etc/passwd").is_none());
        assert!(normalize(b"a/../../b").is_none());
    }

    #[test]
    fn wanted_by_basename() {
        let w = Wanted::default();
        assert!(w.wants(b"nix/store/abc-systemd-262/lib/systemd/systemd"));
        assert!(w.wants(b"etc/nixos2docker/config.json"));
        assert!(!w.wants(b"usr/bin/bash"));
    }

    #[test]
    fn probe_tells_our_init_from_systemd() {
        let ours = Probe::from_bytes(b"\x7fELF..NIXOS2DOCKER_CONFIG..NIXOS2DOCKER_PATCHED_SYSTEMD=", false);
        assert!(ours.our_init);
        assert!(!ours.systemd.looks_like_systemd());
        let sd = Probe::from_bytes(b"\x7fELF..libsystemd-shared-257.so\0", false);
        assert!(!sd.our_init);
        assert_eq!(sd.systemd.version, Some(257));
        let script = Probe::from_bytes(b"#! /bin/sh -e\nexec systemd\n", false);
        assert_eq!(script.shebang().as_deref(), Some("/bin/sh -e"));
        assert!(script.text.is_some());
    }
}
