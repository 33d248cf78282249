#![forbid(unsafe_code)]
//! berth's engine: container records, names, lifecycle, and the OCI spec each
//! container runs with. It talks to the runtime only through a bundle
//! (`config.json` + a mounted rootfs) and the [`berth_runtime::Runtime`] trait.
//!
//! State lives in one JSON file per container under `ROOT/containers/ID/`,
//! runtime state under `RUNROOT`. Names are reserved atomically by creating
//! `ROOT/names/NAME` exclusively, so two commands at once can never give one
//! name to two containers.

mod commit;
mod copy;
pub mod envfile;
mod error;
pub mod fsdiff;
pub mod logs;
pub mod names;
mod net;
pub mod opts;
pub mod record;
pub mod spec;
pub mod stats;
pub mod user;
pub mod volumes;

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use berth_image::Store;
use berth_runtime::attach::{wait_task, StdioSink, Stream, TaskStreams};
use berth_runtime::{Libcontainer, Runtime, TaskIo};
use chrono::{SecondsFormat, Utc};
use logs::{JsonLog, Tee};
use rustix::fs::{Mode, OFlags, ResolveFlags};

pub use commit::CommitOptions;
pub use copy::{CopyDest, CopyOptions, CopySource};
pub use error::{Error, Result};

/// `docker update`'s flags; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct ResourceUpdate {
    /// `-m`, bytes.
    pub memory: Option<i64>,
    /// `--memory-swap`, bytes (-1 unlimited).
    pub memory_swap: Option<i64>,
    /// `--memory-reservation`, bytes.
    pub memory_reservation: Option<i64>,
    /// `--cpus` in billionths.
    pub nano_cpus: Option<i64>,
    /// `--cpu-shares`.
    pub cpu_shares: Option<i64>,
    /// `--cpuset-cpus`.
    pub cpuset_cpus: Option<String>,
    /// `--pids-limit`.
    pub pids_limit: Option<i64>,
    /// `--restart`.
    pub restart: Option<record::RestartPolicy>,
}
use record::{Config, Container, HostConfig, State, Status, Ulimit};

/// What `create`/`run` asks for, after the CLI parsed its flags.
#[derive(Debug, Default, Clone)]
pub struct CreateOptions {
    /// The image reference or id as typed.
    pub image: String,
    /// `--name`.
    pub name: Option<String>,
    /// The command after the image.
    pub cmd: Vec<String>,
    /// `--entrypoint` (an empty string clears the image's).
    pub entrypoint: Option<String>,
    /// `-e`/`--env-file`, already resolved to `K=V`.
    pub env: Vec<String>,
    /// `-w`.
    pub workdir: Option<String>,
    /// `-u`.
    pub user: Option<String>,
    /// `--hostname`.
    pub hostname: Option<String>,
    /// `-t`.
    pub tty: bool,
    /// `-i`.
    pub interactive: bool,
    /// Whether stdout/stderr are attached (`run` without `-d`).
    pub attach: bool,
    /// `--rm`.
    pub auto_remove: bool,
    /// `--init`.
    pub init: bool,
    /// `--cap-add`.
    pub cap_add: Vec<String>,
    /// `--cap-drop`.
    pub cap_drop: Vec<String>,
    /// `--privileged`.
    pub privileged: bool,
    /// `--security-opt`.
    pub security_opt: Vec<String>,
    /// `--ulimit`.
    pub ulimits: Vec<Ulimit>,
    /// `--label`.
    pub labels: BTreeMap<String, String>,
    /// `--network`: `bridge` (default), `none`, `host`, `container:ID` or a network name.
    pub network: String,
    /// `-p`
    pub publish: Vec<String>,
    /// `-P`
    pub publish_all: bool,
    /// `--network-alias`
    pub network_aliases: Vec<String>,
    /// `--ip`
    pub ip: Option<String>,
    /// `--mac-address`
    pub mac_address: Option<String>,
    /// `--add-host`
    pub add_hosts: Vec<String>,
    /// `--dns`
    pub dns: Vec<String>,
    /// `--dns-search`
    pub dns_search: Vec<String>,
    /// `--dns-option`
    pub dns_options: Vec<String>,
    /// `--read-only`.
    pub read_only: bool,
    /// `--restart`.
    pub restart: Option<String>,
    /// `--memory`, `--cpus`, … (validated by [`Engine::create`]).
    pub resources: record::Resources,
    /// `-v`/`--volume`.
    pub volumes: Vec<String>,
    /// `--mount`.
    pub mounts: Vec<String>,
    /// `--tmpfs`.
    pub tmpfs: Vec<String>,
    /// `--volumes-from`.
    pub volumes_from: Vec<String>,
}

/// What `exec` asks for.
#[derive(Debug, Default, Clone)]
pub struct ExecOptions {
    /// The command and its arguments.
    pub cmd: Vec<String>,
    /// `-e`, resolved to `K=V` (a bare `K` removes it).
    pub env: Vec<String>,
    /// `-w`.
    pub workdir: Option<String>,
    /// `-u`.
    pub user: Option<String>,
    /// `-t`.
    pub tty: bool,
    /// `-i`.
    pub interactive: bool,
    /// `-d`.
    pub detach: bool,
    /// `--privileged`.
    pub privileged: bool,
}

/// How a started task's stdio is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attach {
    /// On berth's own stdio (`run` without `-d`, `start -a`); the output is
    /// also logged unless the container goes with `--rm`.
    Terminal {
        /// Forward stdin (`-i`).
        interactive: bool,
    },
    /// Under a monitor: the output goes to the container's log only.
    Detached,
}

/// The engine over one root and runroot.
#[derive(Debug)]
pub struct Engine {
    root: PathBuf,
    runroot: PathBuf,
    images: Store,
    volumes: volumes::Volumes,
    runtime: Libcontainer,
    networks: berth_network::Networks,
}

/// A short stable hex id of `s`.
pub(crate) fn short_hash(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Reads `rel` inside `root` without following anything out of it.
fn read_in_root(root: &Path, rel: &str) -> Option<String> {
    let dir = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let fd = rustix::fs::openat2(
        &dir,
        rel,
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )
    .ok()?;
    std::io::read_to_string(std::fs::File::from(fd)).ok()
}

/// The start time (clock ticks since boot) of `pid`, or `None` when it is
/// gone or a zombie.
pub fn pid_start_time(pid: i32) -> Option<u64> {
    if pid <= 0 {
        return None;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    if fields.first() == Some(&"Z") || fields.first() == Some(&"X") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// Docker's checks on resource flags.
fn check_resources(r: &record::Resources) -> Result<()> {
    if r.memory != 0 && r.memory < 6 * 1024 * 1024 {
        return Err(Error::Invalid("Minimum memory limit allowed is 6MB".into()));
    }
    if r.memory_swap > 0 && r.memory > 0 && r.memory_swap < r.memory {
        return Err(Error::Invalid(
            "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
        ));
    }
    if r.memory_swap > 0 && r.memory == 0 {
        return Err(Error::Invalid(
            "You should always set the Memory limit when using Memoryswap limit, see usage".into(),
        ));
    }
    if r.memory > 0 && r.memory_reservation > r.memory {
        return Err(Error::Invalid(
            "Minimum memory limit can not be less than memory reservation limit, see usage".into(),
        ));
    }
    let ncpu = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as i64;
    if r.nano_cpus < 0 || r.nano_cpus > ncpu * 1_000_000_000 {
        return Err(Error::Invalid(format!(
            "Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
        )));
    }
    Ok(())
}

/// Bytes of the regular files below `p`.
pub fn du(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    rd.filter_map(|e| e.ok())
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => du(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// The cgroup of container `id`, relative to the cgroup root.
fn cgroup_path(id: &str) -> String {
    format!("/berth/{id}")
}

fn random_id() -> String {
    loop {
        let bytes: [u8; 32] = rand::random();
        let id = hex::encode(bytes);
        // Docker never hands out an id whose short form is all digits.
        if !id[..12].bytes().all(|b| b.is_ascii_digit()) {
            return id;
        }
    }
}

fn resolv_conf(network: &str) -> String {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    if network == "host" {
        return host;
    }
    let mut out = String::new();
    let mut servers = 0;
    for line in host.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some("nameserver") {
            let ip = words.next().unwrap_or("");
            if ip.starts_with("127.") || ip == "::1" {
                continue;
            }
            servers += 1;
        }
        out.push_str(line);
        out.push('\n');
    }
    if servers == 0 {
        out.push_str("\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    out
}

pub(crate) const HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";

impl Engine {
    /// Opens (creating if needed) the state under `root` and `runroot`.
    pub fn open(root: impl Into<PathBuf>, runroot: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        let runroot = runroot.into();
        for d in [
            root.join("containers"),
            root.join("names"),
            runroot.join("containers"),
        ] {
            std::fs::create_dir_all(&d)
                .map_err(|e| Error::io(format!("creating {}", d.display()), e))?;
        }
        let images = Store::open(&root)?;
        let runtime = Libcontainer::new(runroot.join("runtime"));
        Ok(Self {
            networks: berth_network::Networks::open(&root, &runroot),
            volumes: volumes::Volumes::new(&root),
            root,
            runroot,
            images,
            runtime,
        })
    }

    /// The image store.
    pub fn images(&self) -> &Store {
        &self.images
    }

    /// The volume store.
    pub fn volumes(&self) -> &volumes::Volumes {
        &self.volumes
    }

    /// Resolves `-v`, `--mount`, `--tmpfs`, `--volumes-from` and the image's
    /// VOLUMEs into mounts, creating named and anonymous volumes (and, like
    /// docker's `-v`, missing bind sources).
    fn resolve_mounts(
        &self,
        o: &CreateOptions,
        image_volumes: &[String],
    ) -> Result<Vec<volumes::MountPoint>> {
        use volumes::MountPoint;
        let mut out: Vec<MountPoint> = Vec::new();
        let volume = |name: Option<&str>, dst: &str, rw: bool, mode: &str| -> Result<MountPoint> {
            let v = self.volumes.create(name, BTreeMap::new(), name.is_none())?;
            Ok(MountPoint {
                typ: "volume".into(),
                name: v.name,
                source: v.mountpoint,
                destination: dst.to_string(),
                driver: "local".into(),
                mode: mode.to_string(),
                rw,
                propagation: String::new(),
                tmpfs_options: String::new(),
            })
        };
        let bind = |src: &str, dst: &str, rw: bool, mode: &str| MountPoint {
            typ: "bind".into(),
            name: String::new(),
            source: src.to_string(),
            destination: dst.to_string(),
            driver: String::new(),
            mode: mode.to_string(),
            rw,
            propagation: "rprivate".into(),
            tmpfs_options: String::new(),
        };
        for from in &o.volumes_from {
            let (name, mode) = from.split_once(':').unwrap_or((from.as_str(), ""));
            let other = self.get(name)?;
            for m in other.mounts {
                let mut m = m.clone();
                if mode == "ro" {
                    m.rw = false;
                }
                out.push(m);
            }
        }
        for v in &o.volumes {
            let (src, dst, mode) = volumes::parse_volume_flag(v)?;
            let rw = !mode.split(',').any(|m| m == "ro");
            let m = match src {
                Some(s) if s.starts_with('/') => {
                    // docker's -v creates a missing host directory.
                    std::fs::create_dir_all(&s)
                        .map_err(|e| Error::io(format!("creating bind source {s}"), e))?;
                    bind(&s, &dst, rw, &mode)
                }
                Some(name) => volume(Some(&name), &dst, rw, &mode)?,
                None => volume(None, &dst, rw, &mode)?,
            };
            out.push(m);
        }
        for v in &o.mounts {
            let (typ, src, dst, ro, tmpfs) = volumes::parse_mount_flag(v)?;
            let m = match typ.as_str() {
                "bind" => {
                    let s = src.ok_or_else(|| Error::Invalid("invalid mount config for type \"bind\": field Source must not be empty".into()))?;
                    if !Path::new(&s).exists() {
                        return Err(Error::Invalid(format!(
                            "invalid mount config for type \"bind\": bind source path does not exist: {s}"
                        )));
                    }
                    bind(&s, &dst, !ro, "")
                }
                "tmpfs" => MountPoint {
                    typ: "tmpfs".into(),
                    name: String::new(),
                    source: String::new(),
                    destination: dst,
                    driver: String::new(),
                    mode: String::new(),
                    rw: !ro,
                    propagation: String::new(),
                    tmpfs_options: tmpfs,
                },
                _ => volume(src.as_deref(), &dst, !ro, "z")?,
            };
            out.push(m);
        }
        for t in &o.tmpfs {
            let (dst, opts) = t.split_once(':').unwrap_or((t.as_str(), ""));
            if !dst.starts_with('/') {
                return Err(Error::Invalid(format!(
                    "invalid mount path: '{dst}' mount path must be absolute"
                )));
            }
            out.push(MountPoint {
                typ: "tmpfs".into(),
                name: String::new(),
                source: String::new(),
                destination: dst.to_string(),
                driver: String::new(),
                mode: String::new(),
                rw: !opts.split(',').any(|x| x == "ro"),
                propagation: String::new(),
                tmpfs_options: opts.to_string(),
            });
        }
        for dst in image_volumes {
            if !out
                .iter()
                .any(|m| m.destination.trim_end_matches('/') == dst.trim_end_matches('/'))
            {
                out.push(volume(None, dst, true, "")?);
            }
        }
        let mut seen = std::collections::HashSet::new();
        for m in &out {
            if !seen.insert(m.destination.trim_end_matches('/').to_string()) {
                return Err(Error::Invalid(format!(
                    "Duplicate mount point: {}",
                    m.destination
                )));
            }
        }
        Ok(out)
    }

    /// Containers that use volume `name`.
    pub fn volume_users(&self, name: &str) -> Vec<String> {
        self.list()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c.mounts.iter().any(|m| m.typ == "volume" && m.name == name))
            .map(|c| c.id)
            .collect()
    }

    /// `docker volume rm`: refused while a container uses it (unless `force`).
    pub fn volume_remove(&self, name: &str, force: bool) -> Result<()> {
        self.volumes.get(name)?;
        let users = self.volume_users(name);
        if !users.is_empty() && !force {
            return Err(Error::VolumeInUse {
                name: name.to_string(),
                ids: users.join(", "),
            });
        }
        self.volumes.remove(name)
    }

    /// The berth root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dir(&self, id: &str) -> PathBuf {
        self.root.join("containers").join(id)
    }

    fn bundle(&self, id: &str) -> PathBuf {
        self.runroot.join("containers").join(id)
    }

    fn record_path(&self, id: &str) -> PathBuf {
        self.dir(id).join("container.json")
    }

    /// Every container id on disk.
    fn ids(&self) -> Result<Vec<String>> {
        let dir = self.root.join("containers");
        let rd = std::fs::read_dir(&dir)
            .map_err(|e| Error::io(format!("reading {}", dir.display()), e))?;
        let mut ids = Vec::new();
        for name in rd
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
        {
            if name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
                ids.push(name);
            } else if let Some(rest) = name.strip_prefix(".removing-") {
                // Left by an `rm` that was killed half way: finish it.
                let pid = rest.rsplit('-').next().and_then(|p| p.parse::<i32>().ok());
                if pid.is_none_or(|p| pid_start_time(p).is_none()) {
                    let _ = std::fs::remove_dir_all(dir.join(&name));
                }
            }
        }
        Ok(ids)
    }

    /// Resolves a full id, a name, or a unique id prefix to a container id.
    pub fn resolve(&self, reference: &str) -> Result<String> {
        let r = reference.strip_prefix('/').unwrap_or(reference);
        if r.len() == 64 && self.record_path(r).exists() {
            return Ok(r.to_string());
        }
        if names::is_valid(r) {
            if let Ok(id) = std::fs::read_to_string(self.root.join("names").join(r)) {
                if self.record_path(id.trim()).exists() {
                    return Ok(id.trim().to_string());
                }
            }
        }
        if !r.is_empty() && r.bytes().all(|b| b.is_ascii_hexdigit()) {
            let matches: Vec<String> = self
                .ids()?
                .into_iter()
                .filter(|id| id.starts_with(r))
                .collect();
            match matches.len() {
                1 => return Ok(matches.into_iter().next().unwrap_or_default()),
                0 => {}
                _ => return Err(Error::Ambiguous(reference.to_string())),
            }
        }
        Err(Error::NoSuchContainer(reference.to_string()))
    }

    /// Loads a container by reference, noticing a task that died unseen.
    pub fn get(&self, reference: &str) -> Result<Container> {
        let id = self.resolve(reference)?;
        self.load(&id)
    }

    fn load(&self, id: &str) -> Result<Container> {
        let path = self.record_path(id);
        let mut c = match Container::load(&path) {
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NoSuchContainer(id.to_string()))
            }
            other => other?,
        };
        if c.state.running
            && (c.state.pid_start.is_none() || pid_start_time(c.state.pid) != c.state.pid_start)
        {
            // The task is gone. If the berth process that waits for it is
            // alive, it is about to record the exit; otherwise nobody will.
            let monitor_alive = c
                .state
                .monitor
                .is_some_and(|(pid, start)| pid_start_time(pid) == Some(start));
            if !monitor_alive {
                self.repair(&mut c);
            }
        } else if c.state.restarting
            && c.state
                .monitor
                .is_none_or(|(pid, start)| pid_start_time(pid) != Some(start))
        {
            // Its monitor died while waiting to restart it.
            c.state.restarting = false;
            c.state.status = Status::Exited;
            let _ = c.save(&path);
        }
        Ok(c)
    }

    /// A container recorded as running whose process is gone (its `berth`
    /// was killed): record it as exited and release what it held.
    fn repair(&self, c: &mut Container) {
        tracing::info!(id = %c.id, "container's process is gone; cleaning up");
        self.teardown(&c.id);
        c.state.running = false;
        c.state.status = Status::Exited;
        c.state.exit_code = 137;
        c.state.pid = 0;
        c.state.pid_start = None;
        c.state.monitor = None;
        c.state.finished_at = now();
        let _ = c.save(&self.record_path(&c.id));
    }

    /// All containers, newest first.
    pub fn list(&self) -> Result<Vec<Container>> {
        let mut out = Vec::new();
        for id in self.ids()? {
            match self.load(&id) {
                Ok(c) => out.push(c),
                Err(Error::NoSuchContainer(_)) => {}
                Err(e) => tracing::warn!(%id, error = %e, "skipping unreadable container"),
            }
        }
        out.sort_by_key(|c| std::cmp::Reverse(c.created));
        Ok(out)
    }

    fn reserve_name(&self, name: &str, id: &str) -> Result<()> {
        let path = self.root.join("names").join(name);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(mut f) => f
                .write_all(id.as_bytes())
                .map_err(|e| Error::io(format!("writing {}", path.display()), e)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let other = std::fs::read_to_string(&path).unwrap_or_default();
                let other = other.trim().to_string();
                if !other.is_empty() && !self.record_path(&other).exists() {
                    // Left by a crashed create: take it over.
                    std::fs::remove_file(&path)
                        .map_err(|e| Error::io(format!("removing {}", path.display()), e))?;
                    return self.reserve_name(name, id);
                }
                Err(Error::NameInUse {
                    name: name.to_string(),
                    id: other,
                })
            }
            Err(e) => Err(Error::io(format!("creating {}", path.display()), e)),
        }
    }

    /// Creates a container record (`docker create`).
    pub fn create(&self, o: &CreateOptions) -> Result<Container> {
        let image = self.images.get(&o.image)?;
        let ic = self.images.config(&image.id)?;

        let entrypoint: Option<Vec<String>> = match &o.entrypoint {
            Some(e) if e.is_empty() => None,
            Some(e) => Some(vec![e.clone()]),
            None => ic.entrypoint.clone().filter(|v| !v.is_empty()),
        };
        let cmd: Option<Vec<String>> = if !o.cmd.is_empty() {
            Some(o.cmd.clone())
        } else if o.entrypoint.is_some() {
            None
        } else {
            ic.cmd.clone().filter(|v| !v.is_empty())
        };
        let mut argv: Vec<String> = entrypoint.clone().unwrap_or_default();
        argv.extend(cmd.clone().unwrap_or_default());
        if argv.is_empty() {
            return Err(Error::NoCommand);
        }
        if let Some(n) = &o.name {
            if !names::is_valid(n) {
                return Err(Error::InvalidName(n.clone()));
            }
        }
        for opt in &o.security_opt {
            opts::parse_security_opt(opt).map_err(Error::Invalid)?;
        }
        let network = match o.network.as_str() {
            "" | "default" | "bridge" => "bridge".to_string(),
            "none" | "host" => o.network.clone(),
            other => match other.strip_prefix("container:") {
                Some(c) => format!("container:{}", self.resolve(c)?),
                None => {
                    self.networks
                        .get(other)
                        .map_err(|_| Error::Invalid(format!("network {other} not found")))?
                        .name
                }
            },
        };
        net::port_bindings(&o.publish)?;
        for h in &o.add_hosts {
            if !h.contains(':') {
                return Err(Error::Invalid(format!(
                    "invalid argument \"{h}\" for \"--add-host\" flag: bad format for add-host: \"{h}\""
                )));
            }
        }
        if let Some(ip) = &o.ip {
            ip.parse::<std::net::Ipv4Addr>()
                .map_err(|_| Error::Invalid(format!("invalid IPv4 address: {ip}")))?;
        }
        let normalized = CreateOptions {
            network,
            ..o.clone()
        };
        let o = &normalized;

        let restart = match &o.restart {
            Some(r) => record::RestartPolicy::parse(r).map_err(Error::Invalid)?,
            None => record::RestartPolicy {
                name: "no".into(),
                maximum_retry_count: 0,
            },
        };
        if restart.name != "no" && o.auto_remove {
            return Err(Error::Invalid(
                "Conflicting options: cannot specify both --restart and --rm".into(),
            ));
        }
        check_resources(&o.resources)?;
        let id = random_id();
        let name = match &o.name {
            Some(n) => {
                let n = n.trim_start_matches('/').to_string();
                self.reserve_name(&n, &id)?;
                n
            }
            None => {
                let mut retry = 0;
                loop {
                    let n = names::generate(retry);
                    match self.reserve_name(&n, &id) {
                        Ok(()) => break n,
                        Err(Error::NameInUse { .. }) if retry < 10 => retry += 1,
                        Err(e) => return Err(e),
                    }
                }
            }
        };

        let res = self.write_new(
            o, &id, &name, &image.id, &ic, entrypoint, cmd, argv, restart,
        );
        if res.is_err() {
            let _ = std::fs::remove_dir_all(self.dir(&id));
            let _ = std::fs::remove_file(self.root.join("names").join(&name));
        }
        res
    }

    #[allow(clippy::too_many_arguments)]
    fn write_new(
        &self,
        o: &CreateOptions,
        id: &str,
        name: &str,
        image_id: &str,
        ic: &berth_image::ImageConfig,
        entrypoint: Option<Vec<String>>,
        cmd: Option<Vec<String>>,
        argv: Vec<String>,
        restart_policy: record::RestartPolicy,
    ) -> Result<Container> {
        let dir = self.dir(id);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let network = o.network.clone();
        let mut port_bindings = net::port_bindings(&o.publish)?;
        if o.publish_all {
            for p in &ic.exposed_ports {
                let key = if p.contains('/') {
                    p.clone()
                } else {
                    format!("{p}/tcp")
                };
                port_bindings
                    .entry(key)
                    .or_insert_with(|| vec![net::HostPort::default()]);
            }
        }
        let hostname = match (&o.hostname, network.as_str()) {
            (Some(h), _) => h.clone(),
            (None, "host") => rustix::system::uname()
                .nodename()
                .to_string_lossy()
                .into_owned(),
            (None, _) => id[..12].to_string(),
        };
        let hosts = if network == "host" {
            std::fs::read_to_string("/etc/hosts").unwrap_or_else(|_| HOSTS.to_string())
        } else {
            HOSTS.to_string()
        };
        let files = [
            ("hostname", format!("{hostname}\n")),
            ("hosts", hosts),
            ("resolv.conf", {
                let mut rc = if o.dns.is_empty() {
                    resolv_conf(&network)
                } else {
                    o.dns.iter().map(|d| format!("nameserver {d}\n")).collect()
                };
                if !o.dns_search.is_empty() {
                    rc.push_str(&format!("search {}\n", o.dns_search.join(" ")));
                }
                if !o.dns_options.is_empty() {
                    rc.push_str(&format!("options {}\n", o.dns_options.join(" ")));
                }
                rc
            }),
        ];
        for (f, content) in &files {
            std::fs::write(dir.join(f), content)
                .map_err(|e| Error::io(format!("writing {f}"), e))?;
        }
        let mounts = self.resolve_mounts(o, &ic.volumes)?;
        let mut env = ic.env.clone();
        env = envfile::merge_env(&env, &o.env);
        let mut labels = ic.labels.clone();
        labels.extend(o.labels.clone());
        let c = Container {
            id: id.to_string(),
            created: Utc::now(),
            path: argv[0].clone(),
            args: argv[1..].to_vec(),
            state: State::default(),
            image: image_id.to_string(),
            resolv_conf_path: dir.join("resolv.conf").display().to_string(),
            hostname_path: dir.join("hostname").display().to_string(),
            hosts_path: dir.join("hosts").display().to_string(),
            log_path: dir.join(format!("{id}-json.log")).display().to_string(),
            name: format!("/{name}"),
            restart_count: 0,
            driver: "overlay2".into(),
            platform: "linux".into(),
            host_config: HostConfig {
                network_mode: network,
                auto_remove: o.auto_remove,
                privileged: o.privileged,
                cap_add: (!o.cap_add.is_empty()).then(|| o.cap_add.clone()),
                cap_drop: (!o.cap_drop.is_empty()).then(|| o.cap_drop.clone()),
                security_opt: (!o.security_opt.is_empty()).then(|| o.security_opt.clone()),
                ulimits: (!o.ulimits.is_empty()).then(|| o.ulimits.clone()),
                init: o.init.then_some(true),
                readonly_rootfs: o.read_only,
                restart_policy,
                resources: {
                    let mut r = o.resources.clone();
                    // Docker's default: swap as large as the memory limit.
                    if r.memory > 0 && r.memory_swap == 0 {
                        r.memory_swap = 2 * r.memory;
                    }
                    r
                },
                seccomp_profile: None,
                port_bindings,
                publish_all_ports: o.publish_all,
                extra_hosts: (!o.add_hosts.is_empty()).then(|| o.add_hosts.clone()),
                dns: o.dns.clone(),
                dns_search: o.dns_search.clone(),
                dns_options: o.dns_options.clone(),
                network_aliases: o.network_aliases.clone(),
                ip_address: o.ip.clone().unwrap_or_default(),
                mac_address: o.mac_address.clone().unwrap_or_default(),
                extra_networks: Vec::new(),
            },
            config: Config {
                hostname,
                domainname: String::new(),
                user: o.user.clone().unwrap_or_else(|| ic.user.clone()),
                attach_stdin: o.interactive,
                attach_stdout: o.attach,
                attach_stderr: o.attach,
                tty: o.tty,
                open_stdin: o.interactive,
                stdin_once: o.interactive,
                env,
                cmd,
                image: o.image.clone(),
                volumes: None,
                working_dir: o.workdir.clone().unwrap_or_else(|| ic.working_dir.clone()),
                entrypoint,
                on_build: None,
                labels,
                stop_signal: ic.stop_signal.clone(),
            },
            mounts,
        };
        c.save(&self.record_path(id))?;
        Ok(c)
    }

    /// Releases what a task held: runtime state and cgroup, rootfs mount,
    /// bundle. Safe to call twice and on a container that never ran.
    fn teardown(&self, id: &str) {
        if let Err(e) = self.runtime.delete(id) {
            tracing::warn!(id, error = %e, "deleting the task");
        }
        // Another command may have been tearing down at the same time and
        // left libcontainer's cgroup removal half done.
        berth_runtime::remove_cgroup(&cgroup_path(id));
        self.teardown_network(id);
        let bundle = self.bundle(id);
        let rootfs = bundle.join("rootfs");
        if let Err(e) = berth_runtime::mount::unmount(&rootfs) {
            tracing::warn!(id, error = %e, "unmounting the rootfs");
        }
        if bundle.exists() {
            if let Err(e) = std::fs::remove_dir_all(&bundle) {
                tracing::warn!(id, error = %e, "removing the bundle");
            }
        }
    }

    /// Mounts the rootfs and writes the bundle; returns the bundle dir.
    fn prepare(&self, c: &Container) -> Result<(PathBuf, net::Held)> {
        let dir = self.dir(&c.id);
        let (upper, work) = (dir.join("upper"), dir.join("work"));
        let bundle = self.bundle(&c.id);
        let rootfs = bundle.join("rootfs");
        for d in [&upper, &work, &rootfs] {
            std::fs::create_dir_all(d)
                .map_err(|e| Error::io(format!("creating {}", d.display()), e))?;
        }
        let mounts = self.images.rootfs_mounts(&c.image, &upper, &work)?;
        {
            let _lock = self.rootfs_lock(&c.id)?;
            berth_runtime::mount::mount_rootfs(&mounts, &rootfs)?;
        }
        for m in c
            .mounts
            .iter()
            .filter(|m| m.typ == "volume" && !m.mode.contains("nocopy"))
        {
            self.copy_up(&rootfs, m);
        }
        if !c.config.working_dir.is_empty() && !c.host_config.readonly_rootfs {
            // Like docker, a missing working directory is created.
            berth_image::archive::mkdir_in_root(&rootfs, &c.config.working_dir)?;
        }
        let passwd = read_in_root(&rootfs, "/etc/passwd");
        let group = read_in_root(&rootfs, "/etc/group");
        let user = user::resolve_user(&c.config.user, passwd.as_deref(), group.as_deref())
            .map_err(|e| Error::Invalid(e.to_string()))?;
        let (netns, held) = self.setup_network(c)?;
        let etc = spec::EtcFiles {
            hostname: &dir.join("hostname"),
            hosts: &dir.join("hosts"),
            resolv_conf: &dir.join("resolv.conf"),
            netns: netns.as_deref(),
        };
        let spec = spec::build(c, &user, &etc)?;
        let bytes = serde_json::to_vec(&spec).map_err(|e| Error::Corrupt {
            path: "config.json".into(),
            source: e,
        })?;
        std::fs::write(bundle.join("config.json"), bytes)
            .map_err(|e| Error::io("writing config.json", e))?;
        Ok((bundle, held))
    }

    /// A new (empty) volume takes what the image has at its path, as
    /// docker does. The image path must resolve inside the rootfs.
    fn copy_up(&self, rootfs: &Path, m: &volumes::MountPoint) {
        let data = Path::new(&m.source);
        let empty = std::fs::read_dir(data)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !empty {
            return;
        }
        let Ok(src) = std::fs::canonicalize(rootfs.join(m.destination.trim_start_matches('/')))
        else {
            return;
        };
        let Ok(root) = std::fs::canonicalize(rootfs) else {
            return;
        };
        if !src.starts_with(&root) || !src.is_dir() {
            return;
        }
        if let Err(e) = volumes::copy_tree(&src, data) {
            tracing::warn!(volume = %m.name, error = %e, "copying image content into the volume");
        }
    }

    /// Starts the container and stays attached until it exits (`run`
    /// without `-d`, `start -a`). Returns docker's exit code.
    ///
    /// Clones processes: call only from a single-threaded process.
    pub fn start_attached(&self, reference: &str, interactive: bool) -> Result<i32> {
        self.start(reference, Attach::Terminal { interactive })
    }

    /// Starts the container and waits for it, its output handled as `mode`
    /// says. Returns docker's exit code.
    ///
    /// Clones processes: call only from a single-threaded process.
    pub fn start(&self, reference: &str, mode: Attach) -> Result<i32> {
        // Held until the task runs and the record says so: a second start
        // of the same container then finds it running.
        let lock = {
            let id = self.resolve(reference)?;
            self.record_lock(&id)?
        };
        let mut c = self.get(reference)?;
        if c.state.running {
            return Err(Error::BadState {
                id: c.id.clone(),
                status: "running".into(),
                what: "already started".into(),
            });
        }
        let id = c.id.clone();
        // Whatever a crashed earlier start left (a mount, runtime state) goes first.
        self.teardown(&id);
        c.state.error.clear();
        c.state.manually_stopped = false;
        c.state.oom_killed = false;
        let res = self.run_task(&mut c, mode, lock);
        let oom = self.oom_killed(&id);
        self.teardown(&id);
        // Other commands may have changed the record while it ran (rename,
        // update, stop's flag): start from what is on disk, keep their changes.
        let _lock = self.record_lock(&id)?;
        if let Ok(fresh) = Container::load(&self.record_path(&id)) {
            let state = std::mem::take(&mut c.state);
            c = fresh;
            let stopped = c.state.manually_stopped;
            c.state = state;
            c.state.manually_stopped = stopped;
        }
        c.state.oom_killed = oom;
        match &res {
            Ok(code) => {
                c.state.exit_code = *code;
            }
            Err(e) => {
                c.state.exit_code = match e.kind() {
                    berth_kind::ErrorKind::CommandNotFound => 127,
                    berth_kind::ErrorKind::NotExecutable => 126,
                    _ => 128,
                };
                c.state.error = e.to_string();
            }
        }
        c.state.running = false;
        c.state.paused = false;
        c.state.pid = 0;
        c.state.pid_start = None;
        c.state.monitor = None;
        if c.state.started_at != record::ZERO_TIME {
            c.state.status = Status::Exited;
            c.state.finished_at = now();
        }
        if c.host_config.auto_remove {
            self.destroy_with(&c, true);
        } else if self.record_path(&id).exists() {
            // Not if a concurrent `rm -f` already took it away.
            c.save(&self.record_path(&id))?;
        }
        res
    }

    fn run_task(&self, c: &mut Container, mode: Attach, lock: std::fs::File) -> Result<i32> {
        let (bundle, _held) = self.prepare(c)?;
        let interactive = matches!(mode, Attach::Terminal { interactive: true });
        let mut io = TaskIo::default();
        // Without a terminal the task writes into pipes berth reads, as
        // docker's containers do (their stdout is never berth's terminal).
        let mut pipes = Vec::new();
        if !c.config.tty {
            for stream in [Stream::Stdout, Stream::Stderr] {
                let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
                    .map_err(|e| Error::io("creating a pipe", e.into()))?;
                pipes.push((r, stream));
                match stream {
                    Stream::Stdout => io.stdout = Some(w),
                    Stream::Stderr => io.stderr = Some(w),
                }
            }
        }
        // A detached `-i` container without a terminal reads a pipe that
        // `berth attach` clients feed.
        let mut stdin_pipe = None;
        if matches!(mode, Attach::Detached) && c.config.open_stdin && !c.config.tty {
            let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
                .map_err(|e| Error::io("creating a pipe", e.into()))?;
            io.stdin = Some(r);
            stdin_pipe = Some(w);
        } else if !interactive {
            let null =
                std::fs::File::open("/dev/null").map_err(|e| Error::io("opening /dev/null", e))?;
            io.stdin = Some(null.into());
        }
        let hub = berth_runtime::hub::Hub::new(berth_runtime::hub::bind(&bundle)?)?;
        // The socket is named through an fd of the bundle dir: a unix socket
        // path must fit in 108 bytes, and roots can be long.
        let bundle_dir = std::fs::File::open(&bundle)
            .map_err(|e| Error::io(format!("opening {}", bundle.display()), e))?;
        let listener = if c.config.tty {
            use std::os::fd::AsRawFd;
            let sock = PathBuf::from(format!(
                "/proc/self/fd/{}/console.sock",
                bundle_dir.as_raw_fd()
            ));
            let l = std::os::unix::net::UnixListener::bind(&sock)
                .map_err(|e| Error::io("binding the console socket", e))?;
            io.console_socket = Some(sock);
            Some(l)
        } else {
            None
        };
        let mut task = self.runtime.create(&c.id, &bundle, io)?;
        drop(bundle_dir);
        let master = match &listener {
            Some(l) => Some(berth_runtime::attach::receive_pty_master(l)?),
            None => None,
        };
        let _signals = berth_runtime::attach::SignalGuard::block()?;
        let pid = task.pid();
        // The start time is read before the task execs (it may exit at
        // once); it does not change across exec.
        let pid_start = pid_start_time(pid);
        c.state.started_at = now();
        self.runtime.start(&mut task)?;
        // Recorded as running once its command runs, so `exec` and
        // friends never meet a task still waiting to start.
        c.state.pid = pid;
        c.state.pid_start = pid_start;
        let me = std::process::id() as i32;
        c.state.monitor = pid_start_time(me).map(|s| (me, s));
        c.state.running = true;
        c.state.status = Status::Running;
        c.state.restarting = false;
        c.save(&self.record_path(&c.id))?;
        drop(lock);
        let streams = TaskStreams {
            master,
            interactive,
            pipes,
            hub: Some(hub),
            stdin_pipe,
        };
        let log = || {
            JsonLog::open(Path::new(&c.log_path))
                .map_err(|e| Error::io(format!("opening {}", c.log_path), e))
        };
        let code = match mode {
            Attach::Terminal { .. } if c.host_config.auto_remove || c.log_path.is_empty() => {
                wait_task(pid, streams, &mut StdioSink)?
            }
            Attach::Terminal { .. } => wait_task(pid, streams, &mut Tee(StdioSink, log()?))?,
            Attach::Detached => wait_task(pid, streams, &mut log()?)?,
        };
        Ok(code)
    }

    /// `docker attach`: connects to the running container's stdio through
    /// the process that waits for it. Returns the exit code (once it ends)
    /// or `None` when the user detached.
    pub fn attach(
        &self,
        reference: &str,
        no_stdin: bool,
        sig_proxy: bool,
        detach_keys: &str,
    ) -> Result<Option<i32>> {
        let c = self.get(reference)?;
        if c.state.paused {
            return Err(Error::Invalid(
                "You cannot attach to a paused container, unpause it first".into(),
            ));
        }
        if !c.state.running {
            return Err(Error::Invalid(
                "You cannot attach to a stopped container, start it first".into(),
            ));
        }
        let keys = berth_runtime::hub::parse_detach_keys(detach_keys).map_err(Error::Invalid)?;
        let sock = berth_runtime::hub::connect(&self.bundle(&c.id))
            .map_err(|e| Error::io(format!("attaching to {}", c.id), e))?;
        let o = berth_runtime::hub::ClientOptions {
            tty: c.config.tty,
            stdin: !no_stdin && c.config.open_stdin,
            sig_proxy: (sig_proxy && !c.config.tty).then_some(c.state.pid),
            detach_keys: keys,
        };
        match berth_runtime::hub::attach_client(sock, &o)? {
            berth_runtime::hub::AttachEnd::Detached => Ok(None),
            berth_runtime::hub::AttachEnd::Closed => Ok(Some(self.wait_exit(&c.id, None)?)),
        }
    }

    /// `docker exec`: runs a process in a running container's namespaces and
    /// cgroup and waits for it (unless `detach`). Returns its exit code.
    ///
    /// Clones processes: call only from a single-threaded process.
    pub fn exec(&self, reference: &str, o: &ExecOptions) -> Result<i32> {
        let c = self.get(reference)?;
        if !c.state.running {
            return Err(Error::BadState {
                id: c.id.clone(),
                status: "not running".into(),
                what: format!("container {} is not running", c.id),
            });
        }
        if o.cmd.is_empty() {
            return Err(Error::Invalid("no command specified".into()));
        }
        let bundle = self.bundle(&c.id);
        let spec_path = bundle.join("config.json");
        let spec: oci_spec::runtime::Spec = serde_json::from_slice(
            &std::fs::read(&spec_path)
                .map_err(|e| Error::io(format!("reading {}", spec_path.display()), e))?,
        )
        .map_err(|e| Error::Corrupt {
            path: spec_path.display().to_string(),
            source: e,
        })?;
        let mut process = spec.process().clone().unwrap_or_default();
        process.set_args(Some(o.cmd.clone()));
        let env = envfile::merge_env(process.env().as_deref().unwrap_or_default(), &o.env);
        process.set_env(Some(env));
        if let Some(w) = &o.workdir {
            process.set_cwd(w.into());
        }
        process.set_terminal(Some(o.tty));
        if let Some(u) = &o.user {
            let rootfs = bundle.join("rootfs");
            let passwd = read_in_root(&rootfs, "/etc/passwd");
            let group = read_in_root(&rootfs, "/etc/group");
            let eu = user::resolve_user(u, passwd.as_deref(), group.as_deref())
                .map_err(|e| Error::Invalid(e.to_string()))?;
            let mut pu = process.user().clone();
            pu.set_uid(eu.uid);
            pu.set_gid(eu.gid);
            pu.set_additional_gids(Some(eu.additional_gids));
            process.set_user(pu);
        }
        if o.privileged {
            let all = spec::privileged_caps();
            let set: oci_spec::runtime::Capabilities =
                serde_json::from_value(serde_json::json!(all)).map_err(|e| Error::Corrupt {
                    path: "capabilities".into(),
                    source: e,
                })?;
            let mut caps = process.capabilities().clone().unwrap_or_default();
            caps.set_bounding(Some(set.clone()));
            caps.set_effective(Some(set.clone()));
            caps.set_permitted(Some(set));
            process.set_capabilities(Some(caps));
        }
        let mut io = TaskIo::default();
        if !o.interactive {
            let null =
                std::fs::File::open("/dev/null").map_err(|e| Error::io("opening /dev/null", e))?;
            io.stdin = Some(null.into());
        }
        if o.detach {
            let null = std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/null")
                .map_err(|e| Error::io("opening /dev/null", e))?;
            io.stdout = Some(null.try_clone().map_err(|e| Error::io("dup", e))?.into());
            io.stderr = Some(null.into());
        }
        let bundle_dir = std::fs::File::open(&bundle)
            .map_err(|e| Error::io(format!("opening {}", bundle.display()), e))?;
        let listener = if o.tty {
            use std::os::fd::AsRawFd;
            let name = format!("exec-{}.sock", std::process::id());
            let _ = std::fs::remove_file(bundle.join(&name));
            let sock = PathBuf::from(format!("/proc/self/fd/{}/{name}", bundle_dir.as_raw_fd()));
            let l = std::os::unix::net::UnixListener::bind(&sock)
                .map_err(|e| Error::io("binding the console socket", e))?;
            io.console_socket = Some(sock);
            Some((l, bundle.join(name)))
        } else {
            None
        };
        let pid = self.runtime.exec(&c.id, &bundle, process, io);
        let master = match (&listener, &pid) {
            (Some((l, _)), Ok(_)) => Some(berth_runtime::attach::receive_pty_master(l)),
            _ => None,
        };
        if let Some((_, path)) = &listener {
            let _ = std::fs::remove_file(path);
        }
        let pid = pid?;
        let master = master.transpose()?;
        if o.detach {
            return Ok(0);
        }
        let _signals = berth_runtime::attach::SignalGuard::block()?;
        let streams = TaskStreams {
            master,
            interactive: o.interactive,
            ..TaskStreams::default()
        };
        Ok(wait_task(pid, streams, &mut StdioSink)?)
    }

    /// One usage sample of a running container (`docker stats`).
    pub fn stats(&self, c: &Container) -> stats::Sample {
        stats::sample(&cgroup_path(&c.id), c.state.pid)
    }

    /// `docker diff`: what the container added, changed and deleted.
    pub fn diff(&self, reference: &str) -> Result<Vec<fsdiff::Change>> {
        let c = self.get(reference)?;
        let image = self.images.get(&c.image)?;
        let lowers = image
            .layers
            .iter()
            .rev()
            .map(|l| self.images.snapshot_fs(l))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(fsdiff::changes(&self.dir(&c.id).join("upper"), &lowers))
    }

    /// `docker export`: the container's filesystem as a tar.
    pub fn export(&self, reference: &str, out: &mut dyn std::io::Write) -> Result<()> {
        let c = self.get(reference)?;
        self.with_rootfs(&c, |root| {
            fsdiff::export(root, out).map_err(|e| Error::io("exporting", e))
        })
    }

    /// `docker cp CONTAINER:PATH DEST`.
    pub fn copy_from(
        &self,
        reference: &str,
        path: &str,
        dest: CopyDest<'_>,
        o: &CopyOptions,
    ) -> Result<()> {
        let c = self.get(reference)?;
        self.with_roots(&c, |roots| copy::copy_from(roots, reference, path, dest, o))
    }

    /// `docker cp SRC CONTAINER:PATH`.
    pub fn copy_to(
        &self,
        reference: &str,
        path: &str,
        source: CopySource<'_>,
        o: &CopyOptions,
    ) -> Result<()> {
        let c = self.get(reference)?;
        let in_rw_mount = c.mounts.iter().any(|m| {
            m.rw && (path == m.destination
                || path.starts_with(&format!("{}/", m.destination.trim_end_matches('/'))))
        });
        if c.host_config.readonly_rootfs && !in_rw_mount {
            return Err(Error::Invalid(
                "container rootfs is marked read-only".into(),
            ));
        }
        self.with_roots(&c, |roots| copy::copy_to(roots, reference, path, source, o))
    }

    /// Run `f` on the container's filesystem as its processes see it: the
    /// live view (with every mount) when it runs, else its rootfs with the
    /// bind and volume mounts from the record.
    fn with_roots<T>(&self, c: &Container, f: impl FnOnce(&copy::Roots) -> Result<T>) -> Result<T> {
        if c.state.running
            && c.state.pid > 0
            && c.state.pid_start.is_some()
            && pid_start_time(c.state.pid) == c.state.pid_start
        {
            return f(&copy::Roots {
                rootfs: PathBuf::from(format!("/proc/{}/root", c.state.pid)),
                mounts: Vec::new(),
            });
        }
        self.with_rootfs(c, |rootfs| {
            let mut mounts: Vec<(String, PathBuf)> = c
                .mounts
                .iter()
                .filter(|m| m.typ != "tmpfs" && !m.source.is_empty())
                .map(|m| (m.destination.clone(), PathBuf::from(&m.source)))
                .collect();
            mounts.sort_by_key(|(d, _)| std::cmp::Reverse(d.len()));
            f(&copy::Roots {
                rootfs: rootfs.to_path_buf(),
                mounts,
            })
        })
    }

    /// Runs `f` on an image's filesystem, read-only (a single layer's
    /// snapshot as it is, several as a lower-only overlay mounted aside).
    pub fn with_image_rootfs<T>(
        &self,
        image: &str,
        f: impl FnOnce(&Path) -> Result<T>,
    ) -> Result<T> {
        let img = self.images.get(image)?;
        let lowers = img
            .layers
            .iter()
            .rev()
            .map(|l| self.images.snapshot_fs(l))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        match lowers.len() {
            0 => {
                let empty = self.runroot.join(format!(".empty-{}", std::process::id()));
                std::fs::create_dir_all(&empty)
                    .map_err(|e| Error::io(format!("creating {}", empty.display()), e))?;
                let res = f(&empty);
                let _ = std::fs::remove_dir(&empty);
                res
            }
            1 => f(&lowers[0]),
            _ => {
                let target = self.runroot.join(format!(
                    ".image-{}-{}",
                    img.id.trim_start_matches("sha256:"),
                    std::process::id()
                ));
                std::fs::create_dir_all(&target)
                    .map_err(|e| Error::io(format!("creating {}", target.display()), e))?;
                let lower: Vec<String> = lowers.iter().map(|p| p.display().to_string()).collect();
                let m = oci_spec::runtime::MountBuilder::default()
                    .destination("/")
                    .typ("overlay")
                    .source("overlay")
                    .options(vec![
                        "ro".to_string(),
                        format!("lowerdir={}", lower.join(":")),
                    ])
                    .build()
                    .map_err(|e| Error::Invalid(format!("overlay mount: {e}")))?;
                let res = berth_runtime::mount::mount_rootfs(&[m], &target)
                    .map_err(Error::from)
                    .and_then(|()| f(&target));
                let _ = berth_runtime::mount::unmount(&target);
                let _ = std::fs::remove_dir(&target);
                res
            }
        }
    }

    /// Locks the container's rootfs mount against a concurrent start,
    /// teardown or aside mount.
    fn rootfs_lock(&self, id: &str) -> Result<std::fs::File> {
        self.lock_file(id, "rootfs.lock")
    }

    /// Locks the container's record for a read-modify-write: every change
    /// of a record by a command other than its creation holds it, so two
    /// commands never lose each other's changes.
    fn record_lock(&self, id: &str) -> Result<std::fs::File> {
        self.lock_file(id, "record.lock")
    }

    /// Loads the record under its lock, lets `f` change it, and saves it.
    fn modify<T>(
        &self,
        reference: &str,
        f: impl FnOnce(&mut Container) -> Result<T>,
    ) -> Result<(Container, T)> {
        let id = self.resolve(reference)?;
        let _lock = self.record_lock(&id)?;
        let mut c = self.load(&id)?;
        let t = f(&mut c)?;
        if self.record_path(&id).exists() {
            c.save(&self.record_path(&id))?;
        }
        Ok((c, t))
    }

    fn lock_file(&self, id: &str, name: &str) -> Result<std::fs::File> {
        let p = self.dir(id).join(name);
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(|e| Error::io(format!("opening {}", p.display()), e))?;
        rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| Error::io(format!("locking {}", p.display()), e.into()))?;
        Ok(f)
    }

    /// Run `f` on the container's merged rootfs (without its mounts),
    /// mounting it aside when the container is not running.
    fn with_rootfs<T>(&self, c: &Container, f: impl FnOnce(&Path) -> Result<T>) -> Result<T> {
        let _lock = self.rootfs_lock(&c.id)?;
        let rootfs = self.bundle(&c.id).join("rootfs");
        if berth_runtime::mount::is_mounted(&rootfs) {
            return f(&rootfs);
        }
        let dir = self.dir(&c.id);
        let (upper, work) = (dir.join("upper"), dir.join("work"));
        let target =
            self.runroot
                .join("containers")
                .join(format!(".aside-{}-{}", c.id, std::process::id()));
        for d in [&upper, &work, &target] {
            std::fs::create_dir_all(d)
                .map_err(|e| Error::io(format!("creating {}", d.display()), e))?;
        }
        let mounts = self.images.rootfs_mounts(&c.image, &upper, &work)?;
        let res = berth_runtime::mount::mount_rootfs(&mounts, &target)
            .map_err(Error::from)
            .and_then(|()| f(&target));
        let _ = berth_runtime::mount::unmount(&target);
        let _ = std::fs::remove_dir(&target);
        res
    }

    /// `docker update`: new limits in the record and, when it runs, in
    /// its cgroup. Returns the container.
    pub fn update(&self, reference: &str, u: &ResourceUpdate) -> Result<Container> {
        let id = self.resolve(reference)?;
        let _lock = self.record_lock(&id)?;
        let mut c = self.load(&id)?;
        let old = c.host_config.resources.clone();
        let r = &mut c.host_config.resources;
        if let Some(m) = u.memory {
            if u.memory_swap.is_none() && r.memory_swap > 0 && m > r.memory_swap {
                return Err(Error::Invalid("Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time".into()));
            }
            r.memory = m;
        }
        if let Some(v) = u.memory_swap {
            r.memory_swap = v;
        }
        if let Some(v) = u.memory_reservation {
            r.memory_reservation = v;
        }
        if let Some(v) = u.nano_cpus {
            r.nano_cpus = v;
        }
        if let Some(v) = u.cpu_shares {
            r.cpu_shares = v;
        }
        if let Some(v) = &u.cpuset_cpus {
            r.cpuset_cpus = v.clone();
        }
        if let Some(v) = u.pids_limit {
            r.pids_limit = Some(v);
        }
        check_resources(r)?;
        if let Some(p) = &u.restart {
            if c.host_config.auto_remove && !p.name.is_empty() && p.name != "no" {
                return Err(Error::Invalid(
                    "Restart policy cannot be updated because AutoRemove is enabled for the container"
                        .into(),
                ));
            }
            c.host_config.restart_policy = p.clone();
        }
        if c.state.running && c.host_config.resources != old {
            let json = spec::resources_json(&c.host_config.resources);
            let resources: oci_spec::runtime::LinuxResources = serde_json::from_value(json)
                .map_err(|e| Error::Invalid(format!("resources: {e}")))?;
            self.runtime
                .update(&c.id, &cgroup_path(&c.id), &resources)
                .map_err(|e| Error::Invalid(format!("Cannot update container {}: {e}", c.id)))?;
        }
        c.save(&self.record_path(&c.id))?;
        Ok(c)
    }

    /// `docker pause` / `docker unpause`.
    pub fn set_paused(&self, reference: &str, paused: bool) -> Result<Container> {
        let id = self.resolve(reference)?;
        let _lock = self.record_lock(&id)?;
        let mut c = self.load(&id)?;
        if !c.state.running {
            return Err(Error::BadState {
                id: c.id.clone(),
                status: "not running".into(),
                what: format!("Container {} is not running", c.id),
            });
        }
        if c.state.paused == paused {
            return Err(Error::BadState {
                id: c.id.clone(),
                status: if paused { "paused" } else { "not paused" }.into(),
                what: if paused {
                    format!("Container {} is already paused", c.id)
                } else {
                    format!("Container {} is not paused", c.id)
                },
            });
        }
        self.runtime.freeze(&c.id, paused)?;
        c.state.paused = paused;
        c.state.status = if paused {
            Status::Paused
        } else {
            Status::Running
        };
        c.save(&self.record_path(&c.id))?;
        Ok(c)
    }

    /// `docker rename`.
    pub fn rename(&self, reference: &str, new_name: &str) -> Result<()> {
        let id = self.resolve(reference)?;
        let _lock = self.record_lock(&id)?;
        let mut c = self.load(&id)?;
        let new_name = new_name.trim_start_matches('/');
        if !names::is_valid(new_name) {
            return Err(Error::InvalidName(new_name.to_string()));
        }
        if c.short_name() == new_name {
            return Err(Error::Invalid(
                "Renaming a container with the same name as its current name".into(),
            ));
        }
        self.reserve_name(new_name, &c.id)?;
        let old = c.short_name().to_string();
        c.name = format!("/{new_name}");
        if let Err(e) = c.save(&self.record_path(&c.id)) {
            let _ = std::fs::remove_file(self.root.join("names").join(new_name));
            return Err(e);
        }
        let _ = std::fs::remove_file(self.root.join("names").join(old));
        Ok(())
    }

    /// Host pids of every process in the container (its cgroup).
    pub fn pids(&self, reference: &str) -> Result<(Container, Vec<i32>)> {
        let c = self.get(reference)?;
        if !c.state.running {
            return Err(Error::BadState {
                id: c.id.clone(),
                status: "not running".into(),
                what: format!("container {} is not running", c.id),
            });
        }
        let path = cgroup_path(&c.id);
        let path = path.trim_start_matches('/');
        for base in [
            "/sys/fs/cgroup/pids",
            "/sys/fs/cgroup/memory",
            "/sys/fs/cgroup",
        ] {
            if let Ok(s) = std::fs::read_to_string(Path::new(base).join(path).join("cgroup.procs"))
            {
                let pids = s.lines().filter_map(|l| l.trim().parse().ok()).collect();
                return Ok((c, pids));
            }
        }
        Ok((c.clone(), vec![c.state.pid]))
    }

    /// Whether the kernel's OOM killer killed something in the container's
    /// cgroup (v1 `memory.oom_control`, v2 `memory.events`).
    fn oom_killed(&self, id: &str) -> bool {
        let v1 = format!("/sys/fs/cgroup/memory/berth/{id}/memory.oom_control");
        let v2 = format!("/sys/fs/cgroup/berth/{id}/memory.events");
        [v1, v2].iter().any(|p| {
            std::fs::read_to_string(p).is_ok_and(|s| {
                s.lines().any(|l| {
                    l.strip_prefix("oom_kill ")
                        .is_some_and(|n| n.trim().parse::<u64>().unwrap_or(0) > 0)
                })
            })
        })
    }

    /// Sends `signal` to the container's pid 1.
    pub fn kill(&self, reference: &str, signal: i32) -> Result<Container> {
        let c = self.get(reference)?;
        if !c.state.running {
            return Err(Error::BadState {
                id: c.id.clone(),
                status: "not running".into(),
                what: format!("cannot kill container: {reference}"),
            });
        }
        if signal == 9 {
            let mut c2 = c.clone();
            self.mark_stopped(&mut c2);
        }
        self.signal(&c, signal)?;
        Ok(c)
    }

    fn signal(&self, c: &Container, signal: i32) -> Result<()> {
        if pid_start_time(c.state.pid) != c.state.pid_start {
            return Ok(());
        }
        if c.state.paused && matches!(signal, 9 | 15) {
            // A frozen process cannot act on a signal: thaw it, as docker does.
            let _ = self.runtime.freeze(&c.id, false);
        }
        let pid = rustix::process::Pid::from_raw(c.state.pid)
            .ok_or_else(|| Error::Invalid(format!("bad pid {}", c.state.pid)))?;
        let sig = rustix::process::Signal::from_named_raw(signal)
            .ok_or_else(|| Error::Invalid(format!("Invalid signal: {signal}")))?;
        match rustix::process::kill_process(pid, sig) {
            Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
            Err(e) => Err(Error::io(format!("signalling {}", c.short_id()), e.into())),
        }
    }

    /// Marks the container as stopped by the user (so restart policies
    /// leave it alone) and writes the record.
    fn mark_stopped(&self, c: &mut Container) {
        let restarting = c.state.restarting;
        let res = self.modify(&c.id, |fresh| {
            fresh.state.manually_stopped = true;
            if restarting && !fresh.state.running {
                fresh.state.restarting = false;
                fresh.state.status = Status::Exited;
            }
            Ok(())
        });
        if let Ok((fresh, ())) = res {
            *c = fresh;
        }
    }

    /// Waits until the container's process is gone, up to `timeout`.
    fn wait_gone(&self, c: &Container, timeout: std::time::Duration) -> bool {
        let until = std::time::Instant::now() + timeout;
        loop {
            if pid_start_time(c.state.pid) != c.state.pid_start {
                return true;
            }
            if std::time::Instant::now() >= until {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// `docker stop`: the stop signal (`signal`, else the image's
    /// STOPSIGNAL, else SIGTERM), then SIGKILL after `timeout`. Returns once
    /// the record shows the container exited.
    pub fn stop(
        &self,
        reference: &str,
        signal: Option<i32>,
        timeout: std::time::Duration,
    ) -> Result<()> {
        let mut c = self.get(reference)?;
        if !c.state.running {
            if c.state.restarting {
                // Cancel the pending restart.
                self.mark_stopped(&mut c);
            }
            return Ok(());
        }
        self.mark_stopped(&mut c);
        let sig = match signal {
            Some(s) => s,
            None => match &c.config.stop_signal {
                Some(s) => opts::parse_signal(s).map_err(Error::Invalid)?,
                None => 15,
            },
        };
        self.signal(&c, sig)?;
        if !self.wait_gone(&c, timeout) {
            self.signal(&c, 9)?;
            self.wait_gone(&c, std::time::Duration::from_secs(10));
        }
        // The monitor (or attached berth) records the exit; give it a moment.
        self.wait_exit(&c.id, Some(std::time::Duration::from_secs(5)))?;
        Ok(())
    }

    /// Waits until the container is not running and returns its exit code
    /// (`docker wait`); `None` waits for ever.
    pub fn wait_exit(&self, reference: &str, timeout: Option<std::time::Duration>) -> Result<i32> {
        let id = self.resolve(reference)?;
        let start = std::time::Instant::now();
        let mut delay = std::time::Duration::from_millis(2);
        loop {
            match self.load(&id) {
                Ok(c) if !c.state.running => return Ok(c.state.exit_code),
                Ok(_) => {}
                Err(Error::NoSuchContainer(_)) => {
                    return Err(Error::NoSuchContainer(reference.into()))
                }
                Err(e) => return Err(e),
            }
            if timeout.is_some_and(|t| start.elapsed() >= t) {
                return Ok(-1);
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(std::time::Duration::from_millis(100));
        }
    }

    /// Counts one more restart (restart policies).
    /// The monitor waits to restart the container: `Restarting` until it
    /// starts again, unless the user stopped it meanwhile.
    pub fn set_restarting(&self, id: &str) -> Result<()> {
        self.modify(id, |c| {
            if c.state.manually_stopped || c.state.running {
                return Ok(());
            }
            c.state.restarting = true;
            c.state.status = Status::Restarting;
            let me = std::process::id() as i32;
            c.state.monitor = pid_start_time(me).map(|s| (me, s));
            Ok(())
        })
        .map(drop)
    }

    /// Counts one more restart (restart policies).
    pub fn count_restart(&self, id: &str) -> Result<()> {
        self.modify(id, |c| {
            c.restart_count += 1;
            Ok(())
        })
        .map(drop)
    }

    /// Removes everything of a container: task, mounts, dirs, name, and its
    /// anonymous volumes when `volumes` is set.
    fn destroy_with(&self, c: &Container, volumes: bool) {
        self.destroy(c);
        if volumes {
            for m in c.mounts.iter().filter(|m| m.typ == "volume") {
                if self.volumes.get(&m.name).is_ok_and(|v| v.anonymous)
                    && self.volume_users(&m.name).is_empty()
                {
                    let _ = self.volumes.remove(&m.name);
                }
            }
        }
    }

    /// Removes everything of a container: task, mounts, dirs, name.
    fn destroy(&self, c: &Container) {
        self.teardown(&c.id);
        // Move the dir out of the way first: the record vanishes at once and
        // a monitor finishing at the same moment cannot write it back.
        let dir = self.dir(&c.id);
        let gone =
            self.root
                .join("containers")
                .join(format!(".removing-{}-{}", c.id, std::process::id()));
        match std::fs::rename(&dir, &gone) {
            Ok(()) => {
                if let Err(e) = std::fs::remove_dir_all(&gone) {
                    tracing::warn!(id = %c.id, error = %e, "removing container dir");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(id = %c.id, error = %e, "removing container dir"),
        }
        let name = self.root.join("names").join(c.short_name());
        if std::fs::read_to_string(&name).is_ok_and(|s| s.trim() == c.id) {
            let _ = std::fs::remove_file(name);
        }
    }

    /// `docker rm [-f] [-v]`.
    pub fn remove_with_volumes(&self, reference: &str, force: bool, volumes: bool) -> Result<()> {
        let c = self.get(reference)?;
        self.remove(&c.id, force)?;
        if volumes {
            self.destroy_with(&c, true);
        }
        Ok(())
    }

    /// `docker rm [-f]`.
    pub fn remove(&self, reference: &str, force: bool) -> Result<()> {
        let c = self.get(reference)?;
        if c.state.running {
            if !force {
                return Err(Error::RemoveRunning {
                    name: c.short_name().to_string(),
                });
            }
            if c.state.paused {
                let _ = self.runtime.freeze(&c.id, false);
            }
            let _ = self.runtime.kill(&c.id, 9);
            let _ = rustix::process::kill_process(
                rustix::process::Pid::from_raw(c.state.pid)
                    .ok_or(Error::Invalid("bad pid".into()))?,
                rustix::process::Signal::KILL,
            );
            for _ in 0..500 {
                if pid_start_time(c.state.pid) != c.state.pid_start {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
        self.destroy(&c);
        Ok(())
    }

    /// Ids of containers that use `image_id`.
    pub fn image_users(&self, image_id: &str) -> Vec<Container> {
        self.list()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c.image == image_id)
            .collect()
    }

    /// Bytes written by the container (its upper dir).
    pub fn size_rw(&self, id: &str) -> u64 {
        du(&self.dir(id).join("upper"))
    }

    /// `docker inspect` of a container.
    pub fn inspect(&self, c: &Container) -> serde_json::Value {
        let mut v = serde_json::to_value(c).unwrap_or_default();
        let dir = self.dir(&c.id);
        v["GraphDriver"] = serde_json::json!({
            "Name": "overlay2",
            "Data": {
                "MergedDir": self.bundle(&c.id).join("rootfs"),
                "UpperDir": dir.join("upper"),
                "WorkDir": dir.join("work"),
            }
        });
        v["Mounts"] = serde_json::to_value(&c.mounts).unwrap_or_default();
        v["NetworkSettings"] = self.network_settings(c);
        if let Some(o) = v.as_object_mut() {
            if let Some(s) = o.get_mut("State").and_then(|s| s.as_object_mut()) {
                s.remove("BerthPidStart");
                s.remove("BerthManuallyStopped");
                s.remove("BerthMonitor");
            }
        }
        v
    }
}
