//! The sound designer: turns a producer's words (or a request to change the current patch)
//! into a PatchSpec that plays. `offline` needs nothing but the built-in patches; `llm`
//! talks to an OpenAI-compatible model and `prompt` writes what it is told. [`run`] is the
//! whole job, shared by the worker (plugin) and the command line: ask, build, repair,
//! calibrate. It builds through a [`Builder`] it is given and reports through a
//! [`JobControl`]; it never calls back into whoever runs it.

pub mod check;
pub mod eval;
pub mod lexicon;
pub mod llm;
pub mod offline;
pub mod prompt;

use std::fmt;

use llm::{extract_json, ChatMessage, LlmClient, LlmError};
use mephisto_compiler::SourceLine;
use mephisto_patch::build::{BuildStep, Levelling};
use mephisto_patch::spec::SpecError;
use mephisto_patch::{BuildError, BuildSpec, Builder, Built, PatchSpec, Program, Setting};
use mephisto_tuning::calibration::{calibrate_program, CalibrationReport};

/// Repair rounds after the model's first answer: the diagnostics of a patch that does not
/// build go back at most this many times.
pub const MAX_REPAIR_ROUNDS: u32 = 3;

/// Which designer answers a request.
#[derive(Debug, Clone)]
pub enum Designer {
    Offline,
    Llm(LlmClient),
}

/// What the producer asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct DesignRequest {
    pub prompt: String,
    /// The patch playing now (with the producer's edits), if the caller knows it: what a
    /// refinement changes, and what the history records before the new patch.
    pub current: Option<PatchSpec>,
    /// Change `current` ("warmer") instead of designing a new patch.
    pub refine: bool,
}

impl DesignRequest {
    /// A new patch from `prompt`.
    pub fn new(prompt: &str) -> Self {
        DesignRequest {
            prompt: prompt.to_string(),
            current: None,
            refine: false,
        }
    }

    /// A change to `current`.
    pub fn refine(prompt: &str, current: PatchSpec) -> Self {
        DesignRequest {
            prompt: prompt.to_string(),
            current: Some(current),
            refine: true,
        }
    }

    /// The patch to change, when this is a refinement.
    pub fn to_refine(&self) -> Option<&PatchSpec> {
        self.current.as_ref().filter(|_| self.refine)
    }
}

/// Where a job stands: one list for design jobs and play jobs, shown by the window and the
/// command line with the job's elapsed time.
#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    /// No job has run yet.
    Idle,
    /// Waiting behind the job the worker is busy with.
    Queued,
    /// The offline designer is reading the prompt and shaping the template.
    Designing,
    /// Waiting for the model; round 0 is the first answer, later rounds are repairs.
    AskingModel {
        round: u32,
    },
    Compiling,
    /// Running the sanity probe (levels, NaN, CPU) before the patch may play.
    Checking,
    /// Sweeping each macro on the standard probe and repairing the ones that fail (designed
    /// patches only).
    Calibrating,
    /// Handed to the audio thread, which crossfades to it at the next block.
    Live {
        from_cache: bool,
    },
    /// The job failed; the patch that was playing keeps playing.
    Failed(Failure),
    /// A newer job replaced this one before it finished.
    Superseded,
}

impl Stage {
    /// Whether the job is still running (or waiting to).
    pub fn is_busy(&self) -> bool {
        matches!(
            self,
            Stage::Queued
                | Stage::Designing
                | Stage::AskingModel { .. }
                | Stage::Compiling
                | Stage::Checking
                | Stage::Calibrating
        )
    }
}

/// A failed job as the window shows it: the message (what happened and what to do), the
/// program lines it points at, and the setting that fixes it, so the window never has to
/// read the message to act on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    pub lines: Vec<SourceLine>,
    pub setting: Option<Setting>,
}

impl Failure {
    /// A failure that points at no line and no setting.
    pub fn new(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            lines: Vec::new(),
            setting: None,
        }
    }

    /// A failure that the given setting fixes.
    pub fn fixed_by(message: impl Into<String>, setting: Setting) -> Failure {
        Failure {
            setting: Some(setting),
            ..Failure::new(message)
        }
    }
}

impl From<&DesignError> for Failure {
    fn from(error: &DesignError) -> Failure {
        Failure {
            message: error.to_string(),
            lines: error.program_lines(),
            setting: error.setting(),
        }
    }
}

impl From<&BuildError> for Failure {
    fn from(error: &BuildError) -> Failure {
        Failure {
            message: error.to_string(),
            lines: error.program_lines(),
            setting: error.setting(),
        }
    }
}

impl From<BuildStep> for Stage {
    fn from(step: BuildStep) -> Stage {
        match step {
            BuildStep::Compiling => Stage::Compiling,
            BuildStep::Checking => Stage::Checking,
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stage::Idle => f.write_str("idle"),
            Stage::Queued => f.write_str("queued"),
            Stage::Designing => f.write_str("designing offline"),
            Stage::AskingModel { round: 0 } => f.write_str("asking the model"),
            Stage::AskingModel { round } => {
                write!(f, "asking the model (repair {round}/{MAX_REPAIR_ROUNDS})")
            }
            Stage::Compiling => f.write_str("compiling"),
            Stage::Checking => f.write_str("checking"),
            Stage::Calibrating => f.write_str("calibrating the macros"),
            Stage::Live { .. } => f.write_str("live"),
            Stage::Failed(_) => f.write_str("failed"),
            Stage::Superseded => f.write_str("replaced by a newer request"),
        }
    }
}

/// Who made a patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DesignedBy {
    Offline,
    /// The model, after this many repair rounds.
    Llm {
        repairs: u32,
    },
    /// The offline designer, because the model could not be reached.
    OfflineFallback,
}

/// A designed patch, built and ready to play.
pub struct Designed {
    pub spec: PatchSpec,
    pub built: Built,
    pub by: DesignedBy,
    /// What the producer should know: words not understood, a fallback, repairs made.
    pub notes: Vec<String>,
    /// What the analysis check could not bring to what the words asked, for the status
    /// ("darker: reached −0.31 of −0.90 oct"); empty for a model's patch.
    pub misses: Vec<String>,
}

/// Why a design job produced nothing. The patch that was playing keeps playing.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DesignError {
    /// A newer request replaced this one.
    #[error("replaced by a newer request")]
    Superseded,
    /// The offline designer could not shape the prompt into a patch.
    #[error("the offline designer failed: {0}")]
    Offline(String),
    /// The offline designer's patch did not build: a bug of ours, never the producer's.
    #[error("the offline designer's patch did not build (please report this): {0}")]
    OfflineBuild(BuildError),
    /// The model could not be asked (beyond an unreachable server on the first round,
    /// which falls back to the offline designer).
    #[error("{0}; the current patch keeps playing")]
    Model(LlmError),
    /// The model's patch still failed after every repair round.
    #[error(
        "the model's patch still failed after {MAX_REPAIR_ROUNDS} repair rounds: {0} — the \
         current patch keeps playing; try rephrasing, or a stronger model"
    )]
    ModelPatch(ReplyProblem),
}

impl DesignError {
    /// The program lines the failure points at, for the code editor to mark.
    pub fn program_lines(&self) -> Vec<SourceLine> {
        self.build_error()
            .map(BuildError::program_lines)
            .unwrap_or_default()
    }

    /// The setting that fixes the failure, when one does.
    pub fn setting(&self) -> Option<Setting> {
        match self {
            DesignError::Model(_) => Some(Setting::Llm),
            _ => self.build_error().and_then(BuildError::setting),
        }
    }

    fn build_error(&self) -> Option<&BuildError> {
        match self {
            DesignError::OfflineBuild(e) | DesignError::ModelPatch(ReplyProblem::Build(e)) => {
                Some(e)
            }
            _ => None,
        }
    }
}

/// What was wrong with a model's reply; said to the model in a repair round.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReplyProblem {
    /// No JSON object could be found in the reply.
    #[error("the reply holds no PatchSpec: {0}")]
    NoSpec(String),
    /// The JSON is not a valid PatchSpec.
    #[error("the PatchSpec is not valid:\n{0}")]
    InvalidSpec(SpecError),
    /// The spec did not build: refused, not compiling, or failing the sanity gate.
    #[error("{0}")]
    Build(BuildError),
}

/// How a design job reports where it is, and learns that a newer request replaced it.
pub trait JobControl {
    /// The job reached `stage`.
    fn stage(&mut self, stage: Stage);
    /// Whether a newer request has replaced this one (checked between steps).
    fn superseded(&self) -> bool {
        false
    }
}

/// What a design job works with: the builder it compiles, checks and instantiates with, and
/// where it reports.
pub struct Job<'a> {
    pub builder: &'a Builder<'a>,
    pub control: &'a mut dyn JobControl,
}

impl Job<'_> {
    fn stage(&mut self, stage: Stage) {
        self.control.stage(stage);
    }

    /// Compiles and checks a designed spec (reporting the steps), levelling it to the
    /// loudness target when it carries no trim; the error is what the model is told in a
    /// repair round.
    fn build(&mut self, spec: &PatchSpec) -> Result<Built, BuildError> {
        let control = &mut *self.control;
        self.builder
            .build_levelled(spec, Levelling::Design, &mut |step| {
                control.stage(step.into())
            })
    }

    fn check_superseded(&self) -> Result<(), DesignError> {
        if self.control.superseded() {
            Err(DesignError::Superseded)
        } else {
            Ok(())
        }
    }
}

/// Runs one design job to a built patch that may play as it is: sound first. Its macros
/// are calibrated after, with [`calibrate`] (the worker does it while the patch plays;
/// [`run_calibrated`] does both in turn).
pub fn run(
    designer: &Designer,
    request: &DesignRequest,
    job: &mut Job,
) -> Result<Designed, DesignError> {
    let mut designed = match designer {
        Designer::Offline => run_offline(request, job, DesignedBy::Offline, Vec::new()),
        Designer::Llm(client) => run_llm(client, request, job),
    }?;
    if let Some(trim) = designed.built.trim_db {
        designed.spec.trim_db = Some(trim);
    }
    Ok(designed)
}

/// [`run`], then [`calibrate`] on the built instance before anything plays it (the
/// command line, tests).
pub fn run_calibrated(
    designer: &Designer,
    request: &DesignRequest,
    job: &mut Job,
) -> Result<Designed, DesignError> {
    let mut designed = run(designer, request, job)?;
    job.check_superseded()?;
    job.stage(Stage::Calibrating);
    let calibrated = calibrate(&designed.spec, &designed.built.program);
    if calibrated.spec != designed.spec {
        calibrated
            .spec
            .apply_to(&mut designed.built.instance)
            .map_err(|e| DesignError::Offline(e.to_string()))?;
    }
    designed.spec = calibrated.spec;
    designed.notes.push(calibrated.note);
    Ok(designed)
}

/// A designed spec after calibration, and the line that says how it went.
pub struct Calibrated {
    /// The spec with its corrected macro map (the designer's, when calibration failed).
    pub spec: PatchSpec,
    pub note: String,
}

/// Sweeps each macro of `spec` (played by `program`) on the calibration probe and repairs
/// the ones that fail where it can. A patch whose macros cannot be measured still plays:
/// its sound is what was asked for, and the macros keep the designer's map.
pub fn calibrate(spec: &PatchSpec, program: &Program) -> Calibrated {
    match calibrate_program(program, spec) {
        Ok((spec, report)) => Calibrated {
            spec,
            note: calibration_note(&report),
        },
        Err(e) => Calibrated {
            spec: spec.clone(),
            note: format!("the macros could not be calibrated ({e}); they keep the designer's map"),
        },
    }
}

/// One line on the calibration: how many macros pass, how long it took, and which ones do
/// not do what they say on this patch.
fn calibration_note(report: &CalibrationReport) -> String {
    let failing: Vec<String> = report
        .rows
        .iter()
        .filter_map(|row| {
            row.failure()
                .map(|why| format!("{}: {why}", row.m.display_name()))
        })
        .collect();
    let mut note = format!(
        "macros calibrated: {}/{} pass ({:.1} s)",
        report.passed(),
        report.rows.len(),
        report.elapsed.as_secs_f64()
    );
    if !failing.is_empty() {
        note.push_str(&format!("; not noticeable here — {}", failing.join("; ")));
    }
    note
}

fn run_offline(
    request: &DesignRequest,
    job: &mut Job,
    by: DesignedBy,
    mut notes: Vec<String>,
) -> Result<Designed, DesignError> {
    job.stage(Stage::Designing);
    let builder = job.builder;
    let design = match request.to_refine() {
        Some(current) => offline::refine(current, &request.prompt, &|s| builder.probe(s)),
        None => offline::design(&request.prompt),
    }
    .map_err(|e| DesignError::Offline(e.to_string()))?;
    if !design.unknown.is_empty() {
        notes.push(format!(
            "words the offline designer does not know (ignored): {}",
            design.unknown.join(", ")
        ));
    }
    notes.extend(design.notes);
    job.check_superseded()?;
    let built = job.build(&design.spec).map_err(DesignError::OfflineBuild)?;
    Ok(Designed {
        spec: design.spec,
        built,
        by,
        notes,
        misses: design.misses,
    })
}

fn run_llm(
    client: &LlmClient,
    request: &DesignRequest,
    job: &mut Job,
) -> Result<Designed, DesignError> {
    let mut messages = vec![
        ChatMessage::system(prompt::system_prompt()),
        match request.to_refine() {
            Some(current) => prompt::refine_message(&current.to_json_pretty(), &request.prompt),
            None => prompt::design_message(&request.prompt),
        },
    ];
    let mut notes = Vec::new();
    for round in 0..=MAX_REPAIR_ROUNDS {
        job.check_superseded()?;
        job.stage(Stage::AskingModel { round });
        let reply = match client.chat(&messages) {
            Ok(reply) => reply,
            Err(LlmError::Unreachable { url, reason }) if round == 0 => {
                let note = format!(
                    "the model at {url} could not be reached ({reason}); the offline designer \
                     answered instead — check the LLM settings to use the model"
                );
                return run_offline(request, job, DesignedBy::OfflineFallback, vec![note]);
            }
            Err(e) => return Err(DesignError::Model(e)),
        };
        messages.push(ChatMessage::assistant(reply.clone()));
        job.check_superseded()?;
        let problem = match parse_reply(&reply, &request.prompt) {
            Ok(spec) => match job.build(&spec) {
                Ok(built) => {
                    if round > 0 {
                        notes.push(format!(
                            "the model fixed its patch in {round} repair round(s)"
                        ));
                    }
                    return Ok(Designed {
                        spec,
                        built,
                        by: DesignedBy::Llm { repairs: round },
                        notes,
                        misses: Vec::new(),
                    });
                }
                Err(e) => ReplyProblem::Build(e),
            },
            Err(e) => e,
        };
        if round == MAX_REPAIR_ROUNDS {
            return Err(DesignError::ModelPatch(problem));
        }
        messages.push(prompt::repair_message(&problem.to_string()));
    }
    unreachable!("the loop returns in its last round")
}

/// The PatchSpec in a model's reply, or what is wrong with it (said so the model can fix it).
fn parse_reply(reply: &str, prompt: &str) -> Result<PatchSpec, ReplyProblem> {
    let json = extract_json(reply).map_err(|e| ReplyProblem::NoSpec(e.to_string()))?;
    let mut spec = PatchSpec::from_json(&json).map_err(ReplyProblem::InvalidSpec)?;
    if spec.prompt.trim().is_empty() {
        spec.prompt = prompt.trim().to_string();
    }
    Ok(spec)
}
