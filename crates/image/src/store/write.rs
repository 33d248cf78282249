//! The store's write API for images that arrive layer by layer (pull, load,
//! commit, build): [`Store::add_layer`] streams one layer blob into the store
//! and a snapshot, [`Store::add_image`] records an image made of such layers.
//! Also the read side other tools need to copy images out (push, save).

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::sync::mpsc::{sync_channel, Receiver};

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::{
    hex_of, unique, Cleanup, Descriptor, SnapshotMeta, Store, MT_CONFIG, MT_LAYER, MT_MANIFEST,
};
use crate::archive::{apply_layer, decompress};
use crate::reference::Reference;
use crate::{sha256_digest, Error, Result};

/// Size of the chunks handed from the reading thread to the unpacking one.
const CHUNK: usize = 256 * 1024;
/// Chunks in flight between the two (bounds the memory a layer takes).
const IN_FLIGHT: usize = 8;

/// A layer as stored by [`Store::add_layer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    /// `sha256:` of the uncompressed tar.
    pub diff_id: String,
    /// OCI chain id of this layer on top of its parent.
    pub chain_id: String,
    /// `sha256:` of the blob as stored (compressed or not).
    pub blob_digest: String,
    /// Size of the blob in bytes.
    pub blob_size: u64,
    /// Media type of the blob (`application/vnd.oci.image.layer.v1.tar+gzip`, …).
    pub media_type: String,
    /// Bytes of file content unpacked.
    pub unpacked_size: u64,
}

/// A blob of the store, as a descriptor: what push and save copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRef {
    /// Media type.
    pub media_type: String,
    /// `sha256:…`
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
}

/// Everything needed to copy a stored image out: its exact manifest and
/// config bytes and its layer blobs.
#[derive(Debug, Clone)]
pub struct StoredImage {
    /// Image id (`sha256:` of the config).
    pub id: String,
    /// The manifest bytes exactly as stored.
    pub manifest: Vec<u8>,
    /// The manifest's media type.
    pub manifest_media_type: String,
    /// Digest of the manifest.
    pub manifest_digest: String,
    /// The config bytes exactly as stored.
    pub config: Vec<u8>,
    /// The config descriptor.
    pub config_blob: BlobRef,
    /// The layer blobs, bottom first.
    pub layers: Vec<BlobRef>,
    /// Diff ids, bottom first.
    pub diff_ids: Vec<String>,
    /// Tags and digest references of the image.
    pub references: Vec<Reference>,
}

/// Reads the chunks another thread sends.
struct ChanReader {
    rx: Receiver<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
}

impl Read for ChanReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.cur.len() {
            match self.rx.recv() {
                Ok(c) => {
                    self.cur = c;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Hashes what is read through it.
struct HashRead<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// The media type of a layer blob from its first bytes.
fn sniff_media_type(magic: &[u8]) -> &'static str {
    if magic.starts_with(&[0x1f, 0x8b]) {
        "application/vnd.oci.image.layer.v1.tar+gzip"
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        "application/vnd.oci.image.layer.v1.tar+zstd"
    } else {
        MT_LAYER
    }
}

fn json_bytes(v: &Value) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::Corrupt(e.to_string()))
}

impl Store {
    /// Whether the snapshot of `chain_id` is complete in the store.
    pub fn has_snapshot(&self, chain_id: &str) -> bool {
        hex_of(chain_id)
            .map(|h| self.snapshots.join(h).join("meta.json").exists())
            .unwrap_or(false)
    }

    /// Whether the blob `digest` is in the store.
    pub fn has_blob(&self, digest: &str) -> bool {
        self.blob_path(digest).map(|p| p.exists()).unwrap_or(false)
    }

    /// Open a stored blob for reading, with its size.
    pub fn open_blob(&self, digest: &str) -> Result<(File, u64)> {
        let p = self.blob_path(digest)?;
        let f = File::open(&p).map_err(Error::io(format!("opening blob {digest}")))?;
        let size = f
            .metadata()
            .map_err(Error::io(format!("stat blob {digest}")))?
            .len();
        Ok((f, size))
    }

    /// A stored blob's bytes, checked against its digest.
    pub fn blob_bytes(&self, digest: &str) -> Result<Vec<u8>> {
        self.read_blob(digest)
    }

    /// Store one layer blob read once from `reader` (gzip, zstd or plain
    /// tar): the blob is written under `ingest/` and checked against
    /// `expected` (digest, size) when given, while a second thread
    /// decompresses it, hashes the diff id and unpacks it into a new snapshot
    /// on top of `parent_chain_id`. An existing snapshot of the same chain id
    /// is reused. On any error (short read, digest or size mismatch, bad tar)
    /// nothing is left behind. `media_type` empty: sniffed from the data.
    pub fn add_layer(
        &self,
        parent_chain_id: Option<&str>,
        reader: &mut dyn Read,
        expected: Option<(&str, u64)>,
        media_type: &str,
    ) -> Result<LayerInfo> {
        if let Some((d, _)) = expected {
            hex_of(d)?;
        }
        if let Some(p) = parent_chain_id {
            hex_of(p)?;
        }
        let tmp = self.snapshots.join(format!(".tmp-{}", unique()));
        let blob_tmp = self.ingest().join(unique());
        let mut cleanup = Cleanup(vec![tmp.clone(), blob_tmp.clone()]);
        let fs_dir = tmp.join("fs");
        fs::create_dir_all(&fs_dir).map_err(Error::io(format!("creating {}", fs_dir.display())))?;
        fs::set_permissions(&fs_dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .map_err(Error::io("chmod snapshot"))?;
        let out = File::create(&blob_tmp)
            .map_err(Error::io(format!("creating {}", blob_tmp.display())))?;
        let mut out = BufWriter::with_capacity(CHUNK, out);

        let (tx, rx) = sync_channel::<Vec<u8>>(IN_FLIGHT);
        let mut blob_hasher = Sha256::new();
        let mut blob_size = 0u64;
        let mut magic: Vec<u8> = Vec::new();
        let fs_dir2 = fs_dir.clone();
        let (read_result, unpack_result) = std::thread::scope(|s| {
            let unpacker = s.spawn(move || -> Result<(String, u64)> {
                let mut chan = ChanReader {
                    rx,
                    cur: Vec::new(),
                    pos: 0,
                };
                // Decompression gets a thread of its own, so that it overlaps
                // with hashing and the unpack's system calls.
                let (dtx, drx) = sync_channel::<Vec<u8>>(IN_FLIGHT);
                std::thread::scope(|s2| {
                    let decompressor = s2.spawn(move || -> Result<()> {
                        let mut d = decompress(&mut chan)?;
                        loop {
                            let mut buf = vec![0u8; CHUNK];
                            let mut filled = 0;
                            while filled < buf.len() {
                                match d.read(&mut buf[filled..]) {
                                    Ok(0) => break,
                                    Ok(n) => filled += n,
                                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                                    Err(e) => return Err(Error::Archive(e.to_string())),
                                }
                            }
                            if filled == 0 {
                                return Ok(());
                            }
                            buf.truncate(filled);
                            if dtx.send(buf).is_err() {
                                return Ok(());
                            }
                        }
                        // `chan` drops here: the reader finishes or notices we are gone.
                    });
                    let res = (|| {
                        let mut h = HashRead {
                            inner: ChanReader {
                                rx: drx,
                                cur: Vec::new(),
                                pos: 0,
                            },
                            hasher: Sha256::new(),
                        };
                        let n = apply_layer(&fs_dir2, &mut h)?;
                        // the tar's end-of-archive padding, and any trailer
                        io::copy(&mut h, &mut io::sink())
                            .map_err(|e| Error::Archive(e.to_string()))?;
                        Ok((format!("sha256:{}", hex::encode(h.hasher.finalize())), n))
                    })();
                    let decompressed = decompressor
                        .join()
                        .unwrap_or_else(|_| Err(Error::Archive("decompression panicked".into())));
                    // A decompression error explains a cut tar stream.
                    decompressed?;
                    res
                })
            });
            let read_result = (|| -> Result<()> {
                loop {
                    let mut buf = vec![0u8; CHUNK];
                    let n = match reader.read(&mut buf) {
                        Ok(0) => return Ok(()),
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(Error::io("reading the layer")(e)),
                    };
                    buf.truncate(n);
                    if magic.len() < 4 {
                        magic.extend(buf.iter().take(4 - magic.len()));
                    }
                    blob_hasher.update(&buf);
                    blob_size += n as u64;
                    if let Some((d, size)) = expected {
                        if blob_size > size {
                            return Err(Error::Verify {
                                digest: d.to_string(),
                                reason: format!("more than the expected {size} bytes"),
                            });
                        }
                    }
                    out.write_all(&buf)
                        .map_err(Error::io("writing the layer blob"))?;
                    if tx.send(buf).is_err() {
                        // the unpacker failed; its error is the one to report
                        return Ok(());
                    }
                }
            })();
            drop(tx);
            let unpack_result = unpacker
                .join()
                .unwrap_or_else(|_| Err(Error::Archive("layer unpacking panicked".into())));
            (read_result, unpack_result)
        });
        read_result?;
        let (diff_id, unpacked_size) = unpack_result?;
        let blob_digest = format!("sha256:{}", hex::encode(blob_hasher.finalize()));
        if let Some((d, size)) = expected {
            if blob_size != size {
                return Err(Error::Verify {
                    digest: d.to_string(),
                    reason: format!("got {blob_size} bytes, expected {size}"),
                });
            }
            if blob_digest != d {
                return Err(Error::Verify {
                    digest: d.to_string(),
                    reason: format!("content has digest {blob_digest}"),
                });
            }
        }
        let file = out
            .into_inner()
            .map_err(|e| Error::io("writing the layer blob")(e.into_error()))?;
        file.sync_all()
            .map_err(Error::io("syncing the layer blob"))?;
        drop(file);
        let chain_id = match parent_chain_id {
            None => diff_id.clone(),
            Some(p) => sha256_digest(format!("{p} {diff_id}").as_bytes()),
        };
        let snap_fd = File::open(&tmp).map_err(Error::io("opening snapshot"))?;
        rustix::fs::syncfs(&snap_fd).map_err(|e| Error::io("syncing snapshot")(e.into()))?;
        drop(snap_fd);
        let meta = SnapshotMeta {
            chain_id: chain_id.clone(),
            diff_id: diff_id.clone(),
            parent: parent_chain_id.map(str::to_string),
            size: unpacked_size,
        };
        fs::write(tmp.join("meta.json"), json_bytes(&json!(meta))?)
            .map_err(Error::io("writing snapshot meta"))?;

        {
            let _lock = self.lock()?;
            let snap = self.snapshots.join(hex_of(&chain_id)?);
            if snap.join("meta.json").exists() {
                tracing::debug!(%chain_id, "layer already unpacked");
            } else {
                if snap.exists() {
                    fs::remove_dir_all(&snap).map_err(Error::io("removing incomplete snapshot"))?;
                }
                fs::rename(&tmp, &snap).map_err(Error::io(format!(
                    "renaming snapshot into {}",
                    snap.display()
                )))?;
                Self::sync_dir(&self.snapshots);
            }
            self.commit_blob(&blob_tmp, &blob_digest)?;
            Self::sync_dir(&self.image_dir.join("blobs/sha256"));
        }
        cleanup.0.retain(|p| p == &tmp);
        drop(cleanup); // the temp dir, if an existing snapshot was reused
        let media_type = if media_type.is_empty() {
            sniff_media_type(&magic).to_string()
        } else {
            media_type.to_string()
        };
        tracing::info!(%blob_digest, %diff_id, %chain_id, unpacked_size, "stored layer");
        Ok(LayerInfo {
            diff_id,
            chain_id,
            blob_digest,
            blob_size,
            media_type,
            unpacked_size,
        })
    }

    /// Store a small blob (config, manifest) whose digest is known to the caller.
    fn put_blob(&self, data: &[u8]) -> Result<(String, std::path::PathBuf)> {
        let digest = sha256_digest(data);
        let tmp = self.write_ingest(data)?;
        Ok((digest, tmp))
    }

    /// Record an image: `config_bytes` (kept exactly; the image id is their
    /// sha256) over `layers` (already stored with [`Store::add_layer`], bottom
    /// first). `manifest_bytes` are stored exactly when given (a registry's
    /// manifest, so its digest stays the registry's), else a manifest is
    /// written. The image is tagged `reference` (or kept untagged) and also
    /// listed under `repo_digest` (`name@sha256:…`) when given. Checks that
    /// the config's diff ids, the manifest and the layers agree.
    pub fn add_image(
        &self,
        config_bytes: &[u8],
        layers: &[LayerInfo],
        manifest_bytes: Option<&[u8]>,
        reference: Option<&Reference>,
        repo_digest: Option<&Reference>,
    ) -> Result<String> {
        if reference.is_some_and(|r| r.digest().is_some()) {
            return Err(Error::DigestTag);
        }
        let config: Value = serde_json::from_slice(config_bytes)
            .map_err(|e| Error::Archive(format!("image config: {e}")))?;
        let config_digest = sha256_digest(config_bytes);
        let diff_ids = super::str_list(&config["rootfs"]["diff_ids"]).unwrap_or_default();
        let layer_diffs: Vec<String> = layers.iter().map(|l| l.diff_id.clone()).collect();
        if diff_ids != layer_diffs {
            return Err(Error::Archive(format!(
                "the image config's diff ids {diff_ids:?} do not match the layers {layer_diffs:?}"
            )));
        }
        let chain = super::chain_ids(&diff_ids);
        for (l, c) in layers.iter().zip(&chain) {
            if &l.chain_id != c {
                return Err(Error::Archive(format!(
                    "layer {} has chain id {}, expected {c}",
                    l.diff_id, l.chain_id
                )));
            }
        }
        let manifest_bytes = match manifest_bytes {
            Some(m) => {
                let v: Value = serde_json::from_slice(m)
                    .map_err(|e| Error::Archive(format!("manifest: {e}")))?;
                if v["config"]["digest"].as_str() != Some(config_digest.as_str()) {
                    return Err(Error::Archive(format!(
                        "manifest's config is {}, not {config_digest}",
                        v["config"]["digest"]
                    )));
                }
                let blobs: Vec<&str> = v["layers"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|l| l["digest"].as_str()).collect())
                    .unwrap_or_default();
                let want: Vec<&str> = layers.iter().map(|l| l.blob_digest.as_str()).collect();
                if blobs != want {
                    return Err(Error::Archive(format!(
                        "manifest's layers {blobs:?} are not the stored layers {want:?}"
                    )));
                }
                m.to_vec()
            }
            None => {
                let layer_descs: Vec<Value> = layers
                    .iter()
                    .map(|l| json!({"mediaType": l.media_type, "digest": l.blob_digest, "size": l.blob_size}))
                    .collect();
                json_bytes(&json!({
                    "schemaVersion": 2,
                    "mediaType": MT_MANIFEST,
                    "config": {"mediaType": MT_CONFIG, "digest": config_digest, "size": config_bytes.len()},
                    "layers": layer_descs,
                }))?
            }
        };
        let manifest: Value = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| Error::Archive(format!("manifest: {e}")))?;
        let manifest_media_type = manifest["mediaType"]
            .as_str()
            .unwrap_or(MT_MANIFEST)
            .to_string();
        let (config_d, config_tmp) = self.put_blob(config_bytes)?;
        let (manifest_digest, manifest_tmp) = self.put_blob(&manifest_bytes)?;
        let mut cleanup = Cleanup(vec![config_tmp.clone(), manifest_tmp.clone()]);

        let _lock = self.lock()?;
        for l in layers {
            if !self.has_blob(&l.blob_digest) || !self.has_snapshot(&l.chain_id) {
                return Err(Error::Corrupt(format!(
                    "layer {} is not in the store",
                    l.blob_digest
                )));
            }
        }
        self.commit_blob(&config_tmp, &config_d)?;
        self.commit_blob(&manifest_tmp, &manifest_digest)?;
        Self::sync_dir(&self.image_dir.join("blobs/sha256"));
        cleanup.0.clear();

        let mut loaded = self.load()?;
        let desc = Descriptor {
            media_type: manifest_media_type,
            digest: manifest_digest.clone(),
            size: manifest_bytes.len() as u64,
            annotations: Default::default(),
            extra: Map::new(),
        };
        if !loaded.manifest_to_id.contains_key(&manifest_digest) {
            let rec = self.load_manifest(&desc)?;
            loaded
                .manifest_to_id
                .insert(manifest_digest.clone(), rec.id.clone());
            loaded.images.entry(rec.id.clone()).or_insert(rec);
        }
        // The image may already be listed under another manifest (same config):
        // tags go to the manifest we were given.
        let id = config_digest.clone();
        if let Some(rec) = loaded.images.get_mut(&id) {
            if rec.manifest.digest != manifest_digest {
                rec.manifest = desc.clone();
            }
        }
        match reference {
            Some(r) => loaded.set_tag(&id, r),
            None => loaded.keep_listed(&id),
        }
        if let Some(d) = repo_digest {
            loaded.set_tag(&id, d);
        }
        self.write_index(&loaded.index)?;
        tracing::info!(%id, %manifest_digest, "added image");
        Ok(id)
    }

    /// List image `id` also under `r` (a `name@sha256:…` repo digest, or a tag).
    pub fn add_repo_digest(&self, id: &str, r: &Reference) -> Result<()> {
        let _lock = self.lock()?;
        let mut loaded = self.load()?;
        let id = self.rec(&loaded, id)?.id.clone();
        loaded.set_tag(&id, r);
        self.write_index(&loaded.index)
    }

    /// The exact manifest, config and layer blobs of a stored image.
    pub fn stored_image(&self, name_or_id: &str) -> Result<StoredImage> {
        let loaded = self.load()?;
        let rec = self.rec(&loaded, name_or_id)?;
        let manifest = self.read_blob(&rec.manifest.digest)?;
        let m: Value = serde_json::from_slice(&manifest)
            .map_err(|e| Error::Corrupt(format!("manifest {}: {e}", rec.manifest.digest)))?;
        let blob = |v: &Value| -> Result<BlobRef> {
            Ok(BlobRef {
                media_type: v["mediaType"].as_str().unwrap_or_default().to_string(),
                digest: v["digest"]
                    .as_str()
                    .ok_or_else(|| Error::Corrupt("descriptor without digest".into()))?
                    .to_string(),
                size: v["size"].as_u64().unwrap_or_default(),
            })
        };
        let layers = m["layers"]
            .as_array()
            .map(|a| a.iter().map(blob).collect::<Result<Vec<_>>>())
            .transpose()?
            .unwrap_or_default();
        Ok(StoredImage {
            id: rec.id.clone(),
            manifest_media_type: m["mediaType"]
                .as_str()
                .unwrap_or(&rec.manifest.media_type)
                .to_string(),
            manifest_digest: rec.manifest.digest.clone(),
            config_blob: blob(&m["config"])?,
            manifest,
            config: rec.config_bytes.clone(),
            layers,
            diff_ids: rec.diff_ids.clone(),
            references: rec.refs.clone(),
        })
    }
}
