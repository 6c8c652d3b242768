//! Why a program did not become a variant, as data: what the producer reads (the message,
//! which says what to change) and what the window acts on (the program lines to mark, the
//! compiler whose setting to fix).

use std::time::Duration;

use crate::ToolKind;

/// A line of the program a diagnostic points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLine {
    /// 1-based, as Faust counts.
    pub line: usize,
    pub message: String,
}

/// One reason screening refused a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The program line of the refused construct, when it has one.
    pub line: Option<usize>,
    /// The whole reason, naming the construct and its line: ``refused: `ffunction` at line 5 (…)``.
    pub message: String,
}

impl Refusal {
    pub fn new(line: Option<usize>, message: String) -> Refusal {
        Refusal { line, message }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Why a program did not become a variant. Every message says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    /// Screening (or the channel check) refused the program: one reason per line.
    #[error("{}", join_lines(.0))]
    Refused(Vec<Refusal>),
    /// The Faust compiler rejected the program; the message quotes it, `lines` are the
    /// program lines it points at (not lines inside the libraries).
    #[error("{message}")]
    Faust {
        message: String,
        lines: Vec<SourceLine>,
    },
    /// rustc rejected the generated code.
    #[error("{0}")]
    Rustc(String),
    /// A compiler ran past its time limit and was killed.
    #[error(
        "the {stage} timed out after {} s and was stopped (simplify the patch or raise the time limit in Settings)",
        seconds(*.limit)
    )]
    Timeout { stage: String, limit: Duration },
    /// `faust` or `rustc` is not installed (or not where Settings say); `tool` when known.
    #[error("{message}")]
    MissingTool {
        tool: Option<ToolKind>,
        message: String,
    },
    /// The compiled library could not be loaded or failed its checks.
    #[error("cannot load the compiled patch: {0}")]
    Load(String),
    /// The cache folder could not be created or written.
    #[error("{0}")]
    Cache(String),
    /// The compilers' sandbox could not be set up, or Faust used a file outside it.
    #[error("{0}")]
    Sandbox(String),
    /// A newer job superseded this compile; its compilers were stopped.
    #[error("the compile was stopped: a newer request replaced it")]
    Cancelled,
}

impl CompileError {
    /// A Faust error without program lines to point at.
    pub fn faust(message: String) -> CompileError {
        CompileError::Faust {
            message,
            lines: Vec::new(),
        }
    }

    /// The program lines the error points at, for the code editor to mark.
    pub fn program_lines(&self) -> Vec<SourceLine> {
        match self {
            CompileError::Faust { lines, .. } => lines.clone(),
            CompileError::Refused(refusals) => refusals
                .iter()
                .filter_map(|r| {
                    r.line.map(|line| SourceLine {
                        line,
                        message: r.message.clone(),
                    })
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The compiler whose path or installation the producer should fix, if that is the
    /// problem.
    pub fn missing_tool(&self) -> Option<ToolKind> {
        match self {
            CompileError::MissingTool { tool, .. } => *tool,
            _ => None,
        }
    }

    /// Whether a compiler's time limit (a setting) stopped the compile.
    pub fn timed_out(&self) -> bool {
        matches!(self, CompileError::Timeout { .. })
    }
}

fn join_lines(refusals: &[Refusal]) -> String {
    refusals
        .iter()
        .map(|r| r.message.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A duration in seconds without trailing zeros: `0.001`, `2.5`, `60`.
pub(crate) fn seconds(d: Duration) -> String {
    let text = format!("{:.3}", d.as_secs_f64());
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_name_the_stage_and_the_seconds() {
        let e = CompileError::Timeout {
            stage: "Faust compilation".into(),
            limit: Duration::from_millis(1),
        };
        assert!(e
            .to_string()
            .starts_with("the Faust compilation timed out after 0.001 s"));
        assert_eq!(seconds(Duration::from_secs(90)), "90");
        assert_eq!(seconds(Duration::from_millis(2500)), "2.5");
    }
}
