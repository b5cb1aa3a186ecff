//! One layer blob (plain or gzip tar) through the layer reader, then stacked twice on the path view and
//! resolved: whiteouts, hard links, symlink loops. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nixos2docker::inspect::{fsview::View, layer};

fuzz_target!(|data: &[u8]| {
    let mut budget = 100_000;
    let Ok(s) = layer::read(&mut &data[..], &layer::Wanted::default(), &mut budget) else { return };
    let mut view = View::new();
    view.apply(0, s.clone());
    view.apply(1, s);
    for p in ["/init", "/sbin/init", "/usr/lib/systemd/systemd", "/a/b/c"] {
        let _ = view.resolve(p.as_bytes(), true);
    }
    let _ = view.which("systemctl", "/usr/bin:/bin", "/");
});
