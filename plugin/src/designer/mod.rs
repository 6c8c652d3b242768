//! The sound designer: turns a producer's words (or a request to change the current patch)
//! into a PatchSpec that plays. `offline` needs nothing but the built-in patches; `llm`
//! talks to an OpenAI-compatible model and `prompt` writes what it is told. [`run`] is the
//! whole job, shared by the worker (plugin) and the command line: ask, build, repair.

pub mod eval;
pub mod lexicon;
pub mod llm;
pub mod local;
pub mod offline;
pub mod prompt;

use std::fmt;

use crate::calibration::CalibrationReport;
use crate::engine::instance::PatchInstance;
use crate::patchspec::PatchSpec;
use llm::{extract_json, ChatMessage, LlmClient, LlmError};

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

/// The step a design job is in, for the GUI and the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DesignStage {
    /// The offline designer is reading the prompt and shaping the template.
    Designing,
    /// Waiting for the model; round 0 is the first answer, later rounds are repairs.
    AskingModel {
        round: u32,
    },
    Compiling,
    /// Running the sanity probe (levels, NaN, CPU) before the patch may play.
    Checking,
    /// Sweeping each macro on the standard probe and repairing the ones that fail.
    Calibrating,
}

impl fmt::Display for DesignStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DesignStage::Designing => f.write_str("designing offline"),
            DesignStage::AskingModel { round: 0 } => f.write_str("asking the model"),
            DesignStage::AskingModel { round } => {
                write!(f, "asking the model (repair {round}/{MAX_REPAIR_ROUNDS})")
            }
            DesignStage::Compiling => f.write_str("compiling"),
            DesignStage::Checking => f.write_str("checking"),
            DesignStage::Calibrating => f.write_str("calibrating the macros"),
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
pub struct Designed<T> {
    pub spec: PatchSpec,
    pub built: T,
    pub by: DesignedBy,
    /// What the producer should know: words not understood, a fallback, repairs made.
    pub notes: Vec<String>,
}

/// Why a design job produced nothing. The patch that was playing keeps playing.
#[derive(Debug, Clone, PartialEq)]
pub enum DesignError {
    /// A newer request replaced this one.
    Superseded,
    Failed(String),
}

impl fmt::Display for DesignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DesignError::Superseded => f.write_str("replaced by a newer request"),
            DesignError::Failed(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for DesignError {}

/// What a design job needs from where it runs: the worker (which compiles, checks and
/// instantiates for the audio thread) or the command line.
pub trait DesignHost {
    /// What a successful build yields (a playable instance, a compiled variant, …).
    type Built;
    /// The job reached `stage`.
    fn stage(&mut self, stage: DesignStage);
    /// Compiles and checks a spec (reporting [`DesignStage::Compiling`] and
    /// [`DesignStage::Checking`]); the error is what the model is told in a repair round.
    fn build(&mut self, spec: &PatchSpec) -> Result<Self::Built, String>;
    /// A one-voice instance of a spec, for the offline designer's measurements.
    fn probe(&self, spec: &PatchSpec) -> Result<Box<PatchInstance>, String>;
    /// Calibrates a built patch's macros before it goes live
    /// ([`crate::calibration::auto_calibrate`]): returns the spec with its macro map
    /// repaired where that was possible, already applied to `built`, and the report.
    fn calibrate(
        &mut self,
        spec: &PatchSpec,
        built: &mut Self::Built,
    ) -> Result<(PatchSpec, CalibrationReport), String>;
    /// Whether a newer request has replaced this one (checked between steps).
    fn superseded(&self) -> bool {
        false
    }
}

/// Runs one design job to a built patch whose macros are calibrated.
pub fn run<H: DesignHost>(
    designer: &Designer,
    request: &DesignRequest,
    host: &mut H,
) -> Result<Designed<H::Built>, DesignError> {
    let mut designed = match designer {
        Designer::Offline => run_offline(request, host, DesignedBy::Offline, Vec::new()),
        Designer::Llm(client) => run_llm(client, request, host),
    }?;
    check_superseded(host)?;
    host.stage(DesignStage::Calibrating);
    // A patch whose macros cannot be measured still plays: its sound is what was asked
    // for, and the macros keep the designer's map.
    match host.calibrate(&designed.spec, &mut designed.built) {
        Ok((spec, report)) => {
            designed.spec = spec;
            designed.notes.push(calibration_note(&report));
        }
        Err(e) => designed.notes.push(format!(
            "the macros could not be calibrated ({e}); they keep the designer's map"
        )),
    }
    Ok(designed)
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

fn run_offline<H: DesignHost>(
    request: &DesignRequest,
    host: &mut H,
    by: DesignedBy,
    mut notes: Vec<String>,
) -> Result<Designed<H::Built>, DesignError> {
    host.stage(DesignStage::Designing);
    let design = match request.to_refine() {
        Some(current) => offline::refine(current, &request.prompt, &|s| host.probe(s)),
        None => offline::design(&request.prompt),
    }
    .map_err(|e| DesignError::Failed(format!("the offline designer failed: {e}")))?;
    if !design.unknown.is_empty() {
        notes.push(format!(
            "words the offline designer does not know (ignored): {}",
            design.unknown.join(", ")
        ));
    }
    notes.extend(design.notes);
    check_superseded(host)?;
    let built = host.build(&design.spec).map_err(|e| {
        DesignError::Failed(format!(
            "the offline designer's patch did not build (please report this): {e}"
        ))
    })?;
    Ok(Designed {
        spec: design.spec,
        built,
        by,
        notes,
    })
}

fn run_llm<H: DesignHost>(
    client: &LlmClient,
    request: &DesignRequest,
    host: &mut H,
) -> Result<Designed<H::Built>, DesignError> {
    let mut messages = vec![
        ChatMessage::system(prompt::system_prompt()),
        match request.to_refine() {
            Some(current) => prompt::refine_message(&current.to_json_pretty(), &request.prompt),
            None => prompt::design_message(&request.prompt),
        },
    ];
    let mut notes = Vec::new();
    for round in 0..=MAX_REPAIR_ROUNDS {
        check_superseded(host)?;
        host.stage(DesignStage::AskingModel { round });
        let reply = match client.chat(&messages) {
            Ok(reply) => reply,
            Err(LlmError::Unreachable { url, reason }) if round == 0 => {
                let note = format!(
                    "the model at {url} could not be reached ({reason}); the offline designer \
                     answered instead — check the LLM settings to use the model"
                );
                return run_offline(request, host, DesignedBy::OfflineFallback, vec![note]);
            }
            Err(e) => {
                return Err(DesignError::Failed(format!(
                    "{e}; the current patch keeps playing"
                )))
            }
        };
        messages.push(ChatMessage::assistant(reply.clone()));
        check_superseded(host)?;
        let problem = match parse_reply(&reply, &request.prompt) {
            Ok(spec) => match host.build(&spec) {
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
                    });
                }
                Err(e) => e,
            },
            Err(e) => e,
        };
        if round == MAX_REPAIR_ROUNDS {
            return Err(DesignError::Failed(format!(
                "the model's patch still failed after {MAX_REPAIR_ROUNDS} repair rounds: {problem} \
                 — the current patch keeps playing; try rephrasing, or a stronger model"
            )));
        }
        messages.push(prompt::repair_message(&problem));
    }
    unreachable!("the loop returns in its last round")
}

/// The PatchSpec in a model's reply, or what is wrong with it (said so the model can fix it).
fn parse_reply(reply: &str, prompt: &str) -> Result<PatchSpec, String> {
    let json = extract_json(reply).map_err(|e| format!("the reply holds no PatchSpec: {e}"))?;
    let mut spec =
        PatchSpec::from_json(&json).map_err(|e| format!("the PatchSpec is not valid:\n{e}"))?;
    if spec.prompt.trim().is_empty() {
        spec.prompt = prompt.trim().to_string();
    }
    Ok(spec)
}

fn check_superseded<H: DesignHost>(host: &H) -> Result<(), DesignError> {
    if host.superseded() {
        Err(DesignError::Superseded)
    } else {
        Ok(())
    }
}
