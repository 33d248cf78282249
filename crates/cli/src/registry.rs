//! `pull`, `push`, `login`, `logout`: berth and registries.

use std::io::{IsTerminal, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_engine::Engine;
use berth_image::{LayerInfo, Reference, Store};
use berth_registry::{Client, Credentials, Mount, Options, RegistriesConf, Repo};
use clap::{ArgAction, Args};
use serde_json::Value;

use crate::{units, CmdResult, Failure};

/// Layers fetched at once (docker's `max-concurrent-downloads` is 3).
const DOWNLOADS: usize = 3;
/// Blobs sent at once.
const UPLOADS: usize = 3;

/// Set by SIGINT/SIGTERM: every transfer stops and cleans up.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

fn watch_signals() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let flag = Arc::new(AtomicBool::new(false));
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            let _ = signal_hook::flag::register(sig, flag.clone());
        }
        std::thread::spawn(move || loop {
            if flag.load(Ordering::Relaxed) {
                INTERRUPTED.store(true, Ordering::Relaxed);
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        });
    });
}

/// Flags of `pull`.
#[derive(Args, Debug)]
pub struct PullArgs {
    /// Download all tagged images in the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// Require HTTPS and verify certificates when contacting registries
    #[arg(long = "tls-verify", default_value_t = true, action = ArgAction::Set)]
    pub tls_verify: bool,
    /// NAME[:TAG|@DIGEST]
    pub name: String,
}

/// Flags of `push`.
#[derive(Args, Debug)]
pub struct PushArgs {
    /// Push all tags of an image to the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
    /// Require HTTPS and verify certificates when contacting registries
    #[arg(long = "tls-verify", default_value_t = true, action = ArgAction::Set)]
    pub tls_verify: bool,
    /// NAME[:TAG]
    pub name: String,
}

/// Flags of `login`.
#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Username
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password
    #[arg(short, long)]
    pub password: Option<String>,
    /// Take the password from stdin
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    /// Require HTTPS and verify certificates when contacting registries
    #[arg(long = "tls-verify", default_value_t = true, action = ArgAction::Set)]
    pub tls_verify: bool,
    /// Server (default docker.io)
    pub server: Option<String>,
}

/// Flags of `logout`.
#[derive(Args, Debug)]
pub struct LogoutArgs {
    /// Server (default docker.io)
    pub server: Option<String>,
}

fn fail(e: impl std::fmt::Display) -> Failure {
    Failure::new(1, e.to_string())
}

fn client(tls_verify: bool, credentials: Option<Credentials>) -> Result<Client, Failure> {
    let conf = RegistriesConf::load().map_err(fail)?;
    Ok(Client::new(Options {
        tls_verify_off: !tls_verify,
        conf,
        no_stored_credentials: credentials.is_some(),
        credentials,
    }))
}

/// Prints docker's per-layer progress: lines redrawn in place on a
/// terminal, one plain line per step otherwise.
struct Progress {
    tty: bool,
    quiet: bool,
    ids: Mutex<Vec<(String, String)>>,
}

impl Progress {
    fn new(quiet: bool) -> Progress {
        Progress {
            tty: std::io::stdout().is_terminal(),
            quiet,
            ids: Mutex::new(Vec::new()),
        }
    }

    fn line(&self, s: &str) {
        if !self.quiet {
            println!("{s}");
        }
    }

    /// Set the status of layer `id`; `progress` lines are shown on terminals only.
    fn status(&self, id: &str, status: &str, progress: bool) {
        if self.quiet || (progress && !self.tty) {
            return;
        }
        let mut ids = self.ids.lock().expect("lock");
        let mut out = std::io::stdout().lock();
        match ids.iter().position(|(i, _)| i == id) {
            Some(pos) if self.tty => {
                let up = ids.len() - pos;
                ids[pos].1 = status.to_string();
                let _ = write!(out, "\x1b[{up}A\r\x1b[2K{id}: {status}\r\x1b[{up}B");
            }
            Some(pos) => {
                ids[pos].1 = status.to_string();
                let _ = writeln!(out, "{id}: {status}");
            }
            None => {
                ids.push((id.to_string(), status.to_string()));
                let _ = writeln!(out, "{id}: {status}");
            }
        }
        let _ = out.flush();
    }
}

fn bar(done: u64, total: u64) -> String {
    let width = 50usize;
    let filled = (done.min(total) * width as u64)
        .checked_div(total)
        .unwrap_or(0) as usize;
    let b = if filled == 0 {
        " ".repeat(width)
    } else if filled >= width {
        "=".repeat(width)
    } else {
        format!("{}>{}", "=".repeat(filled - 1), " ".repeat(width - filled))
    };
    format!(
        "[{b}] {:>8}/{}",
        units::human_size(done),
        units::human_size(total)
    )
}

fn short(digest: &str) -> String {
    berth_image::short_id(digest)
}

/// Counts bytes and stops on an interrupt.
struct Counting<'a, R> {
    inner: R,
    n: &'a AtomicU64,
    stop: &'a AtomicBool,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.stop.load(Ordering::Relaxed) || INTERRUPTED.load(Ordering::Relaxed) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Interrupted,
                "interrupted",
            ));
        }
        let n = self.inner.read(buf)?;
        self.n.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The platform to pull: `os/arch[/variant]`.
fn platform(p: Option<&str>) -> (String, String, Option<String>) {
    let host_arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    };
    let p = p.unwrap_or("");
    let mut it = p.split('/').filter(|s| !s.is_empty());
    let os = it.next().unwrap_or("linux").to_string();
    let arch = it.next().unwrap_or(host_arch).to_string();
    let arch = match arch.as_str() {
        "x86_64" | "x86-64" => "amd64".to_string(),
        "aarch64" => "arm64".to_string(),
        _ => arch,
    };
    let variant = it.next().map(str::to_string);
    (os, arch, variant)
}

fn is_index(mt: &str, v: &Value) -> bool {
    mt == berth_registry::MT_OCI_INDEX
        || mt == berth_registry::MT_DOCKER_LIST
        || (v.get("manifests").is_some() && v.get("layers").is_none())
}

/// `docker pull`.
pub fn pull(e: &Engine, a: &PullArgs) -> CmdResult {
    watch_signals();
    let r = Reference::parse_normalized(&a.name).map_err(fail)?;
    let client = client(a.tls_verify, None)?;
    let progress = Progress::new(a.quiet);
    if a.all_tags {
        if r.tag().is_some() || r.digest().is_some() {
            return Err(fail("tag can't be used with --all-tags/-a"));
        }
        let repo = client.repo(r.domain(), r.path(), "pull").map_err(fail)?;
        let tags = repo.tags().map_err(fail)?;
        progress.line(&format!("Pulling repository {}", r.name()));
        for t in tags {
            let tr = Reference::parse_normalized(&format!("{}:{t}", r.name())).map_err(fail)?;
            pull_one(e.images(), &client, &tr, a, &progress)?;
        }
        if a.quiet {
            println!("{}", r.name());
        }
        return Ok(0);
    }
    if r.tag().is_none() && r.digest().is_none() {
        progress.line("Using default tag: latest");
    }
    let r = r.with_default_tag();
    pull_one(e.images(), &client, &r, a, &progress)?;
    if a.quiet {
        println!("{r}");
    }
    Ok(0)
}

fn pull_one(
    store: &Store,
    client: &Client,
    r: &Reference,
    a: &PullArgs,
    progress: &Progress,
) -> Result<(), Failure> {
    let repo = client.repo(r.domain(), r.path(), "pull").map_err(fail)?;
    let want = r
        .digest()
        .map(str::to_string)
        .or_else(|| r.tag().map(str::to_string))
        .unwrap_or_else(|| "latest".into());
    progress.line(&format!("{want}: Pulling from {}", r.path()));
    let err =
        |e: berth_registry::Error| Failure::new(1, format!("Error response from registry: {e}"));
    let (mut bytes, mut mt, top_digest) = repo.get_manifest(&want).map_err(err)?;
    let mut v: Value = serde_json::from_slice(&bytes).map_err(fail)?;
    if is_index(&mt, &v) {
        let (os, arch, variant) = platform(a.platform.as_deref());
        let found = v["manifests"].as_array().and_then(|ms| {
            ms.iter().find(|m| {
                let p = &m["platform"];
                p["os"].as_str() == Some(os.as_str())
                    && p["architecture"].as_str() == Some(arch.as_str())
                    && variant
                        .as_deref()
                        .is_none_or(|vv| p["variant"].as_str() == Some(vv))
            })
        });
        let Some(m) = found else {
            let p = match &variant {
                Some(vv) => format!("{os}/{arch}/{vv}"),
                None => format!("{os}/{arch}"),
            };
            return Err(fail(format!(
                "no matching manifest for {p} in the manifest list entries"
            )));
        };
        let d = m["digest"].as_str().unwrap_or_default().to_string();
        let (b, m2, _) = repo.get_manifest(&d).map_err(err)?;
        bytes = b;
        mt = m2;
        v = serde_json::from_slice(&bytes).map_err(fail)?;
    }
    if v["schemaVersion"].as_u64() == Some(1) || mt.contains("distribution.manifest.v1") {
        return Err(fail(
            "Docker Image Format v1 and Docker Image manifest version 2, schema 1 are not supported",
        ));
    }
    let cfg_digest = v["config"]["digest"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let cfg_size = v["config"]["size"].as_u64().unwrap_or(0);
    let config = repo.get_blob_bytes(&cfg_digest, cfg_size).map_err(err)?;
    let cfg: Value = serde_json::from_slice(&config).map_err(fail)?;
    let diff_ids: Vec<String> = cfg["rootfs"]["diff_ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| d.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let layers: Vec<(String, u64, String)> = v["layers"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|l| {
                    (
                        l["digest"].as_str().unwrap_or_default().to_string(),
                        l["size"].as_u64().unwrap_or(0),
                        l["mediaType"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    if layers.len() != diff_ids.len() {
        return Err(fail(format!(
            "manifest has {} layers, the image config {}",
            layers.len(),
            diff_ids.len()
        )));
    }
    let chains = berth_image::chain_ids(&diff_ids);
    let before = store.get(&r.to_string()).ok().map(|i| i.id);
    let up_to_date = before.as_deref() == Some(cfg_digest.as_str());

    // Which layers to fetch.
    let mut infos: Vec<Option<LayerInfo>> = vec![None; layers.len()];
    let mut todo = Vec::new();
    for (i, (d, size, lmt)) in layers.iter().enumerate() {
        if store.has_blob(d) && store.has_snapshot(&chains[i]) {
            if !up_to_date {
                progress.status(&short(d), "Already exists", false);
            }
            infos[i] = Some(LayerInfo {
                diff_id: diff_ids[i].clone(),
                chain_id: chains[i].clone(),
                blob_digest: d.clone(),
                blob_size: *size,
                media_type: lmt.clone(),
                unpacked_size: store.layer_size(&chains[i]),
            });
        } else {
            progress.status(&short(d), "Pulling fs layer", false);
            todo.push(i);
        }
    }
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let counters: Vec<AtomicU64> = layers.iter().map(|_| AtomicU64::new(0)).collect();
    let results: Mutex<Vec<(usize, Result<LayerInfo, Failure>)>> = Mutex::new(Vec::new());
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        if progress.tty && !progress.quiet {
            s.spawn(|| {
                while !done.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(150));
                    for &i in &todo {
                        let n = counters[i].load(Ordering::Relaxed);
                        if n > 0 && n < layers[i].1 {
                            progress.status(
                                &short(&layers[i].0),
                                &format!("Downloading  {}", bar(n, layers[i].1)),
                                true,
                            );
                        }
                    }
                }
            });
        }
        let workers: Vec<_> = (0..DOWNLOADS.min(todo.len()))
            .map(|_| {
                s.spawn(|| loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&i) = todo.get(k) else { break };
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let (d, size, lmt) = &layers[i];
                    let id = short(d);
                    let parent = i.checked_sub(1).map(|p| chains[p].as_str());
                    let res = (|| -> Result<LayerInfo, Failure> {
                        let body = repo.get_blob(d, *size).map_err(err)?;
                        progress.status(&id, "Downloading", false);
                        let mut rd = Counting {
                            inner: body,
                            n: &counters[i],
                            stop: &stop,
                        };
                        let info = store
                            .add_layer(parent, &mut rd, Some((d, *size)), lmt)
                            .map_err(|e| {
                                if INTERRUPTED.load(Ordering::Relaxed) {
                                    Failure::new(130, "")
                                } else {
                                    fail(e)
                                }
                            })?;
                        if info.diff_id != diff_ids[i] {
                            return Err(fail(format!(
                                "layer {d} has diff id {}, the image config says {}",
                                info.diff_id, diff_ids[i]
                            )));
                        }
                        progress.status(&id, "Verifying Checksum", false);
                        progress.status(&id, "Download complete", false);
                        progress.status(&id, "Pull complete", false);
                        Ok(info)
                    })();
                    if res.is_err() {
                        stop.store(true, Ordering::Relaxed);
                    }
                    results.lock().expect("lock").push((i, res));
                })
            })
            .collect();
        for w in workers {
            let _ = w.join();
        }
        done.store(true, Ordering::Relaxed);
    });
    let mut first_err = None;
    for (i, res) in results.into_inner().expect("lock") {
        match res {
            Ok(info) => infos[i] = Some(info),
            Err(f) => {
                if first_err.is_none() || f.code == 130 {
                    first_err = Some(f);
                }
            }
        }
    }
    if INTERRUPTED.load(Ordering::Relaxed) {
        return Err(Failure::new(130, ""));
    }
    if let Some(f) = first_err {
        return Err(f);
    }
    let infos: Vec<LayerInfo> = infos.into_iter().flatten().collect();
    if infos.len() != layers.len() {
        return Err(fail("not every layer was pulled"));
    }
    let tag = r.tag().is_some().then_some(r);
    let repo_digest =
        Reference::parse_normalized(&format!("{}@{top_digest}", r.name())).map_err(fail)?;
    let id = store
        .add_image(&config, &infos, Some(&bytes), tag, Some(&repo_digest))
        .map_err(fail)?;
    progress.line(&format!("Digest: {top_digest}"));
    let shown = r.familiar_string();
    if before.as_deref() == Some(id.as_str()) {
        progress.line(&format!("Status: Image is up to date for {shown}"));
    } else {
        progress.line(&format!("Status: Downloaded newer image for {shown}"));
    }
    if !a.all_tags {
        progress.line(&r.to_string());
    }
    Ok(())
}

/// `docker push`.
pub fn push(e: &Engine, a: &PushArgs) -> CmdResult {
    watch_signals();
    let r = Reference::parse_normalized(&a.name).map_err(fail)?;
    if r.digest().is_some() {
        return Err(fail("cannot push a digest reference"));
    }
    let store = e.images();
    let tags: Vec<Reference> = if a.all_tags {
        store
            .list()
            .map_err(fail)?
            .into_iter()
            .flat_map(|i| i.references)
            .filter(|x| x.name() == r.name() && x.tag().is_some())
            .collect()
    } else {
        vec![r.clone().with_default_tag()]
    };
    if tags.is_empty() {
        return Err(fail(format!(
            "An image does not exist locally with the tag: {}",
            r.familiar_name()
        )));
    }
    let client = client(a.tls_verify, None)?;
    let progress = Progress::new(a.quiet);
    progress.line(&format!(
        "The push refers to repository [{}]",
        r.familiar_name()
    ));
    let repo = client
        .repo(r.domain(), r.path(), "pull,push")
        .map_err(fail)?;
    for t in &tags {
        push_one(store, &repo, t, &progress)?;
    }
    if a.quiet {
        println!("{}", r.familiar_string());
    }
    Ok(0)
}

fn chunk_size() -> u64 {
    std::env::var("BERTH_PUSH_CHUNK_SIZE")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(128 << 20)
}

fn push_one(store: &Store, repo: &Repo, r: &Reference, progress: &Progress) -> Result<(), Failure> {
    let img = store.stored_image(&r.to_string()).map_err(|_| {
        fail(format!(
            "An image does not exist locally with the tag: {}",
            r.familiar_string()
        ))
    })?;
    // Other repositories of the same registry this image came from or went
    // to: blobs can be mounted from them.
    let mut from: Vec<String> = img
        .references
        .iter()
        .filter(|x| x.domain() == r.domain() && x.path() != r.path())
        .map(|x| x.path().to_string())
        .collect();
    from.dedup();
    let err = |e: berth_registry::Error| Failure::new(1, e.to_string());
    let mut blobs = img.layers.clone();
    blobs.push(img.config_blob.clone());
    let nlayers = img.layers.len();
    for l in &img.layers {
        progress.status(&short(&l.digest), "Preparing", false);
    }
    let next = AtomicUsize::new(0);
    let failed: Mutex<Option<Failure>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..UPLOADS.min(blobs.len()) {
            s.spawn(|| loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let Some(b) = blobs.get(k) else { break };
                if failed.lock().expect("lock").is_some() || INTERRUPTED.load(Ordering::Relaxed) {
                    break;
                }
                let is_layer = k < nlayers;
                let id = short(&b.digest);
                let res = (|| -> Result<(), Failure> {
                    if repo.has_blob(&b.digest).map_err(err)? {
                        if is_layer {
                            progress.status(&id, "Layer already exists", false);
                        }
                        return Ok(());
                    }
                    let mount = repo
                        .mount_or_start(&b.digest, from.first().map(String::as_str))
                        .map_err(err)?;
                    let loc = match mount {
                        Mount::Mounted => {
                            if is_layer {
                                progress.status(&id, &format!("Mounted from {}", from[0]), false);
                            }
                            return Ok(());
                        }
                        Mount::Upload(loc) => loc,
                    };
                    let (file, size) = store.open_blob(&b.digest).map_err(fail)?;
                    if is_layer {
                        progress.status(&id, "Pushing", false);
                    }
                    let total = size;
                    repo.upload(loc, &b.digest, &file, size, chunk_size(), &|n| {
                        if is_layer {
                            progress.status(&id, &format!("Pushing  {}", bar(n, total)), true);
                        }
                    })
                    .map_err(err)?;
                    if is_layer {
                        progress.status(&id, "Pushed", false);
                    }
                    Ok(())
                })();
                if let Err(f) = res {
                    failed.lock().expect("lock").get_or_insert(f);
                }
            });
        }
    });
    if INTERRUPTED.load(Ordering::Relaxed) {
        return Err(Failure::new(130, ""));
    }
    if let Some(f) = failed.into_inner().expect("lock") {
        return Err(f);
    }
    let tag = r.tag().unwrap_or("latest");
    let digest = repo
        .put_manifest(tag, &img.manifest_media_type, &img.manifest)
        .map_err(err)?;
    if digest != img.manifest_digest {
        return Err(fail(format!(
            "pushed manifest digest {digest} differs from the stored {}",
            img.manifest_digest
        )));
    }
    progress.line(&format!(
        "{tag}: digest: {digest} size: {}",
        img.manifest.len()
    ));
    if let Ok(rd) = Reference::parse_normalized(&format!("{}@{digest}", r.name())) {
        if let Err(e) = store.add_repo_digest(&img.id, &rd) {
            tracing::warn!(error = %e, "cannot record the repo digest");
        }
    }
    Ok(())
}

fn server_domain(server: Option<&str>) -> String {
    let s = server.unwrap_or("docker.io");
    let s = s
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let s = s.split('/').next().unwrap_or(s);
    match s {
        "index.docker.io" | "registry-1.docker.io" | "" => "docker.io".to_string(),
        s => s.to_string(),
    }
}

fn prompt(msg: &str, echo: bool) -> Result<String, Failure> {
    eprint!("{msg}");
    let _ = std::io::stderr().flush();
    let stdin = std::io::stdin();
    let old = if echo {
        None
    } else {
        rustix::termios::tcgetattr(&stdin).ok()
    };
    if let Some(t) = &old {
        let mut t2 = t.clone();
        t2.local_modes.remove(rustix::termios::LocalModes::ECHO);
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &t2);
    }
    let mut line = String::new();
    let res = stdin.read_line(&mut line);
    if let Some(t) = &old {
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, t);
        eprintln!();
    }
    res.map_err(fail)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// `docker login`.
pub fn login(a: &LoginArgs) -> CmdResult {
    let domain = server_domain(a.server.as_deref());
    let mut password = a.password.clone();
    if a.password_stdin {
        if password.is_some() {
            return Err(fail(
                "--password and --password-stdin are mutually exclusive",
            ));
        }
        if a.username.is_none() {
            return Err(fail("Must provide --username with --password-stdin"));
        }
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(fail)?;
        password = Some(s.trim_end_matches(['\r', '\n']).to_string());
    } else if password.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    let tty = std::io::stdin().is_terminal();
    let username = match &a.username {
        Some(u) => u.clone(),
        None if tty => prompt("Username: ", true)?,
        None => {
            return Err(fail(
                "Cannot perform an interactive login from a non TTY device",
            ))
        }
    };
    let password = match password {
        Some(p) => p,
        None if tty => prompt("Password: ", false)?,
        None => {
            return Err(fail(
                "Cannot perform an interactive login from a non TTY device",
            ))
        }
    };
    if username.is_empty() || password.is_empty() {
        return Err(fail("Username and password are required"));
    }
    let creds = Credentials { username, password };
    let c = client(a.tls_verify, Some(creds.clone()))?;
    c.check_login(&domain)
        .map_err(|e| Failure::new(1, format!("login attempt to {domain} failed: {e}")))?;
    berth_registry::creds::store(&domain, &creds).map_err(fail)?;
    println!("Login Succeeded");
    Ok(0)
}

/// `docker logout`.
pub fn logout(a: &LogoutArgs) -> CmdResult {
    let domain = server_domain(a.server.as_deref());
    let key = berth_registry::creds::server_key(&domain);
    if berth_registry::creds::erase(&domain).map_err(fail)? {
        println!("Removing login credentials for {key}");
    } else {
        println!("Not logged in to {key}");
    }
    Ok(0)
}
