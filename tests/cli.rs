//! The binary's command line, run as a user would (no root needed).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_nixos2docker");

fn tmp(name: &str, content: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&p, content).unwrap();
    p
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).env_remove("NIXOS2DOCKER_CONFIG").output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn bad_config_json_names_file_line_and_column_and_exits_17() {
    let cfg = tmp("bad.json", "{\n  \"target\": \"/sbin/init\",\n  \"patched\": maybe\n}\n");
    for cmd in [&["doctor", "--config"][..], &["init", "--dry-run", "--config"][..]] {
        let mut args = cmd.to_vec();
        args.push(cfg.to_str().unwrap());
        let o = run(&args);
        assert_eq!(o.status.code(), Some(17), "{args:?}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(e.starts_with("nixos2docker: error: "), "{e}");
        assert!(e.contains("bad.json") && e.contains("line 3") && e.contains("column"), "{e}");
    }
}

#[test]
fn missing_config_file_is_17_and_named() {
    let o = run(&["doctor", "--config", "/nonexistent/n2d.json"]);
    assert_eq!(o.status.code(), Some(17));
    assert!(stderr(&o).contains("/nonexistent/n2d.json"), "{}", stderr(&o));
}

#[test]
fn config_from_environment_is_used() {
    let cfg = tmp("env-bad.json", "not json");
    let o = Command::new(BIN).args(["doctor"]).env("NIXOS2DOCKER_CONFIG", &cfg).output().unwrap();
    assert_eq!(o.status.code(), Some(17), "{}", stderr(&o));
    assert!(stderr(&o).contains("env-bad.json"));
}

#[test]
fn usage_error_is_2_with_our_prefix() {
    let o = run(&["doctor", "--no-such-flag"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).starts_with("nixos2docker: error: "), "{}", stderr(&o));
}

#[test]
fn invoked_as_init_link_dispatches_doctor() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("link");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let link = dir.join("init");
    std::os::unix::fs::symlink(BIN, &link).unwrap();
    let o = Command::new(&link).args(["doctor", "--json"]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("doctor --json prints JSON");
    assert_eq!(v["exitCode"].as_u64(), o.status.code().map(|c| c as u64), "exit code = reported exitCode");
    assert!(v["findings"].as_array().is_some_and(|f| f.iter().any(|f| f["id"] == "pid1")));
}
