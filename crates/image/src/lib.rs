#![forbid(unsafe_code)]
//! Content store.
