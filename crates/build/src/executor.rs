//! The back half of `berth build`: runs a [`Plan`] against the engine.
//!
//! Every stage starts from its base's config and layers. Metadata steps
//! change the config; `RUN` runs a container from the current state (stored
//! as an intermediate image) and commits its changes as a layer; `COPY`
//! and `ADD` write a layer straight from the context (or another stage's
//! or image's filesystem) without a container.
//!
//! The cache: every step has a key, the hash of its parent's key, its
//! instruction after substitution, the build args it sees and, for
//! `COPY`/`ADD`, the content and metadata of what it copies. A key maps to
//! the state after the step (config and layers) in `ROOT/builder/cache/`.
//! A hit needs the layers still in the store.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use berth_engine::Engine;
use berth_image::tree::{self, Kind, Pack};
use berth_image::{LayerInfo, Reference};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::history::{created_by, default_shell, HistoryContext, HistoryStyle};
use crate::instructions::{Command, CommandLine, Files, Healthcheck};
use crate::plan::{resolve_workdir, Base, BuildOptions, Plan, Source, Step};
use crate::{parse_dockerfile, Env, Error, Matcher};

/// What `berth build` was asked.
#[derive(Debug, Clone, Default)]
pub struct BuildRequest {
    /// The context directory.
    pub context: PathBuf,
    /// The Dockerfile's text.
    pub dockerfile: String,
    /// `-t`, in order.
    pub tags: Vec<String>,
    /// `--build-arg`.
    pub build_args: BTreeMap<String, String>,
    /// `--target`.
    pub target: Option<String>,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `-q`.
    pub quiet: bool,
    /// `--label`.
    pub labels: BTreeMap<String, String>,
    /// `--network` for RUN steps.
    pub network: String,
    /// `SOURCE_DATE_EPOCH`: every timestamp the build writes.
    pub source_date_epoch: Option<i64>,
    /// `--secret id=ID,src=FILE`: secret files for `RUN --mount=type=secret`.
    pub secrets: BTreeMap<String, PathBuf>,
}

/// Errors of a build (front end errors, engine and store errors, failed steps).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// From the Dockerfile front end.
    #[error(transparent)]
    Dockerfile(#[from] Error),
    /// From the engine.
    #[error(transparent)]
    Engine(#[from] berth_engine::Error),
    /// From the image store.
    #[error(transparent)]
    Image(#[from] berth_image::Error),
    /// `The command '<cmd>' returned a non-zero code: <n>`
    #[error("The command '{command}' returned a non-zero code: {code}")]
    RunFailed {
        /// The command as docker prints it.
        command: String,
        /// Its exit code.
        code: i32,
    },
    /// Anything else, with docker's wording where there is one.
    #[error("{0}")]
    Other(String),
}

impl BuildError {
    /// The kind, for exit codes.
    pub fn kind(&self) -> berth_kind::ErrorKind {
        match self {
            BuildError::Dockerfile(e) => e.kind(),
            BuildError::Engine(e) => e.kind(),
            BuildError::Image(e) => e.kind(),
            BuildError::RunFailed { .. } => berth_kind::ErrorKind::Invalid,
            BuildError::Other(_) => berth_kind::ErrorKind::Invalid,
        }
    }
}

type Result<T> = std::result::Result<T, BuildError>;

/// Marker files (one per image id) of the images a build stored only as
/// intermediate states, under the berth root.
pub const INTERMEDIATE: &str = "builder/intermediate";

/// The ids (`sha256:…`) of intermediate build images.
pub fn intermediate_ids(root: &Path) -> std::collections::HashSet<String> {
    std::fs::read_dir(root.join(INTERMEDIATE))
        .map(|rd| {
            rd.flatten()
                .map(|e| format!("sha256:{}", e.file_name().to_string_lossy()))
                .collect()
        })
        .unwrap_or_default()
}

/// The plan of a request's Dockerfile.
fn plan_of(req: &BuildRequest) -> Result<Plan> {
    let df = parse_dockerfile(&req.dockerfile)?;
    Ok(Plan::new(&df, &BuildRequest::options(req))?)
}

impl BuildRequest {
    fn options(&self) -> BuildOptions {
        BuildOptions {
            target: self.target.clone(),
            build_args: self.build_args.clone(),
            ..BuildOptions::default()
        }
    }
}

/// The images a build reads (stage bases, `COPY --from` images), for the
/// caller to pull first.
pub fn images_needed(req: &BuildRequest) -> Result<Vec<String>> {
    let plan = plan_of(req)?;
    let mut out: Vec<String> = Vec::new();
    for &s in &plan.order {
        let st = &plan.stages[s];
        if let Base::Image(r) = &st.base {
            out.push(r.clone());
        }
        out.extend(st.images.iter().cloned());
    }
    out.dedup();
    Ok(out)
}

/// Named stages the target needs that can build at the same time, wave by
/// wave (each wave's stages depend only on earlier waves). The caller builds
/// them in separate processes (each forks containers, so no threads), which
/// fills the cache; the main build then takes them from it.
pub fn concurrent_stages(req: &BuildRequest) -> Result<Vec<Vec<String>>> {
    let plan = plan_of(req)?;
    Ok(plan
        .levels()
        .into_iter()
        .map(|wave| {
            wave.into_iter()
                .filter(|&s| s != plan.target)
                .filter_map(|s| plan.stages[s].name.clone())
                .collect::<Vec<_>>()
        })
        .filter(|w| w.len() > 1)
        .collect())
}

/// `builder prune`: forgets the build cache and removes the intermediate
/// images nothing else uses. Returns the bytes the cache entries took.
pub fn prune(engine: &Engine) -> u64 {
    let root = engine.root();
    let mut freed = 0;
    if let Ok(rd) = std::fs::read_dir(root.join("builder/cache")) {
        for e in rd.flatten() {
            freed += e.metadata().map(|m| m.len()).unwrap_or(0);
            let _ = std::fs::remove_file(e.path());
        }
    }
    // RUN --mount=type=cache directories
    let mounts = root.join("builder/mounts");
    if mounts.exists() {
        freed += berth_engine::du(&mounts);
        let _ = std::fs::remove_dir_all(&mounts);
    }
    let layers = |e: &Engine| -> std::collections::HashSet<String> {
        e.images()
            .list()
            .map(|l| l.into_iter().flat_map(|i| i.layers).collect())
            .unwrap_or_default()
    };
    let before = layers(engine);
    let sizes: BTreeMap<String, u64> = before
        .iter()
        .map(|l| (l.clone(), engine.images().layer_size(l)))
        .collect();
    for id in intermediate_ids(root) {
        let untagged = engine
            .images()
            .get(&id)
            .map(|i| i.repo_tags.is_empty())
            .unwrap_or(false);
        if untagged && engine.image_users(&id).is_empty() {
            let _ = engine.images().remove(&id, false, &|_| Vec::new());
        }
        let _ = std::fs::remove_file(
            root.join(INTERMEDIATE)
                .join(id.trim_start_matches("sha256:")),
        );
    }
    let after = layers(engine);
    freed += before
        .difference(&after)
        .map(|l| sizes.get(l).copied().unwrap_or(0))
        .sum::<u64>();
    freed
}

fn other(msg: impl Into<String>) -> BuildError {
    BuildError::Other(msg.into())
}

fn sha_hex(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    hex::encode(h.finalize())
}

fn layer_json(l: &LayerInfo) -> Value {
    json!({
        "diff_id": l.diff_id, "chain_id": l.chain_id, "blob_digest": l.blob_digest,
        "blob_size": l.blob_size, "media_type": l.media_type, "unpacked_size": l.unpacked_size,
    })
}

fn layer_from(v: &Value) -> Option<LayerInfo> {
    Some(LayerInfo {
        diff_id: v["diff_id"].as_str()?.into(),
        chain_id: v["chain_id"].as_str()?.into(),
        blob_digest: v["blob_digest"].as_str()?.into(),
        blob_size: v["blob_size"].as_u64()?,
        media_type: v["media_type"].as_str()?.into(),
        unpacked_size: v["unpacked_size"].as_u64()?,
    })
}

/// A stage's state between steps.
#[derive(Debug, Clone)]
struct State {
    config: Value,
    layers: Vec<LayerInfo>,
    key: String,
}

impl State {
    fn inner(&mut self) -> &mut Map<String, Value> {
        if !self.config["config"].is_object() {
            self.config["config"] = json!({});
        }
        self.config["config"].as_object_mut().expect("object")
    }
    fn get(&self, k: &str) -> &Value {
        &self.config["config"][k]
    }
    fn shell(&self) -> Vec<String> {
        self.get("Shell")
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .filter(|v: &Vec<String>| !v.is_empty())
            .unwrap_or_else(default_shell)
    }
    fn workdir(&self) -> String {
        let w = self.get("WorkingDir").as_str().unwrap_or("");
        if w.is_empty() {
            "/".into()
        } else {
            w.into()
        }
    }
    fn env(&self) -> Vec<String> {
        self.get("Env")
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }
    /// The config bytes for the current state (rootfs set from the layers).
    fn config_bytes(&mut self) -> Vec<u8> {
        let diff_ids: Vec<Value> = self.layers.iter().map(|l| json!(l.diff_id)).collect();
        self.config["rootfs"] = json!({"type": "layers", "diff_ids": diff_ids});
        serde_json::to_vec(&self.config).expect("serializable")
    }
    fn id(&mut self) -> String {
        let b = self.config_bytes();
        berth_image::sha256_digest(&b)
    }
}

fn short(id: &str) -> String {
    berth_image::short_id(id)
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// Runs a build. Writes docker's classic step output to `out` (nothing but
/// the id with `quiet`). Returns the image id.
pub struct Builder<'a> {
    engine: &'a Engine,
    req: &'a BuildRequest,
    out: &'a mut dyn Write,
    cache_dir: PathBuf,
    matcher: Matcher,
    step_no: usize,
    steps_total: usize,
    created: String,
    /// Stage names and indexes (`AS name`), for `from=`.
    plan_stage_names: Vec<Option<String>>,
    /// Roots of the `from=` sources mounted for the current RUN.
    from_roots: BTreeMap<String, PathBuf>,
    /// `ADD <url>` downloads of this build, by URL.
    downloads: BTreeMap<String, Download>,
}

/// A file `ADD` fetched.
#[derive(Debug)]
struct Download {
    file: TempPath,
    sha: String,
    mtime: Option<i64>,
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

/// The file name a URL's content gets in a destination directory.
fn url_file_name(url: &str) -> Option<String> {
    let path = url.split(['?', '#']).next()?;
    let after_host = path.splitn(4, '/').nth(3)?;
    let name = after_host.rsplit('/').next()?;
    (!name.is_empty()).then(|| name.to_string())
}

/// What a RUN's `--mount` flags become.
#[derive(Debug, Default)]
struct RunMounts {
    /// `--mount` specs for the container.
    mounts: Vec<String>,
    /// Mount targets, left out of the layer.
    skip: Vec<String>,
}

/// A `from=`/`--from=` naming a stage (by name or index).
fn resolve_stage(names: &[Option<String>], from: &str) -> Option<usize> {
    if let Ok(i) = from.parse::<usize>() {
        return (i < names.len()).then_some(i);
    }
    let lower = from.to_lowercase();
    names
        .iter()
        .position(|n| n.as_deref() == Some(lower.as_str()))
}

impl std::fmt::Debug for Builder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder").field("req", &self.req).finish()
    }
}

impl<'a> Builder<'a> {
    /// A builder writing its progress to `out`.
    pub fn new(engine: &'a Engine, req: &'a BuildRequest, out: &'a mut dyn Write) -> Result<Self> {
        let cache_dir = engine.root().join("builder/cache");
        std::fs::create_dir_all(&cache_dir)
            .map_err(|e| other(format!("creating {}: {e}", cache_dir.display())))?;
        let matcher = Matcher::from_context(&req.context)?;
        let created = match req.source_date_epoch {
            Some(t) => chrono::DateTime::from_timestamp(t, 0)
                .unwrap_or_default()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            None => chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        };
        Ok(Self {
            engine,
            req,
            out,
            cache_dir,
            matcher,
            step_no: 0,
            steps_total: 0,
            created,
            plan_stage_names: Vec::new(),
            from_roots: BTreeMap::new(),
            downloads: BTreeMap::new(),
        })
    }

    fn say(&mut self, line: impl AsRef<str>) {
        if !self.req.quiet {
            let _ = writeln!(self.out, "{}", line.as_ref());
            let _ = self.out.flush();
        }
    }

    /// Builds the target; tags it; returns its id.
    pub fn build(&mut self) -> Result<String> {
        let plan = plan_of(self.req)?;
        self.plan_stage_names = plan.stages.iter().map(|s| s.name.clone()).collect();
        let tags = self
            .req
            .tags
            .iter()
            .map(|t| Reference::parse_tagged(t).map_err(berth_image::Error::from))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        self.steps_total = plan
            .order
            .iter()
            .map(|&s| plan.stages[s].stage.instructions.len() + 1)
            .sum();
        let mut done: BTreeMap<usize, State> = BTreeMap::new();
        for &s in &plan.order {
            let state = self.stage(&plan, s, &done)?;
            done.insert(s, state);
        }
        let mut last = done.remove(&plan.target).expect("target built");
        if !self.req.labels.is_empty() {
            let labels = last.inner().entry("Labels").or_insert_with(|| json!({}));
            if !labels.is_object() {
                *labels = json!({});
            }
            for (k, v) in &self.req.labels {
                labels[k] = json!(v);
            }
        }
        let id = self.store(&mut last, tags.first())?;
        for t in tags.iter().skip(1) {
            self.engine.images().tag(&id, &t.to_string())?;
        }
        self.say(format!("Successfully built {}", short(&id)));
        for t in &tags {
            self.say(format!("Successfully tagged {}", t.familiar_string()));
        }
        for w in &plan.unused_build_args {
            tracing::warn!(arg = %w, "build arg not consumed");
        }
        Ok(id)
    }

    /// Stores the state as an image (untagged unless `tag`).
    fn store(&self, st: &mut State, tag: Option<&Reference>) -> Result<String> {
        let bytes = st.config_bytes();
        if st.layers.is_empty() {
            return Err(other(
                "an image with no layers cannot be stored: add a COPY, ADD or RUN",
            ));
        }
        Ok(self
            .engine
            .images()
            .add_image(&bytes, &st.layers, None, tag, None)?)
    }

    /// Stores an intermediate state (a RUN's base, a stage read by another):
    /// untagged, and hidden from `images` (shown by `images -a`).
    fn store_intermediate(&self, st: &mut State) -> Result<String> {
        let id = self.store(st, None)?;
        self.mark_intermediate(&id);
        Ok(id)
    }

    fn mark_intermediate(&self, id: &str) {
        let dir = self.engine.root().join(INTERMEDIATE);
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(dir.join(id.trim_start_matches("sha256:")), b"");
    }

    fn base_state(
        &mut self,
        plan: &Plan,
        s: usize,
        done: &BTreeMap<usize, State>,
    ) -> Result<State> {
        match &plan.stages[s].base {
            Base::Scratch => Ok(State {
                config: json!({
                    "architecture": go_arch(),
                    "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
                    "created": self.created,
                    "history": [],
                    "os": "linux",
                    "rootfs": {"type": "layers", "diff_ids": []},
                }),
                layers: Vec::new(),
                key: sha_hex(&[b"scratch"]),
            }),
            Base::Stage(i) => done
                .get(i)
                .cloned()
                .ok_or_else(|| other(format!("stage {i} was not built"))),
            Base::Image(r) => {
                let img = self.engine.images().get(r)?;
                let config: Value = serde_json::from_slice(img.config_bytes())
                    .map_err(|e| other(format!("image {r}: {e}")))?;
                let layers = self.engine.image_layer_infos(&img.id)?;
                Ok(State {
                    config,
                    layers,
                    key: sha_hex(&[b"image", img.id.as_bytes()]),
                })
            }
        }
    }

    fn stage(&mut self, plan: &Plan, s: usize, done: &BTreeMap<usize, State>) -> Result<State> {
        let ps = &plan.stages[s];
        self.step_no += 1;
        let original = ps.stage.original.clone();
        self.say(format!(
            "Step {}/{} : {}",
            self.step_no, self.steps_total, original
        ));
        let mut st = self.base_state(plan, s, done)?;
        if !st.layers.is_empty() || !matches!(ps.base, Base::Scratch) {
            let id = st.id();
            self.say(format!(" ---> {}", short(&id)));
        }
        // A new stage's image gets a new creation time.
        st.config["created"] = json!(self.created);
        self.onbuild(plan, &mut st, done)?;
        let base_env = Env::from_pairs(st.env());
        let steps = plan.steps(s, &base_env)?;
        for (i, step) in steps.steps.iter().enumerate() {
            self.step_no += 1;
            self.say(format!(
                "Step {}/{} : {}",
                self.step_no, self.steps_total, step.instruction.original
            ));
            self.step(plan, ps.sources.get(&i), step, &mut st, done)?;
        }
        Ok(st)
    }

    /// Runs the base image's `ONBUILD` triggers, then drops them from the
    /// config, as docker does.
    fn onbuild(
        &mut self,
        plan: &Plan,
        st: &mut State,
        done: &BTreeMap<usize, State>,
    ) -> Result<()> {
        let triggers: Vec<String> = st
            .get("OnBuild")
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        if triggers.is_empty() {
            return Ok(());
        }
        self.say(format!(
            "# Executing {} build trigger{}",
            triggers.len(),
            if triggers.len() == 1 { "" } else { "s" }
        ));
        st.inner().insert("OnBuild".into(), Value::Null);
        let lex = crate::Lex::new(plan.escape);
        for t in &triggers {
            let df = parse_dockerfile(&format!("FROM scratch\n{t}\n"))?;
            let inst = df
                .stages
                .first()
                .and_then(|s| s.instructions.first())
                .ok_or_else(|| other(format!("invalid ONBUILD trigger: {t}")))?;
            if matches!(inst.command, Command::From(_) | Command::Onbuild(_)) {
                return Err(other(format!(
                    "{} isn't allowed as an ONBUILD trigger",
                    inst.command.name()
                )));
            }
            let env = Env::from_pairs(st.env());
            let step = Step {
                instruction: inst.expand(&lex, &env)?,
                env,
                build_args: Vec::new(),
                proxy_env: Vec::new(),
            };
            self.say(format!(" ---> Running trigger: {t}"));
            let source = match &step.instruction.command {
                Command::Copy(c) => {
                    c.from
                        .as_ref()
                        .map(|f| match resolve_stage(&self.plan_stage_names, f) {
                            Some(i) => Source::Stage(i),
                            None => Source::Image(f.clone()),
                        })
                }
                _ => None,
            };
            self.step(plan, source.as_ref(), &step, st, done)?;
        }
        Ok(())
    }

    fn cache_get(&self, key: &str) -> Option<State> {
        if self.req.no_cache {
            return None;
        }
        let v: Value = serde_json::from_slice(
            &std::fs::read(self.cache_dir.join(format!("{key}.json"))).ok()?,
        )
        .ok()?;
        let layers: Vec<LayerInfo> = v["layers"]
            .as_array()?
            .iter()
            .map(layer_from)
            .collect::<Option<_>>()?;
        let images = self.engine.images();
        if !layers
            .iter()
            .all(|l| images.has_snapshot(&l.chain_id) && images.has_blob(&l.blob_digest))
        {
            return None;
        }
        Some(State {
            config: v["config"].clone(),
            layers,
            key: key.to_string(),
        })
    }

    fn cache_put(&self, st: &State) {
        let v = json!({
            "config": st.config,
            "layers": st.layers.iter().map(layer_json).collect::<Vec<_>>(),
        });
        let path = self.cache_dir.join(format!("{}.json", st.key));
        let tmp = self
            .cache_dir
            .join(format!(".{}.tmp{}", st.key, std::process::id()));
        let ok = std::fs::write(&tmp, serde_json::to_vec(&v).unwrap_or_default())
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = ok {
            let _ = std::fs::remove_file(&tmp);
            tracing::warn!(error = %e, "cannot write the build cache");
        }
    }

    fn history(&self, st: &mut State, step: &Step, copy_source: Option<&str>, empty: bool) {
        let shell = st.shell();
        let workdir = st.workdir();
        let ctx = HistoryContext {
            shell: &shell,
            workdir: &workdir,
            copy_source,
        };
        let Some(text) = created_by(step, &ctx, HistoryStyle::Classic) else {
            return;
        };
        let mut entry = json!({"created": self.created, "created_by": text});
        if empty {
            entry["empty_layer"] = json!(true);
        }
        let h = st
            .config
            .as_object_mut()
            .expect("object")
            .entry("history")
            .or_insert_with(|| json!([]));
        if let Some(a) = h.as_array_mut() {
            a.push(entry);
        }
    }

    fn step(
        &mut self,
        plan: &Plan,
        source: Option<&Source>,
        step: &Step,
        st: &mut State,
        done: &BTreeMap<usize, State>,
    ) -> Result<()> {
        let inst = &step.instruction;
        // What besides the text decides the result.
        let args: Vec<u8> = step
            .build_args
            .iter()
            .flat_map(|(k, v)| format!("{k}={v}\n").into_bytes())
            .collect();
        let text = format!("{:?}", inst.command);
        if let Command::Add(a) = &inst.command {
            for src in a.files.sources.iter().filter(|s| is_url(s)) {
                self.download(src, a.checksum.as_deref())?;
            }
            if let Some(g) = a
                .files
                .sources
                .iter()
                .find(|s| s.starts_with("git@") || s.ends_with(".git"))
            {
                return Err(other(format!(
                    "ADD of a git repository is not supported: {g}"
                )));
            }
        }
        let content = match &inst.command {
            Command::Copy(c) => Some(self.content_key(&c.files, source, done)?),
            Command::Add(a) => Some(self.content_key(&a.files, None, done)?),
            _ => None,
        };
        let key = sha_hex(&[
            st.key.as_bytes(),
            text.as_bytes(),
            &args,
            content.as_deref().unwrap_or("").as_bytes(),
        ]);
        if let Some(hit) = self.cache_get(&key) {
            *st = hit;
            let id = st.id();
            self.say(" ---> Using cache");
            self.say(format!(" ---> {}", short(&id)));
            return Ok(());
        }
        let workdir = st.workdir();
        match &inst.command {
            Command::From(_) => {}
            Command::Run(r) => self.run_with_mounts(st, step, r, done, &r.mounts)?,
            Command::Copy(c) => {
                let chmod = parse_chmod(c.chmod.as_deref())?;
                self.copy(st, &c.files, source, done, c.chown.as_deref(), chmod, false)?;
                self.history(st, step, content.as_deref(), false);
            }
            Command::Add(a) => {
                let chmod = parse_chmod(a.chmod.as_deref())?;
                self.copy(
                    st,
                    &a.files,
                    None,
                    done,
                    a.chown.as_deref(),
                    chmod,
                    a.unpack != Some(false),
                )?;
                self.history(st, step, content.as_deref(), false);
            }
            meta => {
                apply_meta(st, meta, &workdir);
                self.history(st, step, None, true);
            }
        }
        st.key = key;
        let id = st.id();
        self.cache_put(st);
        self.say(format!(" ---> {}", short(&id)));
        let _ = plan;
        Ok(())
    }

    /// Fetches `url` once per build (`ADD <url>`), checking `--checksum`.
    fn download(&mut self, url: &str, checksum: Option<&str>) -> Result<()> {
        if !self.downloads.contains_key(url) {
            let resp = ureq::get(url)
                .timeout(std::time::Duration::from_secs(600))
                .call()
                .map_err(|e| other(format!("failed to fetch {url}: {e}")))?;
            let mtime = resp
                .header("Last-Modified")
                .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok())
                .map(|t| t.timestamp());
            let file = tempfile_in(&self.cache_dir)?;
            let mut out = std::fs::File::create(&file.0)
                .map_err(|e| other(format!("creating {}: {e}", file.0.display())))?;
            let mut h = Sha256::new();
            let mut r = resp.into_reader();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = r
                    .read(&mut buf)
                    .map_err(|e| other(format!("failed to fetch {url}: {e}")))?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
                out.write_all(&buf[..n])
                    .map_err(|e| other(format!("writing {}: {e}", file.0.display())))?;
            }
            let sha = format!("sha256:{}", hex::encode(h.finalize()));
            self.downloads
                .insert(url.to_string(), Download { file, sha, mtime });
        }
        if let Some(want) = checksum {
            let got = &self.downloads[url].sha;
            if want != got {
                return Err(other(format!(
                    "digest mismatch for {url}: expected {want}, got {got}"
                )));
            }
        }
        Ok(())
    }

    /// Mounts the `from=` sources of `RUN --mount` one by one (each an
    /// image's or stage's filesystem, read-only), then runs the step.
    fn run_with_mounts(
        &mut self,
        st: &mut State,
        step: &Step,
        r: &crate::instructions::Run,
        done: &BTreeMap<usize, State>,
        pending: &[crate::instructions::Mount],
    ) -> Result<()> {
        let Some((first, rest)) = pending.split_first() else {
            let specs = self.mount_specs(&r.mounts)?;
            return self.run(st, step, &r.command, &specs);
        };
        let Some(from) = &first.from else {
            return self.run_with_mounts(st, step, r, done, rest);
        };
        let id = match resolve_stage(&self.plan_stage_names, from) {
            Some(i) => {
                let mut s = done
                    .get(&i)
                    .cloned()
                    .ok_or_else(|| other(format!("stage {from} was not built")))?;
                self.store_intermediate(&mut s)?
            }
            None => self.engine.images().get(from)?.id,
        };
        let mut res = Ok(());
        let engine = self.engine;
        engine.with_image_rootfs(&id, |root| {
            self.from_roots.insert(from.clone(), root.to_path_buf());
            res = self.run_with_mounts(st, step, r, done, rest);
            self.from_roots.remove(from);
            Ok(())
        })?;
        res
    }

    /// `RUN --mount` flags as `--mount`/`--tmpfs` specs for the container,
    /// and the mount points to leave out of the step's layer.
    fn mount_specs(&self, mounts: &[crate::instructions::Mount]) -> Result<RunMounts> {
        use crate::instructions::MountType;
        let mut out = RunMounts::default();
        for m in mounts {
            let target = m.target.clone();
            match m.kind {
                MountType::Bind => {
                    let target =
                        target.ok_or_else(|| other("RUN --mount=type=bind needs a target"))?;
                    let src = clean_rel(m.source.as_deref().unwrap_or(""));
                    let root = match &m.from {
                        Some(f) => self
                            .from_roots
                            .get(f)
                            .cloned()
                            .ok_or_else(|| other(format!("mount from {f} is not available")))?,
                        None => self.req.context.clone(),
                    };
                    // Resolved inside its root: the source may not climb out.
                    let (parent, name) = tree::split_in_root(src.as_bytes());
                    tree::open_dir_in_root(&root, &parent)?;
                    let host = root.join(&src);
                    let _ = name;
                    if std::fs::symlink_metadata(&host).is_err() {
                        return Err(other(format!(
                            "failed to compute cache key: \"/{src}\": not found"
                        )));
                    }
                    let ro = if m.readonly { ",readonly" } else { "" };
                    out.mounts.push(format!(
                        "type=bind,source={},target={target}{ro}",
                        host.display()
                    ));
                    out.skip.push(target);
                }
                MountType::Cache => {
                    let target =
                        target.ok_or_else(|| other("RUN --mount=type=cache needs a target"))?;
                    let id = m.id.clone().unwrap_or_else(|| target.clone());
                    let dir = self
                        .engine
                        .root()
                        .join("builder/mounts")
                        .join(sha_hex(&[id.as_bytes()]));
                    if !dir.exists() {
                        std::fs::create_dir_all(&dir)
                            .map_err(|e| other(format!("creating {}: {e}", dir.display())))?;
                        use std::os::unix::fs::PermissionsExt;
                        let mode = m.mode.unwrap_or(0o755);
                        let _ =
                            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode));
                        let _ = std::os::unix::fs::chown(&dir, m.uid, m.gid);
                    }
                    out.mounts.push(format!(
                        "type=bind,source={},target={target}",
                        dir.display()
                    ));
                    out.skip.push(target);
                }
                MountType::Tmpfs => {
                    let target =
                        target.ok_or_else(|| other("RUN --mount=type=tmpfs needs a target"))?;
                    let size = m
                        .size_limit
                        .map(|s| format!(",tmpfs-size={s}"))
                        .unwrap_or_default();
                    out.mounts.push(format!("type=tmpfs,target={target}{size}"));
                    out.skip.push(target);
                }
                MountType::Secret => {
                    let id = m
                        .id
                        .clone()
                        .or_else(|| {
                            target
                                .as_deref()
                                .and_then(|t| t.rsplit('/').next())
                                .map(String::from)
                        })
                        .ok_or_else(|| other("RUN --mount=type=secret needs an id or a target"))?;
                    let Some(src) = self.req.secrets.get(&id) else {
                        if m.required {
                            return Err(other(format!("secret {id} not found")));
                        }
                        continue;
                    };
                    let target = target.unwrap_or_else(|| {
                        out.skip.push("/run/secrets".into());
                        format!("/run/secrets/{id}")
                    });
                    out.mounts.push(format!(
                        "type=bind,source={},target={target},readonly",
                        src.display()
                    ));
                    out.skip.push(target);
                }
                MountType::Ssh => {
                    return Err(other("RUN --mount=type=ssh is not supported"));
                }
            }
        }
        Ok(out)
    }

    fn run(
        &mut self,
        st: &mut State,
        step: &Step,
        cmd: &CommandLine,
        mounts: &RunMounts,
    ) -> Result<()> {
        let shell = st.shell();
        let argv = match cmd.inline_script() {
            Some(script) => {
                let mut v = shell.clone();
                v.push(script);
                v
            }
            None if !cmd.files.is_empty() => {
                return Err(other(
                    "RUN with heredoc files fed to the command is not supported yet",
                ))
            }
            None => cmd.argv(&shell),
        };
        let parent = self.store_intermediate(st)?;
        let mut env = step.env.to_vec();
        env.extend(step.proxy_env.iter().map(|(k, v)| format!("{k}={v}")));
        let user = st.get("User").as_str().unwrap_or("").to_string();
        let o = berth_engine::CreateOptions {
            image: parent.clone(),
            cmd: argv.clone(),
            entrypoint: Some(String::new()),
            env,
            workdir: Some(st.workdir()),
            user: (!user.is_empty()).then_some(user),
            // RUN steps get the default bridge (so apt-get works), or --network.
            network: match self.req.network.as_str() {
                "" | "default" => "bridge".into(),
                other => other.to_string(),
            },
            labels: BTreeMap::from([("io.berth.build".to_string(), "true".to_string())]),
            mounts: mounts.mounts.clone(),
            ..Default::default()
        };
        let c = self.engine.create(&o)?;
        self.say(format!(" ---> Running in {}", short(&c.id)));
        let res = self.run_container(&c.id);
        let result = res.and_then(|code| {
            if code != 0 {
                return Err(BuildError::RunFailed {
                    command: argv.join(" "),
                    code,
                });
            }
            let entry = json!({"created": self.created});
            let mut next = st.clone();
            self.history(&mut next, step, None, false);
            let hist_entry = next.config["history"]
                .as_array()
                .and_then(|a| a.last().cloned())
                .unwrap_or(entry);
            let mut base_config = st.config.clone();
            if let Some(o) = base_config.as_object_mut() {
                o.insert("created".into(), json!(self.created));
            }
            let id = self.engine.commit_container(
                &c.id,
                base_config,
                hist_entry,
                self.req.source_date_epoch,
                None,
                &mounts.skip,
            )?;
            Ok(id)
        });
        if let Err(e) = self.engine.remove(&c.id, true) {
            tracing::warn!(id = %c.id, error = %e, "removing the build container");
        }
        self.say(format!("Removing intermediate container {}", short(&c.id)));
        let id = result?;
        self.mark_intermediate(&id);
        let img = self.engine.images().get(&id)?;
        st.config = serde_json::from_slice(img.config_bytes())
            .map_err(|e| other(format!("committed config: {e}")))?;
        st.layers = self.engine.image_layer_infos(&id)?;
        Ok(())
    }

    /// Runs a created build container attached; output goes to ours, or
    /// nowhere with `-q`.
    fn run_container(&mut self, id: &str) -> Result<i32> {
        let _ = self.out.flush();
        let _ = std::io::stdout().flush();
        let saved = if self.req.quiet {
            Some(Quiet::start()?)
        } else {
            None
        };
        let code = self
            .engine
            .start(id, berth_engine::Attach::Terminal { interactive: false });
        drop(saved);
        Ok(code?)
    }

    /// The content key of a COPY/ADD: paths, modes, owners and content of
    /// every file it reads.
    fn content_key(
        &self,
        files: &Files,
        source: Option<&Source>,
        done: &BTreeMap<usize, State>,
    ) -> Result<String> {
        let mut h = Sha256::new();
        for f in &files.inline {
            h.update(f.path.as_bytes());
            h.update([0]);
            h.update(f.data.as_bytes());
            h.update([0]);
        }
        match source {
            Some(Source::Stage(i)) => {
                let mut st = done
                    .get(i)
                    .cloned()
                    .ok_or_else(|| other(format!("stage {i} was not built")))?;
                h.update(st.id().as_bytes());
                for s in &files.sources {
                    h.update(s.as_bytes());
                }
            }
            Some(Source::Image(r)) => {
                let img = self.engine.images().get(r)?;
                h.update(img.id.as_bytes());
                for s in &files.sources {
                    h.update(s.as_bytes());
                }
            }
            None => {
                for s in &files.sources {
                    if is_url(s) {
                        let d = self
                            .downloads
                            .get(s)
                            .ok_or_else(|| other(format!("{s} was not fetched")))?;
                        h.update(s.as_bytes());
                        h.update(d.sha.as_bytes());
                        continue;
                    }
                    for rel in self.expand_source(s)? {
                        hash_tree(&mut h, &self.req.context, &rel, &self.matcher)?;
                    }
                }
            }
        }
        Ok(format!("sha256:{}", hex::encode(h.finalize())))
    }

    /// Context paths a COPY source names (wildcards expanded), relative to
    /// the context root. A source outside the context or excluded is an error.
    fn expand_source(&self, src: &str) -> Result<Vec<String>> {
        let clean = clean_rel(src);
        if !has_glob(&clean) {
            let p = self.req.context.join(&clean);
            if (!clean.is_empty() && self.matcher.matches(&clean))
                || std::fs::symlink_metadata(&p).is_err()
            {
                return Err(other(format!(
                    "COPY failed: file not found in build context or excluded by .dockerignore: stat {src}: file does not exist"
                )));
            }
            return Ok(vec![clean]);
        }
        let mut out = Vec::new();
        glob_walk(
            &self.req.context,
            "",
            &clean.split('/').collect::<Vec<_>>(),
            &mut out,
        );
        out.retain(|p| !self.matcher.matches(p));
        out.sort();
        if out.is_empty() {
            return Err(other(format!(
                "COPY failed: no source files were specified (no match for {src})"
            )));
        }
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn copy(
        &mut self,
        st: &mut State,
        files: &Files,
        source: Option<&Source>,
        done: &BTreeMap<usize, State>,
        chown: Option<&str>,
        chmod: Option<u32>,
        unpack_archives: bool,
    ) -> Result<()> {
        let owner = match chown {
            None => (0, 0),
            Some(spec) => self.resolve_chown(st, spec)?,
        };
        let workdir = st.workdir();
        let mut dest = if files.dest.starts_with('/') {
            files.dest.clone()
        } else {
            resolve_workdir(&workdir, &files.dest)
        };
        let n_sources = files.sources.len() + files.inline.len();
        let dest_is_dir = files.dest.ends_with('/') || files.dest.ends_with("/.") || n_sources > 1;
        if dest.ends_with("/.") {
            dest.truncate(dest.len() - 1);
        }
        let dest_rel = clean_rel(&dest);
        let pack = Pack {
            chown: Some(owner),
            clamp_mtime: self.req.source_date_epoch,
            mode: chmod,
            ..Pack::default()
        };
        let parent_chain = st.layers.last().map(|l| l.chain_id.clone());
        let epoch = self.req.source_date_epoch;
        let context = self.req.context.clone();
        let matcher = &self.matcher;
        let sources: Vec<String> = files
            .sources
            .iter()
            .filter(|s| !is_url(s))
            .cloned()
            .collect();
        let mut remote: Vec<(String, PathBuf, u64)> = Vec::new();
        for url in files.sources.iter().filter(|s| is_url(s)) {
            let d = self
                .downloads
                .get(url)
                .ok_or_else(|| other(format!("{url} was not fetched")))?;
            let mtime = d.mtime.unwrap_or(0);
            let mtime = epoch.map_or(mtime, |e| mtime.min(e)).max(0) as u64;
            let name = if dest_is_dir {
                let base = url_file_name(url)
                    .ok_or_else(|| other(format!("cannot determine filename from url: {url}")))?;
                join_rel(&dest_rel, &base)
            } else {
                dest_rel.clone()
            };
            remote.push((name, d.file.0.clone(), mtime));
        }
        let expanded: Vec<Vec<String>> = match source {
            None => sources
                .iter()
                .map(|s| self.expand_source(s))
                .collect::<Result<_>>()?,
            Some(_) => sources.iter().map(|s| vec![s.clone()]).collect(),
        };
        let many =
            expanded.iter().map(Vec::len).sum::<usize>() + files.inline.len() + remote.len() > 1;
        let dest_is_dir = dest_is_dir || many;
        // Build the layer into a temp file, then store it.
        let tmp = tempfile_in(&self.cache_dir)?;
        {
            let run = |root: &Path, from_context: bool| -> Result<()> {
                let f = std::fs::File::create(&tmp.0)
                    .map_err(|e| other(format!("creating {}: {e}", tmp.0.display())))?;
                let mut w = std::io::BufWriter::new(f);
                copy_layer(
                    root,
                    from_context,
                    &dest_rel,
                    dest_is_dir,
                    &sources,
                    &expanded,
                    files,
                    &pack,
                    owner,
                    chmod,
                    epoch,
                    matcher,
                    unpack_archives,
                    &remote,
                    &mut w,
                )?;
                w.flush().map_err(|e| other(e.to_string()))
            };
            match source {
                None => run(&context, true)?,
                Some(Source::Stage(i)) => {
                    let mut s = done
                        .get(i)
                        .cloned()
                        .ok_or_else(|| other(format!("stage {i} was not built")))?;
                    let id = self.store_intermediate(&mut s)?;
                    self.engine
                        .with_image_rootfs(&id, |root| run(root, false).map_err(to_engine))?;
                }
                Some(Source::Image(r)) => {
                    let img = self.engine.images().get(r)?;
                    self.engine
                        .with_image_rootfs(&img.id, |root| run(root, false).map_err(to_engine))?;
                }
            }
        }
        let mut f = std::fs::File::open(&tmp.0).map_err(|e| other(e.to_string()))?;
        let info = self.engine.images().add_layer(
            parent_chain.as_deref(),
            &mut f,
            None,
            "application/vnd.oci.image.layer.v1.tar",
        )?;
        st.layers.push(info);
        Ok(())
    }

    fn resolve_chown(&self, st: &mut State, spec: &str) -> Result<(u32, u32)> {
        let (u, g) = spec.split_once(':').unwrap_or((spec, ""));
        let num = |s: &str| s.parse::<u32>().ok();
        if let (Some(uid), true) = (num(u), g.is_empty() || num(g).is_some()) {
            return Ok((
                uid,
                if g.is_empty() {
                    uid
                } else {
                    num(g).unwrap_or(uid)
                },
            ));
        }
        if st.layers.is_empty() {
            return Err(other(format!(
                "unable to convert uid/gid chown string to host mapping: no users in an empty image: {spec}"
            )));
        }
        let id = self.store_intermediate(&mut st.clone())?;
        let read = |root: &Path, f: &str| std::fs::read_to_string(root.join(f)).ok();
        let (passwd, group) = self.engine.with_image_rootfs(&id, |root| {
            Ok((read(root, "etc/passwd"), read(root, "etc/group")))
        })?;
        let user = berth_engine::user::resolve_user(spec, passwd.as_deref(), group.as_deref())
            .map_err(|e| {
                other(format!(
                    "unable to convert uid/gid chown string to host mapping: {e}"
                ))
            })?;
        Ok((user.uid, user.gid))
    }
}

fn to_engine(e: BuildError) -> berth_engine::Error {
    match e {
        BuildError::Engine(e) => e,
        other => berth_engine::Error::Invalid(other.to_string()),
    }
}

/// A temp file removed on drop.
#[derive(Debug)]
struct TempPath(PathBuf);
impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
fn tempfile_in(dir: &Path) -> Result<TempPath> {
    let p = dir.join(format!(".layer-{}-{}", std::process::id(), rand_suffix()));
    Ok(TempPath(p))
}
fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Redirects our stdout and stderr to /dev/null while alive (`build -q`).
struct Quiet {
    out: std::os::fd::OwnedFd,
    err: std::os::fd::OwnedFd,
}
impl Quiet {
    fn start() -> Result<Self> {
        let e = |e: std::io::Error| other(format!("redirecting output: {e}"));
        let out = rustix::io::dup(std::io::stdout()).map_err(|x| e(x.into()))?;
        let err = rustix::io::dup(std::io::stderr()).map_err(|x| e(x.into()))?;
        let null = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .map_err(e)?;
        rustix::stdio::dup2_stdout(&null).map_err(|x| e(x.into()))?;
        rustix::stdio::dup2_stderr(&null).map_err(|x| e(x.into()))?;
        Ok(Self { out, err })
    }
}
impl Drop for Quiet {
    fn drop(&mut self) {
        let _ = rustix::stdio::dup2_stdout(&self.out);
        let _ = rustix::stdio::dup2_stderr(&self.err);
    }
}

fn parse_chmod(s: Option<&str>) -> Result<Option<u32>> {
    s.map(|m| {
        u32::from_str_radix(m, 8)
            .ok()
            .filter(|v| *v <= 0o7777)
            .ok_or_else(|| other(format!("invalid chmod parameter: {m}")))
    })
    .transpose()
}

/// A source or destination path, relative to its root, without `.` parts.
fn clean_rel(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.join("/")
}

fn join_rel(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_string()
    } else if b.is_empty() {
        a.to_string()
    } else {
        format!("{a}/{b}")
    }
}

fn has_glob(p: &str) -> bool {
    p.contains(['*', '?', '['])
}

/// Go's `filepath.Match` on one path component.
fn component_match(pat: &str, name: &str) -> bool {
    let m = Matcher::new(&[pat.to_string()]);
    m.map(|m| m.matches(name)).unwrap_or(false)
}

fn glob_walk(root: &Path, prefix: &str, pats: &[&str], out: &mut Vec<String>) {
    let Some((first, rest)) = pats.split_first() else {
        return;
    };
    let dir = root.join(prefix);
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !component_match(first, &name) {
            continue;
        }
        let p = join_rel(prefix, &name);
        if rest.is_empty() {
            out.push(p);
        } else if e.file_type().is_ok_and(|t| t.is_dir()) {
            glob_walk(root, &p, rest, out);
        }
    }
}

/// Hashes `rel` (a file or directory below `root`) for the cache: names,
/// modes, sizes and content (not times), skipping excluded paths.
fn hash_tree(h: &mut Sha256, root: &Path, rel: &str, matcher: &Matcher) -> Result<()> {
    let p = root.join(rel);
    let md = std::fs::symlink_metadata(&p)
        .map_err(|e| other(format!("COPY failed: stat {rel}: {e}")))?;
    use std::os::unix::fs::MetadataExt;
    h.update(rel.as_bytes());
    h.update([0]);
    h.update(md.mode().to_be_bytes());
    if md.is_dir() {
        let mut names: Vec<String> = std::fs::read_dir(&p)
            .map_err(|e| other(format!("reading {rel}: {e}")))?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for n in names {
            let child = join_rel(rel, &n);
            if matcher.matches(&child) {
                continue;
            }
            hash_tree(h, root, &child, matcher)?;
        }
    } else if md.file_type().is_symlink() {
        let t = std::fs::read_link(&p).map_err(|e| other(e.to_string()))?;
        h.update(t.as_os_str().as_encoded_bytes());
    } else if md.is_file() {
        h.update(md.size().to_be_bytes());
        let mut f = std::fs::File::open(&p).map_err(|e| other(format!("{rel}: {e}")))?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = f.read(&mut buf).map_err(|e| other(e.to_string()))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    }
    Ok(())
}

fn is_archive(root: &Path, rel: &str) -> bool {
    let Ok(mut f) = std::fs::File::open(root.join(rel)) else {
        return false;
    };
    let mut head = vec![0u8; 512];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    head.truncate(n);
    head.starts_with(&[0x1f, 0x8b])
        || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || head.starts_with(b"BZh")
        || head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z'])
        || (n >= 262 && &head[257..262] == b"ustar")
}

/// Writes a COPY/ADD layer: the destination's parents, heredoc files, then
/// every source (a directory's contents go into the destination).
#[allow(clippy::too_many_arguments)]
fn copy_layer(
    root: &Path,
    from_context: bool,
    dest_rel: &str,
    dest_is_dir: bool,
    sources: &[String],
    expanded: &[Vec<String>],
    files: &Files,
    pack: &Pack,
    owner: (u32, u32),
    chmod: Option<u32>,
    epoch: Option<i64>,
    matcher: &Matcher,
    unpack_archives: bool,
    remote: &[(String, PathBuf, u64)],
    out: &mut dyn Write,
) -> Result<()> {
    let mut b = tar::Builder::new(out);
    let werr = |e: std::io::Error| other(format!("writing the layer: {e}"));
    let mtime = epoch
        .unwrap_or_else(|| chrono::Utc::now().timestamp())
        .max(0) as u64;
    let comps: Vec<&str> = dest_rel.split('/').filter(|c| !c.is_empty()).collect();
    let upto = if dest_is_dir {
        comps.len()
    } else {
        comps.len().saturating_sub(1)
    };
    for i in 1..=upto {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_mtime(mtime);
        h.set_size(0);
        b.append_data(
            &mut h,
            format!("{}/", comps[..i].join("/")),
            std::io::empty(),
        )
        .map_err(werr)?;
    }
    for inline in &files.inline {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(chmod.unwrap_or(0o644));
        h.set_uid(owner.0.into());
        h.set_gid(owner.1.into());
        h.set_mtime(mtime);
        h.set_size(inline.data.len() as u64);
        let name = if dest_is_dir {
            join_rel(dest_rel, &inline.path)
        } else {
            dest_rel.to_string()
        };
        b.append_data(&mut h, name, inline.data.as_bytes())
            .map_err(werr)?;
    }
    for (name, path, mtime) in remote {
        let f = std::fs::File::open(path).map_err(|e| other(format!("{}: {e}", path.display())))?;
        let len = f.metadata().map_err(|e| other(e.to_string()))?.len();
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        // docker: a downloaded file is 0600 unless --chmod
        h.set_mode(chmod.unwrap_or(0o600));
        h.set_uid(owner.0.into());
        h.set_gid(owner.1.into());
        h.set_mtime(*mtime);
        h.set_size(len);
        b.append_data(&mut h, name, f).map_err(werr)?;
    }
    for (src, list) in sources.iter().zip(expanded) {
        for rel in list {
            let (parent_rel, name) = tree::split_in_root(rel.as_bytes());
            let parent = tree::open_dir_in_root(root, &parent_rel)
                .map_err(|_| other(format!("COPY failed: stat {src}: file does not exist")))?;
            let kind = tree::kind_at(parent.as_fd(), &name, true)?
                .ok_or_else(|| other(format!("COPY failed: stat {src}: file does not exist")))?;
            let base = String::from_utf8_lossy(&name).into_owned();
            let mut o = pack.clone();
            o.follow_top = true;
            if kind == Kind::Dir {
                // The directory's contents go into the destination directory.
                let skip = |p: &[u8]| {
                    from_context && matcher.matches(&join_rel(rel, &String::from_utf8_lossy(p)))
                };
                tree::pack_with(
                    &mut b,
                    parent.as_fd(),
                    &name,
                    dest_rel.as_bytes(),
                    &o,
                    &skip,
                )?;
            } else if unpack_archives && from_context && is_archive(root, rel) {
                // ADD of a local archive: its entries, unpacked under dest.
                let f = std::fs::File::open(root.join(rel)).map_err(|e| other(e.to_string()))?;
                let dec = berth_image::decompress(f)?;
                let mut a = tar::Archive::new(dec);
                for entry in a.entries().map_err(|e| other(format!("{rel}: {e}")))? {
                    let mut entry = entry.map_err(|e| other(format!("{rel}: {e}")))?;
                    let path = clean_rel(&String::from_utf8_lossy(&entry.path_bytes()));
                    let mut h = entry.header().clone();
                    let full = join_rel(dest_rel, &path);
                    let full = if h.entry_type() == tar::EntryType::Directory {
                        format!("{full}/")
                    } else {
                        full
                    };
                    match h.entry_type() {
                        tar::EntryType::Symlink | tar::EntryType::Link => {
                            let target = entry
                                .link_name_bytes()
                                .map(|t| t.into_owned())
                                .unwrap_or_default();
                            let target = if h.entry_type() == tar::EntryType::Link {
                                join_rel(dest_rel, &clean_rel(&String::from_utf8_lossy(&target)))
                                    .into_bytes()
                            } else {
                                target
                            };
                            b.append_link(
                                &mut h,
                                full,
                                <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(
                                    &target,
                                ),
                            )
                            .map_err(werr)?;
                        }
                        _ => {
                            b.append_data(&mut h, full, &mut entry).map_err(werr)?;
                        }
                    }
                }
            } else {
                let arc = if dest_is_dir {
                    join_rel(dest_rel, &base)
                } else {
                    dest_rel.to_string()
                };
                tree::pack(&mut b, parent.as_fd(), &name, arc.as_bytes(), &o)?;
            }
        }
    }
    b.into_inner().and_then(|w| w.flush()).map_err(werr)
}

fn str_list(v: &[String]) -> Value {
    json!(v)
}

fn set_map(inner: &mut Map<String, Value>, key: &str, items: &[String]) {
    let e = inner.entry(key).or_insert_with(|| json!({}));
    if !e.is_object() {
        *e = json!({});
    }
    for i in items {
        e[i.as_str()] = json!({});
    }
}

/// Applies a metadata instruction to the config.
fn apply_meta(st: &mut State, cmd: &Command, workdir: &str) {
    let shell = st.shell();
    let inner = st.inner();
    match cmd {
        Command::Cmd(c) => {
            inner.insert("Cmd".into(), str_list(&c.argv(&shell)));
        }
        Command::Entrypoint(c) => {
            inner.insert("Entrypoint".into(), str_list(&c.argv(&shell)));
            // Like docker: a new ENTRYPOINT resets an inherited CMD.
            inner.insert("Cmd".into(), Value::Null);
        }
        Command::Env(kvs) => {
            let mut env: Vec<String> = inner
                .get("Env")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            for kv in kvs {
                let line = format!("{}={}", kv.key, kv.value);
                match env
                    .iter_mut()
                    .find(|e| e.split_once('=').map(|(k, _)| k) == Some(kv.key.as_str()))
                {
                    Some(e) => *e = line,
                    None => env.push(line),
                }
            }
            inner.insert("Env".into(), json!(env));
        }
        Command::Label(kvs) => {
            let l = inner.entry("Labels").or_insert_with(|| json!({}));
            if !l.is_object() {
                *l = json!({});
            }
            for kv in kvs {
                l[kv.key.as_str()] = json!(kv.value);
            }
        }
        Command::Maintainer(m) => {
            st.config["author"] = json!(m);
        }
        Command::Expose(ports) => {
            let ports: Vec<String> = ports
                .iter()
                .map(|p| {
                    if p.contains('/') {
                        p.to_lowercase()
                    } else {
                        format!("{p}/tcp")
                    }
                })
                .collect();
            set_map(inner, "ExposedPorts", &ports);
        }
        Command::Volume(v) => set_map(inner, "Volumes", v),
        Command::User(u) => {
            inner.insert("User".into(), json!(u));
        }
        Command::Workdir(w) => {
            inner.insert("WorkingDir".into(), json!(resolve_workdir(workdir, w)));
        }
        Command::Onbuild(o) => {
            let l = inner.entry("OnBuild").or_insert_with(|| json!([]));
            if !l.is_array() {
                *l = json!([]);
            }
            if let Some(a) = l.as_array_mut() {
                a.push(json!(o.expression));
            }
        }
        Command::StopSignal(s) => {
            inner.insert("StopSignal".into(), json!(s));
        }
        Command::Shell(s) => {
            inner.insert("Shell".into(), json!(s));
        }
        Command::Healthcheck(h) => match h {
            Healthcheck::None => {
                inner.insert("Healthcheck".into(), json!({"Test": ["NONE"]}));
            }
            Healthcheck::Check {
                test,
                interval,
                timeout,
                start_period,
                start_interval,
                retries,
            } => {
                let mut v = json!({"Test": test});
                let ns = |d: &std::time::Duration| d.as_nanos() as u64;
                if !interval.is_zero() {
                    v["Interval"] = json!(ns(interval));
                }
                if !timeout.is_zero() {
                    v["Timeout"] = json!(ns(timeout));
                }
                if !start_period.is_zero() {
                    v["StartPeriod"] = json!(ns(start_period));
                }
                if !start_interval.is_zero() {
                    v["StartInterval"] = json!(ns(start_interval));
                }
                if *retries > 0 {
                    v["Retries"] = json!(retries);
                }
                inner.insert("Healthcheck".into(), v);
            }
        },
        Command::Arg(_)
        | Command::From(_)
        | Command::Run(_)
        | Command::Copy(_)
        | Command::Add(_) => {}
    }
}
