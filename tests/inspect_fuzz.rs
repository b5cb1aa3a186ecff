//! A bounded, stable-Rust mutation fuzzer for the `inspect` readers (the cargo-fuzz targets in fuzz/ need a
//! nightly toolchain). Ignored by default; `benches/inspect-fuzz` runs it:
//!
//!     INSPECT_FUZZ_SECS=60 cargo test --release --test inspect_fuzz -- --ignored --nocapture
//!
//! Seeds are generated archives (both formats, plain and gzip); each execution mutates one (bit flips, byte
//! overwrites with interesting values, truncation, splices, tar-header-aware size/type edits) and runs the whole
//! reader on it under `catch_unwind`. Prints executions and crashes; fails if anything panicked.
//! `INSPECT_FUZZ_SEEDS=DIR` writes the seeds there (the cargo-fuzz corpus) and exits.

mod inspect_gen;

use inspect_gen::*;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// xorshift64*: deterministic per seed, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
}

pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let good = || Img::new(vec![base_layer(&systemd_bin(262, Some("262.1"))), init_layer()]);
    let mut gz = good();
    gz.gzip_layers = true;
    let whiteouts = Img::new(vec![
        base_layer(&systemd_bin(257, None)),
        layer(&[
            file("etc/.wh.os-release", 0o644, b""),
            E::Dir("usr/lib", 0o755),
            file("usr/lib/.wh..wh..opq", 0o644, b""),
            E::Hard("usr/bin/su2", "usr/bin/su"),
            E::Link("loop", "loop"),
        ]),
    ]);
    let mut v = vec![
        ("docker-archive.tar".into(), docker_archive(&good())),
        ("docker-archive-gzlayers.tar".into(), docker_archive(&gz)),
        ("docker-archive.tar.gz".into(), gzip(&docker_archive(&whiteouts))),
        ("oci.tar".into(), oci_tar(&good())),
        ("oci-gzlayers.tar".into(), oci_tar(&gz)),
    ];
    v.push(("oci.tar.gz".into(), gzip(&v[3].1)));
    v
}

fn mutate(rng: &mut Rng, seeds: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut d = seeds[rng.below(seeds.len())].1.clone();
    for _ in 0..1 + rng.below(4) {
        if d.is_empty() {
            break;
        }
        let len = d.len();
        match rng.below(8) {
            0 => {
                let i = rng.below(len);
                d[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(len);
                d[i] = [0, 0xff, 0x7f, 0x80, b'0', b'7', b'/', b'.'][rng.below(8)];
            }
            2 => d.truncate(rng.below(len)),
            3 => {
                // Splice a chunk of another seed in.
                let other = &seeds[rng.below(seeds.len())].1;
                let a = rng.below(other.len());
                let b = (a + rng.below(2048)).min(other.len());
                let at = rng.below(len);
                d.splice(at..at, other[a..b].iter().copied());
            }
            4 => {
                // A tar header's size field (offset 124, 12 bytes) in some 512-byte block.
                let block = rng.below(len / 512 + 1) * 512;
                if block + 136 <= len {
                    let vals: [&[u8]; 4] = [
                        b"77777777777\0",
                        b"00000000000\0",
                        b"\x80\0\0\0\0\0\xff\xff\xff\xff\xff\xff",
                        b"00000001000\0",
                    ];
                    d[block + 124..block + 136].copy_from_slice(vals[rng.below(4)]);
                }
            }
            5 => {
                // A tar header's type flag (offset 156).
                let block = rng.below(len / 512 + 1) * 512;
                if block + 157 <= len {
                    d[block + 156] = b"0125ghxLKS7"[rng.below(11)];
                }
            }
            6 => {
                // Rewrite a JSON-ish number or name character.
                let i = rng.below(len);
                if d[i].is_ascii_digit() {
                    d[i] = b'9';
                } else if d[i] == b'"' {
                    d[i] = b'\\';
                }
            }
            _ => {
                let i = rng.below(len);
                let n = rng.below(64).min(len - i);
                d.drain(i..i + n);
            }
        }
    }
    d
}

#[test]
#[ignore = "bounded fuzz loop: run by benches/inspect-fuzz"]
fn fuzz_inspect_readers() {
    let seeds = seeds();
    if let Ok(dir) = std::env::var("INSPECT_FUZZ_SEEDS") {
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in &seeds {
            std::fs::write(PathBuf::from(&dir).join(name), bytes).unwrap();
        }
        eprintln!("wrote {} seeds to {dir}", seeds.len());
        return;
    }
    let secs: u64 = std::env::var("INSPECT_FUZZ_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let seed: u64 = std::env::var("INSPECT_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x6e32_6421);
    let dir = tempdir("fuzz");
    let path = dir.join("case.img");
    let crash_dir = PathBuf::from(std::env::var("INSPECT_FUZZ_CRASHES").unwrap_or_else(|_| dir.display().to_string()));
    std::fs::create_dir_all(&crash_dir).unwrap();
    std::panic::set_hook(Box::new(|_| {})); // counted below, not printed for each case
    let mut rng = Rng(seed | 1);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let (mut execs, mut crashes, mut ok, mut errs, mut layer_execs) = (0u64, 0u64, 0u64, 0u64, 0u64);
    while Instant::now() < deadline {
        let data = mutate(&mut rng, &seeds);
        std::fs::write(&path, &data).unwrap();
        execs += 1;
        let whole = catch_unwind(AssertUnwindSafe(|| nixos2docker::inspect::inspect(&path).is_ok()));
        // The layer reader on its own, fed the raw bytes (most are not layers, which is the point).
        let layer = catch_unwind(AssertUnwindSafe(|| {
            let mut budget = 100_000;
            if let Ok(s) = nixos2docker::inspect::layer::read(&mut &data[..], &Default::default(), &mut budget) {
                let mut v = nixos2docker::inspect::fsview::View::new();
                v.apply(0, s);
                let _ = v.resolve(b"/init", true);
            }
        }));
        layer_execs += 1;
        match whole {
            Ok(true) => ok += 1,
            Ok(false) => errs += 1,
            Err(_) => {}
        }
        if whole.is_err() || layer.is_err() {
            crashes += 1;
            std::fs::write(crash_dir.join(format!("crash-{crashes}.img")), &data).unwrap();
        }
    }
    let _ = std::panic::take_hook();
    println!(
        "inspect-fuzz: {secs}s, seed {seed}: {execs} executions ({ok} reports, {errs} clean errors), \
         {layer_execs} layer-reader runs, {crashes} crashes{}",
        if crashes > 0 { format!(" (inputs in {})", crash_dir.display()) } else { String::new() }
    );
    assert_eq!(crashes, 0, "the readers panicked on {crashes} inputs, saved in {}", crash_dir.display());
}
