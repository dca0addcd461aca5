//! lvs-conn: see the crate description in Cargo.toml. Work in progress.
#![forbid(unsafe_code)]
#![warn(clippy::unwrap_used, clippy::expect_used)]
pub mod sync;
