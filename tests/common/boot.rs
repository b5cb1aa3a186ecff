//! A running init (either mode) as PID 1 of a fresh PID + mount namespace made by unshare(1), with a fake
//! systemd that records what it gets (tests/relay.rs, tests/faults.rs).

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const LIMIT: Duration = Duration::from_secs(20);
pub const RTMIN3: i32 = 37;

/// A stock "systemd" in Python: logs its PID, what PID 1 is in its /proc and its signal mask, then, after
/// $FAKE_DELAY seconds, takes signals the way systemd does — blocks the ones it handles and reads them, pending
/// ones included, with sigwaitinfo (systemd: a signalfd) — logging each; SIGRTMIN+3 (37, halt) ends it with
/// $FAKE_EXIT. A signal the kernel dropped before that never shows up.
pub const FAKE_SYSTEMD: &str = r#"#!/usr/bin/env python3
import ctypes, os, signal, stat, subprocess, sys, time
ctypes.CDLL(None).prctl(15, b"fake-systemd")  # PR_SET_NAME: /proc/PID/comm as for the old shell script
log = open(os.environ["FAKE_LOG"], "a", buffering=1)
say = lambda s: log.write(s + "\n")
say(f"pid {os.getpid()}")
say("proc1 " + open("/proc/1/comm").read().strip())
say("mask " + next(l.split()[1] for l in open("/proc/self/status") if l.startswith("SigBlk:")))
sock = "/run/nixos2docker/systemd-private"
say("proxy " + ("yes" if os.path.exists(sock) and stat.S_ISSOCK(os.lstat(sock).st_mode) else "no"))
say("started")
if os.environ.get("FAKE_PRIVATE"):
    subprocess.Popen([sys.executable, "-c", os.environ["FAKE_PRIVATE"]])
time.sleep(float(os.environ.get("FAKE_DELAY") or 0))
names = {signal.SIGTERM: "TERM", signal.SIGHUP: "HUP", signal.SIGINT: "INT", 37: "RTMIN+3"}
signal.pthread_sigmask(signal.SIG_BLOCK, list(names))
say("ready")
while True:
    sig = signal.sigwaitinfo(list(names)).si_signo
    say(names[sig])
    if sig == 37:
        sys.exit(int(os.environ.get("FAKE_EXIT") or 0))
"#;

/// The stop signals systemd reads from its signalfd, blocked when it starts (SIGHUP, SIGINT, SIGTERM,
/// SIGRTMIN+3 = 37): /proc's SigBlk.
pub const HANDED_OVER_MASK: &str = "0000001000004003";

pub struct Boot {
    pub dir: PathBuf,
    pub child: Child,
}

impl Boot {
    /// `unshare … sh -c 'mount tmpfs /run, /tmp; exec [launcher…] nixos2docker init --config CFG ARGS…'`.
    pub fn start(name: &str, config: &str, launcher: &[&str], args: &[&str], env: &[(&str, &str)]) -> Boot {
        Boot::start_in(&[], "", name, config, launcher, args, env)
    }

    /// [`Relay::start`] with more unshare(1) options and setup lines.
    pub fn start_in(
        unshare: &[&str],
        setup: &str,
        name: &str,
        config: &str,
        launcher: &[&str],
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Boot {
        super::require_root("relay tests");
        let stage = super::stage(&format!("relay-{name}"));
        let dir = stage.dir.clone();
        let fake = dir.join("fake-systemd");
        std::fs::write(&fake, FAKE_SYSTEMD).unwrap();
        std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let cfg = dir.join("config.json");
        let example = stage.fake_target.clone();
        let config = config.replace("@FAKE@", fake.to_str().unwrap()).replace("@EXAMPLE@", example.to_str().unwrap());
        std::fs::write(&cfg, config).unwrap();
        let script = format!("set -e\nmount -t tmpfs tmpfs /run\nmount -t tmpfs tmpfs /tmp\n{setup}\nexec \"$@\"");
        let mut cmd = Command::new("unshare");
        cmd.args(unshare);
        // --kill-child: if the test gives up on a hung run and kills unshare, the namespace goes with it.
        cmd.args(["--pid", "--mount", "--fork", "--kill-child", "--mount-proc", "--propagation", "private", "--"]);
        cmd.args(["sh", "-c"]);
        let launcher = launcher.iter().map(|a| a.replace("@EXAMPLE@", example.to_str().unwrap()));
        cmd.args([script.as_str(), "sh"]).args(launcher).arg(&stage.bin).args([
            "init",
            "--config",
            cfg.to_str().unwrap(),
        ]);
        cmd.args(args).env("FAKE_LOG", dir.join("log")).env("FAKE_TARGET_REPORT", dir.join("report.json"));
        cmd.envs(env.iter().copied()).env_remove("container");
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let child = cmd.spawn().expect("spawn unshare");
        Boot { dir, child }
    }

    /// Wait until the init runs and has blocked the stop signals (its first act; before that, the kernel drops a
    /// SIGTERM sent to a namespace's PID 1, whoever it is). Its PID.
    pub fn wait_init_blocked(&mut self) -> i32 {
        let t = Instant::now();
        loop {
            if let Some(pid) = Self::child_of(self.child.id()) {
                let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                let field = |f: &str| status.lines().find_map(|l| l.strip_prefix(f)).map(str::trim).unwrap_or("");
                let blk = u64::from_str_radix(field("SigBlk:"), 16).unwrap_or(0);
                let name = field("Name:");
                // Blocked, or already past the init (it exec'd systemd, or ended: no status left).
                let past = !matches!(name, "sh" | "unshare" | "nixos2docker");
                if (name == "nixos2docker" && blk & (1 << (libc::SIGTERM - 1)) != 0) || past {
                    return pid;
                }
            }
            assert!(t.elapsed() < LIMIT, "the init did not start within {LIMIT:?}");
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    pub fn wait_log(&mut self, line: &str) {
        let t = Instant::now();
        while !self.log().lines().any(|l| l == line) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("exited ({status}) before logging {line:?}; log:\n{}\n{}", self.log(), self.stderr());
            }
            assert!(t.elapsed() < LIMIT, "no {line:?} after {LIMIT:?}; log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The host PID of the only child of `pid`.
    pub fn child_of(pid: u32) -> Option<i32> {
        let t = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
        t.split_whitespace().next()?.parse().ok()
    }

    /// The init: PID 1 of the namespace unshare made, i.e. unshare's child.
    pub fn init_pid(&self) -> i32 {
        Self::child_of(self.child.id()).expect("unshare has a child")
    }

    /// The fake systemd: the init's child.
    pub fn systemd_pid(&self) -> i32 {
        Self::child_of(self.init_pid() as u32).expect("the init has a child (relay mode)")
    }

    pub fn kill_init(&self, sig: i32) {
        // SAFETY: kill(2).
        assert_eq!(unsafe { libc::kill(self.init_pid(), sig) }, 0);
    }

    pub fn stderr(&mut self) -> String {
        let mut s = String::new();
        if let Some(e) = self.child.stderr.as_mut() {
            let _ = e.read_to_string(&mut s);
        }
        s
    }

    /// Exit code (the init's: unshare passes it on) and stderr.
    pub fn finish(mut self) -> (i32, String, String) {
        let t = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let err = self.stderr();
                return (status.code().unwrap_or(-1), err, self.log());
            }
            if t.elapsed() > LIMIT {
                let _ = self.child.kill();
                panic!("the init did not end within {LIMIT:?}; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Boot {
    /// A failed assertion must not leave the namespace running: killing unshare kills it (--kill-child).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Stands in for systemd's private socket: answers each connection with the peer's PID and uid as this (inner)
/// PID namespace sees them, then what the client sent.
pub const PRIVATE_SERVER: &str = r#"
import os, socket, struct
os.makedirs("/run/systemd", exist_ok=True)
s = socket.socket(socket.AF_UNIX)
s.bind("/run/systemd/private")
s.listen()
open(os.environ["FAKE_LOG"], "a").write("private\n")
while True:
    c, _ = s.accept()
    pid, uid, gid = struct.unpack("3i", c.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    got = c.recv(100).decode()
    c.sendall(f"pid={pid} uid={uid} got={got}".encode())
    c.close()
"#;

pub const PRIVATE_CLIENT: &str = r#"
import socket
s = socket.socket(socket.AF_UNIX)
s.connect("/run/systemd/private")
s.sendall(b"hello")
print(s.recv(100).decode())
"#;
