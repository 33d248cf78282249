//! Named and anonymous volumes (`ROOT/volumes/NAME/_data`), and the mounts a
//! container asks for with `-v`, `--mount`, `--tmpfs` and image `VOLUME`s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::record::write_atomic;
use crate::{Error, Result};

/// A volume, as `docker volume inspect` shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    pub created_at: String,
    pub driver: String,
    pub labels: BTreeMap<String, String>,
    pub mountpoint: String,
    pub name: String,
    pub options: BTreeMap<String, String>,
    pub scope: String,
    /// Created for one container (`-v /path`, image VOLUME): removed with it.
    #[serde(
        default,
        skip_serializing_if = "std::ops::Not::not",
        rename = "BerthAnonymous"
    )]
    pub anonymous: bool,
}

/// One mount of a container, shaped like an entry of docker's `Mounts`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct MountPoint {
    /// `bind`, `volume` or `tmpfs`.
    #[serde(rename = "Type")]
    pub typ: String,
    /// The volume's name (volumes only).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Host path (binds, volumes).
    pub source: String,
    /// Path in the container.
    pub destination: String,
    /// `local` for volumes.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub driver: String,
    /// Options as given (`ro`, `z`…).
    pub mode: String,
    /// Writable.
    #[serde(rename = "RW")]
    pub rw: bool,
    /// Mount propagation.
    pub propagation: String,
    /// tmpfs options (tmpfs only).
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        rename = "BerthTmpfsOptions"
    )]
    pub tmpfs_options: String,
}

/// Docker's volume name rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn valid_name(n: &str) -> bool {
    crate::names::is_valid(n) && !n.starts_with('/')
}

/// The volume store under `ROOT/volumes`.
#[derive(Debug)]
pub struct Volumes {
    dir: PathBuf,
}

impl Volumes {
    /// The store at `root/volumes`.
    pub fn new(root: &Path) -> Self {
        Self {
            dir: root.join("volumes"),
        }
    }

    fn meta(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("volume.json")
    }

    /// A volume by name.
    pub fn get(&self, name: &str) -> Result<Volume> {
        let p = self.meta(name);
        let bytes = std::fs::read(&p).map_err(|_| Error::NoSuchVolume(name.to_string()))?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
            path: p.display().to_string(),
            source: e,
        })
    }

    /// Creates a volume (a new random name when `name` is `None`); an
    /// existing one with that name is returned as it is, as docker does.
    pub fn create(
        &self,
        name: Option<&str>,
        labels: BTreeMap<String, String>,
        anonymous: bool,
    ) -> Result<Volume> {
        let name = match name {
            Some(n) if !valid_name(n) => {
                return Err(Error::Invalid(format!(
                    "create {n}: \"{n}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
                )))
            }
            Some(n) => n.to_string(),
            None => hex::encode(rand::random::<[u8; 32]>()),
        };
        if let Ok(v) = self.get(&name) {
            return Ok(v);
        }
        let vdir = self.dir.join(&name);
        let data = vdir.join("_data");
        std::fs::create_dir_all(&data)
            .map_err(|e| Error::io(format!("creating {}", data.display()), e))?;
        let v = Volume {
            created_at: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
            driver: "local".into(),
            labels,
            mountpoint: data.display().to_string(),
            name: name.clone(),
            options: BTreeMap::new(),
            scope: "local".into(),
            anonymous,
        };
        let bytes = serde_json::to_vec_pretty(&v).map_err(|e| Error::Corrupt {
            path: name.clone(),
            source: e,
        })?;
        write_atomic(&self.meta(&name), &bytes)?;
        Ok(v)
    }

    /// Every volume.
    pub fn list(&self) -> Vec<Volume> {
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut v: Vec<Volume> = rd
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter_map(|n| self.get(&n).ok())
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Removes a volume and its data.
    pub fn remove(&self, name: &str) -> Result<()> {
        self.get(name)?;
        let vdir = self.dir.join(name);
        let gone = self
            .dir
            .join(format!(".removing-{name}-{}", std::process::id()));
        std::fs::rename(&vdir, &gone)
            .and_then(|_| std::fs::remove_dir_all(&gone))
            .map_err(|e| Error::io(format!("removing volume {name}"), e))
    }

    /// Bytes used by a volume's data.
    pub fn size(&self, name: &str) -> u64 {
        crate::du(&self.dir.join(name).join("_data"))
    }
}

/// Parses one `-v`/`--volume` value: `/host:/ctr[:opts]`, `name:/ctr[:opts]`
/// or `/ctr`. Returns (source, destination, options).
pub fn parse_volume_flag(v: &str) -> Result<(Option<String>, String, String)> {
    let parts: Vec<&str> = v.split(':').collect();
    let bad = || {
        Error::Invalid(format!(
            "invalid spec: {v}: invalid volume specification: '{v}'"
        ))
    };
    let (src, dst, mode) = match parts.as_slice() {
        [d] => (None, *d, ""),
        [s, d] => (Some(*s), *d, ""),
        [s, d, m] => (Some(*s), *d, *m),
        _ => return Err(bad()),
    };
    if !dst.starts_with('/') || dst.is_empty() {
        return Err(Error::Invalid(format!(
            "invalid spec: {v}: invalid mount config: mount path must be absolute"
        )));
    }
    if src.is_some_and(str::is_empty) {
        return Err(bad());
    }
    for m in mode.split(',').filter(|m| !m.is_empty()) {
        if !matches!(
            m,
            "ro" | "rw"
                | "z"
                | "Z"
                | "shared"
                | "rshared"
                | "slave"
                | "rslave"
                | "private"
                | "rprivate"
                | "nocopy"
        ) {
            return Err(Error::Invalid(format!("invalid mode: {m}")));
        }
    }
    Ok((src.map(String::from), dst.to_string(), mode.to_string()))
}

/// Parses one `--mount` value (`type=bind,source=…,target=…,readonly`).
/// Returns (type, source, target, readonly, tmpfs options).
pub fn parse_mount_flag(v: &str) -> Result<(String, Option<String>, String, bool, String)> {
    let mut typ = "volume".to_string();
    let (mut src, mut dst, mut ro) = (None, None, false);
    let mut tmpfs = Vec::new();
    for field in v.split(',') {
        let (k, val) = field.split_once('=').unwrap_or((field, ""));
        match k.to_lowercase().as_str() {
            "type" => typ = val.to_string(),
            "source" | "src" => src = Some(val.to_string()),
            "target" | "destination" | "dst" => dst = Some(val.to_string()),
            "readonly" | "ro" => ro = val.is_empty() || matches!(val, "1" | "true"),
            "tmpfs-size" => tmpfs.push(format!("size={val}")),
            "tmpfs-mode" => tmpfs.push(format!("mode={val}")),
            "bind-propagation" | "consistency" | "volume-nocopy" | "volume-driver"
            | "volume-label" => {}
            _ => {
                return Err(Error::Invalid(format!(
                "invalid argument \"{v}\" for \"--mount\" flag: unexpected key '{k}' in '{field}'"
            )))
            }
        }
    }
    if !matches!(typ.as_str(), "bind" | "volume" | "tmpfs") {
        return Err(Error::Invalid(format!(
            "invalid argument \"{v}\" for \"--mount\" flag: invalid mount type: {typ}"
        )));
    }
    let dst = dst.ok_or_else(|| {
        Error::Invalid(format!(
            "invalid argument \"{v}\" for \"--mount\" flag: target is required"
        ))
    })?;
    if !dst.starts_with('/') {
        return Err(Error::Invalid(format!(
            "invalid mount config for type \"{typ}\": invalid mount path: '{dst}' mount path must be absolute"
        )));
    }
    Ok((typ, src, dst, ro, tmpfs.join(",")))
}

/// Copies the tree at `from` into the empty directory `to`, keeping modes,
/// owners, symlinks and times (a new volume takes the image's content).
pub fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{lchown, MetadataExt, PermissionsExt};
    let meta = std::fs::symlink_metadata(from)?;
    lchown(to, Some(meta.uid()), Some(meta.gid()))?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let m = std::fs::symlink_metadata(&src)?;
        let ft = m.file_type();
        if ft.is_dir() {
            std::fs::create_dir(&dst)?;
            copy_tree(&src, &dst)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
            lchown(&dst, Some(m.uid()), Some(m.gid()))?;
        } else if ft.is_file() {
            std::fs::copy(&src, &dst)?;
            lchown(&dst, Some(m.uid()), Some(m.gid()))?;
            std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(m.mode() & 0o7777))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_flags_parse_like_docker() {
        assert_eq!(
            parse_volume_flag("/h:/c:ro").unwrap(),
            (Some("/h".into()), "/c".into(), "ro".into())
        );
        assert_eq!(
            parse_volume_flag("data:/c").unwrap(),
            (Some("data".into()), "/c".into(), String::new())
        );
        assert_eq!(
            parse_volume_flag("/c").unwrap(),
            (None, "/c".into(), String::new())
        );
        assert!(parse_volume_flag("/h:c").is_err());
        assert!(parse_volume_flag("/h:/c:bogus").is_err());
        assert!(parse_volume_flag("a:b:c:d").is_err());
    }

    #[test]
    fn mount_flags_parse_like_docker() {
        let (t, s, d, ro, _) =
            parse_mount_flag("type=bind,source=/tmp/x,target=/example,readonly").unwrap();
        assert_eq!(
            (t.as_str(), s.as_deref(), d.as_str(), ro),
            ("bind", Some("/tmp/x"), "/example", true)
        );
        let (t, s, ..) = parse_mount_flag("target=/data").unwrap();
        assert_eq!((t.as_str(), s), ("volume", None));
        assert!(parse_mount_flag("type=nfs,target=/x").is_err());
        assert!(parse_mount_flag("type=bind,source=/x").is_err());
        assert!(parse_mount_flag("type=bind,bogus=1,target=/x").is_err());
    }

    #[test]
    fn create_get_list_remove() {
        let d = tempfile::tempdir().unwrap();
        let vs = Volumes::new(d.path());
        let v = vs.create(Some("data"), BTreeMap::new(), false).unwrap();
        assert!(Path::new(&v.mountpoint).is_dir());
        assert_eq!(
            vs.create(Some("data"), BTreeMap::new(), false)
                .unwrap()
                .created_at,
            v.created_at
        );
        let anon = vs.create(None, BTreeMap::new(), true).unwrap();
        assert_eq!(anon.name.len(), 64);
        assert_eq!(vs.list().len(), 2);
        vs.remove("data").unwrap();
        assert!(vs.get("data").is_err());
        assert!(vs.create(Some("bad/name"), BTreeMap::new(), false).is_err());
    }
}
