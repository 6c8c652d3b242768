//! Loading a compiled variant: the library, its C ABI resolved to function pointers and
//! checked, and one [`ForeignClass`] per DSP class, from which the engine's DSPs
//! ([`ForeignDsp`](mephisto_rt::foreign::ForeignDsp)) are made.

use std::ffi::c_void;
use std::path::Path;
use std::sync::Arc;

use faust_types::{Meta, UI};
use libloading::Library;
use mephisto_rt::foreign::{
    ClassEntries, ComputeFn, CreateFn, Describe, DestroyFn, ForeignClass, ForeignLibrary,
    GetParamFn, PlainFn, RateFn, SetParamFn,
};

use super::description::{Description, DescriptionText};
use super::limits::Footprint;
use super::wrapper::{ABI_VERSION, MAX_CHANNELS};
use super::{CompileError, Refusal};

/// The library's `describe` entry and the host's sink it calls (wrapper.rs has the ABI).
type DescribeSink = unsafe extern "C" fn(
    *mut c_void,
    *const u8,
    usize,
    i32,
    *const f32,
    usize,
    *const u8,
    usize,
    *const u8,
    usize,
);
type DescribeFn = unsafe extern "C" fn(*mut c_void, DescribeSink) -> i32;

/// Receives one description call from the library into the `DescriptionText` behind `ctx`.
/// Nothing may unwind out of it into the library.
unsafe extern "C" fn collect_description(
    ctx: *mut c_void,
    kind: *const u8,
    kind_len: usize,
    index: i32,
    values: *const f32,
    value_count: usize,
    a: *const u8,
    a_len: usize,
    b: *const u8,
    b_len: usize,
) {
    let text = |ptr: *const u8, len: usize| {
        if ptr.is_null() || len == 0 {
            return String::new();
        }
        // SAFETY: the library passes `len` valid bytes for the duration of the call.
        String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(ptr, len) }).into_owned()
    };
    let values: &[f32] = if values.is_null() || value_count == 0 || value_count > 4 {
        &[]
    } else {
        // SAFETY: as above, `value_count` (at most 4) numbers.
        unsafe { std::slice::from_raw_parts(values, value_count) }
    };
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: `ctx` is the `DescriptionText` `into_class` passed for this call.
        let out = unsafe { &mut *(ctx as *mut DescriptionText) };
        out.push(
            &text(kind, kind_len),
            index,
            values,
            &text(a, a_len),
            &text(b, b_len),
        );
    }));
}
type LastPanicFn = unsafe extern "C" fn(*mut u8, usize) -> usize;

impl Describe for Description {
    fn replay_meta(&self, meta: &mut dyn Meta) {
        Description::replay_meta(self, meta);
    }

    fn replay_ui(&self, ui: &mut dyn UI<f32>) {
        Description::replay_ui(self, ui);
    }
}

/// A loaded, checked library.
pub struct LoadedVariant {
    /// The memory one voice and the effect take (static tables not counted: they were
    /// checked from Faust's output before the library was built).
    pub footprint: Footprint,
    pub voice: Arc<ForeignClass>,
    pub effect: Option<Arc<ForeignClass>>,
    library: Arc<ForeignLibrary>,
    /// The library's record of its last panic message (valid while `library` is loaded).
    last_panic: LastPanicFn,
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
        // The memory the DSPs take is known before the first one is made.
        let footprint = Footprint {
            voice: unsafe { (voice.state_bytes)() } as u64,
            effect: effect
                .as_ref()
                .map_or(0, |e| unsafe { (e.state_bytes)() } as u64),
            statics: 0,
        };
        footprint
            .check()
            .map_err(|why| CompileError::Refused(vec![Refusal::new(None, why)]))?;
        let library = ForeignLibrary::new(Box::new(library));
        let voice = Arc::new(voice.into_class(&library, last_panic).map_err(load_error)?);
        let effect = match effect {
            Some(symbols) => Some(Arc::new(
                symbols
                    .into_class(&library, last_panic)
                    .map_err(load_error)?,
            )),
            None => None,
        };
        Ok(LoadedVariant {
            footprint,
            voice,
            effect,
            library,
            last_panic,
        })
    }

    /// Whether any DSP made from this library has panicked.
    pub fn panicked(&self) -> bool {
        self.library.panicked()
    }

    /// The message of the library's last panic, if there was one. Allocates: not for the
    /// audio thread.
    pub fn last_panic(&self) -> Option<String> {
        last_panic_message(self.last_panic)
    }
}

/// The library's last panic message. `last_panic` must belong to a loaded library.
fn last_panic_message(last_panic: LastPanicFn) -> Option<String> {
    // SAFETY: a null buffer with no capacity only asks for the length.
    let len = unsafe { last_panic(std::ptr::null_mut(), 0) };
    if len == 0 {
        return None;
    }
    let mut buffer = vec![0u8; len];
    // SAFETY: the buffer holds `len` bytes.
    let copied = unsafe { last_panic(buffer.as_mut_ptr(), buffer.len()) };
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
    state_bytes: unsafe extern "C" fn() -> usize,
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
            state_bytes: symbol(library, &entry("state_bytes"))?,
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

    fn into_class(
        self,
        library: &Arc<ForeignLibrary>,
        last_panic: LastPanicFn,
    ) -> Result<ForeignClass, String> {
        let name = self.name;
        let panicked = |what: &str| {
            let message = last_panic_message(last_panic).unwrap_or_default();
            format!("the {name}'s {what} panicked: {message}")
        };
        let mut text = DescriptionText::default();
        // SAFETY: the sink and its context outlive the call; the library calls the sink only
        // during it.
        let status = unsafe {
            (self.describe)(
                &mut text as *mut DescriptionText as *mut c_void,
                collect_description,
            )
        };
        if status != 0 {
            return Err(panicked("description"));
        }
        let description = Description::parse(&text.0)
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
        let entries = ClassEntries {
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
        };
        // SAFETY: the entry points were resolved from this library with the wrapper's types,
        // and the channel counts are the instances' own, checked against the limit above.
        Ok(unsafe { ForeignClass::new(entries, Box::new(description), inputs, outputs, library) })
    }
}
