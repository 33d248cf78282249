//! `berth build` and `berth builder prune`.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use berth_build::executor::{BuildRequest, Builder};
use berth_engine::Engine;
use clap::Args;

use crate::{CmdResult, Failure};

/// Flags of `build`.
#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Name and optionally a tag in the "name:tag" format
    #[arg(short, long = "tag", value_name = "list")]
    pub tag: Vec<String>,
    /// Name of the Dockerfile (default: "PATH/Dockerfile")
    #[arg(short, long)]
    pub file: Option<String>,
    /// Set build-time variables
    #[arg(long = "build-arg", value_name = "list")]
    pub build_arg: Vec<String>,
    /// Set the target build stage to build
    #[arg(long)]
    pub target: Option<String>,
    /// Do not use cache when building the image
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pub pull: bool,
    /// Suppress the build output and print image ID on success
    #[arg(short, long)]
    pub quiet: bool,
    /// Set metadata for an image
    #[arg(long, value_name = "list")]
    pub label: Vec<String>,
    /// Set the networking mode for the RUN instructions during build
    #[arg(long, default_value = "")]
    pub network: String,
    /// Write the image ID to the file
    #[arg(long)]
    pub iidfile: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    pub platform: Option<String>,
    /// Remove intermediate containers after a successful build (always)
    #[arg(long, default_value = "true", action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub rm: bool,
    /// Always remove intermediate containers
    #[arg(long = "force-rm")]
    pub force_rm: bool,
    /// Secret to expose to the build (format: "id=mysecret[,src=/local/secret]")
    #[arg(long, value_name = "stringArray")]
    pub secret: Vec<String>,
    /// PATH | -
    pub context: String,
}

/// `--secret id=ID,src=FILE` (`source=` too; `src` defaults to the id).
fn secrets(list: &[String]) -> Result<BTreeMap<String, PathBuf>, Failure> {
    let mut m = BTreeMap::new();
    for s in list {
        let mut id = None;
        let mut src = None;
        for f in s.split(',') {
            match f.split_once('=') {
                Some(("id", v)) => id = Some(v.to_string()),
                Some(("src" | "source", v)) => src = Some(PathBuf::from(v)),
                Some(("type", "file")) => {}
                _ => {
                    return Err(fail(format!(
                        "invalid secret {s:?}: unexpected key in {f:?}"
                    )))
                }
            }
        }
        let id = id.ok_or_else(|| fail(format!("invalid secret {s:?}: id is required")))?;
        let src = src.unwrap_or_else(|| PathBuf::from(&id));
        let src = std::fs::canonicalize(&src)
            .map_err(|e| fail(format!("failed to stat {}: {e}", src.display())))?;
        m.insert(id, src);
    }
    Ok(m)
}

fn kv(list: &[String], env_fallback: bool) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for a in list {
        match a.split_once('=') {
            Some((k, v)) => {
                m.insert(k.to_string(), v.to_string());
            }
            None if env_fallback => {
                // `--build-arg NAME` takes the value from the environment.
                if let Ok(v) = std::env::var(a) {
                    m.insert(a.clone(), v);
                }
            }
            None => {
                m.insert(a.clone(), String::new());
            }
        }
    }
    m
}

/// A temporary context directory, removed on drop.
struct TempDir(Option<PathBuf>);
impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

fn fail(msg: impl Into<String>) -> Failure {
    Failure::new(1, msg.into())
}

/// `docker build`.
pub fn build(e: &Engine, cli: &crate::Cli, a: &BuildArgs) -> CmdResult {
    if let Some(p) = &a.platform {
        let host = format!("linux/{}", go_arch());
        if p != &host && p != "linux" {
            return Err(fail(format!(
                "building for platform {p} is not supported on this {host} host"
            )));
        }
    }
    let mut stdin_used = false;
    let mut tmp = TempDir(None);
    let (context, mut dockerfile_text): (PathBuf, Option<String>) = if a.context == "-" {
        stdin_used = true;
        let mut data = Vec::new();
        std::io::stdin()
            .read_to_end(&mut data)
            .map_err(|err| fail(format!("reading the context from stdin: {err}")))?;
        let dir = e
            .root()
            .join(format!("builder/context-{}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|err| fail(format!("creating {}: {err}", dir.display())))?;
        tmp.0 = Some(dir.clone());
        let looks_tar = data.len() >= 262 && &data[257..262] == b"ustar"
            || data.starts_with(&[0x1f, 0x8b])
            || data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]);
        if looks_tar {
            let reader = berth_image::decompress(&data[..])?;
            berth_image::unpack(&dir, reader, &berth_image::Unpack::default())?;
            (dir, None)
        } else {
            (dir, Some(String::from_utf8_lossy(&data).into_owned()))
        }
    } else {
        let p = PathBuf::from(&a.context);
        if !p.is_dir() {
            return Err(fail(format!(
                "unable to prepare context: path {:?} not found",
                a.context
            )));
        }
        (p, None)
    };
    if dockerfile_text.is_none() {
        let text = match a.file.as_deref() {
            Some("-") if stdin_used => {
                return Err(fail(
                    "invalid argument: can't use stdin for both build context and dockerfile",
                ))
            }
            Some("-") => {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .map_err(|err| fail(format!("reading the Dockerfile from stdin: {err}")))?;
                s
            }
            Some(f) => {
                let in_cwd = Path::new(f);
                let p = if in_cwd.exists() || in_cwd.is_absolute() {
                    in_cwd.to_path_buf()
                } else {
                    context.join(f)
                };
                std::fs::read_to_string(&p).map_err(|err| {
                    fail(format!(
                        "unable to prepare context: unable to evaluate symlinks in Dockerfile path: {}: {err}",
                        p.display()
                    ))
                })?
            }
            None => {
                let p = context.join("Dockerfile");
                std::fs::read_to_string(&p).map_err(|_| {
                    fail(format!(
                        "unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {}: no such file or directory",
                        p.display()
                    ))
                })?
            }
        };
        dockerfile_text = Some(text);
    }
    let req = BuildRequest {
        context: context.clone(),
        dockerfile: dockerfile_text.unwrap_or_default(),
        tags: a.tag.clone(),
        build_args: kv(&a.build_arg, true),
        target: a.target.clone(),
        no_cache: a.no_cache,
        quiet: a.quiet,
        labels: kv(&a.label, false),
        network: a.network.clone(),
        secrets: secrets(&a.secret)?,
        source_date_epoch: std::env::var("SOURCE_DATE_EPOCH")
            .ok()
            .and_then(|v| v.parse().ok()),
    };
    // Base and COPY --from images: pulled first (by a child process, as
    // this one forks containers), if missing or with --pull.
    for image in berth_build::executor::images_needed(&req).map_err(|err| fail(err.to_string()))? {
        if a.pull || e.images().get(&image).is_err() {
            crate::containers::pull_child(cli, &image).map_err(|f| fail(f.msg))?;
        }
    }
    if !a.no_cache && a.context != "-" && a.file.as_deref() != Some("-") {
        prebuild_concurrently(cli, a, &req, &context)?;
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut b = Builder::new(e, &req, &mut out).map_err(|err| fail(err.to_string()))?;
    let id = b.build().map_err(|err| fail(err.to_string()))?;
    drop(b);
    drop(out);
    if a.quiet {
        println!("{id}");
    }
    if let Some(f) = &a.iidfile {
        std::fs::write(f, &id).map_err(|err| fail(format!("writing {f}: {err}")))?;
    }
    Ok(0)
}

/// Builds the independent stages of each wave at the same time, each in a
/// child `berth build -q --target STAGE` (this process must stay
/// single-threaded); the main build then finds them in the cache. A child's
/// failure is left for the main build to meet and report.
fn prebuild_concurrently(
    cli: &crate::Cli,
    a: &BuildArgs,
    req: &BuildRequest,
    context: &Path,
) -> Result<(), Failure> {
    let waves = berth_build::executor::concurrent_stages(req).map_err(|e| fail(e.to_string()))?;
    if waves.is_empty() {
        return Ok(());
    }
    let exe = std::env::current_exe().map_err(|e| fail(e.to_string()))?;
    let file = match &a.file {
        Some(f) if Path::new(f).exists() || Path::new(f).is_absolute() => PathBuf::from(f),
        Some(f) => context.join(f),
        None => context.join("Dockerfile"),
    };
    for wave in waves {
        if !a.quiet {
            println!("Building stages {} at the same time", wave.join(", "));
        }
        let children: Vec<_> = wave
            .iter()
            .filter_map(|stage| {
                let mut c = std::process::Command::new(&exe);
                c.arg("--root")
                    .arg(&cli.root)
                    .arg("--runroot")
                    .arg(&cli.runroot)
                    .arg("--log-level")
                    .arg(&cli.log_level)
                    .args(["build", "-q", "--target", stage, "-f"])
                    .arg(&file);
                for b in &a.build_arg {
                    c.args(["--build-arg", b]);
                }
                for s in &a.secret {
                    c.args(["--secret", s]);
                }
                if !a.network.is_empty() {
                    c.args(["--network", &a.network]);
                }
                c.arg(context)
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null());
                c.spawn().ok()
            })
            .collect();
        for mut ch in children {
            let _ = ch.wait();
        }
    }
    Ok(())
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// Flags of `builder prune`.
#[derive(Args, Debug)]
pub struct BuilderPruneArgs {
    /// Remove all unused build cache, not just dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
}

/// `docker builder prune`.
pub fn builder_prune(e: &Engine, _a: &BuilderPruneArgs) -> CmdResult {
    let freed = berth_build::executor::prune(e);
    println!("Total reclaimed space: {}", crate::units::human_size(freed));
    Ok(0)
}
