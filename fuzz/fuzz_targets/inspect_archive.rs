//! The whole reader on arbitrary bytes as a file: tar / gzip sniffing, the member index, manifest.json /
//! index.json / configs, layers, the path view and the findings. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

fn scratch() -> &'static PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        let dir =
            if std::path::Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
        dir.join(format!("n2d-fuzz-{}.img", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let p = scratch();
    if std::fs::write(p, data).is_ok() {
        let _ = nixos2docker::inspect::inspect(p);
    }
});
