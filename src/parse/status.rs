//! `/proc/<pid>/status`: identity, capabilities, seccomp and no_new_privs.

use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Status {
    pub name: String,
    pub pid: Option<i32>,
    /// PIDs of this process in each nested PID namespace, outermost first (`NSpid:`).
    pub ns_pids: Vec<i32>,
    /// Real, effective, saved, filesystem uid.
    pub uids: Vec<u32>,
    pub cap_inh: u64,
    pub cap_prm: u64,
    pub cap_eff: u64,
    pub cap_bnd: u64,
    pub cap_amb: u64,
    pub no_new_privs: bool,
    /// 0 disabled, 1 strict, 2 filter.
    pub seccomp: u8,
    pub seccomp_filters: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("status field {field}: cannot parse {value:?}")]
pub struct ParseError {
    pub field: String,
    pub value: String,
}

fn hex(field: &str, v: &str) -> Result<u64, ParseError> {
    u64::from_str_radix(v, 16).map_err(|_| ParseError { field: field.into(), value: v.into() })
}

fn num<T: std::str::FromStr>(field: &str, v: &str) -> Result<T, ParseError> {
    v.parse().map_err(|_| ParseError { field: field.into(), value: v.into() })
}

pub fn parse(text: &str) -> Result<Status, ParseError> {
    let mut s = Status::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        match key {
            "Name" => s.name = value.to_owned(),
            "Pid" => s.pid = Some(num(key, value)?),
            "NSpid" => s.ns_pids = value.split_whitespace().map(|v| num(key, v)).collect::<Result<_, _>>()?,
            "Uid" => s.uids = value.split_whitespace().map(|v| num(key, v)).collect::<Result<_, _>>()?,
            "CapInh" => s.cap_inh = hex(key, value)?,
            "CapPrm" => s.cap_prm = hex(key, value)?,
            "CapEff" => s.cap_eff = hex(key, value)?,
            "CapBnd" => s.cap_bnd = hex(key, value)?,
            "CapAmb" => s.cap_amb = hex(key, value)?,
            "NoNewPrivs" => s.no_new_privs = value == "1",
            "Seccomp" => s.seccomp = num(key, value)?,
            "Seccomp_filters" => s.seccomp_filters = num(key, value)?,
            _ => {}
        }
    }
    Ok(s)
}

/// Whether a process accepts `signal`, from its /proc/PID/status text: blocked (it reads it from a signalfd,
/// like systemd) or caught (a handler). A namespace's init that does neither never receives it.
pub fn accepts_signal(status: &str, signal: i32) -> bool {
    let mask = |field: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or(0)
    };
    let bit = 1u64 << ((signal - 1) as u32 & 63);
    (mask("SigBlk:") | mask("SigCgt:")) & bit != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_default() {
        let text = "Name:\tsh\nUmask:\t0022\nState:\tR (running)\nPid:\t1\nNSpid:\t4242\t1\nUid:\t0\t0\t0\t0\n\
CapInh:\t0000000000000000\nCapPrm:\t00000000a80425fb\nCapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\n\
CapAmb:\t0000000000000000\nNoNewPrivs:\t0\nSeccomp:\t2\nSeccomp_filters:\t1\n";
        let s = parse(text).unwrap();
        assert_eq!(s.name, "sh");
        assert_eq!(s.pid, Some(1));
        assert_eq!(s.ns_pids, vec![4242, 1]);
        assert_eq!(s.uids, vec![0, 0, 0, 0]);
        assert_eq!(s.cap_eff, 0xa80425fb);
        assert_eq!(s.seccomp, 2);
        assert_eq!(s.seccomp_filters, 1);
        assert!(!s.no_new_privs);
    }

    #[test]
    fn bad_hex_names_the_field() {
        let e = parse("CapEff:\tzz\n").unwrap_err();
        assert_eq!(e.field, "CapEff");
        assert_eq!(e.value, "zz");
    }

    #[test]
    fn accepts_reads_blocked_and_caught_masks() {
        // systemd blocks what it handles (signalfd); bash catches (trap).
        let status = "Name:\tx\nSigPnd:\t0000000000000000\nSigBlk:\t0000001000000000\nSigIgn:\t0000000000001000\n\
                      SigCgt:\t0000000000004002\n";
        assert!(accepts_signal(status, crate::signals::SIGRTMIN_PLUS_3), "SIGRTMIN+3 is 37: bit 36");
        assert!(accepts_signal(status, libc::SIGINT));
        assert!(accepts_signal(status, libc::SIGTERM));
        assert!(!accepts_signal(status, libc::SIGPIPE), "ignored is not accepted");
        assert!(!accepts_signal(status, libc::SIGHUP));
        assert!(!accepts_signal("", libc::SIGTERM));
    }
}
