//! `/proc/<pid>/stat`: the command name and the parent's PID.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat<'a> {
    pub comm: &'a str,
    pub ppid: u32,
}

/// The comm (in parentheses; it may hold spaces and parentheses itself, so up to the last `)`) and the
/// parent PID (the field after the state).
pub fn parse(stat: &str) -> Option<Stat<'_>> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?;
    let mut rest = stat.get(close + 1..)?.split_whitespace();
    let _state = rest.next()?;
    Some(Stat { comm, ppid: rest.next()?.parse().ok()? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comm_with_spaces_and_parens() {
        assert_eq!(parse("57 (systemd) S 1 57 57 0 -1"), Some(Stat { comm: "systemd", ppid: 1 }));
        assert_eq!(parse("9 (a (b) c) R 3 9"), Some(Stat { comm: "a (b) c", ppid: 3 }));
        assert_eq!(parse("garbage"), None);
        assert_eq!(parse("9 (x) R"), None);
    }
}
