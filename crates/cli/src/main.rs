#![forbid(unsafe_code)]
//! `berth`: a daemonless container engine that speaks docker's command line.

mod build;
mod containers;
mod format;
mod images;
mod network;
mod registry;
mod saveload;
mod system;
mod units;
mod volumes;

use std::path::PathBuf;
use std::process::ExitCode;

use berth_kind::ErrorKind;
use clap::{Args, Parser, Subcommand};

/// What a command failed with: a message and docker's exit code.
#[derive(Debug)]
pub struct Failure {
    /// The message, printed after `Error: ` (empty: print nothing).
    pub msg: String,
    /// The process exit code.
    pub code: u8,
}

impl Failure {
    /// A failure with exit code `code`.
    pub fn new(code: u8, msg: impl Into<String>) -> Self {
        Self {
            msg: msg.into(),
            code,
        }
    }
}

/// Exit code for an engine error of `kind` in `run`/`create`/`start`.
pub fn run_code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::CommandNotFound => 127,
        ErrorKind::NotExecutable => 126,
        _ => 125,
    }
}

impl From<berth_engine::Error> for Failure {
    fn from(e: berth_engine::Error) -> Self {
        Failure::new(1, e.to_string())
    }
}

impl From<berth_image::Error> for Failure {
    fn from(e: berth_image::Error) -> Self {
        Failure::new(1, e.to_string())
    }
}

impl From<format::FormatError> for Failure {
    fn from(e: format::FormatError) -> Self {
        Failure::new(1, e.to_string())
    }
}

/// Result of a command: an exit code to leave with.
pub type CmdResult = Result<u8, Failure>;

#[derive(Parser, Debug)]
#[command(
    name = "berth",
    version,
    about = "A daemonless container engine that speaks docker's command line",
    disable_help_subcommand = true
)]
struct Cli {
    /// Root of berth's persistent state.
    #[arg(
        long,
        global = true,
        env = "BERTH_ROOT",
        default_value = "/var/lib/berth"
    )]
    root: PathBuf,
    /// Root of berth's runtime state.
    #[arg(
        long,
        global = true,
        env = "BERTH_RUNROOT",
        default_value = "/run/berth"
    )]
    runroot: PathBuf,
    /// Log level: debug, info, warn, error, fatal.
    #[arg(long, global = true, default_value = "warn")]
    log_level: String,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum BuilderCmd {
    /// Remove build cache
    Prune(build::BuilderPruneArgs),
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Create and run a new container from an image
    Run(containers::RunArgs),
    /// Execute a command in a running container
    Exec(containers::ExecArgs),
    /// List containers
    Ps(containers::PsArgs),
    /// Build an image from a Dockerfile
    Build(build::BuildArgs),
    /// Download an image from a registry
    Pull(registry::PullArgs),
    /// Upload an image to a registry
    Push(registry::PushArgs),
    /// List images
    Images(images::ImagesArgs),
    /// Log in to a registry
    Login(registry::LoginArgs),
    /// Log out from a registry
    Logout(registry::LogoutArgs),
    /// Show the berth version information
    Version,
    /// Display system-wide information
    Info(FormatOnly),
    /// Manage builds
    Builder {
        #[command(subcommand)]
        cmd: BuilderCmd,
    },
    /// Manage containers
    Container {
        #[command(subcommand)]
        cmd: ContainerCmd,
    },
    /// Manage images
    Image {
        #[command(subcommand)]
        cmd: ImageCmd,
    },
    /// Manage networks
    Network {
        #[command(subcommand)]
        cmd: network::NetworkCmd,
    },
    /// Manage volumes
    Volume {
        #[command(subcommand)]
        cmd: volumes::VolumeCmd,
    },
    /// Manage berth
    System {
        #[command(subcommand)]
        cmd: system::SystemCmd,
    },
    /// Return low-level information on containers or images
    Inspect(InspectArgs),
    /// Remove one or more images
    Rmi(images::RmiArgs),
    #[command(flatten)]
    ContainerCommon(ContainerCommon),
    #[command(flatten)]
    ImageCommon(ImageCommon),
    /// Internal: the container monitor.
    #[command(name = "__monitor", hide = true)]
    Monitor { id: String },
    /// Internal: a user network's DNS server.
    #[command(name = "__dns", hide = true)]
    Dns { dir: String, gateway: String },
    /// Internal: removes this root's bridges, firewall table and DNS servers.
    #[command(name = "__teardown-networks", hide = true)]
    TeardownNetworks,
}

/// Container commands that exist both at the top (`berth stop`) and under
/// `berth container` (`berth container stop`).
#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once per process
enum ContainerCommon {
    /// Attach local standard input, output, and error streams to a running container
    Attach(containers::AttachArgs),
    /// Create a new image from a container's changes
    Commit(containers::CommitArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(containers::CpArgs),
    /// Create a new container
    Create(containers::RunArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(containers::DiffArgs),
    /// Export a container's filesystem as a tar archive
    Export(containers::ExportArgs),
    /// Kill one or more running containers
    Kill(containers::KillArgs),
    /// Fetch the logs of a container
    Logs(containers::LogsArgs),
    /// Pause all processes within one or more containers
    Pause(containers::ContainersArgs),
    /// List port mappings or a specific mapping for the container
    Port(containers::PortArgs),
    /// Rename a container
    Rename(containers::RenameArgs),
    /// Restart one or more containers
    Restart(containers::StopArgs),
    /// Remove one or more containers
    Rm(containers::RmArgs),
    /// Start one or more stopped containers
    Start(containers::StartArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(containers::StatsArgs),
    /// Stop one or more running containers
    Stop(containers::StopArgs),
    /// Display the running processes of a container
    Top(containers::TopArgs),
    /// Unpause all processes within one or more containers
    Unpause(containers::ContainersArgs),
    /// Update configuration of one or more containers
    Update(containers::UpdateArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(containers::WaitArgs),
}

/// Image commands both at the top (`berth tag`) and under `berth image`.
#[derive(Subcommand, Debug)]
enum ImageCommon {
    /// Show the history of an image
    History(images::HistoryArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(images::ImportArgs),
    /// Load an image from a tar archive or STDIN
    Load(saveload::LoadArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(saveload::SaveArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(images::TagArgs),
}

#[derive(Subcommand, Debug)]
enum ContainerCmd {
    /// List containers
    #[command(visible_alias = "list", visible_alias = "ps")]
    Ls(containers::PsArgs),
    /// Create and run a new container from an image
    Run(containers::RunArgs),
    /// Execute a command in a running container
    Exec(containers::ExecArgs),
    /// Display detailed information on one or more containers
    Inspect(InspectArgs),
    /// Remove all stopped containers
    Prune(PruneArgs),
    #[command(flatten)]
    Common(ContainerCommon),
}

#[derive(Subcommand, Debug)]
enum ImageCmd {
    /// List images
    #[command(visible_alias = "list")]
    Ls(images::ImagesArgs),
    /// Remove one or more images
    Rm(images::RmiArgs),
    /// Display detailed information on one or more images
    Inspect(InspectArgs),
    /// Remove unused images
    Prune(images::ImagePruneArgs),
    /// Build an image from a Dockerfile
    Build(build::BuildArgs),
    /// Download an image from a registry
    Pull(registry::PullArgs),
    /// Upload an image to a registry
    Push(registry::PushArgs),
    #[command(flatten)]
    Common(ImageCommon),
}

/// Just `--format`.
#[derive(Args, Debug)]
struct FormatOnly {
    /// Format output using a custom template
    #[arg(short, long)]
    format: Option<String>,
}

/// `inspect` flags.
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    pub format: Option<String>,
    /// Return JSON for specified type (container or image)
    #[arg(long = "type")]
    pub typ: Option<String>,
    /// Display total file sizes (containers)
    #[arg(short, long)]
    pub size: bool,
    /// Containers or images
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `prune` flags.
#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long)]
    pub filter: Vec<String>,
}

fn init_logging(level: &str) {
    let level = match level {
        "fatal" | "panic" => "error",
        l => l,
    };
    // libcontainer and libcgroups are chatty at warn (e.g. about cgroup
    // controllers this kernel lacks); show them only when debugging.
    let libs = if level == "debug" || level == "trace" {
        level
    } else {
        "off"
    };
    // `Targets`, not `EnvFilter`: no regex to compile on every start.
    let parse = |l: &str| {
        l.parse()
            .unwrap_or(tracing_subscriber::filter::LevelFilter::WARN)
    };
    let filter = tracing_subscriber::filter::Targets::new()
        .with_default(parse(level))
        .with_target("libcontainer", parse(libs))
        .with_target("libcgroups", parse(libs));
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(rustix::termios::isatty(std::io::stderr()))
                .with_writer(std::io::stderr)
                .with_target(false),
        )
        .with(filter)
        .try_init();
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => 125,
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_logging(&cli.log_level);
    match dispatch(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(f) => {
            if !f.msg.is_empty() {
                eprintln!("Error: {}", f.msg);
            }
            ExitCode::from(f.code)
        }
    }
}

fn engine(cli: &Cli) -> Result<berth_engine::Engine, Failure> {
    berth_engine::Engine::open(&cli.root, &cli.runroot)
        .map_err(|e| Failure::new(125, e.to_string()))
}

fn dispatch(cli: &Cli) -> CmdResult {
    use containers as c;
    use images as i;
    match &cli.cmd {
        Cmd::Version => {
            println!("Client: berth");
            println!(" Version:    {}", env!("CARGO_PKG_VERSION"));
            println!(" API version: 1.41");
            println!(" OS/Arch:    linux/amd64");
            Ok(0)
        }
        Cmd::Info(a) => c::info(&engine(cli)?, cli, a.format.as_deref()),
        Cmd::Run(a)
        | Cmd::Container {
            cmd: ContainerCmd::Run(a),
        } => c::run(&engine(cli)?, cli, a),
        Cmd::Exec(a)
        | Cmd::Container {
            cmd: ContainerCmd::Exec(a),
        } => c::exec(&engine(cli)?, a),
        Cmd::Ps(a)
        | Cmd::Container {
            cmd: ContainerCmd::Ls(a),
        } => c::ps(&engine(cli)?, a),
        Cmd::Inspect(a) => inspect_any(&engine(cli)?, a),
        Cmd::Container {
            cmd: ContainerCmd::Inspect(a),
        } => c::inspect(&engine(cli)?, a),
        Cmd::Container {
            cmd: ContainerCmd::Prune(a),
        } => c::prune(&engine(cli)?, a),
        Cmd::ContainerCommon(cmd)
        | Cmd::Container {
            cmd: ContainerCmd::Common(cmd),
        } => container_common(cli, cmd),
        Cmd::Images(a)
        | Cmd::Image {
            cmd: ImageCmd::Ls(a),
        } => i::images(&engine(cli)?, a),
        Cmd::Rmi(a)
        | Cmd::Image {
            cmd: ImageCmd::Rm(a),
        } => i::rmi(&engine(cli)?, a),
        Cmd::Image {
            cmd: ImageCmd::Inspect(a),
        } => i::inspect(&engine(cli)?, a),
        Cmd::Image {
            cmd: ImageCmd::Prune(a),
        } => i::prune(&engine(cli)?, a),
        Cmd::ImageCommon(cmd)
        | Cmd::Image {
            cmd: ImageCmd::Common(cmd),
        } => image_common(cli, cmd),
        Cmd::Build(a)
        | Cmd::Image {
            cmd: ImageCmd::Build(a),
        } => build::build(&engine(cli)?, cli, a),
        Cmd::Builder {
            cmd: BuilderCmd::Prune(a),
        } => build::builder_prune(&engine(cli)?, a),
        Cmd::Pull(a)
        | Cmd::Image {
            cmd: ImageCmd::Pull(a),
        } => registry::pull(&engine(cli)?, a),
        Cmd::Push(a)
        | Cmd::Image {
            cmd: ImageCmd::Push(a),
        } => registry::push(&engine(cli)?, a),
        Cmd::Login(a) => registry::login(a),
        Cmd::Logout(a) => registry::logout(a),
        Cmd::Volume { cmd } => volumes::run(&engine(cli)?, cmd),
        Cmd::System { cmd } => system::run(&engine(cli)?, cli, cmd),
        Cmd::Monitor { id } => c::monitor(&engine(cli)?, id),
        Cmd::Dns { dir, gateway } => network::dns(dir, gateway),
        Cmd::TeardownNetworks => {
            engine(cli)?.networks().teardown_all();
            Ok(0)
        }
        Cmd::Network { cmd } => network::run(&engine(cli)?, cmd),
    }
}

fn container_common(cli: &Cli, cmd: &ContainerCommon) -> CmdResult {
    use containers as c;
    use ContainerCommon as C;
    let e = engine(cli)?;
    match cmd {
        C::Attach(a) => c::attach(&e, a),
        C::Commit(a) => c::commit(&e, a),
        C::Cp(a) => c::cp(&e, a),
        C::Create(a) => c::create(&e, cli, a),
        C::Diff(a) => c::diff(&e, a),
        C::Export(a) => c::export(&e, a),
        C::Kill(a) => c::kill(&e, a),
        C::Logs(a) => c::logs(&e, a),
        C::Pause(a) => c::pause(&e, a, true),
        C::Port(a) => c::port(&e, a),
        C::Rename(a) => c::rename(&e, a),
        C::Restart(a) => c::restart(&e, cli, a),
        C::Rm(a) => c::rm(&e, a),
        C::Start(a) => c::start(&e, cli, a),
        C::Stats(a) => c::stats(&e, a),
        C::Stop(a) => c::stop(&e, a),
        C::Top(a) => c::top(&e, a),
        C::Unpause(a) => c::pause(&e, a, false),
        C::Update(a) => c::update(&e, a),
        C::Wait(a) => c::wait(&e, a),
    }
}

fn image_common(cli: &Cli, cmd: &ImageCommon) -> CmdResult {
    use images as i;
    let e = engine(cli)?;
    match cmd {
        ImageCommon::History(a) => i::history(&e, a),
        ImageCommon::Import(a) => i::import(&e, a),
        ImageCommon::Load(a) => saveload::load(&e, a),
        ImageCommon::Save(a) => saveload::save(&e, a),
        ImageCommon::Tag(a) => i::tag(&e, a),
    }
}

/// `inspect` without a type: containers first, then images, as docker does.
fn inspect_any(e: &berth_engine::Engine, a: &InspectArgs) -> CmdResult {
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for name in &a.names {
        let want_c = a.typ.as_deref() != Some("image");
        let want_i = a.typ.as_deref() != Some("container");
        let found = if want_c {
            match e.get(name) {
                Ok(c) => Some(containers::inspect_value(e, &c, a.size)),
                Err(_) => None,
            }
        } else {
            None
        };
        let found = match found {
            Some(v) => Some(v),
            None if want_i => e.images().inspect(name).ok(),
            None => None,
        };
        match found {
            Some(v) => out.push(v),
            None => missing.push(name.clone()),
        }
    }
    print_inspect(&out, a.format.as_deref())?;
    if let Some(m) = missing.first() {
        return Err(Failure::new(1, format!("No such object: {m}")));
    }
    Ok(0)
}

/// Prints inspect results: a JSON array, or one template line per object.
pub fn print_inspect(values: &[serde_json::Value], fmt: Option<&str>) -> Result<(), Failure> {
    match fmt {
        Some(f) if !f.is_empty() && f != "json" => {
            for v in values {
                print!("{}", format::render_one(f, v)?);
            }
        }
        _ => println!("{}", format::inspect_json(values)),
    }
    Ok(())
}
