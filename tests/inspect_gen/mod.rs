//! Image archives for the `inspect` tests, made with the tar crate: layers, docker-archives (plain or gzip, with
//! plain or gzip layers) and OCI layouts (directory, tar, tar.gz), plus hand-made hostile entries.
#![allow(dead_code)]

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;

pub fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// A fake systemd binary: what `systemd_bin::detect` reads.
pub fn systemd_bin(version: u32, patched: Option<&str>) -> Vec<u8> {
    let mut b = b"\x7fELF\x02\x01\x01\0\0\0libc.so.6\0".to_vec();
    b.extend_from_slice(format!("libsystemd-shared-{version}.so\0").as_bytes());
    b.extend_from_slice(&[0u8; 300]);
    if let Some(p) = patched {
        b.extend_from_slice(format!("NIXOS2DOCKER_PATCHED_SYSTEMD={p}\0").as_bytes());
    }
    b
}

/// A fake nixos2docker binary (ELF magic + the config variable's name + the marker as a constant).
pub fn our_init() -> Vec<u8> {
    b"\x7fELF\x02\x01\x01\0NIXOS2DOCKER_CONFIG\0/etc/nixos2docker/config.json\0NIXOS2DOCKER_PATCHED_SYSTEMD=\0".to_vec()
}

/// One entry of a layer.
#[derive(Clone)]
pub enum E {
    Dir(&'static str, u32),
    File(String, u32, Vec<u8>),
    Link(&'static str, &'static str),
    Hard(&'static str, &'static str),
    /// Name written verbatim into the header (absolute paths, `..`, non-UTF-8), regular file.
    RawName(Vec<u8>, Vec<u8>),
    /// A GNU sparse file of `real` bytes with one 512-byte data block at its end.
    Sparse(&'static str, u64),
}

pub fn file(path: &str, mode: u32, data: &[u8]) -> E {
    E::File(path.to_owned(), mode, data.to_vec())
}

pub fn layer(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1);
        match e {
            E::Dir(p, mode) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(*mode);
                h.set_size(0);
                b.append_data(&mut h, p, &[][..]).unwrap();
            }
            E::File(p, mode, data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                h.set_size(data.len() as u64);
                b.append_data(&mut h, p, &data[..]).unwrap();
            }
            E::Link(p, t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, p, t).unwrap();
            }
            E::Hard(p, t) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                b.append_link(&mut h, p, t).unwrap();
            }
            E::RawName(name, data) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(data.len() as u64);
                let old = h.as_old_mut();
                old.name = [0; 100];
                old.name[..name.len()].copy_from_slice(name);
                h.set_cksum();
                b.append(&h, &data[..]).unwrap();
            }
            E::Sparse(p, real) => {
                h.set_entry_type(tar::EntryType::GNUSparse);
                h.set_mode(0o644);
                h.set_size(512);
                h.set_path(p).unwrap();
                let g = h.as_gnu_mut().unwrap();
                g.set_real_size(*real);
                g.sparse[0].set_offset(real - 512);
                g.sparse[0].set_length(512);
                h.set_cksum();
                b.append(&h, &[7u8; 512][..]).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

/// A typical bootable layer set: base system with stock or patched systemd, and our init on top.
pub fn base_layer(systemd: &[u8]) -> Vec<u8> {
    layer(&[
        E::Dir("usr", 0o755),
        E::Dir("usr/lib", 0o755),
        E::Dir("usr/lib/systemd", 0o755),
        file("usr/lib/systemd/systemd", 0o755, systemd),
        file("usr/bin/systemctl", 0o755, b"\x7fELF systemctl"),
        file("usr/bin/su", 0o4755, b"\x7fELF su"),
        E::Link("lib", "usr/lib"),
        E::Link("bin", "usr/bin"),
        E::Link("sbin/init", "../lib/systemd/systemd"),
        E::Dir("tmp", 0o1777),
        E::Dir("etc", 0o755),
        file("etc/os-release", 0o644, b"ID=debian\n"),
    ])
}

pub fn init_layer() -> Vec<u8> {
    layer(&[file("usr/local/bin/nixos2docker", 0o755, &our_init()), E::Link("init", "/usr/local/bin/nixos2docker")])
}

/// The image config nixos2docker images carry (profile.image), with `layers`' diff_ids.
pub fn good_config(diff_ids: &[String]) -> Value {
    json!({
        "architecture": host_arch(),
        "os": "linux",
        "config": {
            "Entrypoint": ["/init"],
            "Env": ["container=docker", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "StopSignal": "SIGRTMIN+3",
            "Volumes": {"/run": {}, "/run/lock": {}, "/tmp": {}},
            "Labels": {"org.nixos2docker.systemd": "true"},
            "ExposedPorts": {"22/tcp": {}},
            "Healthcheck": {"Test": ["CMD", "systemctl", "is-system-running", "--quiet"], "Interval": 10000000000u64,
                            "Timeout": 5000000000u64, "StartPeriod": 30000000000u64, "Retries": 3}
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids.iter().map(|d| format!("sha256:{d}")).collect::<Vec<_>>()}
    })
}

pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    }
}

/// An image: plain layer tars (uncompressed) and a config whose diff_ids are filled in by `config_for`.
pub struct Img {
    pub layers: Vec<Vec<u8>>,
    pub config: Value,
    pub gzip_layers: bool,
    pub tag: Option<String>,
    /// Write manifest.json first and the layers last-to-first (as `docker save` orders blobs by digest).
    pub shuffled: bool,
}

impl Img {
    pub fn new(layers: Vec<Vec<u8>>) -> Img {
        let diff_ids: Vec<String> = layers.iter().map(|l| sha(l)).collect();
        Img {
            config: good_config(&diff_ids),
            layers,
            gzip_layers: false,
            tag: Some("nixos2docker-test:latest".into()),
            shuffled: false,
        }
    }

    pub fn diff_ids(&self) -> Vec<String> {
        self.layers.iter().map(|l| sha(l)).collect()
    }

    /// Change the runtime config (`config` key) with `f`.
    pub fn with(mut self, f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Img {
        f(self.config["config"].as_object_mut().unwrap());
        self
    }

    fn blobs(&self) -> Vec<Vec<u8>> {
        self.layers.iter().map(|l| if self.gzip_layers { gzip(l) } else { l.clone() }).collect()
    }
}

fn append(b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_mtime(1);
    b.append_data(&mut h, name, data).unwrap();
}

/// A docker-archive as `docker save` (pre-25) or dockerTools writes it: `<id>/layer.tar`, `<config>.json`,
/// `manifest.json` last (so a streaming reader must cope with it coming after the layers).
pub fn docker_archive(img: &Img) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let config = serde_json::to_vec(&img.config).unwrap();
    let config_name = format!("{}.json", sha(&config));
    let mut members = Vec::new();
    let mut layer_names = Vec::new();
    for (i, blob) in img.blobs().into_iter().enumerate() {
        let name = format!("{:064x}/layer.tar", i + 1);
        layer_names.push(name.clone());
        members.push((name, blob));
    }
    let manifest =
        json!([{ "Config": config_name, "RepoTags": img.tag.iter().collect::<Vec<_>>(), "Layers": layer_names }]);
    let manifest = ("manifest.json".to_string(), serde_json::to_vec(&manifest).unwrap());
    if img.shuffled {
        members.reverse();
        members.insert(0, manifest);
        members.insert(1, (config_name, config));
    } else {
        members.push((config_name, config));
        members.push(manifest);
    }
    for (name, data) in members {
        append(&mut b, &name, &data);
    }
    b.into_inner().unwrap()
}

/// The files of an OCI image layout: (path, bytes), blobs first, index.json last.
pub fn oci_files(img: &Img) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let config = serde_json::to_vec(&img.config).unwrap();
    let layer_media = if img.gzip_layers {
        "application/vnd.oci.image.layer.v1.tar+gzip"
    } else {
        "application/vnd.oci.image.layer.v1.tar"
    };
    let mut layers = Vec::new();
    for blob in img.blobs() {
        let d = sha(&blob);
        layers.push(json!({"mediaType": layer_media, "digest": format!("sha256:{d}"), "size": blob.len()}));
        files.push((format!("blobs/sha256/{d}"), blob));
    }
    let cd = sha(&config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{cd}"), "size": config.len()},
        "layers": layers
    }))
    .unwrap();
    files.push((format!("blobs/sha256/{cd}"), config));
    let md = sha(&manifest);
    let mut desc = json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": format!("sha256:{md}"),
                          "size": manifest.len(), "platform": {"architecture": host_arch(), "os": "linux"}});
    if let Some(t) = &img.tag {
        desc["annotations"] = json!({"io.containerd.image.name": t, "org.opencontainers.image.ref.name": "latest"});
    }
    files.push((format!("blobs/sha256/{md}"), manifest));
    files.push(("oci-layout".into(), br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()));
    let index =
        json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [desc]});
    files.push(("index.json".into(), serde_json::to_vec(&index).unwrap()));
    files
}

pub fn oci_dir(img: &Img, dir: &Path) {
    for (name, data) in oci_files(img) {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
}

pub fn oci_tar(img: &Img) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in oci_files(img) {
        append(&mut b, &name, &data);
    }
    b.into_inner().unwrap()
}

/// A fresh temporary directory under cargo's target dir (so nothing piles up in /tmp; the next run empties it).
pub fn tempdir(tag: &str) -> std::path::PathBuf {
    let base = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("inspect-{tag}"));
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    base
}

/// What `docker save` writes since Docker 25: an OCI layout plus a docker-archive manifest.json whose config
/// and layers are `blobs/sha256/…` paths.
pub fn docker25_archive(img: &Img) -> Vec<u8> {
    let files = oci_files(img);
    let config = serde_json::to_vec(&img.config).unwrap();
    let layers: Vec<String> = img.blobs().iter().map(|b| format!("blobs/sha256/{}", sha(b))).collect();
    let manifest = json!([{ "Config": format!("blobs/sha256/{}", sha(&config)),
                            "RepoTags": img.tag.iter().collect::<Vec<_>>(), "Layers": layers }]);
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        append(&mut b, &name, &data);
    }
    append(&mut b, "manifest.json", &serde_json::to_vec(&manifest).unwrap());
    b.into_inner().unwrap()
}
