//! The report: what the image says about itself, the findings, and the minimal `docker run` line.

use super::findings::{Boot, Judgement};
use super::image::{Format, Healthcheck, Image};
use crate::checks::{Finding, Severity};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerInfo {
    pub digest: String,
    pub diff_id: String,
    pub compression: &'static str,
    /// Bytes as stored (compressed or not).
    pub size: u64,
    /// Bytes of the uncompressed tar.
    pub uncompressed_size: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub path: String,
    pub format: Format,
    pub container: &'static str,
    pub id: String,
    pub tags: Vec<String>,
    pub architecture: String,
    pub os: String,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: Vec<String>,
    pub stop_signal: Option<String>,
    pub volumes: Vec<String>,
    pub healthcheck: Option<Healthcheck>,
    pub labels: BTreeMap<String, String>,
    pub exposed_ports: Vec<String>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    pub layers: Vec<LayerInfo>,
    pub total_size: u64,
    pub total_uncompressed_size: u64,
    pub files: usize,
    pub boot: Boot,
    pub findings: Vec<Finding>,
    pub notes: Vec<String>,
    /// Will it boot with `docker_run`?
    pub boots: bool,
    pub docker_load: String,
    pub docker_run: String,
    pub exit_code: u8,
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./:=+@%,".contains(&b)) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

pub fn build(path: &Path, image: &Image, layers: Vec<LayerInfo>, files: usize, j: Judgement, exit_code: u8) -> Report {
    let cfg = image.config.config().clone().unwrap_or_default();
    let sorted = |v: Option<Vec<String>>| {
        let mut v = v.unwrap_or_default();
        v.sort();
        v
    };
    let volumes = sorted(cfg.volumes().clone());
    let exposed_ports = sorted(cfg.exposed_ports().clone());
    let image_ref = image.tags.first().cloned().unwrap_or_else(|| format!("sha256:{}", image.id));
    let mut run = String::from("docker run -d");
    for f in &j.flags {
        run.push(' ');
        run.push_str(f);
    }
    run.push(' ');
    run.push_str(&shell_quote(&image_ref));
    let p = shell_quote(&path.display().to_string());
    let docker_load =
        if path.is_dir() { format!("tar -C {p} -cf - . | docker load") } else { format!("docker load -i {p}") };
    Report {
        path: path.display().to_string(),
        format: image.format,
        container: image.container,
        id: format!("sha256:{}", image.id),
        tags: image.tags.clone(),
        architecture: image.config.architecture().to_string(),
        os: image.config.os().to_string(),
        entrypoint: cfg.entrypoint().clone(),
        cmd: cfg.cmd().clone(),
        env: cfg.env().clone().unwrap_or_default(),
        stop_signal: cfg.stop_signal().clone(),
        volumes,
        healthcheck: image.healthcheck.clone(),
        labels: cfg.labels().clone().unwrap_or_default().into_iter().collect(),
        exposed_ports,
        user: cfg.user().clone().filter(|u| !u.is_empty()),
        working_dir: cfg.working_dir().clone().filter(|w| !w.is_empty()),
        total_size: layers.iter().map(|l| l.size).sum(),
        total_uncompressed_size: layers.iter().map(|l| l.uncompressed_size).sum(),
        layers,
        files,
        boots: !j.has_errors(),
        boot: j.boot,
        findings: j.findings,
        notes: image.notes.clone(),
        docker_load,
        docker_run: run,
        exit_code,
    }
}

pub fn human_size(n: u64) -> String {
    const UNITS: &[&str] = &["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[u]) }
}

fn json_list(v: &Option<Vec<String>>) -> String {
    match v {
        None => "(not set)".into(),
        Some(v) => serde_json::to_string(v).unwrap_or_default(),
    }
}

fn secs(ns: Option<i64>) -> String {
    ns.map(|n| format!("{}s", n / 1_000_000_000)).unwrap_or_else(|| "default".into())
}

pub fn text(r: &Report) -> String {
    let mut s = String::new();
    let none = || "(none)".to_string();
    let _ = writeln!(s, "image:        {} ({}, {})", r.path, r.format.name(), r.container);
    let _ = writeln!(s, "id:           {}", r.id);
    let _ = writeln!(s, "tags:         {}", if r.tags.is_empty() { none() } else { r.tags.join(", ") });
    let _ = writeln!(s, "platform:     {}/{}", r.os, r.architecture);
    let _ = writeln!(s, "entrypoint:   {}", json_list(&r.entrypoint));
    let _ = writeln!(s, "cmd:          {}", json_list(&r.cmd));
    if let Some(u) = &r.user {
        let _ = writeln!(s, "user:         {u}");
    }
    if let Some(w) = &r.working_dir {
        let _ = writeln!(s, "workdir:      {w}");
    }
    let _ = writeln!(s, "env:          {}", if r.env.is_empty() { none() } else { r.env.join("\n              ") });
    let _ = writeln!(s, "stop signal:  {}", r.stop_signal.clone().unwrap_or_else(|| "(not set: SIGTERM)".into()));
    let _ = writeln!(s, "volumes:      {}", if r.volumes.is_empty() { none() } else { r.volumes.join(" ") });
    let hc = healthcheck_text(r);
    let _ = writeln!(s, "healthcheck:  {hc}");
    let labels: Vec<String> = r.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let _ = writeln!(s, "labels:       {}", if labels.is_empty() { none() } else { labels.join("\n              ") });
    let _ =
        writeln!(s, "ports:        {}", if r.exposed_ports.is_empty() { none() } else { r.exposed_ports.join(" ") });
    write_layers(&mut s, r);
    if let Some(p) = &r.boot.systemd_path {
        let v = r.boot.systemd_version.map_or("unknown version".into(), |v| format!("version {v}"));
        let patched = match r.boot.patched {
            Some(true) => format!("patched ({})", r.boot.patch_series.as_deref().unwrap_or("per config")),
            Some(false) => "stock".into(),
            None => "patched: unknown".into(),
        };
        let _ = writeln!(s, "systemd:      {p}, {v}, {patched}");
    }
    for n in &r.notes {
        let _ = writeln!(s, "note:         {n}");
    }
    write_findings_and_verdict(&mut s, r);
    s
}

/// The Healthcheck line's value.
fn healthcheck_text(r: &Report) -> String {
    let none = || "(none)".to_string();
    match &r.healthcheck {
        Some(h) if h.test.as_ref().is_some_and(|t| !t.is_empty()) => format!(
            "{} (interval {}, timeout {}, start period {}, retries {})",
            h.test.clone().unwrap_or_default().join(" "),
            secs(h.interval),
            secs(h.timeout),
            secs(h.start_period),
            h.retries.map_or("default".into(), |n| n.to_string())
        ),
        _ => none(),
    }
}

/// The layer count and sizes, then one line per layer.
fn write_layers(s: &mut String, r: &Report) {
    let _ = writeln!(
        s,
        "layers:       {} ({} stored, {} uncompressed, {} paths)",
        r.layers.len(),
        human_size(r.total_size),
        human_size(r.total_uncompressed_size),
        r.files
    );
    for (i, l) in r.layers.iter().enumerate() {
        let short = &l.digest[..l.digest.len().min(19)];
        let _ = writeln!(
            s,
            "  {:>3}  {short}  {:>10}  {:>10} uncompressed  {}",
            i + 1,
            human_size(l.size),
            human_size(l.uncompressed_size),
            l.compression
        );
    }
}

/// Every finding with its fix, then the verdict and the commands that boot the image.
fn write_findings_and_verdict(s: &mut String, r: &Report) {
    let _ = writeln!(s);
    let _ = writeln!(s, "findings:");
    for f in &r.findings {
        let _ = writeln!(s, "  {:<4} {:<15} {}", f.severity.mark(), f.id, f.message);
        if let Some(r) = &f.remedy
            && f.severity >= Severity::Warning
        {
            let _ = writeln!(s, "       {:<15} fix: {r}", "");
        }
    }
    let _ = writeln!(s);
    if r.boots {
        let _ = writeln!(s, "verdict: this image boots with:");
    } else {
        let _ =
            writeln!(s, "verdict: this image will not boot as it is (fix the FAIL findings); once fixed, run it with:");
    }
    let _ = writeln!(s, "  {}", r.docker_load);
    let _ = writeln!(s, "  {}", r.docker_run);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("nixos:latest"), "nixos:latest");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn sizes() {
        assert_eq!(human_size(10), "10 B");
        assert_eq!(human_size(1536), "1.5 KiB");
    }
}
