//! Pure parsers for the kernel's text interfaces and systemctl's listings. No I/O here: every function takes the text.

pub mod cgroup;
pub mod degraded;
pub mod mountinfo;
pub mod stat;
pub mod status;
pub mod systemctl;
pub mod uid_map;
