//! `docker commit`: a container's changes (its overlay upper directory) as
//! a new layer on top of its image, with its config as the image's.

use std::os::fd::AsFd;

use berth_runtime::Runtime;

use berth_image::changes::ContainerConfig;
use berth_image::tree::{self, Pack};
use berth_image::{chain_ids, LayerInfo, Reference};
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::{record::Container, Engine};

/// Files bind-mounted into every container: their copies in the upper
/// directory are empty mount points, never the container's changes.
const MOUNT_TARGETS: [&[u8]; 3] = [b"etc/hosts", b"etc/hostname", b"etc/resolv.conf"];

/// `docker commit` flags.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// `REPOSITORY[:TAG]` to tag the new image.
    pub reference: Option<String>,
    /// `-a`
    pub author: String,
    /// `-m`
    pub message: String,
    /// `-c` Dockerfile instructions.
    pub changes: Vec<String>,
    /// `-p` (default true): freeze the container while its changes are read.
    pub pause: bool,
}

fn config_of(c: &Container, base: &Value) -> ContainerConfig {
    let keys = |v: &Value| -> Vec<String> {
        v.as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    ContainerConfig {
        user: c.config.user.clone(),
        env: c.config.env.clone(),
        cmd: c.config.cmd.clone(),
        entrypoint: c.config.entrypoint.clone(),
        working_dir: c.config.working_dir.clone(),
        labels: c.config.labels.clone(),
        volumes: c
            .config
            .volumes
            .as_ref()
            .map(|v| v.keys().cloned().collect())
            .unwrap_or_default(),
        exposed_ports: keys(&base["config"]["ExposedPorts"]).into_iter().collect(),
        on_build: c.config.on_build.clone().unwrap_or_default(),
        stop_signal: c.config.stop_signal.clone(),
    }
}

impl Engine {
    /// The stored layers of an image, bottom first, as [`LayerInfo`]s.
    pub fn image_layer_infos(&self, image: &str) -> Result<Vec<LayerInfo>> {
        let base = self.images.stored_image(image)?;
        let config: Value = serde_json::from_slice(&base.config).map_err(|e| Error::Corrupt {
            path: base.config_blob.digest.clone(),
            source: e,
        })?;
        let diff_ids: Vec<String> = config["rootfs"]["diff_ids"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|d| d.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        if diff_ids.len() != base.layers.len() {
            return Err(Error::Invalid(format!(
                "image {image}: {} layers but {} diff ids",
                base.layers.len(),
                diff_ids.len()
            )));
        }
        let chains = chain_ids(&diff_ids);
        Ok(base
            .layers
            .iter()
            .zip(diff_ids.iter().zip(&chains))
            .map(|(b, (d, ch))| LayerInfo {
                diff_id: d.clone(),
                chain_id: ch.clone(),
                blob_digest: b.digest.clone(),
                blob_size: b.size,
                media_type: b.media_type.clone(),
                unpacked_size: self.images.layer_size(ch),
            })
            .collect())
    }

    /// `docker commit`: returns the new image id.
    pub fn commit(&self, reference: &str, o: &CommitOptions) -> Result<String> {
        let c = self.get(reference)?;
        let target = o
            .reference
            .as_deref()
            .map(Reference::parse_tagged)
            .transpose()
            .map_err(berth_image::Error::from)?;
        let mut cc = config_of(&c, &Value::Null);
        let base = self.images.stored_image(&c.image)?;
        let mut config: Value =
            serde_json::from_slice(&base.config).map_err(|e| Error::Corrupt {
                path: base.config_blob.digest.clone(),
                source: e,
            })?;
        let exposed = config_of(&c, &config).exposed_ports;
        cc.exposed_ports = exposed;
        cc.apply_changes(&o.changes)?;

        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let mut inner = cc.to_json();
        if let Some(s) = &cc.stop_signal {
            inner["StopSignal"] = json!(s);
        }
        if let Some(h) = config["config"].get("Healthcheck").cloned() {
            inner["Healthcheck"] = h;
        }
        let obj = config
            .as_object_mut()
            .ok_or_else(|| Error::Invalid(format!("image {} has no config object", c.image)))?;
        obj.insert("config".into(), inner);
        obj.insert("created".into(), json!(now));
        obj.remove("container");
        obj.remove("container_config");
        if o.author.is_empty() {
            obj.remove("author");
        } else {
            obj.insert("author".into(), json!(o.author));
        }
        if o.message.is_empty() {
            obj.remove("comment");
        } else {
            obj.insert("comment".into(), json!(o.message));
        }
        let mut entry = json!({"created": now, "created_by": c.command().join(" ")});
        if !o.author.is_empty() {
            entry["author"] = json!(o.author);
        }
        if !o.message.is_empty() {
            entry["comment"] = json!(o.message);
        }
        let freeze = o.pause && c.state.running && !c.state.paused;
        if freeze {
            self.runtime.freeze(&c.id, true)?;
        }
        let res = self.commit_container(&c.id, config, entry, None, target.as_ref(), &[]);
        if freeze {
            if let Err(e) = self.runtime.freeze(&c.id, false) {
                tracing::warn!(id = %c.id, error = %e, "thawing after commit");
            }
        }
        res
    }

    /// Stores the container's changes as a layer on top of its image's and
    /// an image with `config` (an image config; its `rootfs` is replaced and
    /// `history` gets `entry`). Files whose mtime is later than `clamp` get
    /// `clamp` (`SOURCE_DATE_EPOCH`). Returns the image id.
    pub fn commit_container(
        &self,
        reference: &str,
        mut config: Value,
        entry: Value,
        clamp: Option<i64>,
        tag: Option<&Reference>,
        skip: &[String],
    ) -> Result<String> {
        let c = self.get(reference)?;
        let (layers, new) = self.commit_layer(&c, &config, clamp, skip)?;
        let obj = config
            .as_object_mut()
            .ok_or_else(|| Error::Invalid("image config is not an object".into()))?;
        let history = obj.entry("history").or_insert_with(|| json!([]));
        if let Some(h) = history.as_array_mut() {
            h.push(entry);
        }
        let diff_ids: Vec<Value> = layers.iter().map(|l| json!(l.diff_id)).collect();
        obj.insert(
            "rootfs".into(),
            json!({"type": "layers", "diff_ids": diff_ids}),
        );
        let bytes = serde_json::to_vec(&config).map_err(|e| Error::Corrupt {
            path: "image config".into(),
            source: e,
        })?;
        let id = self.images.add_image(&bytes, &layers, None, tag, None)?;
        tracing::info!(container = %c.id, image = %id, layer = %new.diff_id, "committed");
        Ok(id)
    }

    /// The image's layers plus a new one holding the container's changes.
    fn commit_layer(
        &self,
        c: &Container,
        config: &Value,
        clamp: Option<i64>,
        skip: &[String],
    ) -> Result<(Vec<LayerInfo>, LayerInfo)> {
        let _ = config;
        let mut layers = self.image_layer_infos(&c.image)?;
        let chains: Vec<String> = layers.iter().map(|l| l.chain_id.clone()).collect();
        let dir = self.dir(&c.id);
        std::fs::create_dir_all(dir.join("upper"))
            .map_err(|e| Error::io("creating the upper directory", e))?;
        let parent = tree::open_dir_in_root(&dir, b".")?;
        let (mut reader, writer) = std::io::pipe().map_err(|e| Error::io("creating a pipe", e))?;
        let new = std::thread::scope(|s| {
            let packer = s.spawn(move || -> Result<()> {
                let mut b = tar::Builder::new(writer);
                let opts = Pack {
                    overlay_whiteouts: true,
                    clamp_mtime: clamp,
                    ..Pack::default()
                };
                // The mount points of the files berth provides are not changes.
                let skip = |rel: &[u8]| {
                    MOUNT_TARGETS.contains(&rel)
                        || skip.iter().any(|s| {
                            s.trim_start_matches('/').trim_end_matches('/').as_bytes() == rel
                        })
                };
                tree::pack_with(&mut b, parent.as_fd(), b"upper", b"", &opts, &skip)?;
                b.into_inner()
                    .map(drop)
                    .map_err(|e| Error::io("writing the layer", e))
            });
            let added = self.images.add_layer(
                chains.last().map(String::as_str),
                &mut reader,
                None,
                "application/vnd.oci.image.layer.v1.tar",
            );
            drop(reader);
            let packed = packer
                .join()
                .unwrap_or_else(|_| Err(Error::Invalid("commit thread panicked".into())));
            packed?;
            added.map_err(Error::from)
        })?;
        layers.push(new.clone());
        Ok((layers, new))
    }
}
