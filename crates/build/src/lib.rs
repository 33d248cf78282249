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

pub mod dockerignore;
pub mod history;
pub mod instructions;
pub mod parser;
pub mod plan;
pub mod shell;

pub use instructions::{parse_dockerfile, Command, Dockerfile, Instruction, Stage};
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
