//! Shared by the root-only namespace tests (tests/namespace.rs, tests/relay.rs).
//!
//! Those tests mount tmpfs over /run and /tmp inside the namespace, so everything they share with it — the
//! binaries, the config, the reports — must live elsewhere. When cargo's target dir is under /tmp or /run
//! (CARGO_TARGET_DIR=/tmp/…, or a clone under /tmp), [`stage`] copies the binaries to /var/tmp.

#![allow(dead_code)] // each test binary uses a part

pub mod boot;

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_nixos2docker");

pub fn require_root(what: &str) {
    let uid = nix::unistd::geteuid();
    assert!(uid.is_root(), "{what} need root (uid is {uid}); run them as root or leave them ignored");
    assert!(
        Command::new("unshare").arg("--version").output().is_ok_and(|o| o.status.success()),
        "{what} need unshare(1) from util-linux"
    );
}

fn hidden_in_namespace(p: &Path) -> bool {
    p.starts_with("/tmp") || p.starts_with("/run")
}

/// A fresh per-test directory visible inside the namespace, with the init (`bin`) and the fake target
/// (`fake_target`, examples/fake-target.rs) reachable from there.
pub struct Stage {
    pub dir: PathBuf,
    pub bin: PathBuf,
    pub fake_target: PathBuf,
}

pub fn stage(name: &str) -> Stage {
    let tmpdir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let base = if hidden_in_namespace(tmpdir) { PathBuf::from("/var/tmp/nixos2docker-tests") } else { tmpdir.into() };
    let dir = base.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let bin = PathBuf::from(BIN);
    let fake = bin.parent().unwrap().join("examples/fake-target");
    assert!(fake.exists(), "{} missing: run `cargo build --examples` first", fake.display());
    if !hidden_in_namespace(&bin) {
        return Stage { dir, bin, fake_target: fake };
    }
    let (b, f) = (dir.join("nixos2docker"), dir.join("fake-target"));
    std::fs::copy(&bin, &b).unwrap();
    std::fs::copy(&fake, &f).unwrap();
    Stage { dir, bin: b, fake_target: f }
}
