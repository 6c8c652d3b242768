//! The sound designer: turns a producer's words (or a request to change the current patch)
//! into a PatchSpec that plays. `offline` needs nothing but the built-in patches; `llm`
//! talks to a model, `prompt` writes what it is told, `conversation` is the model's side of
//! a job (rounds, budget, measured feedback from `feedback`). [`run`] is the whole job,
//! shared by the worker (plugin) and the command line: ask, build, repair, calibrate. It
//! builds through a [`Builder`] it is given and reports through a [`JobControl`]; it never
//! calls back into whoever runs it.

pub mod check;
pub mod conversation;
pub mod eval;
mod feedback;
pub mod lexicon;
pub mod llm;
pub mod offline;
pub mod prompt;

use std::fmt;

use llm::{ContextSize, LlmClient, LlmError};
use mephisto_compiler::SourceLine;
use mephisto_patch::build::{BuildStep, Levelling};
use mephisto_patch::spec::SpecError;
use mephisto_patch::{BuildError, BuildSpec, Builder, Built, PatchSpec, Program, Setting};
use mephisto_tuning::calibration::{calibrate_program, CalibrationReport};
use offline::Pass;

/// Rounds after the model's first answer, shared by repairs (an answer that does not build
/// goes back with what was wrong) and revisions (a patch that builds but misses what the
/// words asked goes back with its measurements).
pub const MAX_REPAIR_ROUNDS: u32 = 3;

/// How to get a patch when the model gives none; every failure of the LLM path says it.
pub const OFFLINE_ADVICE: &str = "the offline designer gives a patch at once (Settings → \
                                  Designer, or `mephisto design` without --llm)";

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
    /// Waiting for the model; round 0 is the first answer, later rounds are repairs and
    /// revisions. `tokens` of the answer have arrived after `seconds`.
    AskingModel {
        round: u32,
        tokens: u32,
        seconds: f32,
    },
    Compiling,
    /// Running the sanity probe (levels, NaN, CPU) before the patch may play.
    Checking,
    /// Sound first: the offline designer's draft plays while the analysis check corrects
    /// it (the checked design replaces it when it sounds different).
    AnalysisCheck,
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
                | Stage::AnalysisCheck
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
            Stage::AskingModel {
                round,
                tokens,
                seconds,
            } => {
                f.write_str("asking the model")?;
                if *round > 0 {
                    write!(f, " (round {} of {})", round + 1, MAX_REPAIR_ROUNDS + 1)?;
                }
                match (tokens, seconds) {
                    (0, s) if *s >= 1.0 => write!(f, ": reading the request, {s:.0} s"),
                    (0, _) => Ok(()),
                    (t, s) => write!(f, ": {t} tokens in {s:.1} s"),
                }
            }
            Stage::Compiling => f.write_str("compiling"),
            Stage::Checking => f.write_str("checking"),
            Stage::AnalysisCheck => f.write_str("playing the draft, checking the sound"),
            Stage::Calibrating => f.write_str("calibrating the macros"),
            Stage::Live { .. } => f.write_str("live"),
            Stage::Failed(_) => f.write_str("failed"),
            Stage::Superseded => f.write_str("replaced by a newer request"),
        }
    }
}

/// What a model answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerForm {
    /// A synth graph, which Mephisto turned into Faust.
    Graph,
    /// A PatchSpec with its own Faust program.
    Faust,
}

impl fmt::Display for AnswerForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AnswerForm::Graph => "graph",
            AnswerForm::Faust => "Faust",
        })
    }
}

/// Who made a patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DesignedBy {
    Offline,
    /// The model, answering with `form`: `rounds` rounds were asked (1: only the first
    /// answer), and the patch that went live is round `round`'s.
    Llm {
        rounds: u32,
        round: u32,
        form: AnswerForm,
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
    #[error("{0}; the current patch keeps playing — {OFFLINE_ADVICE}")]
    Model(LlmError),
    /// The model's context cannot hold the instructions, the request and an answer: said
    /// before anything is sent.
    #[error(
        "the model's context, {context}, is too small for the designer's instructions and \
         the request (about {prompt} tokens) plus an answer ({answer} tokens): raise the \
         context setting to at least {suggested} tokens (Settings → LLM → Context, or \
         --context) and start the server with that context (llama.cpp: --ctx-size; Ollama \
         gets it with each request); the current patch keeps playing — {OFFLINE_ADVICE}"
    )]
    ContextTooSmall {
        context: ContextSize,
        prompt: u32,
        answer: u32,
        suggested: u32,
    },
    /// The model's patch still failed after every round.
    #[error(
        "the model's answer still failed after {MAX_REPAIR_ROUNDS} repair rounds: {0} — the \
         current patch keeps playing; {advice} — {OFFLINE_ADVICE}",
        advice = .0.advice()
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
            DesignError::Model(_) | DesignError::ContextTooSmall { .. } => Some(Setting::Llm),
            DesignError::ModelPatch(ReplyProblem::CutOff { .. }) => Some(Setting::Llm),
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
    /// The answer reached its token budget before it was complete.
    #[error(
        "the answer was cut off at {tokens} tokens, the answer budget, before it was \
         complete; write a shorter one"
    )]
    CutOff { tokens: u32 },
    /// No JSON object could be found in the reply.
    #[error("the reply holds no PatchSpec: {0}")]
    NoSpec(String),
    /// The JSON is not a valid synth graph.
    #[error("the synth graph is not valid:\n{0}")]
    InvalidGraph(SpecError),
    /// The JSON is not a valid PatchSpec.
    #[error("the PatchSpec is not valid:\n{0}")]
    InvalidSpec(SpecError),
    /// The spec did not build: refused, not compiling, or failing the sanity gate.
    #[error("{0}")]
    Build(BuildError),
}

impl ReplyProblem {
    /// Which way to change things when the model keeps failing this way.
    pub fn advice(&self) -> &'static str {
        match self {
            ReplyProblem::CutOff { .. } => {
                "raise the answer budget (max_answer_tokens, --max-answer-tokens), or ask for \
                 the graph form, whose answers are short"
            }
            ReplyProblem::NoSpec(_)
            | ReplyProblem::InvalidGraph(_)
            | ReplyProblem::InvalidSpec(_) => {
                "keep structured output on, ask for the graph form, or try a model that follows \
                 JSON instructions"
            }
            ReplyProblem::Build(_) => {
                "ask for the graph form (a valid graph always compiles), rephrase, or try a \
                 model that writes Faust well"
            }
        }
    }
}

/// How a design job reports where it is, and learns that a newer request replaced it.
pub trait JobControl {
    /// The job reached `stage`.
    fn stage(&mut self, stage: Stage);
    /// Whether a newer request has replaced this one (checked between steps).
    fn superseded(&self) -> bool {
        false
    }
    /// The model answered round `round` (0 for the first answer) of a conversation: what it
    /// was sent and what it said (`mephisto design --transcript` keeps them).
    fn answered(&mut self, _round: u32, _messages: &[llm::ChatMessage], _reply: &llm::ChatReply) {}
}

/// What a design job works with: the builder it compiles, checks and instantiates with, and
/// where it reports.
pub struct Job<'a> {
    pub builder: &'a Builder<'a>,
    pub control: &'a mut dyn JobControl,
}

impl Job<'_> {
    pub(crate) fn stage(&mut self, stage: Stage) {
        self.control.stage(stage);
    }

    /// Compiles and checks a designed spec (reporting the steps), levelling it to the
    /// loudness target when it carries no trim; the error is what the model is told in a
    /// repair round.
    pub(crate) fn build(&mut self, spec: &PatchSpec) -> Result<Built, BuildError> {
        let control = &mut *self.control;
        self.builder
            .build_levelled(spec, Levelling::Design, &mut |step| {
                control.stage(step.into())
            })
    }

    pub(crate) fn check_superseded(&self) -> Result<(), DesignError> {
        if self.control.superseded() {
            Err(DesignError::Superseded)
        } else {
            Ok(())
        }
    }
}

/// Runs one design job to a built patch that may play as it is: for the offline designer,
/// the checked design (the worker plays [`run_draft`]'s draft while this runs). Its macros
/// are calibrated after, with [`calibrate`] (the worker does it while the patch plays;
/// [`run_calibrated`] does both in turn).
pub fn run(
    designer: &Designer,
    request: &DesignRequest,
    job: &mut Job,
) -> Result<Designed, DesignError> {
    let mut designed = match designer {
        // Sound first: an offline design goes live before its macros are calibrated.
        Designer::Offline => {
            run_offline(request, job, DesignedBy::Offline, Vec::new(), Pass::Checked)?
        }
        // The model's side calibrates each patch it builds: the result is part of what it
        // is told.
        Designer::Llm(client) => conversation::run(client, request, job)?,
    };
    if designed.spec.trim_db.is_none() {
        designed.spec.trim_db = designed.built.trim_db;
    }
    Ok(designed)
}

/// Sound first, checked after: the offline designer's draft of `request` (the words' own
/// settings, levelled and through the sanity gate, before the analysis check corrects
/// them), to play while [`run`] makes the checked design. `None` for the model's designs
/// (what plays is what it wrote). The draft has the checked design's template, name and
/// controllers; only its parameters and trim may differ ([`Designed::sounds_like`]).
pub fn run_draft(
    designer: &Designer,
    request: &DesignRequest,
    job: &mut Job,
) -> Result<Option<Designed>, DesignError> {
    match designer {
        Designer::Offline => {
            run_offline(request, job, DesignedBy::Offline, Vec::new(), Pass::Draft).map(Some)
        }
        Designer::Llm(_) => Ok(None),
    }
}

impl Designed {
    /// Whether this design plays as `other` does: the same spec but for its notes (a
    /// checked design the analysis check left as the draft was).
    pub fn sounds_like(&self, other: &PatchSpec) -> bool {
        PatchSpec {
            notes: other.notes.clone(),
            ..self.spec.clone()
        } == *other
    }

    /// Whether the macros still need calibrating ([`calibrate`]): an offline design's do;
    /// a model's patch was calibrated in the conversation.
    pub fn needs_calibration(&self) -> bool {
        !matches!(self.by, DesignedBy::Llm { .. })
    }
}

/// [`run`], then [`calibrate`] on the built instance before anything plays it (the
/// command line, tests).
pub fn run_calibrated(
    designer: &Designer,
    request: &DesignRequest,
    job: &mut Job,
) -> Result<Designed, DesignError> {
    let mut designed = run(designer, request, job)?;
    if !designed.needs_calibration() {
        return Ok(designed);
    }
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
pub(crate) fn calibration_note(report: &CalibrationReport) -> String {
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
    if !report.repairs.is_empty() {
        note.push_str(&format!("; repaired {}", report.repairs.join("; ")));
    }
    if !failing.is_empty() {
        note.push_str(&format!("; not noticeable here — {}", failing.join("; ")));
    }
    note
}

pub(crate) fn run_offline(
    request: &DesignRequest,
    job: &mut Job,
    by: DesignedBy,
    mut notes: Vec<String>,
    pass: Pass,
) -> Result<Designed, DesignError> {
    job.stage(Stage::Designing);
    let builder = job.builder;
    let design = match request.to_refine() {
        Some(current) => {
            offline::refine_pass(current, &request.prompt, &|s| builder.probe(s), pass)
        }
        None => offline::design_pass(&request.prompt, pass),
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
