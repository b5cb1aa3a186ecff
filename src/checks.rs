//! Preflight: judges the [`Facts`] and yields one [`Finding`] per check. Pure: no I/O.
//!
//! The order of [`preflight`] is the order of precedence: the first error decides the exit code.

use crate::exit_code;
use crate::facts::{CgroupKind, Engine, EngineKind, Facts};
use crate::parse::uid_map::UserNs;
use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Ok,
    Info,
    Warning,
    Error,
}

/// Where the checks run: before systemd (the init, or `docker run IMG doctor`), or next to a running systemd
/// (`docker exec C nixos2docker doctor`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    PreBoot,
    /// PID 1 is systemd; the state is what `systemctl is-system-running` said, if it could be asked.
    Running(Option<String>),
}

impl Severity {
    /// The short mark reports print: `ok`, `info`, `WARN`, `FAIL`.
    pub fn mark(self) -> &'static str {
        match self {
            Severity::Ok => "ok",
            Severity::Info => "info",
            Severity::Warning => "WARN",
            Severity::Error => "FAIL",
        }
    }
}

impl Mode {
    pub fn name(&self) -> &'static str {
        match self {
            Mode::PreBoot => "preboot",
            Mode::Running(_) => "running",
        }
    }
}

/// A check that stops the boot. Every message names the value it saw and ends with the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    NotPid1 { pid: i32, pid1: String },
    UnderInitShim { pid1: String },
    NotRoot { uid: u32 },
    RunNotMounted,
    RunReadOnly { fstype: String },
    NotWritable { path: &'static str },
    ReadOnlyRoot,
    NoCgroupFs,
    LegacyCgroups { kind: CgroupKind, version: u32 },
    TargetMissing { path: String },
    TargetNotExecutable { path: String },
    StockOnReadOnlyCgroup { path: String, version: Option<u32>, engine: Engine },
}

impl Problem {
    pub fn id(&self) -> &'static str {
        match self {
            Problem::NotPid1 { .. } | Problem::UnderInitShim { .. } => "pid1",
            Problem::NotRoot { .. } => "uid",
            Problem::RunNotMounted | Problem::RunReadOnly { .. } => "run",
            Problem::NotWritable { path } if *path == "/tmp" => "tmp",
            Problem::NotWritable { .. } => "run-lock",
            Problem::ReadOnlyRoot => "root-fs",
            Problem::NoCgroupFs | Problem::LegacyCgroups { .. } => "cgroup",
            Problem::TargetMissing { .. } | Problem::TargetNotExecutable { .. } => "target",
            Problem::StockOnReadOnlyCgroup { .. } => "systemd",
        }
    }

    /// The documented exit code (README, "Exit codes").
    pub fn exit_code(&self) -> u8 {
        match self {
            Problem::NotPid1 { .. } | Problem::UnderInitShim { .. } => exit_code::NOT_PID1,
            Problem::NotRoot { .. } => exit_code::NOT_ROOT,
            Problem::RunNotMounted | Problem::RunReadOnly { .. } => exit_code::RUN_NOT_MOUNT,
            Problem::NotWritable { .. } => exit_code::TMP_NOT_WRITABLE,
            Problem::NoCgroupFs | Problem::LegacyCgroups { .. } => exit_code::CGROUP_UNSUPPORTED,
            Problem::StockOnReadOnlyCgroup { .. } => exit_code::STOCK_RO_CGROUP,
            Problem::ReadOnlyRoot => exit_code::READ_ONLY_ROOT,
            Problem::TargetNotExecutable { .. } => exit_code::EXEC_NOT_EXECUTABLE,
            Problem::TargetMissing { .. } => exit_code::EXEC_NOT_FOUND,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Problem::NotPid1 { pid, pid1 } => {
                format!(
                    "not running as PID 1 (pid {pid}; PID 1 is {pid1}): systemd refuses system mode unless it is PID 1"
                )
            }
            Problem::UnderInitShim { pid1 } => {
                format!(
                    "PID 1 is {pid1}, an init shim (docker run --init): systemd must be PID 1 and reaps processes itself"
                )
            }
            Problem::NotRoot { uid } => format!("running as uid {uid}, not 0: systemd needs root inside the container"),
            Problem::RunNotMounted => "/run is not a mount: systemd needs a fresh, writable tmpfs at /run".into(),
            Problem::RunReadOnly { fstype } => {
                format!("/run ({fstype}) is read-only: systemd must write its runtime state there")
            }
            Problem::NotWritable { path } => format!("{path} is not writable: systemd and its services need it"),
            Problem::ReadOnlyRoot => {
                "the root filesystem is read-only (--read-only): systemd must write /etc/machine-id and /var".into()
            }
            Problem::NoCgroupFs => "no cgroup filesystem at /sys/fs/cgroup: systemd cannot track its services".into(),
            Problem::LegacyCgroups { kind, version } => format!(
                "the cgroup setup is {} (cgroup v1) and systemd {version} supports only the unified hierarchy (v2)",
                if *kind == CgroupKind::Hybrid { "hybrid" } else { "legacy" }
            ),
            Problem::TargetMissing { path } => format!("the exec target {path} does not exist"),
            Problem::TargetNotExecutable { path } => format!("the exec target {path} is not executable"),
            Problem::StockOnReadOnlyCgroup { path, version, .. } => format!(
                "/sys/fs/cgroup is read-only and {path} is stock systemd{}, which exits 255 when it cannot create \
                 init.scope there; it cannot boot in this container",
                version.map(|v| format!(" {v}")).unwrap_or_default()
            ),
        }
    }

    pub fn remedy(&self) -> String {
        match self {
            Problem::NotPid1 { .. } => {
                "make the image's entrypoint (/init) the container's first process: no `sh -c` wrapper, no --pid=host"
                    .into()
            }
            Problem::UnderInitShim { .. } => {
                "drop --init from `docker run` (and `init: true` from compose files)".into()
            }
            Problem::NotRoot { .. } => {
                "drop --user (and `user:` in compose); services drop privileges themselves with User=".into()
            }
            Problem::RunNotMounted | Problem::RunReadOnly { .. } => {
                "add --tmpfs /run (or use an image that declares VOLUME /run)".into()
            }
            Problem::NotWritable { path } => format!("add --tmpfs {path}"),
            Problem::ReadOnlyRoot => "drop --read-only from `docker run`".into(),
            Problem::NoCgroupFs => "do not mask /sys/fs/cgroup; run on a host with cgroup v2".into(),
            Problem::LegacyCgroups { .. } => {
                "boot the Docker host with cgroup v2 (kernel command line systemd.unified_cgroup_hierarchy=1)".into()
            }
            Problem::TargetMissing { .. } => {
                "install systemd in the image, or set \"target\" in /etc/nixos2docker/config.json".into()
            }
            Problem::TargetNotExecutable { path } => format!("chmod +x {path}, or point \"target\" at systemd"),
            Problem::StockOnReadOnlyCgroup { engine, .. } => stock_remedy(engine).into(),
        }
    }
}

/// The ways out for stock systemd on a read-only cgroup fs that the engine in front of us accepts, and, where
/// none does, why.
pub fn stock_remedy(engine: &Engine) -> &'static str {
    match (engine.kind, engine.userns) {
        (EngineKind::Docker, UserNs::Host) | (EngineKind::Unknown, UserNs::Host) => {
            "use an image with nixos2docker's patched systemd; or, on Docker >= 28, add \
             `--security-opt writable-cgroups=true` (a private cgroup namespace whose own subtree is writable; \
             stock systemd then boots, but SIGTERM still makes it re-execute); or run it with \
             `podman run --systemd=always`; or, on an older Docker (insecure: exposes the host's cgroup tree), \
             `docker run --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw`"
        }
        (EngineKind::Docker, _) => {
            "use an image with nixos2docker's patched systemd: it is the only way here. In a user namespace \
             (rootless Docker, --userns-remap) Docker refuses `--security-opt writable-cgroups=true` (\"conflicts \
             with user namespaces and rootless mode\"), and the host's cgroup fs stays read-only for the container's \
             root even with `--cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw`"
        }
        (EngineKind::Podman, UserNs::Rootless { .. }) => {
            "use an image with nixos2docker's patched systemd: it is the only way here. Rootless podman gives \
             stock systemd a writable cgroup (`--systemd=always`) only when it runs in a systemd user session \
             that delegates one (cgroup manager systemd), and this container got none; the host's cgroup fs is \
             read-only from a user namespace"
        }
        (EngineKind::Podman, _) => {
            "use an image with nixos2docker's patched systemd; or run it with `podman run --systemd=always` \
             (rootful podman delegates the container's own cgroup, also with --userns=auto)"
        }
        (EngineKind::Unknown, _) => {
            "use an image with nixos2docker's patched systemd: it is the only way here. In a user namespace \
             (rootless engines, --userns-remap, Kubernetes hostUsers: false) the host's cgroup fs stays \
             read-only for the container's root and no engine option makes it writable (Docker refuses \
             writable-cgroups there)"
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}; fix: {}", self.message(), self.remedy())
    }
}

impl std::error::Error for Problem {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub id: &'static str,
    pub severity: Severity,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remedy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<u8>,
}

impl Finding {
    fn new(id: &'static str, severity: Severity, message: impl Into<String>) -> Finding {
        Finding { id, severity, message: message.into(), remedy: None, exit_code: None }
    }

    fn ok(id: &'static str, message: impl Into<String>) -> Finding {
        Finding::new(id, Severity::Ok, message)
    }

    fn info(id: &'static str, message: impl Into<String>) -> Finding {
        Finding::new(id, Severity::Info, message)
    }

    fn warn(id: &'static str, message: impl Into<String>, remedy: impl Into<String>) -> Finding {
        Finding { remedy: Some(remedy.into()), ..Finding::new(id, Severity::Warning, message) }
    }
}

impl From<Problem> for Finding {
    fn from(p: Problem) -> Finding {
        Finding {
            id: p.id(),
            severity: Severity::Error,
            message: p.message(),
            remedy: Some(p.remedy()),
            exit_code: Some(p.exit_code()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Report {
    pub mode: Mode,
    pub findings: Vec<Finding>,
    /// Set when a check fails: the first failing check, in precedence order.
    pub problem: Option<Problem>,
}

impl Report {
    pub fn exit_code(&self) -> u8 {
        self.problem.as_ref().map_or(exit_code::OK, Problem::exit_code)
    }
}

/// What the init does to /run before booting (decided here, done by `dropins`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunPlan {
    /// /run is a persistent volume, not a tmpfs: empty it.
    pub empty_stale_run: bool,
    pub create_run_lock: bool,
    /// The cgroup fs is read-only: tell systemd not to enable controllers.
    pub disable_controllers: bool,
    /// /dev/console exists (`docker run -t`): journald can forward to it as upstream does.
    pub console: bool,
}

/// The known init shims Docker and friends put at PID 1.
const INIT_SHIMS: &[&str] = &["docker-init", "tini", "tini-static", "dumb-init", "catatonit", "s6-svscan"];

/// The state the checks share while [`preflight`] runs them in order.
struct Preflight<'a> {
    facts: &'a Facts,
    mode: &'a Mode,
    /// Writability is judged as root only: as another uid everything looks read-only, and the uid finding
    /// already names the cause.
    as_root: bool,
    /// /run can be used (set by [`check_run`], read by [`check_run_lock_and_tmp`]).
    run_usable: bool,
    plan: RunPlan,
    findings: Vec<Finding>,
    /// The first failing check's problem, in precedence order.
    problem: Option<Problem>,
}

impl Preflight<'_> {
    fn push(&mut self, finding: Finding) {
        self.findings.push(finding);
    }

    fn fail(&mut self, p: Problem) {
        self.findings.push(Finding::from(p.clone()));
        self.problem.get_or_insert(p);
    }
}

/// Every check, in precedence order: the first one that fails decides the exit code.
const CHECKS: &[fn(&mut Preflight)] = &[
    check_pid1,
    check_uid,
    check_run,
    check_run_lock_and_tmp,
    check_root_fs,
    check_cgroups,
    check_userns,
    check_caps_and_seccomp,
    check_target,
    check_systemd,
];

/// Collect the findings of every check, in precedence order.
pub fn preflight(facts: &Facts, mode: &Mode) -> (Report, RunPlan) {
    let mut state = Preflight {
        facts,
        mode,
        as_root: facts.uid == 0,
        run_usable: false,
        plan: RunPlan {
            empty_stale_run: false,
            create_run_lock: false,
            disable_controllers: false,
            console: facts.path("/dev/console").exists,
        },
        findings: Vec::new(),
        problem: None,
    };
    for check in CHECKS {
        check(&mut state);
    }
    (Report { mode: mode.clone(), findings: state.findings, problem: state.problem }, state.plan)
}

fn check_pid1(c: &mut Preflight) {
    let facts = c.facts;
    match (&facts.pid1, c.mode) {
        (None, _) => c.push(Finding::ok("pid1", "running as PID 1")),
        (Some(p1), Mode::Running(state)) => c.push(Finding::info(
            "pid1",
            format!(
                "PID 1 is {} ({}); system state: {}",
                p1.comm,
                if p1.comm == "systemd" { "booted" } else { "relaying to systemd in a nested PID namespace" },
                state.as_deref().unwrap_or("unknown")
            ),
        )),
        (Some(p1), Mode::PreBoot) if INIT_SHIMS.contains(&p1.comm.as_str()) => {
            c.fail(Problem::UnderInitShim { pid1: p1.comm.clone() })
        }
        (Some(p1), Mode::PreBoot) => c.fail(Problem::NotPid1 { pid: facts.pid, pid1: p1.comm.clone() }),
    }
}

fn check_uid(c: &mut Preflight) {
    if c.facts.uid == 0 {
        c.push(Finding::ok("uid", "running as uid 0"));
    } else {
        c.fail(Problem::NotRoot { uid: c.facts.uid });
    }
}

fn check_run(c: &mut Preflight) {
    let facts = c.facts;
    c.run_usable = match facts.mount_at("/run") {
        None => {
            c.fail(Problem::RunNotMounted);
            false
        }
        Some(m) if m.read_only() || (c.as_root && !facts.path("/run").writable) => {
            c.fail(Problem::RunReadOnly { fstype: m.fstype.clone() });
            false
        }
        Some(m) if m.fstype == "tmpfs" => {
            c.push(Finding::ok("run", "/run is a writable tmpfs"));
            true
        }
        Some(m) => {
            let running = matches!(c.mode, Mode::Running(_));
            c.plan.empty_stale_run = !running;
            c.push(Finding::warn(
                "run",
                format!(
                    "/run is a persistent {} mount (an image volume?), not a tmpfs{}",
                    m.fstype,
                    if running { "" } else { ": its stale content is emptied before boot" }
                ),
                "add --tmpfs /run",
            ));
            true
        }
    };
}

fn check_run_lock_and_tmp(c: &mut Preflight) {
    let facts = c.facts;
    let lock = facts.path("/run/lock");
    if !lock.exists || (c.plan.empty_stale_run && facts.mount_at("/run/lock").is_none()) {
        if c.run_usable {
            c.plan.create_run_lock = true;
            c.push(Finding::info("run-lock", "/run/lock is created inside /run"));
        }
    } else if lock.writable || !c.as_root {
        c.push(Finding::ok("run-lock", "/run/lock exists"));
    } else {
        c.fail(Problem::NotWritable { path: "/run/lock" });
    }
    let tmp = facts.path("/tmp");
    if c.as_root && !tmp.writable {
        c.fail(Problem::NotWritable { path: "/tmp" });
    } else if tmp.fs_magic == Some(crate::sys::magic::TMPFS) {
        c.push(Finding::ok("tmp", "/tmp is a writable tmpfs"));
    } else {
        let fstype = crate::parse::mountinfo::containing(&facts.mounts, "/tmp").map_or("?", |m| m.fstype.as_str());
        c.push(Finding::warn(
            "tmp",
            format!(
                "/tmp is on {fstype}, not a tmpfs: its files survive restarts and fill the container's writable layer"
            ),
            "add --tmpfs /tmp",
        ));
    }
}

/// The mount flag; as root also access(2).
fn check_root_fs(c: &mut Preflight) {
    let root_ro = crate::parse::mountinfo::at(&c.facts.mounts, "/").is_some_and(|m| m.read_only());
    if !root_ro && (c.facts.path("/").writable || !c.as_root) {
        c.push(Finding::ok("root-fs", "the root filesystem is writable"));
    } else {
        c.fail(Problem::ReadOnlyRoot);
    }
}

fn check_cgroups(c: &mut Preflight) {
    let cg = &c.facts.cgroups;
    let version = c.facts.target.version;
    match cg.kind {
        CgroupKind::Missing => c.fail(Problem::NoCgroupFs),
        CgroupKind::Hybrid | CgroupKind::Legacy if version.is_some_and(|v| v >= 258) => {
            c.fail(Problem::LegacyCgroups { kind: cg.kind, version: version.unwrap_or(258) })
        }
        CgroupKind::Hybrid | CgroupKind::Legacy => c.push(Finding::warn(
            "cgroup",
            format!("cgroup v1 ({:?}) is deprecated and untested with nixos2docker", cg.kind).to_lowercase(),
            "boot the Docker host with cgroup v2 (systemd.unified_cgroup_hierarchy=1)",
        )),
        CgroupKind::Unified => {
            let ns = if cg.private_ns { "private cgroup namespace" } else { "host cgroup namespace" };
            if !cg.writable {
                c.plan.disable_controllers = true;
                let whose = match c.facts.engine.kind {
                    EngineKind::Podman => "podman's default",
                    EngineKind::Docker | EngineKind::Unknown => "Docker's default",
                };
                c.push(Finding::ok("cgroup", format!("cgroup2, read-only ({whose}), {ns}")));
            } else if cg.private_ns {
                c.push(Finding::ok(
                    "cgroup",
                    format!(
                        "cgroup2, writable, {ns}: the container's own subtree (Docker >= 28 \
                         --security-opt writable-cgroups=true, or podman --systemd=always)"
                    ),
                ));
            } else {
                c.push(Finding::warn(
                    "cgroup",
                    format!(
                        "cgroup2, writable, {ns} (cgroup {}): the container can rewrite the host's cgroup tree",
                        cg.own_path.as_deref().unwrap_or("?")
                    ),
                    "use patched systemd and drop --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw",
                ));
            }
        }
    }
}

/// Ids a whole Debian system needs mapped: nobody/nogroup (65534) and DynamicUser= (61184-65519).
const FULL_ID_RANGE: u64 = 65536;

/// The user namespace the engine gave the container; reported, a warning when it maps too few ids.
fn check_userns(c: &mut Preflight) {
    let e = &c.facts.engine;
    let n = e.mapped_ids;
    match e.userns {
        UserNs::Host => c.push(Finding::ok("userns", "no user namespace: the container's root is the host's root")),
        UserNs::Rootless { root } => c.push(Finding::info(
            "userns",
            format!(
                "user namespace of a rootless engine: the container's root is host uid {root} (the user who runs \
                 the engine), {n} ids mapped; the host's cgroup fs is read-only from here"
            ),
        )),
        UserNs::Remapped { root } => c.push(Finding::info(
            "userns",
            format!(
                "user namespace: the container's root is host uid {root} (--userns-remap, --userns=auto or \
                 hostUsers: false), {n} ids mapped; the host's cgroup fs is read-only from here"
            ),
        )),
    }
    if !e.userns.is_host() && n < FULL_ID_RANGE {
        c.push(Finding::warn(
            "userns",
            format!(
                "only {n} ids are mapped: nobody/nogroup (65534) and DynamicUser= services (61184-65519) have no \
                 id here, so sshd's setgroups and such services fail"
            ),
            match e.kind {
                EngineKind::Podman => {
                    "run it with `podman run --userns=auto:size=65536` (podman sizes `auto` to \
                                       the ids the image's files use)"
                }
                EngineKind::Docker => {
                    "give the engine's user at least 65536 subordinate ids in /etc/subuid and \
                                       /etc/subgid"
                }
                EngineKind::Unknown => "map at least 65536 ids into the container's user namespace",
            },
        ));
    }
}

/// Capabilities, seccomp, no_new_privs: reported, never fatal. A non-root process has no effective
/// capabilities; then the bounding set tells what the container would give root.
fn check_caps_and_seccomp(c: &mut Preflight) {
    let st = &c.facts.status;
    let (set, which) = if c.as_root { (st.cap_eff, "effective") } else { (st.cap_bnd, "bounding") };
    let engine = &c.facts.engine;
    let (default, set_name) = (engine.default_caps(), engine.default_caps_name());
    let extra = set & !default;
    let missing = default & !set;
    let mut caps_msg = format!("{which} capabilities: {}", Facts::cap_names(set).join(","));
    if extra == 0 && missing == 0 {
        caps_msg.push_str(&format!(" ({set_name}; CAP_SYS_ADMIN and --privileged are not needed)"));
        c.push(Finding::ok("caps", caps_msg));
    } else if missing != 0 {
        c.push(Finding::warn(
            "caps",
            format!("{caps_msg}; missing from {set_name}: {}", Facts::cap_names(missing).join(",")),
            "drop --cap-drop: services need chown, setuid, setgid, kill and friends",
        ));
    } else {
        c.push(Finding::info(
            "caps",
            format!(
                "{caps_msg}; beyond {set_name}: {} (not needed: nixos2docker boots without them)",
                Facts::cap_names(extra).join(",")
            ),
        ));
    }
    c.push(Finding::info(
        "seccomp",
        format!(
            "seccomp {} ({} filters), no_new_privs {}",
            match st.seccomp {
                0 => "off",
                1 => "strict",
                _ => "filtering",
            },
            st.seccomp_filters,
            if st.no_new_privs { "on" } else { "off" }
        ),
    ));
}

fn check_target(c: &mut Preflight) {
    let t = &c.facts.target;
    if !t.info.exists {
        c.fail(Problem::TargetMissing { path: t.path.clone() });
    } else if !t.info.executable {
        c.fail(Problem::TargetNotExecutable { path: t.path.clone() });
    } else {
        c.push(Finding::ok("target", format!("exec target {}", t.path)));
    }
}

/// Patched or stock systemd.
fn check_systemd(c: &mut Preflight) {
    let (t, cg) = (&c.facts.target, &c.facts.cgroups);
    if !t.info.exists {
        return;
    }
    let v = t.version.map(|v| format!(" {v}")).unwrap_or_default();
    match t.patched {
        Some(true) => c.push(Finding::ok(
            "systemd",
            format!(
                "systemd{v} carries the nixos2docker patches ({})",
                t.systemd.patched.as_deref().unwrap_or("config")
            ),
        )),
        Some(false) if !cg.writable && cg.kind == CgroupKind::Unified => {
            c.fail(Problem::StockOnReadOnlyCgroup { path: t.path.clone(), version: t.version, engine: c.facts.engine })
        }
        Some(false) if c.facts.can_create_pid_ns() => c.push(Finding::info(
            "systemd",
            format!(
                "stock systemd{v}; CAP_SYS_ADMIN allows relay mode (default --relay=auto): it runs as PID 1 of a \
                 new PID namespace and SIGTERM is turned into SIGRTMIN+3"
            ),
        )),
        // Exec, not relay: without CAP_SYS_ADMIN (Docker's default set, also with writable-cgroups) no PID
        // namespace can be made, so stock systemd is PID 1 itself and keeps its own SIGTERM handling.
        Some(false) => c.push(Finding::warn(
            "systemd",
            format!(
                "stock systemd{v} on a writable cgroup fs boots, exec'd as PID 1 (relay mode needs CAP_SYS_ADMIN \
                 for a PID namespace); SIGTERM makes it re-execute, not stop"
            ),
            "stop it with SIGRTMIN+3 (the image's StopSignal; Kubernetes ignores it), use patched systemd, or \
             grant CAP_SYS_ADMIN (--privileged) for relay mode, which translates SIGTERM",
        )),
        None => c.push(Finding::warn(
            "systemd",
            format!("cannot tell whether {} is patched systemd (not a systemd binary)", t.path),
            "set \"patched\" in /etc/nixos2docker/config.json",
        )),
    }
}

/// One line: every finding's id with a mark, for the error path and `doctor`'s short form.
pub fn summary_line(report: &Report) -> String {
    report
        .findings
        .iter()
        .map(|f| {
            // Information is not a problem: the one-line summary says "ok" for it.
            let mark = if f.severity == Severity::Info { "ok" } else { f.severity.mark() };
            format!("{} {mark}", f.id)
        })
        .collect::<Vec<_>>()
        .join(", ")
}
