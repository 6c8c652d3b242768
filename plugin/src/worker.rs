//! The background worker: turns Faust programs into playable patch instances off the audio
//! thread (compile, check, instantiate), sends them to the audio thread through a wait-free
//! ring, and drops the instances the audio thread hands back. It also tells the GUI and the
//! command line what it is doing, and keeps the live program's source for the DAW project.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use crate::compiler::sanity::{self, SanityLimits};
use crate::compiler::{CompiledVariant, Compiler, CompilerOptions};
use crate::engine::instance::PatchInstance;

/// Room for instances in flight each way; a variant waiting here is the newest one.
const RING_CAPACITY: usize = 4;
/// How often the worker wakes to drop returned instances and watch the live variant.
const TICK: Duration = Duration::from_millis(20);

/// A Faust program to play, as the DAW project stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantSource {
    pub name: String,
    pub faust: String,
}

/// What the worker is doing, for the GUI and the command line.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkerStatus {
    Idle,
    Compiling {
        name: String,
    },
    /// Rendering the sanity probe (levels, NaN, CPU cost) before the patch may play.
    Checking {
        name: String,
    },
    Live {
        name: String,
        from_cache: bool,
        seconds: f64,
    },
    /// The job failed; the patch that was playing keeps playing.
    Failed {
        name: String,
        message: String,
    },
}

/// The audio thread's ends of the rings.
pub struct AudioPorts {
    pub from_worker: rtrb::Consumer<Box<PatchInstance>>,
    pub to_worker: rtrb::Producer<Box<PatchInstance>>,
}

enum Job {
    Play(VariantSource),
    Shutdown,
}

/// State the worker shares with the plugin (never with the audio thread, which only
/// writes `live_variant`).
pub struct WorkerShared {
    pub status: Mutex<WorkerStatus>,
    /// The runtime variant now playing (0: a built-in), written by the audio thread.
    pub live_variant: Arc<AtomicU64>,
    /// The program of the live variant, saved with the DAW project. Kept when a restore
    /// fails, so a project opened where `faust` is missing loses nothing.
    pub saved: Arc<RwLock<Option<VariantSource>>>,
}

/// Handle to the worker thread; dropping it stops the thread.
pub struct Worker {
    jobs: Sender<Job>,
    shared: Arc<WorkerShared>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    /// Starts the worker for instances of `voices` voices at `sample_rate`.
    pub fn spawn(
        settings: WorkerSettings,
        saved: Arc<RwLock<Option<VariantSource>>>,
    ) -> (Worker, AudioPorts) {
        let WorkerSettings {
            compiler,
            limits,
            sample_rate,
            voices,
        } = settings;
        let (to_audio, from_worker) = rtrb::RingBuffer::new(RING_CAPACITY);
        let (to_worker, from_audio) = rtrb::RingBuffer::new(RING_CAPACITY);
        let (jobs, job_rx) = crossbeam_channel::unbounded();
        let shared = Arc::new(WorkerShared {
            status: Mutex::new(WorkerStatus::Idle),
            live_variant: Arc::new(AtomicU64::new(0)),
            saved,
        });
        let mut state = WorkerThread {
            compiler: Compiler::new(compiler),
            limits,
            sample_rate,
            voices,
            shared: shared.clone(),
            to_audio,
            from_audio,
            next_id: 1,
            sent: Vec::new(),
            last_live: 0,
        };
        let thread = std::thread::Builder::new()
            .name("mephisto-worker".into())
            .spawn(move || state.run(job_rx))
            .expect("the OS refused to start the worker thread");
        let worker = Worker {
            jobs,
            shared,
            thread: Some(thread),
        };
        (
            worker,
            AudioPorts {
                from_worker,
                to_worker,
            },
        )
    }

    /// Asks for `source` to be compiled and played; a newer request supersedes it.
    pub fn play(&self, source: VariantSource) {
        let _ = self.jobs.send(Job::Play(source));
    }

    pub fn status(&self) -> WorkerStatus {
        self.shared.status.lock().clone()
    }

    pub fn shared(&self) -> &Arc<WorkerShared> {
        &self.shared
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.jobs.send(Job::Shutdown);
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
    pub voices: usize,
}

impl WorkerSettings {
    /// The plugin's settings: default compiler options and limits, 16 voices.
    pub fn new(sample_rate: f32) -> Self {
        WorkerSettings {
            compiler: CompilerOptions::default(),
            limits: SanityLimits::default(),
            sample_rate,
            voices: crate::engine::DEFAULT_VOICES,
        }
    }
}

struct WorkerThread {
    compiler: Compiler,
    limits: SanityLimits,
    sample_rate: f32,
    voices: usize,
    shared: Arc<WorkerShared>,
    to_audio: rtrb::Producer<Box<PatchInstance>>,
    from_audio: rtrb::Consumer<Box<PatchInstance>>,
    next_id: u64,
    /// Variants sent to the audio thread, with their ids: kept to watch for panics and to
    /// know what the live one is.
    sent: Vec<(u64, VariantSource, CompiledVariant)>,
    /// The newest variant seen live; 0 until one has played.
    last_live: u64,
}

impl WorkerThread {
    fn run(&mut self, jobs: Receiver<Job>) {
        loop {
            let job = match jobs.recv_timeout(TICK) {
                Ok(job) => Some(job),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            // A newer request supersedes the ones queued before it.
            let job = job.map(|first| jobs.try_iter().fold(first, |_, newer| newer));
            match job {
                Some(Job::Shutdown) => return,
                Some(Job::Play(source)) => self.play(source),
                None => {}
            }
            self.collect_returned();
            self.watch_live();
        }
    }

    fn set_status(&self, status: WorkerStatus) {
        *self.shared.status.lock() = status;
    }

    fn play(&mut self, source: VariantSource) {
        let name = source.name.clone();
        self.set_status(WorkerStatus::Compiling { name: name.clone() });
        let started = Instant::now();
        match self.build(&source) {
            Ok((mut instance, variant)) => {
                let id = self.next_id;
                self.next_id += 1;
                instance.variant_id = Some(id);
                let from_cache = variant.from_cache();
                if self.to_audio.push(instance).is_err() {
                    self.set_status(WorkerStatus::Failed {
                        name,
                        message:
                            "the audio thread is not taking new patches (is the plugin processing?)"
                                .into(),
                    });
                    return;
                }
                self.sent.push((id, source, variant));
                self.set_status(WorkerStatus::Live {
                    name,
                    from_cache,
                    seconds: started.elapsed().as_secs_f64(),
                });
            }
            Err(message) => self.set_status(WorkerStatus::Failed { name, message }),
        }
    }

    fn build(
        &self,
        source: &VariantSource,
    ) -> Result<(Box<PatchInstance>, CompiledVariant), String> {
        let variant = self
            .compiler
            .compile(&source.faust)
            .map_err(|e| e.to_string())?;
        self.set_status(WorkerStatus::Checking {
            name: source.name.clone(),
        });
        sanity::check_with(&variant, self.sample_rate, &self.limits).map_err(|e| e.to_string())?;
        let instance = variant.instantiate(&source.name, self.voices, self.sample_rate)?;
        Ok((instance, variant))
    }

    /// Drops instances the audio thread is done with (freeing their memory here).
    fn collect_returned(&mut self) {
        while let Ok(instance) = self.from_audio.pop() {
            drop(instance);
        }
    }

    /// Keeps the saved source in step with what plays, and reports a variant that panicked.
    fn watch_live(&mut self) {
        let live = self.shared.live_variant.load(Ordering::Acquire);
        if live != 0 {
            self.last_live = live;
            if let Some((_, source, variant)) = self.sent.iter().find(|(id, _, _)| *id == live) {
                let mut saved = self.shared.saved.write();
                if saved.as_ref() != Some(source) {
                    *saved = Some(source.clone());
                }
                drop(saved);
                let reported = matches!(&*self.shared.status.lock(), WorkerStatus::Failed { .. });
                if variant.panicked() && !reported {
                    let why = variant.panic_message().unwrap_or_default();
                    self.set_status(WorkerStatus::Failed {
                        name: source.name.clone(),
                        message: format!(
                            "the patch crashed while playing ({why}) and was silenced; choose another patch or fix its code"
                        ),
                    });
                }
            }
        }
        // Variants play in the order they were sent, so older ones never come back.
        let (live_now, last_live) = (live, self.last_live);
        self.sent
            .retain(|(id, _, _)| *id == live_now || *id > last_live);
        if live == 0 && self.last_live != 0 && self.sent.is_empty() {
            // A variant played and a built-in replaced it: the project no longer holds it.
            *self.shared.saved.write() = None;
        }
    }
}
