//! The build plan: stages, their dependency graph, `--target` pruning, ARG
//! scoping and the substitution environment of every instruction.
//!
//! Semantics follow BuildKit's `dockerfile2llb`:
//!
//! - Global ARGs (before the first FROM) start from the automatic platform
//!   args (`BUILDPLATFORM`, `BUILDOS`, `BUILDARCH`, `BUILDVARIANT`,
//!   `TARGETPLATFORM`, `TARGETOS`, `TARGETARCH`, `TARGETVARIANT`,
//!   `TARGETSTAGE`…); each takes its `--build-arg` value, else its default
//!   substituted with the globals before it. They are only visible to FROM
//!   (image and `--platform`) unless a stage re-declares them with `ARG name`.
//! - In a stage, `ARG name[=default]` takes the `--build-arg` value, else the
//!   default (substituted with the stage env), else for a bare `ARG name` the
//!   global value of that name (global ARGs and the platform args). Args with
//!   a value join the stage environment: they are visible to substitution and
//!   to RUN, but are not written to the image config.
//! - The proxy args (`HTTP_PROXY`, `https_proxy`, `NO_PROXY`, `ALL_PROXY`,
//!   `FTP_PROXY` in either case) need no ARG: given with `--build-arg` they go
//!   to every RUN and never into history ([`Step::proxy_env`]).
//! - Stage references (`FROM name`, `COPY --from=name|index`,
//!   `RUN --mount=from=name|index`) must name an earlier stage; an unknown
//!   name is an image. So the graph is acyclic by construction.
//!
//! The base image's own environment is not known here: the executor passes
//! it to [`Plan::steps`] (or a lookup to [`Plan::evaluate`]) once it has
//! pulled the image, and gets back every instruction with variables
//! substituted and the environment in force at that instruction.

use std::collections::{BTreeMap, BTreeSet};

use crate::instructions::{ArgDef, Command, Dockerfile, Instruction, Stage};
use crate::shell::{Env, Lex};
use crate::Error;

/// An OS/architecture/variant triple (`linux/arm64`, `linux/arm/v7`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// `linux`
    pub os: String,
    /// GOARCH spelling: `amd64`, `arm64`, `arm`, `386`, `ppc64le`, `s390x`, `riscv64`.
    pub architecture: String,
    /// `v7`, `v8`… or empty.
    pub variant: String,
}

impl Platform {
    /// The platform this process runs on.
    pub fn host() -> Platform {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", ""),
            "aarch64" => ("arm64", ""),
            "arm" => ("arm", "v7"),
            "x86" => ("386", ""),
            "powerpc64" => ("ppc64le", ""),
            "riscv64" => ("riscv64", ""),
            "s390x" => ("s390x", ""),
            other => (other, ""),
        };
        Platform {
            os: "linux".into(),
            architecture: architecture.into(),
            variant: variant.into(),
        }
    }

    /// Parse `os/arch[/variant]`.
    pub fn parse(s: &str) -> Option<Platform> {
        let mut parts = s.split('/');
        let os = parts.next().filter(|p| !p.is_empty())?.to_ascii_lowercase();
        let architecture = parts.next().filter(|p| !p.is_empty())?.to_ascii_lowercase();
        let variant = parts.next().unwrap_or("").to_ascii_lowercase();
        if parts.next().is_some() {
            return None;
        }
        Some(Platform {
            os,
            architecture,
            variant,
        })
    }

    /// `os/arch[/variant]`
    pub fn format(&self) -> String {
        if self.variant.is_empty() {
            format!("{}/{}", self.os, self.architecture)
        } else {
            format!("{}/{}/{}", self.os, self.architecture, self.variant)
        }
    }
}

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOptions {
    /// `--target`: the stage to build (default: the last one).
    pub target: Option<String>,
    /// `--build-arg KEY=value`, in order.
    pub build_args: BTreeMap<String, String>,
    /// The platform the build runs on (`BUILDPLATFORM`).
    pub build_platform: Platform,
    /// The platform the image is for (`TARGETPLATFORM`, `--platform`).
    pub target_platform: Platform,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            target: None,
            build_args: BTreeMap::new(),
            build_platform: Platform::host(),
            target_platform: Platform::host(),
        }
    }
}

/// The base of a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// `FROM scratch`
    Scratch,
    /// An image reference, ARGs substituted (`alpine:3.20`).
    Image(String),
    /// An earlier stage, by index.
    Stage(usize),
}

/// Where a `COPY --from` or `RUN --mount=from=` reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An earlier stage, by index.
    Stage(usize),
    /// An image reference.
    Image(String),
}

/// A stage of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanStage {
    /// Position in the Dockerfile (what `COPY --from=0` means).
    pub index: usize,
    /// `AS name`, lower-cased.
    pub name: Option<String>,
    /// The base, resolved.
    pub base: Base,
    /// `FROM --platform`, substituted.
    pub platform: Option<String>,
    /// Earlier stages this one needs (base, COPY --from, mount from), ascending.
    pub deps: Vec<usize>,
    /// Images read by COPY --from / mount from (not the base).
    pub images: Vec<String>,
    /// For each instruction index: the stage or image it reads from, if any.
    pub sources: BTreeMap<usize, Source>,
    /// The typed stage.
    pub stage: Stage,
}

/// The build plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Every stage of the Dockerfile, in order.
    pub stages: Vec<PlanStage>,
    /// Index of the target stage.
    pub target: usize,
    /// The stages the target needs (itself included), dependencies first.
    pub order: Vec<usize>,
    /// The global scope: platform args and global ARGs with values.
    pub global_args: Env,
    /// Build args no ARG of the needed stages declares (docker warns about them).
    pub unused_build_args: Vec<String>,
    /// The escape character.
    pub escape: char,
    options: BuildOptions,
}

/// One instruction ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The instruction, variables substituted where docker substitutes them;
    /// for ARG, `default` holds the value the arg got (if any).
    pub instruction: Instruction,
    /// The environment in force for this instruction: image ENV plus ARGs in
    /// scope. It is what `$VAR` meant here and what a RUN gets.
    pub env: Env,
    /// ARGs declared so far in the stage with their values (for RUN's
    /// environment and the `|N k=v` prefix of its history).
    pub build_args: Vec<(String, String)>,
    /// Proxy build args, passed to RUN only.
    pub proxy_env: Vec<(String, String)>,
}

/// A stage's steps and the image environment it ends with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageSteps {
    /// One step per instruction.
    pub steps: Vec<Step>,
    /// The image's `Config.Env` after the stage (base env plus ENV, no ARGs).
    pub image_env: Env,
}

const PROXY_ARGS: [&str; 5] = [
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "FTP_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
];

fn is_proxy_arg(k: &str) -> bool {
    PROXY_ARGS.iter().any(|p| p.eq_ignore_ascii_case(k))
}

/// The automatic platform args, `--build-arg` overriding.
pub fn default_args(opts: &BuildOptions, target: &str) -> Env {
    let b = &opts.build_platform;
    let t = &opts.target_platform;
    let pairs = [
        ("BUILDPLATFORM", b.format()),
        ("BUILDOS", b.os.clone()),
        ("BUILDOSVERSION", String::new()),
        ("BUILDARCH", b.architecture.clone()),
        ("BUILDVARIANT", b.variant.clone()),
        ("TARGETPLATFORM", t.format()),
        ("TARGETOS", t.os.clone()),
        ("TARGETOSVERSION", String::new()),
        ("TARGETARCH", t.architecture.clone()),
        ("TARGETVARIANT", t.variant.clone()),
        ("TARGETSTAGE", target.to_string()),
    ];
    let mut env = Env::new();
    for (k, v) in pairs {
        let v = opts.build_args.get(k).cloned().unwrap_or(v);
        env.set(k, v);
    }
    env
}

fn subst_err(line: usize) -> impl Fn(crate::shell::LexError) -> Error {
    move |source| Error::Substitution { line, source }
}

fn resolve_stage_ref(r: &str, current: usize, names: &[Option<String>]) -> Result<Source, String> {
    if let Ok(i) = r.parse::<i64>() {
        if i < 0 || i as usize >= names.len() {
            return Err(format!("invalid stage index {i}"));
        }
        let i = i as usize;
        if i >= current {
            return Err(format!(
                "cannot copy from stage {r:?}, it needs to be defined before current stage"
            ));
        }
        return Ok(Source::Stage(i));
    }
    let lower = r.to_lowercase();
    match names
        .iter()
        .position(|n| n.as_deref() == Some(lower.as_str()))
    {
        Some(i) if i < current => Ok(Source::Stage(i)),
        Some(_) => Err(format!(
            "cannot copy from stage {r:?}, it needs to be defined before current stage"
        )),
        None => Ok(Source::Image(r.to_string())),
    }
}

impl Plan {
    /// Plan a build of `df` with `opts`.
    pub fn new(df: &Dockerfile, opts: &BuildOptions) -> Result<Plan, Error> {
        let lex = df.lex();
        let names: Vec<Option<String>> = df.stages.iter().map(|s| s.from.name.clone()).collect();
        let target = match &opts.target {
            None => df.stages.len() - 1,
            Some(t) => {
                let lower = t.to_lowercase();
                names
                    .iter()
                    .position(|n| n.as_deref() == Some(lower.as_str()))
                    .ok_or_else(|| Error::TargetNotFound(t.clone()))?
            }
        };
        let mut declared: BTreeSet<String> = BTreeSet::new();

        // Global scope.
        let mut global = default_args(opts, opts.target.as_deref().unwrap_or("default"));
        for inst in &df.global_args {
            let Command::Arg(defs) = &inst.command else {
                continue;
            };
            for d in defs {
                declared.insert(d.key.clone());
                let v = match (opts.build_args.get(&d.key), &d.default) {
                    (Some(v), _) => Some(v.clone()),
                    (None, Some(def)) => Some(
                        lex.process_word(def, &global)
                            .map_err(subst_err(inst.start_line))?,
                    ),
                    (None, None) => None,
                };
                if let Some(v) = v {
                    global.set(d.key.clone(), v);
                }
            }
        }

        // Stages and their references.
        let mut stages = Vec::new();
        for (i, st) in df.stages.iter().enumerate() {
            let image = lex
                .process_word(&st.from.image, &global)
                .map_err(subst_err(st.line))?;
            if image.is_empty() {
                return Err(Error::Syntax {
                    line: st.line,
                    message: format!("base name ({}) should not be blank", st.from.image),
                });
            }
            let lower = image.to_lowercase();
            let base = if let Some(j) = names[..i]
                .iter()
                .position(|n| n.as_deref() == Some(lower.as_str()))
            {
                Base::Stage(j)
            } else if lower == "scratch" {
                Base::Scratch
            } else {
                Base::Image(image)
            };
            let platform = st
                .from
                .platform
                .as_deref()
                .map(|p| lex.process_word(p, &global).map_err(subst_err(st.line)))
                .transpose()?;
            let mut deps = BTreeSet::new();
            if let Base::Stage(j) = base {
                deps.insert(j);
            }
            let mut images = Vec::new();
            let mut sources = BTreeMap::new();
            for (k, inst) in st.instructions.iter().enumerate() {
                let refs: Vec<&str> = match &inst.command {
                    Command::Copy(c) => c.from.iter().map(String::as_str).collect(),
                    Command::Run(r) => r.mounts.iter().filter_map(|m| m.from.as_deref()).collect(),
                    _ => Vec::new(),
                };
                for r in refs {
                    let src = resolve_stage_ref(r, i, &names).map_err(|m| Error::Syntax {
                        line: inst.start_line,
                        message: m,
                    })?;
                    match &src {
                        Source::Stage(j) => {
                            deps.insert(*j);
                        }
                        Source::Image(s) => {
                            if !images.contains(s) {
                                images.push(s.clone());
                            }
                        }
                    }
                    sources.entry(k).or_insert(src);
                }
            }
            stages.push(PlanStage {
                index: i,
                name: st.from.name.clone(),
                base,
                platform,
                deps: deps.into_iter().collect(),
                images,
                sources,
                stage: st.clone(),
            });
        }

        // What the target needs: deps point backwards, so ascending index is topological.
        let mut needed = BTreeSet::new();
        let mut todo = vec![target];
        while let Some(s) = todo.pop() {
            if needed.insert(s) {
                todo.extend(stages[s].deps.iter().copied());
            }
        }
        let order: Vec<usize> = needed.into_iter().collect();
        for &s in &order {
            for inst in &stages[s].stage.instructions {
                if let Command::Arg(defs) = &inst.command {
                    declared.extend(defs.iter().map(|d| d.key.clone()));
                }
            }
        }
        let unused_build_args = opts
            .build_args
            .keys()
            .filter(|k| !declared.contains(*k) && !is_proxy_arg(k) && !is_platform_arg(k))
            .cloned()
            .collect();
        tracing::debug!(stages = stages.len(), target, needed = ?order, "build plan");
        Ok(Plan {
            stages,
            target,
            order,
            global_args: global,
            unused_build_args,
            escape: df.escape,
            options: opts.clone(),
        })
    }

    /// The needed stages grouped in waves: every stage of a wave depends only
    /// on stages of earlier waves, so the stages of one wave can run concurrently.
    pub fn levels(&self) -> Vec<Vec<usize>> {
        let mut level: BTreeMap<usize, usize> = BTreeMap::new();
        for &s in &self.order {
            let l = self.stages[s]
                .deps
                .iter()
                .map(|d| level.get(d).map_or(0, |l| l + 1))
                .max()
                .unwrap_or(0);
            level.insert(s, l);
        }
        let mut waves: Vec<Vec<usize>> = Vec::new();
        for (s, l) in level {
            if waves.len() <= l {
                waves.resize(l + 1, Vec::new());
            }
            waves[l].push(s);
        }
        waves
    }

    /// A stage by name (case-insensitive) or index.
    pub fn stage(&self, name_or_index: &str) -> Option<&PlanStage> {
        if let Ok(i) = name_or_index.parse::<usize>() {
            return self.stages.get(i);
        }
        let lower = name_or_index.to_lowercase();
        self.stages
            .iter()
            .find(|s| s.name.as_deref() == Some(lower.as_str()))
    }

    /// Evaluate stage `index` given the environment of its base (the base
    /// image's `Config.Env`, or the `image_env` a base stage ended with;
    /// empty for scratch): every instruction with variables substituted and
    /// the environment in force.
    pub fn steps(&self, index: usize, base_env: &Env) -> Result<StageSteps, Error> {
        let lex = Lex::new(self.escape);
        let st = &self.stages[index].stage;
        let mut image_env = base_env.clone();
        let mut env = base_env.clone();
        let mut build_args: Vec<(String, String)> = Vec::new();
        let proxy_env: Vec<(String, String)> = self
            .options
            .build_args
            .iter()
            .filter(|(k, _)| is_proxy_arg(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut steps = Vec::new();
        for inst in &st.instructions {
            let env_before = env.clone();
            let expanded = match &inst.command {
                Command::Arg(defs) => {
                    let mut out = Vec::new();
                    for d in defs {
                        let given = self.options.build_args.get(&d.key);
                        let value = match (given, &d.default) {
                            (Some(v), _) => Some(v.clone()),
                            (None, Some(def)) => Some(
                                lex.process_word(def, &env)
                                    .map_err(subst_err(inst.start_line))?,
                            ),
                            (None, None) => self.global_args.get(&d.key).map(str::to_string),
                        };
                        if let Some(v) = &value {
                            env.set(d.key.clone(), v.clone());
                        }
                        let v = value.clone().unwrap_or_default();
                        match build_args.iter_mut().find(|(k, _)| *k == d.key) {
                            Some(slot) => slot.1 = v,
                            None => build_args.push((d.key.clone(), v)),
                        }
                        out.push(ArgDef {
                            key: d.key.clone(),
                            default: value,
                        });
                    }
                    Instruction {
                        command: Command::Arg(out),
                        ..inst.clone()
                    }
                }
                _ => inst.expand(&lex, &env)?,
            };
            if let Command::Env(kvs) = &expanded.command {
                for kv in kvs {
                    env.set(kv.key.clone(), kv.value.clone());
                    image_env.set(kv.key.clone(), kv.value.clone());
                }
            }
            steps.push(Step {
                instruction: expanded,
                env: env_before,
                build_args: build_args.clone(),
                proxy_env: proxy_env.clone(),
            });
        }
        Ok(StageSteps { steps, image_env })
    }

    /// Evaluate every needed stage in order; `image_env` gives the
    /// `Config.Env` of a base image. Returns `(stage index, steps)` pairs.
    pub fn evaluate(
        &self,
        mut image_env: impl FnMut(&str) -> Env,
    ) -> Result<Vec<(usize, StageSteps)>, Error> {
        let mut done: BTreeMap<usize, StageSteps> = BTreeMap::new();
        for &s in &self.order {
            let base_env = match &self.stages[s].base {
                Base::Scratch => Env::new(),
                Base::Image(r) => image_env(r),
                Base::Stage(j) => done.get(j).map(|d| d.image_env.clone()).unwrap_or_default(),
            };
            let steps = self.steps(s, &base_env)?;
            done.insert(s, steps);
        }
        Ok(done.into_iter().collect())
    }
}

/// Platform args are consumed by the automatic scope, declared or not.
fn is_platform_arg(k: &str) -> bool {
    matches!(
        k,
        "BUILDPLATFORM"
            | "BUILDOS"
            | "BUILDOSVERSION"
            | "BUILDARCH"
            | "BUILDVARIANT"
            | "TARGETPLATFORM"
            | "TARGETOS"
            | "TARGETOSVERSION"
            | "TARGETARCH"
            | "TARGETVARIANT"
            | "TARGETSTAGE"
    )
}

/// The working directory after `WORKDIR path` (relative paths join the
/// current one, as docker does); `path` is already substituted.
pub fn resolve_workdir(current: &str, path: &str) -> String {
    let joined = if path.starts_with('/') {
        path.to_string()
    } else {
        let cur = if current.is_empty() { "/" } else { current };
        format!("{}/{}", cur.trim_end_matches('/'), path)
    };
    let mut parts: Vec<&str> = Vec::new();
    for p in joined.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instructions::parse_dockerfile;

    fn opts(target: Option<&str>, args: &[(&str, &str)]) -> BuildOptions {
        BuildOptions {
            target: target.map(str::to_string),
            build_args: args
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            build_platform: Platform::parse("linux/amd64").unwrap(),
            target_platform: Platform::parse("linux/arm64").unwrap(),
        }
    }

    const MULTI: &str = "\
ARG GO=1.22
ARG BASE
FROM golang:${GO} AS build
RUN go build -o /out/app .
FROM node:20 AS web
RUN npm ci
FROM alpine:3.20 AS docs
RUN make docs
FROM build AS test
RUN go test ./...
FROM ${BASE:-debian:12}
COPY --from=build /out/app /usr/bin/app
COPY --from=web /dist /srv
RUN --mount=type=bind,from=docs,target=/docs true
COPY --from=busybox:latest /bin/busybox /bin/
COPY --from=0 /out/app /app2
";

    #[test]
    fn graph_and_default_target() {
        let df = parse_dockerfile(MULTI).unwrap();
        let plan = Plan::new(&df, &opts(None, &[])).unwrap();
        assert_eq!(plan.target, 4);
        assert_eq!(plan.stages[0].base, Base::Image("golang:1.22".into()));
        assert_eq!(plan.stages[3].base, Base::Stage(0));
        assert_eq!(plan.stages[4].base, Base::Image("debian:12".into()));
        assert_eq!(plan.stages[4].deps, [0, 1, 2]);
        assert_eq!(plan.stages[4].images, ["busybox:latest"]);
        assert_eq!(
            plan.stages[4].sources.get(&3),
            Some(&Source::Image("busybox:latest".into()))
        );
        assert_eq!(plan.order, [0, 1, 2, 4], "test stage is not needed");
        assert_eq!(plan.levels(), vec![vec![0, 1, 2], vec![4]]);
    }

    #[test]
    fn target_pruning() {
        let df = parse_dockerfile(MULTI).unwrap();
        let plan = Plan::new(&df, &opts(Some("TEST"), &[("GO", "1.23"), ("BASE", "x")])).unwrap();
        assert_eq!(plan.target, 3);
        assert_eq!(plan.order, [0, 3]);
        assert_eq!(plan.levels(), vec![vec![0], vec![3]]);
        assert_eq!(plan.stages[0].base, Base::Image("golang:1.23".into()));
        let e = Plan::new(&df, &opts(Some("nope"), &[])).unwrap_err();
        assert_eq!(e.to_string(), "target stage \"nope\" could not be found");
        assert_eq!(e.kind(), berth_kind::ErrorKind::NotFound);
    }

    #[test]
    fn stage_references_must_be_earlier() {
        let df = parse_dockerfile("FROM a AS one\nCOPY --from=two /x /y\nFROM b AS two\n").unwrap();
        let e = Plan::new(&df, &opts(None, &[])).unwrap_err();
        assert!(e.to_string().contains("needs to be defined before"), "{e}");
        let df = parse_dockerfile("FROM a\nCOPY --from=5 /x /y\n").unwrap();
        assert!(Plan::new(&df, &opts(None, &[]))
            .unwrap_err()
            .to_string()
            .contains("invalid stage index 5"));
        // FROM of a later stage's name is an image
        let df = parse_dockerfile("FROM two AS one\nFROM scratch AS two\n").unwrap();
        let plan = Plan::new(&df, &opts(Some("one"), &[])).unwrap();
        assert_eq!(plan.stages[0].base, Base::Image("two".into()));
        assert_eq!(plan.stages[1].base, Base::Scratch);
    }

    #[test]
    fn arg_scoping() {
        let text = "\
ARG V=1
ARG FROMGLOBAL=g
FROM alpine:$V
RUN echo $V
ARG V
ARG FROMGLOBAL
ARG LOCAL=l-$V
ARG TARGETARCH
ARG NOVALUE
ENV E=$LOCAL
WORKDIR /$E/$TARGETARCH/$NOVALUE
";
        let df = parse_dockerfile(text).unwrap();
        let plan = Plan::new(&df, &opts(None, &[("FROMGLOBAL", "cli"), ("UNUSED", "1")])).unwrap();
        assert_eq!(plan.stages[0].base, Base::Image("alpine:1".into()));
        assert_eq!(plan.global_args.get("TARGETPLATFORM"), Some("linux/arm64"));
        assert_eq!(plan.global_args.get("BUILDARCH"), Some("amd64"));
        assert_eq!(plan.global_args.get("FROMGLOBAL"), Some("cli"));
        assert_eq!(plan.unused_build_args, ["UNUSED"]);
        let base = Env::from_pairs(["PATH=/usr/bin"]);
        let s = plan.steps(0, &base).unwrap();
        // Global V is not visible in the stage before `ARG V`.
        assert_eq!(s.steps[0].env.get("V"), None);
        assert_eq!(s.steps[0].env.get("PATH"), Some("/usr/bin"));
        let Command::Arg(a) = &s.steps[1].instruction.command else {
            panic!()
        };
        assert_eq!(a[0].default.as_deref(), Some("1"));
        let Command::Arg(a) = &s.steps[2].instruction.command else {
            panic!()
        };
        assert_eq!(a[0].default.as_deref(), Some("cli"));
        let Command::Arg(a) = &s.steps[3].instruction.command else {
            panic!()
        };
        assert_eq!(a[0].default.as_deref(), Some("l-1"));
        let Command::Arg(a) = &s.steps[5].instruction.command else {
            panic!()
        };
        assert_eq!(a[0].default, None);
        assert_eq!(
            s.steps[7].instruction.command,
            Command::Workdir("/l-1/arm64/".into())
        );
        assert_eq!(s.steps[7].env.get("E"), Some("l-1"));
        assert_eq!(
            s.steps[7].build_args,
            [
                ("V".to_string(), "1".to_string()),
                ("FROMGLOBAL".into(), "cli".into()),
                ("LOCAL".into(), "l-1".into()),
                ("TARGETARCH".into(), "arm64".into()),
                ("NOVALUE".into(), "".into())
            ]
        );
        assert_eq!(
            s.image_env.to_vec(),
            ["PATH=/usr/bin", "E=l-1"],
            "ARGs stay out of the image"
        );
    }

    #[test]
    fn build_arg_overrides_stage_default_and_proxy_args() {
        let df = parse_dockerfile("FROM a\nARG X=default\nRUN echo $X\n").unwrap();
        let plan = Plan::new(
            &df,
            &opts(None, &[("X", "cli"), ("http_proxy", "http://p:3128")]),
        )
        .unwrap();
        assert!(plan.unused_build_args.is_empty());
        let s = plan.steps(0, &Env::new()).unwrap();
        assert_eq!(s.steps[1].env.get("X"), Some("cli"));
        assert_eq!(
            s.steps[1].proxy_env,
            [("http_proxy".to_string(), "http://p:3128".to_string())]
        );
        assert_eq!(s.steps[1].env.get("http_proxy"), None);
    }

    #[test]
    fn evaluate_chains_stage_env() {
        let df =
            parse_dockerfile("FROM img AS a\nENV A=1\nFROM a\nENV B=$A-$BASEVAR\nWORKDIR $B\n")
                .unwrap();
        let plan = Plan::new(&df, &opts(None, &[])).unwrap();
        let out = plan
            .evaluate(|r| {
                assert_eq!(r, "img");
                Env::from_pairs(["BASEVAR=x"])
            })
            .unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(
            out[1].1.steps[1].instruction.command,
            Command::Workdir("1-x".into())
        );
    }

    #[test]
    fn platform_and_blank_base() {
        let df =
            parse_dockerfile("FROM --platform=$BUILDPLATFORM golang AS b\nFROM $NOPE\n").unwrap();
        let e = Plan::new(&df, &opts(None, &[])).unwrap_err();
        assert!(
            e.to_string()
                .contains("base name ($NOPE) should not be blank"),
            "{e}"
        );
        let plan = Plan::new(&df, &opts(Some("b"), &[])).unwrap_err();
        assert!(plan.to_string().contains("should not be blank"));
        let df = parse_dockerfile("FROM --platform=$BUILDPLATFORM golang AS b\n").unwrap();
        let plan = Plan::new(&df, &opts(None, &[])).unwrap();
        assert_eq!(plan.stages[0].platform.as_deref(), Some("linux/amd64"));
    }

    #[test]
    fn workdir_resolution() {
        assert_eq!(resolve_workdir("", "app"), "/app");
        assert_eq!(resolve_workdir("/srv", "app/../x"), "/srv/x");
        assert_eq!(resolve_workdir("/srv", "/abs/"), "/abs");
    }
}
