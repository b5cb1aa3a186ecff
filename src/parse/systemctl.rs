//! systemctl's listings.

/// Unit names in `systemctl list-units --failed --plain --no-legend` output (first column; a leading status
/// bullet is dropped in case `--plain` is not honoured).
pub fn failed_units(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.split_whitespace().find(|w| !matches!(*w, "●" | "×" | "*")))
        .filter(|u| u.contains('.'))
        .map(str::to_owned)
        .collect()
}

/// The properties `systemctl show --property=A,B UNIT` prints, one `KEY=value` a line (a property without a
/// value is an empty string).
pub fn show(stdout: &str) -> std::collections::BTreeMap<String, String> {
    stdout.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_reads_properties() {
        let p = show("ActiveState=active\nInvocationID=0123456789abcdef0123456789abcdef\nExecMainStatus=\n");
        assert_eq!(p["ActiveState"], "active");
        assert_eq!(p["InvocationID"], "0123456789abcdef0123456789abcdef");
        assert_eq!(p["ExecMainStatus"], "");
        assert!(show("").is_empty());
    }

    #[test]
    fn failed_units_parse_plain_and_bulleted() {
        let out = "n2d-fail.service loaded failed failed n2d failing unit\n\
                   ● redis-server.service loaded failed failed Advanced key-value store\n\n";
        assert_eq!(failed_units(out), vec!["n2d-fail.service", "redis-server.service"]);
        assert!(failed_units("").is_empty());
        assert!(failed_units("0 loaded units listed.\n").is_empty());
    }
}
