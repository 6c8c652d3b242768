//! The host side of a compiled variant: the loaded library (kept alive by every DSP made
//! from it), its C ABI resolved to function pointers, and [`RuntimeDsp`], which implements
//! `FaustDsp` over that ABI so the engine plays it like a built-in patch.

use std::ffi::c_void;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use faust_types::{FaustDsp, Meta, ParamIndex, UI};
use libloading::Library;

use super::description::Description;
use super::wrapper::{ABI_VERSION, MAX_CHANNELS};
use super::CompileError;

type CreateFn = unsafe extern "C" fn() -> *mut c_void;
type DestroyFn = unsafe extern "C" fn(*mut c_void);
type RateFn = unsafe extern "C" fn(*mut c_void, i32) -> i32;
type PlainFn = unsafe extern "C" fn(*mut c_void) -> i32;
type SetParamFn = unsafe extern "C" fn(*mut c_void, i32, f32) -> i32;
type GetParamFn = unsafe extern "C" fn(*mut c_void, i32, *mut f32) -> i32;
type ComputeFn = unsafe extern "C" fn(*mut c_void, i32, *const *const f32, *const *mut f32) -> i32;
type DescribeFn = unsafe extern "C" fn(*mut usize) -> *const u8;
type LastPanicFn = unsafe extern "C" fn(*mut u8, usize) -> usize;

/// The library itself and what all its DSPs share.
struct Shared {
    /// Set when any DSP of this library panicked, for the worker to notice and report.
    panicked: AtomicBool,
    last_panic: LastPanicFn,
    /// Unloaded only when the last DSP (which holds this through its class) is gone.
    _library: Library,
}

/// One DSP class of the library (`voice` or `effect`): its entry points and description.
pub struct DspClass {
    name: &'static str,
    create: CreateFn,
    destroy: DestroyFn,
    init: RateFn,
    instance_init: RateFn,
    instance_constants: RateFn,
    instance_reset_params: PlainFn,
    instance_clear: PlainFn,
    sample_rate: PlainFn,
    set_param: SetParamFn,
    get_param: GetParamFn,
    compute: ComputeFn,
    description: Description,
    inputs: usize,
    outputs: usize,
    shared: Arc<Shared>,
}

impl DspClass {
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    pub fn outputs(&self) -> usize {
        self.outputs
    }
}

/// A loaded, checked library.
pub struct LoadedVariant {
    pub voice: Arc<DspClass>,
    pub effect: Option<Arc<DspClass>>,
    shared: Arc<Shared>,
}

impl LoadedVariant {
    /// Loads the library at `path` and checks its ABI version, entry points, descriptions
    /// and channel counts (by creating one instance of each DSP).
    pub fn open(path: &Path) -> Result<LoadedVariant, CompileError> {
        let load_error =
            |why: String| CompileError::Load(format!("variant `{}`: {why}", path.display()));
        // SAFETY: the library was built by this module from the wrapper source; its
        // initialisers are std's own, and every entry point is checked before use.
        let library = unsafe { Library::new(path) }.map_err(|e| load_error(e.to_string()))?;
        // SAFETY (for every `symbol` call): the types match the wrapper's exports.
        let abi: unsafe extern "C" fn() -> u32 =
            unsafe { symbol(&library, "mephisto_abi_version") }.map_err(load_error)?;
        let version = unsafe { abi() };
        if version != ABI_VERSION {
            return Err(load_error(format!(
                "it speaks ABI version {version}, this Mephisto speaks {ABI_VERSION}"
            )));
        }
        let has_effect: unsafe extern "C" fn() -> u32 =
            unsafe { symbol(&library, "mephisto_has_effect") }.map_err(load_error)?;
        let has_effect = unsafe { has_effect() } == 1;
        let last_panic: LastPanicFn =
            unsafe { symbol(&library, "mephisto_last_panic") }.map_err(load_error)?;
        let resolve = |name: &'static str| unsafe { ClassSymbols::resolve(&library, name) };
        let voice = resolve("voice").map_err(load_error)?;
        let effect = if has_effect {
            Some(resolve("effect").map_err(load_error)?)
        } else {
            None
        };
        let shared = Arc::new(Shared {
            panicked: AtomicBool::new(false),
            last_panic,
            _library: library,
        });
        let voice = Arc::new(voice.into_class(&shared).map_err(load_error)?);
        let effect = match effect {
            Some(symbols) => Some(Arc::new(symbols.into_class(&shared).map_err(load_error)?)),
            None => None,
        };
        Ok(LoadedVariant {
            voice,
            effect,
            shared,
        })
    }

    /// Whether any DSP made from this library has panicked.
    pub fn panicked(&self) -> bool {
        self.shared.panicked.load(Ordering::Relaxed)
    }

    /// The message of the library's last panic, if there was one. Allocates: not for the
    /// audio thread.
    pub fn last_panic(&self) -> Option<String> {
        last_panic_message(&self.shared)
    }
}

fn last_panic_message(shared: &Shared) -> Option<String> {
    // SAFETY: a null buffer with no capacity only asks for the length.
    let len = unsafe { (shared.last_panic)(std::ptr::null_mut(), 0) };
    if len == 0 {
        return None;
    }
    let mut buffer = vec![0u8; len];
    // SAFETY: the buffer holds `len` bytes.
    let copied = unsafe { (shared.last_panic)(buffer.as_mut_ptr(), buffer.len()) };
    buffer.truncate(copied.min(len));
    Some(String::from_utf8_lossy(&buffer).into_owned())
}

/// Reads one exported function pointer.
///
/// # Safety
/// `T` must be the function type the library exports under `name`.
unsafe fn symbol<T: Copy>(library: &Library, name: &str) -> Result<T, String> {
    library
        .get::<T>(name.as_bytes())
        .map(|s| *s)
        .map_err(|e| format!("it lacks the entry point `{name}` ({e})"))
}

/// The entry points of one class, before its description and channels are read.
struct ClassSymbols {
    name: &'static str,
    create: CreateFn,
    destroy: DestroyFn,
    init: RateFn,
    instance_init: RateFn,
    instance_constants: RateFn,
    instance_reset_params: PlainFn,
    instance_clear: PlainFn,
    num_inputs: PlainFn,
    num_outputs: PlainFn,
    sample_rate: PlainFn,
    set_param: SetParamFn,
    get_param: GetParamFn,
    compute: ComputeFn,
    describe: DescribeFn,
}

impl ClassSymbols {
    /// # Safety
    /// The library must export the wrapper's ABI for class `name`.
    unsafe fn resolve(library: &Library, name: &'static str) -> Result<ClassSymbols, String> {
        let entry = |what: &str| format!("mephisto_{name}_{what}");
        Ok(ClassSymbols {
            name,
            create: symbol(library, &entry("create"))?,
            destroy: symbol(library, &entry("destroy"))?,
            init: symbol(library, &entry("init"))?,
            instance_init: symbol(library, &entry("instance_init"))?,
            instance_constants: symbol(library, &entry("instance_constants"))?,
            instance_reset_params: symbol(library, &entry("instance_reset_params"))?,
            instance_clear: symbol(library, &entry("instance_clear"))?,
            num_inputs: symbol(library, &entry("num_inputs"))?,
            num_outputs: symbol(library, &entry("num_outputs"))?,
            sample_rate: symbol(library, &entry("sample_rate"))?,
            set_param: symbol(library, &entry("set_param"))?,
            get_param: symbol(library, &entry("get_param"))?,
            compute: symbol(library, &entry("compute"))?,
            describe: symbol(library, &entry("describe"))?,
        })
    }

    fn into_class(self, shared: &Arc<Shared>) -> Result<DspClass, String> {
        let name = self.name;
        let panicked = |what: &str| {
            let message = last_panic_message(shared).unwrap_or_default();
            format!("the {name}'s {what} panicked: {message}")
        };
        let mut len = 0usize;
        // SAFETY: `describe` returns a pointer to `len` bytes that live as long as the library.
        let text = unsafe {
            let ptr = (self.describe)(&mut len);
            if ptr.is_null() {
                return Err(panicked("description"));
            }
            String::from_utf8_lossy(std::slice::from_raw_parts(ptr, len)).into_owned()
        };
        let description = Description::parse(&text)
            .map_err(|e| format!("the {name}'s description is malformed at {e}"))?;
        // SAFETY: a created instance is used once and destroyed by the same library.
        let (inputs, outputs) = unsafe {
            let probe = (self.create)();
            if probe.is_null() {
                return Err(panicked("constructor"));
            }
            let counts = ((self.num_inputs)(probe), (self.num_outputs)(probe));
            (self.destroy)(probe);
            counts
        };
        let (Ok(inputs), Ok(outputs)) = (usize::try_from(inputs), usize::try_from(outputs)) else {
            return Err(panicked("channel count"));
        };
        if inputs > MAX_CHANNELS || outputs > MAX_CHANNELS {
            return Err(format!(
                "the {name} has {inputs} inputs and {outputs} outputs, more than the {MAX_CHANNELS} a DSP may have"
            ));
        }
        Ok(DspClass {
            name,
            create: self.create,
            destroy: self.destroy,
            init: self.init,
            instance_init: self.instance_init,
            instance_constants: self.instance_constants,
            instance_reset_params: self.instance_reset_params,
            instance_clear: self.instance_clear,
            sample_rate: self.sample_rate,
            set_param: self.set_param,
            get_param: self.get_param,
            compute: self.compute,
            description,
            inputs,
            outputs,
            shared: Arc::clone(shared),
        })
    }
}

/// One instance of a compiled DSP, played through the library's C ABI.
///
/// A DSP that panicked (or whose constructor did) stays silent from then on and reports it
/// through [`RuntimeDsp::panicked`] and the variant's shared flag; it never unwinds into
/// the engine.
pub struct RuntimeDsp {
    /// The instance inside the library; null when its constructor panicked.
    dsp: *mut c_void,
    /// Holds the library loaded for as long as this instance exists.
    class: Arc<DspClass>,
    panicked: bool,
}

// SAFETY: the instance is plain data owned by this value alone; the library's shared
// tables are written only under its own lock during `init`.
unsafe impl Send for RuntimeDsp {}

impl RuntimeDsp {
    /// Creates an instance of `class` (not yet initialised, as `FaustDsp::new` leaves it).
    pub fn create(class: &Arc<DspClass>) -> RuntimeDsp {
        // SAFETY: `create` has no preconditions; a null result is handled everywhere.
        let dsp = unsafe { (class.create)() };
        let mut runtime = RuntimeDsp {
            dsp,
            class: Arc::clone(class),
            panicked: false,
        };
        if dsp.is_null() {
            runtime.mark_panicked();
        }
        runtime
    }

    /// Whether this instance panicked; it then produces silence.
    pub fn panicked(&self) -> bool {
        self.panicked
    }

    /// The class name, `voice` or `effect`.
    pub fn class_name(&self) -> &'static str {
        self.class.name
    }

    fn mark_panicked(&mut self) {
        self.panicked = true;
        self.class.shared.panicked.store(true, Ordering::Relaxed);
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

impl Drop for RuntimeDsp {
    fn drop(&mut self) {
        if !self.dsp.is_null() {
            // SAFETY: the pointer came from this class's `create` and is destroyed once.
            unsafe { (self.class.destroy)(self.dsp) };
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

impl FaustDsp for RuntimeDsp {
    type T = f32;

    /// Runtime DSPs are made by `CompiledVariant::new_voice`/`new_effect` from a loaded
    /// library; there is no library to make one from here, and the engine never calls this.
    fn new() -> Self {
        panic!("a RuntimeDsp is created from a compiled variant, not with FaustDsp::new")
    }

    fn metadata(&self, m: &mut dyn Meta) {
        self.class.description.replay_meta(m);
    }

    fn get_sample_rate(&self) -> i32 {
        match self.live() {
            // SAFETY: a live instance of this class.
            Some(dsp) => unsafe { (self.class.sample_rate)(dsp) }.max(0),
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
        let f = self.class.instance_reset_params;
        // SAFETY (here and below): `dsp` is a live instance of this class.
        self.call(|dsp| unsafe { f(dsp) });
    }

    fn instance_clear(&mut self) {
        let f = self.class.instance_clear;
        self.call(|dsp| unsafe { f(dsp) });
    }

    fn instance_constants(&mut self, sample_rate: i32) {
        let f = self.class.instance_constants;
        self.call(|dsp| unsafe { f(dsp, sample_rate) });
    }

    fn instance_init(&mut self, sample_rate: i32) {
        let f = self.class.instance_init;
        self.call(|dsp| unsafe { f(dsp, sample_rate) });
    }

    fn init(&mut self, sample_rate: i32) {
        let f = self.class.init;
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
        let status = unsafe { (self.class.get_param)(dsp, param.0, &mut value) };
        if status == 1 {
            self.class.shared.panicked.store(true, Ordering::Relaxed);
        }
        (status == 0).then_some(value)
    }

    fn set_param(&mut self, param: ParamIndex, value: Self::T) {
        let f = self.class.set_param;
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
            (self.class.compute)(dsp, frames as i32, in_ptrs.as_ptr(), out_ptrs.as_ptr())
        };
        if status != 0 {
            self.mark_panicked();
            silence(count, outputs);
        }
    }
}
