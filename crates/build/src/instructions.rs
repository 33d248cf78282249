//! Typed instructions: the syntax tree checked the way BuildKit's
//! `frontend/dockerfile/instructions` checks it (flags, argument counts,
//! mounts, healthcheck durations), grouped into stages.
//!
//! Nothing here substitutes variables by itself: [`Instruction::expand`]
//! does it on request, in exactly the places docker does (ADD, COPY, ENV,
//! EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR, `RUN --mount` values;
//! never RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK or ONBUILD). FROM and ARG
//! are evaluated by [`crate::plan`], which knows the ARG scopes.

use std::time::Duration;

use crate::parser::{self, Heredoc, Node};
use crate::shell::{Env, Lex};
use crate::Error;

/// One instruction with its place in the Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// What it does.
    pub command: Command,
    /// First line (1-based).
    pub start_line: usize,
    /// Last line (heredoc bodies included).
    pub end_line: usize,
    /// The logical line as written (continuations joined), e.g. `COPY a /b`.
    pub original: String,
}

/// The instructions of the Dockerfile reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `FROM [--platform=p] image [AS name]`; starts a stage.
    From(From),
    /// `RUN [--mount=…] [--network=…] [--security=…] cmd`
    Run(Run),
    /// `CMD`
    Cmd(CommandLine),
    /// `ENTRYPOINT`
    Entrypoint(CommandLine),
    /// `LABEL k=v …` (or the old `LABEL k v`).
    Label(Vec<KeyValue>),
    /// `MAINTAINER name` (deprecated, accepted).
    Maintainer(String),
    /// `EXPOSE 80/tcp 443`
    Expose(Vec<String>),
    /// `ENV k=v …` (or the old `ENV k v`).
    Env(Vec<KeyValue>),
    /// `ARG name[=default] …`
    Arg(Vec<ArgDef>),
    /// `ADD`
    Add(Add),
    /// `COPY`
    Copy(Copy),
    /// `VOLUME ["/a"]` or `VOLUME /a /b`
    Volume(Vec<String>),
    /// `USER user[:group]`
    User(String),
    /// `WORKDIR path`
    Workdir(String),
    /// `ONBUILD <instruction>`; stored as text, run when a child image is built.
    Onbuild(Onbuild),
    /// `STOPSIGNAL sig`
    StopSignal(String),
    /// `HEALTHCHECK NONE` or `HEALTHCHECK [opts] CMD …`
    Healthcheck(Healthcheck),
    /// `SHELL ["exe", "arg"]` (JSON form only).
    Shell(Vec<String>),
}

impl Command {
    /// The instruction keyword in upper case (`RUN`).
    pub fn name(&self) -> &'static str {
        match self {
            Command::From(_) => "FROM",
            Command::Run(_) => "RUN",
            Command::Cmd(_) => "CMD",
            Command::Entrypoint(_) => "ENTRYPOINT",
            Command::Label(_) => "LABEL",
            Command::Maintainer(_) => "MAINTAINER",
            Command::Expose(_) => "EXPOSE",
            Command::Env(_) => "ENV",
            Command::Arg(_) => "ARG",
            Command::Add(_) => "ADD",
            Command::Copy(_) => "COPY",
            Command::Volume(_) => "VOLUME",
            Command::User(_) => "USER",
            Command::Workdir(_) => "WORKDIR",
            Command::Onbuild(_) => "ONBUILD",
            Command::StopSignal(_) => "STOPSIGNAL",
            Command::Healthcheck(_) => "HEALTHCHECK",
            Command::Shell(_) => "SHELL",
        }
    }
}

/// `FROM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    /// The base as written (`alpine:$V`, `scratch`, a stage name); the plan expands it.
    pub image: String,
    /// `AS name`, lower-cased.
    pub name: Option<String>,
    /// `--platform` as written.
    pub platform: Option<String>,
}

/// A command line of RUN, CMD, ENTRYPOINT or HEALTHCHECK CMD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    /// Exec form: the JSON array. Shell form: one string, the command text.
    pub args: Vec<String>,
    /// Shell form: run as `SHELL + [args[0]]` (default `/bin/sh -c`).
    pub shell_form: bool,
    /// Heredocs of a shell-form RUN (`RUN <<EOF`), their bodies in `Heredoc::text()`.
    pub files: Vec<Heredoc>,
}

impl CommandLine {
    /// For `RUN <<EOF` alone on its line (one heredoc and nothing else), the
    /// script it runs: BuildKit runs the body with the shell (`SHELL +
    /// [body]`), or, when it starts with `#!`, as an executable file. Other
    /// heredoc uses (`RUN python3 <<EOF`, several heredocs) are files fed
    /// to the command (`Heredoc::file_descriptor`, stdin by default), which
    /// the executor arranges from [`CommandLine::files`].
    pub fn inline_script(&self) -> Option<String> {
        if !self.shell_form || self.files.len() != 1 || self.args.len() != 1 {
            return None;
        }
        let h = crate::parser::parse_heredoc(self.args[0].trim())?;
        (h.name == self.files[0].name && h.file_descriptor == 0).then(|| self.files[0].text())
    }

    /// The argv to execute given the stage's SHELL (`["/bin/sh", "-c"]` by default).
    pub fn argv(&self, shell: &[String]) -> Vec<String> {
        if self.shell_form {
            let mut v = shell.to_vec();
            v.extend(self.args.iter().cloned());
            v
        } else {
            self.args.clone()
        }
    }
}

/// `RUN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The command.
    pub command: CommandLine,
    /// `--mount` specs, parsed (values substituted after [`Instruction::expand`]).
    pub mounts: Vec<Mount>,
    /// The raw `--mount` values, kept for re-parsing after substitution.
    pub mount_specs: Vec<String>,
    /// `--network`.
    pub network: Option<NetworkMode>,
    /// `--security`.
    pub security: Option<SecurityMode>,
}

/// `RUN --network`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkMode {
    /// `default`
    Default,
    /// `none`
    None,
    /// `host`
    Host,
}

/// `RUN --security`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityMode {
    /// `sandbox`
    Sandbox,
    /// `insecure`
    Insecure,
}

/// Mount types of `RUN --mount=type=…`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountType {
    /// `bind` (the default): a read-only view of the context or `from`.
    Bind,
    /// `cache`: a persistent cache directory.
    Cache,
    /// `tmpfs`
    Tmpfs,
    /// `secret`: a secret file.
    Secret,
    /// `ssh`: an SSH agent socket.
    Ssh,
}

impl MountType {
    /// Its name in the flag.
    pub fn as_str(&self) -> &'static str {
        match self {
            MountType::Bind => "bind",
            MountType::Cache => "cache",
            MountType::Tmpfs => "tmpfs",
            MountType::Secret => "secret",
            MountType::Ssh => "ssh",
        }
    }
}

/// Cache sharing of `type=cache`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// `shared` (the default)
    Shared,
    /// `private`
    Private,
    /// `locked`
    Locked,
}

/// One `RUN --mount`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// `type=`
    pub kind: MountType,
    /// `from=`: a stage name or index, or an image.
    pub from: Option<String>,
    /// `source=`/`src=`
    pub source: Option<String>,
    /// `target=`/`dst=`/`destination=`
    pub target: Option<String>,
    /// Read-only (default for bind, secret and ssh).
    pub readonly: bool,
    /// `size=` of a tmpfs, in bytes.
    pub size_limit: Option<u64>,
    /// `id=` of a cache or secret.
    pub id: Option<String>,
    /// `sharing=` of a cache.
    pub sharing: Option<Sharing>,
    /// `required` (secret, ssh).
    pub required: bool,
    /// `env=` of a secret.
    pub env: Option<String>,
    /// `mode=` (octal).
    pub mode: Option<u32>,
    /// `uid=`
    pub uid: Option<u32>,
    /// `gid=`
    pub gid: Option<u32>,
}

/// A `key=value` of ENV or LABEL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key.
    pub key: String,
    /// The value (quotes still in until [`Instruction::expand`]).
    pub value: String,
    /// Written in the old `ENV key value` form.
    pub legacy: bool,
}

/// One name of `ARG`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDef {
    /// The name.
    pub key: String,
    /// `=default`, if given.
    pub default: Option<String>,
}

/// A heredoc source of COPY/ADD (`COPY <<EOF /dest`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineFile {
    /// The file name (the delimiter word).
    pub path: String,
    /// The content (tabs stripped for `<<-`).
    pub data: String,
    /// Whether variables in `data` are substituted.
    pub expand: bool,
}

/// Sources and destination of COPY/ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Files {
    /// Source paths, URLs or git references.
    pub sources: Vec<String>,
    /// Heredoc sources.
    pub inline: Vec<InlineFile>,
    /// The destination.
    pub dest: String,
}

/// `ADD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Add {
    /// What and where.
    pub files: Files,
    /// `--chown`
    pub chown: Option<String>,
    /// `--chmod`
    pub chmod: Option<String>,
    /// `--checksum` (remote sources).
    pub checksum: Option<String>,
    /// `--keep-git-dir`, when given.
    pub keep_git_dir: Option<bool>,
    /// `--link`
    pub link: bool,
    /// `--unpack`, when given.
    pub unpack: Option<bool>,
    /// `--exclude` patterns.
    pub exclude: Vec<String>,
}

/// `COPY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    /// What and where.
    pub files: Files,
    /// `--from`: a stage name or index, or an image (no substitution, as in BuildKit).
    pub from: Option<String>,
    /// `--chown`
    pub chown: Option<String>,
    /// `--chmod`
    pub chmod: Option<String>,
    /// `--link`
    pub link: bool,
    /// `--parents`
    pub parents: bool,
    /// `--exclude` patterns.
    pub exclude: Vec<String>,
}

/// `ONBUILD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Onbuild {
    /// The trigger as stored in the image config (`RUN echo hi`), heredocs appended.
    pub expression: String,
}

/// `HEALTHCHECK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`: disable the base image's check.
    None,
    /// `HEALTHCHECK [opts] CMD …`
    Check {
        /// `["CMD", args…]` (exec form) or `["CMD-SHELL", "cmd"]`, docker's `Healthcheck.Test`.
        test: Vec<String>,
        /// `--interval` (zero: docker's default).
        interval: Duration,
        /// `--timeout`
        timeout: Duration,
        /// `--start-period`
        start_period: Duration,
        /// `--start-interval`
        start_interval: Duration,
        /// `--retries`
        retries: u32,
    },
}

/// A stage: its FROM and its instructions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// The FROM.
    pub from: From,
    /// Line of the FROM.
    pub line: usize,
    /// The FROM as written.
    pub original: String,
    /// The instructions after FROM.
    pub instructions: Vec<Instruction>,
}

/// A whole Dockerfile, typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// ARGs before the first FROM (the global scope).
    pub global_args: Vec<Instruction>,
    /// The stages in order.
    pub stages: Vec<Stage>,
    /// The escape character.
    pub escape: char,
    /// Parser directives.
    pub directives: Vec<parser::Directive>,
    /// Parser warnings.
    pub warnings: Vec<parser::Warning>,
}

impl Dockerfile {
    /// A lexer with this Dockerfile's escape character.
    pub fn lex(&self) -> Lex {
        Lex::new(self.escape)
    }
}

/// Parse and type a Dockerfile: syntax, instructions, stages.
pub fn parse_dockerfile(text: &str) -> Result<Dockerfile, Error> {
    let ast = parser::parse(text)?;
    let mut global_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for node in &ast.nodes {
        let inst = parse_instruction(node)?;
        match (&inst.command, stages.last_mut()) {
            (Command::From(f), _) => stages.push(Stage {
                from: f.clone(),
                line: inst.start_line,
                original: inst.original.clone(),
                instructions: Vec::new(),
            }),
            (Command::Arg(_), None) => global_args.push(inst),
            (_, None) => {
                return Err(Error::Syntax {
                    line: inst.start_line,
                    message: "no build stage in current context".into(),
                })
            }
            (_, Some(stage)) => stage.instructions.push(inst),
        }
    }
    if stages.is_empty() {
        return Err(Error::Syntax {
            line: ast.nodes.last().map(|n| n.end_line).unwrap_or(1),
            message: "dockerfile contains no stages to build".into(),
        });
    }
    Ok(Dockerfile {
        global_args,
        stages,
        escape: ast.escape,
        directives: ast.directives,
        warnings: ast.warnings,
    })
}

/// BuildKit's builder flags: `--name=value` words checked against the
/// flags an instruction takes.
struct Flags<'a> {
    args: &'a [String],
    known: Vec<(&'static str, FlagType)>,
    values: Vec<(&'static str, Vec<String>)>,
}

#[derive(Clone, Copy, PartialEq)]
enum FlagType {
    Bool,
    String,
    Strings,
}

impl<'a> Flags<'a> {
    fn new(args: &'a [String]) -> Self {
        Flags {
            args,
            known: Vec::new(),
            values: Vec::new(),
        }
    }
    fn with(mut self, name: &'static str, t: FlagType) -> Self {
        self.known.push((name, t));
        self
    }
    fn parse(mut self) -> Result<Self, String> {
        for a in self.args {
            if a == "--" {
                break;
            }
            let Some(body) = a.strip_prefix("--") else {
                return Err(format!("arg should start with -- : {a}"));
            };
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let flag_name = format!("--{name}");
            let Some(&(name, t)) = self.known.iter().find(|(n, _)| *n == name) else {
                return Err(format!("unknown flag: {flag_name}"));
            };
            let seen = self.values.iter().position(|(n, _)| *n == name);
            if seen.is_some() && t != FlagType::Strings {
                return Err(format!("duplicate flag specified: {flag_name}"));
            }
            let v = match t {
                FlagType::Bool => match value.map(str::to_ascii_lowercase).as_deref() {
                    Some("") => return Err(format!("missing a value on flag: {flag_name}")),
                    None | Some("true") => "true".to_string(),
                    Some("false") => "false".to_string(),
                    Some(_) => {
                        return Err(format!(
                            "expecting boolean value for flag {flag_name}, not: {}",
                            value.unwrap_or_default()
                        ))
                    }
                },
                FlagType::String | FlagType::Strings => match value {
                    Some(v) => v.to_string(),
                    None => return Err(format!("missing a value on flag: {flag_name}")),
                },
            };
            match seen {
                Some(i) => self.values[i].1.push(v),
                None => self.values.push((name, vec![v])),
            }
        }
        Ok(self)
    }
    fn string(&self, name: &str) -> Option<String> {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| v.last().cloned())
    }
    fn strings(&self, name: &str) -> Vec<String> {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }
    fn bool(&self, name: &str) -> Option<bool> {
        self.string(name).map(|v| v == "true")
    }
}

fn shell_args(node: &Node) -> Vec<String> {
    if node.args.is_empty() {
        Vec::new()
    } else if node.json {
        node.args.clone()
    } else {
        vec![node.args.join(" ")]
    }
}

fn command_line(node: &Node, args: Vec<String>) -> CommandLine {
    CommandLine {
        args,
        shell_form: !node.json,
        files: node.heredocs.clone(),
    }
}

fn files(node: &Node, cmd: &str) -> Result<Files, String> {
    let (dest, srcs) = node.args.split_last().ok_or_else(|| no_dest(cmd))?;
    if parser::parse_heredoc(dest).is_some() {
        return Err(format!("{cmd} cannot accept a heredoc as a destination"));
    }
    let mut out = Files {
        sources: Vec::new(),
        inline: Vec::new(),
        dest: dest.clone(),
    };
    for src in srcs {
        match parser::parse_heredoc(src) {
            Some(h) => {
                let body = node.heredocs.iter().find(|d| d.name == h.name);
                let mut data = body.map(|b| b.content.clone()).unwrap_or_default();
                if h.chomp {
                    data = parser::chomp_heredoc_content(&data);
                }
                out.inline.push(InlineFile {
                    path: h.name,
                    data,
                    expand: h.expand,
                });
            }
            None => out.sources.push(src.clone()),
        }
    }
    Ok(out)
}

fn no_dest(cmd: &str) -> String {
    format!("{cmd} requires at least two arguments, but only one was provided. Destination could not be determined")
}

fn kvps(args: &[String], cmd: &str) -> Result<Vec<KeyValue>, String> {
    if args.is_empty() {
        return Err(format!("{cmd} requires at least one argument"));
    }
    if args.len() % 3 != 0 {
        return Err(format!("Bad input to {cmd}, too many arguments"));
    }
    args.chunks(3)
        .map(|c| {
            if c[0].is_empty() {
                return Err(format!("{cmd} names can not be blank"));
            }
            Ok(KeyValue {
                key: c[0].clone(),
                value: c[1].clone(),
                legacy: c[2].is_empty(),
            })
        })
        .collect()
}

fn exactly_one(node: &Node, cmd: &str) -> Result<String, String> {
    match node.args.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(format!("{cmd} requires exactly one argument")),
    }
}

fn valid_stage_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-' | '_' | '.'))
}

/// Type one syntax-tree node. Errors carry the node's line.
pub fn parse_instruction(node: &Node) -> Result<Instruction, Error> {
    let command = parse_command(node).map_err(|message| Error::Syntax {
        line: node.start_line,
        message,
    })?;
    Ok(Instruction {
        command,
        start_line: node.start_line,
        end_line: node.end_line,
        original: node.original.clone(),
    })
}

fn parse_command(node: &Node) -> Result<Command, String> {
    use FlagType::*;
    let fl = || Flags::new(&node.flags);
    let kw = node.keyword();
    Ok(match kw.as_str() {
        "from" => {
            let f = fl().with("platform", String).parse()?;
            let name = match node.args.as_slice() {
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => {
                    let lower = name.to_lowercase();
                    if !valid_stage_name(&lower) {
                        return Err(format!("invalid name for build stage: {}, name can't start with a number or contain symbols", crate::shell::go_quote(name)));
                    }
                    Some(lower)
                }
                [_] => None,
                _ => return Err("FROM requires either one or three arguments".into()),
            };
            Command::From(From {
                image: node.args[0].clone(),
                name,
                platform: f.string("platform"),
            })
        }
        "run" => {
            let f = fl()
                .with("mount", Strings)
                .with("network", String)
                .with("security", String)
                .parse()?;
            let mount_specs = f.strings("mount");
            let mounts = mount_specs
                .iter()
                .map(|m| parse_mount(m, None))
                .collect::<Result<Vec<_>, _>>()?;
            let network = match f.string("network").as_deref() {
                None => None,
                Some("default") => Some(NetworkMode::Default),
                Some("none") => Some(NetworkMode::None),
                Some("host") => Some(NetworkMode::Host),
                Some(o) => return Err(format!("unsupported network mode {o:?}")),
            };
            let security = match f.string("security").as_deref() {
                None => None,
                Some("sandbox") => Some(SecurityMode::Sandbox),
                Some("insecure") => Some(SecurityMode::Insecure),
                Some(o) => return Err(format!("unsupported security mode {o:?}")),
            };
            Command::Run(Run {
                command: command_line(node, shell_args(node)),
                mounts,
                mount_specs,
                network,
                security,
            })
        }
        "cmd" | "entrypoint" => {
            fl().parse()?;
            let cl = command_line(node, shell_args(node));
            if kw == "cmd" {
                Command::Cmd(cl)
            } else {
                Command::Entrypoint(cl)
            }
        }
        "label" => {
            fl().parse()?;
            Command::Label(kvps(&node.args, "LABEL")?)
        }
        "env" => {
            fl().parse()?;
            Command::Env(kvps(&node.args, "ENV")?)
        }
        "maintainer" => {
            let m = exactly_one(node, "MAINTAINER")?;
            fl().parse()?;
            Command::Maintainer(m)
        }
        "expose" => {
            if node.args.is_empty() {
                return Err("EXPOSE requires at least one argument".into());
            }
            fl().parse()?;
            let mut ports = node.args.clone();
            ports.sort();
            Command::Expose(ports)
        }
        "arg" => {
            if node.args.is_empty() {
                return Err("ARG requires at least one argument".into());
            }
            let defs = node
                .args
                .iter()
                .map(|a| match a.split_once('=') {
                    Some(("", _)) => Err("ARG names can not be blank".to_string()),
                    Some((k, v)) => Ok(ArgDef {
                        key: k.into(),
                        default: Some(v.into()),
                    }),
                    None => Ok(ArgDef {
                        key: a.clone(),
                        default: None,
                    }),
                })
                .collect::<Result<_, _>>()?;
            Command::Arg(defs)
        }
        "add" => {
            if node.args.len() < 2 {
                return Err(no_dest("ADD"));
            }
            let f = fl()
                .with("chown", String)
                .with("chmod", String)
                .with("link", Bool)
                .with("keep-git-dir", Bool)
                .with("checksum", String)
                .with("unpack", Bool)
                .with("exclude", Strings)
                .parse()?;
            Command::Add(Add {
                files: files(node, "ADD")?,
                chown: f.string("chown"),
                chmod: f.string("chmod"),
                checksum: f.string("checksum"),
                keep_git_dir: f.bool("keep-git-dir"),
                link: f.bool("link").unwrap_or(false),
                unpack: f.bool("unpack"),
                exclude: f.strings("exclude"),
            })
        }
        "copy" => {
            if node.args.len() < 2 {
                return Err(no_dest("COPY"));
            }
            let f = fl()
                .with("chown", String)
                .with("from", String)
                .with("chmod", String)
                .with("link", Bool)
                .with("exclude", Strings)
                .with("parents", Bool)
                .parse()?;
            let from = f.string("from").filter(|s| !s.is_empty());
            if let Some(from) = &from {
                if from.contains('$') {
                    return Err("variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround".into());
                }
            }
            Command::Copy(Copy {
                files: files(node, "COPY")?,
                from,
                chown: f.string("chown"),
                chmod: f.string("chmod"),
                link: f.bool("link").unwrap_or(false),
                parents: f.bool("parents").unwrap_or(false),
                exclude: f.strings("exclude"),
            })
        }
        "volume" => {
            if node.args.is_empty() {
                return Err("VOLUME requires at least one argument".into());
            }
            fl().parse()?;
            let mut v = Vec::new();
            for a in &node.args {
                let a = a.trim();
                if a.is_empty() {
                    return Err("VOLUME specified can not be an empty string".into());
                }
                v.push(a.to_string());
            }
            Command::Volume(v)
        }
        "user" => {
            let u = exactly_one(node, "USER")?;
            fl().parse()?;
            Command::User(u)
        }
        "workdir" => {
            let w = exactly_one(node, "WORKDIR")?;
            fl().parse()?;
            Command::Workdir(w)
        }
        "stopsignal" => Command::StopSignal(exactly_one(node, "STOPSIGNAL")?),
        "onbuild" => {
            let Some(sub) = &node.sub else {
                return Err("ONBUILD requires at least one argument".into());
            };
            fl().parse()?;
            let trigger = sub.value.to_ascii_uppercase();
            match trigger.as_str() {
                "ONBUILD" => {
                    return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into())
                }
                "MAINTAINER" | "FROM" => {
                    return Err(format!("{trigger} isn't allowed as an ONBUILD trigger"))
                }
                _ => {}
            }
            // The trigger must itself be a valid instruction.
            let mut sub = (**sub).clone();
            sub.heredocs = node.heredocs.clone();
            parse_command(&sub)?;
            let mut expression = strip_onbuild(&node.original);
            for h in &node.heredocs {
                expression.push('\n');
                expression.push_str(&h.content);
                expression.push_str(&h.name);
            }
            Command::Onbuild(Onbuild { expression })
        }
        "healthcheck" => parse_healthcheck(node)?,
        "shell" => {
            fl().parse()?;
            let args = shell_args(node);
            if args.is_empty() {
                return Err("SHELL requires at least one argument".into());
            }
            if !node.json {
                return Err(format!(
                    "SHELL requires the arguments to be in JSON form: {}",
                    node.original.trim()
                ));
            }
            Command::Shell(args)
        }
        _ => return Err(format!("unknown instruction: {}", node.value)),
    })
}

fn strip_onbuild(original: &str) -> String {
    let s = original.trim_start();
    let rest = if s.len() >= 7 && s[..7].eq_ignore_ascii_case("onbuild") {
        &s[7..]
    } else {
        s
    };
    rest.trim_start().to_string()
}

fn parse_healthcheck(node: &Node) -> Result<Command, String> {
    let Some((typ, args)) = node.args.split_first() else {
        return Err("HEALTHCHECK requires at least one argument".into());
    };
    let typ = typ.to_ascii_uppercase();
    if typ == "NONE" {
        if !args.is_empty() {
            return Err("HEALTHCHECK NONE takes no arguments".into());
        }
        return Ok(Command::Healthcheck(Healthcheck::None));
    }
    use FlagType::String;
    let f = Flags::new(&node.flags)
        .with("interval", String)
        .with("timeout", String)
        .with("start-period", String)
        .with("start-interval", String)
        .with("retries", String)
        .parse()?;
    if typ != "CMD" {
        return Err(format!("Unknown type {typ:?} in HEALTHCHECK (try CMD)"));
    }
    let cmd: Vec<std::string::String> = if args.is_empty() {
        Vec::new()
    } else if node.json {
        args.to_vec()
    } else {
        vec![args.join(" ")]
    };
    if cmd.is_empty() {
        return Err("Missing command after HEALTHCHECK CMD".into());
    }
    let mut test = vec![if node.json { "CMD" } else { "CMD-SHELL" }.to_string()];
    test.extend(cmd);
    let interval = |name: &str| -> Result<Duration, std::string::String> {
        match f.string(name) {
            None => Ok(Duration::ZERO),
            Some(v) if v.is_empty() => Ok(Duration::ZERO),
            Some(v) => {
                let d = parse_go_duration(&v)?;
                match d {
                    Some(d) if d.is_zero() || d >= Duration::from_millis(1) => Ok(d),
                    _ => Err(format!("Interval {name:?} cannot be less than 1ms")),
                }
            }
        }
    };
    let retries = match f.string("retries") {
        None => 0,
        Some(v) => {
            let n: i64 = v
                .parse()
                .map_err(|_| format!("strconv.ParseInt: parsing {v:?}: invalid syntax"))?;
            if n < 0 {
                return Err(format!("--retries cannot be negative ({n})"));
            }
            u32::try_from(n).map_err(|_| format!("--retries out of range ({n})"))?
        }
    };
    Ok(Command::Healthcheck(Healthcheck::Check {
        test,
        interval: interval("interval")?,
        timeout: interval("timeout")?,
        start_period: interval("start-period")?,
        start_interval: interval("start-interval")?,
        retries,
    }))
}

/// Parse a Go duration (`1m30s`, `300ms`, `1.5h`); `None` if negative.
pub fn parse_go_duration(s: &str) -> Result<Option<Duration>, String> {
    let err = || format!("time: invalid duration {}", crate::shell::go_quote(s));
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Ok(Some(Duration::ZERO));
    }
    if rest.is_empty() {
        return Err(err());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| {
                format!(
                    "time: missing unit in duration {}",
                    crate::shell::go_quote(s)
                )
            })?;
        let num: f64 = rest[..n].parse().map_err(|_| err())?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(err()),
        };
        total += num * mult;
        rest = &rest[u..];
    }
    if neg && total > 0.0 {
        return Ok(None);
    }
    Ok(Some(Duration::from_secs_f64(total)))
}

/// Check an EXPOSE port spec (`80`, `80/tcp`, `8000-8010/udp`) and return
/// its `Config.ExposedPorts` keys (`80/tcp`, …), as docker's `nat` package does.
pub fn port_spec(spec: &str) -> Result<Vec<String>, String> {
    let (ports, proto) = match spec.split_once('/') {
        Some((p, proto)) => (p, proto.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    let num = |s: &str| {
        s.parse::<u16>()
            .map_err(|_| format!("invalid containerPort: {ports}"))
    };
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => {
            let p = num(ports)?;
            (p, p)
        }
    };
    if hi < lo {
        return Err(format!("invalid range specified for container: {ports}"));
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

/// Split a CSV record (`type=cache,"target=/a,b"`).
fn csv_fields(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut chars = s.chars().peekable();
    let mut in_quotes = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        if in_quotes {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    in_quotes = false;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            '"' if at_start => {
                in_quotes = true;
                at_start = false;
            }
            ',' => {
                out.push(std::mem::take(&mut field));
                at_start = true;
            }
            c => {
                field.push(c);
                at_start = false;
            }
        }
    }
    if in_quotes {
        return Err("failed to parse csv mounts: extraneous or missing \" in quoted-field".into());
    }
    out.push(field);
    Ok(out)
}

/// Parse a size like `64m`, `1g`, `512k`, `100` (binary multiples, docker's `RAMInBytes`).
fn ram_in_bytes(s: &str) -> Option<u64> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let lower = lower.strip_suffix('b').unwrap_or(&lower);
    let lower = lower.strip_suffix('i').unwrap_or(lower);
    let (num, mult) = match lower.chars().last()? {
        'k' => (&lower[..lower.len() - 1], 1u64 << 10),
        'm' => (&lower[..lower.len() - 1], 1 << 20),
        'g' => (&lower[..lower.len() - 1], 1 << 30),
        't' => (&lower[..lower.len() - 1], 1 << 40),
        'p' => (&lower[..lower.len() - 1], 1 << 50),
        _ => (lower, 1),
    };
    let n: f64 = num.trim_end().parse().ok()?;
    if n < 0.0 {
        return None;
    }
    Some((n * mult as f64) as u64)
}

/// Substitutes variables in one `--mount` value.
pub type Expander<'a> = &'a dyn Fn(&str) -> Result<String, String>;

/// Parse one `--mount` value. With `expand`, values are substituted first
/// (BuildKit expands every value except with `from=`, which must be static).
pub fn parse_mount(spec: &str, expand: Option<Expander<'_>>) -> Result<Mount, String> {
    let fields = csv_fields(spec)?;
    let mut m = Mount {
        kind: MountType::Bind,
        from: None,
        source: None,
        target: None,
        readonly: false,
        size_limit: None,
        id: None,
        sharing: None,
        required: false,
        env: None,
        mode: None,
        uid: None,
        gid: None,
    };
    let mut ro_auto = true;
    let parse_bool = |key: &str, v: &str| match v.to_ascii_lowercase().as_str() {
        "1" | "t" | "true" => Ok(true),
        "0" | "f" | "false" => Ok(false),
        _ => Err(format!("invalid value for {key}: {v}")),
    };
    for field in fields {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), v.to_string()),
            None => {
                match field.to_ascii_lowercase().as_str() {
                    "readonly" | "ro" => {
                        m.readonly = true;
                        ro_auto = false;
                    }
                    "readwrite" | "rw" => {
                        m.readonly = false;
                        ro_auto = false;
                    }
                    "required" if matches!(m.kind, MountType::Secret | MountType::Ssh) => {
                        m.required = true
                    }
                    "required" => {
                        return Err(format!(
                            "unexpected key 'required' for mount type '{}'",
                            m.kind.as_str()
                        ))
                    }
                    _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
                }
                continue;
            }
        };
        let value = if key == "from" {
            if let Some(i) = value.find('$') {
                if i != value.len() - 1 {
                    return Err(format!(
                        "'{key}' doesn't support variable expansion, define alias stage instead"
                    ));
                }
            }
            value
        } else if let Some(expand) = expand {
            expand(&value)?
        } else {
            value
        };
        match key.as_str() {
            "type" => {
                m.kind = match value.to_ascii_lowercase().as_str() {
                    "bind" => MountType::Bind,
                    "cache" => MountType::Cache,
                    "tmpfs" => MountType::Tmpfs,
                    "secret" => MountType::Secret,
                    "ssh" => MountType::Ssh,
                    _ => return Err(format!("unsupported mount type {value:?}")),
                }
            }
            "from" => m.from = Some(value),
            "source" | "src" => m.source = Some(value),
            "target" | "dst" | "destination" => m.target = Some(value),
            "readonly" | "ro" => {
                m.readonly = parse_bool(&key, &value)?;
                ro_auto = false;
            }
            "readwrite" | "rw" => {
                m.readonly = !parse_bool(&key, &value)?;
                ro_auto = false;
            }
            "required" => {
                if !matches!(m.kind, MountType::Secret | MountType::Ssh) {
                    return Err(format!(
                        "unexpected key '{key}' for mount type '{}'",
                        m.kind.as_str()
                    ));
                }
                m.required = parse_bool(&key, &value)?;
            }
            "size" => {
                if m.kind != MountType::Tmpfs {
                    return Err(format!(
                        "unexpected key '{key}' for mount type '{}'",
                        m.kind.as_str()
                    ));
                }
                m.size_limit = Some(
                    ram_in_bytes(&value)
                        .ok_or_else(|| format!("invalid value for {key}: {value}"))?,
                );
            }
            "id" => m.id = Some(value),
            "sharing" => {
                m.sharing = Some(match value.to_ascii_lowercase().as_str() {
                    "shared" => Sharing::Shared,
                    "private" => Sharing::Private,
                    "locked" => Sharing::Locked,
                    _ => return Err(format!("unsupported sharing value {value:?}")),
                })
            }
            "mode" => {
                m.mode = Some(
                    u32::from_str_radix(&value, 8)
                        .map_err(|_| format!("invalid value {value} for mode"))?,
                )
            }
            "uid" => {
                m.uid = Some(
                    value
                        .parse()
                        .map_err(|_| format!("invalid value {value} for uid"))?,
                )
            }
            "gid" => {
                m.gid = Some(
                    value
                        .parse()
                        .map_err(|_| format!("invalid value {value} for gid"))?,
                )
            }
            "env" => m.env = Some(value),
            _ => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
    }
    let file_info = matches!(
        m.kind,
        MountType::Secret | MountType::Ssh | MountType::Cache
    );
    if !file_info {
        for (name, set) in [
            ("mode", m.mode.is_some()),
            ("uid", m.uid.is_some()),
            ("gid", m.gid.is_some()),
        ] {
            if set {
                return Err(format!(
                    "{name} not allowed for {:?} type mounts",
                    m.kind.as_str()
                ));
            }
        }
    }
    if ro_auto {
        m.readonly = !matches!(m.kind, MountType::Cache | MountType::Tmpfs);
    }
    if m.kind == MountType::Secret {
        if m.from.is_some() {
            return Err("secret mount should not have a from".into());
        }
        if m.sharing.is_some() {
            return Err("secret mount should not define sharing".into());
        }
        if m.source.is_none() && m.target.is_none() && m.id.is_none() {
            return Err("invalid secret mount. one of source, target required".into());
        }
        if m.source.is_some() && m.id.is_some() {
            return Err("both source and id can't be set".into());
        }
    }
    if m.sharing.is_some() && m.kind != MountType::Cache {
        return Err(format!(
            "invalid cache sharing set for {} mount",
            m.kind.as_str()
        ));
    }
    Ok(m)
}

impl Instruction {
    /// This instruction with variables substituted from `env`, in exactly
    /// the fields docker substitutes. FROM and ARG come back unchanged (the
    /// plan evaluates them); RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK,
    /// MAINTAINER and ONBUILD keep `$VAR` literal.
    pub fn expand(&self, lex: &Lex, env: &Env) -> Result<Instruction, Error> {
        let line = self.start_line;
        let w = |s: &str| {
            lex.process_word(s, env)
                .map_err(|source| Error::Substitution { line, source })
        };
        let opt = |s: &Option<String>| s.as_deref().map(w).transpose();
        let raw_lex = {
            let mut l = Lex::new('\\');
            l.skip_process_quotes = true;
            l
        };
        let files = |f: &Files| -> Result<Files, Error> {
            Ok(Files {
                sources: f.sources.iter().map(|s| w(s)).collect::<Result<_, _>>()?,
                inline: f
                    .inline
                    .iter()
                    .map(|i| {
                        let data = if i.expand {
                            raw_lex
                                .process_word(&i.data, env)
                                .map_err(|source| Error::Substitution { line, source })?
                        } else {
                            i.data.clone()
                        };
                        Ok(InlineFile { data, ..i.clone() })
                    })
                    .collect::<Result<_, Error>>()?,
                dest: w(&f.dest)?,
            })
        };
        let kvs = |v: &[KeyValue]| -> Result<Vec<KeyValue>, Error> {
            v.iter()
                .map(|kv| {
                    Ok(KeyValue {
                        key: w(&kv.key)?,
                        value: w(&kv.value)?,
                        legacy: kv.legacy,
                    })
                })
                .collect()
        };
        let command = match &self.command {
            Command::Env(v) => Command::Env(kvs(v)?),
            Command::Label(v) => Command::Label(kvs(v)?),
            Command::Add(a) => Command::Add(Add {
                files: files(&a.files)?,
                chown: opt(&a.chown)?,
                chmod: opt(&a.chmod)?,
                checksum: opt(&a.checksum)?,
                ..a.clone()
            }),
            Command::Copy(c) => Command::Copy(Copy {
                files: files(&c.files)?,
                chown: opt(&c.chown)?,
                chmod: opt(&c.chmod)?,
                ..c.clone()
            }),
            Command::Expose(ports) => {
                let mut out = Vec::new();
                for p in ports {
                    out.extend(
                        lex.process_words(p, env)
                            .map_err(|source| Error::Substitution { line, source })?,
                    );
                }
                for p in &out {
                    port_spec(p).map_err(|message| Error::Syntax { line, message })?;
                }
                Command::Expose(out)
            }
            Command::User(u) => Command::User(w(u)?),
            Command::Workdir(p) => Command::Workdir(w(p)?),
            Command::StopSignal(s) => Command::StopSignal(w(s)?),
            Command::Volume(v) => {
                Command::Volume(v.iter().map(|s| w(s)).collect::<Result<_, _>>()?)
            }
            Command::Run(r) => {
                let exp = |s: &str| lex.process_word(s, env).map_err(|e| e.to_string());
                let mounts = r
                    .mount_specs
                    .iter()
                    .map(|m| parse_mount(m, Some(&exp)))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|message| Error::Syntax { line, message })?;
                Command::Run(Run {
                    mounts,
                    ..r.clone()
                })
            }
            other => other.clone(),
        };
        Ok(Instruction {
            command,
            ..self.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Result<Command, Error> {
        let df = parse_dockerfile(&format!("FROM scratch\n{text}\n"))?;
        Ok(df.stages[0].instructions[0].command.clone())
    }

    fn err(text: &str) -> String {
        one(text).unwrap_err().to_string()
    }

    #[test]
    fn from_forms() {
        let df = parse_dockerfile(
            "ARG V=1\nFROM --platform=$BUILDPLATFORM golang:$V AS Build\nFROM scratch\n",
        )
        .unwrap();
        assert_eq!(df.global_args.len(), 1);
        assert_eq!(
            df.stages[0].from,
            From {
                image: "golang:$V".into(),
                name: Some("build".into()),
                platform: Some("$BUILDPLATFORM".into())
            }
        );
        assert_eq!(df.stages[1].from.image, "scratch");
        assert!(parse_dockerfile("FROM a AS 1x\n")
            .unwrap_err()
            .to_string()
            .contains("invalid name for build stage"));
        assert!(parse_dockerfile("FROM a b\n")
            .unwrap_err()
            .to_string()
            .contains("one or three"));
        assert!(parse_dockerfile("RUN x\n")
            .unwrap_err()
            .to_string()
            .contains("no build stage"));
        assert!(parse_dockerfile("ARG x\n").is_err());
    }

    #[test]
    fn unknown_instruction_names_it_and_the_line() {
        let e = parse_dockerfile("FROM a\n\nFROBNICATE x\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "dockerfile parse error on line 3: unknown instruction: FROBNICATE"
        );
        assert_eq!(e.kind(), berth_kind::ErrorKind::Invalid);
    }

    #[test]
    fn run_forms_and_flags() {
        let Command::Run(r) = one("RUN --mount=type=cache,target=/root/.cache,id=pip --mount=type=secret,id=tok --network=none --security=insecure pip install x").unwrap() else { panic!() };
        assert_eq!(r.command.args, ["pip install x"]);
        assert!(r.command.shell_form);
        assert_eq!(r.mounts[0].kind, MountType::Cache);
        assert!(!r.mounts[0].readonly);
        assert_eq!(r.mounts[0].target.as_deref(), Some("/root/.cache"));
        assert_eq!(r.mounts[1].kind, MountType::Secret);
        assert!(r.mounts[1].readonly);
        assert_eq!(r.network, Some(NetworkMode::None));
        assert_eq!(r.security, Some(SecurityMode::Insecure));
        let Command::Run(r) = one("RUN [\"echo\", \"$HOME\"]").unwrap() else {
            panic!()
        };
        assert_eq!(r.command.args, ["echo", "$HOME"]);
        assert!(!r.command.shell_form);
        assert_eq!(
            r.command.argv(&["/bin/sh".into(), "-c".into()]),
            ["echo", "$HOME"]
        );
        let Command::Run(r) =
            one("RUN --mount=type=bind,from=build,source=/out,target=/in,rw true").unwrap()
        else {
            panic!()
        };
        assert_eq!(r.mounts[0].from.as_deref(), Some("build"));
        assert!(!r.mounts[0].readonly);
        let Command::Run(r) = one("RUN --mount=type=tmpfs,target=/t,size=64m true").unwrap() else {
            panic!()
        };
        assert_eq!(r.mounts[0].size_limit, Some(64 << 20));
        assert!(err("RUN --mount=type=nfs,target=/x true").contains("unsupported mount type"));
        assert!(err("RUN --mount=type=bind,target=/x,mode=0700 true").contains("mode not allowed"));
        assert!(err("RUN --mount=type=cache,from=$X,target=/x true")
            .contains("doesn't support variable expansion"));
        assert!(err("RUN --network=bridge true").contains("unsupported network mode"));
        assert_eq!(
            err("RUN --foo true"),
            "dockerfile parse error on line 2: unknown flag: --foo"
        );
    }

    #[test]
    fn copy_and_add_flags() {
        let Command::Copy(c) = one("COPY --from=build --chown=1000:1000 --chmod=755 --link --parents --exclude=*.md --exclude=tmp a b /dst/").unwrap() else { panic!() };
        assert_eq!(c.from.as_deref(), Some("build"));
        assert_eq!(c.chown.as_deref(), Some("1000:1000"));
        assert!(c.link && c.parents);
        assert_eq!(c.exclude, ["*.md", "tmp"]);
        assert_eq!(c.files.sources, ["a", "b"]);
        assert_eq!(c.files.dest, "/dst/");
        let Command::Add(a) =
            one("ADD --checksum=sha256:abc --keep-git-dir=true https://x/y.tgz /").unwrap()
        else {
            panic!()
        };
        assert_eq!(a.checksum.as_deref(), Some("sha256:abc"));
        assert_eq!(a.keep_git_dir, Some(true));
        assert!(err("COPY a").contains("requires at least two arguments"));
        assert!(
            err("COPY --from=$X a b").contains("variable expansion is not supported for --from")
        );
        assert!(err("COPY --link=maybe a b").contains("expecting boolean value"));
        assert!(err("COPY --chown a b").contains("missing a value on flag: --chown"));
        assert!(err("COPY --chown=a --chown=b a b").contains("duplicate flag"));
        let Command::Copy(c) = one("COPY [\"a b\", \"/c d/\"]").unwrap() else {
            panic!()
        };
        assert_eq!(c.files.sources, ["a b"]);
    }

    #[test]
    fn run_heredoc_script() {
        let df = parse_dockerfile(
            "FROM a\nRUN <<-EOF\n\techo one\n\techo two\n\tEOF\nRUN python3 <<EOF\nprint(1)\nEOF\n",
        )
        .unwrap();
        let Command::Run(r) = &df.stages[0].instructions[0].command else {
            panic!()
        };
        assert_eq!(
            r.command.inline_script().as_deref(),
            Some("echo one\necho two\n")
        );
        let Command::Run(r) = &df.stages[0].instructions[1].command else {
            panic!()
        };
        assert_eq!(r.command.inline_script(), None);
        assert_eq!(r.command.files[0].text(), "print(1)\n");
    }

    #[test]
    fn copy_heredoc() {
        let df = parse_dockerfile("FROM scratch\nCOPY <<-EOF /etc/conf\n\tname=$NAME\n\tEOF\nCOPY <<'RAW' /raw\n$NAME\nRAW\n").unwrap();
        let Command::Copy(c) = &df.stages[0].instructions[0].command else {
            panic!()
        };
        assert_eq!(c.files.inline[0].path, "EOF");
        assert_eq!(c.files.inline[0].data, "name=$NAME\n");
        let env = Env::from_pairs(["NAME=berth"]);
        let e = df.stages[0].instructions[0]
            .expand(&df.lex(), &env)
            .unwrap();
        let Command::Copy(c) = e.command else {
            panic!()
        };
        assert_eq!(c.files.inline[0].data, "name=berth\n");
        let e = df.stages[0].instructions[1]
            .expand(&df.lex(), &env)
            .unwrap();
        let Command::Copy(c) = e.command else {
            panic!()
        };
        assert_eq!(c.files.inline[0].data, "$NAME\n");
        assert!(err("COPY a <<EOF\nx\nEOF").contains("cannot accept a heredoc as a destination"));
    }

    #[test]
    fn env_label_arg() {
        let Command::Env(e) = one("ENV a=1 b=\"two words\" c=x\\ y").unwrap() else {
            panic!()
        };
        assert_eq!(e.len(), 3);
        assert_eq!(e[1].value, "\"two words\"");
        let Command::Env(e) = one("ENV key some value").unwrap() else {
            panic!()
        };
        assert_eq!(
            (e[0].key.as_str(), e[0].value.as_str(), e[0].legacy),
            ("key", "some value", true)
        );
        let Command::Label(l) = one("LABEL \"com.example.vendor\"=\"ACME\" version=1.0").unwrap()
        else {
            panic!()
        };
        assert_eq!(l[0].key, "\"com.example.vendor\"");
        let Command::Arg(a) = one("ARG A B=2 C=").unwrap() else {
            panic!()
        };
        assert_eq!(
            a[0],
            ArgDef {
                key: "A".into(),
                default: None
            }
        );
        assert_eq!(a[1].default.as_deref(), Some("2"));
        assert_eq!(a[2].default.as_deref(), Some(""));
        assert!(err("ARG =x").contains("ARG names can not be blank"));
        assert!(err("ENV a=1 b").contains("can't find = in"));
    }

    #[test]
    fn misc_instructions() {
        assert_eq!(
            one("VOLUME [\"/a\", \"/b\"]").unwrap(),
            Command::Volume(vec!["/a".into(), "/b".into()])
        );
        assert_eq!(
            one("VOLUME /a /b").unwrap(),
            Command::Volume(vec!["/a".into(), "/b".into()])
        );
        assert_eq!(
            one("EXPOSE 443 80/tcp").unwrap(),
            Command::Expose(vec!["443".into(), "80/tcp".into()])
        );
        assert_eq!(
            one("USER app:app").unwrap(),
            Command::User("app:app".into())
        );
        assert_eq!(
            one("STOPSIGNAL SIGKILL").unwrap(),
            Command::StopSignal("SIGKILL".into())
        );
        assert_eq!(
            one("MAINTAINER Jane <j@x>").unwrap(),
            Command::Maintainer("Jane <j@x>".into())
        );
        assert_eq!(
            one("SHELL [\"/bin/bash\", \"-c\"]").unwrap(),
            Command::Shell(vec!["/bin/bash".into(), "-c".into()])
        );
        assert!(err("SHELL /bin/bash -c").contains("JSON form"));
        assert!(err("WORKDIR").contains("exactly one"));
        let Command::Cmd(c) = one("CMD echo $HOME").unwrap() else {
            panic!()
        };
        assert_eq!(
            c.argv(&["/bin/sh".into(), "-c".into()]),
            ["/bin/sh", "-c", "echo $HOME"]
        );
        let Command::Entrypoint(c) = one("ENTRYPOINT [\"/bin/app\", \"--flag\"]").unwrap() else {
            panic!()
        };
        assert_eq!(c.args, ["/bin/app", "--flag"]);
    }

    #[test]
    fn onbuild() {
        assert_eq!(
            one("ONBUILD RUN echo $HOME").unwrap(),
            Command::Onbuild(Onbuild {
                expression: "RUN echo $HOME".into()
            })
        );
        assert!(err("ONBUILD ONBUILD RUN x").contains("Chaining ONBUILD"));
        assert!(err("ONBUILD FROM x").contains("FROM isn't allowed as an ONBUILD trigger"));
        assert!(err("ONBUILD MAINTAINER x").contains("isn't allowed"));
        assert!(err("ONBUILD BOGUS x").contains("unknown instruction: BOGUS"));
    }

    #[test]
    fn healthcheck() {
        assert_eq!(
            one("HEALTHCHECK NONE").unwrap(),
            Command::Healthcheck(Healthcheck::None)
        );
        let Command::Healthcheck(Healthcheck::Check { test, interval, timeout, start_period, start_interval, retries }) =
            one("HEALTHCHECK --interval=5m --timeout=3s --start-period=1m30s --start-interval=500ms --retries=3 CMD curl -f http://localhost/ || exit 1").unwrap()
        else {
            panic!()
        };
        assert_eq!(test, ["CMD-SHELL", "curl -f http://localhost/ || exit 1"]);
        assert_eq!(interval, Duration::from_secs(300));
        assert_eq!(timeout, Duration::from_secs(3));
        assert_eq!(start_period, Duration::from_secs(90));
        assert_eq!(start_interval, Duration::from_millis(500));
        assert_eq!(retries, 3);
        let Command::Healthcheck(Healthcheck::Check { test, .. }) =
            one("HEALTHCHECK CMD [\"/bin/check\", \"-q\"]").unwrap()
        else {
            panic!()
        };
        assert_eq!(test, ["CMD", "/bin/check", "-q"]);
        assert!(err("HEALTHCHECK NONE x").contains("takes no arguments"));
        assert!(err("HEALTHCHECK CONNECT TCP 7000").contains("Unknown type"));
        assert!(err("HEALTHCHECK CMD").contains("Missing command"));
        assert!(err("HEALTHCHECK --interval=1ns CMD x").contains("cannot be less than 1ms"));
        assert!(err("HEALTHCHECK --retries=-1 CMD x").contains("cannot be negative"));
    }

    #[test]
    fn expansion_only_where_docker_does() {
        let df = parse_dockerfile(
            "FROM scratch\nENV D=/srv P=\"80 443\"\nWORKDIR $D/app\nRUN echo $D\nCMD echo $D\nEXPOSE $P 8080\nCOPY --chown=$U:$U ${D}/a $D/\nUSER ${U:-nobody}\nVOLUME [\"$D/data\"]\nLABEL \"x.$D\"=\"$D\"\nENTRYPOINT [\"$D\"]\nRUN --mount=type=cache,target=$D/cache true\n",
        )
        .unwrap();
        let env = Env::from_pairs(["D=/srv", "P=80 443"]);
        let lex = df.lex();
        let ex: Vec<Command> = df.stages[0]
            .instructions
            .iter()
            .map(|i| i.expand(&lex, &env).unwrap().command)
            .collect();
        assert_eq!(ex[1], Command::Workdir("/srv/app".into()));
        assert_eq!(
            ex[2], df.stages[0].instructions[2].command,
            "RUN is not expanded"
        );
        assert_eq!(
            ex[3], df.stages[0].instructions[3].command,
            "CMD is not expanded"
        );
        assert_eq!(
            ex[4],
            Command::Expose(vec!["80".into(), "443".into(), "8080".into()])
        );
        let Command::Copy(c) = &ex[5] else { panic!() };
        assert_eq!(c.chown.as_deref(), Some(":"));
        assert_eq!(c.files.sources, ["/srv/a"]);
        assert_eq!(c.files.dest, "/srv/");
        assert_eq!(ex[6], Command::User("nobody".into()));
        assert_eq!(ex[7], Command::Volume(vec!["/srv/data".into()]));
        let Command::Label(l) = &ex[8] else { panic!() };
        assert_eq!((l[0].key.as_str(), l[0].value.as_str()), ("x./srv", "/srv"));
        assert_eq!(
            ex[9], df.stages[0].instructions[9].command,
            "ENTRYPOINT is not expanded"
        );
        let Command::Run(r) = &ex[10] else { panic!() };
        assert_eq!(r.mounts[0].target.as_deref(), Some("/srv/cache"));
        let Command::Env(e) = &df.stages[0].instructions[0]
            .expand(&lex, &Env::new())
            .unwrap()
            .command
        else {
            panic!()
        };
        assert_eq!(e[1].value, "80 443");
        let bad = parse_dockerfile("FROM a\nWORKDIR ${X:?need X}\n").unwrap();
        let e = bad.stages[0].instructions[0]
            .expand(&lex, &Env::new())
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "dockerfile parse error on line 2: failed to process \"${X:?need X}\": X: need X"
        );
    }

    #[test]
    fn expose_ports_are_checked() {
        assert_eq!(port_spec("80").unwrap(), ["80/tcp"]);
        assert_eq!(port_spec("53/UDP").unwrap(), ["53/udp"]);
        assert_eq!(
            port_spec("8000-8002/tcp").unwrap(),
            ["8000/tcp", "8001/tcp", "8002/tcp"]
        );
        assert!(port_spec("http").is_err());
        assert!(port_spec("80/xyz").is_err());
        let df = parse_dockerfile("FROM a\nEXPOSE $P\n").unwrap();
        let e = df.stages[0].instructions[0]
            .expand(&df.lex(), &Env::from_pairs(["P=eighty"]))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "dockerfile parse error on line 2: invalid containerPort: eighty"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_go_duration("1h2m3s").unwrap(),
            Some(Duration::from_secs(3723))
        );
        assert_eq!(
            parse_go_duration("1.5s").unwrap(),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_go_duration("0").unwrap(), Some(Duration::ZERO));
        assert!(parse_go_duration("5").is_err());
        assert!(parse_go_duration("5x").is_err());
        assert_eq!(parse_go_duration("-1s").unwrap(), None);
    }
}
