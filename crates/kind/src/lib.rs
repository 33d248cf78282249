#![forbid(unsafe_code)]
//! The kind of an error, shared by every berth library error type.
//!
//! Libraries return their own `thiserror` types; each has a `kind()` that
//! returns one of these, and only binaries turn a kind into an exit code or an
//! HTTP status.

/// What sort of failure an error is, independent of the crate that raised it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The named object (image, container, file…) does not exist.
    NotFound,
    /// The request clashes with existing state (name in use, image in use…).
    Conflict,
    /// The input is malformed or not allowed (bad flag value, bad tar, bad reference).
    Invalid,
    /// Something outside berth is not available (kernel feature, network, registry).
    Unavailable,
    /// The container's command could not be executed (exit 126).
    NotExecutable,
    /// The container's command was not found (exit 127).
    CommandNotFound,
    /// Anything else: a bug or an unexpected system error.
    Internal,
}
