//! Runtime compilation end to end: screening, `faust` + `rustc` into a loaded variant, the
//! engine playing it, the cache, and the error messages for broken programs and toolchains.
//! Needs `faust` and `rustc` on `PATH` (scripts/setup.sh installs them).

use std::path::PathBuf;
use std::time::Duration;

use mephisto_compiler::{CompileError, CompiledVariant, Compiler, CompilerOptions};
use mephisto_dsp::controls::ControlSet;
use mephisto_rt::instance::{PatchInstance, CHUNK};

const INSTRUMENT: &str = r#"import("stdfaust.lib");
process = os.osc(hslider("freq",440,20,2000,1))*hslider("gain",0.5,0,1,0.01)*button("gate");
"#;

const WITH_EFFECT: &str = r#"import("stdfaust.lib");
freq = hslider("freq", 440, 20, 2000, 1);
gain = hslider("gain", 0.5, 0, 1, 0.01);
gate = button("gate");
process = os.sawtooth(freq) * en.asr(0.001, 1, 0.1, gate) * gain;
effect = par(i, 2, _ <: *(1 - mix), (@(100) : *(mix)) :> _)
with {
    mix = hslider("mix[bright:0.5]", 0.5, 0, 1, 0.01);
};
"#;

/// A compiler with its own cache folder (removed on drop), so tests never see each
/// other's variants.
struct Sandbox {
    compiler: Compiler,
    dir: PathBuf,
}

impl Sandbox {
    fn new(name: &str, adjust: impl FnOnce(&mut CompilerOptions)) -> Sandbox {
        let dir = std::env::temp_dir().join(format!(
            "mephisto-compiler-test-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let mut options = CompilerOptions {
            cache_dir: Some(dir.clone()),
            ..CompilerOptions::default()
        };
        adjust(&mut options);
        Sandbox {
            compiler: Compiler::new(options),
            dir,
        }
    }

    fn compile(&self, source: &str) -> Result<CompiledVariant, CompileError> {
        self.compiler.compile(source)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Plays one note for `seconds` and returns the rendered left channel.
fn play(instance: &mut PatchInstance, seconds: f32) -> Vec<f32> {
    instance.note_on(0, 440.0, 0.8);
    let mut out = Vec::new();
    let chunks = (seconds * 48_000.0) as usize / CHUNK;
    for _ in 0..chunks {
        let (left, _) = instance
            .render(CHUNK)
            .expect("the DSP produced NaN or infinity");
        out.extend_from_slice(left);
    }
    out
}

#[test]
fn a_small_instrument_compiles_plays_and_is_cached() {
    let compiler = Sandbox::new("instrument", |_| {});
    let variant = compiler
        .compile(INSTRUMENT)
        .expect("the instrument compiles");
    assert!(!variant.from_cache());
    assert!(!variant.has_effect());
    assert_eq!((variant.voice_inputs(), variant.voice_outputs()), (0, 1));
    let times = variant.times();
    eprintln!("cold compile: {times:?}, total {:?}", times.total());

    let voice = variant.new_voice();
    let controls = ControlSet::of(voice.as_ref()).unwrap();
    let labels: Vec<&str> = controls.controls.iter().map(|c| c.label.as_str()).collect();
    assert_eq!(labels, ["freq", "gain", "gate"]);
    assert_eq!(controls.find("freq").unwrap().max, 2000.0);

    let mut instance = variant.instantiate("instrument", 4, 48_000.0).unwrap();
    let audio = play(&mut instance, 0.1);
    assert!(audio.iter().all(|s| s.is_finite()));
    let peak = audio.iter().fold(0.0f32, |p, s| p.max(s.abs()));
    assert!(peak > 0.1 && peak <= 1.0, "peak {peak}");
    assert!(!variant.panicked());

    let again = compiler.compile(INSTRUMENT).unwrap();
    assert!(again.from_cache());
    assert_eq!(again.key(), variant.key());
    eprintln!("cached compile: {:?}", again.times().total());

    // A fresh compiler (a new session) finds the entry on disk, too.
    let fresh = Compiler::new(compiler.compiler.options().clone());
    assert!(fresh.compile(INSTRUMENT).unwrap().from_cache());
}

#[test]
fn two_compilers_racing_on_one_key_both_succeed() {
    fn shareable<T: Send + Sync>(_: &T) {}
    let sandbox = Sandbox::new("race", |_| {});
    let source =
        "import(\"stdfaust.lib\");\nprocess = os.triangle(hslider(\"freq\", 220, 20, 2000, 1));\n";
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let compiler = Compiler::new(sandbox.compiler.options().clone());
                    compiler.compile(source)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for result in &results {
        let variant = result.as_ref().expect("both compiles succeed");
        shareable(variant);
        let mut dsp = variant.new_voice();
        dsp.init(48_000);
        let mut out = [0.0f32; 256];
        dsp.compute(256, &[], &mut [&mut out]);
        assert!(out.iter().any(|s| s.abs() > 0.01));
    }
    assert_eq!(
        results[0].as_ref().unwrap().key(),
        results[1].as_ref().unwrap().key()
    );
    // Only the published entry remains besides the compilers' identity records (one per
    // compiler): no staging folders or half-written records are left behind.
    let names: Vec<String> = std::fs::read_dir(&sandbox.dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let (records, entries): (Vec<&String>, Vec<&String>) =
        names.iter().partition(|n| n.starts_with(".toolchain-"));
    // The wrapper's prelude, which both built at once, also has one entry.
    let preludes: Vec<String> = std::fs::read_dir(sandbox.dir.join("prelude"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(preludes.len(), 1, "{preludes:?}");
    assert!(!preludes[0].starts_with('.'), "{preludes:?}");
    let entries: Vec<&String> = entries.into_iter().filter(|n| *n != "prelude").collect();
    assert_eq!(entries.len(), 1, "{names:?}");
    assert!(!entries[0].starts_with('.'), "{names:?}");
    assert!(records.iter().all(|n| !n.contains("tmp")), "{names:?}");
    assert!(records.len() <= 2, "{names:?}");
}

#[test]
fn a_program_with_an_effect_gets_its_effect() {
    let compiler = Sandbox::new("effect", |_| {});
    let variant = compiler.compile(WITH_EFFECT).expect("the patch compiles");
    assert!(variant.has_effect());
    let effect = variant.new_effect().unwrap();
    assert_eq!((effect.get_num_inputs(), effect.get_num_outputs()), (2, 2));
    let controls = ControlSet::of(effect.as_ref()).unwrap();
    assert!(controls.find("mix").is_some());

    // PatchInstance::new takes the constructors as they are.
    let mut instance = PatchInstance::new(
        "with effect",
        || variant.new_voice(),
        Some(|| variant.new_effect().unwrap()),
        2,
        48_000.0,
    )
    .unwrap();
    let audio = play(&mut instance, 0.05);
    assert!(audio.iter().any(|s| s.abs() > 0.01));
}

#[test]
fn a_stereo_voice_and_an_effect_program_are_accepted() {
    let compiler = Sandbox::new("channels", |_| {});
    let stereo = compiler
        .compile("import(\"stdfaust.lib\");\nprocess = os.osc(440) <: _, _;\n")
        .unwrap();
    assert_eq!(stereo.voice_outputs(), 2);
    let effect_program = compiler.compile("process = _, _ : +;").unwrap();
    assert_eq!(effect_program.voice_inputs(), 2);

    let err = compiler.compile("process = 0, 0, 0;").unwrap_err();
    assert_eq!(
        err.to_string(),
        "refused: `process` has 3 outputs (it must have 1 or 2)"
    );
}

#[test]
fn screening_refuses_with_the_line() {
    let compiler = Sandbox::new("screen", |_| {});
    let cases = [
        (
            "process = ffunction(float sinf(float), <math.h>, \"\");",
            "refused: `ffunction` at line 1 (calling C functions is not allowed in patches)",
        ),
        (
            "x = 1;\nprocess = fconstant(int fSamplingFreq, <math.h>);",
            "refused: `fconstant` at line 2 (reading C constants is not allowed in patches)",
        ),
        (
            "\n\nprocess = fvariable(int count, <math.h>);",
            "refused: `fvariable` at line 3 (reading C variables is not allowed in patches)",
        ),
        (
            "process = 0,0 : soundfile(\"s\", 1) : !, !, _;",
            "refused: `soundfile` at line 1 (patches cannot load sound files)",
        ),
        (
            "import(\"../secrets.lib\");\nprocess = _;",
            "refused: `import(\"../secrets.lib\")` at line 1 (only the standard Faust libraries and mephisto.lib can be used)",
        ),
        (
            "x = library(\"/tmp/evil.lib\");\nprocess = _;",
            "refused: `library(\"/tmp/evil.lib\")` at line 1 (only the standard Faust libraries and mephisto.lib can be used)",
        ),
        (
            "// a comment\nprocess = component(\"freeverb.dsp\");",
            "refused: `component(\"freeverb.dsp\")` at line 2 (only the standard Faust libraries and mephisto.lib can be used)",
        ),
    ];
    for (source, expected) in cases {
        let err = compiler.compile(source).unwrap_err();
        assert!(matches!(err, CompileError::Refused(_)), "{err:?}");
        assert_eq!(err.to_string(), expected);
    }
    let huge = format!("process = 0;\n{}", "// padding\n".repeat(7000));
    assert!(compiler
        .compile(&huge)
        .unwrap_err()
        .to_string()
        .contains("over the 64 KiB limit"));
}

#[test]
fn comments_and_strings_are_not_refused() {
    let compiler = Sandbox::new("harmless", |_| {});
    let source = r#"// ffunction soundfile import("x.lib")
/* fconstant
   fvariable */
import("stdfaust.lib");
mp = library("mephisto.lib");
process = os.osc(hslider("soundfile ffunction", 440, 20, 2000, 1)) * button("gate");
"#;
    compiler
        .compile(source)
        .expect("nothing in the program is refused");
}

#[test]
fn a_syntax_error_names_the_faust_line() {
    let compiler = Sandbox::new("syntax", |_| {});
    let err = compiler
        .compile("import(\"stdfaust.lib\");\nfreq = 440;\nprocess = os.osc(freq) +;\n")
        .unwrap_err();
    assert!(matches!(err, CompileError::Faust { .. }), "{err:?}");
    assert!(err.to_string().contains("line 3"), "{err}");
    assert_eq!(
        err.program_lines()
            .iter()
            .map(|l| l.line)
            .collect::<Vec<_>>(),
        [3],
        "the window marks line 3 without reading the message"
    );

    let err = compiler
        .compile("import(\"stdfaust.lib\");\nprocess = os.oscx(440);\n")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Faust error at line 2: undefined symbol : oscx"
    );
}

#[test]
fn missing_compilers_are_named() {
    let compiler = Sandbox::new("no-faust", |o| {
        o.faust_path = Some("/nonexistent/bin/faust".into())
    });
    let err = compiler.compile(INSTRUMENT).unwrap_err();
    assert!(
        matches!(
            err,
            CompileError::MissingTool {
                tool: Some(mephisto_compiler::ToolKind::Faust),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "cannot find the Faust compiler at `/nonexistent/bin/faust`: install it with `apt-get install faust` or set its path in Settings"
    );

    let compiler = Sandbox::new("no-rustc", |o| {
        o.rustc_path = Some("/nonexistent/bin/rustc".into())
    });
    let err = compiler.compile(INSTRUMENT).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot find the Rust compiler at `/nonexistent/bin/rustc`: install it (rustup, or `apt-get install rustc`) or set its path in Settings"
    );
}

#[test]
fn compilers_that_run_too_long_are_stopped() {
    let compiler = Sandbox::new("faust-timeout", |o| {
        o.faust_time_limit = Duration::from_millis(1)
    });
    let err = compiler.compile(INSTRUMENT).unwrap_err();
    assert!(matches!(err, CompileError::Timeout { .. }), "{err:?}");
    assert!(err
        .to_string()
        .starts_with("the Faust compilation timed out after 0.001 s"));

    // The first compile with a toolchain also builds the wrapper's prelude: that rustc run
    // is stopped too.
    let compiler = Sandbox::new("rustc-timeout", |o| {
        o.rustc_time_limit = Duration::from_millis(1)
    });
    let err = compiler.compile(INSTRUMENT).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("the Rust compilation of the wrapper's prelude timed out after 0.001 s"),
        "{err}"
    );
    // With the prelude built (same cache, another program), the variant's own rustc run.
    let options = compiler.compiler.options().clone();
    let patient = Compiler::new(CompilerOptions {
        rustc_time_limit: CompilerOptions::default().rustc_time_limit,
        ..options.clone()
    });
    patient
        .compile(WITH_EFFECT)
        .expect("the prelude and a variant build");
    let err = Compiler::new(options).compile(INSTRUMENT).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("the Rust compilation timed out after 0.001 s"),
        "{err}"
    );
}

#[test]
fn a_dsp_that_panics_goes_silent_and_says_so() {
    let compiler = Sandbox::new("panic", |_| {});
    // Rust panics on an integer remainder by zero, which this program computes once
    // `divisor` is 0.
    let variant = compiler
        .compile(
            "process = int(hslider(\"a\", 7, 0, 10, 1)) % int(hslider(\"divisor\", 3, 0, 10, 1));",
        )
        .unwrap();
    let mut dsp = variant.new_voice();
    dsp.init(48_000);
    let controls = ControlSet::of(dsp.as_ref()).unwrap();
    let mut out = vec![0.0f32; 64];
    dsp.compute(64, &[], &mut [&mut out]);
    assert_eq!(out[0], 1.0);
    assert!(!variant.panicked());

    dsp.set_param(controls.find("divisor").unwrap().param(), 0.0);
    out.fill(0.5);
    dsp.compute(64, &[], &mut [&mut out]);
    assert!(variant.panicked());
    assert!(out.iter().all(|&s| s == 0.0));
    let message = variant.panic_message().unwrap();
    assert!(message.contains("remainder"), "{message}");
    // It stays silent rather than running broken state again.
    out.fill(0.5);
    dsp.compute(64, &[], &mut [&mut out]);
    assert!(out.iter().all(|&s| s == 0.0));
}

/// With `assert_process_allocs` the test's allocator aborts on an allocation inside
/// `assert_no_alloc` (nice-plug installs the same one in the plugin).
#[cfg(all(feature = "assert_process_allocs", debug_assertions))]
#[global_allocator]
static ALLOCATOR: nice_assert_no_alloc::AllocDisabler = nice_assert_no_alloc::AllocDisabler;

/// With `assert_process_allocs` (as CI runs the tests), any allocation inside
/// `assert_no_alloc` aborts: playing a compiled variant must not allocate.
#[cfg(all(feature = "assert_process_allocs", debug_assertions))]
#[test]
fn playing_a_compiled_variant_allocates_nothing() {
    let sandbox = Sandbox::new("no-alloc", |_| {});
    let variant = sandbox.compile(WITH_EFFECT).unwrap();
    let mut instance = variant.instantiate("no alloc", 4, 48_000.0).unwrap();
    let peak = nice_assert_no_alloc::assert_no_alloc(|| {
        let mut peak = 0.0f32;
        for voice in 0..4 {
            instance.note_on(voice, 220.0 * (voice + 1) as f32, 0.5);
        }
        for _ in 0..20 {
            if let Some((left, right)) = instance.render(CHUNK) {
                peak = left.iter().chain(right).fold(peak, |p, s| p.max(s.abs()));
            }
        }
        instance.note_off(0);
        instance.reset();
        peak
    });
    assert!(peak > 0.01);
}

/// `mephisto.lib`'s table sines (an integer phase, one cycle = 2^30) hold their frequency
/// and start phase over seconds: sample `k` is sin(2π((k + 1)·f/SR + p0)) to within a table
/// step plus what the increment's rounding can add up to (f/SR is computed in `f32`, then
/// scaled and truncated: under (f/SR)·2^-23 + 2^-30 cycles a sample), for a start phase, a
/// phase modulation either way, a wrapped start phase, a low and a high frequency. A float
/// phase ramp also rounds each sum, which drifts past this bound within the two seconds.
#[test]
fn table_sines_keep_frequency_and_phase() {
    use std::f64::consts::TAU;
    const SR: f64 = 48_000.0;
    let sandbox = Sandbox::new("table-sines", |_| {});
    let programs: [(&str, [(f64, f64); 2]); 2] = [
        (
            "process = mp.sinep(1000, 0.25), mp.fmop(1000, -0.25);",
            [(1000.0, 0.25), (1000.0, -0.25)],
        ),
        (
            "process = mp.sinep(30, 1.9), mp.sine(21000.5);",
            [(30.0, 0.9), (21000.5, 0.0)],
        ),
    ];
    for (process, expected) in programs {
        let source = format!("mp = library(\"mephisto.lib\");\n{process}\n");
        let variant = sandbox.compile(&source).expect("the program compiles");
        let mut dsp = variant.new_voice();
        dsp.init(SR as i32);
        let (mut left, mut right) = ([0.0f32; 480], [0.0f32; 480]);
        let mut worst = [0.0f64; 2]; // the largest error as a share of its bound
        for block in 0..200 {
            dsp.compute(480, &[], &mut [&mut left, &mut right]);
            for (channel, out) in [&left, &right].into_iter().enumerate() {
                let (f, p0) = expected[channel];
                for (i, &sample) in out.iter().enumerate() {
                    let k = (block * 480 + i) as f64;
                    let phase = ((k + 1.0) * f / SR + p0).rem_euclid(1.0);
                    let error = (sample as f64 - (TAU * phase).sin()).abs();
                    let drift = (k + 1.0) * (f / SR * 2f64.powi(-23) + 2f64.powi(-30));
                    let bound = TAU * (1.0 / 65536.0 + drift + 2f64.powi(-22));
                    worst[channel] = worst[channel].max(error / bound);
                }
            }
        }
        for (channel, error) in worst.into_iter().enumerate() {
            assert!(
                error <= 1.0,
                "`{process}` output {channel}: off by {error:.2} times the bound within 2 s"
            );
        }
    }
}
