//! lvs-benches: criterion benchmarks for every lvs-rs crate and the whole pipeline.
//!
//! Run them with `cargo bench -p lvs-benches` (or `--bench NAME` for one file); the figures and
//! their goals are recorded in BENCHMARKS.md at the repository root. This library holds only
//! shared fixtures for the bench files.
#![forbid(unsafe_code)]
