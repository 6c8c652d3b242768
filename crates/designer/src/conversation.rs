//! The model's side of a design job (docs/DESIGNER.md, "LLM designer"):
//!
//! 1. **Plan.** The context size (the server's, else the setting) must hold the compact
//!    instructions, the request and an answer's budget, or the job stops before anything
//!    is sent, naming the setting. The answer's form (a synth graph, or Faust) and whether
//!    the longer reference fits are decided once, so the instructions stay byte-identical
//!    from round to round (servers reuse what they already read).
//! 2. **Rounds.** Each request is the instructions, the producer's request, and — after
//!    the first — only the last answer and what was wrong with it (or what it measured), cut
//!    by rule to fit; the job's notes say when something was cut.
//! 3. **Answers.** A cut-off answer is said to be one. A synth graph becomes a PatchSpec
//!    (Mephisto writes its Faust and sets its level); a PatchSpec is taken as it is. It is
//!    built (compile, sanity gate), calibrated, and measured against what the words asked
//!    (`feedback`): what misses goes back to the model, within the round budget shared with
//!    repairs. When the rounds run out, the patch closest to the words goes live.

use serde_json::Value;

use mephisto_patch::graph::{normalize_level, SynthGraph};
use mephisto_patch::{BuildError, Built, OfflinePatch, PatchSpec};
use mephisto_tuning::calibration::calibrate_built;

use crate::feedback::{Judge, Verdict};
use crate::llm::{
    extract_json, stated_size_billions, ChatMessage, ChatRequest, ContextSize, Finish, LlmClient,
    LlmError, Progress, ReplyForm, Watch,
};
use crate::prompt::{self, estimate_messages, estimate_tokens, Form, MAX_REPAIR_CHARS};
use crate::{
    calibration_note, offline::Pass, run_offline, AnswerForm, DesignError, DesignRequest, Designed,
    DesignedBy, Job, JobControl, ReplyProblem, Stage, MAX_REPAIR_ROUNDS,
};

/// A graph answer's budget: a full graph (8 nodes, 4 modulators, 3 effects) is about 600
/// tokens, so more is a model running away.
pub const GRAPH_ANSWER_TOKENS: u32 = 1024;

/// Tokens kept free besides the answer's budget, for the estimate's error on short texts.
pub const CONTEXT_MARGIN: u32 = 64;

/// A model whose name states fewer parameters than this (billions) gets the graph form when
/// the form is `auto`.
pub const SMALL_MODEL_BILLIONS: f64 = 10.0;

/// The shortest diagnostics a cut round keeps.
const MIN_FOLLOW_UP_CHARS: usize = 300;

/// What the conversation is, decided before the first request.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub form: Form,
    /// Whether the longer Faust reference is sent.
    pub reference: bool,
    /// The answer's budget (`max_tokens`).
    pub answer_tokens: u32,
    pub context: ContextSize,
    /// The instructions.
    pub system: String,
    /// The producer's request.
    pub request: ChatMessage,
}

impl Plan {
    /// Plans a job for `client`'s model: the form, the reference, the budget; refused when
    /// the context cannot hold the compact instructions, the request and an answer.
    pub fn new(
        client: &LlmClient,
        context: ContextSize,
        request: &DesignRequest,
    ) -> Result<Plan, DesignError> {
        let config = client.config();
        let small = stated_size_billions(&config.model).is_some_and(|b| b < SMALL_MODEL_BILLIONS);
        let budget = |form: Form| match form {
            Form::Graph => config.max_answer_tokens.min(GRAPH_ANSWER_TOKENS),
            _ => config.max_answer_tokens,
        };
        let first = |form: Form| match request.to_refine() {
            Some(current) => prompt::refine_message(current, &request.prompt, form),
            None => prompt::design_message(&request.prompt, form),
        };
        let need = |form: Form, reference: bool, rounds_after: u32| {
            let messages = [
                ChatMessage::system(prompt::system_prompt(form, reference)),
                first(form),
            ];
            // A later round adds the last answer (at most the budget) and diagnostics.
            let later =
                rounds_after * (budget(form) + estimate_tokens(&"x".repeat(MAX_REPAIR_CHARS)) + 32);
            estimate_messages(&messages) + budget(form) + later + CONTEXT_MARGIN
        };
        let fits = |form: Form, reference: bool| need(form, reference, 1) <= context.tokens;
        let form = match config.form {
            ReplyForm::Graph => Form::Graph,
            ReplyForm::Faust => Form::Faust,
            ReplyForm::Either => Form::Either,
            ReplyForm::Auto if !small && fits(Form::Either, true) => Form::Either,
            ReplyForm::Auto => Form::Graph,
        };
        let compact = need(form, false, 0);
        if compact > context.tokens {
            let answer = budget(form);
            // Room for a repair round too, rounded up to the sizes servers are started with.
            return Err(DesignError::ContextTooSmall {
                context,
                prompt: compact - answer - CONTEXT_MARGIN,
                answer,
                suggested: need(form, false, 1).next_power_of_two(),
            });
        }
        let reference = form != Form::Graph && fits(form, true);
        Ok(Plan {
            form,
            reference,
            answer_tokens: budget(form),
            context,
            system: prompt::system_prompt(form, reference),
            request: first(form),
        })
    }

    /// The messages of a round: the instructions, the request, and (after the first round)
    /// the last answer and what to say about it, cut by rule to leave the answer's budget
    /// free: the diagnostics first (to [`MIN_FOLLOW_UP_CHARS`]), then the last answer is
    /// left out. Returns what was cut, if anything; `None` when even that does not fit.
    pub fn messages(
        &self,
        last: Option<(&str, &ChatMessage)>,
    ) -> Option<(Vec<ChatMessage>, Option<String>)> {
        let room = self
            .context
            .tokens
            .checked_sub(self.answer_tokens + CONTEXT_MARGIN)?;
        let base = vec![ChatMessage::system(&self.system), self.request.clone()];
        if estimate_messages(&base) > room {
            return None;
        }
        let Some((answer, follow_up)) = last else {
            return Some((base, None));
        };
        let with = |answer: &str, follow_up: &str| {
            let mut messages = base.clone();
            messages.push(ChatMessage::assistant(answer));
            messages.push(ChatMessage::user(follow_up));
            messages
        };
        let whole = with(answer, &follow_up.content);
        if estimate_messages(&whole) <= room {
            return Some((whole, None));
        }
        // Cut the diagnostics to what fits beside the whole answer.
        let left = room.saturating_sub(estimate_messages(&with(answer, "")));
        let chars = (left as f32 * prompt::CHARS_PER_TOKEN) as usize;
        if chars >= MIN_FOLLOW_UP_CHARS {
            let cut = cut_to(&follow_up.content, chars);
            return Some((
                with(answer, &cut),
                Some(format!(
                    "the diagnostics were cut to {chars} characters to fit the context"
                )),
            ));
        }
        // Leave the answer out.
        let omitted = prompt::omitted_answer(answer.chars().count());
        let left = room.saturating_sub(estimate_messages(&with(&omitted, "")));
        let chars = (left as f32 * prompt::CHARS_PER_TOKEN) as usize;
        (chars >= MIN_FOLLOW_UP_CHARS).then(|| {
            (
                with(&omitted, &cut_to(&follow_up.content, chars)),
                Some("the last answer was left out of the request to fit the context".into()),
            )
        })
    }
}

/// `text` cut to `chars` characters with a marker.
fn cut_to(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars.saturating_sub(20)) {
        Some((at, _)) => format!("{}\n… (cut)", &text[..at]),
        None => text.to_string(),
    }
}

/// Reports a round's progress to the job and asks it whether a newer request came.
struct RoundWatch<'a> {
    control: &'a mut dyn JobControl,
    round: u32,
}

impl Watch for RoundWatch<'_> {
    fn progress(&mut self, progress: Progress) {
        self.control.stage(Stage::AskingModel {
            round: self.round,
            tokens: progress.tokens,
            seconds: progress.elapsed.as_secs_f32(),
        });
    }

    fn cancelled(&self) -> bool {
        self.control.superseded()
    }
}

/// A model's answer, read.
enum Answer {
    Graph(SynthGraph),
    Spec(PatchSpec),
}

/// A patch that built, with how it measured.
struct Candidate {
    spec: PatchSpec,
    built: Built,
    form: AnswerForm,
    round: u32,
    verdict: Verdict,
    calibration: String,
}

/// Runs the model's side of a job to a built, calibrated patch.
pub fn run(
    client: &LlmClient,
    request: &DesignRequest,
    job: &mut Job,
) -> Result<Designed, DesignError> {
    job.check_superseded()?;
    let mut plan = Plan::new(client, client.context(), request)?;
    let mut notes = vec![format!(
        "asked for a {} ({}; context {}, answers up to {} tokens)",
        plan.form.name(),
        if plan.reference {
            "with the Faust reference"
        } else {
            "compact instructions"
        },
        plan.context,
        plan.answer_tokens
    )];
    let builder = job.builder;
    let probe = |s: &PatchSpec| builder.probe(s);
    let mut judge: Option<Judge> = None;
    let mut best: Option<Candidate> = None;
    let mut last: Option<(String, ChatMessage)> = None;
    let mut refused_once = false;
    let mut round = 0;
    while round <= MAX_REPAIR_ROUNDS {
        job.check_superseded()?;
        let Some((messages, cut)) = plan.messages(last.as_ref().map(|(a, m)| (a.as_str(), m)))
        else {
            let needed = estimate_messages(&[ChatMessage::system(&plan.system)]);
            return Err(DesignError::ContextTooSmall {
                context: plan.context,
                prompt: needed,
                answer: plan.answer_tokens,
                suggested: plan.context.tokens * 2,
            });
        };
        if let Some(cut) = cut {
            notes.push(format!("round {}: {cut}", round + 1));
        }
        job.stage(Stage::AskingModel {
            round,
            tokens: 0,
            seconds: 0.0,
        });
        let schema = plan.form.schema();
        let chat = ChatRequest {
            messages: &messages,
            schema: Some(&schema),
            max_tokens: plan.answer_tokens,
        };
        let mut watch = RoundWatch {
            control: &mut *job.control,
            round,
        };
        let reply = match client.complete(&chat, &mut watch) {
            Ok(reply) => reply,
            Err(LlmError::Unreachable { url, reason }) if round == 0 => {
                let note = format!(
                    "the model at {url} could not be reached ({reason}); the offline designer \
                     answered instead — check the LLM settings to use the model"
                );
                // Sound first, as any offline design: calibrated once it plays.
                return run_offline(
                    request,
                    job,
                    DesignedBy::OfflineFallback,
                    vec![note],
                    Pass::Checked,
                );
            }
            Err(LlmError::Cancelled) => return Err(DesignError::Superseded),
            Err(LlmError::ContextExceeded {
                limit: Some(limit), ..
            }) if !refused_once && limit < plan.context.tokens => {
                // The server's context is smaller than the setting: plan again for it,
                // once.
                refused_once = true;
                client.learn_context(limit);
                notes.push(format!(
                    "the server refused a request as too long for its {limit}-token context; \
                     planned again for it (set the context setting to {limit})"
                ));
                plan = Plan::new(client, client.context(), request)?;
                continue;
            }
            Err(e) => {
                return match best {
                    // A patch already built: it plays rather than nothing.
                    Some(best) => {
                        notes.push(format!("round {}: {e}", round + 1));
                        Ok(finish(
                            best,
                            round,
                            notes,
                            "the model could not be asked again",
                        ))
                    }
                    None => Err(DesignError::Model(e)),
                };
            }
        };
        job.control.answered(round, &messages, &reply);
        job.check_superseded()?;
        let answered = format!(
            "round {}: {} tokens in {:.1} s ({})",
            round + 1,
            reply.tokens,
            reply.elapsed.as_secs_f64(),
            reply.structured.describe()
        );
        let outcome = match reply.finish {
            Finish::Length => Err(ReplyProblem::CutOff {
                tokens: reply.tokens,
            }),
            _ => read_answer(&reply.text, &asked(request)),
        };
        let outcome = outcome.and_then(|answer| build(answer, &asked(request), job, &probe));
        let follow_up = match outcome {
            Err(problem) => {
                notes.push(format!("{answered}: {problem}"));
                if let ReplyProblem::Build(e) = &problem {
                    if e.setting().is_some() {
                        // A missing compiler is not the model's to fix.
                        return Err(DesignError::ModelPatch(problem));
                    }
                }
                if round == MAX_REPAIR_ROUNDS {
                    return match best {
                        Some(best) => Ok(finish(best, round + 1, notes, "its last answer failed")),
                        None => Err(DesignError::ModelPatch(problem)),
                    };
                }
                prompt::repair_message(&problem.to_string(), plan.form, MAX_REPAIR_CHARS)
            }
            Ok((spec, mut built, form)) => {
                job.check_superseded()?;
                job.stage(Stage::Calibrating);
                let (spec, calibration) = match calibrate_built(&mut built, &spec) {
                    Ok((spec, report)) => (spec, Some(report)),
                    Err(_) => (spec, None),
                };
                let judge = judge.get_or_insert_with(|| {
                    Judge::new(
                        &request.prompt,
                        request.to_refine(),
                        &spec.archetype,
                        &probe,
                    )
                });
                let verdict = judge.judge(
                    &spec,
                    &built,
                    calibration.as_ref(),
                    form == AnswerForm::Graph,
                );
                notes.push(format!(
                    "{answered}: a {form} patch `{}` that builds; measured: {}",
                    spec.name,
                    if verdict.figures.is_empty() {
                        "nothing the words ask".to_string()
                    } else {
                        verdict.figures.clone()
                    }
                ));
                let misses = verdict.misses.clone();
                let candidate = Candidate {
                    calibration: calibration
                        .as_ref()
                        .map(calibration_note)
                        .unwrap_or_else(|| "the macros could not be calibrated".into()),
                    spec,
                    built,
                    form,
                    round,
                    verdict,
                };
                let closer = best
                    .as_ref()
                    .is_none_or(|b| candidate.verdict.misses.len() <= b.verdict.misses.len());
                if closer {
                    best = Some(candidate);
                }
                if misses.is_empty() {
                    let best = best.expect("kept above");
                    return Ok(finish(best, round + 1, notes, ""));
                }
                if round == MAX_REPAIR_ROUNDS {
                    let best = best.expect("a patch built");
                    let why = "the rounds ran out before it met every target";
                    return Ok(finish(best, round + 1, notes, why));
                }
                prompt::feedback_message(&misses, plan.form)
            }
        };
        last = Some((reply.text, follow_up));
        round += 1;
    }
    unreachable!("the last round returns")
}

/// The patch that goes live, with the notes.
fn finish(best: Candidate, rounds: u32, mut notes: Vec<String>, why: &str) -> Designed {
    if !why.is_empty() {
        notes.push(format!(
            "{why}; the closest patch went live (round {})",
            best.round + 1
        ));
    }
    notes.push(best.calibration);
    Designed {
        spec: best.spec,
        built: best.built,
        by: DesignedBy::Llm {
            rounds,
            round: best.round + 1,
            form: best.form,
        },
        notes,
        misses: Vec::new(),
    }
}

/// The graph or PatchSpec in a model's reply, or what is wrong with it (said so the model
/// can fix it).
fn read_answer(reply: &str, prompt: &str) -> Result<Answer, ReplyProblem> {
    let json = extract_json(reply).map_err(ReplyProblem::NoSpec)?;
    let value: Value = serde_json::from_str(&json)
        .map_err(|e| ReplyProblem::NoSpec(format!("the JSON could not be read: {e}")))?;
    let is_spec = value.get("faust").is_some() || value.get("version").is_some();
    if !is_spec {
        return SynthGraph::from_json(&json)
            .map(Answer::Graph)
            .map_err(ReplyProblem::InvalidGraph);
    }
    let mut spec = PatchSpec::from_json(&json).map_err(ReplyProblem::InvalidSpec)?;
    if spec.prompt.trim().is_empty() {
        spec.prompt = prompt.trim().to_string();
    }
    Ok(Answer::Spec(spec))
}

/// Builds an answer: a graph is turned into its PatchSpec and its level matched first.
fn build(
    answer: Answer,
    asked: &str,
    job: &mut Job,
    probe: &dyn Fn(&PatchSpec) -> Result<OfflinePatch, BuildError>,
) -> Result<(PatchSpec, Built, AnswerForm), ReplyProblem> {
    let (spec, form) = match answer {
        Answer::Graph(graph) => {
            job.stage(Stage::Compiling);
            let mut spec = graph.to_spec(asked);
            normalize_level(&mut spec, probe).map_err(ReplyProblem::Build)?;
            (spec, AnswerForm::Graph)
        }
        Answer::Spec(spec) => (spec, AnswerForm::Faust),
    };
    let built = job.build(&spec).map_err(ReplyProblem::Build)?;
    Ok((spec, built, form))
}

/// What the producer asked, as the patch records it: a change is added to the current
/// patch's words ("warm pad; brighter").
fn asked(request: &DesignRequest) -> String {
    match request.to_refine().map(|c| c.prompt.trim()) {
        Some(first) if !first.is_empty() => format!("{first}; {}", request.prompt.trim()),
        _ => request.prompt.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::{ContextSource, LlmConfig};

    fn plan(model: &str, form: ReplyForm, tokens: u32) -> Result<Plan, DesignError> {
        let client = LlmClient::new(LlmConfig {
            model: model.into(),
            form,
            ..LlmConfig::default()
        });
        let context = ContextSize {
            tokens,
            source: ContextSource::Setting,
        };
        Plan::new(&client, context, &DesignRequest::new("a warm pad"))
    }

    #[test]
    fn small_models_and_small_contexts_get_the_graph_form() {
        let p = plan("smollm2-135m-instruct", ReplyForm::Auto, 32768).unwrap();
        assert_eq!((p.form, p.reference), (Form::Graph, false));
        assert_eq!(p.answer_tokens, GRAPH_ANSWER_TOKENS);
        let p = plan("gpt-4o", ReplyForm::Auto, 8192).unwrap();
        assert_eq!(p.form, Form::Graph, "no room for the reference");
        let p = plan("gpt-4o", ReplyForm::Auto, 32768).unwrap();
        assert_eq!((p.form, p.reference), (Form::Either, true));
        assert_eq!(p.answer_tokens, 2048);
        let p = plan("qwen2.5-coder:7b", ReplyForm::Faust, 8192).unwrap();
        assert_eq!((p.form, p.reference), (Form::Faust, false));
        assert!(p.system.contains("# PatchSpec") && !p.system.contains("# Reference"));
    }

    #[test]
    fn a_context_too_small_is_refused_with_what_it_needs() {
        let Err(DesignError::ContextTooSmall {
            prompt,
            answer,
            suggested,
            ..
        }) = plan("smollm2-135m", ReplyForm::Auto, 2048)
        else {
            panic!("2048 tokens cannot hold the instructions and an answer")
        };
        assert_eq!(answer, GRAPH_ANSWER_TOKENS);
        assert!(prompt > 1000 && prompt < 2000, "{prompt}");
        assert_eq!(suggested, 8192, "room for a repair round too");
        let fits = plan("smollm2-135m", ReplyForm::Auto, 4096).unwrap();
        assert_eq!(fits.context.tokens, 4096);
    }

    #[test]
    fn a_later_round_is_cut_by_rule_to_fit() {
        let p = plan("smollm2-135m", ReplyForm::Graph, 4096).unwrap();
        let follow_up = ChatMessage::user("d".repeat(3000));
        let short = "{\"name\": \"x\"}";
        // Everything fits.
        let (messages, cut) = p
            .messages(Some((short, &ChatMessage::user("short"))))
            .unwrap();
        assert_eq!((messages.len(), cut), (4, None));
        // The diagnostics are cut first.
        let (messages, cut) = p.messages(Some((short, &follow_up))).unwrap();
        assert!(cut.unwrap().contains("diagnostics were cut"));
        assert!(messages[3].content.len() < 3000 && messages[3].content.ends_with("(cut)"));
        assert!(estimate_messages(&messages) + p.answer_tokens <= 4096);
        // A long last answer is left out.
        let long = "a".repeat(3000);
        let (messages, cut) = p.messages(Some((&long, &follow_up))).unwrap();
        assert!(cut.unwrap().contains("last answer was left out"));
        assert!(messages[2].content.contains("left out to fit the context"));
        assert!(estimate_messages(&messages) + p.answer_tokens <= 4096);
        // The instructions and the request are never cut.
        assert_eq!(messages[..2], p.messages(None).unwrap().0[..]);
    }
}
