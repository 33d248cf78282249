use berth_kind::ErrorKind;

/// Errors from the engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No such container: NAME
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    /// The name is taken by another container.
    #[error("Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name.")]
    NameInUse {
        /// The name asked for.
        name: String,
        /// The container that has it.
        id: String,
    },
    /// The name does not match docker's rules.
    #[error("Invalid container name ({0}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    InvalidName(String),
    /// An id prefix matched several containers.
    #[error("multiple containers found with provided prefix: {0}")]
    Ambiguous(String),
    /// Neither the image nor the command line gives a command.
    #[error("No command specified")]
    NoCommand,
    /// A running container cannot be removed without force.
    #[error("cannot remove container \"/{name}\": container is running: stop the container before removing or force remove")]
    RemoveRunning {
        /// The container's name.
        name: String,
    },
    /// The container is not in a state that allows the operation.
    #[error("container {id} is {status}: {what}")]
    BadState {
        /// The container's id.
        id: String,
        /// Its status.
        status: String,
        /// What was asked.
        what: String,
    },
    /// `docker cp` of a path the container does not have.
    #[error("Could not find the file {path} in container {container}")]
    NoSuchPath {
        /// The path asked for.
        path: String,
        /// The container as named by the user.
        container: String,
    },
    /// get NAME: no such volume
    #[error("get {0}: no such volume")]
    NoSuchVolume(String),
    /// The volume is used by a container.
    #[error("remove {name}: volume is in use - [{ids}]")]
    VolumeInUse {
        /// The volume.
        name: String,
        /// Containers using it.
        ids: String,
    },
    /// Flags or options are invalid (the message says which).
    #[error("{0}")]
    Invalid(String),
    /// The user named by `-u` is not in the image.
    #[error("unable to find user {0}: no matching entries in passwd file")]
    User(String),
    /// From the image store.
    #[error(transparent)]
    Image(#[from] berth_image::Error),
    /// From the runtime.
    #[error(transparent)]
    Runtime(#[from] berth_runtime::Error),
    /// From the network layer.
    #[error(transparent)]
    Network(#[from] berth_network::Error),
    /// A file operation on berth's own state failed.
    #[error("{context}: {source}")]
    Io {
        /// What berth was doing.
        context: String,
        /// The system error.
        #[source]
        source: std::io::Error,
    },
    /// A record on disk could not be parsed.
    #[error("corrupt record {path}: {source}")]
    Corrupt {
        /// The file.
        path: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    /// The kind of this error, for exit codes and HTTP statuses.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NoSuchContainer(_) | Error::NoSuchVolume(_) | Error::NoSuchPath { .. } => {
                ErrorKind::NotFound
            }
            Error::VolumeInUse { .. } => ErrorKind::Conflict,
            Error::NameInUse { .. } | Error::RemoveRunning { .. } | Error::BadState { .. } => {
                ErrorKind::Conflict
            }
            Error::InvalidName(_)
            | Error::Ambiguous(_)
            | Error::NoCommand
            | Error::Invalid(_)
            | Error::User(_) => ErrorKind::Invalid,
            Error::Image(e) => e.kind(),
            Error::Runtime(e) => e.kind(),
            Error::Network(e) => e.kind(),
            Error::Io { .. } | Error::Corrupt { .. } => ErrorKind::Internal,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// Result with the engine's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
