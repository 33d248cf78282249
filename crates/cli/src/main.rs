#![forbid(unsafe_code)]
//! `berth`: a daemonless container engine that speaks docker's command line.

mod build;
mod containers;
mod format;
mod images;
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
    /// Show the berth version information
    Version,
    /// Display system-wide information
    Info(FormatOnly),
    /// Create a new container and run a command in it
    Run(containers::RunArgs),
    /// Create a new container
    Create(containers::RunArgs),
    /// Start one or more stopped containers
    Start(containers::StartArgs),
    /// List containers
    #[command(visible_alias = "list")]
    Ps(containers::PsArgs),
    /// Execute a command in a running container
    Exec(containers::ExecArgs),
    /// Pause all processes within one or more containers
    Pause(containers::ContainersArgs),
    /// Unpause all processes within one or more containers
    Unpause(containers::ContainersArgs),
    /// Rename a container
    Rename(containers::RenameArgs),
    /// Display the running processes of a container
    Top(containers::TopArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(containers::DiffArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(containers::StatsArgs),
    /// Export a container's filesystem as a tar archive
    Export(containers::ExportArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(containers::CpArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(containers::AttachArgs),
    /// Create a new image from a container's changes
    Commit(containers::CommitArgs),
    /// Update configuration of one or more containers
    Update(containers::UpdateArgs),
    /// Fetch the logs of a container
    Logs(containers::LogsArgs),
    /// Stop one or more running containers
    Stop(containers::StopArgs),
    /// Restart one or more containers
    Restart(containers::StopArgs),
    /// Kill one or more running containers
    Kill(containers::KillArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(containers::WaitArgs),
    /// Remove one or more containers
    Rm(containers::RmArgs),
    /// Return low-level information on containers or images
    Inspect(InspectArgs),
    /// Manage containers
    Container {
        #[command(subcommand)]
        cmd: ContainerCmd,
    },
    /// Import the contents from a tarball to create a filesystem image
    Import(images::ImportArgs),
    /// List images
    Images(images::ImagesArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(images::TagArgs),
    /// Remove one or more images
    Rmi(images::RmiArgs),
    /// Show the history of an image
    History(images::HistoryArgs),
    /// Download an image from a registry
    /// Build an image from a Dockerfile
    Build(build::BuildArgs),
    /// Manage builds
    Builder {
        #[command(subcommand)]
        cmd: BuilderCmd,
    },
    Pull(registry::PullArgs),
    /// Upload an image to a registry
    Push(registry::PushArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(saveload::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(saveload::LoadArgs),
    /// Log in to a registry
    Login(registry::LoginArgs),
    /// Log out from a registry
    Logout(registry::LogoutArgs),
    /// Manage images
    Image {
        #[command(subcommand)]
        cmd: ImageCmd,
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
    /// Internal: the container monitor.
    #[command(name = "__monitor", hide = true)]
    Monitor {
        id: String,
    },
}

#[derive(Subcommand, Debug)]
enum ContainerCmd {
    /// List containers
    #[command(visible_alias = "list")]
    Ls(containers::PsArgs),
    /// Create a new container and run a command in it
    Run(containers::RunArgs),
    /// Create a new container
    Create(containers::RunArgs),
    /// Start one or more stopped containers
    Start(containers::StartArgs),
    /// Remove one or more containers
    Rm(containers::RmArgs),
    /// Display detailed information on one or more containers
    Inspect(InspectArgs),
    /// Remove all stopped containers
    Prune(PruneArgs),
    /// Execute a command in a running container
    Exec(containers::ExecArgs),
    /// Pause all processes within one or more containers
    Pause(containers::ContainersArgs),
    /// Unpause all processes within one or more containers
    Unpause(containers::ContainersArgs),
    /// Rename a container
    Rename(containers::RenameArgs),
    /// Display the running processes of a container
    Top(containers::TopArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(containers::DiffArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(containers::StatsArgs),
    /// Export a container's filesystem as a tar archive
    Export(containers::ExportArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(containers::CpArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(containers::AttachArgs),
    /// Create a new image from a container's changes
    Commit(containers::CommitArgs),
    /// Update configuration of one or more containers
    Update(containers::UpdateArgs),
    /// Fetch the logs of a container
    Logs(containers::LogsArgs),
    /// Stop one or more running containers
    Stop(containers::StopArgs),
    /// Restart one or more containers
    Restart(containers::StopArgs),
    /// Kill one or more running containers
    Kill(containers::KillArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(containers::WaitArgs),
}

#[derive(Subcommand, Debug)]
enum ImageCmd {
    /// List images
    #[command(visible_alias = "list")]
    Ls(images::ImagesArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(images::ImportArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(images::TagArgs),
    /// Remove one or more images
    Rm(images::RmiArgs),
    /// Show the history of an image
    History(images::HistoryArgs),
    /// Display detailed information on one or more images
    Inspect(InspectArgs),
    /// Remove unused images
    Prune(images::ImagePruneArgs),
    /// Download an image from a registry
    Pull(registry::PullArgs),
    /// Upload an image to a registry
    Push(registry::PushArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(saveload::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(saveload::LoadArgs),
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
        Cmd::Create(a)
        | Cmd::Container {
            cmd: ContainerCmd::Create(a),
        } => c::create(&engine(cli)?, cli, a),
        Cmd::Start(a)
        | Cmd::Container {
            cmd: ContainerCmd::Start(a),
        } => c::start(&engine(cli)?, cli, a),
        Cmd::Ps(a)
        | Cmd::Container {
            cmd: ContainerCmd::Ls(a),
        } => c::ps(&engine(cli)?, a),
        Cmd::Rm(a)
        | Cmd::Container {
            cmd: ContainerCmd::Rm(a),
        } => c::rm(&engine(cli)?, a),
        Cmd::Inspect(a) => inspect_any(&engine(cli)?, a),
        Cmd::Container {
            cmd: ContainerCmd::Inspect(a),
        } => c::inspect(&engine(cli)?, a),
        Cmd::Container {
            cmd: ContainerCmd::Prune(a),
        } => c::prune(&engine(cli)?, a),
        Cmd::Import(a)
        | Cmd::Image {
            cmd: ImageCmd::Import(a),
        } => i::import(&engine(cli)?, a),
        Cmd::Images(a)
        | Cmd::Image {
            cmd: ImageCmd::Ls(a),
        } => i::images(&engine(cli)?, a),
        Cmd::Tag(a)
        | Cmd::Image {
            cmd: ImageCmd::Tag(a),
        } => i::tag(&engine(cli)?, a),
        Cmd::Rmi(a)
        | Cmd::Image {
            cmd: ImageCmd::Rm(a),
        } => i::rmi(&engine(cli)?, a),
        Cmd::History(a)
        | Cmd::Image {
            cmd: ImageCmd::History(a),
        } => i::history(&engine(cli)?, a),
        Cmd::Image {
            cmd: ImageCmd::Inspect(a),
        } => i::inspect(&engine(cli)?, a),
        Cmd::Image {
            cmd: ImageCmd::Prune(a),
        } => i::prune(&engine(cli)?, a),
        Cmd::Pull(a)
        | Cmd::Image {
            cmd: ImageCmd::Pull(a),
        } => registry::pull(&engine(cli)?, a),
        Cmd::Push(a)
        | Cmd::Image {
            cmd: ImageCmd::Push(a),
        } => registry::push(&engine(cli)?, a),
        Cmd::Save(a)
        | Cmd::Image {
            cmd: ImageCmd::Save(a),
        } => saveload::save(&engine(cli)?, a),
        Cmd::Load(a)
        | Cmd::Image {
            cmd: ImageCmd::Load(a),
        } => saveload::load(&engine(cli)?, a),
        Cmd::Login(a) => registry::login(a),
        Cmd::Logout(a) => registry::logout(a),
        Cmd::Monitor { id } => c::monitor(&engine(cli)?, id),
        Cmd::Exec(a)
        | Cmd::Container {
            cmd: ContainerCmd::Exec(a),
        } => c::exec(&engine(cli)?, a),
        Cmd::Diff(a)
        | Cmd::Container {
            cmd: ContainerCmd::Diff(a),
        } => c::diff(&engine(cli)?, a),
        Cmd::Export(a)
        | Cmd::Container {
            cmd: ContainerCmd::Export(a),
        } => c::export(&engine(cli)?, a),
        Cmd::Build(a) => build::build(&engine(cli)?, cli, a),
        Cmd::Builder {
            cmd: BuilderCmd::Prune(a),
        } => build::builder_prune(&engine(cli)?, a),
        Cmd::Cp(a)
        | Cmd::Container {
            cmd: ContainerCmd::Cp(a),
        } => c::cp(&engine(cli)?, a),
        Cmd::Attach(a)
        | Cmd::Container {
            cmd: ContainerCmd::Attach(a),
        } => c::attach(&engine(cli)?, a),
        Cmd::Commit(a)
        | Cmd::Container {
            cmd: ContainerCmd::Commit(a),
        } => c::commit(&engine(cli)?, a),
        Cmd::Update(a)
        | Cmd::Container {
            cmd: ContainerCmd::Update(a),
        } => c::update(&engine(cli)?, a),
        Cmd::Pause(a)
        | Cmd::Container {
            cmd: ContainerCmd::Pause(a),
        } => c::pause(&engine(cli)?, a, true),
        Cmd::Unpause(a)
        | Cmd::Container {
            cmd: ContainerCmd::Unpause(a),
        } => c::pause(&engine(cli)?, a, false),
        Cmd::Rename(a)
        | Cmd::Container {
            cmd: ContainerCmd::Rename(a),
        } => c::rename(&engine(cli)?, a),
        Cmd::Top(a)
        | Cmd::Container {
            cmd: ContainerCmd::Top(a),
        } => c::top(&engine(cli)?, a),
        Cmd::Volume { cmd } => volumes::run(&engine(cli)?, cmd),
        Cmd::System { cmd } => system::run(&engine(cli)?, cli, cmd),
        Cmd::Stats(a)
        | Cmd::Container {
            cmd: ContainerCmd::Stats(a),
        } => c::stats(&engine(cli)?, a),
        Cmd::Logs(a)
        | Cmd::Container {
            cmd: ContainerCmd::Logs(a),
        } => c::logs(&engine(cli)?, a),
        Cmd::Stop(a)
        | Cmd::Container {
            cmd: ContainerCmd::Stop(a),
        } => c::stop(&engine(cli)?, a),
        Cmd::Restart(a)
        | Cmd::Container {
            cmd: ContainerCmd::Restart(a),
        } => c::restart(&engine(cli)?, cli, a),
        Cmd::Kill(a)
        | Cmd::Container {
            cmd: ContainerCmd::Kill(a),
        } => c::kill(&engine(cli)?, a),
        Cmd::Wait(a)
        | Cmd::Container {
            cmd: ContainerCmd::Wait(a),
        } => c::wait(&engine(cli)?, a),
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
