//! The one exit-code table (src/exit_code.rs) against its two readers: the harness's JSON copy and README's
//! "Exit codes" table.

use std::collections::BTreeSet;
use std::path::PathBuf;

use nixos2docker::exit_code::{self, TABLE};

fn repo_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

const JSON: &str = "integration/harness/exit-codes.json";

/// The harness reads the table from a checked-in JSON file; this test keeps it equal to the Rust table.
/// `NIXOS2DOCKER_WRITE_EXIT_CODES=1 cargo test --test exit_codes` rewrites it.
#[test]
fn harness_json_is_the_table() {
    let path = repo_file(JSON);
    let want = exit_code::table_json();
    if std::env::var_os("NIXOS2DOCKER_WRITE_EXIT_CODES").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        have, want,
        "{JSON} differs from src/exit_code.rs: rewrite it with NIXOS2DOCKER_WRITE_EXIT_CODES=1 cargo test --test exit_codes"
    );
}

/// The first cell of every row of README's "### Exit codes" table: a code, or `128+N` for the signal rule.
fn readme_codes() -> Vec<u8> {
    let readme = std::fs::read_to_string(repo_file("README.md")).unwrap();
    let section = readme.split("\n### Exit codes\n").nth(1).expect("README has a '### Exit codes' section");
    let rows = section.lines().skip_while(|l| !l.starts_with('|')).take_while(|l| l.starts_with('|'));
    let mut codes = Vec::new();
    for row in rows.skip(2) {
        let cell = row.split('|').nth(1).unwrap().trim();
        let code = match cell {
            "128+N" => exit_code::SIGNAL_BASE,
            _ => cell.parse().unwrap_or_else(|_| panic!("README exit-code row starts with {cell:?}, not a code")),
        };
        codes.push(code);
    }
    codes
}

#[test]
fn readme_lists_every_code_once() {
    let readme = readme_codes();
    let documented: BTreeSet<u8> = readme.iter().copied().collect();
    assert_eq!(documented.len(), readme.len(), "README lists a code twice: {readme:?}");
    let table: BTreeSet<u8> = TABLE.iter().map(|&(_, code)| code).collect();
    let missing: Vec<_> = TABLE.iter().filter(|(_, c)| !documented.contains(c)).collect();
    let unknown: Vec<_> = documented.difference(&table).collect();
    assert!(missing.is_empty(), "README's exit-code table lacks {missing:?} (src/exit_code.rs)");
    assert!(unknown.is_empty(), "README's exit-code table has codes src/exit_code.rs does not: {unknown:?}");
}
