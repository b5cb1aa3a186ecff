//! Where an image's files come from: an OCI layout / extracted docker-archive directory, a plain tar file
//! (indexed once by its headers, members then read in place), or a gzip-compressed tar (two streaming passes:
//! the first keeps only the small metadata members, the second hands over the layers as they pass by).
//!
//! Nothing here writes anywhere; every read is bounded by the member's real size.

use super::InspectError;
use flate2::read::MultiGzDecoder;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Largest metadata member (manifest, index, config) read into memory.
pub const SMALL_CAP: u64 = 16 << 20;
/// Total size of the small members a gzip-compressed archive's first pass keeps.
const SMALL_TOTAL_CAP: u64 = 256 << 20;
/// Members up to this size are kept by the first pass over a gzip-compressed archive.
const KEEP_CAP: u64 = 4 << 20;
/// More members than this in the outer archive is not an image.
const MAX_MEMBERS: usize = 1_000_000;

/// Called once per distinct layer blob with every layer index that uses it.
pub type Visitor<'a> = dyn FnMut(&[usize], &mut dyn Read) -> Result<(), InspectError> + 'a;

pub trait Store {
    /// What the input is, for the report ("tar", "gzip-compressed tar", "directory").
    fn container(&self) -> &'static str;
    fn has(&self, name: &str) -> bool;
    /// A member of at most [`SMALL_CAP`] bytes; `Ok(None)` when absent.
    fn read_small(&mut self, name: &str) -> Result<Option<Vec<u8>>, InspectError>;
    /// Hand every named member to `f`, each read once. The order is the archive's for a compressed archive and
    /// the list's otherwise; the visitor copes with both.
    fn visit(&mut self, names: &[String], f: &mut Visitor<'_>) -> Result<(), InspectError>;
}

fn err(msg: impl Into<String>) -> InspectError {
    InspectError(msg.into())
}

/// A member name from a manifest: relative, no `..`, no NUL; `./` prefixes dropped.
pub fn member_name(name: &str) -> Result<String, InspectError> {
    let trimmed = name.trim_start_matches("./");
    if trimmed.is_empty()
        || name.starts_with('/')
        || name.contains('\0')
        || trimmed.split('/').any(|c| c == "..")
        || trimmed.ends_with('/')
    {
        return Err(err(format!("the manifest names an unsafe or empty member path {name:?}")));
    }
    Ok(trimmed.to_owned())
}

/// A tar member's name as bytes, with `./` and `/` prefixes dropped (the index's key).
fn tar_key(raw: &[u8]) -> Vec<u8> {
    let mut s = raw;
    loop {
        if let Some(rest) = s.strip_prefix(b"./") {
            s = rest;
        } else if let Some(rest) = s.strip_prefix(b"/") {
            s = rest;
        } else {
            break;
        }
    }
    s.to_vec()
}

pub fn open(path: &Path) -> Result<Box<dyn Store>, InspectError> {
    let meta = std::fs::metadata(path).map_err(|e| err(format!("cannot read {}: {e}", path.display())))?;
    if meta.is_dir() {
        return Ok(Box::new(DirStore { root: path.to_owned() }));
    }
    let file = File::open(path).map_err(|e| err(format!("cannot open {}: {e}", path.display())))?;
    let mut head = [0u8; 512];
    // pread: the tar reader below counts positions from the file's current offset, which must stay 0.
    let n = read_fill(&mut Slice { file: &file, pos: 0, end: meta.len().min(512) }, &mut head)
        .map_err(|e| err(format!("cannot read {}: {e}", path.display())))?;
    let head = &head[..n];
    if head.is_empty() {
        return Err(err("the file is empty: not an image archive"));
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        return Ok(Box::new(GzStore::scan(path.to_owned())?));
    }
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Err(err("zstd-compressed archives are not supported: decompress it first (zstd -d)"));
    }
    if n < 512 || !looks_like_tar_header(head) {
        return Err(err("not a tar archive, a gzip-compressed tar or an OCI layout directory"));
    }
    Ok(Box::new(TarStore::index(file, meta.len())?))
}

fn looks_like_tar_header(block: &[u8]) -> bool {
    if block.iter().all(|b| *b == 0) {
        return true; // an empty tar; the manifest check reports it
    }
    let header = tar::Header::from_byte_slice(block);
    let Ok(sum) = header.cksum() else { return false };
    let computed: u32 = block[..148].iter().chain(&block[156..]).map(|b| u32::from(*b)).sum::<u32>() + 8 * 32;
    sum == computed
}

fn read_fill(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Read at most `cap` bytes; more is an error (never allocates by a declared size).
pub fn read_capped(r: &mut dyn Read, cap: u64, what: &str) -> Result<Vec<u8>, InspectError> {
    let mut buf = Vec::new();
    r.take(cap + 1).read_to_end(&mut buf).map_err(|e| err(format!("cannot read {what}: {e}")))?;
    if buf.len() as u64 > cap {
        return Err(err(format!("{what} is larger than {} MiB: not image metadata", cap >> 20)));
    }
    Ok(buf)
}

/// Group the names: each distinct name once, in first-use order, with every index using it.
fn group(names: &[String]) -> Vec<(String, Vec<usize>)> {
    let mut out: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, n) in names.iter().enumerate() {
        match out.iter_mut().find(|(m, _)| m == n) {
            Some((_, v)) => v.push(i),
            None => out.push((n.clone(), vec![i])),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------------------------

pub struct DirStore {
    root: PathBuf,
}

impl DirStore {
    fn path(&self, name: &str) -> Result<PathBuf, InspectError> {
        Ok(self.root.join(member_name(name)?))
    }
}

impl Store for DirStore {
    fn container(&self) -> &'static str {
        "directory"
    }

    fn has(&self, name: &str) -> bool {
        self.path(name).is_ok_and(|p| p.is_file())
    }

    fn read_small(&mut self, name: &str) -> Result<Option<Vec<u8>>, InspectError> {
        let path = self.path(name)?;
        let mut f = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(err(format!("cannot open {}: {e}", path.display()))),
        };
        read_capped(&mut f, SMALL_CAP, name).map(Some)
    }

    fn visit(&mut self, names: &[String], f: &mut Visitor<'_>) -> Result<(), InspectError> {
        for (name, idx) in group(names) {
            let path = self.path(&name)?;
            let mut file = File::open(&path).map_err(|e| err(format!("cannot open layer {}: {e}", path.display())))?;
            f(&idx, &mut file)?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------------------------

#[derive(Clone, Copy)]
struct Member {
    offset: u64,
    size: u64,
    sparse: bool,
}

/// A plain tar file: one pass over the headers (seeking over the data), then members read in place.
pub struct TarStore {
    file: File,
    members: HashMap<Vec<u8>, Member>,
}

impl TarStore {
    fn index(file: File, len: u64) -> Result<TarStore, InspectError> {
        let mut members = HashMap::new();
        {
            let mut archive = tar::Archive::new(&file);
            let entries = archive.entries_with_seek().map_err(|e| err(format!("not a valid tar archive: {e}")))?;
            for entry in entries {
                let entry = entry.map_err(|e| err(format!("invalid tar archive: {e}")))?;
                let header = entry.header();
                let kind = header.entry_type();
                if !(kind.is_file() || kind.is_gnu_sparse() || kind.is_contiguous()) {
                    continue;
                }
                let offset = entry.raw_file_position();
                let stored = header.entry_size().unwrap_or(u64::MAX);
                if offset.checked_add(stored).is_none_or(|end| end > len) {
                    return Err(err(format!(
                        "truncated archive: member {} declares {stored} bytes at offset {offset}, but the file \
                         has {len} bytes",
                        String::from_utf8_lossy(&entry.path_bytes())
                    )));
                }
                if members.len() >= MAX_MEMBERS {
                    return Err(err(format!("more than {MAX_MEMBERS} members: not an image archive")));
                }
                let key = tar_key(&entry.path_bytes());
                members.insert(key, Member { offset, size: entry.size(), sparse: kind.is_gnu_sparse() });
            }
        }
        Ok(TarStore { file, members })
    }

    fn member(&self, name: &str) -> Result<Option<Member>, InspectError> {
        let Some(m) = self.members.get(member_name(name)?.as_bytes()).copied() else { return Ok(None) };
        if m.sparse {
            return Err(err(format!("member {name} is a sparse file: not what docker save or an OCI layout holds")));
        }
        Ok(Some(m))
    }
}

/// `size` bytes of `file` from `offset`, read with pread (no shared cursor).
struct Slice<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl Read for Slice<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.end - self.pos;
        if left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the archive ends inside a member"));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

impl Store for TarStore {
    fn container(&self) -> &'static str {
        "tar"
    }

    fn has(&self, name: &str) -> bool {
        member_name(name).is_ok_and(|n| self.members.contains_key(n.as_bytes()))
    }

    fn read_small(&mut self, name: &str) -> Result<Option<Vec<u8>>, InspectError> {
        let Some(m) = self.member(name)? else { return Ok(None) };
        if m.size > SMALL_CAP {
            return Err(err(format!("{name} is larger than {} MiB: not image metadata", SMALL_CAP >> 20)));
        }
        let mut r = Slice { file: &self.file, pos: m.offset, end: m.offset + m.size };
        read_capped(&mut r, SMALL_CAP, name).map(Some)
    }

    fn visit(&mut self, names: &[String], f: &mut Visitor<'_>) -> Result<(), InspectError> {
        for (name, idx) in group(names) {
            let m = self.member(&name)?.ok_or_else(|| err(format!("layer {name} is missing from the archive")))?;
            let mut r = Slice { file: &self.file, pos: m.offset, end: m.offset + m.size };
            f(&idx, &mut r)?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------------------------

/// A gzip-compressed tar: cannot seek, so the first pass keeps the small members (manifests, configs) and the
/// second streams the layers by.
pub struct GzStore {
    path: PathBuf,
    names: HashMap<Vec<u8>, u64>,
    small: HashMap<Vec<u8>, Vec<u8>>,
}

fn gz_archive(path: &Path) -> Result<tar::Archive<BufReader<MultiGzDecoder<BufReader<File>>>>, InspectError> {
    let file = File::open(path).map_err(|e| err(format!("cannot open {}: {e}", path.display())))?;
    let gz = MultiGzDecoder::new(BufReader::with_capacity(1 << 20, file));
    Ok(tar::Archive::new(BufReader::with_capacity(1 << 20, gz)))
}

fn gz_error(e: io::Error) -> InspectError {
    err(format!("invalid or truncated gzip-compressed tar: {e}"))
}

impl GzStore {
    fn scan(path: PathBuf) -> Result<GzStore, InspectError> {
        let mut names = HashMap::new();
        let mut small = HashMap::new();
        let mut kept = 0u64;
        let mut archive = gz_archive(&path)?;
        for entry in archive.entries().map_err(gz_error)? {
            let mut entry = entry.map_err(gz_error)?;
            let kind = entry.header().entry_type();
            if !(kind.is_file() || kind.is_contiguous()) {
                continue;
            }
            if names.len() >= MAX_MEMBERS {
                return Err(err(format!("more than {MAX_MEMBERS} members: not an image archive")));
            }
            let key = tar_key(&entry.path_bytes());
            let size = entry.size();
            if size <= KEEP_CAP && kept + size <= SMALL_TOTAL_CAP {
                let mut buf = Vec::new();
                (&mut entry).take(KEEP_CAP + 1).read_to_end(&mut buf).map_err(gz_error)?;
                kept += buf.len() as u64;
                small.insert(key.clone(), buf);
            }
            names.insert(key, size);
        }
        // A gzip stream cut short fails above; a tar cut short at a block boundary ends "cleanly": drain to see.
        let mut rest = archive.into_inner();
        io::copy(&mut rest, &mut io::sink()).map_err(gz_error)?;
        Ok(GzStore { path, names, small })
    }
}

impl Store for GzStore {
    fn container(&self) -> &'static str {
        "gzip-compressed tar"
    }

    fn has(&self, name: &str) -> bool {
        member_name(name).is_ok_and(|n| self.names.contains_key(n.as_bytes()))
    }

    fn read_small(&mut self, name: &str) -> Result<Option<Vec<u8>>, InspectError> {
        let key = member_name(name)?.into_bytes();
        match (self.small.get(&key), self.names.get(&key)) {
            (Some(b), _) => Ok(Some(b.clone())),
            (None, Some(size)) => Err(err(format!("{name} ({size} bytes) is too large to be image metadata"))),
            (None, None) => Ok(None),
        }
    }

    fn visit(&mut self, names: &[String], f: &mut Visitor<'_>) -> Result<(), InspectError> {
        let mut wanted: HashMap<Vec<u8>, Vec<usize>> = HashMap::new();
        for (name, idx) in group(names) {
            let key = member_name(&name)?.into_bytes();
            if !self.names.contains_key(&key) {
                return Err(err(format!("layer {name} is missing from the archive")));
            }
            wanted.insert(key, idx);
        }
        let mut archive = gz_archive(&self.path)?;
        for entry in archive.entries().map_err(gz_error)? {
            let mut entry = entry.map_err(gz_error)?;
            let kind = entry.header().entry_type();
            if !(kind.is_file() || kind.is_contiguous() || kind.is_gnu_sparse()) {
                continue;
            }
            let key = tar_key(&entry.path_bytes());
            if let Some(idx) = wanted.remove(&key) {
                if kind.is_gnu_sparse() {
                    return Err(err(format!(
                        "member {} is a sparse file: not what docker save or an OCI layout holds",
                        String::from_utf8_lossy(&key)
                    )));
                }
                f(&idx, &mut entry)?;
                // Whatever the visitor left unread is skipped by the tar reader.
            }
            if wanted.is_empty() {
                break;
            }
        }
        if let Some(k) = wanted.keys().next() {
            return Err(err(format!("layer {} vanished between two reads", String::from_utf8_lossy(k))));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names() {
        assert_eq!(member_name("./a/b").unwrap(), "a/b");
        assert!(member_name("/etc/passwd").is_err());
        assert!(member_name("a/../../x").is_err());
        assert!(member_name("").is_err());
        assert_eq!(tar_key(b"./././x"), b"x");
    }

    #[test]
    fn grouping_keeps_first_use_order() {
        let names: Vec<String> = ["a", "b", "a"].iter().map(|s| s.to_string()).collect();
        assert_eq!(group(&names), vec![("a".to_string(), vec![0, 2]), ("b".to_string(), vec![1])]);
    }
}
