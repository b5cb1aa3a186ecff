//! `nixos2docker inspect` on generated images: both formats, plain and gzip, multi-layer with whiteouts; the
//! findings and the `docker run` line; and the real `docker save` fixtures when the harness has captured some.

mod inspect_gen;

use inspect_gen::*;
use nixos2docker::checks::Severity;
use nixos2docker::inspect::{self, report::Report};
use std::path::{Path, PathBuf};

fn write(tag: &str, name: &str, bytes: &[u8]) -> PathBuf {
    let dir = tempdir(tag);
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn run(path: &Path) -> Report {
    inspect::inspect(path).unwrap_or_else(|e| panic!("inspect {}: {e}", path.display()))
}

fn sev(r: &Report, id: &str) -> Vec<Severity> {
    r.findings.iter().filter(|f| f.id == id).map(|f| f.severity).collect()
}

fn worst(r: &Report, id: &str) -> Severity {
    sev(r, id).into_iter().max().unwrap_or_else(|| panic!("no finding {id}: {:#?}", r.findings))
}

fn good_image() -> Img {
    Img::new(vec![base_layer(&systemd_bin(262, Some("262.1"))), init_layer()])
}

fn assert_good(r: &Report) {
    assert_eq!(r.exit_code, 0, "{}", inspect::report::text(r));
    assert!(r.boots);
    assert_eq!(r.tags, vec!["nixos2docker-test:latest"]);
    assert_eq!(r.layers.len(), 2);
    assert_eq!(r.boot.resolved.as_deref(), Some("/usr/local/bin/nixos2docker"));
    assert_eq!(r.boot.systemd_path.as_deref(), Some("/usr/lib/systemd/systemd"));
    assert_eq!(r.boot.systemd_version, Some(262));
    assert_eq!(r.boot.patched, Some(true));
    assert_eq!(r.boot.patch_series.as_deref(), Some("262.1"));
    assert_eq!(r.stop_signal.as_deref(), Some("SIGRTMIN+3"));
    assert_eq!(r.volumes, vec!["/run", "/run/lock", "/tmp"]);
    assert_eq!(r.exposed_ports, vec!["22/tcp"]);
    assert_eq!(r.labels.get("org.nixos2docker.systemd").map(String::as_str), Some("true"));
    assert_eq!(r.healthcheck.as_ref().and_then(|h| h.retries), Some(3));
    for id in ["entrypoint", "systemd", "stop-signal", "env-container", "env-path", "volumes", "layers"] {
        assert_eq!(worst(r, id), Severity::Ok, "{id}: {:#?}", r.findings);
    }
    assert_eq!(worst(r, "setuid"), Severity::Info, "usr/bin/su is setuid");
    assert_eq!(r.docker_run, "docker run -d nixos2docker-test:latest");
    assert!(r.total_uncompressed_size > 0 && r.files > 10);
}

#[test]
fn docker_archive_plain() {
    let img = good_image();
    let r = run(&write("da-plain", "img.tar", &docker_archive(&img)));
    assert_good(&r);
    assert_eq!(r.container, "tar");
    assert!(r.layers.iter().all(|l| l.compression == "none" && l.size == l.uncompressed_size));
    assert_eq!(r.layers[0].diff_id, format!("sha256:{}", img.diff_ids()[0]));
}

#[test]
fn docker_archive_gzip_outer_and_gzip_layers() {
    let mut img = good_image();
    img.gzip_layers = true;
    let r = run(&write("da-gz", "img.tar.gz", &gzip(&docker_archive(&img))));
    assert_good(&r);
    assert_eq!(r.container, "gzip-compressed tar");
    assert!(r.layers.iter().all(|l| l.compression == "gzip" && l.size < l.uncompressed_size));
    // Plain outer tar with gzip layers too.
    let r = run(&write("da-gzl", "img.tar", &docker_archive(&img)));
    assert_good(&r);
}

#[test]
fn docker25_save_format() {
    let img = good_image();
    let bytes = docker25_archive(&img);
    let r = run(&write("d25", "img.tar", &bytes));
    assert_good(&r);
    assert_eq!(r.format, inspect::image::Format::DockerArchive);
    // Layer blobs are named by digest: a changed byte is a digest mismatch, not only a diff_id mismatch.
    let needle = b"ID=debian";
    let i = bytes.windows(needle.len()).position(|w| w == needle).unwrap();
    let mut bad = bytes.clone();
    bad[i] = b'X';
    let e = inspect::inspect(&write("d25-bad", "img.tar", &bad)).unwrap_err().to_string();
    assert!(e.contains("digest mismatch") && e.contains("expected sha256:"), "{e}");
}

#[test]
fn oci_nested_index_with_attestation_manifest() {
    // buildx-style: index.json → an index blob listing an attestation (unknown/unknown) and the image.
    let img = good_image();
    let mut files = oci_files(&img);
    let index = files.pop().unwrap();
    assert_eq!(index.0, "index.json");
    let inner: serde_json::Value = serde_json::from_slice(&index.1).unwrap();
    let image_desc = inner["manifests"][0].clone();
    let att_manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": format!("sha256:{}", sha(b"{}")), "size": 2},
        "layers": []
    }))
    .unwrap();
    files.push((format!("blobs/sha256/{}", sha(&att_manifest)), att_manifest.clone()));
    let att_desc = serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": format!("sha256:{}", sha(&att_manifest)), "size": att_manifest.len(),
        "platform": {"architecture": "unknown", "os": "unknown"}});
    let nested = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [att_desc, image_desc]}))
    .unwrap();
    files.push((format!("blobs/sha256/{}", sha(&nested)), nested.clone()));
    let top = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json",
                       "digest": format!("sha256:{}", sha(&nested)), "size": nested.len(),
                       "annotations": {"io.containerd.image.name": "nixos2docker-test:latest"}}]});
    files.push(("index.json".into(), serde_json::to_vec(&top).unwrap()));
    let dir = tempdir("oci-nested");
    for (name, data) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
    assert_good(&run(&dir));
}

#[test]
fn oci_layout_directory_tar_and_targz() {
    let mut img = good_image();
    img.gzip_layers = true;
    let dir = tempdir("oci-dir");
    oci_dir(&img, &dir);
    let r = run(&dir);
    assert_good(&r);
    assert_eq!(r.container, "directory");
    assert!(r.docker_load.contains("| docker load"));
    img.gzip_layers = false;
    assert_good(&run(&write("oci-tar", "oci.tar", &oci_tar(&img))));
    assert_good(&run(&write("oci-tgz", "oci.tar.gz", &gzip(&oci_tar(&img)))));
}

#[test]
fn whiteouts_and_opaque_dirs_across_layers() {
    let base = base_layer(&systemd_bin(262, Some("262.1")));
    let extra =
        layer(&[file("opt/app/bin", 0o755, b"x"), file("opt/app/lib", 0o644, b"x"), file("etc/motd", 0o644, b"hi")]);
    // Layer 3: remove /etc/motd, make /opt/app opaque with one new file, and whiteout the whole /usr/local.
    let top = layer(&[
        file("etc/.wh.motd", 0o644, b""),
        E::Dir("opt/app", 0o755),
        file("opt/app/.wh..wh..opq", 0o644, b""),
        file("opt/app/new", 0o644, b"n"),
    ]);
    for gz in [false, true] {
        let mut img = Img::new(vec![base.clone(), init_layer(), extra.clone(), top.clone()]);
        img.gzip_layers = gz;
        let r = run(&write("wh", "img.tar", &docker_archive(&img)));
        assert_eq!(r.exit_code, 0, "{}", inspect::report::text(&r));
        assert_eq!(r.layers.len(), 4);
        let oci = tempdir("wh-oci");
        oci_dir(&img, &oci);
        assert_eq!(run(&oci).files, r.files);
    }
    // The path view itself: whiteouts removed, opaque dir emptied of lower entries.
    let mut view = nixos2docker::inspect::fsview::View::new();
    for (i, l) in [base, extra, top].iter().enumerate() {
        let s = nixos2docker::inspect::layer::read(&mut &l[..], &Default::default(), &mut 1000).unwrap();
        view.apply(i as u16, s);
    }
    assert!(view.get(b"etc/motd").is_none());
    assert!(view.get(b"etc/os-release").is_some());
    assert!(view.get(b"opt/app/bin").is_none() && view.get(b"opt/app/lib").is_none());
    assert!(view.get(b"opt/app/new").is_some());
    assert!(view.get(b"opt/app/.wh..wh..opq").is_none());
}

#[test]
fn layers_stored_out_of_order_are_stacked_in_image_order() {
    // Layer 2 deletes /usr/local/bin/nixos2docker and opaques /etc; layer 3 puts the init back. Stored
    // last-to-first (manifest first), a streaming reader must still stack 1, 2, 3.
    let layers = vec![
        base_layer(&systemd_bin(262, Some("262.1"))),
        layer(&[
            file("usr/local/bin/.wh.nixos2docker", 0o644, b""),
            E::Dir("etc", 0o755),
            file("etc/.wh..wh..opq", 0o644, b""),
        ]),
        init_layer(),
    ];
    let mut reports = Vec::new();
    for (shuffled, gz) in [(false, false), (true, false), (true, true)] {
        let mut img = Img::new(layers.clone());
        img.shuffled = shuffled;
        let bytes = docker_archive(&img);
        let bytes = if gz { gzip(&bytes) } else { bytes };
        let r = run(&write("order", "img.tar", &bytes));
        assert_eq!(r.exit_code, 0, "{}", inspect::report::text(&r));
        assert_eq!(r.boot.resolved.as_deref(), Some("/usr/local/bin/nixos2docker"));
        assert_eq!(r.layers[0].diff_id, format!("sha256:{}", img.diff_ids()[0]));
        reports.push((r.files, r.layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>()));
    }
    assert!(reports.windows(2).all(|w| w[0] == w[1]), "{reports:?}");
}

#[test]
fn whiteout_of_the_entrypoint_and_of_systemd() {
    // The top layer deletes /init: the entrypoint is gone, /usr/local/bin/nixos2docker is still there.
    let img = Img::new(vec![
        base_layer(&systemd_bin(262, Some("262.1"))),
        init_layer(),
        layer(&[file(".wh.init", 0o644, b"")]),
    ]);
    let r = run(&write("wh-ep", "img.tar", &docker_archive(&img)));
    assert_eq!(worst(&r, "entrypoint"), Severity::Warning, "{:#?}", r.findings);
    assert!(r.docker_run.contains("--entrypoint /usr/local/bin/nixos2docker"), "{}", r.docker_run);
    assert_eq!(r.exit_code, 0);

    // An opaque /usr/lib hides systemd and the init is deleted: nothing can boot.
    let img = Img::new(vec![
        base_layer(&systemd_bin(262, None)),
        init_layer(),
        layer(&[
            E::Dir("usr/lib", 0o755),
            file("usr/lib/.wh..wh..opq", 0o644, b""),
            file("usr/local/bin/.wh.nixos2docker", 0o644, b""),
        ]),
    ]);
    let r = run(&write("wh-sd", "img.tar", &docker_archive(&img)));
    assert_eq!(worst(&r, "entrypoint"), Severity::Error, "{}", inspect::report::text(&r));
    assert_eq!(worst(&r, "systemd"), Severity::Error);
    assert_eq!(r.exit_code, 1);
    assert!(!r.boots);
}

#[test]
fn stock_systemd_bare_image_gets_flags() {
    // A Debian-like image run with systemd directly: stock, no StopSignal, no volumes, no container env.
    let img = Img::new(vec![base_layer(&systemd_bin(257, None))]).with(|c| {
        c.insert("Entrypoint".into(), serde_json::json!(["/sbin/init"]));
        c.remove("StopSignal");
        c.remove("Volumes");
        c.insert("Env".into(), serde_json::json!(["PATH=/usr/sbin:/usr/bin"]));
        c.insert("User".into(), serde_json::json!("1000"));
        c.remove("Healthcheck");
    });
    let r = run(&write("stock", "img.tar", &docker_archive(&img)));
    let text = inspect::report::text(&r);
    assert_eq!(r.exit_code, 0, "{text}");
    assert_eq!(r.boot.patched, Some(false));
    assert_eq!(r.boot.systemd_version, Some(257));
    assert_eq!(worst(&r, "entrypoint"), Severity::Ok, "{text}");
    for id in ["systemd", "stop-signal", "env-container", "volumes", "user"] {
        assert_eq!(worst(&r, id), Severity::Warning, "{id}: {text}");
    }
    assert_eq!(worst(&r, "healthcheck"), Severity::Info);
    for flag in [
        "--stop-signal SIGRTMIN+3",
        "--tmpfs /run",
        "-e container=docker",
        "--user 0",
        "--security-opt writable-cgroups=true",
    ] {
        assert!(r.docker_run.contains(flag), "{flag} missing: {}", r.docker_run);
    }
    assert!(text.contains("fix: "), "remedies are printed: {text}");
    assert!(text.contains("docker run -d"), "{text}");
}

#[test]
fn entrypoint_symlink_loop_is_a_finding() {
    let img =
        Img::new(vec![layer(&[E::Link("init", "/loop/a"), E::Link("loop", "/loop2"), E::Link("loop2", "/loop")])]);
    let r = run(&write("loop", "img.tar", &docker_archive(&img)));
    let f = r.findings.iter().find(|f| f.id == "entrypoint").unwrap();
    assert_eq!(f.severity, Severity::Error);
    assert!(f.message.contains("symbolic links"), "{}", f.message);
    assert_eq!(r.exit_code, 1);
}

#[test]
fn too_many_layers_and_world_writable_dirs() {
    let mut layers = vec![base_layer(&systemd_bin(262, Some("262.1"))), init_layer()];
    for i in 0..126 {
        layers.push(layer(&[file(&format!("srv/f{i}"), 0o644, b"x")]));
    }
    layers.push(layer(&[E::Dir("srv/shared", 0o777), E::Dir("srv/sticky", 0o1777)]));
    let r = run(&write("many", "img.tar", &docker_archive(&Img::new(layers))));
    assert_eq!(worst(&r, "layers"), Severity::Error);
    assert_eq!(worst(&r, "world-writable"), Severity::Warning);
    assert!(r.findings.iter().any(|f| f.id == "world-writable" && f.message.contains("/srv/shared")));
    assert_eq!(r.exit_code, 1);
}

#[test]
fn nixos_style_image_uses_the_init_config() {
    // /init → our binary; config.json names a NixOS toplevel init script; systemd sits in the store.
    let store_sd = "nix/store/aaaa-systemd-262/lib/systemd/systemd";
    let img = Img::new(vec![
        layer(&[
            file(store_sd, 0o555, &systemd_bin(262, Some("262.1"))),
            file("nix/store/bbbb-nixos-system/init", 0o555, b"#! /nix/store/cccc-bash/bin/bash\nexec systemd\n"),
            file("nix/store/dddd-nixos2docker/bin/nixos2docker", 0o555, &our_init()),
            file(
                "nix/store/eeee-nixos2docker-config.json",
                0o444,
                br#"{"target": "/nix/store/bbbb-nixos-system/init", "patched": true, "systemdVersion": 262}"#,
            ),
        ]),
        layer(&[
            E::Link("init", "/nix/store/dddd-nixos2docker/bin/nixos2docker"),
            E::Link("etc/nixos2docker/config.json", "/nix/store/eeee-nixos2docker-config.json"),
        ]),
    ])
    .with(|c| {
        c.insert("Env".into(), serde_json::json!(["container=docker", "PATH=/run/current-system/sw/bin"]));
    });
    let r = run(&write("nixos", "img.tar.gz", &gzip(&docker_archive(&img))));
    assert_eq!(r.exit_code, 0, "{}", inspect::report::text(&r));
    assert_eq!(r.boot.patched, Some(true));
    assert_eq!(r.boot.systemd_path.as_deref(), Some(&*format!("/{store_sd}")));
    assert_eq!(worst(&r, "env-path"), Severity::Ok);
}

#[test]
fn json_report_is_complete() {
    let r = run(&write("json", "img.tar", &docker_archive(&good_image())));
    let v = serde_json::to_value(&r).unwrap();
    for k in [
        "format",
        "tags",
        "architecture",
        "os",
        "entrypoint",
        "env",
        "stopSignal",
        "volumes",
        "healthcheck",
        "labels",
        "exposedPorts",
        "layers",
        "totalSize",
        "findings",
        "dockerRun",
        "exitCode",
        "boot",
    ] {
        assert!(v.get(k).is_some(), "{k} missing from the JSON report");
    }
    assert_eq!(v["format"], "docker-archive");
    assert_eq!(v["findings"][0]["severity"], "ok");
}

/// Real `docker save` output captured by the harness: tests/fixtures/*.docker-archive.tar[.gz].
#[test]
fn real_docker_save_fixtures() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| e.path()).collect::<Vec<PathBuf>>())
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.contains(".docker-archive.tar")))
        .collect();
    if found.is_empty() {
        eprintln!("SKIPPED: no tests/fixtures/*.docker-archive.tar* (real docker save output) to inspect");
        return;
    }
    for p in found {
        let r = run(&p);
        assert!(!r.layers.is_empty(), "{}", p.display());
        assert!(r.findings.iter().any(|f| f.id == "entrypoint"), "{}", p.display());
        assert!(r.docker_run.starts_with("docker run -d"));
        eprintln!("{}: exit {} — {}", p.display(), r.exit_code, r.docker_run);
    }
}
