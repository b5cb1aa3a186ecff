//! A stand-in for systemd in the root-only namespace tests (tests/namespace.rs).
//!
//! As the init's exec target it writes what it inherited (argv, env, signal mask and ignored signals, open
//! fds, cwd, pid, the files under /run the init prepared) as JSON to $FAKE_TARGET_REPORT, then exits
//! $FAKE_TARGET_EXIT (default 0).
//!
//! `fake-target --launch-with-pending SIG PROGRAM ARGS…` instead blocks SIG, sends it to itself (so it stays
//! pending) and execs PROGRAM: a stop request that arrives before the init even runs.

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
    let prog = std::ffi::CString::new(args[1].as_bytes()).unwrap();
    let argv: Vec<std::ffi::CString> =
        args[1..].iter().map(|a| std::ffi::CString::new(a.as_bytes()).unwrap()).collect();
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    // SAFETY: plain libc calls on initialised data; execv only returns on failure.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        libc::kill(libc::getpid(), sig);
        libc::execv(prog.as_ptr(), argv_ptrs.as_ptr());
    }
    panic!("execv {} failed: {}", args[1], std::io::Error::last_os_error());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--launch-with-pending") {
        launch(&args[2..]);
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
    let lock_mode = std::fs::metadata("/run/lock").map(|m| m.permissions().mode() & 0o7777).ok();
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
    });
    let out = std::env::var("FAKE_TARGET_REPORT").expect("FAKE_TARGET_REPORT");
    std::fs::write(out, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    let code = std::env::var("FAKE_TARGET_EXIT").ok().and_then(|c| c.parse().ok()).unwrap_or(0);
    std::process::exit(code);
}
