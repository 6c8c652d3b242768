//! The ONNX decoder: `MODEL.onnx` (with its sidecar `MODEL.json`) run by ONNX Runtime, for
//! every voice in one batched call. Off the audio thread: it allocates, and a call takes
//! tens to hundreds of microseconds.

use std::path::{Path, PathBuf};

use ort::ep::ExecutionProvider;
use ort::session::Session;
use ort::value::TensorRef;

use crate::model::ModelInfo;
use crate::runtime::{self, Provider, Runtime};
use crate::NeuralError;
use crate::{Controls, HARMONICS, NOISE_BANDS};

/// The model's inputs and outputs, by the contract's names.
const F0_INPUT: &str = "f0_hz";
const LOUDNESS_INPUT: &str = "loudness_db";
/// The timbre input of a model with an encoder (sidecar version 2), [B, T, z_dims].
const Z_INPUT: &str = "z";
const AMPLITUDE_OUTPUT: &str = "amplitude";
const HARMONICS_OUTPUT: &str = "harmonics";
const NOISE_OUTPUT: &str = "noise";

/// Which execution providers a decoder may use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProviderChoice {
    /// CUDA when this ONNX Runtime has it and it starts, else the CPU.
    #[default]
    Auto,
    /// Only the CPU (benchmarks, or a GPU the user wants left alone).
    CpuOnly,
}

/// How to load a decoder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecoderOptions {
    /// The ONNX Runtime library to use instead of searching for one (a setting).
    pub library: Option<PathBuf>,
    pub providers: ProviderChoice,
    /// ONNX Runtime's threads within one call. The decoder is a small MLP: one thread
    /// answers fastest and leaves the cores to the audio.
    pub threads: usize,
}

impl Default for DecoderOptions {
    fn default() -> Self {
        DecoderOptions {
            library: None,
            providers: ProviderChoice::Auto,
            threads: 1,
        }
    }
}

/// The decoder's answer for `voices` × `frames`, voice-major like its inputs.
#[derive(Clone, Debug, Default)]
pub struct Frames {
    voices: usize,
    frames: usize,
    amplitude: Vec<f32>,
    harmonics: Vec<f32>,
    noise: Vec<f32>,
}

impl Frames {
    pub fn voices(&self) -> usize {
        self.voices
    }

    pub fn frames(&self) -> usize {
        self.frames
    }

    fn at(&self, voice: usize, frame: usize) -> usize {
        assert!(voice < self.voices && frame < self.frames);
        voice * self.frames + frame
    }

    pub fn amplitude(&self, voice: usize, frame: usize) -> f32 {
        self.amplitude[self.at(voice, frame)]
    }

    /// The harmonic distribution (60 weights).
    pub fn harmonics(&self, voice: usize, frame: usize) -> &[f32] {
        let i = self.at(voice, frame) * HARMONICS;
        &self.harmonics[i..i + HARMONICS]
    }

    /// The noise-band magnitudes (65).
    pub fn noise(&self, voice: usize, frame: usize) -> &[f32] {
        let i = self.at(voice, frame) * NOISE_BANDS;
        &self.noise[i..i + NOISE_BANDS]
    }

    /// One frame as synthesiser controls for a voice playing `f0_hz`.
    pub fn controls(&self, voice: usize, frame: usize, f0_hz: f32) -> Controls {
        let mut c = Controls::silent(f0_hz);
        self.write_controls(voice, frame, &mut c);
        c
    }

    /// Like [`Frames::controls`], into an existing frame (keeps its `f0_hz`).
    pub fn write_controls(&self, voice: usize, frame: usize, out: &mut Controls) {
        out.amplitude = self.amplitude(voice, frame);
        out.harmonics.copy_from_slice(self.harmonics(voice, frame));
        out.noise.copy_from_slice(self.noise(voice, frame));
    }
}

/// A loaded decoder session and the model's sidecar.
pub struct Decoder {
    session: Session,
    info: ModelInfo,
    path: PathBuf,
    runtime: &'static Runtime,
    provider: Provider,
    /// Why CUDA is not used, when it was allowed but is not (for the GUI).
    provider_note: Option<String>,
    /// The last answer; its buffers are reused by the next call.
    frames: Frames,
    /// A model with an encoder: the z fed to every frame (the sidecar's `z_mean`), and the
    /// batch of it the last call used.
    z_mean: Option<Vec<f32>>,
    z: Vec<f32>,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("path", &self.path)
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

impl Decoder {
    /// Loads `model` (a `.onnx` file with its `.json` sidecar beside it). Errors name the
    /// file and the problem: a missing or malformed sidecar, a file that is not an ONNX
    /// model, a model without the contract's inputs and outputs, or no ONNX Runtime.
    pub fn load(model: &Path, options: &DecoderOptions) -> Result<Self, NeuralError> {
        let info = ModelInfo::load_for(model).map_err(NeuralError::Model)?;
        if !model.is_file() {
            return Err(NeuralError::Model(format!(
                "the neural model `{}` does not exist",
                model.display()
            )));
        }
        let runtime = runtime::load(options.library.as_deref())?;
        let (session, provider, provider_note) =
            open_session(runtime, model, options).map_err(NeuralError::Model)?;
        let z_mean = info.encoder().map(|e| e.z_mean.clone());
        check_signature(&session, z_mean.is_some())
            .map_err(|e| NeuralError::Model(format!("`{}`: {e}", model.display())))?;
        Ok(Decoder {
            z_mean,
            z: Vec::new(),
            session,
            info,
            path: model.to_path_buf(),
            runtime,
            provider,
            provider_note,
            frames: Frames::default(),
        })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn runtime(&self) -> &'static Runtime {
        self.runtime
    }

    /// The execution provider the session runs on.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// Why CUDA was allowed but is not used, if so.
    pub fn provider_note(&self) -> Option<&str> {
        self.provider_note.as_deref()
    }

    /// Runs the decoder on `voices` × `frames` of raw f0 (Hz) and loudness (dBFS), both
    /// voice-major (`[voice * frames + frame]`), in one call. A model with a timbre encoder
    /// is given its sidecar's `z_mean` for every frame (there is no audio to encode).
    pub fn infer(
        &mut self,
        f0_hz: &[f32],
        loudness_db: &[f32],
        voices: usize,
        frames: usize,
    ) -> Result<&Frames, String> {
        let mut z = std::mem::take(&mut self.z);
        z.clear();
        if let Some(z_mean) = &self.z_mean {
            for _ in 0..voices * frames {
                z.extend_from_slice(z_mean);
            }
        }
        let result = self.run(
            f0_hz,
            loudness_db,
            self.z_mean.is_some().then_some(&z[..]),
            voices,
            frames,
        );
        self.z = z;
        result?;
        Ok(&self.frames)
    }

    /// Like [`Decoder::infer`] with each frame's own timbre `z` ([voice, frame, z_dims],
    /// flattened), for a model with an encoder.
    pub fn infer_with_z(
        &mut self,
        f0_hz: &[f32],
        loudness_db: &[f32],
        z: &[f32],
        voices: usize,
        frames: usize,
    ) -> Result<&Frames, String> {
        self.run(f0_hz, loudness_db, Some(z), voices, frames)?;
        Ok(&self.frames)
    }

    fn run(
        &mut self,
        f0_hz: &[f32],
        loudness_db: &[f32],
        z: Option<&[f32]>,
        voices: usize,
        frames: usize,
    ) -> Result<(), String> {
        let n = voices * frames;
        if n == 0 || f0_hz.len() != n || loudness_db.len() != n {
            return Err(format!(
                "decoder input for {voices} voices × {frames} frames needs {n} values each; \
                 got {} f0 and {} loudness values",
                f0_hz.len(),
                loudness_db.len()
            ));
        }
        let shape = [voices, frames, 1];
        let path = &self.path;
        let fail = |what: &str, e: ort::Error| format!("`{}`: {what}: {e}", path.display());
        let f0 = TensorRef::from_array_view((shape, f0_hz)).map_err(|e| fail(F0_INPUT, e))?;
        let loudness = TensorRef::from_array_view((shape, loudness_db))
            .map_err(|e| fail(LOUDNESS_INPUT, e))?;
        let outputs = match (z, &self.z_mean) {
            (None, None) => self
                .session
                .run(ort::inputs![F0_INPUT => f0, LOUDNESS_INPUT => loudness]),
            (Some(z), Some(z_mean)) if z.len() == n * z_mean.len() => {
                let z = TensorRef::from_array_view(([voices, frames, z_mean.len()], z))
                    .map_err(|e| fail(Z_INPUT, e))?;
                self.session
                    .run(ort::inputs![F0_INPUT => f0, LOUDNESS_INPUT => loudness, Z_INPUT => z])
            }
            _ => {
                let dims = self.z_mean.as_ref().map_or(0, Vec::len);
                return Err(format!(
                    "`{}`: the model takes {dims} z values per frame; got {}",
                    path.display(),
                    z.map_or(0, <[f32]>::len) / n.max(1)
                ));
            }
        }
        .map_err(|e| fail("inference failed", e))?;
        let frames_out = &mut self.frames;
        frames_out.voices = voices;
        frames_out.frames = frames;
        let targets = [
            (AMPLITUDE_OUTPUT, 1, &mut frames_out.amplitude),
            (HARMONICS_OUTPUT, HARMONICS, &mut frames_out.harmonics),
            (NOISE_OUTPUT, NOISE_BANDS, &mut frames_out.noise),
        ];
        for (name, width, buffer) in targets {
            let value = outputs
                .get(name)
                .ok_or_else(|| format!("`{}`: no output `{name}`", path.display()))?;
            let (got, data) = value
                .try_extract_tensor::<f32>()
                .map_err(|e| fail(name, e))?;
            let expected = [voices as i64, frames as i64, width as i64];
            if **got != expected {
                return Err(format!(
                    "`{}`: output `{name}` has shape {got}, expected {expected:?}",
                    path.display()
                ));
            }
            buffer.clear();
            buffer.extend_from_slice(data);
        }
        Ok(())
    }
}

/// Builds the session: on CUDA when allowed and available (registration failure falls back
/// to the CPU with a note saying why), else on the CPU.
fn open_session(
    runtime: &Runtime,
    model: &Path,
    options: &DecoderOptions,
) -> Result<(Session, Provider, Option<String>), String> {
    let fail = |e: String| format!("cannot load the neural model `{}`: {e}", model.display());
    let mut note = None;
    if options.providers == ProviderChoice::Auto {
        match ort::ep::CUDA::is_available() {
            Ok(true) => {
                let cuda = [ort::ep::CUDA::default().build().error_on_failure()];
                let session = builder(runtime, options)
                    .map_err(fail)?
                    .with_execution_providers(cuda)
                    .map_err(|e| e.to_string())
                    .and_then(|mut b| b.commit_from_file(model).map_err(|e| e.to_string()));
                match session {
                    Ok(session) => return Ok((session, Provider::Cuda, None)),
                    Err(e) => note = Some(format!("CUDA failed to start: {e}")),
                }
            }
            Ok(false) => {
                note = Some(format!(
                    "this ONNX Runtime ({}) has no CUDA execution provider (install \
                     onnxruntime-gpu for it)",
                    runtime.version
                ))
            }
            Err(e) => note = Some(format!("cannot list execution providers: {e}")),
        }
    }
    let session = builder(runtime, options)
        .map_err(fail)?
        .commit_from_file(model)
        .map_err(|e| fail(e.to_string()))?;
    Ok((session, Provider::Cpu, note))
}

fn builder(
    runtime: &Runtime,
    options: &DecoderOptions,
) -> Result<ort::session::builder::SessionBuilder, String> {
    let threads = options.threads.max(1);
    let builder = Session::builder(&runtime.environment).map_err(|e| e.to_string())?;
    let builder = builder
        .with_intra_threads(threads)
        .map_err(|e| e.to_string())?;
    builder.with_inter_threads(1).map_err(|e| e.to_string())
}

/// Checks that the model has the contract's inputs and outputs (and `z` when its sidecar
/// says it has an encoder).
fn check_signature(session: &Session, encoder: bool) -> Result<(), String> {
    let inputs: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
    let outputs: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
    let expected: &[&str] = if encoder {
        &[F0_INPUT, LOUDNESS_INPUT, Z_INPUT]
    } else {
        &[F0_INPUT, LOUDNESS_INPUT]
    };
    for &name in expected {
        if !inputs.contains(&name) {
            return Err(format!(
                "not a Mephisto neural decoder: it has no input `{name}` (inputs: {})",
                inputs.join(", ")
            ));
        }
    }
    for name in [AMPLITUDE_OUTPUT, HARMONICS_OUTPUT, NOISE_OUTPUT] {
        if !outputs.contains(&name) {
            return Err(format!(
                "not a Mephisto neural decoder: it has no output `{name}` (outputs: {})",
                outputs.join(", ")
            ));
        }
    }
    Ok(())
}
