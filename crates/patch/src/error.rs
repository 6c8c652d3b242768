//! Why a spec did not become something that plays, as data: the message says what happened
//! and what to change; [`BuildError::program_lines`] and [`BuildError::setting`] are what the
//! window acts on (marking lines in the code editor, pointing at a setting) without reading
//! the message.

use mephisto_compiler::{CompileError, SourceLine, ToolKind};
use mephisto_neural::NeuralError;

use crate::sanity::SanityError;
use crate::spec::SpecError;

/// A setting on the plugin's Settings page (or a command-line flag) that fixes a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// Where the Faust compiler is.
    FaustPath,
    /// Where the Rust compiler is.
    RustcPath,
    /// How long the compilers may run.
    CompilerTimeLimits,
    /// Which ONNX Runtime library neural patches use.
    OnnxRuntime,
    /// The LLM designer's endpoint, model, key variable or time-out.
    Llm,
}

/// Why building a spec failed. The patch that was playing keeps playing.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BuildError {
    /// The spec breaks the format's rules; the message names every field.
    #[error("{0}")]
    Spec(#[from] SpecError),
    /// The program was refused or did not compile.
    #[error("`faust`: {0}")]
    Compile(#[from] CompileError),
    /// The neural model cannot play.
    #[error("`neural.model`: {0}")]
    Model(#[from] NeuralError),
    /// The sanity gate refused the program as the spec plays it.
    #[error("{0}")]
    Sanity(#[from] SanityError),
    /// The spec does not fit its program (a parameter it names does not exist, a layout
    /// the engine cannot play); the message names the field.
    #[error("{0}")]
    Instance(String),
}

impl BuildError {
    /// The program lines the error points at, for the code editor to mark.
    pub fn program_lines(&self) -> Vec<SourceLine> {
        match self {
            BuildError::Compile(e) => e.program_lines(),
            _ => Vec::new(),
        }
    }

    /// The setting that fixes the failure, when one does.
    pub fn setting(&self) -> Option<Setting> {
        match self {
            BuildError::Compile(e) if e.timed_out() => Some(Setting::CompilerTimeLimits),
            BuildError::Compile(e) => e.missing_tool().map(|tool| match tool {
                ToolKind::Faust => Setting::FaustPath,
                ToolKind::Rustc => Setting::RustcPath,
            }),
            BuildError::Model(NeuralError::Runtime(_)) => Some(Setting::OnnxRuntime),
            _ => None,
        }
    }
}

/// Layers that report in words (a calibration's or a match's error, the command line) take
/// a build error as its message.
impl From<BuildError> for String {
    fn from(error: BuildError) -> String {
        error.to_string()
    }
}
