//! The background worker: runs design jobs (ask a designer, compile, check, instantiate)
//! and play jobs (a PatchSpec from the project, the history or the code editor) off the
//! audio thread, sends the finished instances to the audio thread through a wait-free ring,
//! and drops the instances the audio thread hands back. It tells the GUI and the command
//! line what each job is doing, keeps the live patch's spec for the DAW project, and
//! records every patch that went live in the history.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::{Mutex, RwLock};

use mephisto_compiler::{CompiledVariant, Compiler, CompilerOptions};
use mephisto_designer::{
    self as designer, DesignError, DesignRequest, Designer, Failure, Job, JobControl, Stage,
};
use mephisto_patch::sanity::SanityLimits;
use mephisto_patch::{Builder, Built, PatchSpec, Program, Setting};
use mephisto_rt::neural::bank::OfflineFlag;
use mephisto_rt::swap::{patch_rings, AudioPorts, Remap, WorkerPorts};

use crate::history::History;
use crate::stored::Stored;

/// Room for instances in flight each way; a variant waiting here is the newest one.
const RING_CAPACITY: usize = 4;
/// How often the worker wakes to drop returned instances and watch the live variant.
const TICK: Duration = Duration::from_millis(20);

/// The newest job and where it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct JobStatus {
    /// Numbers jobs in the order they were asked for; 0 before the first.
    pub job: u64,
    /// The prompt of a design job, the patch name of a play job.
    pub title: String,
    pub stage: Stage,
    pub started: Instant,
    /// How long the job took to sound (its patch went to the audio thread, perhaps while
    /// the job goes on) or to end.
    pub took: Option<Duration>,
    /// What the producer should know besides the stage: unknown words, a fallback to the
    /// offline designer, repair rounds.
    pub notes: Vec<String>,
    /// The patch's name once it went live.
    pub patch: Option<String>,
    /// What the designed patch could not reach of what the words asked ("darker: reached
    /// −0.31 of −0.90 oct"), shown with the stage.
    pub misses: Vec<String>,
}

impl JobStatus {
    fn new(job: u64, title: String, stage: Stage) -> JobStatus {
        JobStatus {
            job,
            title,
            stage,
            started: Instant::now(),
            took: None,
            notes: Vec::new(),
            patch: None,
            misses: Vec::new(),
        }
    }

    /// Time since the job was asked for, or what it took once done.
    pub fn elapsed(&self) -> Duration {
        self.took.unwrap_or_else(|| self.started.elapsed())
    }
}

/// What a play job's patch is, for the history once it goes live.
#[derive(Debug, Clone, PartialEq)]
enum Origin {
    /// A new patch: recorded in the history. `previous` is the patch the request started
    /// from (recorded first when the history does not end with it); `draft` the first
    /// sound this checked design replaces, whose history entry it takes over.
    New {
        previous: Option<Box<PatchSpec>>,
        draft: Option<Box<PatchSpec>>,
    },
    /// History entry `index`, revisited by undo, redo, A/B or a pick from the list.
    History { index: usize },
}

impl Origin {
    /// A new patch that starts from nothing the history should keep.
    fn new_patch() -> Origin {
        Origin::New {
            previous: None,
            draft: None,
        }
    }
}

/// How a patch that goes live reads: live, and whether its program came from the variant
/// cache (a built-in's always does: nothing was compiled).
fn live_stage(compiled: Option<&CompiledVariant>) -> Stage {
    Stage::Live {
        from_cache: compiled.is_none_or(CompiledVariant::from_cache),
    }
}

enum Request {
    Play {
        id: u64,
        spec: Box<PatchSpec>,
        origin: Origin,
    },
    Design {
        id: u64,
        request: Box<DesignRequest>,
        designer: Designer,
    },
    Shutdown,
}

/// State the worker shares with the plugin (never with the audio thread, which only
/// writes `live_variant`).
pub struct WorkerShared {
    pub status: Mutex<JobStatus>,
    /// The runtime variant now playing (0: a built-in), written by the audio thread.
    pub live_variant: Arc<AtomicU64>,
    /// Set by the worker when the project (or a preset) the host loaded names no designed
    /// patch: the audio thread then plays the selected built-in even if the selector did
    /// not move.
    pub play_builtin: Arc<AtomicBool>,
    /// The spec of the patch playing, saved with the DAW project; `None` while a built-in
    /// selected with the patch selector plays. Kept when a restore fails, so a project
    /// opened where `faust` is missing loses nothing.
    pub saved: Arc<RwLock<Stored<Option<PatchSpec>>>>,
    /// Every patch that went live; saved with the DAW project.
    pub history: Arc<RwLock<Stored<History>>>,
    /// Where the newest neural patch sent to the audio thread runs its decoder (execution
    /// provider and ONNX Runtime), for the window; `None` until one was built.
    pub neural_execution: Mutex<Option<String>>,
    next_job: AtomicU64,
    /// Set when a request arrives: the compile running for an older one stops.
    cancel_compile: Arc<AtomicBool>,
}

/// Handle to the worker thread; dropping it stops the thread.
pub struct Worker {
    jobs: Sender<Request>,
    shared: Arc<WorkerShared>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    /// Starts the worker. `saved` and `history` are the project's (the plugin's persisted
    /// fields); the worker keeps them in step with what plays.
    pub fn spawn(
        settings: WorkerSettings,
        saved: Arc<RwLock<Stored<Option<PatchSpec>>>>,
        history: Arc<RwLock<Stored<History>>>,
    ) -> (Worker, AudioPorts) {
        let WorkerSettings {
            compiler,
            limits,
            sample_rate,
            onnxruntime,
            offline,
            project_loads,
        } = settings;
        let (ports, audio_ports) = patch_rings(RING_CAPACITY);
        let (jobs, job_rx) = crossbeam_channel::unbounded();
        let compiler = Compiler::new(compiler);
        // Said once, before any job: the compilers run without the Landlock sandbox here.
        let mut idle = JobStatus::new(0, String::new(), Stage::Idle);
        idle.notes.extend(compiler.sandbox_status().note());
        let shared = Arc::new(WorkerShared {
            status: Mutex::new(idle),
            live_variant: Arc::new(AtomicU64::new(0)),
            play_builtin: Arc::new(AtomicBool::new(false)),
            saved,
            history,
            neural_execution: Mutex::new(None),
            next_job: AtomicU64::new(1),
            cancel_compile: Arc::new(AtomicBool::new(false)),
        });
        let mut state = WorkerThread {
            compiler: compiler.with_cancel_flag(shared.cancel_compile.clone()),
            limits,
            sample_rate,
            offline,
            shared: shared.clone(),
            ports,
            next_variant: 1,
            sent: Vec::new(),
            last_live: 0,
            project_loads,
            loads_seen: None,
            load_settling: None,
        };
        let thread = std::thread::Builder::new()
            .name("mephisto-worker".into())
            .spawn(move || {
                if let Some(library) = onnxruntime {
                    state.load_onnxruntime(&library);
                }
                state.run(job_rx)
            })
            .expect("the OS refused to start the worker thread");
        let worker = Worker {
            jobs,
            shared,
            thread: Some(thread),
        };
        (worker, audio_ports)
    }

    /// Asks for a patch to be designed and played; returns the job's number. A newer job
    /// supersedes it.
    pub fn design(&self, request: DesignRequest, designer: Designer) -> u64 {
        let id = self.queue(request.prompt.trim().to_string());
        self.submit(Request::Design {
            id,
            request: Box::new(request),
            designer,
        });
        id
    }

    /// Asks for `spec` to be compiled and played as a new patch (a restored project, an
    /// opened file, edited code); returns the job's number.
    pub fn play(&self, spec: PatchSpec) -> u64 {
        self.play_as(spec, Origin::new_patch())
    }

    /// Plays the history entry before the current one; `None` when there is none.
    pub fn undo(&self) -> Option<u64> {
        let target = self.history(History::undo_target);
        target.map(|index| self.play_history(index))
    }

    /// Plays the history entry after the current one; `None` when there is none.
    pub fn redo(&self) -> Option<u64> {
        let target = self.history(History::redo_target);
        target.map(|index| self.play_history(index))
    }

    /// Switches between the current patch and the one live before it; `None` when the
    /// history has no second patch.
    pub fn compare(&self) -> Option<u64> {
        let target = self.history(History::compare_target);
        target.map(|index| self.play_history(index))
    }

    /// Plays history entry `index` (a pick from the list).
    pub fn play_history(&self, index: usize) -> u64 {
        let spec = self.history(|h| h.get(index).cloned());
        match spec {
            Some(spec) => self.play_as(spec, Origin::History { index }),
            None => {
                let id = self.queue(format!("history entry {index}"));
                self.shared.status.lock().stage =
                    Stage::Failed(Failure::new(format!("the history has no entry {index}")));
                id
            }
        }
    }

    /// Reads the history (`None` from `f`'s result when the project's could not be read).
    fn history<R>(&self, f: impl FnOnce(&History) -> Option<R>) -> Option<R> {
        self.shared.history.read().value().and_then(f)
    }

    fn play_as(&self, spec: PatchSpec, origin: Origin) -> u64 {
        let id = self.queue(spec.name.clone());
        self.submit(Request::Play {
            id,
            spec: Box::new(spec),
            origin,
        });
        id
    }

    /// Stops the running compile (its `faust` or `rustc` is killed), then sends a request
    /// that supersedes it. In this order, the flag can only stop a job that started before
    /// the request was sent: the worker clears it before taking the queue.
    fn submit(&self, request: Request) {
        self.shared.cancel_compile.store(true, Ordering::Release);
        let _ = self.jobs.send(request);
    }

    fn queue(&self, title: String) -> u64 {
        self.shared.queue(title)
    }

    /// Shows a failure that happened outside a job the way a failed job is shown.
    pub fn report_failure(&self, title: &str, failure: Failure) {
        self.shared.report_failure(title, failure)
    }

    pub fn status(&self) -> JobStatus {
        self.shared.status.lock().clone()
    }

    pub fn shared(&self) -> &Arc<WorkerShared> {
        &self.shared
    }
}

impl WorkerShared {
    /// Numbers a new job and shows it as queued; from now on the status is this job's.
    fn queue(&self, title: String) -> u64 {
        let id = self.next_job.fetch_add(1, Ordering::Relaxed);
        *self.status.lock() = JobStatus::new(id, title, Stage::Queued);
        id
    }

    fn report_failure(&self, title: &str, failure: Failure) {
        let id = self.queue(title.to_string());
        let mut status = self.status.lock();
        if status.job == id {
            status.stage = Stage::Failed(failure);
            status.took = Some(Duration::ZERO);
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.submit(Request::Shutdown);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// How the worker builds variants.
pub struct WorkerSettings {
    pub compiler: CompilerOptions,
    /// What a variant must pass before it may play.
    pub limits: SanityLimits,
    pub sample_rate: f32,
    /// The ONNX Runtime library the producer chose (Settings); `None`: found as
    /// `neural::runtime::find_library` says. A process loads one, so a chosen one is loaded
    /// when the worker starts, before any neural patch could load another.
    pub onnxruntime: Option<std::path::PathBuf>,
    /// Whether the host renders offline, for the neural patches the worker builds.
    pub offline: OfflineFlag,
    /// Counts the host's loads of the project's fields (`stored::HostLoaded`): the worker
    /// plays the saved spec when it starts and again after every load.
    pub project_loads: Arc<AtomicU64>,
}

impl WorkerSettings {
    /// The plugin's settings: default compiler options and limits, ONNX Runtime found.
    pub fn new(sample_rate: f32) -> Self {
        WorkerSettings {
            compiler: CompilerOptions::default(),
            limits: SanityLimits::default(),
            sample_rate,
            onnxruntime: None,
            offline: OfflineFlag::default(),
            project_loads: Arc::default(),
        }
    }
}

/// A patch handed to the audio thread and not yet known to be gone.
struct Sent {
    variant_id: u64,
    spec: PatchSpec,
    origin: Origin,
    /// The runtime program behind it (`None` for a built-in program), watched for panics.
    compiled: Option<CompiledVariant>,
}

struct WorkerThread {
    compiler: Compiler,
    limits: SanityLimits,
    sample_rate: f32,
    offline: OfflineFlag,
    shared: Arc<WorkerShared>,
    ports: WorkerPorts,
    next_variant: u64,
    sent: Vec<Sent>,
    /// The newest variant seen live; 0 until one has played.
    last_live: u64,
    project_loads: Arc<AtomicU64>,
    /// The count of host loads the saved spec was last restored for; `None` before the
    /// first restore (when the worker starts).
    loads_seen: Option<u64>,
    /// A new count seen on the previous tick, acted on when it still holds.
    load_settling: Option<u64>,
}

impl WorkerThread {
    /// Loads the ONNX Runtime library the settings name; a failure is shown as the status
    /// (neural patches then fail with the same reason when asked for).
    fn load_onnxruntime(&self, library: &std::path::Path) {
        if let Err(e) = mephisto_neural::runtime::load(Some(library)) {
            *self.shared.status.lock() = JobStatus::new(
                0,
                "ONNX Runtime".into(),
                Stage::Failed(Failure::fixed_by(
                    format!(
                        "the ONNX Runtime library in the settings cannot be used: {e}; fix \
                         the path on the Settings page (neural patches need it)"
                    ),
                    Setting::OnnxRuntime,
                )),
            );
        }
    }

    fn run(&mut self, jobs: Receiver<Request>) {
        self.follow_project_loads();
        loop {
            let job = match jobs.recv_timeout(TICK) {
                Ok(job) => Some(job),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            // A newer request supersedes the ones queued before it. The cancel flag is
            // cleared before the queue is drained, so a request that arrives after the drain
            // stops this job's compile.
            self.shared.cancel_compile.store(false, Ordering::Release);
            let job = job.map(|first| jobs.try_iter().fold(first, |_, newer| newer));
            match job {
                Some(Request::Shutdown) => return,
                Some(Request::Play { id, spec, origin }) => self.play(id, *spec, origin),
                Some(Request::Design {
                    id,
                    request,
                    designer,
                }) => self.design(id, *request, designer, &jobs),
                None => {}
            }
            self.collect_returned();
            self.collect_remaps();
            self.watch_live();
            self.follow_project_loads();
        }
    }

    /// Plays the project's saved patch when the worker starts and after the host loads new
    /// state (a project opened after activation, a preset). A load writes several fields
    /// one after another, so it is acted on one tick after the count last moved.
    fn follow_project_loads(&mut self) {
        let loads = self.project_loads.load(Ordering::Acquire);
        match self.loads_seen {
            None => {}
            Some(seen) if seen == loads => return,
            Some(_) if self.load_settling != Some(loads) => {
                self.load_settling = Some(loads);
                return;
            }
            Some(_) => {}
        }
        self.load_settling = None;
        self.loads_seen = Some(loads);
        let saved = self.shared.saved.read().clone();
        match saved {
            Stored::Value(Some(spec)) => {
                if self.live_spec() != Some(&spec) {
                    let id = self.shared.queue(spec.name.clone());
                    self.play(id, spec, Origin::new_patch());
                }
            }
            Stored::Value(None) => {
                if self.shared.live_variant.load(Ordering::Acquire) != 0 {
                    self.shared.play_builtin.store(true, Ordering::Release);
                }
            }
            Stored::Unreadable { reason, .. } => self.shared.report_failure(
                "saved patch",
                Failure::new(format!(
                    "the project's saved patch cannot be read ({reason}); it is kept in the \
                     project unchanged and the selected built-in plays — a newer Mephisto may \
                     read it"
                )),
            ),
        }
    }

    /// The spec of the variant playing now, if one is.
    fn live_spec(&self) -> Option<&PatchSpec> {
        let live = self.shared.live_variant.load(Ordering::Acquire);
        self.sent
            .iter()
            .find(|s| live != 0 && s.variant_id == live)
            .map(|s| &s.spec)
    }

    /// Moves job `id` to `stage`, unless a newer job has taken the status over.
    fn set_stage(&self, id: u64, stage: Stage) {
        let mut status = self.shared.status.lock();
        if status.job == id {
            if !stage.is_busy() && status.took.is_none() {
                status.took = Some(status.started.elapsed());
            }
            status.stage = stage;
        }
    }

    fn add_notes(&self, id: u64, notes: Vec<String>) {
        let mut status = self.shared.status.lock();
        if status.job == id {
            status.notes.extend(notes);
        }
    }

    /// What builds patches for this worker's audio thread.
    fn builder(&self) -> Builder<'_> {
        Builder {
            compiler: &self.compiler,
            limits: self.limits,
            sample_rate: self.sample_rate,
            offline: self.offline.clone(),
        }
    }

    fn play(&mut self, id: u64, spec: PatchSpec, origin: Origin) {
        self.set_stage(id, Stage::Compiling);
        let built = self
            .builder()
            .build(&spec, &mut |step| self.set_stage(id, step.into()));
        match built {
            Ok(built) => {
                let mut spec = spec;
                if let Some(trim) = built.trim_db {
                    // Too hot to play as it was: it plays levelled, and is kept so.
                    spec.trim_db = Some(trim);
                }
                self.send(id, spec, origin, built, None);
            }
            Err(error) => self.set_stage(id, Stage::Failed(Failure::from(&error))),
        }
    }

    fn design(
        &mut self,
        id: u64,
        request: DesignRequest,
        designer: Designer,
        jobs: &Receiver<Request>,
    ) {
        let previous = request.current.clone().map(Box::new);
        // Sound first: the offline designer's draft plays while the analysis check makes
        // the design; the checked design then replaces it (a crossfade) unless the check
        // left it as it was.
        let mut playing: Option<(u64, PatchSpec)> = None;
        match self.run_job(id, jobs, false, |job| {
            designer::run_draft(&designer, &request, job)
        }) {
            Ok(Some(draft)) => {
                let spec = draft.spec.clone();
                let origin = Origin::New {
                    previous: previous.clone(),
                    draft: None,
                };
                match self.send(
                    id,
                    draft.spec,
                    origin,
                    draft.built,
                    Some(Stage::AnalysisCheck),
                ) {
                    Some((variant_id, _)) => playing = Some((variant_id, spec)),
                    None => return,
                }
            }
            Ok(None) => {}
            Err(DesignError::Superseded) => return self.set_stage(id, Stage::Superseded),
            // The checked design reads the same words and builds the same template: it
            // reports what went wrong.
            Err(_) => {}
        }
        // While the draft plays, the status says so through the design's steps.
        let outcome = self.run_job(id, jobs, playing.is_some(), |job| {
            designer::run(&designer, &request, job)
        });
        match outcome {
            Ok(designed) => {
                self.add_notes(id, designed.notes.clone());
                self.set_misses(id, designed.misses.clone());
                let (spec, program) = (designed.spec.clone(), designed.built.program.clone());
                let live = match playing {
                    Some((draft_id, draft)) if designed.sounds_like(&draft) => {
                        // What plays is the checked design: only its record changes.
                        self.keep_spec(draft_id, &draft, spec.clone());
                        Some((draft_id, live_stage(designed.built.program.compiled())))
                    }
                    playing => {
                        let origin = Origin::New {
                            previous,
                            draft: playing.map(|(_, draft)| Box::new(draft)),
                        };
                        self.send(
                            id,
                            designed.spec,
                            origin,
                            designed.built,
                            Some(Stage::Calibrating),
                        )
                    }
                };
                if let Some((variant_id, live)) = live {
                    self.calibrate_live(id, variant_id, spec, &program, live);
                }
            }
            Err(DesignError::Superseded) => self.set_stage(id, Stage::Superseded),
            Err(error) => {
                let mut failure = Failure::from(&error);
                if playing.is_some() {
                    failure.message = format!(
                        "{}; the first sound (the words' settings before the analysis check) keeps playing",
                        failure.message
                    );
                }
                self.set_stage(id, Stage::Failed(failure))
            }
        }
    }

    /// Runs a step of design job `id` with this worker's builder, reporting into the job's
    /// status unless `quiet`.
    fn run_job<T>(
        &self,
        id: u64,
        jobs: &Receiver<Request>,
        quiet: bool,
        step: impl FnOnce(&mut Job) -> T,
    ) -> T {
        let builder = self.builder();
        let mut control = JobStatusControl {
            thread: self,
            id,
            jobs,
            quiet,
        };
        let mut job = Job {
            builder: &builder,
            control: &mut control,
        };
        step(&mut job)
    }

    /// Sound first, calibrate after: the designed patch (variant `variant_id`, sent as
    /// `spec`) already plays; its macros are calibrated here and the corrected map goes to
    /// the audio thread, which exchanges it for the playing one between two blocks and
    /// hands the old one back to be dropped here. The status shows "calibrating" until
    /// then, and `live` after; the project and the history keep the calibrated spec.
    fn calibrate_live(
        &mut self,
        id: u64,
        variant_id: u64,
        spec: PatchSpec,
        program: &Program,
        live: Stage,
    ) {
        self.set_stage(id, Stage::Calibrating);
        let calibrated = designer::calibrate(&spec, program);
        self.add_notes(id, vec![calibrated.note]);
        if calibrated.spec != spec {
            match program.instantiate(&calibrated.spec, 1, self.sample_rate) {
                Ok(mut corrected) => {
                    let remap = Remap {
                        variant_id,
                        modulation: corrected.instance.take_modulation(),
                    };
                    if self.ports.send_remap(remap).is_err() {
                        self.add_notes(
                            id,
                            vec!["the audio thread is not taking new macro maps; the macros \
                                  keep the designer's map until the patch is played again"
                                .into()],
                        );
                    }
                }
                Err(e) => self.add_notes(
                    id,
                    vec![format!("the calibrated macros could not be applied ({e})")],
                ),
            }
            self.keep_spec(variant_id, &spec, calibrated.spec);
        }
        self.set_stage(id, live);
    }

    /// Writes `new` where `old` was kept for variant `variant_id` (the checked design that
    /// plays as its draft did, the calibrated spec): the variant's record, and the history
    /// and project when it already went live.
    fn keep_spec(&mut self, variant_id: u64, old: &PatchSpec, new: PatchSpec) {
        self.watch_live();
        if let Some(sent) = self.sent.iter_mut().find(|s| s.variant_id == variant_id) {
            sent.spec = new.clone();
        }
        if self.last_live == variant_id {
            if let Stored::Value(history) = &mut *self.shared.history.write() {
                history.replace_current(old, new.clone());
            }
            *self.shared.saved.write() = Stored::Value(Some(new));
        }
    }

    fn set_misses(&self, id: u64, misses: Vec<String>) {
        let mut status = self.shared.status.lock();
        if status.job == id {
            status.misses = misses;
        }
    }

    /// Drops the macro maps the audio thread replaced.
    fn collect_remaps(&mut self) {
        for remap in self.ports.returned_remaps() {
            drop(remap);
        }
    }

    /// Hands a built patch to the audio thread; returns its variant id once sent, with the
    /// stage that says it plays. The job's status shows that stage, or `busy` while the job
    /// goes on with the patch playing (it then counts as having sounded).
    fn send(
        &mut self,
        id: u64,
        spec: PatchSpec,
        origin: Origin,
        built: Built,
        busy: Option<Stage>,
    ) -> Option<(u64, Stage)> {
        let Built {
            mut instance,
            program,
            ..
        } = built;
        let compiled = program.compiled().cloned();
        if let Some(variant) = &compiled {
            // A damaged cache entry that was rebuilt.
            self.add_notes(id, variant.notes().to_vec());
        }
        if let Some(neural) = instance.neural_voices() {
            *self.shared.neural_execution.lock() = Some(neural.execution().to_string());
        }
        let variant_id = self.next_variant;
        self.next_variant += 1;
        instance.variant_id = Some(variant_id);
        if self.ports.send(instance).is_err() {
            self.set_stage(
                id,
                Stage::Failed(Failure::new(
                    "the audio thread is not taking new patches (is the plugin processing?)",
                )),
            );
            return None;
        }
        {
            let mut status = self.shared.status.lock();
            if status.job == id {
                status.patch = Some(spec.name.clone());
            }
        }
        let live = live_stage(compiled.as_ref());
        self.sent.push(Sent {
            variant_id,
            spec,
            origin,
            compiled,
        });
        match busy {
            Some(stage) => {
                let mut status = self.shared.status.lock();
                if status.job == id {
                    let sounded = status.started.elapsed();
                    status.took.get_or_insert(sounded);
                    status.stage = stage;
                }
            }
            None => self.set_stage(id, live.clone()),
        }
        Some((variant_id, live))
    }

    /// Drops instances the audio thread is done with (freeing their memory here).
    fn collect_returned(&mut self) {
        for instance in self.ports.returned() {
            drop(instance);
        }
    }

    /// Keeps the saved spec and the history in step with what plays, and reports a variant
    /// that panicked.
    fn watch_live(&mut self) {
        let live = self.shared.live_variant.load(Ordering::Acquire);
        if live != 0 {
            let newly_live = live != self.last_live;
            self.last_live = live;
            if let Some(sent) = self.sent.iter().find(|s| s.variant_id == live) {
                if newly_live {
                    self.went_live(sent);
                }
                let reported = matches!(self.shared.status.lock().stage, Stage::Failed(_));
                if let Some(compiled) = &sent.compiled {
                    if compiled.panicked() && !reported {
                        let why = compiled.panic_message().unwrap_or_default();
                        let mut status = self.shared.status.lock();
                        status.stage = Stage::Failed(Failure::new(format!(
                                "`{}` crashed while playing ({why}) and was silenced; choose another patch or fix its code",
                                sent.spec.name
                        )));
                    }
                }
            }
        }
        // Variants play in the order they were sent, so older ones never come back.
        let (live_now, last_live) = (live, self.last_live);
        self.sent
            .retain(|s| s.variant_id == live_now || s.variant_id > last_live);
        if live == 0 && self.last_live != 0 && self.sent.is_empty() {
            // A variant played and a built-in replaced it: the project no longer holds it.
            *self.shared.saved.write() = Stored::Value(None);
        }
    }

    /// Records a patch that went live: the history first, then the project's spec, so
    /// whoever sees the new spec sees the history that includes it.
    fn went_live(&self, sent: &Sent) {
        let mut stored = self.shared.history.write();
        if stored.value().is_none() {
            // The project's history could not be read; a new one starts here.
            *stored = Stored::Value(History::default());
        }
        let Stored::Value(history) = &mut *stored else {
            unreachable!("replaced above")
        };
        match &sent.origin {
            Origin::New { previous, draft } => {
                let replaced = draft
                    .as_deref()
                    .is_some_and(|draft| history.replace_current(draft, sent.spec.clone()));
                if !replaced {
                    if let Some(previous) = previous {
                        if history.current() != Some(&**previous) {
                            history.record((**previous).clone());
                        }
                    }
                    history.record(sent.spec.clone());
                }
            }
            Origin::History { index } => history.mark_live(*index),
        }
        drop(stored);
        *self.shared.saved.write() = Stored::Value(Some(sent.spec.clone()));
    }
}

/// How a design job on the worker reports: into the job's status, and it learns that it
/// was superseded from the queue.
struct JobStatusControl<'a> {
    thread: &'a WorkerThread,
    id: u64,
    jobs: &'a Receiver<Request>,
    /// The stage stays as it is (a draft plays and the status says so).
    quiet: bool,
}

impl JobControl for JobStatusControl<'_> {
    fn stage(&mut self, stage: Stage) {
        if !self.quiet {
            self.thread.set_stage(self.id, stage);
        }
    }

    fn superseded(&self) -> bool {
        !self.jobs.is_empty()
    }
}
