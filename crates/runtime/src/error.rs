use berth_kind::ErrorKind;

/// Errors from the runtime.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// exec: "CMD": executable file not found in $PATH
    #[error("exec: \"{0}\": executable file not found in $PATH")]
    CommandNotFound(String),
    /// exec: "CMD": no such file or directory
    #[error("exec: \"{0}\": stat {0}: no such file or directory")]
    NoSuchFile(String),
    /// exec: "CMD": permission denied
    #[error("exec: \"{0}\": permission denied")]
    NotExecutable(String),
    /// The container runtime failed: the message says where.
    #[error("OCI runtime create failed: {0}")]
    Create(String),
    /// Another runtime operation failed.
    #[error("OCI runtime {op} failed: {msg}")]
    Op {
        /// The operation (start, kill, delete).
        op: &'static str,
        /// What went wrong.
        msg: String,
    },
    /// Mounting the container's root filesystem failed.
    #[error("mounting {target}: {source}")]
    Mount {
        /// Where the mount was to go.
        target: String,
        /// The system error.
        #[source]
        source: std::io::Error,
    },
    /// A system call failed.
    #[error("{context}: {source}")]
    Sys {
        /// What berth was doing.
        context: String,
        /// The system error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The kind of this error, for exit codes.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::CommandNotFound(_) | Error::NoSuchFile(_) => ErrorKind::CommandNotFound,
            Error::NotExecutable(_) => ErrorKind::NotExecutable,
            _ => ErrorKind::Internal,
        }
    }

    pub(crate) fn sys(context: impl Into<String>, source: impl Into<std::io::Error>) -> Self {
        Error::Sys {
            context: context.into(),
            source: source.into(),
        }
    }
}

/// Result with the runtime's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
