//! The wrapper crate around Faust's Rust output: one `.rs` file that rustc turns into a
//! `cdylib` exporting Mephisto's versioned C ABI, linking the wrapper's fixed part (the
//! prelude crate, compiled once per toolchain by `prelude.rs`) so each variant compiles
//! only the DSPs and one-line exports. The ABI is defined here (the
//! generated side) and in `variant.rs` (the loading side); bump [`ABI_VERSION`] when either
//! changes shape.
//!
//! Exports, with `P` = `voice` or `effect` (the effect ones exist when `mephisto_has_effect`
//! returns 1); `dsp` is the pointer `create` returned, calls returning `i32` give 0 on
//! success and 1 when the DSP panicked (the panic is caught inside the library):
//!
//! | symbol | signature |
//! | --- | --- |
//! | `mephisto_abi_version` | `() -> u32` |
//! | `mephisto_has_effect` | `() -> u32` |
//! | `mephisto_last_panic` | `(buf: *mut u8, cap: usize) -> usize`: copies the last panic message, returns its full length |
//! | `mephisto_P_state_bytes` | `() -> usize`: the size of one DSP instance, read before any is made |
//! | `mephisto_P_create` / `_destroy` | `() -> *mut c_void` (null if it panicked or memory ran out) / `(dsp)` |
//! | `mephisto_P_init`, `_instance_init`, `_instance_constants` | `(dsp, sample_rate: i32) -> i32` |
//! | `mephisto_P_instance_reset_params`, `_instance_clear` | `(dsp) -> i32` |
//! | `mephisto_P_num_inputs`, `_num_outputs`, `_sample_rate` | `(dsp) -> i32` (-1 if it panicked) |
//! | `mephisto_P_set_param` | `(dsp, index: i32, value: f32) -> i32` |
//! | `mephisto_P_get_param` | `(dsp, index: i32, value: *mut f32) -> i32`: 0 found, 2 no such parameter, 1 panicked |
//! | `mephisto_P_compute` | `(dsp, count: i32, inputs: *const *const f32, outputs: *const *mut f32) -> i32`: 2 when the DSP has more than [`MAX_CHANNELS`] channels |
//! | `mephisto_P_describe` | `(ctx: *mut c_void, sink: DescribeSink) -> i32`: calls `sink` once per UI call and metadata entry (below) |
//!
//! `DescribeSink` is `unsafe extern "C" fn(ctx, kind: *const u8, kind_len: usize, index: i32,
//! values: *const f32, value_count: usize, a: *const u8, a_len: usize, b: *const u8, b_len:
//! usize)`: `kind` names the call (`meta`, `open_tab_box`, …, `vertical_slider`, `declare`),
//! `index` is the parameter (-1 for none), `values` the widget's numbers (init, min, max, step
//! or min, max), `a` the label (or metadata key) and `b` the metadata value, all UTF-8 and valid
//! for the call only. The host writes the description; the library formats nothing (writing
//! text inside it was about a third of rustc's work on a small program, docs/BENCHMARKS.md).

/// Version of the C ABI above; a library reporting another version is not loaded.
pub const ABI_VERSION: u32 = 3;

/// Most audio channels one DSP may have on either side; fixed so `compute` needs no heap.
pub use mephisto_rt::foreign::MAX_CHANNELS;

/// The crate name of the wrapper's fixed part ([`prelude_source`]), which every variant's
/// crate links (`--extern`).
pub const PRELUDE_CRATE: &str = "mephisto_prelude";

/// The wrapper's fixed part as a crate of its own: the items of `faust-types`, the panic
/// hook, and the C ABI's operations written once against `dyn FaustDsp`. rustc compiles it
/// once per toolchain, flags and CPU (`prelude.rs`); before, each variant compiled it again,
/// which was most of rustc's time on a small program (docs/BENCHMARKS.md).
pub fn prelude_source() -> String {
    PRELUDE
        .replace("__ABI_VERSION__", &ABI_VERSION.to_string())
        .replace("__MAX_CHANNELS__", &MAX_CHANNELS.to_string())
}

/// Builds the variant's source around the code `faust -lang rust -cn Voice` (and
/// `-pn effect -cn Effect`) produced: the DSPs and their exports, which forward to the
/// prelude's operations.
pub fn wrapper_source(voice_code: &str, effect_code: Option<&str>) -> String {
    let mut source = VARIANT_HEAD.replace(
        "__HAS_EFFECT__",
        if effect_code.is_some() { "1" } else { "0" },
    );
    let mut add_dsp = |name: &str, module: &str, code: &str, ty: &str| {
        source.push_str(&format!(
            "\nmod {module} {{\nuse {PRELUDE_CRATE}::faust_types::*;\n{code}\n}}\n"
        ));
        let construct = if new_is_all_zero(code) {
            "new_zeroed"
        } else {
            "new_on_stack"
        };
        source.push_str(
            &DSP_TEMPLATE
                .replace("__NAME__", name)
                .replace("__TYPE__", ty)
                .replace("__CONSTRUCT__", construct),
        );
    };
    add_dsp("voice", "voice_dsp", voice_code, "voice_dsp::Voice");
    if let Some(code) = effect_code {
        add_dsp("effect", "effect_dsp", code, "effect_dsp::Effect");
    }
    source
}

/// Whether every field Faust's `fn new()` sets is a zero (`0`, `0.0`, `[0.0;N]`, `false`):
/// then an instance can be made as zeroed heap memory, never passing through the stack,
/// whatever its size (a DSP with long delay lines is megabytes, more than a thread's stack).
fn new_is_all_zero(code: &str) -> bool {
    let mut bodies = code.split("fn new() ->").skip(1).peekable();
    if bodies.peek().is_none() {
        return false;
    }
    bodies.all(|rest| {
        let Some(body) = rest.split("\n\t}").next() else {
            return false;
        };
        body.lines().skip(2).all(|line| {
            let line = line.trim().trim_end_matches(',');
            match line.split_once(':') {
                Some((_, value)) => {
                    let value = value.trim();
                    let zero = |v: &str| matches!(v, "0" | "0.0" | "false");
                    zero(value)
                        || value
                            .strip_prefix('[')
                            .and_then(|v| v.split_once(';'))
                            .is_some_and(|(v, _)| zero(v.trim()))
                }
                None => matches!(line, "" | "}" | "{"),
            }
        })
    })
}

/// Everything in the generated source that does not come from Faust; part of the cache key,
/// so a change to the wrapper never loads a library built from the old one.
pub fn template_text() -> [&'static str; 3] {
    [PRELUDE, VARIANT_HEAD, DSP_TEMPLATE]
}

const PRELUDE: &str = r#"// Generated by Mephisto: the fixed part of every runtime variant. Do not edit.
#![allow(warnings)]

use std::ffi::c_void;
use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Mutex, Once};

use faust_types::{FaustDsp, Meta, ParamIndex, UI};

pub const MAX_CHANNELS: usize = __MAX_CHANNELS__;

/// The items of the `faust-types` crate that generated code uses, with the same signatures,
/// so the variants compile with rustc alone.
pub mod faust_types {
    pub type F32 = f32;
    pub type F64 = f64;

    #[derive(Copy, Clone, Debug)]
    pub struct ParamIndex(pub i32);

    pub trait FaustDsp {
        type T;
        fn new() -> Self where Self: Sized;
        fn metadata(&self, m: &mut dyn Meta);
        fn get_sample_rate(&self) -> i32;
        fn get_num_inputs(&self) -> i32;
        fn get_num_outputs(&self) -> i32;
        fn class_init(sample_rate: i32) where Self: Sized;
        fn instance_reset_params(&mut self);
        fn instance_clear(&mut self);
        fn instance_constants(&mut self, sample_rate: i32);
        fn instance_init(&mut self, sample_rate: i32);
        fn init(&mut self, sample_rate: i32);
        fn build_user_interface(&self, ui_interface: &mut dyn UI<Self::T>);
        fn build_user_interface_static(ui_interface: &mut dyn UI<Self::T>) where Self: Sized;
        fn get_param(&self, param: ParamIndex) -> Option<Self::T>;
        fn set_param(&mut self, param: ParamIndex, value: Self::T);
        fn compute(&mut self, count: i32, inputs: &[&[Self::T]], outputs: &mut [&mut [Self::T]]);
        fn get_output_rate(&self, channel: i32) -> i32 { 1 }
        fn get_input_rate(&self, channel: i32) -> i32 { 1 }
    }

    pub trait Meta {
        fn declare(&mut self, key: &str, value: &str);
    }

    pub trait UI<T> {
        fn open_tab_box(&mut self, label: &str);
        fn open_horizontal_box(&mut self, label: &str);
        fn open_vertical_box(&mut self, label: &str);
        fn close_box(&mut self);
        fn add_button(&mut self, label: &str, param: ParamIndex);
        fn add_check_button(&mut self, label: &str, param: ParamIndex);
        fn add_vertical_slider(&mut self, label: &str, param: ParamIndex, init: T, min: T, max: T, step: T);
        fn add_horizontal_slider(&mut self, label: &str, param: ParamIndex, init: T, min: T, max: T, step: T);
        fn add_num_entry(&mut self, label: &str, param: ParamIndex, init: T, min: T, max: T, step: T);
        fn add_horizontal_bargraph(&mut self, label: &str, param: ParamIndex, min: T, max: T);
        fn add_vertical_bargraph(&mut self, label: &str, param: ParamIndex, min: T, max: T);
        fn declare(&mut self, param: Option<ParamIndex>, key: &str, value: &str);
    }

    /// Faust writes an infinite constant (after folding, say, `1e30 * 1e30`) by this name.
    pub const INFINITY: f32 = f32::INFINITY;

    /// What the Rust backend calls for Faust's `fmod` (`%` on floats).
    pub mod libm {
        pub fn fmodf(x: f32, y: f32) -> f32 { x % y }
        pub fn fmod(x: f64, y: f64) -> f64 { x % y }
    }

    // The <math.h> functions the standard libraries declare with `ffunction` and Faust's Rust
    // backend leaves as plain calls.
    mod c {
        extern "C" {
            pub fn ldexpf(x: f32, e: i32) -> f32;
            pub fn scalbnf(x: f32, e: i32) -> f32;
            pub fn logbf(x: f32) -> f32;
            pub fn ilogbf(x: f32) -> i32;
            pub fn erff(x: f32) -> f32;
            pub fn erfcf(x: f32) -> f32;
            pub fn tgammaf(x: f32) -> f32;
            pub fn lgammaf(x: f32) -> f32;
            pub fn nextafterf(x: f32, y: f32) -> f32;
            pub fn j0(x: f64) -> f64;
            pub fn j1(x: f64) -> f64;
            pub fn jn(n: i32, x: f64) -> f64;
            pub fn y0(x: f64) -> f64;
            pub fn y1(x: f64) -> f64;
            pub fn yn(n: i32, x: f64) -> f64;
        }
    }
    pub fn copysignf(x: f32, y: f32) -> f32 { x.copysign(y) }
    pub fn cbrtf(x: f32) -> f32 { x.cbrt() }
    pub fn hypotf(x: f32, y: f32) -> f32 { x.hypot(y) }
    pub fn log1pf(x: f32) -> f32 { x.ln_1p() }
    pub fn expm1f(x: f32) -> f32 { x.exp_m1() }
    pub fn acoshf(x: f32) -> f32 { x.acosh() }
    pub fn asinhf(x: f32) -> f32 { x.asinh() }
    pub fn atanhf(x: f32) -> f32 { x.atanh() }
    pub fn sinhf(x: f32) -> f32 { x.sinh() }
    pub fn coshf(x: f32) -> f32 { x.cosh() }
    pub fn tanhf(x: f32) -> f32 { x.tanh() }
    pub fn isnanf(x: f32) -> i32 { x.is_nan() as i32 }
    pub fn isinff(x: f32) -> i32 { x.is_infinite() as i32 }
    pub fn ldexpf(x: f32, e: i32) -> f32 { unsafe { c::ldexpf(x, e) } }
    pub fn scalbnf(x: f32, e: i32) -> f32 { unsafe { c::scalbnf(x, e) } }
    pub fn logbf(x: f32) -> f32 { unsafe { c::logbf(x) } }
    pub fn ilogbf(x: f32) -> i32 { unsafe { c::ilogbf(x) } }
    pub fn erff(x: f32) -> f32 { unsafe { c::erff(x) } }
    pub fn erfcf(x: f32) -> f32 { unsafe { c::erfcf(x) } }
    pub fn tgammaf(x: f32) -> f32 { unsafe { c::tgammaf(x) } }
    pub fn lgammaf(x: f32) -> f32 { unsafe { c::lgammaf(x) } }
    pub fn nextafter(x: f32, y: f32) -> f32 { unsafe { c::nextafterf(x, y) } }
    pub fn j0(x: f32) -> f32 { unsafe { c::j0(x as f64) as f32 } }
    pub fn j1(x: f32) -> f32 { unsafe { c::j1(x as f64) as f32 } }
    pub fn jn(n: i32, x: f32) -> f32 { unsafe { c::jn(n, x as f64) as f32 } }
    pub fn y0(x: f32) -> f32 { unsafe { c::y0(x as f64) as f32 } }
    pub fn y1(x: f32) -> f32 { unsafe { c::y1(x as f64) as f32 } }
    pub fn yn(n: i32, x: f32) -> f32 { unsafe { c::yn(n, x as f64) as f32 } }
}

/// Faust keeps shared tables in `static mut`s filled by `class_init`; initialising two
/// instances at once from two threads would race on them.
static INIT_LOCK: Mutex<()> = Mutex::new(());
static LAST_PANIC: Mutex<String> = Mutex::new(String::new());
static QUIET_PANICS: Once = Once::new();

/// Panics are reported through return codes; the message is kept for the host instead of
/// being printed (each variant links its own std, so the hook is its alone).
fn quiet_panics() {
    QUIET_PANICS.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            if let Ok(mut last) = LAST_PANIC.try_lock() {
                last.clear();
                let _ = write!(last, "{info}");
            }
        }))
    });
}

/// An instance as zeroed heap memory: for DSPs whose `new()` sets every field to zero (the
/// generator checked), the same value, made without a stack copy of any size. `None` when
/// the memory is not there.
pub fn new_zeroed<T>() -> Option<Box<T>> {
    let layout = std::alloc::Layout::new::<T>();
    if layout.size() == 0 {
        return None;
    }
    // SAFETY: the layout is not empty; all-zero bytes are a valid value of every field.
    unsafe {
        let ptr = std::alloc::alloc_zeroed(layout) as *mut T;
        (!ptr.is_null()).then(|| Box::from_raw(ptr))
    }
}

pub fn new_on_stack<T: FaustDsp>() -> Option<Box<T>> {
    Some(Box::new(T::new()))
}

fn status<T>(result: std::thread::Result<T>) -> i32 {
    if result.is_ok() { 0 } else { 1 }
}

#[no_mangle]
pub extern "C" fn mephisto_abi_version() -> u32 {
    __ABI_VERSION__
}

#[no_mangle]
pub unsafe extern "C" fn mephisto_last_panic(buf: *mut u8, cap: usize) -> usize {
    let Ok(last) = LAST_PANIC.try_lock() else { return 0 };
    let n = last.len().min(cap);
    if !buf.is_null() {
        std::ptr::copy_nonoverlapping(last.as_ptr(), buf, n);
    }
    last.len()
}

/// The host's receiver of the description (see the ABI table in wrapper.rs).
pub type DescribeSink = unsafe extern "C" fn(
    *mut c_void, *const u8, usize, i32, *const f32, usize, *const u8, usize, *const u8, usize,
);

/// Hands every UI call and metadata entry to the host's sink as it comes.
struct Describer {
    ctx: *mut c_void,
    sink: DescribeSink,
}

impl Describer {
    fn call(&mut self, kind: &str, index: i32, values: &[f32], a: &str, b: &str) {
        // SAFETY: every pointer is valid for the call; the host copies what it keeps.
        unsafe {
            (self.sink)(
                self.ctx, kind.as_ptr(), kind.len(), index, values.as_ptr(), values.len(),
                a.as_ptr(), a.len(), b.as_ptr(), b.len(),
            )
        }
    }
}

impl Meta for Describer {
    fn declare(&mut self, key: &str, value: &str) {
        self.call("meta", -1, &[], key, value);
    }
}

impl UI<f32> for Describer {
    fn open_tab_box(&mut self, label: &str) { self.call("open_tab_box", -1, &[], label, ""); }
    fn open_horizontal_box(&mut self, label: &str) { self.call("open_horizontal_box", -1, &[], label, ""); }
    fn open_vertical_box(&mut self, label: &str) { self.call("open_vertical_box", -1, &[], label, ""); }
    fn close_box(&mut self) { self.call("close_box", -1, &[], "", ""); }
    fn add_button(&mut self, label: &str, param: ParamIndex) { self.call("button", param.0, &[], label, ""); }
    fn add_check_button(&mut self, label: &str, param: ParamIndex) { self.call("check_button", param.0, &[], label, ""); }
    fn add_vertical_slider(&mut self, label: &str, param: ParamIndex, init: f32, min: f32, max: f32, step: f32) {
        self.call("vertical_slider", param.0, &[init, min, max, step], label, "");
    }
    fn add_horizontal_slider(&mut self, label: &str, param: ParamIndex, init: f32, min: f32, max: f32, step: f32) {
        self.call("horizontal_slider", param.0, &[init, min, max, step], label, "");
    }
    fn add_num_entry(&mut self, label: &str, param: ParamIndex, init: f32, min: f32, max: f32, step: f32) {
        self.call("num_entry", param.0, &[init, min, max, step], label, "");
    }
    fn add_horizontal_bargraph(&mut self, label: &str, param: ParamIndex, min: f32, max: f32) {
        self.call("horizontal_bargraph", param.0, &[min, max], label, "");
    }
    fn add_vertical_bargraph(&mut self, label: &str, param: ParamIndex, min: f32, max: f32) {
        self.call("vertical_bargraph", param.0, &[min, max], label, "");
    }
    fn declare(&mut self, param: Option<ParamIndex>, key: &str, value: &str) {
        self.call("declare", param.map_or(-1, |p| p.0), &[], key, value);
    }
}

/// A DSP of either kind, as the operations below take it.
pub type Dsp = dyn FaustDsp<T = f32>;

/// Makes a DSP with `construct`; null if it panicked or memory ran out.
pub fn create(construct: fn() -> Option<Box<Dsp>>) -> *mut c_void {
    quiet_panics();
    catch_unwind(|| match construct() {
        Some(dsp) => Box::into_raw(dsp) as *mut c_void,
        None => std::ptr::null_mut(),
    })
    .unwrap_or(std::ptr::null_mut())
}

pub fn destroy(dsp: Box<Dsp>) {
    let _ = catch_unwind(AssertUnwindSafe(|| drop(dsp)));
}

pub fn init(dsp: &mut Dsp, sample_rate: i32) -> i32 {
    let _lock = INIT_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    status(catch_unwind(AssertUnwindSafe(|| dsp.init(sample_rate))))
}

pub fn instance_init(dsp: &mut Dsp, sample_rate: i32) -> i32 {
    status(catch_unwind(AssertUnwindSafe(|| dsp.instance_init(sample_rate))))
}

pub fn instance_constants(dsp: &mut Dsp, sample_rate: i32) -> i32 {
    status(catch_unwind(AssertUnwindSafe(|| dsp.instance_constants(sample_rate))))
}

pub fn instance_reset_params(dsp: &mut Dsp) -> i32 {
    status(catch_unwind(AssertUnwindSafe(|| dsp.instance_reset_params())))
}

pub fn instance_clear(dsp: &mut Dsp) -> i32 {
    status(catch_unwind(AssertUnwindSafe(|| dsp.instance_clear())))
}

pub fn num_inputs(dsp: &Dsp) -> i32 {
    catch_unwind(AssertUnwindSafe(|| dsp.get_num_inputs())).unwrap_or(-1)
}

pub fn num_outputs(dsp: &Dsp) -> i32 {
    catch_unwind(AssertUnwindSafe(|| dsp.get_num_outputs())).unwrap_or(-1)
}

pub fn sample_rate(dsp: &Dsp) -> i32 {
    catch_unwind(AssertUnwindSafe(|| dsp.get_sample_rate())).unwrap_or(-1)
}

pub fn set_param(dsp: &mut Dsp, index: i32, value: f32) -> i32 {
    status(catch_unwind(AssertUnwindSafe(|| dsp.set_param(ParamIndex(index), value))))
}

pub unsafe fn get_param(dsp: &Dsp, index: i32, value: *mut f32) -> i32 {
    match catch_unwind(AssertUnwindSafe(|| dsp.get_param(ParamIndex(index)))) {
        Ok(Some(v)) => {
            *value = v;
            0
        }
        Ok(None) => 2,
        Err(_) => 1,
    }
}

pub unsafe fn compute(
    dsp: &mut Dsp,
    count: i32,
    inputs: *const *const f32,
    outputs: *const *mut f32,
) -> i32 {
    let frames = count.max(0) as usize;
    let result = catch_unwind(AssertUnwindSafe(|| {
        let ins = dsp.get_num_inputs().max(0) as usize;
        let outs = dsp.get_num_outputs().max(0) as usize;
        if ins > MAX_CHANNELS || outs > MAX_CHANNELS {
            return 2;
        }
        let mut in_slices: [&[f32]; MAX_CHANNELS] = [&[]; MAX_CHANNELS];
        for (i, slot) in in_slices.iter_mut().enumerate().take(ins) {
            *slot = std::slice::from_raw_parts(*inputs.add(i), frames);
        }
        let mut out_slices: [&mut [f32]; MAX_CHANNELS] = Default::default();
        for (i, slot) in out_slices.iter_mut().enumerate().take(outs) {
            *slot = std::slice::from_raw_parts_mut(*outputs.add(i), frames);
        }
        dsp.compute(frames as i32, &in_slices[..ins], &mut out_slices[..outs]);
        0
    }));
    result.unwrap_or(1)
}

/// Describes a DSP type: its UI (`build`, the type's `build_user_interface_static`) and the
/// metadata of an instance `construct` makes.
pub fn describe(
    ctx: *mut c_void,
    sink: DescribeSink,
    build: fn(&mut dyn UI<f32>),
    construct: fn() -> Option<Box<Dsp>>,
) -> i32 {
    quiet_panics();
    status(catch_unwind(AssertUnwindSafe(|| {
        let mut describer = Describer { ctx, sink };
        build(&mut describer);
        if let Some(dsp) = construct() {
            dsp.metadata(&mut describer);
        }
    })))
}
"#;

/// The head of each variant's crate (after it, the DSP modules and their exports).
const VARIANT_HEAD: &str = r#"// Generated by Mephisto around the Faust compiler's Rust output. Do not edit.
#![allow(warnings)]

use std::ffi::c_void;

use mephisto_prelude::faust_types::FaustDsp;
use mephisto_prelude::*;

#[no_mangle]
pub extern "C" fn mephisto_has_effect() -> u32 {
    __HAS_EFFECT__
}
"#;

const DSP_TEMPLATE: &str = r#"
/// The DSP `dsp` points at (made by `mephisto___NAME___create`).
unsafe fn __NAME___at<'a>(dsp: *mut c_void) -> &'a mut Dsp {
    &mut *(dsp as *mut __TYPE__)
}

fn __NAME___new() -> Option<Box<Dsp>> {
    __CONSTRUCT__::<__TYPE__>().map(|dsp| dsp as Box<Dsp>)
}

#[no_mangle]
pub extern "C" fn mephisto___NAME___state_bytes() -> usize {
    std::mem::size_of::<__TYPE__>()
}

#[no_mangle]
pub extern "C" fn mephisto___NAME___create() -> *mut c_void {
    create(__NAME___new)
}

#[no_mangle]
pub unsafe extern "C" fn mephisto___NAME___destroy(dsp: *mut c_void) {
    if !dsp.is_null() {
        destroy(Box::from_raw(dsp as *mut __TYPE__));
    }
}

#[no_mangle]
pub unsafe extern "C" fn mephisto___NAME___init(dsp: *mut c_void, sample_rate: i32) -> i32 {
    init(__NAME___at(dsp), sample_rate)
}

#[no_mangle]
pub unsafe extern "C" fn mephisto___NAME___instance_init(dsp: *mut c_void, sample_rate: i32) -> i32 {
    instance_init(__NAME___at(dsp), sample_rate)
}

#[no_mangle]
pub unsafe extern "C" fn mephisto___NAME___instance_constants(dsp: *mut c_void, sample_rate: i32) -> i32 {
    instance_constants(__NAME___at(dsp), sample_rate)
}

#[no_mangle]
pub unsafe extern "C" fn mephisto___NAME___instance_reset_params(dsp: *mut c_void) -> i32 {
    instance_reset_params(__NAME___at(dsp))
}

#[no_mangle]
pub unsafe extern "C" fn mephisto___NAME___instance_clear(dsp: *mut c_void) -> i32 {
    instance_clear(__NAME___at(dsp))
}

#[no_mangle]
pub unsafe extern "C" fn mephisto___NAME___num_inputs(dsp: *mut c_void) -> i32 {
    num_inputs(__NAME___at(dsp))
}

#[no_mangle]
pub unsafe extern "C" fn mephisto___NAME___num_outputs(dsp: *mut c_void) -> i32 {
    num_outputs(__NAME___at(dsp))
}

#[no_mangle]
pub unsafe extern "C" fn mephisto___NAME___sample_rate(dsp: *mut c_void) -> i32 {
    sample_rate(__NAME___at(dsp))
}

#[no_mangle]
pub unsafe extern "C" fn mephisto___NAME___set_param(dsp: *mut c_void, index: i32, value: f32) -> i32 {
    set_param(__NAME___at(dsp), index, value)
}

#[no_mangle]
pub unsafe extern "C" fn mephisto___NAME___get_param(dsp: *mut c_void, index: i32, value: *mut f32) -> i32 {
    get_param(__NAME___at(dsp), index, value)
}

#[no_mangle]
pub unsafe extern "C" fn mephisto___NAME___compute(
    dsp: *mut c_void,
    count: i32,
    inputs: *const *const f32,
    outputs: *const *mut f32,
) -> i32 {
    compute(__NAME___at(dsp), count, inputs, outputs)
}

#[no_mangle]
pub unsafe extern "C" fn mephisto___NAME___describe(ctx: *mut c_void, sink: DescribeSink) -> i32 {
    describe(ctx, sink, <__TYPE__>::build_user_interface_static, __NAME___new)
}
"#;
