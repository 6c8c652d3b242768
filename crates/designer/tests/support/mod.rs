//! Helpers shared by the integration tests.
// Each test binary compiles all helpers and uses only some of them.
#![allow(dead_code)]

pub mod replay_server;
