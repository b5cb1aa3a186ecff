//! nixos2docker: a PID-1 preamble that makes systemd boot in stock, unprivileged Docker containers.
//!
//! The binary (`src/main.rs`) only dispatches; every concern lives in its own module here.

pub mod checks;
pub mod cli;
pub mod config;
pub mod docker_logs;
pub mod doctor;
pub mod dropins;
pub mod error;
pub mod exec;
pub mod exit_code;
pub mod facts;
pub mod handover;
pub mod init;
pub mod inspect;
pub mod logging;
pub mod parse;
pub mod relay;
pub mod runfs;
pub mod sandboxing;
pub mod signals;
pub mod sys;
pub mod systemd_bin;
pub mod wait;
