//! Building a [`PatchSpec`] into something that plays: its [`Program`] (the compiled-in
//! DSP of a built-in, a runtime-compiled variant, or a neural model with an effect), the
//! instances made from it with the spec's designed values, polyphony and macro map, and the
//! whole path a worker or the command line takes: compile, run the sanity gate,
//! instantiate ([`Builder`]).
//!
//! Two kinds of instance come out. [`Program::instantiate_live`] makes one for the audio
//! thread: a neural model's decoder runs on a thread of its own. [`Program::instantiate`]
//! makes an [`OfflinePatch`] for offline renders, probes and calibration: a neural model's
//! decoder is stepped by whoever renders it, in lockstep, so the same input gives the same
//! samples. The lockstep decoder lives beside the instance, not in it, so it can never
//! reach the audio thread.

use std::collections::BTreeMap;
use std::ops::{Deref, DerefMut};
use std::path::PathBuf;

use mephisto_compiler::{CompiledVariant, Compiler};
use mephisto_dsp::{builtin_patches, find_builtin, DspBox};
use mephisto_neural::inference::Lockstep;
use mephisto_neural::model::ModelInfo;
use mephisto_neural::voices::{load_live, load_lockstep, resolve_model, trained_on_effect};
use mephisto_neural::NeuralError;
use mephisto_rt::engine::DEFAULT_VOICES as ENGINE_VOICES;
use mephisto_rt::instance::PatchInstance;
use mephisto_rt::neural::bank::OfflineFlag;
use mephisto_rt::neural::NeuralVoices;

use crate::error::BuildError;
use crate::sanity::{self, SanityLimits};
use crate::spec::{NeuralSpec, PatchSpec, DEFAULT_VOICES, SPEC_VERSION};

/// What plays a spec's program.
#[derive(Clone)]
pub enum Program {
    /// The compiled-in DSP of built-in patch `index`, whose program the spec carries as it is.
    Builtin(usize),
    /// A program compiled at run time.
    Compiled(CompiledVariant),
    /// A neural model playing the voices, and the program whose `effect` follows them
    /// (`None`: no effect).
    Neural {
        model: PathBuf,
        effect: Option<Box<Program>>,
    },
}

/// An instance for offline rendering, with the decoder a neural model's voices need stepped
/// before every chunk. Render it with [`OfflinePatch::render`] (or through
/// [`crate::render`]), never on the audio thread.
pub struct OfflinePatch {
    pub instance: Box<PatchInstance>,
    pub lockstep: Option<Lockstep>,
}

impl OfflinePatch {
    /// Renders `frames` (at most one engine chunk) of the raw instance, stepping the decoder
    /// first; see [`PatchInstance::render`].
    pub fn render(&mut self, frames: usize) -> Option<(&[f32], &[f32])> {
        self.step();
        self.instance.render(frames)
    }

    /// Renders `frames` of the voices alone (`PatchInstance::render_voices`); whether they
    /// stayed finite.
    pub fn render_voices(&mut self, frames: usize) -> bool {
        self.step();
        self.instance.render_voices(frames)
    }

    /// Computes the decoder frames the next chunk needs (nothing for a Faust patch).
    pub fn step(&mut self) {
        if let Some(lockstep) = &mut self.lockstep {
            lockstep.step();
        }
    }
}

impl From<Box<PatchInstance>> for OfflinePatch {
    fn from(instance: Box<PatchInstance>) -> OfflinePatch {
        OfflinePatch {
            instance,
            lockstep: None,
        }
    }
}

impl Deref for OfflinePatch {
    type Target = PatchInstance;

    fn deref(&self) -> &PatchInstance {
        &self.instance
    }
}

impl DerefMut for OfflinePatch {
    fn deref_mut(&mut self) -> &mut PatchInstance {
        &mut self.instance
    }
}

impl Program {
    /// The runtime variant, when the program is one (watched for panics).
    pub fn compiled(&self) -> Option<&CompiledVariant> {
        match self {
            Program::Builtin(_) => None,
            Program::Compiled(variant) => Some(variant),
            Program::Neural { effect, .. } => effect.as_deref().and_then(Program::compiled),
        }
    }

    /// An instance with `voices` voices playing `spec` (named after it, with its designed
    /// values, polyphony and macro map) for an offline render; `spec` must carry this
    /// program.
    pub fn instantiate(
        &self,
        spec: &PatchSpec,
        voices: usize,
        sample_rate: f32,
    ) -> Result<OfflinePatch, BuildError> {
        let (mut instance, lockstep) = match self {
            Program::Neural { model, effect } => {
                let (neural, _, lockstep) = load_lockstep(model, voices, sample_rate)?;
                let instance = neural_instance(&spec.name, neural, effect.as_deref(), sample_rate)?;
                (instance, Some(lockstep))
            }
            _ => (self.faust_instance(&spec.name, voices, sample_rate)?, None),
        };
        spec.apply_to(&mut instance)?;
        Ok(OfflinePatch { instance, lockstep })
    }

    /// Like [`Program::instantiate`], for the audio thread: a neural program's decoder runs
    /// on a thread of its own, waited for while `offline` says the host renders offline.
    pub fn instantiate_live(
        &self,
        spec: &PatchSpec,
        voices: usize,
        sample_rate: f32,
        offline: &OfflineFlag,
    ) -> Result<Box<PatchInstance>, BuildError> {
        let mut instance = match self {
            Program::Neural { model, effect } => {
                let (neural, _) = load_live(model, voices, sample_rate, offline)?;
                neural_instance(&spec.name, neural, effect.as_deref(), sample_rate)?
            }
            _ => self.faust_instance(&spec.name, voices, sample_rate)?,
        };
        spec.apply_to(&mut instance)?;
        Ok(instance)
    }

    /// An instance of a Faust program (a built-in's or a compiled one) named `name`.
    fn faust_instance(
        &self,
        name: &str,
        voices: usize,
        sample_rate: f32,
    ) -> Result<Box<PatchInstance>, BuildError> {
        match self {
            Program::Builtin(index) => {
                let mut instance = PatchInstance::builtin(*index, voices, sample_rate)
                    .map_err(BuildError::Instance)?;
                // Played as a spec: a runtime patch, not the bank's built-in.
                instance.builtin_index = None;
                instance.name = name.to_string();
                Ok(instance)
            }
            Program::Compiled(variant) => variant
                .instantiate(name, voices, sample_rate)
                .map_err(BuildError::Instance),
            Program::Neural { .. } => Err(BuildError::Instance(
                "a neural model is not a Faust program".into(),
            )),
        }
    }
}

/// An instance whose voices are a neural model's, followed by `effect`'s `effect` (its
/// `process` is not played).
pub(crate) fn neural_instance(
    name: &str,
    voices: NeuralVoices,
    effect: Option<&Program>,
    sample_rate: f32,
) -> Result<Box<PatchInstance>, BuildError> {
    let instance = match effect {
        None => PatchInstance::neural(name, voices, None::<fn() -> DspBox>, sample_rate),
        Some(Program::Builtin(index)) => PatchInstance::neural(
            name,
            voices,
            builtin_patches()[*index].new_effect,
            sample_rate,
        ),
        Some(Program::Compiled(variant)) => {
            PatchInstance::neural(name, voices, variant.effect_maker(), sample_rate)
        }
        Some(Program::Neural { .. }) => {
            Err("a neural patch's effect cannot be another model".into())
        }
    };
    instance.map_err(BuildError::Instance)
}

/// The neural model at `model` (a `.onnx` path) as an instance for an offline render, named
/// after it (`tine_keys_neural`), with the effect of the built-in patch it was trained on
/// when that has one.
pub fn model_instance(
    model: &std::path::Path,
    voices: usize,
    sample_rate: f32,
) -> Result<OfflinePatch, BuildError> {
    let (neural, info, lockstep) = load_lockstep(model, voices, sample_rate)?;
    let name = format!("{}_neural", info.name);
    let instance = PatchInstance::neural(&name, neural, trained_on_effect(&info), sample_rate)
        .map_err(BuildError::Instance)?;
    Ok(OfflinePatch {
        instance,
        lockstep: Some(lockstep),
    })
}

/// Building a spec: what the data in [`PatchSpec`] becomes when it is played. In a module of
/// its own so the data format stays free of compilers, models and instances.
pub trait BuildSpec: Sized {
    /// The spec of a neural model (a shipped model's name or a `.onnx` path): named after
    /// it (`tine_keys_neural`), with the program (and so the effect) and archetype of the
    /// built-in patch it was trained on when there is one, else no effect. Reads only the
    /// sidecar; the model is loaded when the spec is played.
    fn from_model(model: &str) -> Result<Self, String>;
    /// The spec of built-in patch `index`: its program as it is (it imports
    /// `mephisto.lib`), every settable control at its designed value, and the macro map
    /// from its widget metadata.
    fn from_builtin(index: usize) -> Result<Self, String>;
    /// The spec's program, ready to make instances of this spec and of others with the
    /// same program: the compiled-in DSP when it is a built-in's unchanged program (no
    /// compiler needed), else the runtime compiler's variant. Validates the spec first.
    /// Blocks while the compilers run: call it off the audio thread.
    fn program(&self, compiler: &Compiler) -> Result<Program, BuildError>;
    /// Compiles the program (or finds it in the compiler's cache) and builds an instance
    /// with the spec's voices, designed values and macro map, for an offline render.
    fn instantiate(
        &self,
        compiler: &Compiler,
        sample_rate: f32,
    ) -> Result<OfflinePatch, BuildError>;
    /// An instance of a spec whose program is a built-in's, without compiling: `None` when
    /// the program is not a built-in's.
    fn instantiate_builtin(
        &self,
        voices: usize,
        sample_rate: f32,
    ) -> Option<Result<OfflinePatch, BuildError>>;
    /// Gives `instance` the spec's designed values, its polyphony and, when the spec has
    /// one, its macro map. Errors name the field to fix.
    fn apply_to(&self, instance: &mut PatchInstance) -> Result<(), BuildError>;
}

impl BuildSpec for PatchSpec {
    fn from_model(model: &str) -> Result<PatchSpec, String> {
        let path = resolve_model(model)?;
        let info = ModelInfo::load_for(&path)?;
        let builtin = info
            .trained_on
            .strip_prefix("patch ")
            .and_then(find_builtin)
            .map(|(_, patch)| patch);
        Ok(PatchSpec {
            version: SPEC_VERSION,
            name: format!("{}_neural", info.name),
            prompt: String::new(),
            archetype: builtin.map_or("lead", |p| p.archetype).to_string(),
            // A model with a learned room plays without the patch's effect: its own reverb
            // already is that room (`trained_on_effect`).
            faust: builtin
                .filter(|_| !info.has_room())
                .map_or("", |p| p.source)
                .to_string(),
            params: BTreeMap::new(),
            macros: Default::default(),
            controllers: Default::default(),
            voices: DEFAULT_VOICES,
            trim_db: None,
            notes: format!(
                "The neural model `{model}`, trained on {}.",
                info.trained_on
            ),
            neural: Some(NeuralSpec {
                model: model.to_string(),
            }),
        })
    }

    fn from_builtin(index: usize) -> Result<PatchSpec, String> {
        let patch = builtin_patches()
            .get(index)
            .ok_or_else(|| format!("there is no built-in patch number {index}"))?;
        // One voice is enough to read the controls; the sample rate does not change them.
        let instance = PatchInstance::builtin(index, 1, 48_000.0)?;
        let mut params = BTreeMap::new();
        for (control, _) in instance.controls() {
            if params.insert(control.label.clone(), control.init).is_some() {
                return Err(format!(
                    "patch `{}`: two controls are labelled `{}`, which a PatchSpec cannot tell apart",
                    patch.name, control.label
                ));
            }
        }
        Ok(PatchSpec {
            version: SPEC_VERSION,
            name: patch.name.to_string(),
            prompt: String::new(),
            archetype: patch.archetype.to_string(),
            faust: patch.source.to_string(),
            params,
            macros: instance.macro_map(),
            controllers: Default::default(),
            voices: DEFAULT_VOICES,
            trim_db: None,
            notes: patch.description.to_string(),
            neural: None,
        })
    }

    fn program(&self, compiler: &Compiler) -> Result<Program, BuildError> {
        self.validate()?;
        let Some(neural) = &self.neural else {
            return faust_program(self, compiler);
        };
        let model = resolve_model(&neural.model).map_err(NeuralError::Model)?;
        let effect = if self.faust.trim().is_empty() {
            None
        } else {
            Some(Box::new(faust_program(self, compiler)?))
        };
        Ok(Program::Neural { model, effect })
    }

    fn instantiate(
        &self,
        compiler: &Compiler,
        sample_rate: f32,
    ) -> Result<OfflinePatch, BuildError> {
        self.validate()?;
        Program::Compiled(compile(self, compiler)?).instantiate(
            self,
            DEFAULT_VOICES as usize,
            sample_rate,
        )
    }

    fn instantiate_builtin(
        &self,
        voices: usize,
        sample_rate: f32,
    ) -> Option<Result<OfflinePatch, BuildError>> {
        let index = self.builtin_index()?;
        Some(Program::Builtin(index).instantiate(self, voices, sample_rate))
    }

    fn apply_to(&self, instance: &mut PatchInstance) -> Result<(), BuildError> {
        instance.set_polyphony(self.voices as usize);
        instance.set_output_trim_db(self.trim_db.unwrap_or(0.0));
        for (label, &value) in &self.params {
            instance
                .set_designed_value(label, value)
                .map_err(|e| BuildError::Instance(format!("`params.{label}`: {e}")))?;
        }
        if !self.macros.is_empty() {
            let labels: Vec<&str> = instance.controls().map(|(c, _)| c.label.as_str()).collect();
            for m in mephisto_dsp::macros::Macro::ALL {
                for (i, link) in self.macros.of(m).enumerate() {
                    if !labels.contains(&link.param.as_str()) {
                        return Err(BuildError::Instance(format!(
                            "`macros.{}[{i}].param`: the patch has no parameter `{}` (it has: {})",
                            m.key(),
                            link.param,
                            labels.join(", ")
                        )));
                    }
                }
            }
            instance
                .set_macro_map(&self.macros)
                .map_err(BuildError::Instance)?;
        }
        instance
            .set_controllers(&self.controllers)
            .map_err(BuildError::Instance)?;
        Ok(())
    }
}

/// The Faust program: the compiled-in DSP when it is a built-in's, else compiled.
fn faust_program(spec: &PatchSpec, compiler: &Compiler) -> Result<Program, BuildError> {
    match builtin_patches()
        .iter()
        .position(|p| p.source == spec.faust)
    {
        Some(index) => Ok(Program::Builtin(index)),
        None => compile(spec, compiler).map(Program::Compiled),
    }
}

fn compile(spec: &PatchSpec, compiler: &Compiler) -> Result<CompiledVariant, BuildError> {
    Ok(compiler.compile(&spec.faust)?)
}

/// A built instance, ready for the audio thread, and the program it plays (kept to make
/// more instances of it, and watched for panics when it is a runtime variant).
pub struct Built {
    pub instance: Box<PatchInstance>,
    pub program: Program,
    /// The output trim the build gave the spec, when it levelled it (a design without a
    /// trim, or a program too hot for the sanity gate); the caller writes it into the spec
    /// it keeps.
    pub trim_db: Option<f32>,
}

/// What building needs: the compiler, the sanity gate's limits, the sample rate, and whether
/// the host renders offline (for neural voices that will play live).
pub struct Builder<'a> {
    pub compiler: &'a Compiler,
    pub limits: SanityLimits,
    pub sample_rate: f32,
    pub offline: OfflineFlag,
}

/// The steps of a build, for whoever shows progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildStep {
    Compiling,
    /// Running the sanity probe (levels, NaN, CPU cost) before the patch may play.
    Checking,
}

/// Whether a build levels a spec that carries no trim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Levelling {
    /// A designed patch: levelled to the target when it has no trim (`crate::level`).
    Design,
    /// A patch played as it is (a project, a file, the history, the code page): its trim
    /// (0 dB when it has none) is kept unless the sanity gate finds it too hot.
    AsItIs,
}

impl Builder<'_> {
    /// Compiles (or, for a built-in's program, takes the compiled-in DSP), checks and
    /// instantiates a spec for the audio thread, telling `step` where it is. Every instance
    /// has the engine's voice count (so it can be swapped in); the spec's `voices` limits
    /// how many of them notes use. A program merely too hot for the sanity gate's level
    /// limit is levelled to the loudness target instead of refused: the limit applies after
    /// the trim ([`Built::trim_db`] says what it became).
    pub fn build(
        &self,
        spec: &PatchSpec,
        step: &mut dyn FnMut(BuildStep),
    ) -> Result<Built, BuildError> {
        self.build_levelled(spec, Levelling::AsItIs, step)
    }

    /// [`Builder::build`], levelling as `levelling` says.
    pub fn build_levelled(
        &self,
        spec: &PatchSpec,
        levelling: Levelling,
        step: &mut dyn FnMut(BuildStep),
    ) -> Result<Built, BuildError> {
        if spec.builtin_index().is_none() {
            step(BuildStep::Compiling);
        }
        let program = spec.program(self.compiler)?;
        step(BuildStep::Checking);
        let mut spec = std::borrow::Cow::Borrowed(spec);
        let mut trim_db = None;
        if levelling == Levelling::Design && spec.trim_db.is_none() {
            let trim = self.level(&program, &spec)?;
            spec.to_mut().trim_db = Some(trim);
            trim_db = Some(trim);
        }
        let live = |spec: &PatchSpec| {
            program.instantiate_live(spec, ENGINE_VOICES, self.sample_rate, &self.offline)
        };
        // A compiled-in built-in's live instance does not wait for the gate: it is made on
        // a second thread while the gate plays (and dropped if the gate refuses the spec).
        // Anything else is made after, as before (a compiled program's gate times its CPU;
        // a neural one starts a decoder thread).
        let (checked, early) = match program {
            Program::Builtin(_) => {
                let (early, checked) = crate::side_by_side::side_by_side(
                    || live(&spec),
                    || sanity::check_spec(&program, &spec, self.sample_rate, &self.limits),
                );
                (checked, Some(early))
            }
            _ => (
                sanity::check_spec(&program, &spec, self.sample_rate, &self.limits),
                None,
            ),
        };
        let instance = match checked {
            Err(sanity::SanityError::Runaway { .. }) => {
                let trim = self.level(&program, &spec)?;
                spec.to_mut().trim_db = Some(trim);
                trim_db = Some(trim);
                sanity::check_spec(&program, &spec, self.sample_rate, &self.limits)?;
                live(&spec)?
            }
            checked => {
                checked?;
                match early {
                    Some(instance) => instance?,
                    None => live(&spec)?,
                }
            }
        };
        Ok(Built {
            instance,
            program,
            trim_db,
        })
    }

    /// The trim that levels `spec` (played by `program`) to the loudness target.
    fn level(&self, program: &Program, spec: &PatchSpec) -> Result<f32, BuildError> {
        let rate = crate::probe::Probe::level().sample_rate as f32;
        let measured = crate::level::measure(program.instantiate(spec, 1, rate)?);
        Ok(crate::level::trim_for(
            measured,
            spec.trim_db.unwrap_or(0.0),
            0.0,
        ))
    }

    /// A one-voice offline instance of a spec, for measuring it (the offline designer's
    /// checks).
    pub fn probe(&self, spec: &PatchSpec) -> Result<OfflinePatch, BuildError> {
        spec.instantiate(self.compiler, self.sample_rate)
    }
}
