#![forbid(unsafe_code)]
//! Engine.
