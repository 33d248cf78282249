//! Container commands: run, create, start, ps, rm, inspect, prune, info.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use berth_engine::record::{Container, Status, Ulimit};
use berth_engine::{CreateOptions, Engine};
use berth_kind::ErrorKind;
use chrono::{DateTime, Utc};
use clap::Args;
use serde_json::{json, Value};

use crate::{format, run_code, units, Cli, CmdResult, Failure, InspectArgs, PruneArgs};

/// Flags of `run` and `create`.
#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Print help
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Run container in background and print container ID
    #[arg(short, long)]
    pub detach: bool,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables
    #[arg(short, long = "env", value_name = "list")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "list")]
    pub env_file: Vec<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short, long)]
    pub user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long)]
    pub init: bool,
    /// Add Linux capabilities
    #[arg(long = "cap-add", value_name = "list")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop", value_name = "list")]
    pub cap_drop: Vec<String>,
    /// Give extended privileges to this container
    #[arg(long)]
    pub privileged: bool,
    /// Security Options
    #[arg(long = "security-opt", value_name = "list")]
    pub security_opt: Vec<String>,
    /// Ulimit options
    #[arg(long, value_name = "ulimit")]
    pub ulimit: Vec<String>,
    /// Set meta data on a container
    #[arg(short, long, value_name = "list")]
    pub label: Vec<String>,
    /// Connect a container to a network (bridge, none, host, container:NAME, or a network's name)
    #[arg(long, alias = "net", default_value = "bridge")]
    pub network: String,
    /// Publish a container's port(s) to the host
    #[arg(short, long, value_name = "list")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias", alias = "net-alias", value_name = "list")]
    pub network_alias: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long)]
    pub ip: Option<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(long = "mac-address")]
    pub mac_address: Option<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host", value_name = "list")]
    pub add_host: Vec<String>,
    /// Set custom DNS servers
    #[arg(long, value_name = "list")]
    pub dns: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search", value_name = "list")]
    pub dns_search: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option", alias = "dns-opt", value_name = "list")]
    pub dns_option: Vec<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Restart policy to apply when a container exits (no, on-failure[:max-retries], always, unless-stopped)
    #[arg(long)]
    pub restart: Option<String>,
    #[command(flatten)]
    pub res: ResourceArgs,
    /// Disable OOM Killer
    #[arg(long = "oom-kill-disable")]
    pub oom_kill_disable: bool,
    /// Bind mount a volume
    #[arg(short, long, value_name = "list")]
    pub volume: Vec<String>,
    /// Attach a filesystem mount to the container
    #[arg(long, value_name = "mount")]
    pub mount: Vec<String>,
    /// Mount a tmpfs directory
    #[arg(long, value_name = "list")]
    pub tmpfs: Vec<String>,
    /// Mount volumes from the specified container(s)
    #[arg(long = "volumes-from", value_name = "list")]
    pub volumes_from: Vec<String>,
    /// Pull image before running ("always", "missing", "never")
    #[arg(long, default_value = "missing")]
    pub pull: String,
    /// Image
    pub image: String,
    /// Command and arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// Flags of `start`.
#[derive(Args, Debug)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short, long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short, long)]
    pub interactive: bool,
    /// Containers
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// Flags of `ps`.
#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Only display container IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Show the latest created container (includes all states)
    #[arg(short, long)]
    pub latest: bool,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long, default_value_t = -1)]
    pub last: i64,
    /// Display total file sizes
    #[arg(short, long)]
    pub size: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Filter output based on conditions provided
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
}

/// Flags of `rm`.
#[derive(Args, Debug)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short, long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short, long)]
    pub volumes: bool,
    /// Containers
    #[arg(required = true)]
    pub containers: Vec<String>,
}

fn host_env(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

fn create_options(a: &RunArgs) -> Result<CreateOptions, Failure> {
    let bad = |m: String| Failure::new(125, m);
    let mut env = Vec::new();
    for f in &a.env_file {
        let content =
            std::fs::read_to_string(f).map_err(|e| bad(format!("open {f}: {}", io_msg(&e))))?;
        env.extend(
            berth_engine::envfile::parse_env_file(&content, &host_env)
                .map_err(|e| bad(e.to_string()))?,
        );
    }
    for e in &a.env {
        env.extend(berth_engine::envfile::parse_env_flag(e, &host_env));
    }
    let mut ulimits = Vec::new();
    for u in &a.ulimit {
        let (name, soft, hard) = berth_engine::opts::parse_ulimit(u).map_err(|e| {
            bad(format!(
                "invalid argument \"{u}\" for \"--ulimit\" flag: {e}"
            ))
        })?;
        let name = name.trim_start_matches("RLIMIT_").to_lowercase();
        ulimits.push(Ulimit { name, soft, hard });
    }
    let mut labels = BTreeMap::new();
    for l in &a.label {
        let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
        labels.insert(k.to_string(), v.to_string());
    }
    Ok(CreateOptions {
        image: a.image.clone(),
        name: a.name.clone(),
        cmd: a.command.clone(),
        entrypoint: a.entrypoint.clone(),
        env,
        workdir: a.workdir.clone(),
        user: a.user.clone(),
        hostname: a.hostname.clone(),
        tty: a.tty,
        interactive: a.interactive,
        attach: !a.detach,
        auto_remove: a.rm,
        init: a.init,
        cap_add: a.cap_add.clone(),
        cap_drop: a.cap_drop.clone(),
        privileged: a.privileged,
        security_opt: a.security_opt.clone(),
        ulimits,
        labels,
        network: a.network.clone(),
        publish: a.publish.clone(),
        publish_all: a.publish_all,
        network_aliases: a.network_alias.clone(),
        ip: a.ip.clone(),
        mac_address: a.mac_address.clone(),
        add_hosts: a.add_host.clone(),
        dns: a.dns.clone(),
        dns_search: a.dns_search.clone(),
        dns_options: a.dns_option.clone(),
        read_only: a.read_only,
        restart: a.restart.clone(),
        resources: resources(a)?,
        volumes: a.volume.clone(),
        mounts: a.mount.clone(),
        tmpfs: a.tmpfs.clone(),
        volumes_from: a.volumes_from.clone(),
    })
}

fn parse_bytes_flag(flag: &str, v: &Option<String>) -> Result<Option<i64>, Failure> {
    match v.as_deref() {
        None => Ok(None),
        Some("-1") => Ok(Some(-1)),
        Some(s) => units::parse_bytes(s).map(Some).map_err(|e| {
            Failure::new(
                125,
                format!("invalid argument \"{s}\" for \"{flag}\" flag: {e}"),
            )
        }),
    }
}

impl ResourceArgs {
    /// The flags given, as an update (`None` = not given).
    fn to_update(&self) -> Result<berth_engine::ResourceUpdate, Failure> {
        let nano_cpus = match self.cpus.as_deref() {
            None => None,
            Some(s) => {
                let f: f64 = s
                    .parse()
                    .map_err(|_| Failure::new(125, format!("invalid argument \"{s}\" for \"--cpus\" flag: failed to parse {s} as a rational number")))?;
                Some((f * 1e9).round() as i64)
            }
        };
        Ok(berth_engine::ResourceUpdate {
            memory: parse_bytes_flag("-m, --memory", &self.memory)?,
            memory_swap: parse_bytes_flag("--memory-swap", &self.memory_swap)?,
            memory_reservation: parse_bytes_flag("--memory-reservation", &self.memory_reservation)?,
            nano_cpus,
            cpu_shares: self.cpu_shares,
            cpuset_cpus: self.cpuset_cpus.clone(),
            pids_limit: self.pids_limit,
            restart: None,
        })
    }
}

fn resources(a: &RunArgs) -> Result<berth_engine::record::Resources, Failure> {
    let u = a.res.to_update()?;
    Ok(berth_engine::record::Resources {
        memory: u.memory.unwrap_or(0),
        memory_swap: u.memory_swap.unwrap_or(0),
        memory_reservation: u.memory_reservation.unwrap_or(0),
        nano_cpus: u.nano_cpus.unwrap_or(0),
        cpu_shares: u.cpu_shares.unwrap_or(0),
        cpuset_cpus: u.cpuset_cpus.unwrap_or_default(),
        pids_limit: u.pids_limit,
        oom_kill_disable: a.oom_kill_disable.then_some(true),
    })
}

/// Flags of `attach`.
#[derive(Args, Debug)]
pub struct AttachArgs {
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", default_value = "ctrl-p,ctrl-q")]
    pub detach_keys: String,
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long = "sig-proxy", default_value = "true", action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub sig_proxy: bool,
    /// Container
    pub container: String,
}

/// `docker attach`: exits with the container's code, or 0 after detaching.
pub fn attach(e: &Engine, a: &AttachArgs) -> CmdResult {
    match e.attach(&a.container, a.no_stdin, a.sig_proxy, &a.detach_keys)? {
        Some(code) => Ok(code.clamp(0, 255) as u8),
        None => {
            eprintln!("read escape sequence");
            Ok(0)
        }
    }
}

/// Flags of `commit`.
#[derive(Args, Debug)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short, long, default_value = "")]
    pub author: String,
    /// Apply Dockerfile instruction to the created image
    #[arg(short, long, value_name = "list")]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short, long, default_value = "")]
    pub message: String,
    /// Pause container during commit
    #[arg(short, long, default_value = "true", action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub pause: bool,
    /// Container
    pub container: String,
    /// REPOSITORY[:TAG]
    pub reference: Option<String>,
}

/// `docker commit`: prints the new image id.
pub fn commit(e: &Engine, a: &CommitArgs) -> CmdResult {
    let id = e.commit(
        &a.container,
        &berth_engine::CommitOptions {
            reference: a.reference.clone(),
            author: a.author.clone(),
            message: a.message.clone(),
            changes: a.change.clone(),
            pause: a.pause,
        },
    )?;
    println!("{id}");
    Ok(0)
}

/// Flags of `update`.
#[derive(Args, Debug)]
pub struct UpdateArgs {
    #[command(flatten)]
    pub res: ResourceArgs,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    pub restart: Option<String>,
    /// Containers
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `docker update`: prints each container as named, like docker.
pub fn update(e: &Engine, a: &UpdateArgs) -> CmdResult {
    let mut u = a.res.to_update()?;
    if let Some(r) = &a.restart {
        u.restart =
            Some(berth_engine::record::RestartPolicy::parse(r).map_err(|m| Failure::new(1, m))?);
    }
    for_each(&a.containers, |name| {
        e.update(name, &u)
            .map(|_| name.to_string())
            .map_err(|err| err.to_string())
    })
}

fn io_msg(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Pull `a.image` per `--pull` by running `berth pull` as a child process:
/// this process forks containers and must stay single-threaded.
fn pull_for_run(e: &Engine, cli: &Cli, a: &RunArgs) -> Result<(), Failure> {
    let policy = a.pull.as_str();
    let missing = || e.images().get(&a.image).is_err();
    let needed = match policy {
        "always" => true,
        "missing" => missing(),
        "never" => false,
        p => {
            return Err(Failure::new(
                125,
                format!(
                "invalid pull option: '{p}': must be one of \"always\", \"missing\" or \"never\""
            ),
            ))
        }
    };
    if !needed || a.image.starts_with("sha256:") {
        return Ok(());
    }
    if policy == "missing" {
        eprintln!("Unable to find image '{}' locally", familiar(&a.image));
    }
    pull_child(cli, &a.image)
}

/// Runs `berth pull IMAGE` as a child process (this one must stay
/// single-threaded), its progress going to our stderr.
pub(crate) fn pull_child(cli: &Cli, image: &str) -> Result<(), Failure> {
    let exe = std::env::current_exe().map_err(|err| Failure::new(125, err.to_string()))?;
    let out = std::process::Command::new(exe)
        .arg("--root")
        .arg(&cli.root)
        .arg("--runroot")
        .arg(&cli.runroot)
        .arg("--log-level")
        .arg(&cli.log_level)
        .arg("pull")
        .arg(image)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .output()
        .map_err(|err| Failure::new(125, format!("running berth pull: {err}")))?;
    // docker prints the pull's progress on stderr for run/create
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines: Vec<&str> = text.lines().collect();
    if out.status.success() {
        lines.pop(); // the bare reference docker pull ends with
    }
    for l in lines {
        eprintln!("{l}");
    }
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let msg = err.trim().trim_start_matches("Error: ").to_string();
        return Err(Failure::new(125, msg));
    }
    Ok(())
}

fn create_container(e: &Engine, cli: &Cli, a: &RunArgs) -> Result<Container, Failure> {
    pull_for_run(e, cli, a)?;
    let o = create_options(a)?;
    e.create(&o).map_err(|err| {
        if let berth_engine::Error::Image(ie) = &err {
            if ie.kind() == ErrorKind::NotFound && a.pull == "never" {
                eprintln!("Unable to find image '{}' locally", familiar(&a.image));
            }
        }
        Failure::new(run_code(err.kind()), err.to_string())
    })
}

/// `busybox` → `busybox:latest`, as docker prints it.
fn familiar(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if last.contains(':') || image.contains('@') || image.starts_with("sha256:") {
        image.to_string()
    } else {
        format!("{image}:latest")
    }
}

/// `docker create`.
pub fn create(e: &Engine, cli: &Cli, a: &RunArgs) -> CmdResult {
    let c = create_container(e, cli, a)?;
    println!("{}", c.id);
    Ok(0)
}

/// `docker run`.
pub fn run(e: &Engine, cli: &Cli, a: &RunArgs) -> CmdResult {
    let c = create_container(e, cli, a)?;
    if a.detach {
        start_detached(e, cli, &c)?;
        println!("{}", c.id);
        return Ok(0);
    }
    match e.start_attached(&c.id, a.interactive) {
        Ok(code) => Ok(u8::try_from(code).unwrap_or(255)),
        Err(err) => {
            // A container that never started leaves nothing behind.
            if e.get(&c.id)
                .is_ok_and(|c| c.state.started_at == berth_engine::record::ZERO_TIME)
            {
                let _ = e.remove(&c.id, true);
            }
            Err(Failure::new(run_code(err.kind()), err.to_string()))
        }
    }
}

/// Starts `c` under a monitor process (`berth __monitor ID`) that outlives
/// this command, and waits until the task runs or fails to start.
fn start_detached(e: &Engine, cli: &Cli, c: &Container) -> Result<(), Failure> {
    let exe = std::env::current_exe().map_err(|err| Failure::new(125, err.to_string()))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--root")
        .arg(&cli.root)
        .arg("--runroot")
        .arg(&cli.runroot)
        .arg("--log-level")
        .arg(&cli.log_level)
        .arg("__monitor")
        .arg(&c.id)
        .stdin(std::process::Stdio::null());
    // Until container logs land, a detached container's output and the
    // monitor's own messages go to one plain file beside the record.
    let log = e.root().join("containers").join(&c.id).join("console.log");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|err| Failure::new(125, format!("opening {}: {err}", log.display())))?;
    let f2 = f
        .try_clone()
        .map_err(|err| Failure::new(125, err.to_string()))?;
    cmd.stdout(f).stderr(f2);
    let before = (
        c.state.started_at.clone(),
        c.state.finished_at.clone(),
        c.state.error.clone(),
    );
    let mut child = cmd
        .spawn()
        .map_err(|err| Failure::new(125, format!("starting the monitor: {err}")))?;
    for _ in 0..3000 {
        let cur = match e.get(&c.id) {
            Ok(cur) => cur,
            // Removed already (a failed --rm start, or a quick --rm exit).
            Err(_) => return Ok(()),
        };
        // This start's outcome, not the previous run's: running, or a
        // state that changed since (it ran and exited, or failed).
        let changed = cur.state.started_at != before.0
            || cur.state.finished_at != before.1
            || cur.state.error != before.2;
        if cur.state.running || changed {
            if !cur.state.error.is_empty()
                && !cur.state.running
                && cur.state.status != Status::Exited
            {
                let code = match cur.state.exit_code {
                    127 => 127,
                    126 => 126,
                    _ => 125,
                };
                return Err(Failure::new(code, cur.state.error));
            }
            return Ok(());
        }
        if let Ok(Some(_)) = child.try_wait() {
            let cur = e.get(&c.id).ok();
            if let Some(cur) = cur.filter(|c| !c.state.error.is_empty()) {
                return Err(Failure::new(125, cur.state.error));
            }
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    Ok(())
}

/// The hidden monitor: runs the task detached until it exits, and again
/// as long as the restart policy says so.
pub fn monitor(e: &Engine, id: &str) -> CmdResult {
    // A session of its own: no terminal signal reaches the monitor.
    let _ = rustix::process::setsid();
    let mut backoff = std::time::Duration::from_millis(100);
    loop {
        let started = std::time::Instant::now();
        let res = e.start(id, berth_engine::Attach::Detached);
        if matches!(&res, Err(err) if err.kind() == berth_kind::ErrorKind::Conflict) {
            // Another start won: it has a monitor of its own.
            return Ok(0);
        }
        let Ok(c) = e.get(id) else {
            // Removed (--rm, or rm -f while it ran).
            return Ok(0);
        };
        let policy = &c.host_config.restart_policy;
        let code = match &res {
            Ok(code) => *code,
            Err(_) => c.state.exit_code,
        };
        if res.is_err() && c.state.started_at == berth_engine::record::ZERO_TIME {
            // Never started: nothing to restart.
            return Err(Failure::new(1, c.state.error.clone()));
        }
        if !policy.should_restart(code, c.restart_count, c.state.manually_stopped) {
            return Ok(0);
        }
        // Docker's backoff: doubling from 100 ms, reset after 10 s of running.
        if started.elapsed() > std::time::Duration::from_secs(10) {
            backoff = std::time::Duration::from_millis(100);
        }
        let _ = e.set_restarting(id);
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(std::time::Duration::from_secs(60));
        if e.get(id).map(|c| c.state.manually_stopped).unwrap_or(true) {
            return Ok(0);
        }
        let _ = e.count_restart(id);
    }
}

/// Flags of `stop` and `restart`.
#[derive(Args, Debug)]
pub struct StopArgs {
    /// Signal to send to the container
    #[arg(short, long)]
    pub signal: Option<String>,
    /// Seconds to wait before killing the container
    #[arg(short, long)]
    pub time: Option<u64>,
    /// Containers
    #[arg(required = true)]
    pub containers: Vec<String>,
}

fn signal_arg(s: &Option<String>) -> Result<Option<i32>, Failure> {
    s.as_deref()
        .map(|s| berth_engine::opts::parse_signal(s).map_err(|m| Failure::new(1, m)))
        .transpose()
}

/// docker's multi-container commands: `f` on each container named, its
/// line printed, each failure reported on stderr, exit 1 if any failed.
pub(crate) fn for_each(
    names: &[String],
    mut f: impl FnMut(&str) -> Result<String, String>,
) -> CmdResult {
    let mut failed = false;
    for name in names {
        match f(name) {
            Ok(line) => println!("{line}"),
            Err(msg) => {
                eprintln!("Error response from daemon: {msg}");
                failed = true;
            }
        }
    }
    Ok(u8::from(failed))
}

/// `docker stop`.
pub fn stop(e: &Engine, a: &StopArgs) -> CmdResult {
    let sig = signal_arg(&a.signal)?;
    let timeout = std::time::Duration::from_secs(a.time.unwrap_or(10));
    for_each(&a.containers, |name| {
        e.stop(name, sig, timeout)
            .map(|()| name.to_string())
            .map_err(|err| err.to_string())
    })
}

/// `docker restart`.
pub fn restart(e: &Engine, cli: &Cli, a: &StopArgs) -> CmdResult {
    let sig = signal_arg(&a.signal)?;
    let timeout = std::time::Duration::from_secs(a.time.unwrap_or(10));
    for_each(&a.containers, |name| {
        e.stop(name, sig, timeout)
            .map_err(Failure::from)
            .and_then(|()| e.get(name).map_err(Failure::from))
            .and_then(|c| start_detached(e, cli, &c))
            .map(|()| name.to_string())
            .map_err(|f| f.msg)
    })
}

/// Flags of `kill`.
#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short, long, default_value = "KILL")]
    pub signal: String,
    /// Containers
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `docker kill`.
pub fn kill(e: &Engine, a: &KillArgs) -> CmdResult {
    let sig = berth_engine::opts::parse_signal(&a.signal).map_err(|m| Failure::new(1, m))?;
    for_each(&a.containers, |name| match e.kill(name, sig) {
        Ok(_) => Ok(name.to_string()),
        Err(berth_engine::Error::BadState { .. }) => Err(format!(
            "cannot kill container: {name}: container {name} is not running"
        )),
        Err(err) => Err(err.to_string()),
    })
}

/// Flags of `wait`.
#[derive(Args, Debug)]
pub struct WaitArgs {
    /// Containers
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `docker wait`.
pub fn wait(e: &Engine, a: &WaitArgs) -> CmdResult {
    for_each(&a.containers, |name| {
        e.wait_exit(name, None)
            .map(|code| code.to_string())
            .map_err(|err| err.to_string())
    })
}

/// Containers, for `pause`/`unpause`.
#[derive(Args, Debug)]
pub struct ContainersArgs {
    /// Containers
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `docker pause` (`paused`) / `docker unpause`.
pub fn pause(e: &Engine, a: &ContainersArgs, paused: bool) -> CmdResult {
    for_each(&a.containers, |name| match e.set_paused(name, paused) {
        Ok(_) => Ok(name.to_string()),
        Err(berth_engine::Error::BadState { what, .. }) => Err(what),
        Err(err) => Err(err.to_string()),
    })
}

/// Flags of `rename`.
#[derive(Args, Debug)]
pub struct RenameArgs {
    /// Container
    pub container: String,
    /// New name
    pub new_name: String,
}

/// `docker rename`.
pub fn rename(e: &Engine, a: &RenameArgs) -> CmdResult {
    e.rename(&a.container, &a.new_name)?;
    Ok(0)
}

/// Flags of `top`.
#[derive(Args, Debug)]
pub struct TopArgs {
    /// Container
    pub container: String,
    /// ps options (default -ef)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

/// `docker top`: the host's `ps`, limited to the container's processes.
pub fn top(e: &Engine, a: &TopArgs) -> CmdResult {
    let (_, pids) = match e.pids(&a.container) {
        Ok(x) => x,
        Err(berth_engine::Error::BadState { what, .. }) => return Err(Failure::new(1, what)),
        Err(err) => return Err(err.into()),
    };
    let args: Vec<String> = if a.ps_args.is_empty() {
        vec!["-ef".into()]
    } else {
        a.ps_args.clone()
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .map_err(|err| Failure::new(1, format!("running ps: {err}")))?;
    if !out.status.success() {
        return Err(Failure::new(
            1,
            format!("ps: {}", String::from_utf8_lossy(&out.stderr).trim()),
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| Failure::new(1, "Couldn't find PID field in ps output"))?;
    println!("{header}");
    for l in lines {
        if let Some(pid) = l
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse::<i32>().ok())
        {
            if pids.contains(&pid) {
                println!("{l}");
            }
        }
    }
    Ok(0)
}

/// Flags of `stats`.
#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
    /// Containers (default: all running)
    pub containers: Vec<String>,
}

/// `docker stats`.
pub fn stats(e: &Engine, a: &StatsArgs) -> CmdResult {
    use berth_engine::stats::{cpu_percent, Sample};
    let pick = || -> Result<Vec<Container>, Failure> {
        if a.containers.is_empty() {
            Ok(e.list()?
                .into_iter()
                .filter(|c| a.all || c.state.running)
                .collect())
        } else {
            a.containers
                .iter()
                .map(|n| e.get(n).map_err(Failure::from))
                .collect()
        }
    };
    let ncpu = std::thread::available_parallelism()
        .map(|n| n.get() as u64)
        .unwrap_or(1);
    let fmt = match a.format.as_deref() {
        None | Some("") | Some("table") => {
            "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"
        }
        Some(f) => f,
    };
    const HEADERS: &[(&str, &str)] = &[
        ("ID", "CONTAINER ID"),
        ("Container", "CONTAINER"),
        ("Name", "NAME"),
        ("CPUPerc", "CPU %"),
        ("MemUsage", "MEM USAGE / LIMIT"),
        ("MemPerc", "MEM %"),
        ("NetIO", "NET I/O"),
        ("BlockIO", "BLOCK I/O"),
        ("PIDs", "PIDS"),
    ];
    let mut prev: std::collections::HashMap<String, Sample> = std::collections::HashMap::new();
    let interval = std::time::Duration::from_millis(if a.no_stream { 200 } else { 1000 });
    let mut first = true;
    loop {
        let list = pick()?;
        if first {
            for c in list.iter().filter(|c| c.state.running) {
                prev.insert(c.id.clone(), e.stats(c));
            }
            std::thread::sleep(interval);
            first = false;
            continue;
        }
        let mut rows = Vec::new();
        for c in &list {
            let id = if a.no_trunc {
                c.id.clone()
            } else {
                c.short_id().to_string()
            };
            let row = if c.state.running {
                let cur = e.stats(c);
                let p = prev.get(&c.id).cloned().unwrap_or_else(|| cur.clone());
                let mem_pct = if cur.mem_limit > 0 {
                    cur.mem_usage as f64 / cur.mem_limit as f64 * 100.0
                } else {
                    0.0
                };
                let r = json!({
                    "ID": id, "Container": id, "Name": c.short_name(),
                    "CPUPerc": format!("{:.2}%", cpu_percent(&p, &cur, ncpu)),
                    "MemUsage": format!("{} / {}", units::bytes_size(cur.mem_usage), units::bytes_size(cur.mem_limit)),
                    "MemPerc": format!("{mem_pct:.2}%"),
                    "NetIO": format!("{} / {}", units::human_size(cur.net_rx), units::human_size(cur.net_tx)),
                    "BlockIO": format!("{} / {}", units::human_size(cur.blk_read), units::human_size(cur.blk_write)),
                    "PIDs": cur.pids.to_string(),
                });
                prev.insert(c.id.clone(), cur);
                r
            } else {
                json!({
                    "ID": id, "Container": id, "Name": c.short_name(), "CPUPerc": "0.00%",
                    "MemUsage": "0B / 0B", "MemPerc": "0.00%", "NetIO": "0B / 0B",
                    "BlockIO": "0B / 0B", "PIDs": "0",
                })
            };
            rows.push(row);
        }
        let text = format::render_list(fmt, HEADERS, &rows)?;
        if a.no_stream {
            print!("{text}");
            return Ok(0);
        }
        print!("\x1b[2J\x1b[H{text}");
        let _ = std::io::stdout().flush();
        std::thread::sleep(interval);
    }
}

/// Flags of `diff`.
#[derive(Args, Debug)]
pub struct DiffArgs {
    /// Container
    pub container: String,
}

/// `docker diff`.
pub fn diff(e: &Engine, a: &DiffArgs) -> CmdResult {
    for (k, p) in e.diff(&a.container)? {
        println!("{k} {p}");
    }
    Ok(0)
}

/// Resource flags shared by `run`/`create` and `update`.
#[derive(Args, Debug, Default)]
pub struct ResourceArgs {
    /// Memory limit
    #[arg(short, long)]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap")]
    pub memory_swap: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
}

/// Flags of `cp`.
#[derive(Args, Debug)]
#[command(
    override_usage = "berth cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n       berth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH"
)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short, long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long)]
    pub follow_link: bool,
    /// Suppress progress output during copy
    #[arg(short, long)]
    pub quiet: bool,
    /// Source
    pub src: String,
    /// Destination
    pub dest: String,
}

/// docker's `splitCpArg`: `CONTAINER:PATH`, unless the argument is an
/// absolute or `.`-relative local path (which may contain a colon).
fn split_cp_arg(arg: &str) -> (Option<&str>, &str) {
    if arg.starts_with('/') || arg.starts_with('.') {
        return (None, arg);
    }
    match arg.split_once(':') {
        Some((c, p)) if !c.is_empty() => (Some(c), p),
        _ => (None, arg),
    }
}

/// `docker cp`.
pub fn cp(e: &Engine, a: &CpArgs) -> CmdResult {
    let o = berth_engine::CopyOptions {
        follow: a.follow_link,
        archive: a.archive,
    };
    match (split_cp_arg(&a.src), split_cp_arg(&a.dest)) {
        ((Some(_), _), (Some(_), _)) => Err(Failure::new(
            1,
            "copying between containers is not supported",
        )),
        ((None, _), (None, _)) => Err(Failure::new(
            1,
            "must specify at least one container source",
        )),
        ((Some(c), path), (None, dest)) => {
            let path = if path.is_empty() { "/" } else { path };
            if dest == "-" {
                let stdout = std::io::stdout();
                let mut out = std::io::BufWriter::with_capacity(256 * 1024, stdout.lock());
                e.copy_from(c, path, berth_engine::CopyDest::Tar(&mut out), &o)?;
                out.flush()
                    .map_err(|err| Failure::new(1, err.to_string()))?;
            } else {
                let dest = std::path::Path::new(dest);
                e.copy_from(c, path, berth_engine::CopyDest::Host(dest), &o)?;
                if !a.quiet && rustix::termios::isatty(std::io::stderr()) {
                    eprintln!("Successfully copied to {}", dest.display());
                }
            }
            Ok(0)
        }
        ((None, src), (Some(c), path)) => {
            let path = if path.is_empty() { "/" } else { path };
            if src == "-" {
                let stdin = std::io::stdin();
                let mut input = stdin.lock();
                e.copy_to(c, path, berth_engine::CopySource::Tar(&mut input), &o)?;
            } else {
                let src = std::path::Path::new(src);
                e.copy_to(c, path, berth_engine::CopySource::Host(src), &o)?;
                if !a.quiet && rustix::termios::isatty(std::io::stderr()) {
                    eprintln!("Successfully copied to {c}:{path}");
                }
            }
            Ok(0)
        }
    }
}

/// Flags of `export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long)]
    pub output: Option<String>,
    /// Container
    pub container: String,
}

/// `docker export`.
pub fn export(e: &Engine, a: &ExportArgs) -> CmdResult {
    match &a.output {
        Some(path) => {
            let p = std::path::Path::new(path);
            let tmp = p.with_file_name(format!(
                ".{}.tmp{}",
                p.file_name().and_then(|n| n.to_str()).unwrap_or("export"),
                std::process::id()
            ));
            let res = (|| -> Result<(), Failure> {
                let mut f = std::fs::File::create(&tmp).map_err(|err| {
                    Failure::new(1, format!("failed to export container: {path}: {err}"))
                })?;
                e.export(&a.container, &mut f)?;
                f.sync_all()
                    .map_err(|err| Failure::new(1, err.to_string()))?;
                std::fs::rename(&tmp, p).map_err(|err| Failure::new(1, err.to_string()))
            })();
            if res.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            res?;
        }
        None => {
            if rustix::termios::isatty(std::io::stdout()) {
                return Err(Failure::new(
                    1,
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect",
                ));
            }
            let mut out = std::io::stdout().lock();
            e.export(&a.container, &mut out)?;
        }
    }
    Ok(0)
}

/// Flags of `exec`.
#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short, long)]
    pub detach: bool,
    /// Set environment variables
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    pub interactive: bool,
    /// Give extended privileges to the command
    #[arg(long)]
    pub privileged: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short, long)]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short, long)]
    pub workdir: Option<String>,
    /// Container
    pub container: String,
    /// Command and arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub command: Vec<String>,
}

/// `docker exec`.
pub fn exec(e: &Engine, a: &ExecArgs) -> CmdResult {
    let bad = |m: String| Failure::new(125, m);
    let mut env = Vec::new();
    for f in &a.env_file {
        let content =
            std::fs::read_to_string(f).map_err(|err| bad(format!("open {f}: {}", io_msg(&err))))?;
        env.extend(
            berth_engine::envfile::parse_env_file(&content, &host_env)
                .map_err(|err| bad(err.to_string()))?,
        );
    }
    for v in &a.env {
        env.extend(berth_engine::envfile::parse_env_flag(v, &host_env));
    }
    let o = berth_engine::ExecOptions {
        cmd: a.command.clone(),
        env,
        workdir: a.workdir.clone(),
        user: a.user.clone(),
        tty: a.tty,
        interactive: a.interactive,
        detach: a.detach,
        privileged: a.privileged,
    };
    match e.exec(&a.container, &o) {
        Ok(code) => Ok(u8::try_from(code).unwrap_or(255)),
        Err(berth_engine::Error::BadState { what, .. }) => Err(Failure::new(1, what)),
        Err(
            err @ (berth_engine::Error::NoSuchContainer(_) | berth_engine::Error::Ambiguous(_)),
        ) => Err(Failure::new(1, err.to_string())),
        Err(err) => Err(Failure::new(run_code(err.kind()).max(126), err.to_string())),
    }
}

/// Flags of `logs`.
#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short, long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs (or "all")
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short, long)]
    pub timestamps: bool,
    /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long)]
    pub until: Option<String>,
    /// Show extra details provided to logs
    #[arg(long)]
    pub details: bool,
    /// Container
    pub container: String,
}

/// Parses docker's `--since`/`--until`: RFC 3339, Unix seconds, or a Go
/// duration (`10m`, `1h30m`) before now.
pub fn parse_time_arg(s: &str) -> Result<DateTime<Utc>, Failure> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S") {
        return Ok(t.and_utc());
    }
    if let Ok(secs) = s.parse::<f64>() {
        let ns = (secs * 1e9) as i64;
        return Ok(DateTime::from_timestamp_nanos(ns));
    }
    let d = parse_go_duration(s).ok_or_else(|| {
        Failure::new(
            1,
            format!(
                "invalid value for \"since\": failed to parse value as time or duration: \"{s}\""
            ),
        )
    })?;
    Ok(Utc::now() - chrono::Duration::from_std(d).unwrap_or_default())
}

/// Go's `time.ParseDuration` for h, m, s, ms, us, ns.
fn parse_go_duration(s: &str) -> Option<std::time::Duration> {
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if n == 0 {
            return None;
        }
        let v: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..u] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += v * mult;
        rest = &rest[u..];
    }
    Some(std::time::Duration::from_secs_f64(total))
}

/// `docker logs`.
pub fn logs(e: &Engine, a: &LogsArgs) -> CmdResult {
    use berth_engine::logs::{read_from, tail_offset, Entry};
    let c = e.get(&a.container)?;
    let since = a.since.as_deref().map(parse_time_arg).transpose()?;
    let until = a.until.as_deref().map(parse_time_arg).transpose()?;
    let tail: Option<usize> = match a.tail.as_str() {
        "all" | "" => None,
        n => Some(
            n.parse::<i64>()
                .map_err(|_| Failure::new(1, format!("invalid value for \"tail\": {n}")))?
                .max(0) as usize,
        ),
    };
    let mut f = match std::fs::File::open(&c.log_path) {
        Ok(f) => f,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            if !a.follow || !c.state.running {
                return Ok(0);
            }
            // Nothing written yet: wait for the file.
            loop {
                std::thread::sleep(std::time::Duration::from_millis(50));
                if let Ok(f) = std::fs::File::open(&c.log_path) {
                    break f;
                }
                if !e.get(&c.id).is_ok_and(|c| c.state.running) {
                    return Ok(0);
                }
            }
        }
        Err(err) => return Err(Failure::new(1, format!("reading {}: {err}", c.log_path))),
    };
    let mut offset = match tail {
        Some(n) => tail_offset(&mut f, n).map_err(|err| Failure::new(1, err.to_string()))?,
        None => 0,
    };
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let mut print = |en: Entry| {
        let t = en.time();
        if let (Some(s), Some(t)) = (since, t) {
            if t < s {
                return;
            }
        }
        if let (Some(u), Some(t)) = (until, t) {
            if t > u {
                return;
            }
        }
        let line = if a.timestamps {
            format!("{} {}", en.time, en.log)
        } else {
            en.log
        };
        let _ = if en.stream == "stderr" {
            stderr.lock().write_all(line.as_bytes())
        } else {
            let mut o = stdout.lock();
            o.write_all(line.as_bytes()).and_then(|_| o.flush())
        };
    };
    offset =
        read_from(&mut f, offset, &mut print).map_err(|err| Failure::new(1, err.to_string()))?;
    if a.follow {
        loop {
            let running = e.get(&c.id).is_ok_and(|c| c.state.running);
            let before = offset;
            offset = read_from(&mut f, offset, &mut print)
                .map_err(|err| Failure::new(1, err.to_string()))?;
            if !running && offset == before {
                break;
            }
            if until.is_some_and(|u| Utc::now() > u) {
                break;
            }
            if offset == before {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
    }
    Ok(0)
}

/// `docker start`.
pub fn start(e: &Engine, cli: &Cli, a: &StartArgs) -> CmdResult {
    if a.attach || a.interactive {
        if a.containers.len() > 1 {
            return Err(Failure::new(
                1,
                "you cannot start and attach multiple containers at once",
            ));
        }
        return match e.start_attached(&a.containers[0], a.interactive) {
            Ok(code) => Ok(u8::try_from(code).unwrap_or(255)),
            Err(err) => Err(Failure::new(run_code(err.kind()), err.to_string())),
        };
    }
    let mut failed = false;
    for name in &a.containers {
        let res = e.get(name).map_err(Failure::from).and_then(|c| {
            if c.state.running {
                Ok(())
            } else {
                start_detached(e, cli, &c)
            }
        });
        match res {
            Ok(()) => println!("{name}"),
            Err(f) => {
                eprintln!("Error response from daemon: {}", f.msg);
                failed = true;
            }
        }
    }
    if failed {
        Err(Failure::new(
            1,
            "failed to start containers: ".to_string() + &a.containers.join(", "),
        ))
    } else {
        Ok(0)
    }
}

/// Go's strconv.Quote, enough for commands.
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Docker's Ellipsis: at most `max` chars, the last one `…` when cut.
fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Docker's STATUS column.
pub fn status_text(c: &Container) -> String {
    match c.state.status {
        Status::Created => "Created".into(),
        Status::Restarting => {
            let at = parse_time(&c.state.finished_at).unwrap_or_else(Utc::now);
            format!("Restarting ({}) {}", c.state.exit_code, units::since(at))
        }
        Status::Running => {
            let since = parse_time(&c.state.started_at).unwrap_or_else(Utc::now);
            format!("Up {}", units::human_duration(duration_since(since)))
        }
        Status::Paused => {
            let since = parse_time(&c.state.started_at).unwrap_or_else(Utc::now);
            format!(
                "Up {} (Paused)",
                units::human_duration(duration_since(since))
            )
        }
        Status::Exited => {
            let at = parse_time(&c.state.finished_at).unwrap_or_else(Utc::now);
            format!("Exited ({}) {}", c.state.exit_code, units::since(at))
        }
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
    }
}

/// docker's PORTS column: `0.0.0.0:8080->80/tcp, …`.
pub fn ports_text(e: &Engine, c: &Container) -> String {
    e.published_ports(c)
        .iter()
        .map(|(cp, ip, hp)| format!("{ip}:{hp}->{cp}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Flags of `port`.
#[derive(Args, Debug)]
pub struct PortArgs {
    /// Container
    pub container: String,
    /// PRIVATE_PORT[/PROTO]
    pub port: Option<String>,
}

/// `docker port`.
pub fn port(e: &Engine, a: &PortArgs) -> CmdResult {
    let c = e.get(&a.container)?;
    let ports = e.published_ports(&c);
    let want = a.port.as_ref().map(|p| {
        if p.contains('/') {
            p.clone()
        } else {
            format!("{p}/tcp")
        }
    });
    let mut found = false;
    for (cp, ip, hp) in &ports {
        match &want {
            Some(w) if w != cp => continue,
            Some(_) => println!("{ip}:{hp}"),
            None => println!("{cp} -> {ip}:{hp}"),
        }
        found = true;
    }
    if let (Some(w), false) = (&want, found) {
        return Err(Failure::new(
            1,
            format!("No public port '{w}' published for {}", a.container),
        ));
    }
    Ok(0)
}

fn duration_since(t: DateTime<Utc>) -> std::time::Duration {
    (Utc::now() - t).to_std().unwrap_or_default()
}

fn ps_row(e: &Engine, c: &Container, a: &PsArgs) -> Value {
    let cmd = c.command().join(" ");
    let cmd = if a.no_trunc { cmd } else { ellipsis(&cmd, 20) };
    let labels: Vec<String> = c
        .config
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let size = if a.size {
        let rw = e.size_rw(&c.id);
        let virt = e.images().get(&c.image).map(|i| i.size).unwrap_or(0) + rw;
        format!(
            "{} (virtual {})",
            units::human_size(rw),
            units::human_size(virt)
        )
    } else {
        String::new()
    };
    json!({
        "ID": if a.no_trunc { c.id.clone() } else { c.short_id().to_string() },
        "Image": c.config.image,
        "Command": go_quote(&cmd),
        "CreatedAt": c.created.format("%Y-%m-%d %H:%M:%S %z UTC").to_string(),
        "RunningFor": units::since(c.created),
        "Ports": ports_text(e, c),
        "State": c.state.status.as_str(),
        "Status": status_text(c),
        "Size": size,
        "Names": c.short_name(),
        "Labels": labels.join(","),
        "Mounts": "",
        "Networks": if c.host_config.network_mode == "none" { "none" } else { c.host_config.network_mode.as_str() },
        "LocalVolumes": "0",
    })
}

const PS_HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Names", "NAMES"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("Networks", "NETWORKS"),
    ("LocalVolumes", "LOCAL VOLUMES"),
];

/// A parsed `--filter key=value` set: same key ORs, different keys AND.
pub struct Filters(pub BTreeMap<String, Vec<String>>);

impl Filters {
    /// Parses filters, refusing keys not in `allowed`.
    pub fn parse(raw: &[String], allowed: &[&str]) -> Result<Self, Failure> {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for f in raw {
            let (k, v) = f.split_once('=').ok_or_else(|| {
                Failure::new(125, format!("invalid argument \"{f}\" for \"-f, --filter\" flag: bad format of filter (expected name=value)"))
            })?;
            let k = k.trim().to_lowercase();
            if !allowed.contains(&k.as_str()) {
                return Err(Failure::new(1, format!("invalid filter '{k}'")));
            }
            m.entry(k).or_default().push(v.to_string());
        }
        Ok(Self(m))
    }

    /// Values for `key`, if that filter was given.
    pub fn get(&self, key: &str) -> Option<&Vec<String>> {
        self.0.get(key)
    }
}

/// `label=k` / `label=k=v` against a label map.
pub fn label_matches(labels: &BTreeMap<String, String>, want: &str) -> bool {
    match want.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
        None => labels.contains_key(want),
    }
}

fn ps_filter(e: &Engine, c: &Container, f: &Filters) -> Result<bool, Failure> {
    if let Some(v) = f.get("id") {
        if !v.iter().any(|p| c.id.starts_with(p.as_str())) {
            return Ok(false);
        }
    }
    if let Some(v) = f.get("name") {
        if !v
            .iter()
            .any(|p| c.short_name().contains(p.trim_start_matches('/')))
        {
            return Ok(false);
        }
    }
    if let Some(v) = f.get("status") {
        for s in v {
            if ![
                "created",
                "restarting",
                "running",
                "removing",
                "paused",
                "exited",
                "dead",
            ]
            .contains(&s.as_str())
            {
                return Err(Failure::new(1, format!("invalid filter 'status={s}'")));
            }
        }
        if !v.iter().any(|s| s == c.state.status.as_str()) {
            return Ok(false);
        }
    }
    if let Some(v) = f.get("exited") {
        let mut any = false;
        for s in v {
            let code: i32 = s
                .parse()
                .map_err(|_| Failure::new(1, format!("invalid filter 'exited={s}'")))?;
            any |= c.state.status == Status::Exited && c.state.exit_code == code;
        }
        if !any {
            return Ok(false);
        }
    }
    if let Some(v) = f.get("ancestor") {
        let ok = v
            .iter()
            .any(|a| a == &c.config.image || e.images().get(a).is_ok_and(|img| img.id == c.image));
        if !ok {
            return Ok(false);
        }
    }
    if let Some(v) = f.get("label") {
        if !v.iter().all(|l| label_matches(&c.config.labels, l)) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `docker ps`.
pub fn ps(e: &Engine, a: &PsArgs) -> CmdResult {
    let filters = Filters::parse(
        &a.filter,
        &["id", "name", "status", "ancestor", "exited", "label"],
    )?;
    let mut list = e.list()?;
    let last = if a.latest { 1 } else { a.last };
    let all =
        a.all || last > 0 || filters.get("status").is_some() || filters.get("exited").is_some();
    if !all {
        list.retain(|c| c.state.running);
    }
    let mut kept = Vec::new();
    for c in list {
        if ps_filter(e, &c, &filters)? {
            kept.push(c);
        }
    }
    if last > 0 {
        kept.truncate(last as usize);
    }
    if a.quiet {
        for c in &kept {
            println!("{}", if a.no_trunc { &c.id } else { c.short_id() });
        }
        return Ok(0);
    }
    let mut fmt = match a.format.as_deref() {
        None | Some("") | Some("table") => {
            "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}".to_string()
        }
        Some(f) => f.to_string(),
    };
    if a.size && a.format.is_none() {
        fmt.push_str("\t{{.Size}}");
    }
    let rows: Vec<Value> = kept.iter().map(|c| ps_row(e, c, a)).collect();
    print!("{}", format::render_list(&fmt, PS_HEADERS, &rows)?);
    Ok(0)
}

/// `docker rm`.
pub fn rm(e: &Engine, a: &RmArgs) -> CmdResult {
    let mut failed = false;
    for name in &a.containers {
        match e.remove_with_volumes(name, a.force, a.volumes) {
            Ok(()) => println!("{name}"),
            Err(err) => {
                eprintln!("Error response from daemon: {err}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}

/// The inspect value of a container, with sizes when asked.
pub fn inspect_value(e: &Engine, c: &Container, size: bool) -> Value {
    let mut v = e.inspect(c);
    if size {
        let rw = e.size_rw(&c.id);
        v["SizeRw"] = json!(rw);
        v["SizeRootFs"] = json!(rw + e.images().get(&c.image).map(|i| i.size).unwrap_or(0));
    }
    v
}

/// `docker container inspect`.
pub fn inspect(e: &Engine, a: &InspectArgs) -> CmdResult {
    let mut out = Vec::new();
    let mut err = None;
    for n in &a.names {
        match e.get(n) {
            Ok(c) => out.push(inspect_value(e, &c, a.size)),
            Err(x) => err = Some(x),
        }
    }
    crate::print_inspect(&out, a.format.as_deref())?;
    match err {
        Some(x) => Err(x.into()),
        None => Ok(0),
    }
}

/// Asks docker's prune question on the terminal; EOF means no.
pub fn confirm(warning: &str) -> bool {
    eprint!("{warning}\nAre you sure you want to continue? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    matches!(line.trim(), "y" | "Y" | "yes")
}

/// `docker container prune`.
pub fn prune(e: &Engine, a: &PruneArgs) -> CmdResult {
    if !a.force && !confirm("WARNING! This will remove all stopped containers.") {
        return Ok(0);
    }
    let filters = Filters::parse(&a.filter, &["label", "until"])?;
    let mut deleted = Vec::new();
    let mut reclaimed = 0u64;
    for c in e.list()? {
        if c.state.running {
            continue;
        }
        if let Some(v) = filters.get("label") {
            if !v.iter().all(|l| label_matches(&c.config.labels, l)) {
                continue;
            }
        }
        let size = e.size_rw(&c.id);
        if e.remove(&c.id, false).is_ok() {
            reclaimed += size;
            deleted.push(c.id);
        }
    }
    if !deleted.is_empty() {
        println!("Deleted Containers:");
        for id in &deleted {
            println!("{id}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", units::human_size(reclaimed));
    Ok(0)
}

fn cgroup_version() -> &'static str {
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "2"
    } else {
        "1"
    }
}

/// `docker info`.
pub fn info(e: &Engine, cli: &Cli, fmt: Option<&str>) -> CmdResult {
    let list = e.list()?;
    let running = list.iter().filter(|c| c.state.running).count();
    let paused = list
        .iter()
        .filter(|c| c.state.status == Status::Paused)
        .count();
    let images = e.images().list().map(|l| l.len()).unwrap_or(0);
    let uts = rustix::system::uname();
    let v = json!({
        "Containers": list.len(),
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": list.len() - running - paused,
        "Images": images,
        "Driver": "overlay2",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": cgroup_version(),
        "KernelVersion": uts.release().to_string_lossy(),
        "OperatingSystem": os_name(),
        "OSType": "linux",
        "Architecture": "x86_64",
        "NCPU": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "DockerRootDir": cli.root,
        "RunRoot": cli.runroot,
        "Name": uts.nodename().to_string_lossy(),
        "ServerVersion": env!("CARGO_PKG_VERSION"),
        "SecurityOptions": ["name=seccomp,profile=builtin"],
    });
    if let Some(f) = fmt {
        print!("{}", format::render_one(f, &v)?);
        return Ok(0);
    }
    println!("Client: berth {}", env!("CARGO_PKG_VERSION"));
    println!();
    println!("Server:");
    println!(" Containers: {}", list.len());
    println!("  Running: {running}");
    println!("  Paused: {paused}");
    println!("  Stopped: {}", list.len() - running - paused);
    println!(" Images: {images}");
    println!(" Server Version: {}", env!("CARGO_PKG_VERSION"));
    println!(" Storage Driver: overlay2");
    println!(" Cgroup Driver: cgroupfs");
    println!(" Cgroup Version: {}", cgroup_version());
    println!(" Security Options:\n  seccomp\n   Profile: builtin");
    println!(" Kernel Version: {}", uts.release().to_string_lossy());
    println!(" Operating System: {}", os_name());
    println!(" OSType: linux");
    println!(" Architecture: x86_64");
    println!(" Name: {}", uts.nodename().to_string_lossy());
    println!(" Docker Root Dir: {}", cli.root.display());
    println!(" Run Root: {}", cli.runroot.display());
    Ok(0)
}

fn os_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("PRETTY_NAME=")
                    .map(|v| v.trim_matches('"').to_string())
            })
        })
        .unwrap_or_else(|| "Linux".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_column_like_docker() {
        assert_eq!(go_quote(&ellipsis("echo hello", 20)), "\"echo hello\"");
        assert_eq!(
            go_quote(&ellipsis("sh -c 'while true; do echo; done'", 20)),
            "\"sh -c 'while true; …\""
        );
        assert_eq!(go_quote("a\"b"), "\"a\\\"b\"");
    }

    #[test]
    fn familiar_names() {
        assert_eq!(familiar("busybox"), "busybox:latest");
        assert_eq!(familiar("busybox:1"), "busybox:1");
        assert_eq!(familiar("localhost:5000/x"), "localhost:5000/x:latest");
    }
}
