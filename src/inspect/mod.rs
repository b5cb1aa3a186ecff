//! `nixos2docker inspect PATH [--json]`: read a docker-archive or an OCI image layout and say whether (and how)
//! it will boot, with a remedy per finding and the minimal `docker run` line.
//!
//! PATH is a docker-archive (`docker save`, nixpkgs dockerTools: `manifest.json` + config + layer tars, the whole
//! plain or gzip-compressed, layers plain or gzip-compressed) or an OCI image layout (a directory, or a tar of
//! one, plain or gzip-compressed: `index.json` → manifest → config and layers under `blobs/sha256/`).
//!
//! Nothing is extracted and nothing is written. Each layer is read once, as a stream, in image order (a
//! gzip-compressed archive is read twice: once for its small metadata members, once for the layers, which are
//! then summarized in archive order and stacked in image order). What is kept of a layer is the metadata of its
//! entries and a bounded read of the few files the checks need (the entrypoint, systemd binaries, the init's
//! config). Every blob read is checked: OCI blobs against their descriptor's sha256 and size, docker-archive
//! configs against their `<sha256>.json` name, and every layer's uncompressed tar against the config's
//! `rootfs.diff_ids`.
//!
//! Limits: at most 4 million entries per image and 64 MiB read of any one probed file; zstd-compressed layers
//! and archives are refused. Memory grows with the number of paths (about 150 bytes each), not with the data;
//! one exception is in the tar reader: a PAX or GNU long-name extension header is held whole, so a layer with
//! a gigantic extension header (e.g. a gzip bomb) costs that much memory.
//!
//! # Exit codes
//!
//! | code | meaning |
//! |------|---------|
//! | 0    | the image boots, with the printed `docker run` line (warnings may remain) |
//! | 1    | findings with errors: the image will not boot as it is, whatever the flags; rebuild it |
//! | 2    | usage error (bad command line) |
//! | 3    | unreadable or invalid archive: not found, not an image, truncated, digest mismatch, unsafe member names |
//!
//! A finding is an error only when no `docker run` flag can fix it (no systemd, wrong OS, too many layers,
//! entries escaping the root, an invalid init config); what a flag fixes (`--tmpfs /run`, `--stop-signal`,
//! `--entrypoint`, `--user 0`, stock systemd's cgroup flags) is a warning, and the flag is in the `docker run` line.

pub mod archive;
pub mod findings;
pub mod fsview;
pub mod image;
pub mod layer;
pub mod report;

use std::collections::BTreeMap;
use std::path::Path;

use crate::exit_code;

pub struct Options {
    pub path: std::path::PathBuf,
    pub json: bool,
}

/// Why an archive could not be read: one line, for `nixos2docker: error: …`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InspectError(pub String);

pub fn run(opts: Options) -> u8 {
    match inspect(&opts.path) {
        Ok(report) => {
            if opts.json {
                println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
            } else {
                print!("{}", report::text(&report));
            }
            report.exit_code
        }
        Err(e) => {
            // One line, whatever a parser put into its message.
            let msg = e.to_string().split_whitespace().collect::<Vec<_>>().join(" ");
            log::error!("inspect {}: {msg}", opts.path.display());
            exit_code::INSPECT_INVALID
        }
    }
}

/// Read the image at `path` and judge it.
pub fn inspect(path: &Path) -> Result<report::Report, InspectError> {
    let mut store = archive::open(path)?;
    let img = image::load(&mut *store)?;
    let wanted = wanted_for(&img);
    let names: Vec<String> = img.layers.iter().map(|l| l.name.clone()).collect();
    let mut view = fsview::View::new();
    let mut pending: BTreeMap<usize, layer::Summary> = BTreeMap::new();
    let mut infos: Vec<Option<report::LayerInfo>> = vec![None; img.layers.len()];
    let mut facts = findings::LayerFacts::default();
    let mut next = 0usize;
    let mut budget = layer::MAX_ENTRIES;
    store.visit(&names, &mut |idx, reader| {
        let first = idx[0];
        let lref = &img.layers[first];
        let what = format!("layer {} ({})", first + 1, lref.name);
        let s = match layer::read_layer(reader, &wanted, &mut budget) {
            Ok(s) => s,
            Err(e) => {
                // A corrupted blob is a digest mismatch, whatever the tar reader tripped over first.
                if let (Some(expected), Some(actual)) = (lref.digest.as_ref(), e.blob_digest.as_ref())
                    && expected != actual
                {
                    return Err(InspectError(format!(
                        "digest mismatch for {what}: expected sha256:{expected}, got sha256:{actual}"
                    )));
                }
                return Err(InspectError(format!("{what}: {}", e.error)));
            }
        };
        for &i in idx {
            check_layer(&img.layers[i], i, &s)?;
            infos[i] = Some(report::LayerInfo {
                digest: format!("sha256:{}", s.blob_digest),
                diff_id: format!("sha256:{}", s.diff_id),
                compression: s.compression,
                size: s.blob_size,
                uncompressed_size: s.tar_size,
            });
            if !s.escaping.is_empty() {
                facts.escaping.push((i + 1, s.escaping.clone()));
            }
        }
        if let Some((&last, rest)) = idx.split_last() {
            for &i in rest {
                pending.insert(i, s.clone());
            }
            pending.insert(last, s);
        }
        while let Some(s) = pending.remove(&next) {
            view.apply(u16::try_from(next).unwrap_or(u16::MAX), s);
            next += 1;
        }
        Ok(())
    })?;
    if next != img.layers.len() {
        return Err(InspectError(format!("layer {} was not found in the archive", next + 1)));
    }
    facts.escaping.sort();
    let layers: Vec<report::LayerInfo> = infos.into_iter().flatten().collect();
    let j = findings::judge(&img, &view, &facts);
    let code = if j.has_errors() { exit_code::INSPECT_WILL_NOT_BOOT } else { exit_code::OK };
    Ok(report::build(path, &img, layers, view.len(), j, code))
}

fn check_layer(l: &image::LayerRef, i: usize, s: &layer::Summary) -> Result<(), InspectError> {
    let what = format!("layer {} ({})", i + 1, l.name);
    if let Some(size) = l.size
        && size != s.blob_size
    {
        return Err(InspectError(format!("{what}: the manifest says {size} bytes, the blob has {}", s.blob_size)));
    }
    if let Some(d) = &l.digest
        && *d != s.blob_digest
    {
        return Err(InspectError(format!(
            "digest mismatch for {what}: expected sha256:{d}, got sha256:{}",
            s.blob_digest
        )));
    }
    if l.diff_id != s.diff_id {
        return Err(InspectError(format!(
            "digest mismatch for {what}: the config's diff_id is sha256:{}, the uncompressed layer is sha256:{}",
            l.diff_id, s.diff_id
        )));
    }
    Ok(())
}

/// The files whose bytes the checks need, known before the layers are read: the entrypoint (as written and in
/// every PATH directory when it is a bare name), the usual init and systemd paths, the init's config.
fn wanted_for(img: &image::Image) -> layer::Wanted {
    let mut w = layer::Wanted::default();
    let mut add = |p: &str| {
        if let Some(n) = layer::normalize(p.as_bytes()) {
            w.exact.insert(n);
        }
    };
    let cfg = img.config.config().clone().unwrap_or_default();
    let prog = cfg.entrypoint().as_ref().and_then(|e| e.first()).or_else(|| cfg.cmd().as_ref().and_then(|c| c.first()));
    if let Some(p) = prog {
        if p.contains('/') {
            let cwd = cfg.working_dir().clone().unwrap_or_default();
            add(&if p.starts_with('/') { p.clone() } else { format!("{cwd}/{p}") });
        } else {
            let env = cfg.env().clone().unwrap_or_default();
            let path = env.iter().rev().find_map(|e| e.strip_prefix("PATH=")).unwrap_or(findings::DOCKER_DEFAULT_PATH);
            for d in path.split(':') {
                add(&format!("{d}/{p}"));
            }
        }
    }
    for p in crate::sys::DEFAULT_TARGETS {
        add(p);
    }
    add("/init");
    add("/usr/local/bin/nixos2docker");
    add(crate::config::DEFAULT_CONFIG_PATH);
    w
}
