//! From a [`Store`] to one image: docker-archive `manifest.json` or OCI `index.json` → manifest → config, every
//! blob checked against its digest (and declared size) before it is parsed.

use super::InspectError;
use super::archive::{Store, member_name};
use super::layer::sha256;
use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest, MediaType};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    DockerArchive,
    OciLayout,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::DockerArchive => "docker-archive",
            Format::OciLayout => "OCI image layout",
        }
    }
}

/// Docker's healthcheck (not part of the OCI config; times in nanoseconds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Healthcheck {
    #[serde(default)]
    pub test: Option<Vec<String>>,
    #[serde(default)]
    pub interval: Option<i64>,
    #[serde(default)]
    pub timeout: Option<i64>,
    #[serde(default)]
    pub start_period: Option<i64>,
    #[serde(default)]
    pub retries: Option<i64>,
}

#[derive(Deserialize)]
struct DockerExtensions {
    #[serde(default)]
    config: Option<DockerExtConfig>,
}

#[derive(Deserialize)]
struct DockerExtConfig {
    #[serde(rename = "Healthcheck", default)]
    healthcheck: Option<Healthcheck>,
}

#[derive(Debug, Clone)]
pub struct LayerRef {
    /// Member path in the archive / layout.
    pub name: String,
    /// Expected sha256 (hex) of the blob, when the format names one.
    pub digest: Option<String>,
    /// Declared blob size (OCI descriptors).
    pub size: Option<u64>,
    /// Expected sha256 (hex) of the uncompressed tar (the config's rootfs.diff_ids).
    pub diff_id: String,
}

#[derive(Debug, Clone)]
pub struct Image {
    pub format: Format,
    pub container: &'static str,
    pub tags: Vec<String>,
    /// sha256 of the config blob: Docker's image ID.
    pub id: String,
    pub config: ImageConfiguration,
    pub healthcheck: Option<Healthcheck>,
    pub layers: Vec<LayerRef>,
    /// Things worth saying that are not findings (e.g. "the archive holds 2 images").
    pub notes: Vec<String>,
}

fn err(msg: impl Into<String>) -> InspectError {
    InspectError(msg.into())
}

/// 64 lowercase hex digits.
fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The digest a member name carries: `blobs/sha256/HEX` or `HEX.json` (docker's config naming).
pub fn digest_in_name(name: &str) -> Option<String> {
    let base = name.rsplit('/').next()?;
    if name.trim_start_matches("./").starts_with("blobs/sha256/") && is_sha256_hex(base) {
        return Some(base.to_owned());
    }
    let stem = base.strip_suffix(".json")?;
    is_sha256_hex(stem).then(|| stem.to_owned())
}

/// Read a small member and check it against `expected` (sha256 hex) and `size`.
fn read_verified(
    store: &mut dyn Store,
    name: &str,
    expected: Option<&str>,
    size: Option<u64>,
    what: &str,
) -> Result<Vec<u8>, InspectError> {
    let bytes = store.read_small(name)?.ok_or_else(|| err(format!("{what} {name} is missing from the archive")))?;
    if let Some(size) = size
        && size != bytes.len() as u64
    {
        return Err(err(format!("{what} {name}: descriptor says {size} bytes, the blob has {}", bytes.len())));
    }
    if let Some(expected) = expected {
        let actual = sha256(&bytes);
        if actual != expected {
            return Err(err(format!(
                "digest mismatch for {what} {name}: expected sha256:{expected}, got sha256:{actual}"
            )));
        }
    }
    Ok(bytes)
}

fn parse_config(bytes: &[u8], name: &str) -> Result<(ImageConfiguration, Option<Healthcheck>), InspectError> {
    let config = ImageConfiguration::from_reader(bytes)
        .map_err(|e| err(format!("the image config {name} is not valid: {e}")))?;
    let health = serde_json::from_slice::<DockerExtensions>(bytes).ok().and_then(|x| x.config?.healthcheck);
    Ok((config, health))
}

fn diff_id_hex(s: &str, i: usize) -> Result<String, InspectError> {
    match s.strip_prefix("sha256:") {
        Some(h) if is_sha256_hex(h) => Ok(h.to_owned()),
        _ => Err(err(format!("the config's rootfs.diff_ids[{i}] is not a sha256 digest: {s:?}"))),
    }
}

pub fn load(store: &mut dyn Store) -> Result<Image, InspectError> {
    if store.has("manifest.json") {
        docker_archive(store)
    } else if store.has("index.json") {
        oci_layout(store)
    } else {
        Err(err("missing manifest: neither manifest.json (docker-archive) nor index.json (OCI image layout) found"))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

fn docker_archive(store: &mut dyn Store) -> Result<Image, InspectError> {
    let bytes = store.read_small("manifest.json")?.ok_or_else(|| err("missing manifest.json"))?;
    let entries: Vec<DockerManifestEntry> = serde_json::from_slice(&bytes)
        .map_err(|e| err(format!("manifest.json is not a docker-archive manifest: {e}")))?;
    let Some(first) = entries.first() else { return Err(err("manifest.json lists no image")) };
    let mut notes = Vec::new();
    if entries.len() > 1 {
        notes.push(format!("the archive holds {} images; this report is about the first", entries.len()));
    }
    let config_name = member_name(&first.config)?;
    let expected = digest_in_name(&config_name);
    let config_bytes = read_verified(store, &config_name, expected.as_deref(), None, "config")?;
    let (config, healthcheck) = parse_config(&config_bytes, &config_name)?;
    let diff_ids = config.rootfs().diff_ids();
    if diff_ids.len() != first.layers.len() {
        return Err(err(format!(
            "manifest.json lists {} layers but the config's rootfs has {} diff_ids",
            first.layers.len(),
            diff_ids.len()
        )));
    }
    let mut layers = Vec::new();
    for (i, (name, diff)) in first.layers.iter().zip(diff_ids).enumerate() {
        let name = member_name(name)?;
        layers.push(LayerRef {
            digest: digest_in_name(&name).filter(|_| name.starts_with("blobs/")),
            name,
            size: None,
            diff_id: diff_id_hex(diff, i)?,
        });
    }
    Ok(Image {
        format: Format::DockerArchive,
        container: store.container(),
        tags: first.repo_tags.clone().unwrap_or_default(),
        id: sha256(&config_bytes),
        config,
        healthcheck,
        layers,
        notes,
    })
}

fn blob_name(d: &Descriptor) -> Result<(String, String), InspectError> {
    let hex = d.as_digest_sha256().ok_or_else(|| err(format!("unsupported digest {} (only sha256)", d.digest())))?;
    if !is_sha256_hex(hex) {
        return Err(err(format!("invalid digest {}", d.digest())));
    }
    Ok((format!("blobs/sha256/{hex}"), hex.to_owned()))
}

fn is_index(m: &MediaType) -> bool {
    matches!(m, MediaType::ImageIndex)
        || matches!(m, MediaType::Other(s) if s == "application/vnd.docker.distribution.manifest.list.v2+json")
}

fn is_manifest(m: &MediaType) -> bool {
    matches!(m, MediaType::ImageManifest)
        || matches!(m, MediaType::Other(s) if s == "application/vnd.docker.distribution.manifest.v2+json")
}

pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        a => a,
    }
}

/// Pick the manifest for this host from an index: linux/host-arch first, then any non-attestation manifest.
fn pick(index: &ImageIndex) -> Option<&Descriptor> {
    let candidates: Vec<&Descriptor> =
        index.manifests().iter().filter(|d| is_manifest(d.media_type()) || is_index(d.media_type())).collect();
    let platform_ok = |d: &&&Descriptor| {
        d.platform()
            .as_ref()
            .is_none_or(|p| p.os().to_string() != "unknown" && p.architecture().to_string() != "unknown")
    };
    candidates
        .iter()
        .find(|d| {
            d.platform()
                .as_ref()
                .is_some_and(|p| p.os().to_string() == "linux" && p.architecture().to_string() == host_arch())
        })
        .or_else(|| candidates.iter().find(platform_ok))
        .copied()
}

fn ref_names(d: &Descriptor) -> Vec<String> {
    let Some(a) = d.annotations() else { return Vec::new() };
    let mut out = Vec::new();
    if let Some(n) = a.get("io.containerd.image.name") {
        out.push(n.clone());
    }
    if let Some(n) = a.get("org.opencontainers.image.ref.name")
        && out.is_empty()
    {
        out.push(n.clone());
    }
    out
}

fn oci_layout(store: &mut dyn Store) -> Result<Image, InspectError> {
    let bytes = store.read_small("index.json")?.ok_or_else(|| err("missing index.json"))?;
    let mut index =
        ImageIndex::from_reader(&bytes[..]).map_err(|e| err(format!("index.json is not an OCI image index: {e}")))?;
    let mut notes = Vec::new();
    let mut tags = Vec::new();
    let mut depth = 0;
    let manifest_desc = loop {
        let d = pick(&index).cloned().ok_or_else(|| err("index.json lists no image manifest"))?;
        if tags.is_empty() {
            tags = ref_names(&d);
        }
        if index.manifests().len() > 1 && depth == 0 {
            notes.push(format!(
                "the index lists {} manifests; this report is about one of them",
                index.manifests().len()
            ));
        }
        if !is_index(d.media_type()) {
            break d;
        }
        depth += 1;
        if depth > 4 {
            return Err(err("image indexes nested more than 4 deep"));
        }
        let (name, hex) = blob_name(&d)?;
        let b = read_verified(store, &name, Some(&hex), Some(d.size()), "index")?;
        index = ImageIndex::from_reader(&b[..]).map_err(|e| err(format!("{name} is not an OCI image index: {e}")))?;
    };
    let (name, hex) = blob_name(&manifest_desc)?;
    let b = read_verified(store, &name, Some(&hex), Some(manifest_desc.size()), "manifest")?;
    let manifest =
        ImageManifest::from_reader(&b[..]).map_err(|e| err(format!("{name} is not an OCI image manifest: {e}")))?;
    let (config_name, config_hex) = blob_name(manifest.config())?;
    let config_bytes = read_verified(store, &config_name, Some(&config_hex), Some(manifest.config().size()), "config")?;
    let (config, healthcheck) = parse_config(&config_bytes, &config_name)?;
    let diff_ids = config.rootfs().diff_ids();
    if diff_ids.len() != manifest.layers().len() {
        return Err(err(format!(
            "the manifest lists {} layers but the config's rootfs has {} diff_ids",
            manifest.layers().len(),
            diff_ids.len()
        )));
    }
    let mut layers = Vec::new();
    for (i, (d, diff)) in manifest.layers().iter().zip(diff_ids).enumerate() {
        let (name, hex) = blob_name(d)?;
        layers.push(LayerRef { name, digest: Some(hex), size: Some(d.size()), diff_id: diff_id_hex(diff, i)? });
    }
    Ok(Image {
        format: Format::OciLayout,
        container: store.container(),
        tags,
        id: config_hex,
        config,
        healthcheck,
        layers,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_in_names() {
        let h = "a".repeat(64);
        assert_eq!(digest_in_name(&format!("blobs/sha256/{h}")), Some(h.clone()));
        assert_eq!(digest_in_name(&format!("{h}.json")), Some(h.clone()));
        assert_eq!(digest_in_name(&format!("{h}/layer.tar")), None);
        assert_eq!(digest_in_name("blobs/sha256/xyz"), None);
    }
}
