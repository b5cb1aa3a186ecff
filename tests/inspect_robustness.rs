//! Hostile and broken inputs for `nixos2docker inspect`: each gets a clear error (exit 3) or a finding, never a
//! panic and never a write.

mod inspect_gen;

use inspect_gen::*;
use nixos2docker::checks::Severity;
use nixos2docker::inspect;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn write(tag: &str, name: &str, bytes: &[u8]) -> PathBuf {
    let p = tempdir(tag).join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn good() -> Img {
    Img::new(vec![base_layer(&systemd_bin(262, Some("262.1"))), init_layer()])
}

fn error_of(path: &Path) -> String {
    match inspect::inspect(path) {
        Ok(r) => panic!("expected an error, got a report: {}", inspect::report::text(&r)),
        Err(e) => e.to_string(),
    }
}

/// A tar whose members are given as raw (name, declared size, data).
fn raw_tar(members: &[(&[u8], u64, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, size, data) in members {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_size(*size);
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.extend_from_slice(&[0; 1024]);
    out
}

#[test]
fn truncated_archives_are_errors_at_every_cut() {
    let plain = docker_archive(&good());
    let gz = gzip(&plain);
    // Cutting only padding and end-of-archive blocks leaves every byte of content: that may pass. A cut into
    // content (or into the gzip stream, trailer included) must fail.
    for (tag, bytes, must_fail_below) in [("trunc", &plain, plain.len() - 1024 - 512), ("trunc-gz", &gz, gz.len())] {
        let step = (bytes.len() / 97).max(1);
        for cut in (0..bytes.len()).step_by(step).chain(bytes.len() - 9..bytes.len()) {
            let p = write(tag, "img.tar", &bytes[..cut]);
            let r = inspect::inspect(&p);
            if cut < must_fail_below {
                assert!(r.is_err(), "{tag}: cut at {cut}/{} was accepted", bytes.len());
            }
        }
    }
    let p = write("trunc-msg", "img.tar", &plain[..plain.len() / 2]);
    let e = error_of(&p);
    assert!(e.contains("truncated") || e.contains("missing"), "{e}");
}

#[test]
fn missing_manifest_and_not_an_archive() {
    let p = write("nomani", "img.tar", &raw_tar(&[(b"hello.txt", 5, b"hello")]));
    assert!(error_of(&p).contains("missing manifest"), "{}", error_of(&p));
    let p = write("garbage", "img.tar", &[0x42; 4096]);
    assert!(error_of(&p).contains("not a tar archive"));
    let p = write("empty", "img.tar", b"");
    assert!(error_of(&p).contains("empty"));
    let d = tempdir("emptydir");
    assert!(error_of(&d).contains("missing manifest"));
    assert!(error_of(Path::new("/nonexistent/img.tar")).contains("cannot read"));
    let p = write("badjson", "img.tar", &raw_tar(&[(b"manifest.json", 3, b"{]}")]));
    assert!(error_of(&p).contains("manifest.json"), "{}", error_of(&p));
}

#[test]
fn digest_mismatches() {
    // A layer whose content changed after the config was written: diff_id mismatch.
    let mut img = good();
    let mut changed = img.layers[1].clone();
    let i = changed.windows(19).position(|w| w == b"NIXOS2DOCKER_CONFIG").unwrap();
    changed[i] = b'X';
    img.layers[1] = changed;
    let mut cfg_img = good();
    cfg_img.layers = img.layers.clone(); // config keeps the old diff_ids
    let e = error_of(&write("dm-da", "img.tar", &docker_archive(&cfg_img)));
    assert!(e.contains("digest mismatch") && e.contains("layer 2"), "{e}");
    let e = error_of(&write("dm-dagz", "img.tar.gz", &gzip(&docker_archive(&cfg_img))));
    assert!(e.contains("digest mismatch"), "{e}");

    // An OCI blob altered on disk.
    let dir = tempdir("dm-oci");
    oci_dir(&good(), &dir);
    let blobs: Vec<PathBuf> = std::fs::read_dir(dir.join("blobs/sha256")).unwrap().map(|e| e.unwrap().path()).collect();
    let layer = blobs.iter().max_by_key(|p| std::fs::metadata(p).unwrap().len()).unwrap();
    let mut bytes = std::fs::read(layer).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 1;
    std::fs::write(layer, bytes).unwrap();
    let e = error_of(&dir);
    assert!(e.contains("digest mismatch"), "{e}");

    // A docker-archive config that does not match its <sha256>.json name.
    let img = good();
    let mut archive = docker_archive(&img);
    let needle = br#""StopSignal":"SIGRTMIN+3""#;
    let i = archive.windows(needle.len()).position(|w| w == needle).unwrap();
    archive[i + 14] = b'X';
    let e = error_of(&write("dm-cfg", "img.tar", &archive));
    assert!(e.contains("digest mismatch for config"), "{e}");
}

#[test]
fn unsafe_member_names_in_manifests() {
    let mut b = tar::Builder::new(Vec::new());
    let manifest = br#"[{"Config":"../../etc/passwd","RepoTags":null,"Layers":[]}]"#;
    let mut h = tar::Header::new_gnu();
    h.set_size(manifest.len() as u64);
    h.set_mode(0o644);
    b.append_data(&mut h, "manifest.json", &manifest[..]).unwrap();
    let p = write("unsafe", "img.tar", &b.into_inner().unwrap());
    assert!(error_of(&p).contains("unsafe"), "{}", error_of(&p));
    // Same in a directory: never read outside it.
    let d = tempdir("unsafe-dir");
    std::fs::write(d.join("manifest.json"), r#"[{"Config":"/etc/hostname","Layers":[]}]"#).unwrap();
    assert!(error_of(&d).contains("unsafe"));
}

#[test]
fn absolute_dotdot_and_non_utf8_entries_in_layers() {
    let hostile = layer(&[
        E::RawName(b"/etc/absolute".to_vec(), b"a".to_vec()),
        E::RawName(b"../../escape".to_vec(), b"e".to_vec()),
        E::RawName(b"etc/caf\xe9-\xff".to_vec(), b"n".to_vec()),
        E::RawName(b"a/../etc/normalized".to_vec(), b"x".to_vec()),
    ]);
    let img = Img::new(vec![base_layer(&systemd_bin(262, Some("262.1"))), init_layer(), hostile]);
    let r = inspect::inspect(&write("hostile", "img.tar", &docker_archive(&img))).unwrap();
    let f = r.findings.iter().find(|f| f.id == "layer-paths").expect("escaping entries are reported");
    assert_eq!(f.severity, Severity::Error);
    assert!(f.message.contains("layer 3") && f.message.contains("../../escape"), "{}", f.message);
    assert_eq!(r.exit_code, 1);
    // The absolute and the non-UTF-8 names are indexed.
    let mut view = inspect::fsview::View::new();
    let s = inspect::layer::read(&mut &img.layers[2][..], &Default::default(), &mut 100).unwrap();
    view.apply(0, s);
    assert!(view.get(b"etc/absolute").is_some());
    assert!(view.get(b"etc/caf\xe9-\xff").is_some());
    assert!(view.get(b"etc/normalized").is_some());
    // Non-UTF-8 text in the report is lossy, and the JSON is valid.
    assert!(serde_json::to_string(&r).is_ok());
}

#[test]
fn absurd_declared_sizes() {
    // An outer member declaring 1 TiB with a few bytes behind it.
    let p = write("absurd-outer", "img.tar", &raw_tar(&[(b"manifest.json", 1 << 40, b"[]")]));
    let e = error_of(&p);
    assert!(e.contains("truncated"), "{e}");
    // Same in a gzip stream (cannot seek: the stream ends early).
    let p = write("absurd-outer-gz", "img.tar.gz", &gzip(&raw_tar(&[(b"manifest.json", 1 << 40, b"[]")])));
    assert!(error_of(&p).contains("truncated") || error_of(&p).contains("manifest"), "{}", error_of(&p));
    // A layer entry declaring 1 TiB.
    let mut l = raw_tar(&[(b"usr/lib/systemd/systemd", 1 << 40, b"\x7fELF")]);
    l.truncate(l.len() - 1024);
    let img = Img::new(vec![l]);
    let e = error_of(&write("absurd-layer", "img.tar", &docker_archive(&img)));
    assert!(e.contains("layer 1"), "{e}");
    // An OCI descriptor lying about a blob's size.
    let dir = tempdir("absurd-oci");
    let img = good();
    let mut files = oci_files(&img);
    let cfg = serde_json::to_vec(&img.config).unwrap();
    let cfg_len = format!("\"size\":{}", cfg.len());
    for (name, data) in files.iter_mut() {
        if name.starts_with("blobs/") && data.windows(9).any(|w| w == b"\"layers\":") {
            let s = String::from_utf8(data.clone()).unwrap().replace(&cfg_len, "\"size\":18446744073709551615");
            *data = s.into_bytes();
        }
    }
    // Re-point the index at the edited manifest.
    let manifest = files
        .iter()
        .find(|(n, d)| n.starts_with("blobs/") && d.windows(9).any(|w| w == b"\"layers\":"))
        .unwrap()
        .1
        .clone();
    let md = sha(&manifest);
    for (name, data) in files.iter_mut() {
        if name == "index.json" {
            let mut v: serde_json::Value = serde_json::from_slice(data).unwrap();
            v["manifests"][0]["digest"] = format!("sha256:{md}").into();
            v["manifests"][0]["size"] = manifest.len().into();
            *data = serde_json::to_vec(&v).unwrap();
        }
    }
    files.push((format!("blobs/sha256/{md}"), manifest));
    for (name, data) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
    let e = error_of(&dir);
    assert!(e.contains("18446744073709551615"), "{e}");
}

#[test]
fn ten_gigabyte_sparse_entries() {
    // In a layer: indexed with its real size without reading 10 GB, even where its bytes are wanted.
    let big = 10u64 << 30;
    let l = layer(&[E::Sparse("var/lib/big.img", big), E::Sparse("usr/lib/systemd/systemd", big)]);
    let img = Img::new(vec![base_layer(&systemd_bin(262, Some("262.1"))), init_layer(), l.clone()]);
    let t = Instant::now();
    let r = inspect::inspect(&write("sparse", "img.tar", &docker_archive(&img))).unwrap();
    eprintln!("10 GB sparse entries inspected in {:?}", t.elapsed());
    assert!(r.files > 0);
    let s = inspect::layer::read(&mut &l[..], &Default::default(), &mut 10).unwrap();
    assert!(s.entries.iter().any(|e| matches!(e.kind, inspect::layer::Kind::File { size, .. } if size == big)));
    // The sparse systemd replaced the real one: nothing recognizable is left.
    assert_eq!(r.boot.systemd_path, None, "{}", inspect::report::text(&r));
    // As an outer member (a sparse layer.tar): refused, not expanded.
    let mut outer = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::GNUSparse);
    h.set_size(512);
    h.set_path("manifest.json").unwrap();
    let g = h.as_gnu_mut().unwrap();
    g.set_real_size(big);
    g.sparse[0].set_offset(big - 512);
    g.sparse[0].set_length(512);
    h.set_cksum();
    outer.append(&h, &[b' '; 512][..]).unwrap();
    let bytes = outer.into_inner().unwrap();
    assert!(error_of(&write("sparse-outer", "img.tar", &bytes)).contains("sparse"));
    let e = error_of(&write("sparse-outer-gz", "img.tar.gz", &gzip(&bytes)));
    assert!(!e.is_empty());
}

#[test]
fn symlink_loops_everywhere_terminate() {
    let l = layer(&[
        E::Link("init", "init"),
        E::Link("sbin", "sbin/x"),
        E::Link("lib", "usr/lib"),
        E::Link("usr", "lib"),
        E::Link("etc/nixos2docker", "/etc/nixos2docker"),
        E::Link("usr/local", "../.."),
    ]);
    let r = inspect::inspect(&write("loops", "img.tar", &docker_archive(&Img::new(vec![l])))).unwrap();
    assert_eq!(r.exit_code, 1);
    assert!(r.findings.iter().any(|f| f.id == "entrypoint" && f.message.contains("symbolic links")));
}

// --- the binary ---------------------------------------------------------------------------------------------

fn bin(args: &[&str], cwd: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nixos2docker")).args(args).current_dir(cwd).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn binary_exit_codes_and_one_error_line() {
    let cwd = tempdir("bin-cwd");
    let good_p = write("bin-good", "img.tar", &docker_archive(&good()));
    let (code, out, err) = bin(&["inspect", good_p.to_str().unwrap()], &cwd);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("docker run -d nixos2docker-test:latest"), "{out}");
    let (code, out, _) = bin(&["inspect", "--json", good_p.to_str().unwrap()], &cwd);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["exitCode"], 0);

    let broken = Img::new(vec![layer(&[file("bin/sh", 0o755, b"#!x")])]);
    let (code, out, _) =
        bin(&["inspect", write("bin-broken", "img.tar", &docker_archive(&broken)).to_str().unwrap()], &cwd);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL"), "{out}");

    for bad in [write("bin-trunc", "img.tar", &docker_archive(&good())[..3000]), PathBuf::from("/nonexistent")] {
        let (code, out, err) = bin(&["inspect", bad.to_str().unwrap()], &cwd);
        assert_eq!(code, 3, "{bad:?}: {out}{err}");
        assert!(out.is_empty(), "{out}");
        assert_eq!(err.lines().count(), 1, "one error line: {err}");
        assert!(err.starts_with("nixos2docker: error: inspect "), "{err}");
    }
    assert_eq!(std::fs::read_dir(&cwd).unwrap().count(), 0, "inspect wrote into its working directory");
}

#[test]
fn inspect_writes_nothing() {
    let dir = tempdir("nowrite");
    let mut img = good();
    img.gzip_layers = true;
    oci_dir(&img, &dir);
    let snapshot = |d: &Path| {
        let mut v: Vec<(PathBuf, u64, std::time::SystemTime)> = Vec::new();
        let mut stack = vec![d.to_owned()];
        while let Some(p) = stack.pop() {
            for e in std::fs::read_dir(&p).unwrap() {
                let e = e.unwrap();
                let m = e.metadata().unwrap();
                if m.is_dir() {
                    stack.push(e.path());
                }
                v.push((e.path(), m.len(), m.modified().unwrap()));
            }
        }
        v.sort();
        v
    };
    let before = snapshot(&dir);
    let r = inspect::inspect(&dir).unwrap();
    assert_eq!(r.exit_code, 0);
    assert_eq!(snapshot(&dir), before);
}
