//! A DSP that lives in a runtime-compiled library and is played through the library's C ABI
//! (the runtime compiler, `mephisto-compiler`, generates that ABI and loads the library;
//! this is the side the audio thread calls). [`ForeignDsp`] implements `FaustDsp` over the
//! ABI's function pointers, so the engine plays it like a built-in patch.
//!
//! A DSP that panicked (or whose constructor did) stays silent from then on and reports it
//! through [`ForeignDsp::panicked`] and its library's shared flag; it never unwinds into the
//! engine: every entry point of the ABI catches panics and returns a status.

use std::any::Any;
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use faust_types::{FaustDsp, Meta, ParamIndex, UI};

/// The most audio channels a DSP may have: the compute call's pointer tables are arrays of
/// this size on the stack (and the generated wrapper's slice tables too).
pub const MAX_CHANNELS: usize = 8;

pub type CreateFn = unsafe extern "C" fn() -> *mut c_void;
pub type DestroyFn = unsafe extern "C" fn(*mut c_void);
pub type RateFn = unsafe extern "C" fn(*mut c_void, i32) -> i32;
pub type PlainFn = unsafe extern "C" fn(*mut c_void) -> i32;
pub type SetParamFn = unsafe extern "C" fn(*mut c_void, i32, f32) -> i32;
pub type GetParamFn = unsafe extern "C" fn(*mut c_void, i32, *mut f32) -> i32;
pub type ComputeFn =
    unsafe extern "C" fn(*mut c_void, i32, *const *const f32, *const *mut f32) -> i32;

/// The entry points of one DSP class of a library. Each status-returning function returns
/// 0 on success and 1 when the call panicked inside the library.
#[derive(Clone, Copy)]
pub struct ClassEntries {
    pub create: CreateFn,
    pub destroy: DestroyFn,
    pub init: RateFn,
    pub instance_init: RateFn,
    pub instance_constants: RateFn,
    pub instance_reset_params: PlainFn,
    pub instance_clear: PlainFn,
    pub sample_rate: PlainFn,
    pub set_param: SetParamFn,
    pub get_param: GetParamFn,
    pub compute: ComputeFn,
}

/// A class's widgets and metadata, replayed to whoever asks (control discovery). Called off
/// the audio thread.
pub trait Describe: Send + Sync {
    fn replay_meta(&self, meta: &mut dyn Meta);
    fn replay_ui(&self, ui: &mut dyn UI<f32>);
}

/// A loaded library as its DSPs share it: kept loaded until the last of them is gone, and
/// flagged when any of them panicked.
pub struct ForeignLibrary {
    panicked: AtomicBool,
    /// The loaded library (whatever keeps it mapped); dropped last.
    _library: Box<dyn Any + Send + Sync>,
}

impl ForeignLibrary {
    pub fn new(library: Box<dyn Any + Send + Sync>) -> Arc<ForeignLibrary> {
        Arc::new(ForeignLibrary {
            panicked: AtomicBool::new(false),
            _library: library,
        })
    }

    /// Whether any DSP of this library panicked.
    pub fn panicked(&self) -> bool {
        self.panicked.load(Ordering::Relaxed)
    }
}

/// One DSP class of a library (`voice` or `effect`): its entry points and description.
pub struct ForeignClass {
    entries: ClassEntries,
    description: Box<dyn Describe>,
    inputs: usize,
    outputs: usize,
    library: Arc<ForeignLibrary>,
}

impl ForeignClass {
    /// # Safety
    /// `entries` must be the entry points `library` exports for one class, with the types
    /// above, and stay valid while `library` is loaded; `inputs` and `outputs` must be what
    /// the class's instances report, at most [`MAX_CHANNELS`] each.
    pub unsafe fn new(
        entries: ClassEntries,
        description: Box<dyn Describe>,
        inputs: usize,
        outputs: usize,
        library: &Arc<ForeignLibrary>,
    ) -> ForeignClass {
        assert!(inputs <= MAX_CHANNELS && outputs <= MAX_CHANNELS);
        ForeignClass {
            entries,
            description,
            inputs,
            outputs,
            library: Arc::clone(library),
        }
    }

    pub fn inputs(&self) -> usize {
        self.inputs
    }

    pub fn outputs(&self) -> usize {
        self.outputs
    }
}

/// One instance of a foreign DSP.
pub struct ForeignDsp {
    /// The instance inside the library; null when its constructor panicked.
    dsp: *mut c_void,
    /// Holds the library loaded for as long as this instance exists.
    class: Arc<ForeignClass>,
    panicked: bool,
}

// SAFETY: the instance is plain data owned by this value alone; the library's shared
// tables are written only under its own lock during `init`.
unsafe impl Send for ForeignDsp {}

impl ForeignDsp {
    /// Creates an instance of `class` (not yet initialised, as `FaustDsp::new` leaves it).
    /// Off the audio thread.
    pub fn create(class: &Arc<ForeignClass>) -> ForeignDsp {
        // SAFETY: `create` has no preconditions; a null result is handled everywhere.
        let dsp = unsafe { (class.entries.create)() };
        let mut foreign = ForeignDsp {
            dsp,
            class: Arc::clone(class),
            panicked: false,
        };
        if dsp.is_null() {
            foreign.mark_panicked();
        }
        foreign
    }

    /// Whether this instance panicked; it then produces silence.
    pub fn panicked(&self) -> bool {
        self.panicked
    }

    fn mark_panicked(&mut self) {
        self.panicked = true;
        self.class.library.panicked.store(true, Ordering::Relaxed);
    }

    fn live(&self) -> Option<*mut c_void> {
        (!self.panicked && !self.dsp.is_null()).then_some(self.dsp)
    }

    /// Runs a status-returning entry point, noting a panic.
    fn call(&mut self, f: impl FnOnce(*mut c_void) -> i32) {
        if let Some(dsp) = self.live() {
            if f(dsp) == 1 {
                self.mark_panicked();
            }
        }
    }
}

impl Drop for ForeignDsp {
    fn drop(&mut self) {
        if !self.dsp.is_null() {
            // SAFETY: the pointer came from this class's `create` and is destroyed once.
            unsafe { (self.class.entries.destroy)(self.dsp) };
        }
    }
}

fn silence(count: i32, outputs: &mut [&mut [f32]]) {
    let frames = count.max(0) as usize;
    for channel in outputs.iter_mut() {
        let n = frames.min(channel.len());
        channel[..n].fill(0.0);
    }
}

impl FaustDsp for ForeignDsp {
    type T = f32;

    /// Foreign DSPs are made from a loaded library's class; there is no library to make one
    /// from here, and the engine never calls this.
    fn new() -> Self {
        panic!("a ForeignDsp is created from a loaded library, not with FaustDsp::new")
    }

    fn metadata(&self, m: &mut dyn Meta) {
        self.class.description.replay_meta(m);
    }

    fn get_sample_rate(&self) -> i32 {
        match self.live() {
            // SAFETY: a live instance of this class.
            Some(dsp) => unsafe { (self.class.entries.sample_rate)(dsp) }.max(0),
            None => 0,
        }
    }

    fn get_num_inputs(&self) -> i32 {
        self.class.inputs as i32
    }

    fn get_num_outputs(&self) -> i32 {
        self.class.outputs as i32
    }

    /// Class initialisation happens inside the library's `init`.
    fn class_init(_sample_rate: i32) {}

    fn instance_reset_params(&mut self) {
        let f = self.class.entries.instance_reset_params;
        // SAFETY (here and below): `dsp` is a live instance of this class.
        self.call(|dsp| unsafe { f(dsp) });
    }

    fn instance_clear(&mut self) {
        let f = self.class.entries.instance_clear;
        self.call(|dsp| unsafe { f(dsp) });
    }

    fn instance_constants(&mut self, sample_rate: i32) {
        let f = self.class.entries.instance_constants;
        self.call(|dsp| unsafe { f(dsp, sample_rate) });
    }

    fn instance_init(&mut self, sample_rate: i32) {
        let f = self.class.entries.instance_init;
        self.call(|dsp| unsafe { f(dsp, sample_rate) });
    }

    fn init(&mut self, sample_rate: i32) {
        let f = self.class.entries.init;
        self.call(|dsp| unsafe { f(dsp, sample_rate) });
    }

    fn build_user_interface(&self, ui_interface: &mut dyn UI<Self::T>) {
        self.class.description.replay_ui(ui_interface);
    }

    /// Without an instance there is no library to describe; the engine only asks instances.
    fn build_user_interface_static(_ui_interface: &mut dyn UI<Self::T>) {}

    fn get_param(&self, param: ParamIndex) -> Option<Self::T> {
        let dsp = self.live()?;
        let mut value = 0.0f32;
        // SAFETY: a live instance; `value` is a valid place for the result.
        let status = unsafe { (self.class.entries.get_param)(dsp, param.0, &mut value) };
        if status == 1 {
            self.class.library.panicked.store(true, Ordering::Relaxed);
        }
        (status == 0).then_some(value)
    }

    fn set_param(&mut self, param: ParamIndex, value: Self::T) {
        let f = self.class.entries.set_param;
        self.call(|dsp| unsafe { f(dsp, param.0, value) });
    }

    /// Called on the audio thread: builds the pointer tables on the stack and never
    /// allocates. Never reads or writes past the slices it is given, whatever `count` says.
    fn compute(&mut self, count: i32, inputs: &[&[Self::T]], outputs: &mut [&mut [Self::T]]) {
        let (ins, outs) = (self.class.inputs, self.class.outputs);
        let Some(dsp) = self.live() else {
            silence(count, outputs);
            return;
        };
        if inputs.len() < ins || outputs.len() < outs {
            silence(count, outputs);
            return;
        }
        let frames = inputs[..ins]
            .iter()
            .map(|c| c.len())
            .chain(outputs[..outs].iter().map(|c| c.len()))
            .fold(count.max(0) as usize, usize::min);
        let mut in_ptrs = [std::ptr::null::<f32>(); MAX_CHANNELS];
        for (slot, channel) in in_ptrs.iter_mut().zip(&inputs[..ins]) {
            *slot = channel.as_ptr();
        }
        let mut out_ptrs = [std::ptr::null_mut::<f32>(); MAX_CHANNELS];
        for (slot, channel) in out_ptrs.iter_mut().zip(outputs[..outs].iter_mut()) {
            *slot = channel.as_mut_ptr();
        }
        // SAFETY: every pointer addresses at least `frames` samples of a distinct channel.
        let status = unsafe {
            (self.class.entries.compute)(dsp, frames as i32, in_ptrs.as_ptr(), out_ptrs.as_ptr())
        };
        if status != 0 {
            self.mark_panicked();
            silence(count, outputs);
        }
    }
}
