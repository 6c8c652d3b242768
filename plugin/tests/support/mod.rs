//! Helpers shared by the integration tests.
// Each test binary compiles all helpers and uses only some of them.
#![allow(dead_code)]

/// The replayed LLM server lives with the designer's tests; the worker's use it too.
#[path = "../../../crates/designer/tests/support/replay_server.rs"]
pub mod replay_server;
pub mod rig;
