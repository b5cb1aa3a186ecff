//! Judge an image: one [`Finding`] per check, each problem with its remedy, plus the `docker run` flags that make
//! the image boot. Pure: works on the parsed config and the layer view.
//!
//! Severity rule: `Error` = the image cannot boot whatever the `docker run` flags (it must be rebuilt);
//! `Warning` = it boots with the flags of the printed `docker run` line, or works but worse than it should.

use super::fsview::{Node, View};
use super::image::Image;
use crate::checks::{Finding, Severity};
use crate::systemd_bin::SystemdInfo;
use serde::Serialize;

/// Docker's overlay2 driver stacks at most 128 lower directories; with the container's own two layers an image
/// may have 125 (nixpkgs' dockerTools documents the same limit).
pub const MAX_LAYERS: usize = 125;
/// The PATH `docker exec` uses when the image sets none.
pub const DOCKER_DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Where our init may live in an image (Nix images: /init; Debian images: /usr/local/bin).
const OUR_INIT_PATHS: &[&str] = &["/init", "/usr/local/bin/nixos2docker"];
/// Directories that are meant to be world-writable.
const SHARED_TMP_DIRS: &[&str] = &["tmp", "var/tmp", "dev/shm", "run/lock", "var/lock"];
/// Entries listed by name in a finding before "and N more".
const LIST_MAX: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryKind {
    /// nixos2docker's init (this program).
    Nixos2docker,
    Systemd,
    Script,
    Program,
    Unknown,
}

/// What the entrypoint leads to.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Boot {
    pub argv: Vec<String>,
    /// The entrypoint file after following symlinks (absolute).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<EntryKind>,
    /// The systemd that ends up as PID 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub systemd_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub systemd_version: Option<u32>,
    /// true: carries nixos2docker's patches; false: stock; absent: unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patched: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch_series: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Judgement {
    pub findings: Vec<Finding>,
    /// `docker run` flags needed to boot, in order, without duplicates.
    pub flags: Vec<String>,
    pub boot: Boot,
}

impl Judgement {
    fn push(&mut self, id: &'static str, severity: Severity, message: impl Into<String>, remedy: Option<String>) {
        self.findings.push(Finding { id, severity, message: message.into(), remedy, exit_code: None });
    }
    fn ok(&mut self, id: &'static str, message: impl Into<String>) {
        self.push(id, Severity::Ok, message, None);
    }
    fn info(&mut self, id: &'static str, message: impl Into<String>) {
        self.push(id, Severity::Info, message, None);
    }
    fn warn(&mut self, id: &'static str, message: impl Into<String>, remedy: impl Into<String>) {
        self.push(id, Severity::Warning, message, Some(remedy.into()));
    }
    fn error(&mut self, id: &'static str, message: impl Into<String>, remedy: impl Into<String>) {
        self.push(id, Severity::Error, message, Some(remedy.into()));
    }
    fn flag(&mut self, f: impl Into<String>) {
        let f = f.into();
        if !self.flags.contains(&f) {
            self.flags.push(f);
        }
    }
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

/// What the layer reading left for the checks besides the view.
#[derive(Debug, Clone, Default)]
pub struct LayerFacts {
    /// Per layer (1-based in messages): entries that climb above the root.
    pub escaping: Vec<(usize, Vec<String>)>,
}

fn lossy(p: &[u8]) -> String {
    format!("/{}", String::from_utf8_lossy(p))
}

fn list(items: &[String]) -> String {
    let mut s = items.iter().take(LIST_MAX).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > LIST_MAX {
        s.push_str(&format!(" and {} more", items.len() - LIST_MAX));
    }
    s
}

pub fn is_rtmin3(sig: &str) -> bool {
    let s = sig.trim().to_ascii_uppercase();
    let s = s.strip_prefix("SIG").unwrap_or(&s);
    s == "RTMIN+3" || s == "37"
}

/// `KEY=VALUE` list → lookup.
fn env_get<'a>(env: &'a [String], key: &str) -> Option<&'a str> {
    env.iter().rev().find_map(|kv| kv.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

fn is_root_user(u: &str) -> bool {
    let user = u.split(':').next().unwrap_or("");
    user.is_empty() || user == "0" || user == "root"
}

/// The init's config inside the image (text of /etc/nixos2docker/config.json, followed through symlinks).
fn image_init_config(view: &View) -> Option<Result<crate::config::Config, String>> {
    let (_, node) = view.resolve(crate::config::DEFAULT_CONFIG_PATH.as_bytes(), true).ok()?;
    let probe = view.probe(node);
    let Some(text) = probe.and_then(|p| p.text.as_deref()) else {
        return Some(Err("it could not be read (not UTF-8 text, or larger than 64 KiB)".into()));
    };
    Some(
        crate::config::parse(std::path::Path::new(crate::config::DEFAULT_CONFIG_PATH), text).map_err(|e| e.to_string()),
    )
}

/// A systemd binary for an image whose exec target is a script (NixOS's `toplevel/init`): the newest
/// `…/lib/systemd/systemd` among the files read.
fn find_any_systemd(view: &View) -> Option<(String, SystemdInfo)> {
    view.iter()
        .filter(|(p, _)| p.ends_with(b"lib/systemd/systemd"))
        .filter_map(|(p, n)| {
            view.probe(n).filter(|pr| pr.systemd.looks_like_systemd()).map(|pr| (lossy(p), pr.systemd.clone()))
        })
        .max_by_key(|(_, i)| (i.patched.is_some(), i.version))
}

fn classify(view: &View, node: &Node) -> EntryKind {
    match view.probe(node) {
        Some(p) if p.our_init => EntryKind::Nixos2docker,
        Some(p) if p.systemd.looks_like_systemd() && p.is_elf() => EntryKind::Systemd,
        Some(p) if p.shebang().is_some() => EntryKind::Script,
        Some(_) => EntryKind::Program,
        None => EntryKind::Unknown,
    }
}

fn executable_file<'v>(view: &'v View, path: &str) -> Option<(String, &'v Node)> {
    let (p, n) = view.resolve(path.as_bytes(), true).ok()?;
    matches!(n, Node::File { mode, .. } if mode & 0o111 != 0).then(|| (lossy(&p), n))
}

/// An init the image has besides its entrypoint, for `--entrypoint`.
fn fallback_entrypoint(view: &View) -> Option<String> {
    for p in OUR_INIT_PATHS {
        if let Some((_, n)) = executable_file(view, p)
            && classify(view, n) == EntryKind::Nixos2docker
        {
            return Some(p.to_string());
        }
    }
    crate::sys::DEFAULT_TARGETS.iter().find_map(|p| {
        let (_, n) = executable_file(view, p)?;
        (classify(view, n) == EntryKind::Systemd).then(|| p.to_string())
    })
}

/// What every finding reads: the image, its files, and the config values derived once.
struct Inputs<'a> {
    image: &'a Image,
    view: &'a View,
    facts: &'a LayerFacts,
    cfg: oci_spec::image::Config,
    env: Vec<String>,
    path_var: String,
    cwd: String,
    /// An init the image has besides its entrypoint (for `--entrypoint`).
    fallback: Option<String>,
}

/// What the entrypoint findings learn about systemd, for the later findings.
#[derive(Default)]
struct Found {
    systemd: Option<(String, SystemdInfo)>,
    patched_by_config: Option<bool>,
}

type Judge = fn(&Inputs, &mut Judgement, &mut Found);

/// Every finding, in the order the report lists them; later ones read what earlier ones found.
const FINDINGS: &[Judge] = &[
    judge_platform,
    judge_layers,
    judge_entrypoint,
    judge_systemd,
    judge_stop_signal,
    judge_environment,
    judge_volumes,
    judge_user,
    judge_healthcheck,
    judge_file_modes,
];

pub fn judge(image: &Image, view: &View, facts: &LayerFacts) -> Judgement {
    let cfg = image.config.config().clone().unwrap_or_default();
    let env = cfg.env().clone().unwrap_or_default();
    let path_var = env_get(&env, "PATH").unwrap_or(DOCKER_DEFAULT_PATH).to_owned();
    let cwd = cfg.working_dir().clone().filter(|w| !w.is_empty()).unwrap_or_else(|| "/".into());
    let fallback = fallback_entrypoint(view);
    let inputs = Inputs { image, view, facts, cfg, env, path_var, cwd, fallback };
    let mut j = Judgement::default();
    let mut found = Found::default();
    for judge in FINDINGS {
        judge(&inputs, &mut j, &mut found);
    }
    j
}

/// systemd itself is PID 1: the image's entrypoint, or the `--entrypoint` the report adds.
fn direct_systemd(j: &Judgement) -> bool {
    j.boot.kind == Some(EntryKind::Systemd)
        || j.flags
            .iter()
            .any(|f| f.starts_with("--entrypoint /") && !f.contains("nixos2docker") && !f.ends_with(" /init"))
}

/// nixos2docker's init is PID 1: the image's entrypoint, or the `--entrypoint` the report adds.
fn our_init(j: &Judgement) -> bool {
    j.boot.kind == Some(EntryKind::Nixos2docker)
        || j.flags.iter().any(|f| f == "--entrypoint /init" || f.ends_with("/nixos2docker"))
}

fn judge_platform(i: &Inputs, j: &mut Judgement, _: &mut Found) {
    let os = i.image.config.os().to_string();
    let arch = i.image.config.architecture().to_string();
    if os != "linux" {
        j.error("platform", format!("the image is for {os}/{arch}, not linux"), "build the image for linux");
    } else if arch != super::image::host_arch() {
        j.warn(
            "platform",
            format!("the image is for linux/{arch}, this host is linux/{}", super::image::host_arch()),
            format!("run it on a linux/{arch} host, or register qemu-user binfmt handlers and pass --platform"),
        );
        j.flag(format!("--platform linux/{arch}"));
    } else {
        j.ok("platform", format!("linux/{arch}"));
    }
}

/// The layer count and the paths docker load refuses.
fn judge_layers(i: &Inputs, j: &mut Judgement, _: &mut Found) {
    let n = i.image.layers.len();
    if n > MAX_LAYERS {
        j.error(
            "layers",
            format!("{n} layers: Docker's overlay2 accepts at most {MAX_LAYERS} (\"max depth exceeded\")"),
            "rebuild with fewer layers (dockerTools: maxLayers = 100; Dockerfile: merge RUN steps)",
        );
    } else {
        let plural = if n == 1 { "" } else { "s" };
        j.ok("layers", format!("{n} layer{plural} (Docker accepts up to {MAX_LAYERS})"));
    }
    for (layer, paths) in &i.facts.escaping {
        j.error(
            "layer-paths",
            format!("layer {layer} has {} entries outside the root: {}", paths.len(), list(paths)),
            "rebuild the layer: docker load refuses entries with '..' climbing above /",
        );
    }
    if !i.view.dangling_hardlinks.is_empty() {
        j.warn(
            "layer-paths",
            format!("hard links to files that are not in the layers: {}", list(&i.view.dangling_hardlinks)),
            "rebuild the layer: docker load fails on hard links whose target is missing",
        );
    }
}

/// The entrypoint cannot run: suggest the image's other init, or fail. Returns that init's file.
fn entrypoint_failed<'v>(i: &Inputs<'v>, j: &mut Judgement, message: String) -> Option<(String, &'v Node)> {
    match &i.fallback {
        Some(f) => {
            j.warn(
                "entrypoint",
                format!("{message}; the image has {f}"),
                format!("set Entrypoint [\"{f}\"] in the image (the docker run line passes --entrypoint {f})"),
            );
            j.flag(format!("--entrypoint {f}"));
            executable_file(i.view, f)
        }
        None => {
            j.error(
                "entrypoint",
                message,
                "set the image's Entrypoint to [\"/init\"] (nixos2docker) and install systemd in the image",
            );
            None
        }
    }
}

/// Entrypoint + Cmd resolved on the image's PATH, then what kind of program it is.
fn judge_entrypoint(i: &Inputs, j: &mut Judgement, found: &mut Found) {
    let (view, cfg, path_var, cwd) = (i.view, &i.cfg, &i.path_var, &i.cwd);
    let mut argv: Vec<String> = cfg.entrypoint().clone().unwrap_or_default();
    if argv.is_empty() {
        argv = cfg.cmd().clone().unwrap_or_default();
    } else {
        argv.extend(cfg.cmd().clone().unwrap_or_default());
    }
    j.boot.argv = argv.clone();
    let target = match argv.first() {
        None => entrypoint_failed(i, j, "the image has neither Entrypoint nor Cmd".into()),
        Some(prog) => match view.which(prog, path_var, cwd) {
            None => {
                let why = if prog.contains('/') {
                    let full = if prog.starts_with('/') { prog.clone() } else { format!("{cwd}/{prog}") };
                    match view.resolve(full.as_bytes(), true) {
                        Err(e) => e.to_string(),
                        Ok(_) => format!("{prog} is not a file"),
                    }
                } else {
                    format!("{prog} is not in any directory of PATH={path_var}")
                };
                entrypoint_failed(i, j, format!("the entrypoint {prog} cannot run: {why}"))
            }
            Some((p, node)) => match node {
                Node::File { mode, .. } if mode & 0o111 == 0 => {
                    entrypoint_failed(i, j, format!("the entrypoint {} is not executable (mode {mode:o})", lossy(&p)))
                }
                Node::File { .. } => Some((lossy(&p), node)),
                _ => entrypoint_failed(i, j, format!("the entrypoint {} is not a regular file", lossy(&p))),
            },
        },
    };
    if let Some((resolved, node)) = target {
        judge_entry_kind(i, j, found, &argv, resolved, node);
    }
}

/// What the resolved entrypoint is, and where the systemd it leads to lives.
fn judge_entry_kind(i: &Inputs, j: &mut Judgement, found: &mut Found, argv: &[String], resolved: String, node: &Node) {
    let view = i.view;
    let kind = classify(view, node);
    j.boot.resolved = Some(resolved.clone());
    j.boot.kind = Some(kind);
    let via = if argv.first().is_some_and(|a| *a != resolved) && j.flags.iter().all(|f| !f.starts_with("--entrypoint"))
    {
        format!("{} → {resolved}", argv[0])
    } else {
        resolved.clone()
    };
    match kind {
        EntryKind::Nixos2docker => {
            j.ok("entrypoint", format!("{via} is nixos2docker's init"));
            judge_init_target(i, j, found);
        }
        EntryKind::Systemd => {
            j.ok("entrypoint", format!("{via} is systemd"));
            found.systemd = view.probe(node).map(|p| (resolved.clone(), p.systemd.clone()));
        }
        EntryKind::Script if resolved.ends_with("/init") => {
            j.info("entrypoint", format!("{via} is an init script; assuming it execs systemd (NixOS's stage 2)"));
            found.systemd = find_any_systemd(view);
        }
        other => {
            let what = match other {
                EntryKind::Script => {
                    format!("a script ({})", view.probe(node).and_then(|p| p.shebang()).unwrap_or_default())
                }
                EntryKind::Program => "a program that is neither nixos2docker's init nor systemd".into(),
                _ => "a file that was not read".into(),
            };
            let message = format!("the entrypoint {via} is {what}: systemd must be PID 1");
            if let Some(f) = &i.fallback {
                j.warn(
                    "entrypoint",
                    format!("{message}; the image has {f}"),
                    format!("set Entrypoint [\"{f}\"] in the image (the docker run line passes --entrypoint {f})"),
                );
                j.flag(format!("--entrypoint {f}"));
                if let Some((p, n)) = executable_file(view, f) {
                    match classify(view, n) {
                        EntryKind::Systemd => found.systemd = view.probe(n).map(|pr| (p, pr.systemd.clone())),
                        _ => found.systemd = find_any_systemd(view),
                    }
                }
            } else {
                j.warn("entrypoint", message, "set the image's Entrypoint to [\"/init\"] (nixos2docker) or systemd");
                found.systemd = find_any_systemd(view);
            }
        }
    }
}

/// The entrypoint is nixos2docker's init: its config file in the image and the target it execs.
fn judge_init_target(i: &Inputs, j: &mut Judgement, found: &mut Found) {
    let view = i.view;
    let mut target_path: Option<String> = None;
    match image_init_config(view) {
        Some(Ok(c)) => {
            found.patched_by_config = c.patched;
            target_path = c.target.clone();
            if let Some(v) = c.systemd_version {
                j.boot.systemd_version = Some(v);
            }
        }
        Some(Err(e)) => j.error(
            "init-config",
            format!("{} in the image is not valid: {e}", crate::config::DEFAULT_CONFIG_PATH),
            "fix the file (the init exits 17 on it)",
        ),
        None => {}
    }
    let target_path = target_path.or_else(|| {
        crate::sys::DEFAULT_TARGETS.iter().find(|p| view.resolve(p.as_bytes(), true).is_ok()).map(|p| p.to_string())
    });
    match target_path.as_deref().map(|t| (t, view.resolve(t.as_bytes(), true))) {
        None => j.error(
            "systemd",
            format!(
                "none of {} exists: the init has nothing to exec (it exits 127)",
                crate::sys::DEFAULT_TARGETS.join(", ")
            ),
            "install systemd in the image, or set \"target\" in /etc/nixos2docker/config.json",
        ),
        Some((t, Err(e))) => j.error(
            "systemd",
            format!("the init's exec target {t} cannot run: {e} (the init exits 127)"),
            "install systemd in the image, or fix \"target\" in /etc/nixos2docker/config.json",
        ),
        Some((t, Ok((p, n)))) => match view.probe(n) {
            Some(pr) if pr.systemd.looks_like_systemd() => found.systemd = Some((lossy(&p), pr.systemd.clone())),
            _ => {
                found.systemd = find_any_systemd(view);
                j.info("exec-target", format!("the init execs {t}, which is not itself a systemd binary"));
            }
        },
    }
}

/// systemd: present, version, patched.
fn judge_systemd(_: &Inputs, j: &mut Judgement, found: &mut Found) {
    match &found.systemd {
        None if !j.findings.iter().any(|f| f.id == "systemd") => j.error(
            "systemd",
            "no systemd binary found in the image",
            "install systemd (Debian: apt-get install systemd) or build the image with nixos2docker's NixOS module",
        ),
        None => {}
        Some((path, info)) => {
            j.boot.systemd_path = Some(path.clone());
            j.boot.systemd_version = j.boot.systemd_version.or(info.version);
            j.boot.patch_series = info.patched.clone();
            j.boot.patched =
                found.patched_by_config.or(if info.looks_like_systemd() { Some(info.patched.is_some()) } else { None });
            let v = j.boot.systemd_version.map(|v| format!(" {v}")).unwrap_or_default();
            match j.boot.patched {
                Some(true) => j.ok(
                    "systemd",
                    format!(
                        "{path}: systemd{v} with nixos2docker's patches ({})",
                        info.patched.as_deref().unwrap_or("per the image's init config")
                    ),
                ),
                Some(false) => {
                    j.warn(
                        "systemd",
                        format!(
                            "{path}: stock systemd{v}: on Docker's read-only cgroup2 mount it exits at boot \
                             (it cannot create init.scope)"
                        ),
                        "use nixos2docker's patched systemd; the docker run line instead gives the container a \
                         writable cgroup subtree of its own (--security-opt writable-cgroups=true, Docker >= 28; SIGTERM \
                         still makes stock systemd re-execute) — or use podman run --systemd=always; on an older Docker \
                         only the insecure --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw (shares the host's \
                         cgroup tree)",
                    );
                    j.flag("--security-opt writable-cgroups=true");
                }
                None => j.warn(
                    "systemd",
                    format!("{path}: cannot tell whether this systemd{v} carries nixos2docker's patches"),
                    "set \"patched\" in /etc/nixos2docker/config.json",
                ),
            }
            if j.boot.systemd_version.is_some_and(|v| v >= 258) {
                j.info("cgroup", format!("systemd{v} needs a cgroup v2 host (no cgroup v1 or hybrid hierarchy)"));
            }
        }
    }
}

fn judge_stop_signal(i: &Inputs, j: &mut Judgement, _: &mut Found) {
    let stop = i.cfg.stop_signal().clone().filter(|s| !s.is_empty());
    match stop.as_deref() {
        Some(s) if is_rtmin3(s) => j.ok("stop-signal", format!("StopSignal {s}")),
        other => {
            let s = other.map_or_else(|| "not set (SIGTERM)".to_owned(), str::to_owned);
            if j.boot.patched == Some(true) {
                j.info("stop-signal", format!("StopSignal {s}: patched systemd powers off on SIGTERM too"));
            } else {
                j.warn(
                    "stop-signal",
                    format!("StopSignal {s}: stock systemd re-executes on SIGTERM, so docker stop waits and kills it"),
                    "set StopSignal SIGRTMIN+3 in the image (the docker run line passes --stop-signal SIGRTMIN+3)",
                );
                j.flag("--stop-signal SIGRTMIN+3");
            }
        }
    }
}

/// `container=` and a PATH on which `docker exec` finds systemctl.
fn judge_environment(i: &Inputs, j: &mut Judgement, _: &mut Found) {
    let (env, path_var) = (&i.env, &i.path_var);
    match env_get(env, "container") {
        Some(v) => j.ok("env-container", format!("container={v}")),
        None if our_init(j) && !direct_systemd(j) => {
            j.info("env-container", "no container variable in Env; the init sets container=docker")
        }
        None => {
            j.warn(
                "env-container",
                "no container variable in Env: systemd may not detect the container",
                "add container=docker to the image's Env (the docker run line passes -e container=docker)",
            );
            j.flag("-e container=docker");
        }
    }
    let nixos_runtime = path_var.split(':').any(|d| d == "/run/current-system/sw/bin");
    let env_path_shown = env_get(env, "PATH")
        .map_or_else(|| format!("unset (docker uses {DOCKER_DEFAULT_PATH})"), |p| format!("PATH={p}"));
    if let Some((p, _)) = i.view.which("systemctl", path_var, "/") {
        j.ok("env-path", format!("{env_path_shown} finds {} for docker exec", lossy(&p)));
    } else if nixos_runtime {
        j.ok("env-path", format!("{env_path_shown} includes NixOS's /run/current-system/sw/bin for docker exec"));
    } else {
        let profile_path = crate::config::builtin_profile()
            .ok()
            .and_then(|p| p.image["env"]["PATH"].as_str().map(str::to_owned))
            .unwrap_or_else(|| DOCKER_DEFAULT_PATH.to_owned());
        j.warn(
            "env-path",
            format!("{env_path_shown}: `docker exec C systemctl` will not find systemctl"),
            format!("set PATH={profile_path} in the image's Env"),
        );
    }
}

fn judge_volumes(i: &Inputs, j: &mut Judgement, _: &mut Found) {
    let volumes: Vec<String> =
        i.cfg.volumes().clone().unwrap_or_default().into_iter().map(|v| v.trim_end_matches('/').to_owned()).collect();
    let has_vol = |p: &str| volumes.iter().any(|v| v == p);
    let direct_systemd = direct_systemd(j);
    if has_vol("/run") {
        j.ok("volumes", "/run is a volume");
    } else {
        j.warn(
            "volumes",
            if our_init(j) && !direct_systemd {
                "/run is not a volume: systemd needs a writable /run it can own (the init exits 12 without one)"
            } else {
                "/run is not a volume: systemd needs a writable /run it can own, and cannot mount one without \
                 CAP_SYS_ADMIN"
            },
            "declare VOLUME /run /run/lock /tmp in the image (the docker run line passes --tmpfs /run)",
        );
        j.flag("--tmpfs /run");
    }
    if !has_vol("/run/lock") && direct_systemd {
        j.flag("--tmpfs /run/lock");
    }
    if !has_vol("/tmp") {
        j.warn(
            "volumes",
            "/tmp is not a volume: its files land in the container's writable layer and survive restarts",
            "declare VOLUME /tmp in the image, or run with --tmpfs /tmp",
        );
    }
}

fn judge_user(i: &Inputs, j: &mut Judgement, _: &mut Found) {
    if let Some(u) = i.cfg.user().clone().filter(|u| !is_root_user(u)) {
        j.warn(
            "user",
            format!("User {u}: systemd must run as root (the init exits 11)"),
            "drop USER from the image (the docker run line passes --user 0); services drop privileges with User=",
        );
        j.flag("--user 0");
    }
}

fn judge_healthcheck(i: &Inputs, j: &mut Judgement, _: &mut Found) {
    match i.image.healthcheck.as_ref().and_then(|h| h.test.clone()).filter(|t| !t.is_empty()) {
        Some(t) if t[0] != "NONE" => j.ok("healthcheck", format!("Healthcheck {}", t.join(" "))),
        _ => j.info(
            "healthcheck",
            "no Healthcheck: docker ps cannot tell a booted system from a failed boot; \
            add HEALTHCHECK --start-period=90s --start-interval=1s CMD nixos2docker wait --timeout 0 \
            (names the failed units; without nixos2docker: systemctl is-system-running --quiet)",
        ),
    }
}

/// Setuid files and world-writable directories.
fn judge_file_modes(i: &Inputs, j: &mut Judgement, _: &mut Found) {
    let mut setuid = Vec::new();
    let mut ww_sticky = Vec::new();
    let mut ww_open = Vec::new();
    for (p, node) in i.view.iter() {
        match node {
            Node::File { mode, .. } if mode & 0o6000 != 0 => setuid.push(lossy(p)),
            Node::Dir { mode } if mode & 0o002 != 0 && !SHARED_TMP_DIRS.iter().any(|d| d.as_bytes() == p) => {
                if mode & 0o1000 != 0 { ww_sticky.push(lossy(p)) } else { ww_open.push(lossy(p)) }
            }
            _ => {}
        }
    }
    if setuid.is_empty() {
        j.ok("setuid", "no setuid or setgid files");
    } else {
        j.push(
            "setuid",
            Severity::Info,
            format!("{} setuid/setgid files: {}", setuid.len(), list(&setuid)),
            Some("remove the bits from what the image does not need (chmod u-s,g-s)".into()),
        );
    }
    if !ww_open.is_empty() {
        j.warn(
            "world-writable",
            format!(
                "{} world-writable directories without the sticky bit outside /tmp: {}",
                ww_open.len(),
                list(&ww_open)
            ),
            "chmod o-w (or +t) them in the image",
        );
    }
    if !ww_sticky.is_empty() {
        j.push(
            "world-writable",
            Severity::Info,
            format!("{} world-writable (sticky) directories outside /tmp: {}", ww_sticky.len(), list(&ww_sticky)),
            Some("chmod o-w them unless users must share them".into()),
        );
    }
    if ww_open.is_empty() && ww_sticky.is_empty() {
        j.ok("world-writable", "no world-writable directories outside /tmp");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_signal_names() {
        assert!(is_rtmin3("SIGRTMIN+3"));
        assert!(is_rtmin3("rtmin+3"));
        assert!(is_rtmin3("37"));
        assert!(!is_rtmin3("SIGTERM"));
    }

    #[test]
    fn env_lookup_takes_the_last() {
        let env = vec!["PATH=/a".to_string(), "container=docker".into(), "PATH=/b".into()];
        assert_eq!(env_get(&env, "PATH"), Some("/b"));
        assert_eq!(env_get(&env, "contain"), None);
    }

    #[test]
    fn root_users() {
        assert!(is_root_user("") && is_root_user("0:0") && is_root_user("root"));
        assert!(!is_root_user("1000") && !is_root_user("nobody:nogroup"));
    }
}
