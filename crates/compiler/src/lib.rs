//! Runtime compilation of Faust programs into playable DSPs: a program is screened,
//! compiled by `faust -lang rust` and `rustc` into a `cdylib` with a small C ABI, cached on
//! disk by a hash of everything that shapes the code, and loaded as DSPs the engine plays
//! like the built-in ones ([`mephisto_rt::foreign::ForeignDsp`]). Runs off the audio thread;
//! only the DSPs' `compute` is meant for it.

mod cache;
mod children;
mod description;
mod error;
mod identity;
mod lexer;
pub mod limits;
mod pipeline;
mod prelude;
#[cfg(target_os = "linux")]
pub mod sandbox;
#[cfg(not(target_os = "linux"))]
#[path = "sandbox_fallback.rs"]
pub mod sandbox;
mod sandbox_status;
mod screen;
mod tab_fields;
mod target;
mod toolchain;
mod variant;
mod wrapper;

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use mephisto_dsp::DspBox;
use mephisto_rt::foreign::{ForeignClass, ForeignDsp};
use mephisto_rt::instance::PatchInstance;

pub use cache::CACHE_DIR_ENV;
pub use children::{kill_children_on_interrupt, live_groups};
pub use error::{CompileError, Refusal, SourceLine};
pub use screen::{is_allowed_library, screen, Screened, MAX_SOURCE_BYTES};
pub use wrapper::ABI_VERSION;

use toolchain::Tool;
pub use toolchain::ToolKind;
use variant::LoadedVariant;

/// Environment variables that point at the compilers when they are not on `PATH` (the
/// plugin's Settings will set the same options).
pub const FAUST_PATH_ENV: &str = "MEPHISTO_FAUST";
pub const RUSTC_PATH_ENV: &str = "MEPHISTO_RUSTC";

/// Where the compilers are and how long they may take.
#[derive(Debug, Clone, PartialEq)]
pub struct CompilerOptions {
    /// The `faust` executable; `None` searches `PATH`. Default: `$MEPHISTO_FAUST`.
    pub faust_path: Option<PathBuf>,
    /// The `rustc` executable; `None` searches `PATH`. Default: `$MEPHISTO_RUSTC`.
    pub rustc_path: Option<PathBuf>,
    /// The variant cache; `None` uses `$MEPHISTO_CACHE_DIR` or the user's cache folder.
    pub cache_dir: Option<PathBuf>,
    pub faust_time_limit: Duration,
    pub rustc_time_limit: Duration,
}

impl Default for CompilerOptions {
    /// Limits far above what real patches need (zitaRev: ≈ 0.1 s in Faust, ≈ 1 s in rustc
    /// on 2 cores) that still stop a program that makes the compilers run away.
    fn default() -> Self {
        let path_from_env = |var: &str| {
            std::env::var_os(var)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        CompilerOptions {
            faust_path: path_from_env(FAUST_PATH_ENV),
            rustc_path: path_from_env(RUSTC_PATH_ENV),
            cache_dir: None,
            faust_time_limit: Duration::from_secs(20),
            rustc_time_limit: Duration::from_secs(90),
        }
    }
}

/// Compiles Faust programs into variants; cheap to keep and share between compiles.
pub struct Compiler {
    options: CompilerOptions,
    /// Set by whoever supersedes the running compile: its compilers are killed.
    cancel: Option<Arc<AtomicBool>>,
}

impl Compiler {
    pub fn new(options: CompilerOptions) -> Compiler {
        Compiler {
            options,
            cancel: None,
        }
    }

    /// A compiler whose running compile stops (with [`CompileError::Cancelled`], its
    /// compilers killed) once `flag` is set; the owner clears it before the next job.
    pub fn with_cancel_flag(mut self, flag: Arc<AtomicBool>) -> Compiler {
        self.cancel = Some(flag);
        self
    }

    /// Whether the compilers run inside the Landlock sandbox on this machine; its `note()`
    /// is what to tell the producer (once, in the status) when they do not.
    pub fn sandbox_status(&self) -> &'static sandbox::SandboxStatus {
        sandbox::status()
    }

    pub fn options(&self) -> &CompilerOptions {
        &self.options
    }

    /// Screens, compiles (or finds in the cache) and loads `source`. Blocks for as long as
    /// the compilers run: call it from a worker thread.
    pub fn compile(&self, source: &str) -> Result<CompiledVariant, CompileError> {
        pipeline::compile(self, source)
    }

    /// The located `faust` and `rustc`, their versions from the identity records in the
    /// cache folder `records` while the executables are unchanged (so a compile that hits
    /// the cache starts no process at all), else asked. Nothing is remembered in memory: a
    /// compiler updated while the plugin runs is noticed at the next compile.
    fn tools(&self, records: &std::path::Path) -> Result<(Tool, Tool), CompileError> {
        let faust = Tool::locate(ToolKind::Faust, self.options.faust_path.as_deref(), records)?;
        let rustc = Tool::locate(ToolKind::Rustc, self.options.rustc_path.as_deref(), records)?;
        Ok((faust, rustc))
    }
}

/// How long each stage of one compile took (zero for the stages a cache hit skips).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageTimes {
    pub screen: Duration,
    /// Opening the cache, locating the compilers (their versions from the identity records,
    /// asked only when an executable is new or changed), hashing the key.
    pub toolchain: Duration,
    pub faust: Duration,
    pub rustc: Duration,
    pub load: Duration,
}

impl StageTimes {
    pub fn total(&self) -> Duration {
        self.screen + self.toolchain + self.faust + self.rustc + self.load
    }
}

/// A compiled, loaded program: makes voice and effect DSPs for the engine. Clones share
/// the library, which stays loaded until the last clone and the last DSP are gone.
#[derive(Clone)]
pub struct CompiledVariant {
    loaded: Arc<LoadedVariant>,
    from_cache: bool,
    times: StageTimes,
    key: String,
    notes: Vec<String>,
}

impl CompiledVariant {
    /// Wraps a loaded library after checking its channel layout: `process` has no inputs (an
    /// instrument voice) or 1–2 (an effect program) and 1–2 outputs; `effect` has 2 and 2.
    fn new(
        loaded: LoadedVariant,
        from_cache: bool,
        times: StageTimes,
        key: cache::Key,
        notes: Vec<String>,
    ) -> Result<CompiledVariant, CompileError> {
        let mut refusals = Vec::new();
        let (inputs, outputs) = (loaded.voice.inputs(), loaded.voice.outputs());
        if inputs > 2 {
            refusals.push(format!(
                "refused: `process` has {inputs} inputs (a voice has none, an effect program 1 or 2)"
            ));
        }
        if !(1..=2).contains(&outputs) {
            refusals.push(format!(
                "refused: `process` has {outputs} outputs (it must have 1 or 2)"
            ));
        }
        if let Some(effect) = &loaded.effect {
            if effect.inputs() != 2 || effect.outputs() != 2 {
                refusals.push(format!(
                    "refused: `effect` has {} inputs and {} outputs (it must have 2 and 2)",
                    effect.inputs(),
                    effect.outputs()
                ));
            }
        }
        if !refusals.is_empty() {
            return Err(CompileError::Refused(
                refusals
                    .into_iter()
                    .map(|r| Refusal::new(None, r))
                    .collect(),
            ));
        }
        Ok(CompiledVariant {
            loaded: Arc::new(loaded),
            from_cache,
            times,
            key: key.as_str().to_string(),
            notes,
        })
    }

    /// What the producer should know about this compile although it succeeded: a damaged
    /// cache entry that was rebuilt.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// A new voice DSP (not yet initialised). A voice whose constructor panicked is
    /// returned silent, with [`CompiledVariant::panicked`] set.
    pub fn new_voice(&self) -> DspBox {
        Box::new(ForeignDsp::create(&self.loaded.voice))
    }

    /// A new effect DSP, when the program defines `effect`.
    pub fn new_effect(&self) -> Option<DspBox> {
        let effect = self.loaded.effect.as_ref()?;
        Some(Box::new(ForeignDsp::create(effect)))
    }

    /// A maker of effect DSPs, when the program defines `effect` (for building instances,
    /// which take constructors).
    pub fn effect_maker(&self) -> Option<impl Fn() -> DspBox + '_> {
        let class: &Arc<ForeignClass> = self.loaded.effect.as_ref()?;
        Some(move || -> DspBox { Box::new(ForeignDsp::create(class)) })
    }

    pub fn has_effect(&self) -> bool {
        self.loaded.effect.is_some()
    }

    pub fn voice_inputs(&self) -> usize {
        self.loaded.voice.inputs()
    }

    pub fn voice_outputs(&self) -> usize {
        self.loaded.voice.outputs()
    }

    /// The memory its DSPs take: one voice, the effect (static tables not counted).
    pub fn footprint(&self) -> limits::Footprint {
        self.loaded.footprint
    }

    /// Whether the library came from the cache rather than from the compilers.
    pub fn from_cache(&self) -> bool {
        self.from_cache
    }

    pub fn times(&self) -> StageTimes {
        self.times
    }

    /// The cache key (hex SHA-256), which names the entry folder.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// A playable instance with `voice_count` voices and the effect, if any, for the worker
    /// or an offline render to configure and play.
    pub fn instantiate(
        &self,
        name: &str,
        voice_count: usize,
        sample_rate: f32,
    ) -> Result<Box<PatchInstance>, String> {
        PatchInstance::new(
            name,
            || self.new_voice(),
            self.effect_maker(),
            voice_count,
            sample_rate,
        )
    }

    /// Whether any DSP made from this variant panicked (it is then silent); the worker
    /// polls this to report the patch and swap it out.
    pub fn panicked(&self) -> bool {
        self.loaded.panicked()
    }

    /// The last panic message inside the library, for the report. Allocates.
    pub fn panic_message(&self) -> Option<String> {
        self.loaded.last_panic()
    }
}

impl fmt::Debug for CompiledVariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompiledVariant")
            .field("key", &self.key)
            .field("from_cache", &self.from_cache)
            .field("has_effect", &self.has_effect())
            .field("voice_inputs", &self.voice_inputs())
            .field("voice_outputs", &self.voice_outputs())
            .field("times", &self.times)
            .finish()
    }
}
