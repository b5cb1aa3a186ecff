//! Messages on stderr (that is `docker logs`), each line starting with `nixos2docker:`.
//! Level from `NIXOS2DOCKER_LOG` (error, warn, info, debug, trace; default info).

use std::io::Write;

pub fn init() {
    let level = std::env::var("NIXOS2DOCKER_LOG")
        .ok()
        .and_then(|v| v.parse::<log::LevelFilter>().ok())
        .unwrap_or(log::LevelFilter::Info);
    let _ = env_logger::Builder::new()
        .filter_level(level)
        .target(env_logger::Target::Stderr)
        .format(|buf, record| match record.level() {
            log::Level::Info => writeln!(buf, "nixos2docker: {}", record.args()),
            log::Level::Warn => writeln!(buf, "nixos2docker: warning: {}", record.args()),
            l => writeln!(buf, "nixos2docker: {}: {}", l.as_str().to_lowercase(), record.args()),
        })
        .try_init();
}
