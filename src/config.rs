//! The init's config file and the container profile (module/profile.json, shared with the Nix module).

use crate::docker_logs::{self, DockerLogs};
use crate::sandboxing::{self, Sandboxing};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The profile every image gets unless its config overrides it; the same file the Nix module reads.
pub const PROFILE_JSON: &str = include_str!("../module/profile.json");
pub const DEFAULT_CONFIG_PATH: &str = "/etc/nixos2docker/config.json";
pub const CONFIG_ENV: &str = "NIXOS2DOCKER_CONFIG";

/// Whether stock systemd runs as PID 1 of a nested PID namespace under the init (src/relay/).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum RelayMode {
    /// Relay when systemd is stock and the container may create a PID namespace.
    #[default]
    Auto,
    /// Relay, or fail with exit 21 when it is impossible.
    Always,
    /// Always exec systemd.
    Never,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConfigFile {
    /// The program to exec (systemd, or NixOS's `${toplevel}/init`).
    pub target: Option<String>,
    /// Whether that systemd carries our patches; detected from the binary when absent.
    pub patched: Option<bool>,
    /// systemd's major version; detected from the binary when absent.
    pub systemd_version: Option<u32>,
    /// Arguments put before the ones given on the command line.
    #[serde(default)]
    pub args: Vec<String>,
    /// Relay mode for stock systemd (src/relay/): "auto" (default), "always" or "never"; `--relay` wins.
    pub relay: Option<RelayMode>,
    /// Top-level keys replacing those of the built-in profile.
    pub profile: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Profile {
    pub schema: u32,
    pub masks: Vec<Mask>,
    pub root_slice: RootSlice,
    pub manager: Manager,
    pub environment: BTreeMap<String, String>,
    /// What `docker logs` shows: `all`, `pid1` or `off` (src/docker_logs.rs); `NIXOS2DOCKER_DOCKER_LOGS` wins.
    pub docker_logs: DockerLogs,
    /// Why the profile's default mode (written into the drop-ins' header).
    #[serde(default)]
    pub docker_logs_reason: String,
    /// What patched systemd does with a unit's sandboxing options a container cannot give: `degrade` or
    /// `strict` (src/sandboxing.rs); `NIXOS2DOCKER_SANDBOXING` wins.
    pub sandboxing: Sandboxing,
    /// Why the profile's default policy.
    #[serde(default)]
    pub sandboxing_reason: String,
    pub image: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Mask {
    pub unit: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RootSlice {
    pub disable_controllers: Vec<String>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Manager {
    pub settings: BTreeMap<String, String>,
    pub reason: String,
}

/// Config after defaults: what the rest of the program uses.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it came from (`None` = built-in defaults).
    pub source: Option<PathBuf>,
    pub target: Option<String>,
    pub patched: Option<bool>,
    pub systemd_version: Option<u32>,
    pub args: Vec<String>,
    pub relay: Option<RelayMode>,
    pub profile: Profile,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}; fix the path given by --config or ${CONFIG_ENV}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error(
        "config file {path} is not valid: {source}; fix the JSON (keys: target, patched, systemdVersion, args, relay, profile)"
    )]
    Parse { path: PathBuf, source: serde_json::Error },
    #[error("the profile in {origin} is not valid: {source}; compare it with module/profile.json")]
    Profile { origin: String, source: serde_json::Error },
    #[error(transparent)]
    DockerLogs(#[from] docker_logs::ModeError),
    #[error(transparent)]
    Sandboxing(#[from] sandboxing::PolicyError),
}

/// Which config file applies: `--config`, else `$NIXOS2DOCKER_CONFIG`, else the default path if it exists.
pub fn locate(flag: Option<&Path>, env: Option<&str>, default_exists: bool) -> Option<PathBuf> {
    match (flag, env) {
        (Some(p), _) => Some(p.to_owned()),
        (None, Some(e)) if !e.is_empty() => Some(PathBuf::from(e)),
        _ => default_exists.then(|| PathBuf::from(DEFAULT_CONFIG_PATH)),
    }
}

pub fn builtin_profile() -> Result<Profile, ConfigError> {
    serde_json::from_str(PROFILE_JSON)
        .map_err(|source| ConfigError::Profile { origin: "the built-in profile".into(), source })
}

/// Parse a config file's text (pure; `path` only names it in errors).
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let file: ConfigFile =
        serde_json::from_str(text).map_err(|source| ConfigError::Parse { path: path.to_owned(), source })?;
    let mut profile: serde_json::Value = serde_json::from_str(PROFILE_JSON)
        .map_err(|source| ConfigError::Profile { origin: "the built-in profile".into(), source })?;
    if let (Some(over), Some(base)) = (file.profile, profile.as_object_mut()) {
        base.extend(over);
    }
    let profile = serde_json::from_value(profile)
        .map_err(|source| ConfigError::Profile { origin: path.display().to_string(), source })?;
    Ok(Config {
        source: Some(path.to_owned()),
        target: file.target,
        patched: file.patched,
        systemd_version: file.systemd_version,
        args: file.args,
        relay: file.relay,
        profile,
    })
}

/// Load the config that applies to this process: `--config` (`flag`), else `$NIXOS2DOCKER_CONFIG`, else the
/// default path when it exists, else the built-in defaults; then the environment over the profile
/// ([`with_env`]).
pub fn load_applicable(flag: Option<&Path>) -> Result<Config, ConfigError> {
    let env = std::env::var(CONFIG_ENV).ok();
    let default_exists = Path::new(DEFAULT_CONFIG_PATH).exists();
    let config = load(locate(flag, env.as_deref(), default_exists).as_deref())?;
    let var = |name: &str| std::env::var(name).ok();
    with_env(config, var(docker_logs::ENV).as_deref(), var(sandboxing::ENV).as_deref())
}

/// `$NIXOS2DOCKER_DOCKER_LOGS` over the profile's `dockerLogs`, `$NIXOS2DOCKER_SANDBOXING` over its
/// `sandboxing` (pure: the values are passed in).
pub fn with_env(
    mut config: Config,
    docker_logs: Option<&str>,
    sandboxing: Option<&str>,
) -> Result<Config, ConfigError> {
    config.profile.docker_logs = config.profile.docker_logs.with_env(docker_logs)?;
    config.profile.sandboxing = config.profile.sandboxing.with_env(sandboxing)?;
    Ok(config)
}

pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
    match path {
        None => Ok(Config {
            source: None,
            target: None,
            patched: None,
            systemd_version: None,
            args: Vec::new(),
            relay: None,
            profile: builtin_profile()?,
        }),
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read { path: p.to_owned(), source })?;
            parse(p, &text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_profile_is_valid_and_reasoned() {
        let p = builtin_profile().unwrap();
        assert_eq!(p.schema, 1);
        assert!(!p.masks.is_empty());
        for m in &p.masks {
            assert!(m.unit.contains('.'), "unit name without a type: {}", m.unit);
            assert!(m.reason.len() > 10, "mask {} has no real reason", m.unit);
        }
        assert_eq!(p.environment.get("container").map(String::as_str), Some("docker"));
        assert_eq!(p.image["stopSignal"], "SIGRTMIN+3");
    }

    #[test]
    fn locate_order() {
        let f = Path::new("/f.json");
        assert_eq!(locate(Some(f), Some("/e.json"), true), Some(f.to_owned()));
        assert_eq!(locate(None, Some("/e.json"), true), Some(PathBuf::from("/e.json")));
        assert_eq!(locate(None, Some(""), true), Some(PathBuf::from(DEFAULT_CONFIG_PATH)));
        assert_eq!(locate(None, None, false), None);
    }

    #[test]
    fn profile_override_replaces_top_level_keys() {
        let c = parse(Path::new("/c"), r#"{"target":"/x/init","patched":true,"profile":{"masks":[]}}"#).unwrap();
        assert_eq!(c.target.as_deref(), Some("/x/init"));
        assert!(c.profile.masks.is_empty());
        assert!(!c.profile.root_slice.disable_controllers.is_empty(), "other keys keep their defaults");
    }

    #[test]
    fn bad_json_names_path_line_and_column() {
        let e = parse(Path::new("/etc/n2d.json"), "{\n  \"target\": 5,\n}").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("/etc/n2d.json"), "{msg}");
        assert!(msg.contains("line 2"), "{msg}");
        assert!(msg.contains("column"), "{msg}");
    }

    #[test]
    fn relay_key() {
        assert_eq!(parse(Path::new("/c"), r#"{"relay":"never"}"#).unwrap().relay, Some(RelayMode::Never));
        assert_eq!(parse(Path::new("/c"), r#"{"relay":"always"}"#).unwrap().relay, Some(RelayMode::Always));
        assert_eq!(parse(Path::new("/c"), "{}").unwrap().relay, None);
        let e = parse(Path::new("/c"), r#"{"relay":"sometimes"}"#).unwrap_err();
        assert!(e.to_string().contains("sometimes"), "{e}");
    }

    #[test]
    fn docker_logs_default_all_and_profile_override() {
        assert_eq!(builtin_profile().unwrap().docker_logs, DockerLogs::All);
        let c = parse(Path::new("/c"), r#"{"profile":{"dockerLogs":"pid1"}}"#).unwrap();
        assert_eq!(c.profile.docker_logs, DockerLogs::Pid1);
        assert!(!c.profile.docker_logs_reason.is_empty(), "the built-in reason stays");
        let e = parse(Path::new("/c"), r#"{"profile":{"dockerLogs":"loud"}}"#).unwrap_err();
        assert!(matches!(e, ConfigError::Profile { .. }) && e.to_string().contains("loud"), "{e}");
    }

    #[test]
    fn sandboxing_default_degrade_profile_then_env() {
        let p = builtin_profile().unwrap();
        assert_eq!(p.sandboxing, Sandboxing::Degrade);
        assert!(p.sandboxing_reason.contains("--privileged"), "the reason names the cost of refusing");
        let c = parse(Path::new("/c"), r#"{"profile":{"sandboxing":"strict"}}"#).unwrap();
        assert_eq!(c.profile.sandboxing, Sandboxing::Strict);
        assert!(!c.profile.sandboxing_reason.is_empty(), "the built-in reason stays");
        // The environment wins over the config file's profile, either way; empty means unset.
        let env = |c: &Config, v| with_env(c.clone(), None, v).map(|c| c.profile.sandboxing);
        assert_eq!(env(&c, None).unwrap(), Sandboxing::Strict);
        assert_eq!(env(&c, Some("")).unwrap(), Sandboxing::Strict);
        assert_eq!(env(&c, Some("degrade")).unwrap(), Sandboxing::Degrade);
        let builtin = load(None).unwrap();
        assert_eq!(env(&builtin, Some("strict")).unwrap(), Sandboxing::Strict);
        let e = env(&builtin, Some("lax")).unwrap_err();
        assert!(matches!(e, ConfigError::Sandboxing(_)), "{e}");
        assert!(e.to_string().contains("\"lax\"") && e.to_string().contains("fix: -e NIXOS2DOCKER_SANDBOXING=degrade"));
        // A bad value in the profile is a profile error naming it.
        let e = parse(Path::new("/c"), r#"{"profile":{"sandboxing":"off"}}"#).unwrap_err();
        assert!(matches!(e, ConfigError::Profile { .. }) && e.to_string().contains("off"), "{e}");
        // Both variables at once: each sets its own key.
        let c = with_env(builtin, Some("pid1"), Some("strict")).unwrap();
        assert_eq!((c.profile.docker_logs, c.profile.sandboxing), (DockerLogs::Pid1, Sandboxing::Strict));
    }

    #[test]
    fn unknown_key_is_an_error() {
        let e = parse(Path::new("/c"), r#"{"tagret":"/x"}"#).unwrap_err();
        assert!(e.to_string().contains("tagret"), "{e}");
    }

    #[test]
    fn bad_profile_override_is_an_error() {
        let e = parse(Path::new("/c"), r#"{"profile":{"masks":"no"}}"#).unwrap_err();
        assert!(matches!(e, ConfigError::Profile { .. }), "{e}");
    }
}
