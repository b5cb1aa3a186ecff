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

/// The units' properties when `systemctl show --property=… UNIT…` was asked about several units: one block a
/// unit, in the order asked, separated by an empty line.
pub fn show_blocks(stdout: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut blocks = Vec::new();
    let mut current = String::new();
    for line in stdout.lines().chain(std::iter::once("")) {
        if line.trim().is_empty() {
            if !current.is_empty() {
                blocks.push(show(&current));
                current.clear();
            }
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_blocks_one_per_unit() {
        let out = "Id=a.service\nActiveState=active\n\nId=b.service\nActiveState=inactive\nInvocationID=\n";
        let b = show_blocks(out);
        assert_eq!(b.len(), 2);
        assert_eq!((b[0]["Id"].as_str(), b[1]["ActiveState"].as_str()), ("a.service", "inactive"));
        assert_eq!(show_blocks("Id=a.service\n").len(), 1);
        assert!(show_blocks("").is_empty());
    }

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
