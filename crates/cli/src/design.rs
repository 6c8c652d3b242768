//! `mephisto design` and `mephisto eval`: the sound designer on the command line.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mephisto_compiler::{Compiler, CompilerOptions};
use mephisto_designer::eval::{PromptSuite, EVAL_RATE};
use mephisto_designer::llm::{
    ApiKeyVar, ChatMessage, ChatReply, Finish, LlmClient, LlmConfig, ReplyForm,
};
use mephisto_designer::{
    self as designer, DesignRequest, DesignedBy, Designer, Job, JobControl, Stage,
};
use mephisto_dsp::macros::NEUTRAL_MACROS;
use mephisto_patch::render::{default_seconds, render_score, write_wav};
use mephisto_patch::sanity::SanityLimits;
use mephisto_patch::score::default_score;
use mephisto_patch::{BuildError, BuildSpec, Builder, PatchSpec};
use mephisto_rt::engine::DEFAULT_VOICES;
use mephisto_rt::neural::bank::OfflineFlag;

/// A design job in the calling thread: its stages are printed with the time since the start;
/// while the model answers, its progress at most every [`PROGRESS_EVERY`].
struct PrintStages {
    started: Instant,
    /// The model's round last printed, and when.
    last_round: Option<(u32, Instant)>,
    /// Where each round's request and answer are written, if anywhere.
    transcript: Option<PathBuf>,
}

/// How often the model's progress is printed.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

impl JobControl for PrintStages {
    fn stage(&mut self, stage: Stage) {
        if let Stage::AskingModel { round, .. } = stage {
            let same_round = self.last_round.is_some_and(|(r, _)| r == round);
            let recent = self
                .last_round
                .is_some_and(|(_, at)| at.elapsed() < PROGRESS_EVERY);
            if same_round && recent {
                return;
            }
            self.last_round = Some((round, Instant::now()));
        } else {
            self.last_round = None;
        }
        eprintln!("[{:6.2} s] {stage}", self.started.elapsed().as_secs_f64());
    }

    fn answered(&mut self, round: u32, messages: &[ChatMessage], reply: &ChatReply) {
        let finish = match &reply.finish {
            Finish::Stop => "stop".to_string(),
            Finish::Length => "length".to_string(),
            Finish::Other(other) => other.clone(),
        };
        // Every round's whole answer is said, even when it came faster than the progress
        // lines are printed.
        let first_token = reply
            .first_token
            .map(|d| format!(", the first after {:.1} s", d.as_secs_f64()))
            .unwrap_or_default();
        eprintln!(
            "[{:6.2} s] the model answered (round {}): {} tokens in {:.1} s{first_token}; \
             finish_reason {finish}",
            self.started.elapsed().as_secs_f64(),
            round + 1,
            reply.tokens,
            reply.elapsed.as_secs_f64(),
        );
        self.last_round = None;
        let Some(dir) = &self.transcript else {
            return;
        };
        let record = serde_json::json!({
            "round": round + 1,
            "messages": messages,
            "answer": reply.text,
            "finish_reason": finish,
            "tokens": reply.tokens,
            "seconds": reply.elapsed.as_secs_f64(),
            "first_token_seconds": reply.first_token.map(|d| d.as_secs_f64()),
            "structured_output": reply.structured.describe(),
        });
        let path = dir.join(format!("round{}.json", round + 1));
        let written = std::fs::create_dir_all(dir).and_then(|()| {
            std::fs::write(
                &path,
                serde_json::to_string_pretty(&record).unwrap_or_default(),
            )
        });
        if let Err(e) = written {
            eprintln!("cannot write {}: {e}", path.display());
        }
    }
}

/// Where the model is, when `--llm` is given, and what the command line changes of the
/// LLM settings' defaults.
pub struct LlmArgs {
    pub base_url: String,
    pub model: Option<String>,
    pub api_key_env: Option<String>,
    /// Seconds of silence in the middle of an answer.
    pub timeout: Option<f64>,
    /// Seconds to wait for the first token.
    pub first_token_timeout: Option<f64>,
    pub context: Option<u32>,
    pub max_answer_tokens: Option<u32>,
    pub form: Option<ReplyForm>,
}

pub struct DesignArgs {
    pub prompt: String,
    pub from: Option<PathBuf>,
    pub llm: Option<LlmArgs>,
    pub out: PathBuf,
    pub render: Option<PathBuf>,
    /// A folder for each round's request and answer (`roundN.json`).
    pub transcript: Option<PathBuf>,
}

/// `mephisto design`: designs (or, with `--from`, refines) a patch, builds it as the plugin
/// would (compile, sanity gate), writes the spec and optionally renders the default probe.
pub fn design(args: DesignArgs) -> Result<(), String> {
    let current = args.from.as_deref().map(PatchSpec::from_file).transpose()?;
    let designer = match args.llm {
        Some(llm) => Designer::Llm(LlmClient::new(llm_config(llm)?)),
        None => Designer::Offline,
    };
    let compiler = Compiler::new(CompilerOptions::default());
    if let Some(note) = compiler.sandbox_status().note() {
        eprintln!("note: {note}");
    }
    let started = Instant::now();
    let builder = Builder {
        compiler: &compiler,
        limits: SanityLimits::default(),
        sample_rate: EVAL_RATE as f32,
        // The command line never plays the instance it builds.
        offline: OfflineFlag::default(),
    };
    let mut stages = PrintStages {
        started,
        last_round: None,
        transcript: args.transcript,
    };
    let request = match current {
        Some(current) => DesignRequest::refine(&args.prompt, current),
        None => DesignRequest::new(&args.prompt),
    };
    let mut job = Job {
        builder: &builder,
        control: &mut stages,
    };
    // Sound first: the plugin plays the offline designer's draft from here while the
    // analysis check makes the design, and the design while it calibrates.
    let cpu_before = process_cpu_ns();
    let draft = designer::run_draft(&designer, &request, &mut job).map_err(|e| e.to_string())?;
    let sounded = |cpu_before: Option<u64>| {
        let cpu = process_cpu_ns()
            .zip(cpu_before)
            .map(|(after, before)| after - before);
        (started.elapsed(), cpu)
    };
    let first_sound = draft.is_some().then(|| sounded(cpu_before));
    if first_sound.is_some() {
        job.control.stage(Stage::AnalysisCheck);
    }
    let mut designed = designer::run(&designer, &request, &mut job).map_err(|e| e.to_string())?;
    let designed_at = sounded(cpu_before);
    job.control.stage(Stage::Calibrating);
    let calibrated = designer::calibrate(&designed.spec, &designed.built.program);
    designed.spec = calibrated.spec;
    designed.notes.push(calibrated.note);
    for note in &designed.notes {
        eprintln!("note: {note}");
    }
    if !designed.misses.is_empty() {
        println!("short of what was asked: {}", designed.misses.join("; "));
    }
    // On a busy machine the wall time counts other processes' turns; the CPU time of all
    // the process's threads is what the work costs (the analysis check plays tries on a
    // second thread, so on an idle machine with a core to spare the wait is shorter).
    let (ready, ready_cpu) = first_sound.unwrap_or(designed_at);
    let cpu = ready_cpu
        .map(|ns| format!(" ({:.1} ms of CPU)", ns as f64 / 1e6))
        .unwrap_or_default();
    let checked = first_sound
        .map(|_| {
            format!(
                "; checked after {:.1} ms",
                designed_at.0.as_secs_f64() * 1e3
            )
        })
        .unwrap_or_default();
    println!(
        "first sound: ready to play after {:.1} ms{cpu}{checked}; calibrated after {:.2} s",
        ready.as_secs_f64() * 1e3,
        started.elapsed().as_secs_f64()
    );
    std::fs::write(&args.out, designed.spec.to_json_pretty())
        .map_err(|e| format!("cannot write {}: {e}", args.out.display()))?;
    let by = match designed.by {
        DesignedBy::Offline => "the offline designer".to_string(),
        DesignedBy::OfflineFallback => "the offline designer (the model was unreachable)".into(),
        DesignedBy::Llm {
            rounds,
            round,
            form,
        } => format!("the model ({form} form, round {round} of {rounds})"),
    };
    println!(
        "live: `{}` ({}) by {by} in {:.2} s; wrote {}",
        designed.spec.name,
        designed.spec.archetype,
        started.elapsed().as_secs_f64(),
        args.out.display()
    );
    if let Some(path) = args.render {
        let score = default_score();
        let audio = render_score(
            designed.built.instance,
            &score,
            NEUTRAL_MACROS,
            default_seconds(&score),
            EVAL_RATE,
        );
        write_wav(&path, &audio)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// An `--llm` base URL must be an http(s) address with a host: anything else (a typo, a
/// `file://` URL) is an error, never a silent fall-back to the offline designer.
fn check_base_url(url: &str) -> Result<(), String> {
    let shown = mephisto_compiler::limits::cut(url, 80);
    let host = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or(""))
        .map(|authority| authority.rsplit('@').next().unwrap_or(""));
    match host {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => Ok(()),
        _ => Err(format!(
            "--llm `{shown}` is not an http:// or https:// address with a host (e.g. http://127.0.0.1:11434/v1)"
        )),
    }
}

fn llm_config(args: LlmArgs) -> Result<LlmConfig, String> {
    check_base_url(args.base_url.trim())?;
    let defaults = LlmConfig::default();
    let api_key_env = args.api_key_env.map(ApiKeyVar::try_from).transpose()?;
    let seconds = |flag: &str, value: Option<f64>, default: Duration| match value {
        Some(s) => Duration::try_from_secs_f64(s)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| format!("{flag} {s} must be a positive number of seconds")),
        None => Ok(default),
    };
    if args.context == Some(0) || args.max_answer_tokens == Some(0) {
        return Err("--context and --max-answer-tokens must be more than 0".into());
    }
    Ok(LlmConfig {
        base_url: args.base_url,
        model: args.model.unwrap_or(defaults.model.clone()),
        api_key_env,
        timeout: seconds("--timeout", args.timeout, defaults.timeout)?,
        first_token_timeout: seconds(
            "--first-token-timeout",
            args.first_token_timeout,
            defaults.first_token_timeout,
        )?,
        context_tokens: args.context.unwrap_or(defaults.context_tokens),
        max_answer_tokens: args.max_answer_tokens.unwrap_or(defaults.max_answer_tokens),
        form: args.form.unwrap_or(defaults.form),
        ..defaults
    })
}

/// `mephisto eval`: the offline designer on a prompt suite; prints each relation and the
/// score.
pub fn eval(suite_path: &Path, macros: bool) -> Result<(), String> {
    let suite = PromptSuite::from_file(suite_path)?;
    let started = Instant::now();
    let mut design_time = Duration::ZERO;
    let mut slowest = (Duration::ZERO, String::new());
    let mut design = |prompt: &str| {
        let t = Instant::now();
        let result = designer::offline::design(prompt).map(|d| d.spec);
        let took = t.elapsed();
        design_time += took;
        if took > slowest.0 {
            slowest = (took, prompt.to_string());
        }
        result
    };
    let instantiate = |spec: &PatchSpec| {
        spec.instantiate_builtin(DEFAULT_VOICES, EVAL_RATE as f32)
            .unwrap_or_else(|| {
                Err(BuildError::Instance(
                    "the offline designer's patch is not a built-in's program".into(),
                ))
            })
    };
    let report = suite.evaluate(&mut design, &instantiate)?;
    println!("| prompt | patch | centroid Hz | low_mid | flatness | flux | attack s | decay s | tail s | level LUFS | peak dBFS |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for p in &suite.prompts {
        let (name, f) = &report.measured[&p.id];
        println!(
            "| {} | {name} | {:.0} | {:.3} | {:.2e} | {:.3} | {:.3} | {:.2} | {:.2} | {:.1} | {:.1} |",
            p.prompt,
            f.centroid_hz,
            f.low_mid_share,
            f.flatness,
            f.flux,
            f.attack_s,
            f.decay_s,
            f.tail_s,
            f.level_lufs,
            f.peak_db
        );
    }
    println!();
    println!("| relation | category | descriptor | lower | higher | holds |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for o in &report.outcomes {
        let r = &o.relation;
        println!(
            "| {} < {} | {} | {} | {} | {} | {} |",
            r.lower,
            r.higher,
            r.category,
            r.descriptor,
            figure(o.lower_value),
            figure(o.higher_value),
            if o.holds() { "yes" } else { "**no**" }
        );
    }
    println!();
    println!("| category | hold | relations | score |");
    println!("| --- | --- | --- | --- |");
    for (category, (held, all)) in report.by_category() {
        println!(
            "| {category} | {held} | {all} | {:.1} % |",
            100.0 * held as f32 / all as f32
        );
    }
    let spread = report.level_spread();
    println!();
    println!(
        "level: {:.1} to {:.1} LUFS (target {:.0} LUFS), highest peak {:.1} dBFS",
        spread.quietest,
        spread.loudest,
        mephisto_patch::level::LOUDNESS_TARGET_LUFS,
        spread.peak
    );
    println!(
        "score: {}/{} relations hold ({:.1} %); {} prompts designed in {:.1} ms (mean {:.1} ms, slowest {:.1} ms: \"{}\"); total {:.1} s",
        report.held(),
        report.outcomes.len(),
        100.0 * report.score(),
        suite.prompts.len(),
        design_time.as_secs_f64() * 1000.0,
        design_time.as_secs_f64() * 1000.0 / suite.prompts.len().max(1) as f64,
        slowest.0.as_secs_f64() * 1000.0,
        slowest.1,
        started.elapsed().as_secs_f64()
    );
    if macros {
        eval_macros(&suite)?;
    }
    Ok(())
}

/// A design job nobody watches (`mephisto eval --first-sound` times it).
struct Unwatched;

impl JobControl for Unwatched {
    fn stage(&mut self, _stage: Stage) {}
}

/// One prompt's times, in ms: to first sound (wall, CPU of all threads, CPU of the job's
/// own thread) and to the checked design (wall).
struct FirstSound<'a> {
    prompt: &'a str,
    wall: f64,
    cpu: f64,
    thread: f64,
    checked: f64,
}

/// `mephisto eval --first-sound`: every distinct prompt of the suite through the design job
/// as the plugin runs it: the draft to first sound (design, level, sanity gate, the live
/// instance), timed by the wall clock and by the process's CPU time on all threads and on
/// the job's own thread, then the checked design that replaces it (the analysis check, its
/// sanity gate), timed by the wall clock from the same start; prints the slowest prompts
/// and the median, 95th percentile and maximum of each.
pub fn first_sound(suite_path: &Path) -> Result<(), String> {
    let suite = PromptSuite::from_file(suite_path)?;
    let mut prompts: Vec<&str> = suite.prompts.iter().map(|p| p.prompt.as_str()).collect();
    prompts.sort_unstable();
    prompts.dedup();
    let compiler = Compiler::new(CompilerOptions::default());
    let builder = Builder {
        compiler: &compiler,
        limits: SanityLimits::default(),
        sample_rate: EVAL_RATE as f32,
        offline: OfflineFlag::default(),
    };
    let mut times: Vec<FirstSound> = Vec::with_capacity(prompts.len());
    let ms = |after: Option<u64>, before: Option<u64>| {
        after
            .zip(before)
            .map_or(f64::NAN, |(after, before)| (after - before) as f64 / 1e6)
    };
    for prompt in &prompts {
        let (cpu_before, thread_before) = (process_cpu_ns(), thread_cpu_ns());
        let started = Instant::now();
        let mut control = Unwatched;
        let mut job = Job {
            builder: &builder,
            control: &mut control,
        };
        let request = DesignRequest::new(prompt);
        let fail = |e: designer::DesignError| format!("\"{prompt}\": {e}");
        designer::run_draft(&Designer::Offline, &request, &mut job).map_err(fail)?;
        let wall = started.elapsed().as_secs_f64() * 1e3;
        let cpu = ms(process_cpu_ns(), cpu_before);
        let thread = ms(thread_cpu_ns(), thread_before);
        designer::run(&Designer::Offline, &request, &mut job).map_err(fail)?;
        let checked = started.elapsed().as_secs_f64() * 1e3;
        times.push(FirstSound {
            prompt,
            wall,
            cpu,
            thread,
            checked,
        });
    }
    times.sort_by(|a, b| b.wall.total_cmp(&a.wall));
    println!(
        "| slowest prompts (first sound, wall) | wall ms | CPU ms, all threads | CPU ms, the \
         job's thread | checked design, wall ms |"
    );
    println!("| --- | --- | --- | --- | --- |");
    for t in times.iter().take(10) {
        println!(
            "| {} | {:.1} | {:.1} | {:.1} | {:.1} |",
            t.prompt, t.wall, t.cpu, t.thread, t.checked
        );
    }
    let stats = |of: fn(&FirstSound) -> f64| {
        let mut values: Vec<f64> = times.iter().map(of).collect();
        values.sort_by(f64::total_cmp);
        let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
        format!(
            "median {:.1} ms, 95th percentile {:.1} ms, max {:.1} ms",
            at(0.5),
            at(0.95),
            at(1.0)
        )
    };
    println!();
    // The job's own thread waits (without CPU) for the tries its helper plays: its CPU
    // time is what the wall time would be with a free core for the helper.
    println!(
        "first sound over {} prompts: wall {}; CPU {} (all threads); CPU of the job's thread \
         {}; the checked design: wall {}",
        times.len(),
        stats(|t| t.wall),
        stats(|t| t.cpu),
        stats(|t| t.thread),
        stats(|t| t.checked)
    );
    Ok(())
}

/// The CPU time the calling thread has run, in nanoseconds; `None` where it cannot be read.
fn thread_cpu_ns() -> Option<u64> {
    cpu_clock_ns(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// The CPU time this process has run on all its threads, in nanoseconds (the analysis
/// check plays tries on a second thread); `None` where it cannot be read.
fn process_cpu_ns() -> Option<u64> {
    cpu_clock_ns(libc::CLOCK_PROCESS_CPUTIME_ID)
}

fn cpu_clock_ns(clock: libc::clockid_t) -> Option<u64> {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec for the call to write.
    let read = unsafe { libc::clock_gettime(clock, &mut now) };
    (read == 0).then(|| now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64)
}

/// Calibrates the macros of every distinct prompt's design (as the worker does once the
/// patch plays) and reports how many pass all six, naming the rest.
fn eval_macros(suite: &PromptSuite) -> Result<(), String> {
    let mut prompts: Vec<&str> = suite.prompts.iter().map(|p| p.prompt.as_str()).collect();
    prompts.sort_unstable();
    prompts.dedup();
    let mut failing = Vec::new();
    for prompt in &prompts {
        let spec = designer::offline::design(prompt)?.spec;
        let program = spec
            .builtin_index()
            .map(mephisto_patch::Program::Builtin)
            .ok_or("the offline designer's patch is not a built-in's program")?;
        let calibrated = designer::calibrate(&spec, &program);
        if !calibrated.note.starts_with("macros calibrated: 6/6") {
            failing.push(format!("{prompt}: {}", calibrated.note));
        }
    }
    println!();
    for f in &failing {
        println!("- {f}");
    }
    println!(
        "macros: {}/{} designs pass 6/6 ({:.1} %)",
        prompts.len() - failing.len(),
        prompts.len(),
        100.0 * (prompts.len() - failing.len()) as f64 / prompts.len().max(1) as f64
    );
    Ok(())
}

/// A measured value with three significant digits, in scientific notation when small.
fn figure(value: f32) -> String {
    if value != 0.0 && value.abs() < 0.01 {
        format!("{value:.2e}")
    } else {
        format!("{value:.3}")
    }
}
