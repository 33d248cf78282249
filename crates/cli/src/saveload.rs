//! `save` and `load`: docker's image archive (manifest.json + an OCI layout)
//! and OCI archives.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use berth_engine::Engine;
use berth_image::{LayerInfo, Reference, Store};
use clap::Args;
use serde_json::{json, Value};

use crate::{CmdResult, Failure};

/// Flags of `save`.
#[derive(Args, Debug)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Images
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// Flags of `load`.
#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short, long)]
    pub input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short, long)]
    pub quiet: bool,
}

fn fail(e: impl std::fmt::Display) -> Failure {
    Failure::new(1, e.to_string())
}

fn blob_name(digest: &str) -> String {
    format!("blobs/{}", digest.replacen(':', "/", 1))
}

fn append(
    b: &mut tar::Builder<impl Write>,
    name: &str,
    size: u64,
    data: &mut dyn Read,
) -> std::io::Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, name, data)
}

fn append_dir(b: &mut tar::Builder<impl Write>, name: &str) -> std::io::Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_size(0);
    h.set_mode(0o755);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Directory);
    b.append_data(&mut h, name, std::io::empty())
}

/// `docker save`.
pub fn save(e: &Engine, a: &SaveArgs) -> CmdResult {
    let store = e.images();
    if a.output.is_none() && std::io::stdout().is_terminal() {
        return Err(fail(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
        ));
    }
    // Resolve everything first: a bad name writes nothing.
    let mut items = Vec::new();
    for name in &a.images {
        let img = store.stored_image(name).map_err(fail)?;
        let tags: Vec<Reference> = match Reference::parse_tagged(name) {
            Ok(r) if r.tag().is_some() && img.references.contains(&r) => vec![r],
            // an id (or a digest) saves every tag of the image, as docker does
            _ => img
                .references
                .iter()
                .filter(|r| r.tag().is_some())
                .cloned()
                .collect(),
        };
        items.push((img, tags));
    }
    let (tmp, out): (Option<PathBuf>, Box<dyn Write>) = match &a.output {
        Some(p) => {
            let tmp = p.with_file_name(format!(
                ".{}.berth-save-{}",
                p.file_name().and_then(|n| n.to_str()).unwrap_or("out"),
                std::process::id()
            ));
            let f = File::create(&tmp).map_err(|err| fail(format!("{}: {err}", tmp.display())))?;
            (Some(tmp), Box::new(std::io::BufWriter::new(f)))
        }
        None => (
            None,
            Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
        ),
    };
    let res = write_archive(store, &items, out);
    if let Some(tmp) = &tmp {
        match res {
            Ok(()) => std::fs::rename(tmp, a.output.as_ref().expect("output"))
                .map_err(|err| fail(format!("saving: {err}")))?,
            Err(f) => {
                let _ = std::fs::remove_file(tmp);
                return Err(f);
            }
        }
    } else {
        res?;
    }
    Ok(0)
}

fn write_archive(
    store: &Store,
    items: &[(berth_image::StoredImage, Vec<Reference>)],
    out: Box<dyn Write>,
) -> Result<(), Failure> {
    let io = |err: std::io::Error| fail(format!("writing the archive: {err}"));
    let mut b = tar::Builder::new(out);
    append_dir(&mut b, "blobs/").map_err(io)?;
    append_dir(&mut b, "blobs/sha256/").map_err(io)?;
    let mut written = std::collections::HashSet::new();
    let mut manifest_json = Vec::new();
    let mut index = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (img, tags) in items {
        for l in &img.layers {
            if written.insert(l.digest.clone()) {
                let (mut f, size) = store.open_blob(&l.digest).map_err(fail)?;
                append(&mut b, &blob_name(&l.digest), size, &mut f).map_err(io)?;
            }
        }
        if written.insert(img.config_blob.digest.clone()) {
            append(
                &mut b,
                &blob_name(&img.config_blob.digest),
                img.config.len() as u64,
                &mut &img.config[..],
            )
            .map_err(io)?;
        }
        if written.insert(img.manifest_digest.clone()) {
            append(
                &mut b,
                &blob_name(&img.manifest_digest),
                img.manifest.len() as u64,
                &mut &img.manifest[..],
            )
            .map_err(io)?;
        }
        let repo_tags: Vec<String> = tags.iter().map(Reference::familiar_string).collect();
        let cfg_name = blob_name(&img.config_blob.digest);
        // one entry per image, with all of its tags, as docker writes it
        match manifest_json
            .iter_mut()
            .find(|m: &&mut Value| m["Config"] == cfg_name.as_str())
        {
            Some(m) => {
                let mut all: Vec<Value> = m["RepoTags"].as_array().cloned().unwrap_or_default();
                all.extend(repo_tags.iter().map(|t| json!(t)));
                if !all.is_empty() {
                    m["RepoTags"] = Value::Array(all);
                }
            }
            None => manifest_json.push(json!({
                "Config": cfg_name,
                "RepoTags": if repo_tags.is_empty() { Value::Null } else { json!(repo_tags) },
                "Layers": img.layers.iter().map(|l| blob_name(&l.digest)).collect::<Vec<_>>(),
            })),
        }
        let desc = |ann: Option<&Reference>| {
            let mut d = json!({
                "mediaType": img.manifest_media_type,
                "digest": img.manifest_digest,
                "size": img.manifest.len(),
            });
            if let Some(r) = ann {
                d["annotations"] = json!({
                    "io.containerd.image.name": r.to_string(),
                    "org.opencontainers.image.ref.name": r.tag().unwrap_or_default(),
                });
            }
            d
        };
        if tags.is_empty() {
            index.push(desc(None));
        }
        for t in tags {
            index.push(desc(Some(t)));
            if let (Some(tag), Some(top)) = (t.tag(), img.diff_ids.last()) {
                repositories.entry(t.familiar_name()).or_default().insert(
                    tag.to_string(),
                    top.trim_start_matches("sha256:").to_string(),
                );
            }
        }
    }
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": index,
    }))
    .map_err(fail)?;
    append(&mut b, "index.json", index.len() as u64, &mut &index[..]).map_err(io)?;
    let mj = serde_json::to_vec(&manifest_json).map_err(fail)?;
    append(&mut b, "manifest.json", mj.len() as u64, &mut &mj[..]).map_err(io)?;
    let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
    append(&mut b, "oci-layout", layout.len() as u64, &mut &layout[..]).map_err(io)?;
    if !repositories.is_empty() {
        let r = serde_json::to_vec(&repositories).map_err(fail)?;
        append(&mut b, "repositories", r.len() as u64, &mut &r[..]).map_err(io)?;
    }
    let mut out = b.into_inner().map_err(io)?;
    out.flush().map_err(io)?;
    Ok(())
}

/// Lexically normalize an archive path; `None` if it climbs out.
fn norm(base: &str, p: &str) -> Option<String> {
    let mut out: Vec<&str> = if p.starts_with('/') {
        Vec::new()
    } else {
        base.split('/').filter(|c| !c.is_empty()).collect()
    };
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            c => out.push(c),
        }
    }
    Some(out.join("/"))
}

/// An unpacked archive: its regular files copied to numbered temp files
/// (no archive path ever touches the file system), symlinks resolved
/// lexically inside the archive.
struct Unpacked {
    dir: PathBuf,
    files: HashMap<String, PathBuf>,
    links: HashMap<String, String>,
}

impl Drop for Unpacked {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Unpacked {
    fn read(dir: PathBuf, src: &mut dyn Read) -> Result<Unpacked, Failure> {
        std::fs::create_dir_all(&dir).map_err(fail)?;
        let mut u = Unpacked {
            dir,
            files: HashMap::new(),
            links: HashMap::new(),
        };
        let src = berth_image::decompress(src).map_err(fail)?;
        let mut ar = tar::Archive::new(src);
        let bad = |err: std::io::Error| fail(format!("invalid tar archive: {err}"));
        for (n, entry) in ar.entries().map_err(bad)?.enumerate() {
            let mut entry = entry.map_err(bad)?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let Some(name) = norm("", &raw) else {
                return Err(fail(format!(
                    "invalid tar entry \"{raw}\": path escapes the archive"
                )));
            };
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let p = u.dir.join(n.to_string());
                    let mut f = File::create(&p).map_err(fail)?;
                    std::io::copy(&mut entry, &mut f).map_err(bad)?;
                    u.files.insert(name, p);
                }
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let target = entry
                        .link_name_bytes()
                        .map(|l| String::from_utf8_lossy(&l).into_owned())
                        .unwrap_or_default();
                    let base = if entry.header().entry_type() == tar::EntryType::Symlink {
                        Path::new(&name)
                            .parent()
                            .map(|p| p.to_string_lossy().into_owned())
                            .unwrap_or_default()
                    } else {
                        String::new()
                    };
                    if let Some(t) = norm(&base, &target) {
                        u.links.insert(name, t);
                    }
                }
                _ => {}
            }
        }
        Ok(u)
    }

    fn path(&self, name: &str) -> Result<&Path, Failure> {
        let mut name = norm("", name).ok_or_else(|| fail(format!("invalid path {name}")))?;
        for _ in 0..16 {
            if let Some(p) = self.files.get(&name) {
                return Ok(p);
            }
            match self.links.get(&name) {
                Some(t) => name = t.clone(),
                None => break,
            }
        }
        Err(fail(format!("{name}: not in the archive")))
    }

    fn bytes(&self, name: &str) -> Result<Vec<u8>, Failure> {
        std::fs::read(self.path(name)?).map_err(fail)
    }
}

/// A layer in an archive: its path, expected (digest, size), media type.
type LayerSrc = (String, Option<(String, u64)>, String);

fn add_layers(store: &Store, u: &Unpacked, layers: &[LayerSrc]) -> Result<Vec<LayerInfo>, Failure> {
    let mut infos: Vec<LayerInfo> = Vec::new();
    for (path, expected, mt) in layers {
        let mut f = File::open(u.path(path)?).map_err(fail)?;
        let parent = infos.last().map(|l| l.chain_id.clone());
        let exp = expected.as_ref().map(|(d, s)| (d.as_str(), *s));
        let info = store
            .add_layer(parent.as_deref(), &mut f, exp, mt)
            .map_err(fail)?;
        infos.push(info);
    }
    Ok(infos)
}

/// `docker load`.
pub fn load(e: &Engine, a: &LoadArgs) -> CmdResult {
    let store = e.images();
    let dir = store
        .root()
        .join("image/ingest")
        .join(format!("load-{}", std::process::id()));
    let u = match &a.input {
        Some(p) => {
            let mut f =
                File::open(p).map_err(|err| fail(format!("open {}: {err}", p.display())))?;
            Unpacked::read(dir, &mut f)?
        }
        None => {
            if std::io::stdin().is_terminal() {
                return Err(fail("requested load from stdin, but stdin is empty"));
            }
            Unpacked::read(dir, &mut std::io::stdin().lock())?
        }
    };
    let mut loaded = Vec::new();
    if u.files.contains_key("manifest.json") {
        let mj: Value = serde_json::from_slice(&u.bytes("manifest.json")?)
            .map_err(|err| fail(format!("manifest.json: {err}")))?;
        for m in mj.as_array().cloned().unwrap_or_default() {
            let config = u.bytes(m["Config"].as_str().unwrap_or_default())?;
            let layers: Vec<LayerSrc> = m["Layers"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|l| l.as_str())
                        .map(|l| (l.to_string(), None, String::new()))
                        .collect()
                })
                .unwrap_or_default();
            let infos = add_layers(store, &u, &layers)?;
            let tags: Vec<Reference> = m["RepoTags"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|t| t.as_str())
                        .filter_map(|t| Reference::parse_tagged(t).ok())
                        .filter(|r| r.tag().is_some())
                        .collect()
                })
                .unwrap_or_default();
            let id = store
                .add_image(&config, &infos, None, tags.first(), None)
                .map_err(fail)?;
            for t in tags.iter().skip(1) {
                store.add_repo_digest(&id, t).map_err(fail)?;
            }
            loaded.push((id, tags));
        }
    } else if u.files.contains_key("index.json") {
        let index: Value = serde_json::from_slice(&u.bytes("index.json")?)
            .map_err(|err| fail(format!("index.json: {err}")))?;
        let mut todo: Vec<(Value, Option<String>)> = index["manifests"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|d| (d, None))
            .collect();
        while let Some((d, inherited)) = todo.pop() {
            let digest = d["digest"].as_str().unwrap_or_default().to_string();
            let bytes = u.bytes(&blob_name(&digest))?;
            if berth_registry::sha256(&bytes) != digest {
                return Err(fail(format!("manifest {digest} does not match its digest")));
            }
            let name = d["annotations"]["io.containerd.image.name"]
                .as_str()
                .or_else(|| d["annotations"]["org.opencontainers.image.ref.name"].as_str())
                .map(str::to_string)
                .or(inherited);
            let v: Value = serde_json::from_slice(&bytes).map_err(fail)?;
            if v.get("manifests").is_some() {
                // a nested index: the host's platform
                if let Some(m) = v["manifests"].as_array().and_then(|ms| {
                    ms.iter().find(|m| {
                        m["platform"]["os"] == "linux" && m["platform"]["architecture"] == "amd64"
                    })
                }) {
                    todo.push((m.clone(), name));
                }
                continue;
            }
            let cfg_digest = v["config"]["digest"].as_str().unwrap_or_default();
            let config = u.bytes(&blob_name(cfg_digest))?;
            let layers: Vec<LayerSrc> = v["layers"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|l| {
                            let d = l["digest"].as_str().unwrap_or_default().to_string();
                            (
                                blob_name(&d),
                                Some((d, l["size"].as_u64().unwrap_or(0))),
                                l["mediaType"].as_str().unwrap_or_default().to_string(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let infos = add_layers(store, &u, &layers)?;
            let tag = name
                .and_then(|n| Reference::parse_tagged(&n).ok())
                .filter(|r| r.tag().is_some());
            let id = store
                .add_image(&config, &infos, Some(&bytes), tag.as_ref(), None)
                .map_err(fail)?;
            loaded.push((id, tag.into_iter().collect()));
        }
    } else {
        return Err(fail(
            "invalid archive: no manifest.json (docker-archive) or index.json (oci-archive)",
        ));
    }
    drop(u);
    for (id, tags) in &loaded {
        if tags.is_empty() {
            println!("Loaded image ID: {id}");
        }
        for t in tags {
            println!("Loaded image: {}", t.familiar_string());
        }
    }
    let _ = a.quiet;
    Ok(0)
}
