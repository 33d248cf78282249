#![forbid(unsafe_code)]
//! Content store: an OCI image layout under `ROOT/image`, tags in its
//! `index.json`, `docker import`, layer unpack into overlayfs-format
//! snapshots under `ROOT/snapshots/<chain id>`, and docker's image operations
//! (list, inspect, history, tag, rmi, prune).

pub mod archive;
pub mod changes;
pub mod reference;
mod store;

pub use archive::{apply_layer, decompress};
pub use reference::Reference;
pub use store::{
    chain_ids, BlobRef, HistoryEntry, Image, ImageConfig, ImageConfigFile, ImportOptions,
    LayerInfo, RemoveEvent, Store, StoredImage,
};

use berth_kind::ErrorKind;

/// Errors of the image store; each message is docker's wording.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `No such image: <name>`
    #[error("No such image: {0}")]
    NoSuchImage(String),
    /// `multiple IDs found with provided prefix: <prefix>`
    #[error("multiple IDs found with provided prefix: {0}")]
    AmbiguousPrefix(String),
    /// The reference's own parse error, e.g. `invalid reference format`.
    #[error(transparent)]
    Reference(#[from] reference::ParseError),
    /// `refusing to create an ambiguous tag using digest reference`
    #[error("refusing to create an ambiguous tag using digest reference")]
    DigestTag,
    /// `conflict: unable to remove repository reference "<ref>" (must force) - container <id> is using its referenced image <id>`
    #[error("conflict: unable to remove repository reference \"{reference}\" (must force) - container {container} is using its referenced image {image}")]
    ReferenceInUse {
        /// The reference as the user gave it.
        reference: String,
        /// Short id of a container using the image.
        container: String,
        /// Short id of the image.
        image: String,
    },
    /// `conflict: unable to delete <id> (must be forced) - <reason>` (or `(cannot be forced)` when `hard`)
    #[error("conflict: unable to delete {image} ({}) - {reason}", if *.hard { "cannot be forced" } else { "must be forced" })]
    DeleteConflict {
        /// Short id of the image.
        image: String,
        /// Whether `--force` would not help.
        hard: bool,
        /// e.g. `image is referenced in multiple repositories`.
        reason: String,
    },
    /// `<instruction> is not a valid change command`
    #[error("{0} is not a valid change command")]
    InvalidChangeCommand(String),
    /// `invalid change "<line>": <reason>`
    #[error("invalid change \"{line}\": {reason}")]
    InvalidChange {
        /// The `--change` line.
        line: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `invalid tar entry "<entry>": <reason>` (path escapes the layer, bad hardlink…)
    #[error("invalid tar entry \"{entry}\": {reason}")]
    Breakout {
        /// The entry's name as written in the archive.
        entry: String,
        /// Why it was refused.
        reason: String,
    },
    /// `invalid tar archive: <reason>`
    #[error("invalid tar archive: {0}")]
    Archive(String),
    /// `filesystem layer verification failed for digest <digest>: <reason>`
    #[error("filesystem layer verification failed for digest {digest}: {reason}")]
    Verify {
        /// The digest the blob should have.
        digest: String,
        /// What did not match.
        reason: String,
    },
    /// `image <id> has no layers`
    #[error("image {0} has no layers")]
    NoLayers(String),
    /// `corrupt image store: <what>`
    #[error("corrupt image store: {0}")]
    Corrupt(String),
    /// `<context>: <os error>`
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The kind of failure, for exit codes and HTTP statuses.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::NoSuchImage(_) => ErrorKind::NotFound,
            Error::AmbiguousPrefix(_)
            | Error::Reference(_)
            | Error::DigestTag
            | Error::InvalidChangeCommand(_)
            | Error::InvalidChange { .. }
            | Error::Breakout { .. }
            | Error::Archive(_)
            | Error::Verify { .. }
            | Error::NoLayers(_) => ErrorKind::Invalid,
            Error::ReferenceInUse { .. } | Error::DeleteConflict { .. } => ErrorKind::Conflict,
            Error::Corrupt(_) => ErrorKind::Internal,
            Error::Io { source, .. } => match source.kind() {
                std::io::ErrorKind::NotFound => ErrorKind::NotFound,
                _ => ErrorKind::Internal,
            },
        }
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// `sha256:<hex>` of some bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// The 12-hex short form of an id (`sha256:` stripped), like docker's `stringid.TruncateID`.
pub fn short_id(id: &str) -> String {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.chars().take(12).collect()
}
