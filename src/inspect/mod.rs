//! `nixos2docker inspect`: read a docker-archive or OCI image and say whether it will boot (issue 7; in progress).

pub struct Options {
    pub path: std::path::PathBuf,
    pub json: bool,
}

pub fn run(opts: Options) -> u8 {
    log::error!("inspect {}: not available in this build yet", opts.path.display());
    1
}
