//! The engine, the patch switcher and the worker wired as the plugin wires them, rendered
//! block by block the way a host calls `process`, so a test can run jobs end to end and hear
//! what the audio thread played. Every block runs under `assert_process_allocs`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mephisto::stored::Stored;
use mephisto::worker::{JobStatus, Worker, WorkerSettings};
use mephisto_compiler::CompilerOptions;
use mephisto_dsp::builtin_patches;
use mephisto_patch::sanity::SanityLimits;
use mephisto_patch::PatchSpec;
use mephisto_rt::engine::{Engine, DEFAULT_VOICES};
use mephisto_rt::instance::{PatchInstance, Playable};
use mephisto_rt::swap::PatchSwitcher;
use parking_lot::RwLock;

pub const SR: f32 = 48_000.0;
pub const BLOCK: usize = 256;
/// Bound on waiting for the worker, so a broken worker fails the test instead of hanging.
pub const PATIENCE: Duration = Duration::from_secs(180);

pub const SINE: &str = r#"import("stdfaust.lib");
process = os.osc(hslider("freq", 440, 20, 20000, 0.01)) * hslider("gain", 0.5, 0, 1, 0.01)
        * en.asr(0.005, 1, 0.05, button("gate")) * 0.5;"#;

/// A PatchSpec that is just a Faust program.
pub fn spec(name: &str, faust: &str) -> PatchSpec {
    PatchSpec {
        version: 1,
        name: name.into(),
        prompt: String::new(),
        archetype: "lead".into(),
        faust: faust.into(),
        params: Default::default(),
        macros: Default::default(),
        voices: DEFAULT_VOICES as u32,
        notes: String::new(),
        neural: None,
    }
}

/// Engine, switcher and worker as the plugin wires them, with the first built-in playing.
pub struct Rig {
    pub engine: Engine,
    pub switcher: PatchSwitcher,
    pub worker: Worker,
    /// The host's patch selector: the built-in the switcher is asked for.
    pub selected: usize,
    /// Every rendered sample of the left channel, to tell whether a held note sounds.
    pub recording: Vec<f32>,
    /// The compiler's cache, private to the test so every compile really runs.
    _cache: TempDir,
}

/// A folder removed when the test ends.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Rig {
    /// A rig whose worker compiles with the default options changed by `adjust`; `name`
    /// tells its compiler cache from the other tests'.
    pub fn new(name: &str, adjust: impl FnOnce(&mut CompilerOptions)) -> Rig {
        Rig::with_settings(name, |settings| adjust(&mut settings.compiler))
    }

    /// A rig whose worker's settings (compiler options, limits, ONNX Runtime) are the test
    /// defaults changed by `adjust`.
    pub fn with_settings(name: &str, adjust: impl FnOnce(&mut WorkerSettings)) -> Rig {
        let dir = std::env::temp_dir().join(format!(
            "mephisto-{}-{name}-{}",
            env!("CARGO_CRATE_NAME"),
            std::process::id()
        ));
        let options = CompilerOptions {
            cache_dir: Some(dir.clone()),
            ..Default::default()
        };
        let mut bank: Vec<Option<Playable>> = (0..builtin_patches().len())
            .map(|i| {
                Some(Playable::new(
                    PatchInstance::builtin(i, DEFAULT_VOICES, SR).unwrap(),
                ))
            })
            .collect();
        let engine = Engine::new(bank[0].take().unwrap(), SR);
        let mut settings = WorkerSettings {
            compiler: options,
            // Tests never judge speed: a loaded CI machine must not fail the CPU check.
            limits: SanityLimits {
                cpu_budget: f32::INFINITY,
                ..SanityLimits::default()
            },
            ..WorkerSettings::new(SR)
        };
        adjust(&mut settings);
        let (worker, ports) = Worker::spawn(
            settings,
            Arc::new(RwLock::new(Stored::default())),
            Arc::new(RwLock::new(Stored::default())),
        );
        let shared = worker.shared();
        let switcher = PatchSwitcher::new(
            bank,
            0,
            ports,
            shared.live_variant.clone(),
            shared.play_builtin.clone(),
        );
        Rig {
            engine,
            switcher,
            worker,
            selected: 0,
            recording: Vec::new(),
            _cache: TempDir(dir),
        }
    }

    /// One audio-thread block: service the switcher, render. Allocation-free, which the
    /// `assert_process_allocs` feature enforces (an allocation aborts the test).
    pub fn block(&mut self) {
        let (mut l, mut r) = ([0.0f32; BLOCK], [0.0f32; BLOCK]);
        let (engine, switcher, selected) = (&mut self.engine, &mut self.switcher, self.selected);
        audio_thread(|| {
            switcher.service(engine, selected);
            engine.render(&mut l, &mut r);
        });
        assert!(l.iter().chain(&r).all(|s| s.is_finite()));
        self.recording.extend_from_slice(&l);
    }

    pub fn seconds(&mut self, s: f32) {
        for _ in 0..((s * SR) as usize).div_ceil(BLOCK) {
            self.block();
        }
    }

    /// Renders until `done` holds (or fails after `PATIENCE`, saying `what` never happened).
    pub fn until(&mut self, what: &str, done: impl Fn(&Rig) -> bool) {
        let started = Instant::now();
        while !done(self) {
            self.block();
            std::thread::sleep(Duration::from_millis(1));
            assert!(started.elapsed() < PATIENCE, "never: {what}");
        }
    }

    /// Renders until the newest job is no longer busy, and returns its status.
    pub fn until_settled(&mut self) -> JobStatus {
        self.until("the job finished", |rig| {
            !rig.worker.status().stage.is_busy()
        });
        self.worker.status()
    }

    pub fn rms_of_last(&self, seconds: f32) -> f32 {
        let n = (seconds * SR) as usize;
        let tail = &self.recording[self.recording.len() - n..];
        (tail.iter().map(|s| s * s).sum::<f32>() / n as f32).sqrt()
    }
}

/// Runs `f` as the audio thread would: with `assert_process_allocs` in a debug build, any
/// allocation inside aborts the test.
#[cfg(all(feature = "assert_process_allocs", debug_assertions))]
pub fn audio_thread(f: impl FnOnce()) {
    nice_assert_no_alloc::assert_no_alloc(f)
}

#[cfg(not(all(feature = "assert_process_allocs", debug_assertions)))]
pub fn audio_thread(f: impl FnOnce()) {
    f()
}
