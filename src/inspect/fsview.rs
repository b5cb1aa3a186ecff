//! The image's root filesystem as the layers stack up: metadata only, whiteouts and opaque directories honoured,
//! paths resolved through symlinks (confined to the root, like a chroot) with a hop limit.

use super::layer::{Entry, Kind, Probe, Summary};
use std::collections::BTreeMap;

/// Symlinks followed while resolving one path before calling it a loop (Linux's ELOOP limit).
pub const MAX_HOPS: usize = 40;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Dir { mode: u32 },
    File { mode: u32, size: u64, probe: Option<u32> },
    Symlink { target: Box<[u8]> },
    Special { mode: u32 },
}

#[derive(Debug, Default)]
pub struct View {
    nodes: BTreeMap<Box<[u8]>, (Node, u16)>,
    pub probes: Vec<Probe>,
    /// Hard links whose target is not there (docker load fails on them).
    pub dangling_hardlinks: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    Missing(String),
    NotDir(String),
    Loop(String),
}

impl std::fmt::Display for ResolveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResolveError::Missing(p) => write!(f, "/{p} does not exist in the layers"),
            ResolveError::NotDir(p) => write!(f, "/{p} is not a directory"),
            ResolveError::Loop(p) => write!(f, "too many levels of symbolic links at /{p} (a symlink loop)"),
        }
    }
}

fn lossy(p: &[u8]) -> String {
    String::from_utf8_lossy(p).into_owned()
}

/// The key range of everything strictly below the non-root `dir`.
fn below(dir: &[u8]) -> (Vec<u8>, Vec<u8>) {
    ([dir, b"/"].concat(), [dir, b"0"].concat()) // '0' is '/' + 1
}

impl View {
    pub fn new() -> View {
        View::default()
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn get(&self, path: &[u8]) -> Option<&Node> {
        self.nodes.get(path).map(|(n, _)| n)
    }

    /// Which layer (0-based) last wrote `path`.
    pub fn layer_of(&self, path: &[u8]) -> Option<u16> {
        self.nodes.get(path).map(|(_, l)| *l)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &Node)> {
        self.nodes.iter().map(|(k, (n, _))| (&**k, n))
    }

    pub fn probe(&self, node: &Node) -> Option<&Probe> {
        match node {
            Node::File { probe: Some(i), .. } => self.probes.get(*i as usize),
            _ => None,
        }
    }

    fn remove_below(&mut self, dir: &[u8]) {
        if dir.is_empty() {
            self.nodes.retain(|k, _| k.is_empty());
            return;
        }
        let (lo, hi) = below(dir);
        let lo: Box<[u8]> = lo.into();
        let hi: Box<[u8]> = hi.into();
        let doomed: Vec<Box<[u8]>> = self.nodes.range(lo..hi).map(|(k, _)| k.clone()).collect();
        for k in doomed {
            self.nodes.remove(&k);
        }
    }

    fn ensure_parents(&mut self, path: &[u8], layer: u16) {
        let mut i = 0;
        while let Some(off) = path[i..].iter().position(|b| *b == b'/') {
            let parent = &path[..i + off];
            match self.nodes.get(parent) {
                Some((Node::Dir { .. }, _)) => {}
                // A file or symlink where a directory must be: the layer's entry wins, as when extracting.
                _ => {
                    self.remove_below(parent);
                    self.nodes.insert(parent.into(), (Node::Dir { mode: 0o755 }, layer));
                }
            }
            i += off + 1;
        }
    }

    /// Stack one more layer on top: first its whiteouts (they hide only lower layers), then its entries in order.
    pub fn apply(&mut self, layer: u16, summary: Summary) {
        let base = self.probes.len() as u32;
        let Summary { entries, probes, .. } = summary;
        self.probes.extend(probes);
        for e in &entries {
            match e.kind {
                Kind::Whiteout => {
                    self.remove_below(&e.path);
                    self.nodes.remove(&e.path);
                }
                Kind::Opaque => self.remove_below(&e.path),
                _ => {}
            }
        }
        for Entry { path, kind } in entries {
            let node = match kind {
                Kind::Whiteout | Kind::Opaque => continue,
                Kind::Dir { mode } => Node::Dir { mode },
                Kind::File { mode, size, probe } => Node::File { mode, size, probe: probe.map(|p| p + base) },
                Kind::Symlink { target } => Node::Symlink { target },
                Kind::Special { mode } => Node::Special { mode },
                Kind::Hardlink { target } => match self.nodes.get(&target) {
                    Some((n @ Node::File { .. }, _)) | Some((n @ Node::Special { .. }, _)) => n.clone(),
                    _ => {
                        self.dangling_hardlinks.push(format!("/{} -> /{}", lossy(&path), lossy(&target)));
                        continue;
                    }
                },
            };
            if path.is_empty() {
                if let Node::Dir { .. } = node {
                    self.nodes.insert(path, (node, layer));
                }
                continue;
            }
            self.ensure_parents(&path, layer);
            let keep_children = matches!(node, Node::Dir { .. });
            if let Some((old, _)) = self.nodes.get(&path)
                && matches!(old, Node::Dir { .. })
                && !keep_children
            {
                self.remove_below(&path);
            }
            self.nodes.insert(path, (node, layer));
        }
    }

    /// Resolve `path` (absolute, or relative to the root) through symlinks, as the kernel would in a chroot.
    /// Returns the final path (no leading `/`) and its node.
    pub fn resolve(&self, path: &[u8], follow_last: bool) -> Result<(Vec<u8>, &Node), ResolveError> {
        let mut hops = 0;
        let mut todo: Vec<Vec<u8>> =
            path.split(|b| *b == b'/').filter(|c| !c.is_empty()).rev().map(<[u8]>::to_vec).collect();
        let mut cur: Vec<Vec<u8>> = Vec::new();
        let mut node: &Node = self.get(b"").unwrap_or(&ROOT);
        while let Some(c) = todo.pop() {
            match &c[..] {
                b"." => continue,
                b".." => {
                    cur.pop();
                    node = self.get(&cur.join(&b'/')).unwrap_or(&ROOT);
                    continue;
                }
                _ => {}
            }
            if !matches!(node, Node::Dir { .. }) {
                return Err(ResolveError::NotDir(lossy(&cur.join(&b'/'))));
            }
            cur.push(c);
            let here = cur.join(&b'/');
            let Some(n) = self.get(&here) else { return Err(ResolveError::Missing(lossy(&here))) };
            match n {
                Node::Symlink { target } if follow_last || !todo.is_empty() => {
                    hops += 1;
                    if hops > MAX_HOPS {
                        return Err(ResolveError::Loop(lossy(&here)));
                    }
                    cur.pop();
                    if target.starts_with(b"/") {
                        cur.clear();
                    }
                    todo.extend(target.split(|b| *b == b'/').filter(|c| !c.is_empty()).rev().map(<[u8]>::to_vec));
                    node = self.get(&cur.join(&b'/')).unwrap_or(&ROOT);
                }
                n => node = n,
            }
        }
        Ok((cur.join(&b'/'), node))
    }

    /// Find a program the way exec*p does: a name with a `/` is a path (relative to `cwd`), else PATH is searched.
    pub fn which(&self, program: &str, path_var: &str, cwd: &str) -> Option<(Vec<u8>, &Node)> {
        if program.contains('/') {
            let full = if program.starts_with('/') { program.to_owned() } else { format!("{cwd}/{program}") };
            return self.resolve(full.as_bytes(), true).ok();
        }
        path_var.split(':').filter(|d| !d.is_empty()).find_map(|dir| {
            let (p, n) = self.resolve(format!("{dir}/{program}").as_bytes(), true).ok()?;
            matches!(n, Node::File { .. }).then_some((p, n))
        })
    }
}

static ROOT: Node = Node::Dir { mode: 0o755 };

#[cfg(test)]
mod tests {
    use super::*;

    fn e(path: &str, kind: Kind) -> Entry {
        Entry { path: path.as_bytes().into(), kind }
    }
    fn file(path: &str) -> Entry {
        e(path, Kind::File { mode: 0o755, size: 1, probe: None })
    }
    fn link(path: &str, target: &str) -> Entry {
        e(path, Kind::Symlink { target: target.as_bytes().into() })
    }
    fn layer(entries: Vec<Entry>) -> Summary {
        Summary { entries, ..Summary::default() }
    }

    #[test]
    fn whiteouts_hide_lower_layers_only() {
        let mut v = View::new();
        v.apply(0, layer(vec![file("etc/a"), file("etc/b"), file("opt/x/y"), file("opt/z")]));
        v.apply(1, layer(vec![e("etc/a", Kind::Whiteout), file("etc/c"), e("opt", Kind::Opaque), file("opt/new")]));
        assert!(v.get(b"etc/a").is_none());
        assert!(v.get(b"etc/b").is_some());
        assert!(v.get(b"opt/x/y").is_none() && v.get(b"opt/x").is_none() && v.get(b"opt/z").is_none());
        assert!(v.get(b"opt/new").is_some());
        assert!(matches!(v.get(b"opt"), Some(Node::Dir { .. })));
        // A whiteout in the same layer as the entry does not hide it.
        v.apply(2, layer(vec![file("srv/f"), e("srv/f", Kind::Whiteout)]));
        assert!(v.get(b"srv/f").is_some());
    }

    #[test]
    fn file_replacing_dir_drops_its_children() {
        let mut v = View::new();
        v.apply(0, layer(vec![file("a/b/c")]));
        v.apply(1, layer(vec![file("a/b")]));
        assert!(v.get(b"a/b/c").is_none());
        assert!(matches!(v.get(b"a/b"), Some(Node::File { .. })));
        // Sibling names sharing the prefix survive.
        v.apply(2, layer(vec![file("a/bz"), e("a/b", Kind::Whiteout)]));
        v.apply(3, layer(vec![e("a/b", Kind::Whiteout)]));
        assert!(v.get(b"a/bz").is_some());
    }

    #[test]
    fn resolves_symlinks_across_layers() {
        let mut v = View::new();
        v.apply(0, layer(vec![file("usr/lib/systemd/systemd"), link("lib", "usr/lib")]));
        v.apply(1, layer(vec![link("sbin/init", "../lib/systemd/systemd"), link("init", "/sbin/init")]));
        let (p, n) = v.resolve(b"/init", true).unwrap();
        assert_eq!(p, b"usr/lib/systemd/systemd");
        assert!(matches!(n, Node::File { .. }));
        let (p, _) = v.resolve(b"/init", false).unwrap();
        assert_eq!(p, b"init");
        // ".." above the root stays at the root.
        v.apply(2, layer(vec![link("up", "../../../../usr")]));
        assert_eq!(v.resolve(b"/up/lib/systemd/systemd", true).unwrap().0, b"usr/lib/systemd/systemd");
    }

    #[test]
    fn loops_and_missing_are_errors() {
        let mut v = View::new();
        v.apply(0, layer(vec![link("a", "b"), link("b", "/a"), link("self", "self"), file("f")]));
        assert!(matches!(v.resolve(b"/a", true), Err(ResolveError::Loop(_))));
        assert!(matches!(v.resolve(b"/self/x", true), Err(ResolveError::Loop(_))));
        assert!(matches!(v.resolve(b"/nope", true), Err(ResolveError::Missing(_))));
        assert!(matches!(v.resolve(b"/f/x", true), Err(ResolveError::NotDir(_))));
    }

    #[test]
    fn hardlinks_copy_their_target() {
        let mut v = View::new();
        v.apply(0, layer(vec![file("bin/a")]));
        v.apply(1, layer(vec![e("bin/b", Kind::Hardlink { target: b"bin/a".to_vec().into() })]));
        v.apply(2, layer(vec![e("bin/c", Kind::Hardlink { target: b"bin/none".to_vec().into() })]));
        assert!(matches!(v.get(b"bin/b"), Some(Node::File { .. })));
        assert_eq!(v.dangling_hardlinks.len(), 1);
    }

    #[test]
    fn which_searches_path() {
        let mut v = View::new();
        v.apply(0, layer(vec![file("usr/bin/systemctl"), link("bin", "usr/bin")]));
        assert_eq!(v.which("systemctl", "/sbin:/bin", "/").unwrap().0, b"usr/bin/systemctl");
        assert!(v.which("systemctl", "/sbin", "/").is_none());
        assert_eq!(v.which("bin/systemctl", "", "/usr").unwrap().0, b"usr/bin/systemctl");
    }
}
