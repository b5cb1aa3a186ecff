//! Every exit code of the binary, in one table. A leaf module: it imports nothing from the crate, so every other
//! module may use it. README's "Exit codes" and the harness (integration/harness/exit-codes.json, written and
//! checked by tests/exit_codes.rs) are kept in step with [`TABLE`].

pub const OK: u8 = 0;
/// `inspect`: the image will not boot (an error finding).
pub const INSPECT_WILL_NOT_BOOT: u8 = 1;
pub const USAGE: u8 = 2;
/// `inspect`: the archive or its manifest cannot be read.
pub const INSPECT_INVALID: u8 = 3;
/// Not PID 1 (`docker run --init`, a `sh -c` wrapper).
pub const NOT_PID1: u8 = 10;
pub const NOT_ROOT: u8 = 11;
/// /run is not a writable mount.
pub const RUN_NOT_MOUNT: u8 = 12;
/// /run/lock or /tmp not writable.
pub const TMP_NOT_WRITABLE: u8 = 13;
/// No cgroup fs, or cgroup v1/hybrid with a systemd that needs v2.
pub const CGROUP_UNSUPPORTED: u8 = 14;
/// Stock systemd on a read-only cgroup fs.
pub const STOCK_RO_CGROUP: u8 = 15;
pub const READ_ONLY_ROOT: u8 = 16;
pub const BAD_CONFIG: u8 = 17;
/// Preparing /run, or handing the process over to systemd (fds, cwd, signals), failed.
pub const PREPARE: u8 = 18;
/// /proc unreadable or unparseable; (`wait`) `systemctl` cannot be run.
pub const PROBE: u8 = 19;
/// `doctor` next to a running systemd whose state is not `running`.
pub const NOT_RUNNING: u8 = 20;
/// Relay mode was required (`--relay=always`) but cannot start: no CAP_SYS_ADMIN, or the namespace setup failed.
pub const RELAY_IMPOSSIBLE: u8 = 21;
/// `wait`: the boot finished `degraded` (failed units).
pub const WAIT_DEGRADED: u8 = 22;
/// `wait`: the boot finished in `maintenance` (rescue/emergency) or the system is `stopping`.
pub const WAIT_NOT_UP: u8 = 23;
/// `wait`: the timeout passed before the boot finished (PID 1 not yet systemd, or still starting).
pub const WAIT_TIMEOUT: u8 = 24;
pub const EXEC_NOT_EXECUTABLE: u8 = 126;
pub const EXEC_NOT_FOUND: u8 = 127;
/// A stop signal N before exec ends the init with `SIGNAL_BASE + N`, like a shell.
pub const SIGNAL_BASE: u8 = 128;
/// Relay mode: systemd asked for a reboot (128+SIGHUP, what the kernel killed it with).
pub const REBOOT: u8 = SIGNAL_BASE + libc::SIGHUP as u8;

/// Name (as the harness spells it) and code of every constant above.
pub const TABLE: &[(&str, u8)] = &[
    ("OK", OK),
    ("INSPECT_WILL_NOT_BOOT", INSPECT_WILL_NOT_BOOT),
    ("USAGE", USAGE),
    ("INSPECT_INVALID", INSPECT_INVALID),
    ("NOT_PID1", NOT_PID1),
    ("NOT_ROOT", NOT_ROOT),
    ("RUN_NOT_MOUNT", RUN_NOT_MOUNT),
    ("TMP_NOT_WRITABLE", TMP_NOT_WRITABLE),
    ("CGROUP_UNSUPPORTED", CGROUP_UNSUPPORTED),
    ("STOCK_RO_CGROUP", STOCK_RO_CGROUP),
    ("READ_ONLY_ROOT", READ_ONLY_ROOT),
    ("BAD_CONFIG", BAD_CONFIG),
    ("PREPARE", PREPARE),
    ("PROBE", PROBE),
    ("NOT_RUNNING", NOT_RUNNING),
    ("RELAY_IMPOSSIBLE", RELAY_IMPOSSIBLE),
    ("WAIT_DEGRADED", WAIT_DEGRADED),
    ("WAIT_NOT_UP", WAIT_NOT_UP),
    ("WAIT_TIMEOUT", WAIT_TIMEOUT),
    ("EXEC_NOT_EXECUTABLE", EXEC_NOT_EXECUTABLE),
    ("EXEC_NOT_FOUND", EXEC_NOT_FOUND),
    ("SIGNAL_BASE", SIGNAL_BASE),
    ("REBOOT", REBOOT),
];

/// The exit code after stop signal `signal` arrived before exec.
pub fn after_signal(signal: i32) -> u8 {
    (i32::from(SIGNAL_BASE) + signal).clamp(0, 255) as u8
}

/// [`TABLE`] as the JSON object the harness reads: `{"NAME": code, ...}` in table order, one entry a line.
pub fn table_json() -> String {
    let lines: Vec<String> = TABLE.iter().map(|(name, code)| format!("  \"{name}\": {code}")).collect();
    format!("{{\n{}\n}}\n", lines.join(",\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_codes_are_unique() {
        for (i, (name, code)) in TABLE.iter().enumerate() {
            for (other, other_code) in &TABLE[i + 1..] {
                assert_ne!(name, other);
                assert_ne!(code, other_code, "{name} and {other} share {code}");
            }
        }
    }

    #[test]
    fn json_is_the_table() {
        let v: serde_json::Value = serde_json::from_str(&table_json()).unwrap();
        assert_eq!(v.as_object().unwrap().len(), TABLE.len());
        assert_eq!(v["REBOOT"], 129);
        assert_eq!(after_signal(libc::SIGTERM), 143);
    }
}
