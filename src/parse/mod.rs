//! Pure parsers for the kernel's text interfaces. No I/O here: every function takes the text.

pub mod cgroup;
pub mod mountinfo;
pub mod status;
