//! A stand-in for systemd in the root-only namespace tests (tests/namespace.rs).
//!
//! As the init's exec target it writes what it inherited (argv, env, signal mask and ignored signals, open
//! fds, cwd, pid, the files under /run the init prepared) as JSON to $FAKE_TARGET_REPORT, then exits
//! $FAKE_TARGET_EXIT (default 0).
//!
//! `fake-target --launch-with-pending SIG PROGRAM ARGS…` instead blocks SIG, sends it to itself (so it stays
//! pending) and execs PROGRAM: a stop request that arrives before the init even runs.
//!
//! `fake-target --deny NR:ERRNO[,NR:ERRNO…] PROGRAM ARGS…` installs a seccomp filter under which the system
//! calls numbered NR fail with ERRNO (as an older kernel or a runtime's seccomp profile would answer), then
//! execs PROGRAM.

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn status_field(field: &str) -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix(field).map(|v| v.trim().to_owned())).unwrap_or_default()
}

fn tree(dir: &Path, out: &mut BTreeMap<String, String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        let meta = std::fs::symlink_metadata(&p).unwrap();
        let key = p.display().to_string();
        if meta.file_type().is_symlink() {
            out.insert(key, format!("-> {}", std::fs::read_link(&p).unwrap().display()));
        } else if meta.is_dir() {
            tree(&p, out);
        } else {
            out.insert(key, std::fs::read_to_string(&p).unwrap_or_default());
        }
    }
}

fn launch(args: &[String]) -> ! {
    let sig: i32 = args[0].parse().expect("signal number");
    // SAFETY: plain libc calls on initialised data.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        libc::kill(libc::getpid(), sig);
    }
    exec(&args[1..])
}

fn exec(args: &[String]) -> ! {
    let prog = std::ffi::CString::new(args[0].as_bytes()).unwrap();
    let argv: Vec<std::ffi::CString> = args.iter().map(|a| std::ffi::CString::new(a.as_bytes()).unwrap()).collect();
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    // SAFETY: execv with NUL-terminated strings and a NULL-terminated array; it only returns on failure.
    unsafe { libc::execv(prog.as_ptr(), argv_ptrs.as_ptr()) };
    panic!("execv {} failed: {}", args[0], std::io::Error::last_os_error());
}

/// A classic-BPF seccomp filter: on this architecture, the listed system calls fail with their errno.
fn deny(spec: &str, args: &[String]) -> ! {
    const AUDIT_ARCH: u32 = if cfg!(target_arch = "aarch64") { 0xc000_00b7 } else { 0xc000_003e };
    let stmt = |code: u16, k: u32| libc::sock_filter { code, jt: 0, jf: 0, k };
    let jeq = |k: u32, jt: u8, jf: u8| libc::sock_filter { code: 0x15, jt, jf, k }; // BPF_JMP|BPF_JEQ|BPF_K
    let (ld, ret) = (0x20u16, 0x06u16); // BPF_LD|BPF_W|BPF_ABS, BPF_RET|BPF_K
    let mut prog = vec![stmt(ld, 4), jeq(AUDIT_ARCH, 1, 0), stmt(ret, 0x7fff_0000), stmt(ld, 0)];
    for rule in spec.split(',') {
        let (nr, errno) = rule.split_once(':').expect("NR:ERRNO");
        prog.push(jeq(nr.parse().unwrap(), 0, 1));
        prog.push(stmt(ret, 0x0005_0000 | errno.parse::<u32>().unwrap())); // SECCOMP_RET_ERRNO
    }
    prog.push(stmt(ret, 0x7fff_0000)); // SECCOMP_RET_ALLOW
    let fprog = libc::sock_fprog { len: prog.len() as u16, filter: prog.as_mut_ptr() };
    // SAFETY: prctl(2) with a filter program that outlives the call.
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        assert_eq!(libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &fprog), 0, "seccomp");
    }
    exec(args)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--launch-with-pending") {
        launch(&args[2..]);
    }
    if args.get(1).map(String::as_str) == Some("--deny") {
        deny(&args[2], &args[3..]);
    }
    let fds: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter(|e| {
            // Leave out the fd read_dir itself holds.
            std::fs::read_link(e.path()).map(|t| !t.as_os_str().as_bytes().ends_with(b"/fd")).unwrap_or(true)
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let mut run = BTreeMap::new();
    tree(Path::new("/run/systemd"), &mut run);
    tree(Path::new("/run/nixos2docker"), &mut run);
    let lock_mode = std::fs::metadata("/run/lock").map(|m| m.permissions().mode() & 0o7777).ok();
    let degraded_mode = std::fs::symlink_metadata("/run/nixos2docker/degraded")
        .ok()
        .filter(|m| m.is_dir())
        .map(|m| m.permissions().mode() & 0o7777);
    let report = serde_json::json!({
        "argv": args,
        "env": std::env::vars().collect::<BTreeMap<_, _>>(),
        "sigblk": status_field("SigBlk:"),
        "sigign": status_field("SigIgn:"),
        "fds": fds,
        "cwd": std::env::current_dir().unwrap(),
        "pid": std::process::id(),
        "run": run,
        "runLockMode": lock_mode,
        "degradedDirMode": degraded_mode,
    });
    let out = std::env::var("FAKE_TARGET_REPORT").expect("FAKE_TARGET_REPORT");
    std::fs::write(out, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    let code = std::env::var("FAKE_TARGET_EXIT").ok().and_then(|c| c.parse().ok()).unwrap_or(0);
    std::process::exit(code);
}
