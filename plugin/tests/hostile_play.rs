//! Hostile patches in the plugin's own path: a PatchSpec from a shared project or a model
//! that tries to read a local file, blow up the memory, desync the screen or play for ever
//! reaches the worker while a note is held on the live patch. Each must fail with a clear
//! message, leave the previous patch playing (the held note still sounds) and never put the
//! planted file's content in front of the producer. Needs `faust` and `rustc` on `PATH`.

mod support;

use mephisto_designer::{Failure, Stage};
use mephisto_rt::engine::EngineEvent;
use support::rig::{spec, Rig, SINE};

const PREVIOUS: &str = "previous_sine";
const CANARY_WORD: &str = "canaryplugin91c2";

#[test]
fn hostile_specs_fail_and_the_previous_patch_keeps_playing() {
    let mut rig = Rig::new("hostile", |_| {});
    rig.worker.play(spec(PREVIOUS, SINE));
    let status = rig.until_settled();
    assert!(matches!(status.stage, Stage::Live { .. }), "{status:?}");
    for _ in 0..200 {
        if rig.engine.current().name == PREVIOUS && !rig.engine.is_swapping() {
            break;
        }
        rig.block();
    }
    rig.engine.handle(EngineEvent::NoteOn {
        note: 57,
        velocity: 0.8,
    });
    rig.seconds(0.1);
    assert!(rig.rms_of_last(0.05) > 0.05, "the held note sounds");

    let canary = std::env::temp_dir().join(format!("mephisto-canary-{}.lib", std::process::id()));
    std::fs::write(
        &canary,
        format!("{CANARY_WORD} = 1;\nprocess = {CANARY_WORD};\n"),
    )
    .unwrap();
    let canary = canary.display().to_string();
    let attacks = [
        ("local import", format!("import(\"{canary}\");\nprocess = 0;"), "refused"),
        (
            "backslash desync",
            format!("t = hslider(\"t\\\", 0, 0, 1, 0.1);\nimport(\"{canary}\");\nprocess = t;"),
            "refused",
        ),
        (
            "memory bomb",
            "process = rwtable(1000000000, 0.0, 0, _, 0) * button(\"gate\");".to_string(),
            "refused: the patch needs",
        ),
        (
            "a voice that never ends",
            "import(\"stdfaust.lib\");\nprocess = os.osc(hslider(\"freq\", 440, 20, 20000, 1)) * 0.1;".to_string(),
            "voices never end",
        ),
        (
            "constant output",
            "process = 0.3 * button(\"gate\");".to_string(),
            "only a constant level",
        ),
    ];
    for (name, faust, expected) in attacks {
        rig.worker.play(spec(name, &faust));
        let status = rig.until_settled();
        let Stage::Failed(Failure { message, .. }) = &status.stage else {
            panic!("{name}: expected a failure, got {status:?}");
        };
        assert!(message.contains(expected), "{name}: {message}");
        assert!(!message.contains(CANARY_WORD), "{name}: {message}");
        rig.seconds(0.2);
        assert_eq!(rig.engine.current().name, PREVIOUS, "{name}");
        assert!(
            rig.rms_of_last(0.1) > 0.05,
            "{name}: the held note still sounds on the previous patch"
        );
    }
    let _ = std::fs::remove_file(&canary);
}
