//! The sound designer: turns a producer's words (or a request to change the current patch)
//! into a PatchSpec. `llm` talks to an OpenAI-compatible model; `prompt` writes what it is
//! told.

pub mod llm;
pub mod prompt;
