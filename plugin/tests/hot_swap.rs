//! Runtime variants reaching the audio thread: the worker compiles Faust programs, the
//! audio-side switcher swaps them in with a crossfade while notes are held, failures leave
//! the playing patch alone, and the audio side allocates nothing throughout.

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use mephisto::stored::Stored;
use mephisto_compiler::CompilerOptions;
use mephisto_designer::Failure;
use mephisto_designer::Stage;
use mephisto_designer::{DesignRequest, Designer};
use mephisto_dsp::macros::{Macro, NEUTRAL_MACROS};
use mephisto_patch::{BuildSpec, PatchSpec};
use mephisto_rt::engine::EngineEvent;
use support::rig::{spec, Rig, PATIENCE, SINE, SR};

const TRIANGLE: &str = r#"import("stdfaust.lib");
process = os.triangle(hslider("freq", 440, 20, 20000, 0.01)) * hslider("gain", 0.5, 0, 1, 0.01)
        * en.asr(0.005, 1, 0.05, button("gate")) * 0.5;"#;

/// Panics (integer remainder by zero) once Grit goes below 0.5, which sends `divisor` to 0.
const PANICS_WITH_GRIT: &str = r#"import("stdfaust.lib");
divisor = int(hslider("divisor[grit:1]", 3, 0, 10, 1));
process = os.osc(hslider("freq", 440, 20, 20000, 0.01)) * hslider("gain", 0.5, 0, 1, 0.01)
        * en.asr(0.005, 1, 0.05, button("gate")) * (1 + float(7 % divisor) * 0.0001);"#;

/// What these tests add to the shared rig.
impl Rig {
    /// Plays `faust` and renders until it is the engine's patch.
    fn go_live(&mut self, name: &str, faust: &str) {
        self.worker.play(spec(name, faust));
        let status = self.until_settled().stage;
        assert!(matches!(status, Stage::Live { .. }), "{status:?}");
        let started = Instant::now();
        while self.engine.current().name != name || self.engine.is_swapping() {
            self.block();
            assert!(started.elapsed() < PATIENCE);
        }
    }
}

fn largest_step(samples: &[f32]) -> f32 {
    samples
        .windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(0.0, f32::max)
}

#[test]
fn swapping_variants_under_a_held_note_is_continuous() {
    let mut rig = Rig::new("continuity", |_| {});
    rig.go_live("sine", SINE);
    rig.engine.handle(EngineEvent::NoteOn {
        note: 69,
        velocity: 0.8,
    });
    rig.seconds(0.3);
    let sine_alone = largest_step(&rig.recording[rig.recording.len() - 9600..]);

    let swap_start = rig.recording.len();
    rig.go_live("triangle", TRIANGLE);
    rig.seconds(0.3);
    let triangle_alone = largest_step(&rig.recording[rig.recording.len() - 9600..]);
    let across_swap = largest_step(&rig.recording[swap_start - 1..]);
    // During an equal-power crossfade the output is a·cos + b·sin, whose step is at most
    // √2 times the larger of the two patches' own steps (when they are in phase) plus the
    // fade's own slope; a click (a hard cut between them) jumps by up to their difference,
    // here ≈ 0.3.
    let fade_slope = 0.4 * std::f32::consts::FRAC_PI_2 / (0.03 * SR);
    assert!(
        across_swap <= sine_alone.max(triangle_alone) * std::f32::consts::SQRT_2 + fade_slope,
        "a jump of {across_swap} across the swap; the patches alone jump {sine_alone} and {triangle_alone}"
    );
    assert!(
        rig.rms_of_last(0.1) > 0.05,
        "the held note carried over to the new patch"
    );
    // The worker notices what plays on its next tick and saves that program.
    rig.until("the project saves the triangle", |rig| {
        rig.worker
            .shared()
            .saved
            .read()
            .value()
            .and_then(|s| s.as_ref().map(|s| s.name.clone()))
            == Some("triangle".into())
    });

    // Moving the host's patch selector brings a built-in back and forgets the variant.
    rig.selected = 2;
    rig.seconds(0.2);
    assert_eq!(rig.engine.current().builtin_index, Some(2));
    rig.until("the project forgets the variant", |rig| {
        *rig.worker.shared().saved.read() == Stored::Value(None)
    });
}

#[test]
fn bad_programs_fail_clearly_and_the_playing_patch_keeps_playing() {
    let mut rig = Rig::new("failures", |_| {});
    rig.go_live("sine", SINE);
    rig.engine.handle(EngineEvent::NoteOn {
        note: 60,
        velocity: 0.8,
    });
    rig.seconds(0.1);
    let oversized = format!("process = 0;\n// {}", "x".repeat(70 * 1024));
    let cases = [
        ("uses fconstant", "import(\"stdfaust.lib\");\nsr = fconstant(int fSamplingFreq, <math.h>);\nprocess = sr;", "`fconstant` at line 2"),
        ("uses fvariable", "process = fvariable(int count, <math.h>);", "`fvariable` at line 1"),
        ("uses soundfile", "process = 0,0 : soundfile(\"x[url:{'a.wav'}]\", 1) : !,!,_;", "`soundfile` at line 1"),
        ("imports a file", "import(\"../secrets.lib\");\nprocess = 0;", "import(\"../secrets.lib\")"),
        ("loads a library", "x = library(\"/tmp/evil.lib\");\nprocess = 0;", "library(\"/tmp/evil.lib\")"),
        ("loads a component", "process = component(\"freeverb.dsp\");", "component(\"freeverb.dsp\")"),
        ("too long", oversized.as_str(), "64 KiB"),
        (
            "uses ffunction",
            "process = ffunction(float sinf(float), <math.h>, \"\");",
            "`ffunction` at line 1",
        ),
        (
            "syntax error",
            "import(\"stdfaust.lib\");\nprocess = os.osc(440) +;",
            "line 2",
        ),
        ("four outputs", "process = 0.1, 0.1, 0.1, 0.1;", "outputs"),
        (
            "blows up",
            "process = button(\"gate\") * hslider(\"freq\", 440, 20, 20000, 0.01) * 1e30 * 1e30;",
            "NaN/Inf",
        ),
    ];
    for (name, faust, expected) in cases {
        rig.worker.play(spec(name, faust));
        match rig.until_settled().stage {
            Stage::Failed(Failure { message, .. }) => {
                assert!(message.contains(expected), "{name}: {message}")
            }
            other => panic!("{name}: expected a failure, got {other:?}"),
        }
        rig.seconds(0.1);
        assert_eq!(rig.engine.current().name, "sine", "{name}");
        assert!(
            rig.rms_of_last(0.05) > 0.05,
            "{name}: the old patch keeps playing"
        );
    }
}

/// A change to the compiler settings, made before the worker starts.
type Adjustment = Box<dyn FnOnce(&mut CompilerOptions)>;

#[test]
fn missing_compilers_and_time_outs_are_explained() {
    let cases: [(&str, Adjustment, &str); 3] = [
        (
            "no-faust",
            Box::new(|o| o.faust_path = Some(PathBuf::from("/nonexistent/faust"))),
            "Faust compiler",
        ),
        (
            "no-rustc",
            Box::new(|o| o.rustc_path = Some(PathBuf::from("/nonexistent/rustc"))),
            "rustc",
        ),
        (
            "slow",
            Box::new(|o| o.rustc_time_limit = Duration::from_millis(1)),
            "timed out",
        ),
    ];
    for (name, adjust, expected) in cases {
        let mut rig = Rig::new(name, adjust);
        rig.engine.handle(EngineEvent::NoteOn {
            note: 60,
            velocity: 0.8,
        });
        rig.worker.play(spec(name, SINE));
        match rig.until_settled().stage {
            Stage::Failed(Failure { message, .. }) => {
                assert!(message.contains(expected), "{name}: {message}")
            }
            other => panic!("{name}: expected a failure, got {other:?}"),
        }
        rig.seconds(0.1);
        assert_eq!(
            rig.engine.current().builtin_index,
            Some(0),
            "{name}: the built-in keeps playing"
        );
        assert!(rig.rms_of_last(0.05) > 0.001, "{name}");
    }
}

#[test]
fn a_variant_that_panics_is_silenced_and_reported() {
    let mut rig = Rig::new("panic", |_| {});
    rig.go_live("fragile", PANICS_WITH_GRIT);
    rig.engine.handle(EngineEvent::NoteOn {
        note: 60,
        velocity: 0.8,
    });
    rig.seconds(0.1);
    assert!(rig.rms_of_last(0.05) > 0.05);
    let mut macros = NEUTRAL_MACROS;
    macros[Macro::Grit.index()] = 0.0;
    rig.engine.set_macros(macros);
    let started = Instant::now();
    let message = loop {
        rig.block();
        if let Stage::Failed(Failure { message, .. }) = rig.worker.status().stage {
            break message;
        }
        assert!(started.elapsed() < PATIENCE, "the panic was never reported");
    };
    assert!(message.contains("crashed"), "{message}");
    rig.seconds(0.1);
    assert_eq!(rig.rms_of_last(0.05), 0.0, "the crashed patch is silent");
    rig.selected = 1;
    rig.seconds(0.2);
    assert!(rig.rms_of_last(0.05) > 0.0, "another patch plays after it");
}

/// Plays the job's patch to the end and returns the engine's patch name.
fn settle_live(rig: &mut Rig) -> String {
    // Nothing goes live without rendering, so this is the patch from before the job.
    let saved = |rig: &Rig| rig.worker.shared().saved.read().value().cloned().flatten();
    let before = saved(rig);
    let stage = rig.until_settled().stage;
    assert!(matches!(stage, Stage::Live { .. }), "{stage:?}");
    let wanted = rig
        .worker
        .status()
        .patch
        .expect("a live job names its patch");
    rig.until(&format!("{wanted} plays"), |rig| {
        rig.engine.current().name == wanted && !rig.engine.is_swapping()
    });
    // The worker records it on its next tick.
    rig.until("the project saves the new patch", |rig| {
        saved(rig) != before
    });
    wanted
}

#[test]
fn designs_go_live_and_the_history_undoes_redoes_and_compares_them() {
    let mut rig = Rig::new("history", |_| {});
    rig.engine.handle(EngineEvent::NoteOn {
        note: 60,
        velocity: 0.8,
    });
    let start = PatchSpec::from_builtin(0).unwrap();
    // A new patch, designed while the first built-in plays.
    let mut request = DesignRequest::new("dark evolving pad");
    request.current = Some(start.clone());
    rig.worker.design(request, Designer::Offline);
    let first = settle_live(&mut rig);
    assert_eq!(first, "dark_evolving_pad");
    let first_spec = rig
        .worker
        .shared()
        .history
        .read()
        .value()
        .unwrap()
        .current()
        .cloned();
    rig.worker.design(
        DesignRequest::refine("brighter", first_spec.unwrap()),
        Designer::Offline,
    );
    let second = settle_live(&mut rig);
    assert!(rig.rms_of_last(0.05) > 0.001, "the held note sounds on");

    let history = |rig: &Rig| rig.worker.shared().history.read().value().unwrap().clone();
    let h = history(&rig);
    // The built-in the first design started from went live before it, so it is recorded.
    let names: Vec<&str> = h.entries().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [start.name.as_str(), first.as_str(), second.as_str()]
    );
    assert_eq!(h.cursor(), Some(2));

    rig.worker.undo().expect("there is an earlier patch");
    assert_eq!(settle_live(&mut rig), first);
    assert_eq!(history(&rig).cursor(), Some(1));
    assert_eq!(history(&rig).len(), 3, "undo does not add entries");

    rig.worker.redo().expect("there is a later patch");
    assert_eq!(settle_live(&mut rig), second);

    rig.worker.compare().expect("A/B has a second patch");
    assert_eq!(settle_live(&mut rig), first);
    rig.worker.compare().unwrap();
    assert_eq!(settle_live(&mut rig), second);
    assert_eq!(history(&rig).len(), 3);
    assert_eq!(
        rig.worker
            .shared()
            .saved
            .read()
            .value()
            .cloned()
            .flatten()
            .map(|s| s.name),
        Some(second),
        "the project saves the patch playing"
    );
}

/// Sound first, checked after: the offline designer's draft plays while the analysis check
/// runs (the status says so), then the checked design replaces it under the held
/// note and takes over its history entry.
#[test]
fn the_draft_plays_while_the_check_runs_and_the_checked_design_replaces_it() {
    let mut rig = Rig::new("draft", |_| {});
    rig.engine.handle(EngineEvent::NoteOn {
        note: 40,
        velocity: 0.8,
    });
    rig.seconds(0.1);
    let start = PatchSpec::from_builtin(0).unwrap();
    // The headline prompt: the check corrects what its words set (the drive brightens).
    let prompt = "dark detuned bass that growls when I push the mod wheel";
    let mut request = DesignRequest::new(prompt);
    request.current = Some(start.clone());
    rig.worker.design(request, Designer::Offline);
    let name = "dark_detuned_bass_growls";
    rig.until("the draft plays while the check runs", |rig| {
        rig.engine.current().name == name && rig.worker.status().stage == Stage::AnalysisCheck
    });
    let draft = rig.engine.current().variant_id;
    assert!(draft.is_some());
    let stage = rig.until_settled().stage;
    assert!(matches!(stage, Stage::Live { .. }), "{stage:?}");
    rig.until("the checked design replaced the draft", |rig| {
        rig.engine.current().variant_id != draft && !rig.engine.is_swapping()
    });
    assert_eq!(rig.engine.current().name, name);
    assert!(rig.rms_of_last(0.05) > 0.001, "the held note carries over");
    let saved = |rig: &Rig| rig.worker.shared().saved.read().value().cloned().flatten();
    rig.until("the project saves the checked design", |rig| {
        saved(rig).is_some_and(|s| s.name == name)
    });
    let saved = saved(&rig).unwrap();
    let draft_spec =
        mephisto_designer::offline::design_pass(prompt, mephisto_designer::offline::Pass::Draft)
            .unwrap()
            .spec;
    assert_ne!(saved.params, draft_spec.params, "the draft was kept");
    let history = rig.worker.shared().history.read().value().unwrap().clone();
    let names: Vec<&str> = history.entries().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [start.name.as_str(), name],
        "one entry for the design"
    );
    assert_eq!(history.current(), Some(&saved));
}

#[test]
fn state_the_host_loads_after_activation_plays_and_keeps_its_history() {
    use mephisto::history::History;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    let loads = Arc::new(AtomicU64::new(0));
    let counter = loads.clone();
    let mut rig = Rig::with_settings("host-load", |s| s.project_loads = counter);
    rig.engine.handle(EngineEvent::NoteOn {
        note: 60,
        velocity: 0.8,
    });
    rig.seconds(0.1);
    // What a host does when it loads a project into an active plugin (Ardour: activate,
    // then load): the persisted fields are replaced, each load counted.
    let mut designed = PatchSpec::from_builtin(2).unwrap();
    designed.name = "from_the_project".into();
    let mut history = History::default();
    history.record(PatchSpec::from_builtin(1).unwrap());
    history.record(designed.clone());
    let shared = rig.worker.shared().clone();
    *shared.history.write() = Stored::Value(history.clone());
    *shared.saved.write() = Stored::Value(Some(designed.clone()));
    loads.fetch_add(2, Ordering::AcqRel);
    rig.until("the loaded patch plays", |rig| {
        rig.engine.current().name == "from_the_project" && !rig.engine.is_swapping()
    });
    assert!(rig.rms_of_last(0.05) > 0.001, "the held note carries over");
    // The worker records what went live on its next ticks (every 20 ms).
    let live_since = Instant::now();
    rig.until("the worker recorded the live patch", |_| {
        live_since.elapsed() > Duration::from_millis(200)
    });
    assert_eq!(
        shared.history.read().value(),
        Some(&history),
        "the project's history is kept as it was loaded"
    );
    assert_eq!(
        shared.saved.read().value().cloned().flatten(),
        Some(designed)
    );

    // A state that names no designed patch brings the selected built-in back, although
    // the selector did not move.
    *shared.saved.write() = Stored::Value(None);
    loads.fetch_add(1, Ordering::AcqRel);
    let builtin = PatchSpec::from_builtin(rig.selected).unwrap().name;
    rig.until("the selected built-in plays", |rig| {
        rig.engine.current().name == builtin && !rig.engine.is_swapping()
    });
    assert_eq!(rig.engine.current().variant_id, None);
}
