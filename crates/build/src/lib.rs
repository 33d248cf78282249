#![forbid(unsafe_code)]
//! The front half of `berth build`: everything about a Dockerfile build that
//! needs no container, no root and no store.
//!
//! - [`parser`]: the Dockerfile syntax tree (directives, comments,
//!   continuations, heredocs), a port of BuildKit's parser.
//! - [`shell`]: docker's variable substitution and word splitting.
//! - [`instructions`]: typed instructions with their flags checked, and
//!   [`instructions::Instruction::expand`], which substitutes variables in
//!   exactly the places docker does.
//! - [`plan`]: stages, their dependency graph, `--target` pruning, ARG
//!   scoping with `--build-arg`, and the substitution environment of every
//!   instruction.
//! - [`history`]: docker's `created_by` text for image history.
//! - [`dockerignore`]: `.dockerignore` patterns with moby/patternmatcher's
//!   semantics and the build-context walk.
//!
//! An executor drives it like this:
//!
//! ```
//! use berth_build::{parse_dockerfile, BuildOptions, Env, Plan};
//!
//! let df = parse_dockerfile("ARG V=3.20\nFROM alpine:$V AS base\nENV APP=/srv\nWORKDIR $APP\n\
//!                            FROM base\nCOPY --from=base /etc/os-release $APP/\nRUN cat $APP/os-release\n")?;
//! let plan = Plan::new(&df, &BuildOptions::default())?;
//! assert_eq!(plan.order, [0, 1]);                        // stages to build, dependencies first
//! for wave in plan.levels() {                            // stages of a wave may run concurrently
//!     for s in wave {
//!         // pull or look up the base (plan.stages[s].base), then:
//!         let base_env = Env::from_pairs(["PATH=/usr/bin:/bin"]);
//!         let steps = plan.steps(s, &base_env)?;
//!         for step in &steps.steps {
//!             // step.instruction is substituted (WORKDIR /srv, COPY … /srv/), RUN keeps $APP;
//!             // step.env is the environment a RUN gets (plus step.proxy_env).
//!             let _ = (&step.instruction, &step.env);
//!         }
//!     }
//! }
//! # Ok::<(), berth_build::Error>(())
//! ```

pub mod dockerignore;
pub mod executor;
pub mod history;
pub mod instructions;
pub mod parser;
pub mod plan;
pub mod shell;

pub use dockerignore::{read_dockerignore, walk_context, ContextEntry, EntryKind, Matcher};
pub use history::{created_by, HistoryContext, HistoryStyle};
pub use instructions::{parse_dockerfile, Command, Dockerfile, Instruction, Stage};
pub use plan::{BuildOptions, Plan, Platform, Step};
pub use shell::{Env, Lex};

use berth_kind::ErrorKind;

/// Errors of the Dockerfile front end.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `dockerfile parse error on line <n>: <message>`
    #[error("dockerfile parse error on line {line}: {message}")]
    Syntax {
        /// 1-based line where the instruction starts.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A variable substitution failed (`${X:?must be set}`, bad syntax).
    #[error("dockerfile parse error on line {line}: {source}")]
    Substitution {
        /// 1-based line of the instruction.
        line: usize,
        /// The lexer's error.
        source: shell::LexError,
    },
    /// `target stage "<name>" could not be found`
    #[error("target stage {0:?} could not be found")]
    TargetNotFound(String),
    /// A stage reference that cannot be resolved (bad index, later stage…).
    #[error("{0}")]
    Stage(String),
    /// An invalid `.dockerignore` pattern.
    #[error("invalid .dockerignore pattern {pattern:?}: {reason}")]
    Pattern {
        /// The pattern as written.
        pattern: String,
        /// Why it is invalid.
        reason: String,
    },
    /// Reading the build context failed.
    #[error("{path}: {source}")]
    Io {
        /// The path that could not be read.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl Error {
    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Syntax { .. }
            | Error::Substitution { .. }
            | Error::Stage(_)
            | Error::Pattern { .. } => ErrorKind::Invalid,
            Error::TargetNotFound(_) => ErrorKind::NotFound,
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            Error::Io { .. } => ErrorKind::Internal,
        }
    }
}
