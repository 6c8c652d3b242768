//! Mephisto FX's worker thread: it watches what the parameters ask to play (the patch
//! selector, or the project's saved PatchSpec), builds that voice off the audio thread
//! (compiling a designed program, loading a model with its decoder thread), sends it to the
//! audio thread through the wait-free patch ring, and drops the voices the audio thread
//! hands back. A voice that cannot be built is reported (the status and the host's log)
//! and the one playing keeps playing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use nice_plug::prelude::*;
use parking_lot::Mutex;

use mephisto_compiler::Compiler;
use mephisto_neural::runtime;
use mephisto_patch::transfer::spec_for;
use mephisto_patch::{BuildSpec, PatchSpec};
use mephisto_rt::instance::PatchInstance;
use mephisto_rt::neural::bank::OfflineFlag;
use mephisto_rt::swap::{patch_rings, AudioPorts, WorkerPorts};

use super::params::{FxParams, Wanted};
use crate::editor::settings::Settings;

/// How often the worker looks at the parameters and the returned voices.
const TICK: Duration = Duration::from_millis(20);

/// Room for voices in flight each way.
const RING_CAPACITY: usize = 4;

/// The worker's handle; dropping it stops the thread (and drops what it holds).
pub struct FxWorker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FxWorker {
    /// Starts the worker for voices at `sample_rate`; the audio thread gets the other ends
    /// of the rings.
    pub fn spawn(
        params: Arc<FxParams>,
        sample_rate: f32,
        offline: OfflineFlag,
    ) -> (FxWorker, AudioPorts) {
        let (ports, audio_ports) = patch_rings(RING_CAPACITY);
        let stop = Arc::new(AtomicBool::new(false));
        let status = Arc::new(Mutex::new(String::from("starting")));
        let mut state = WorkerState {
            params,
            sample_rate,
            offline,
            ports,
            built: None,
            unsent: None,
            status,
        };
        let thread_stop = stop.clone();
        let thread = std::thread::Builder::new()
            .name("mephisto-fx-worker".to_string())
            .spawn(move || {
                let machine = Settings::load().0;
                let compiler = Compiler::new(machine.compiler_options());
                if let Some(library) = &machine.onnxruntime_path {
                    if let Err(e) = runtime::load(Some(library)) {
                        state.report(format!("the ONNX Runtime in Settings cannot be used: {e}"));
                    }
                }
                while !thread_stop.load(Ordering::Relaxed) {
                    state.tick(&compiler);
                    std::thread::sleep(TICK);
                }
            })
            .ok();
        (FxWorker { stop, thread }, audio_ports)
    }
}

impl Drop for FxWorker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct WorkerState {
    params: Arc<FxParams>,
    sample_rate: f32,
    offline: OfflineFlag,
    ports: WorkerPorts,
    /// What was last built (or failed to build): built again only when the wish changes.
    built: Option<Wanted>,
    /// A built voice the ring had no room for yet.
    unsent: Option<Box<PatchInstance>>,
    status: Arc<Mutex<String>>,
}

impl WorkerState {
    fn tick(&mut self, compiler: &Compiler) {
        // Voices the audio thread is done with are freed here.
        for old in self.ports.returned() {
            drop(old);
        }
        if let Some(instance) = self.unsent.take() {
            self.unsent = self.ports.send(instance).err();
            return;
        }
        let Some(wanted) = self.params.wanted() else {
            return;
        };
        if self.built.as_ref() == Some(&wanted) {
            return;
        }
        self.built = Some(wanted.clone());
        match self.build(&wanted, compiler) {
            Ok(instance) => {
                let name = instance.name.clone();
                self.unsent = self.ports.send(instance).err();
                *self.status.lock() = format!("playing {name}");
            }
            Err(e) => self.report(e),
        }
    }

    fn build(&self, wanted: &Wanted, compiler: &Compiler) -> Result<Box<PatchInstance>, String> {
        let spec: PatchSpec = match wanted {
            Wanted::Named(name) => spec_for(name)?,
            Wanted::Spec(spec) => (**spec).clone(),
        };
        let program = spec.program(compiler).map_err(|e| e.to_string())?;
        let patch = program
            .instantiate_following(&spec, self.sample_rate, Some(&self.offline))
            .map_err(|e| format!("`{}`: {e}", spec.name))?;
        Ok(patch.instance)
    }

    fn report(&self, message: String) {
        nice_error!("Mephisto FX: {message}; the voice playing keeps playing");
        *self.status.lock() = message;
    }
}
