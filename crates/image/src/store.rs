//! The store: OCI image layout under `ROOT/image`, snapshots under `ROOT/snapshots`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::archive::decompress;
use crate::changes::ContainerConfig;
use crate::reference::{is_full_hex_id, Reference};
use crate::{sha256_digest, short_id, Error, Result};

const REF_NAME: &str = "org.opencontainers.image.ref.name";
const LAST_TAG_TIME: &str = "io.berth.image.last-tag-time";
const MT_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MT_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const MT_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const MT_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
/// Stray files in `ingest/` and `snapshots/.tmp-*` older than this are removed.
const STALE_AFTER: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType")]
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Index {
    #[serde(rename = "schemaVersion")]
    schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

impl Index {
    fn empty() -> Index {
        Index {
            schema_version: 2,
            media_type: Some(MT_INDEX.into()),
            manifests: Vec::new(),
            extra: Map::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SnapshotMeta {
    chain_id: String,
    diff_id: String,
    parent: Option<String>,
    size: u64,
}

/// What `docker import` needs besides the data.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Tag the new image with this reference.
    pub reference: Option<String>,
    /// `--change` Dockerfile instructions.
    pub changes: Vec<String>,
    /// `--message`: the history comment.
    pub message: Option<String>,
    /// Where the data came from: `-` for stdin, or a file name / URL.
    pub source_name: String,
}

/// One line of `docker rmi` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoveEvent {
    /// `Untagged: busybox:latest`
    Untagged(String),
    /// `Deleted: sha256:…`
    Deleted(String),
}

impl std::fmt::Display for RemoveEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RemoveEvent::Untagged(s) => write!(f, "Untagged: {s}"),
            RemoveEvent::Deleted(s) => write!(f, "Deleted: {s}"),
        }
    }
}

/// One row of `docker history`, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// The image id for the top entry, `<missing>` for the others.
    pub id: String,
    /// When the step ran (the Unix epoch when the config does not say).
    pub created: DateTime<Utc>,
    /// The command of the step.
    pub created_by: String,
    /// Unpacked size of the step's layer (0 for empty layers).
    pub size: u64,
    /// The step's comment.
    pub comment: String,
    /// Tags of the image, on the top entry only.
    pub tags: Vec<String>,
    /// Whether the step made no layer.
    pub empty_layer: bool,
}

/// An image as `docker images` sees it.
#[derive(Debug, Clone)]
pub struct Image {
    /// `sha256:<hex>` of the config.
    pub id: String,
    /// `busybox:latest`, `localhost:5000/foo:v1`.
    pub repo_tags: Vec<String>,
    /// `busybox@sha256:…` (empty for imports).
    pub repo_digests: Vec<String>,
    /// From the config's `created`.
    pub created: DateTime<Utc>,
    /// Sum of the unpacked layer sizes.
    pub size: u64,
    /// The parsed config.
    pub config: Value,
    config_bytes: Vec<u8>,
    /// Digest of the manifest.
    pub manifest_digest: String,
    /// Chain ids, bottom layer first.
    pub layers: Vec<String>,
    /// Diff ids, bottom layer first.
    pub diff_ids: Vec<String>,
    /// `config.Labels`.
    pub labels: BTreeMap<String, String>,
    /// The full references (tags) of the image.
    pub references: Vec<Reference>,
    /// When it was last tagged.
    pub last_tag_time: Option<DateTime<Utc>>,
}

impl Image {
    /// The exact config bytes, whose sha256 is the id.
    pub fn config_bytes(&self) -> &[u8] {
        &self.config_bytes
    }
}

/// The runtime-relevant part of an image config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageConfigFile {
    /// `User`
    pub user: String,
    /// `Env`
    pub env: Vec<String>,
    /// `Cmd`
    pub cmd: Option<Vec<String>>,
    /// `Entrypoint`
    pub entrypoint: Option<Vec<String>>,
    /// `WorkingDir`
    pub working_dir: String,
    /// `Labels`
    pub labels: BTreeMap<String, String>,
    /// `StopSignal`
    pub stop_signal: Option<String>,
    /// `ExposedPorts` keys (`80/tcp`).
    pub exposed_ports: Vec<String>,
    /// `Volumes` keys.
    pub volumes: Vec<String>,
    /// `OnBuild`
    pub on_build: Vec<String>,
    /// `Healthcheck`, raw.
    pub healthcheck: Option<Value>,
    /// `architecture`
    pub architecture: String,
    /// `os`
    pub os: String,
}

/// The name the engine uses for [`ImageConfigFile`].
pub type ImageConfig = ImageConfigFile;

/// OCI chain ids of a list of diff ids (bottom first).
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => sha256_digest(format!("{prev} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

fn hex_of(digest: &str) -> Result<&str> {
    match digest.strip_prefix("sha256:") {
        Some(h) if is_full_hex_id(h) => Ok(h),
        _ => Err(Error::Corrupt(format!("unsupported digest {digest:?}"))),
    }
}

fn unique() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}-{}-{}",
        std::process::id(),
        nanos,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn str_list(v: &Value) -> Option<Vec<String>> {
    v.as_array().map(|a| {
        a.iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect()
    })
}

fn str_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn keys(v: &Value) -> Vec<String> {
    v.as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

fn parse_time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn fmt_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// An image as loaded from the layout.
#[derive(Debug, Clone)]
struct Rec {
    id: String,
    manifest: Descriptor,
    config_bytes: Vec<u8>,
    config: Value,
    layer_digests: Vec<String>,
    diff_ids: Vec<String>,
    chain_ids: Vec<String>,
    refs: Vec<Reference>,
    last_tag_time: Option<DateTime<Utc>>,
}

#[derive(Debug)]
struct Loaded {
    index: Index,
    /// manifest digest → image id
    manifest_to_id: HashMap<String, String>,
    images: BTreeMap<String, Rec>,
}

impl Loaded {
    fn desc_ref(d: &Descriptor) -> Option<Reference> {
        d.annotations
            .get(REF_NAME)
            .and_then(|r| Reference::parse_normalized(r).ok())
            .map(Reference::with_default_tag)
    }

    fn desc_id(&self, d: &Descriptor) -> Option<&String> {
        self.manifest_to_id.get(&d.digest)
    }

    fn find_ref(&self, r: &Reference) -> Option<&String> {
        self.index
            .manifests
            .iter()
            .find(|d| Self::desc_ref(d).as_ref() == Some(r))
            .and_then(|d| self.desc_id(d))
    }

    /// Remove the descriptors tagging `r`; returns whether one was found.
    fn untag(&mut self, r: &Reference) -> bool {
        let before = self.index.manifests.len();
        self.index
            .manifests
            .retain(|d| Self::desc_ref(d).as_ref() != Some(r));
        self.index.manifests.len() != before
    }

    /// Make sure image `id` still has a descriptor (untagged if it lost its tags).
    fn keep_listed(&mut self, id: &str) {
        let listed = self
            .index
            .manifests
            .iter()
            .any(|d| self.manifest_to_id.get(&d.digest).map(String::as_str) == Some(id));
        if !listed {
            if let Some(rec) = self.images.get(id) {
                let mut d = rec.manifest.clone();
                d.annotations.clear();
                self.index.manifests.push(d);
            }
        }
    }

    /// Drop every descriptor of image `id`.
    fn drop_image(&mut self, id: &str) {
        let m2i = &self.manifest_to_id;
        self.index
            .manifests
            .retain(|d| m2i.get(&d.digest).map(String::as_str) != Some(id));
    }

    fn tagged(&self, id: &str) -> Vec<Reference> {
        let mut refs: Vec<Reference> = self
            .index
            .manifests
            .iter()
            .filter(|d| self.desc_id(d).map(String::as_str) == Some(id))
            .filter_map(Self::desc_ref)
            .collect();
        refs.sort();
        refs.dedup();
        refs
    }

    /// Add a tag descriptor `r` → image `id`, moving `r` away from any other
    /// image (which is kept listed, dangling if that was its last tag).
    fn set_tag(&mut self, id: &str, r: &Reference) {
        let previous: Vec<String> = self
            .index
            .manifests
            .iter()
            .filter(|d| Self::desc_ref(d).as_ref() == Some(r))
            .filter_map(|d| self.desc_id(d).cloned())
            .collect();
        self.untag(r);
        // the untagged descriptor of `id`, if any, goes
        let m2i = &self.manifest_to_id;
        self.index.manifests.retain(|d| {
            m2i.get(&d.digest).map(String::as_str) != Some(id)
                || d.annotations.contains_key(REF_NAME)
        });
        if let Some(rec) = self.images.get(id) {
            let mut d = rec.manifest.clone();
            d.annotations.clear();
            d.annotations.insert(REF_NAME.into(), r.to_string());
            d.annotations
                .insert(LAST_TAG_TIME.into(), fmt_time(&Utc::now()));
            self.index.manifests.push(d);
        }
        for p in previous {
            if p != id {
                self.keep_listed(&p);
            }
        }
    }
}

/// How a name resolved.
#[derive(Debug)]
enum Resolved {
    ByRef(String, Reference),
    ById(String),
}

/// Holds the exclusive store lock while alive.
struct LockGuard(#[allow(dead_code)] File);

/// Removes temporary paths on drop unless disarmed.
struct Cleanup(Vec<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for p in &self.0 {
            let r = if p.is_dir() {
                fs::remove_dir_all(p)
            } else {
                fs::remove_file(p)
            };
            if let Err(e) = r {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::warn!(path = %p.display(), error = %e, "cannot remove temporary path");
                }
            }
        }
    }
}

/// The image store rooted at the berth root directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    image_dir: PathBuf,
    snapshots: PathBuf,
}

impl Store {
    /// Open (creating if needed) the store under `root` (e.g. `/var/lib/berth`),
    /// removing stale temporary files left by crashed processes.
    pub fn open(root: &Path) -> Result<Store> {
        let store = Store {
            root: root.to_path_buf(),
            image_dir: root.join("image"),
            snapshots: root.join("snapshots"),
        };
        for d in [
            store.image_dir.join("blobs/sha256"),
            store.ingest(),
            store.snapshots.clone(),
        ] {
            fs::create_dir_all(&d).map_err(Error::io(format!("creating {}", d.display())))?;
        }
        if !store.image_dir.join("index.json").exists()
            || !store.image_dir.join("oci-layout").exists()
        {
            let _lock = store.lock()?;
            if !store.image_dir.join("oci-layout").exists() {
                store.write_atomic(
                    &store.image_dir.join("oci-layout"),
                    br#"{"imageLayoutVersion":"1.0.0"}"#,
                )?;
            }
            if !store.image_dir.join("index.json").exists() {
                store.write_index(&Index::empty())?;
            }
        }
        store.clean_stale(STALE_AFTER);
        Ok(store)
    }

    /// The berth root this store lives in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The `fs/` directory of the snapshot of a chain id.
    pub fn snapshot_fs(&self, chain_id: &str) -> Result<PathBuf> {
        Ok(self.snapshots.join(hex_of(chain_id)?).join("fs"))
    }

    fn ingest(&self) -> PathBuf {
        self.image_dir.join("ingest")
    }

    fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        Ok(self.image_dir.join("blobs/sha256").join(hex_of(digest)?))
    }

    /// Remove stray temporaries older than `age` (ingest files, half-unpacked snapshots).
    fn clean_stale(&self, age: Duration) {
        let now = SystemTime::now();
        let old = |p: &Path| {
            fs::symlink_metadata(p)
                .and_then(|m| m.modified())
                .map(|t| now.duration_since(t).unwrap_or_default() >= age)
                .unwrap_or(false)
        };
        if let Ok(rd) = fs::read_dir(self.ingest()) {
            for e in rd.flatten() {
                let p = e.path();
                if old(&p) {
                    tracing::info!(path = %p.display(), "removing stale ingest file");
                    let _ = if p.is_dir() {
                        fs::remove_dir_all(&p)
                    } else {
                        fs::remove_file(&p)
                    };
                }
            }
        }
        if let Ok(rd) = fs::read_dir(&self.snapshots) {
            for e in rd.flatten() {
                let p = e.path();
                if e.file_name().to_string_lossy().starts_with(".tmp-") && old(&p) {
                    tracing::info!(path = %p.display(), "removing stale snapshot temp dir");
                    let _ = fs::remove_dir_all(&p);
                }
            }
        }
    }

    fn lock(&self) -> Result<LockGuard> {
        let p = self.image_dir.join("lock");
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(Error::io(format!("opening {}", p.display())))?;
        rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| Error::io(format!("locking {}", p.display()))(e.into()))?;
        Ok(LockGuard(f))
    }

    /// Write `data` into a new fsync'ed file in ingest/, returning its path.
    fn write_ingest(&self, data: &[u8]) -> Result<PathBuf> {
        let p = self.ingest().join(unique());
        let mut f = File::create(&p).map_err(Error::io(format!("creating {}", p.display())))?;
        f.write_all(data)
            .and_then(|_| f.sync_all())
            .map_err(Error::io(format!("writing {}", p.display())))?;
        Ok(p)
    }

    fn sync_dir(p: &Path) {
        if let Ok(d) = File::open(p) {
            let _ = d.sync_all();
        }
    }

    fn write_atomic(&self, dest: &Path, data: &[u8]) -> Result<()> {
        let tmp = self.write_ingest(data)?;
        fs::rename(&tmp, dest).map_err(Error::io(format!("renaming into {}", dest.display())))?;
        if let Some(parent) = dest.parent() {
            Self::sync_dir(parent);
        }
        Ok(())
    }

    fn write_index(&self, index: &Index) -> Result<()> {
        let data = serde_json::to_vec(index).map_err(|e| Error::Corrupt(e.to_string()))?;
        self.write_atomic(&self.image_dir.join("index.json"), &data)
    }

    /// Move an ingest file to its blob path (must hold the lock).
    fn commit_blob(&self, tmp: &Path, digest: &str) -> Result<()> {
        let dest = self.blob_path(digest)?;
        if dest.exists() {
            let _ = fs::remove_file(tmp);
            return Ok(());
        }
        fs::rename(tmp, &dest).map_err(Error::io(format!("storing blob {digest}")))
    }

    fn read_blob(&self, digest: &str) -> Result<Vec<u8>> {
        let p = self.blob_path(digest)?;
        let data = fs::read(&p).map_err(Error::io(format!("reading blob {digest}")))?;
        if sha256_digest(&data) != digest {
            return Err(Error::Corrupt(format!(
                "blob {digest} does not match its digest"
            )));
        }
        Ok(data)
    }

    fn load(&self) -> Result<Loaded> {
        let p = self.image_dir.join("index.json");
        let data = fs::read(&p).map_err(Error::io(format!("reading {}", p.display())))?;
        let index: Index = serde_json::from_slice(&data)
            .map_err(|e| Error::Corrupt(format!("index.json: {e}")))?;
        let mut manifest_to_id = HashMap::new();
        let mut images: BTreeMap<String, Rec> = BTreeMap::new();
        for d in &index.manifests {
            if !manifest_to_id.contains_key(&d.digest) {
                let rec = match self.load_manifest(d) {
                    Ok(r) => r,
                    Err(e) => {
                        // Being deleted by another process, or not an image manifest.
                        tracing::debug!(digest = %d.digest, error = %e, "skipping index entry");
                        continue;
                    }
                };
                manifest_to_id.insert(d.digest.clone(), rec.id.clone());
                images.entry(rec.id.clone()).or_insert(rec);
            }
            let id = manifest_to_id[&d.digest].clone();
            let rec = images.get_mut(&id).expect("inserted");
            if let Some(r) = Loaded::desc_ref(d) {
                if !rec.refs.contains(&r) {
                    rec.refs.push(r);
                }
            }
            if let Some(t) = d
                .annotations
                .get(LAST_TAG_TIME)
                .and_then(|t| parse_time(&json!(t)))
            {
                if rec.last_tag_time.is_none_or(|old| t > old) {
                    rec.last_tag_time = Some(t);
                }
            }
        }
        for rec in images.values_mut() {
            rec.refs.sort();
        }
        Ok(Loaded {
            index,
            manifest_to_id,
            images,
        })
    }

    fn load_manifest(&self, d: &Descriptor) -> Result<Rec> {
        let mbytes = self.read_blob(&d.digest)?;
        let manifest: Value = serde_json::from_slice(&mbytes)
            .map_err(|e| Error::Corrupt(format!("manifest {}: {e}", d.digest)))?;
        let config_digest = manifest["config"]["digest"]
            .as_str()
            .ok_or_else(|| Error::Corrupt(format!("manifest {} has no config", d.digest)))?
            .to_string();
        let config_bytes = self.read_blob(&config_digest)?;
        let config: Value = serde_json::from_slice(&config_bytes)
            .map_err(|e| Error::Corrupt(format!("config {config_digest}: {e}")))?;
        let layer_digests = manifest["layers"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|l| l["digest"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let diff_ids = str_list(&config["rootfs"]["diff_ids"]).unwrap_or_default();
        let mut manifest_desc = d.clone();
        manifest_desc.annotations.clear();
        Ok(Rec {
            id: config_digest,
            manifest: manifest_desc,
            config_bytes,
            config,
            layer_digests,
            chain_ids: chain_ids(&diff_ids),
            diff_ids,
            refs: Vec::new(),
            last_tag_time: None,
        })
    }

    fn snapshot_meta(&self, chain_id: &str) -> Option<SnapshotMeta> {
        let p = self
            .snapshots
            .join(hex_of(chain_id).ok()?)
            .join("meta.json");
        serde_json::from_slice(&fs::read(p).ok()?).ok()
    }

    /// Unpacked size of the layer snapshot `chain_id` (0 when unknown).
    pub fn layer_size(&self, chain_id: &str) -> u64 {
        self.snapshot_meta(chain_id).map(|m| m.size).unwrap_or(0)
    }

    fn to_image(&self, rec: &Rec) -> Image {
        Image {
            id: rec.id.clone(),
            repo_tags: rec
                .refs
                .iter()
                .filter(|r| r.tag().is_some())
                .map(Reference::familiar_string)
                .collect(),
            repo_digests: rec
                .refs
                .iter()
                .filter(|r| r.digest().is_some())
                .map(Reference::familiar_string)
                .collect(),
            created: parse_time(&rec.config["created"]).unwrap_or_default(),
            size: rec.chain_ids.iter().map(|c| self.layer_size(c)).sum(),
            config: rec.config.clone(),
            config_bytes: rec.config_bytes.clone(),
            manifest_digest: rec.manifest.digest.clone(),
            layers: rec.chain_ids.clone(),
            diff_ids: rec.diff_ids.clone(),
            labels: str_map(&rec.config["config"]["Labels"]),
            references: rec.refs.clone(),
            last_tag_time: rec.last_tag_time,
        }
    }

    /// docker's `GetImage`: a reference first, then a full id, then an id prefix.
    fn resolve(&self, loaded: &Loaded, name: &str) -> Result<Resolved> {
        let full = name.strip_prefix("sha256:").unwrap_or(name);
        if is_full_hex_id(full) {
            let id = format!("sha256:{full}");
            return if loaded.images.contains_key(&id) {
                Ok(Resolved::ById(id))
            } else {
                Err(Error::NoSuchImage(name.to_string()))
            };
        }
        let r = Reference::parse_tagged(name)?;
        if let Some(id) = loaded.find_ref(&r) {
            return Ok(Resolved::ByRef(id.clone(), r));
        }
        if !full.is_empty()
            && full
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            let prefix = format!("sha256:{full}");
            let found: Vec<&String> = loaded
                .images
                .keys()
                .filter(|k| k.starts_with(&prefix))
                .collect();
            match found.len() {
                0 => {}
                1 => return Ok(Resolved::ById(found[0].clone())),
                _ => return Err(Error::AmbiguousPrefix(full.to_string())),
            }
        }
        Err(Error::NoSuchImage(r.familiar_string()))
    }

    fn rec<'a>(&self, loaded: &'a Loaded, name: &str) -> Result<&'a Rec> {
        let id = match self.resolve(loaded, name)? {
            Resolved::ByRef(id, _) | Resolved::ById(id) => id,
        };
        loaded
            .images
            .get(&id)
            .ok_or_else(|| Error::NoSuchImage(name.to_string()))
    }

    /// `docker import`: one pass over `src` (tar, tar.gz or tar.zst) that
    /// hashes it, stores it as the layer blob and unpacks it into a snapshot.
    /// Returns the image id.
    pub fn import(&self, src: &mut dyn Read, opts: &ImportOptions) -> Result<String> {
        // Validate everything cheap first, so a bad change leaves nothing behind.
        let reference = opts
            .reference
            .as_deref()
            .map(Reference::parse_tagged)
            .transpose()?;
        if reference.as_ref().is_some_and(|r| r.digest().is_some()) {
            return Err(Error::DigestTag);
        }
        let mut cc = ContainerConfig::default();
        cc.apply_changes(&opts.changes)?;

        let layer = self.add_layer(None, &mut decompress(src)?, None, MT_LAYER)?;
        let diff_id = layer.diff_id.clone();

        let now = Utc::now();
        let created = fmt_time(&now);
        let comment = match &opts.message {
            Some(m) if !m.is_empty() => m.clone(),
            _ => format!(
                "Imported from {}",
                if opts.source_name.is_empty() {
                    "-"
                } else {
                    &opts.source_name
                }
            ),
        };
        let mut config = json!({
            "architecture": go_arch(),
            "comment": comment,
            "config": cc.to_json(),
            "created": created,
            "history": [{"created": created, "comment": comment}],
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        });
        if let Some(s) = &cc.stop_signal {
            config["config"]["StopSignal"] = json!(s);
        }
        let config_bytes =
            serde_json::to_vec(&config).map_err(|e| Error::Corrupt(e.to_string()))?;
        let id = self.add_image(&config_bytes, &[layer], None, reference.as_ref(), None)?;
        tracing::info!(%id, "imported image");
        Ok(id)
    }

    /// Every image once, with all of its tags.
    pub fn list(&self) -> Result<Vec<Image>> {
        let loaded = self.load()?;
        let mut v: Vec<Image> = loaded.images.values().map(|r| self.to_image(r)).collect();
        v.sort_by_key(|i| std::cmp::Reverse(i.created));
        Ok(v)
    }

    /// Look an image up by reference, full id, or unique id prefix.
    pub fn get(&self, name_or_id: &str) -> Result<Image> {
        let loaded = self.load()?;
        Ok(self.to_image(self.rec(&loaded, name_or_id)?))
    }

    /// `docker tag SOURCE TARGET`.
    pub fn tag(&self, source: &str, target: &str) -> Result<()> {
        let r = Reference::parse_tagged(target)?;
        if r.digest().is_some() {
            return Err(Error::DigestTag);
        }
        let _lock = self.lock()?;
        let mut loaded = self.load()?;
        let id = self.rec(&loaded, source)?.id.clone();
        loaded.set_tag(&id, &r);
        self.write_index(&loaded.index)
    }

    /// `docker rmi`. `users` lists the containers using an image id.
    pub fn remove(
        &self,
        name_or_id: &str,
        force: bool,
        users: &dyn Fn(&str) -> Vec<String>,
    ) -> Result<Vec<RemoveEvent>> {
        let _lock = self.lock()?;
        let mut loaded = self.load()?;
        let resolved = self.resolve(&loaded, name_or_id)?;
        let mut events = Vec::new();
        let id = match resolved {
            Resolved::ByRef(id, r) => {
                let used = users(&id);
                let refs = loaded.tagged(&id);
                if !force && refs.len() <= 1 {
                    if let Some(c) = used.first() {
                        return Err(Error::ReferenceInUse {
                            reference: name_or_id.to_string(),
                            container: short_id(c),
                            image: short_id(&id),
                        });
                    }
                }
                loaded.untag(&r);
                events.push(RemoveEvent::Untagged(r.familiar_string()));
                if refs.len() > 1 || !used.is_empty() {
                    // other tags remain, or a container (force) keeps it: dangling
                    loaded.keep_listed(&id);
                    self.write_index(&loaded.index)?;
                    return Ok(events);
                }
                id
            }
            Resolved::ById(id) => {
                let refs = loaded.tagged(&id);
                let used = users(&id);
                if !force {
                    if refs.len() > 1 {
                        return Err(Error::DeleteConflict {
                            image: short_id(&id),
                            hard: false,
                            reason: "image is referenced in multiple repositories".into(),
                        });
                    }
                    if let Some(c) = used.first() {
                        return Err(Error::DeleteConflict {
                            image: short_id(&id),
                            hard: false,
                            reason: format!("image is being used by container {}", short_id(c)),
                        });
                    }
                }
                for r in &refs {
                    loaded.untag(r);
                    events.push(RemoveEvent::Untagged(r.familiar_string()));
                }
                if !used.is_empty() {
                    loaded.keep_listed(&id);
                    self.write_index(&loaded.index)?;
                    return Ok(events);
                }
                id
            }
        };
        loaded.drop_image(&id);
        self.write_index(&loaded.index)?;
        events.push(RemoveEvent::Deleted(id.clone()));
        let (deleted, _) = self.gc(&loaded, &[id])?;
        events.extend(deleted.into_iter().map(RemoveEvent::Deleted));
        Ok(events)
    }

    /// Delete blobs and snapshots of `removed` images that no image left in
    /// `loaded.index` needs. Must hold the lock, after writing the index.
    /// Returns the deleted chain ids and their unpacked bytes.
    fn gc(&self, loaded: &Loaded, removed: &[String]) -> Result<(Vec<String>, u64)> {
        let (keep_blobs, keep_chains) = Self::needed(loaded);
        let mut deleted = Vec::new();
        let mut bytes = 0;
        for id in removed {
            let Some(rec) = loaded.images.get(id) else {
                continue;
            };
            for blob in std::iter::once(&rec.manifest.digest)
                .chain(std::iter::once(&rec.id))
                .chain(rec.layer_digests.iter())
            {
                if !keep_blobs.contains(blob) {
                    if let Ok(p) = self.blob_path(blob) {
                        match fs::remove_file(&p) {
                            Ok(()) => {}
                            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                            Err(e) => tracing::warn!(%blob, error = %e, "cannot remove blob"),
                        }
                    }
                }
            }
            for chain in rec.chain_ids.iter().rev() {
                if keep_chains.contains(chain) || deleted.contains(chain) {
                    continue;
                }
                let dir = self.snapshots.join(hex_of(chain)?);
                if !dir.exists() {
                    continue;
                }
                bytes += self.delete_snapshot(chain)?;
                deleted.push(chain.clone());
            }
        }
        Ok((deleted, bytes))
    }

    /// The blobs and chain ids that the images listed in `loaded.index` need.
    fn needed(loaded: &Loaded) -> (BTreeSet<String>, BTreeSet<String>) {
        let mut keep_blobs = BTreeSet::new();
        let mut keep_chains = BTreeSet::new();
        for d in &loaded.index.manifests {
            keep_blobs.insert(d.digest.clone());
            let Some(rec) = loaded.desc_id(d).and_then(|id| loaded.images.get(id)) else {
                continue;
            };
            keep_blobs.insert(rec.id.clone());
            keep_blobs.extend(rec.layer_digests.iter().cloned());
            keep_chains.extend(rec.chain_ids.iter().cloned());
        }
        (keep_blobs, keep_chains)
    }

    /// Remove a snapshot, returning its unpacked size. Must hold the lock.
    fn delete_snapshot(&self, chain: &str) -> Result<u64> {
        let size = self.layer_size(chain);
        let dir = self.snapshots.join(hex_of(chain)?);
        // Rename first so a half-deleted snapshot is never taken as complete.
        let trash = self.snapshots.join(format!(".tmp-del-{}", unique()));
        fs::rename(&dir, &trash).map_err(Error::io(format!("removing snapshot {chain}")))?;
        if let Err(e) = fs::remove_dir_all(&trash) {
            tracing::warn!(path = %trash.display(), error = %e, "cannot remove snapshot");
        }
        Ok(size)
    }

    /// Remove snapshots and blobs that no listed image needs (left by a
    /// crash between committing them and writing index.json). Must hold the lock.
    fn gc_orphans(&self, loaded: &Loaded) -> Result<(Vec<String>, u64)> {
        let (keep_blobs, keep_chains) = Self::needed(loaded);
        let mut deleted = Vec::new();
        let mut bytes = 0;
        if let Ok(rd) = fs::read_dir(&self.snapshots) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !is_full_hex_id(&name) {
                    continue;
                }
                let chain = format!("sha256:{name}");
                if !keep_chains.contains(&chain) {
                    tracing::info!(%chain, "removing orphaned snapshot");
                    bytes += self.delete_snapshot(&chain)?;
                    deleted.push(chain);
                }
            }
        }
        // Index entries we do not understand (e.g. an image index another tool
        // wrote) may need blobs we cannot see: then keep every blob.
        let all_known = loaded
            .index
            .manifests
            .iter()
            .all(|d| loaded.desc_id(d).is_some());
        if !all_known {
            tracing::debug!("index has entries that are not images; not removing orphaned blobs");
        }
        let blobs = if all_known {
            fs::read_dir(self.image_dir.join("blobs/sha256")).ok()
        } else {
            None
        };
        if let Some(rd) = blobs {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if is_full_hex_id(&name) && !keep_blobs.contains(&format!("sha256:{name}")) {
                    tracing::info!(blob = %name, "removing orphaned blob");
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        Ok((deleted, bytes))
    }

    /// `docker image prune` (`all`: every image no container uses).
    pub fn prune(
        &self,
        all: bool,
        in_use: &dyn Fn(&str) -> bool,
    ) -> Result<(Vec<RemoveEvent>, u64)> {
        let _lock = self.lock()?;
        let mut loaded = self.load()?;
        let candidates: Vec<String> = loaded
            .images
            .keys()
            .filter(|id| (all || loaded.tagged(id).is_empty()) && !in_use(id))
            .cloned()
            .collect();
        let mut events = Vec::new();
        for id in &candidates {
            for r in loaded.tagged(id) {
                loaded.untag(&r);
                events.push(RemoveEvent::Untagged(r.familiar_string()));
            }
            loaded.drop_image(id);
            events.push(RemoveEvent::Deleted(id.clone()));
        }
        if !candidates.is_empty() {
            self.write_index(&loaded.index)?;
        }
        let (deleted, mut bytes) = self.gc(&loaded, &candidates)?;
        events.extend(deleted.into_iter().map(RemoveEvent::Deleted));
        let (orphans, orphan_bytes) = self.gc_orphans(&loaded)?;
        bytes += orphan_bytes;
        events.extend(orphans.into_iter().map(RemoveEvent::Deleted));
        Ok((events, bytes))
    }

    /// `docker history`, newest first.
    pub fn history(&self, name_or_id: &str) -> Result<Vec<HistoryEntry>> {
        let loaded = self.load()?;
        let rec = self.rec(&loaded, name_or_id)?;
        let img = self.to_image(rec);
        let mut layers = rec.chain_ids.iter();
        let mut out: Vec<HistoryEntry> = Vec::new();
        let hist = rec.config["history"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if hist.is_empty() {
            for c in &rec.chain_ids {
                out.push(HistoryEntry {
                    id: "<missing>".into(),
                    created: DateTime::<Utc>::default(),
                    created_by: String::new(),
                    size: self.layer_size(c),
                    comment: String::new(),
                    tags: Vec::new(),
                    empty_layer: false,
                });
            }
        }
        for h in &hist {
            let empty = h["empty_layer"].as_bool().unwrap_or(false);
            let size = if empty {
                0
            } else {
                layers.next().map(|c| self.layer_size(c)).unwrap_or(0)
            };
            out.push(HistoryEntry {
                id: "<missing>".into(),
                created: parse_time(&h["created"]).unwrap_or_default(),
                created_by: h["created_by"].as_str().unwrap_or_default().to_string(),
                size,
                comment: h["comment"].as_str().unwrap_or_default().to_string(),
                tags: Vec::new(),
                empty_layer: empty,
            });
        }
        out.reverse();
        if let Some(top) = out.first_mut() {
            top.id = rec.id.clone();
            top.tags = img.repo_tags.clone();
        }
        Ok(out)
    }

    /// `docker image inspect`.
    pub fn inspect(&self, name_or_id: &str) -> Result<Value> {
        let loaded = self.load()?;
        let rec = self.rec(&loaded, name_or_id)?;
        let img = self.to_image(rec);
        let c = &rec.config;
        let mut cfg = json!({
            "Hostname": "", "Domainname": "", "User": "",
            "AttachStdin": false, "AttachStdout": false, "AttachStderr": false,
            "Tty": false, "OpenStdin": false, "StdinOnce": false,
            "Env": null, "Cmd": null, "Image": "", "Volumes": null, "WorkingDir": "",
            "Entrypoint": null, "OnBuild": null, "Labels": null,
        });
        if let Some(m) = c["config"].as_object() {
            let o = cfg.as_object_mut().expect("object");
            for (k, v) in m {
                o.insert(k.clone(), v.clone());
            }
        }
        let fs_of = |chain: &String| {
            self.snapshot_fs(chain)
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        };
        let mut gd = Map::new();
        if let Some(top) = rec.chain_ids.last() {
            let lowers: Vec<String> = rec.chain_ids.iter().rev().skip(1).map(fs_of).collect();
            if !lowers.is_empty() {
                gd.insert("LowerDir".into(), json!(lowers.join(":")));
            }
            let top_dir = self.snapshots.join(hex_of(top)?);
            gd.insert(
                "MergedDir".into(),
                json!(top_dir.join("merged").display().to_string()),
            );
            gd.insert("UpperDir".into(), json!(fs_of(top)));
            gd.insert(
                "WorkDir".into(),
                json!(top_dir.join("work").display().to_string()),
            );
        }
        let mut out = json!({
            "Id": rec.id,
            "RepoTags": img.repo_tags,
            "RepoDigests": img.repo_digests,
            "Parent": c["parent"].as_str().unwrap_or_default(),
            "Comment": c["comment"].as_str().unwrap_or_default(),
            "Created": c["created"].as_str().unwrap_or_default(),
            "DockerVersion": c["docker_version"].as_str().unwrap_or_default(),
            "Author": c["author"].as_str().unwrap_or_default(),
            "Config": cfg,
            "Architecture": c["architecture"].as_str().unwrap_or_default(),
        });
        let o = out.as_object_mut().expect("object");
        if let Some(v) = c["variant"].as_str() {
            o.insert("Variant".into(), json!(v));
        }
        o.insert("Os".into(), json!(c["os"].as_str().unwrap_or_default()));
        o.insert("Size".into(), json!(img.size));
        o.insert(
            "GraphDriver".into(),
            json!({"Data": gd, "Name": "overlay2"}),
        );
        o.insert("RootFS".into(), json!({"Type": c["rootfs"]["type"].as_str().unwrap_or("layers"), "Layers": rec.diff_ids}));
        let ltt = rec
            .last_tag_time
            .map(|t| fmt_time(&t))
            .unwrap_or_else(|| "0001-01-01T00:00:00Z".into());
        o.insert("Metadata".into(), json!({"LastTagTime": ltt}));
        Ok(out)
    }

    /// The runtime-relevant config of an image.
    pub fn config(&self, image_id: &str) -> Result<ImageConfigFile> {
        let loaded = self.load()?;
        let rec = self.rec(&loaded, image_id)?;
        let c = &rec.config["config"];
        Ok(ImageConfigFile {
            user: c["User"].as_str().unwrap_or_default().to_string(),
            env: str_list(&c["Env"]).unwrap_or_default(),
            cmd: str_list(&c["Cmd"]),
            entrypoint: str_list(&c["Entrypoint"]),
            working_dir: c["WorkingDir"].as_str().unwrap_or_default().to_string(),
            labels: str_map(&c["Labels"]),
            stop_signal: c["StopSignal"].as_str().map(str::to_string),
            exposed_ports: keys(&c["ExposedPorts"]),
            volumes: keys(&c["Volumes"]),
            on_build: str_list(&c["OnBuild"]).unwrap_or_default(),
            healthcheck: c.get("Healthcheck").filter(|v| !v.is_null()).cloned(),
            architecture: rec.config["architecture"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            os: rec.config["os"].as_str().unwrap_or_default().to_string(),
        })
    }

    /// The overlay mount of an image's layers with the given upper and work
    /// directories, for a container's root filesystem. Mounts nothing.
    pub fn rootfs_mounts(
        &self,
        image_id: &str,
        upper: &Path,
        work: &Path,
    ) -> Result<Vec<oci_spec::runtime::Mount>> {
        let loaded = self.load()?;
        let rec = self.rec(&loaded, image_id)?;
        if rec.chain_ids.is_empty() {
            return Err(Error::NoLayers(rec.id.clone()));
        }
        let mut lowers = Vec::new();
        for c in rec.chain_ids.iter().rev() {
            let p = self.snapshot_fs(c)?;
            if !p.is_dir() {
                return Err(Error::Corrupt(format!("snapshot of layer {c} is missing")));
            }
            lowers.push(p.display().to_string());
        }
        let options = vec![
            format!("lowerdir={}", lowers.join(":")),
            format!("upperdir={}", upper.display()),
            format!("workdir={}", work.display()),
            "index=off".to_string(),
        ];
        let m = oci_spec::runtime::MountBuilder::default()
            .destination("/")
            .typ("overlay")
            .source("overlay")
            .options(options)
            .build()
            .map_err(|e| Error::Corrupt(format!("building overlay mount: {e}")))?;
        Ok(vec![m])
    }
}

/// Go's `runtime.GOARCH` for this machine.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

mod write;
pub use write::{BlobRef, LayerInfo, StoredImage};

#[cfg(test)]
mod tests;
