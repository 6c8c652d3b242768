//! What the LLM designer tells the model: the system prompt (Faust conventions, the PatchSpec
//! v1 shape, an example and two built-in patches as style references), the user message for a
//! new patch, the one for refining the current patch, and the repair message that sends
//! compiler and screening diagnostics back.

use serde_json::json;

use mephisto_compiler::MAX_SOURCE_BYTES;
use mephisto_dsp::find_builtin;
use mephisto_dsp::macros::Macro;
use mephisto_patch::spec::ARCHETYPES;
use mephisto_rt::engine::DEFAULT_VOICES;

use crate::llm::ChatMessage;

/// The built-in patches shown as style references: a subtractive pad and an additive bell, so
/// the model sees two different ways of building a voice.
const STYLE_REFERENCES: [&str; 2] = ["warm_pad", "glass_bell"];

/// Diagnostics beyond this are cut from a repair message: the first errors are the useful
/// ones, and a local model's context is small.
const MAX_REPAIR_CHARS: usize = 6000;

/// A complete patch that follows every rule, written with the standard libraries only. It is
/// the example the model is shown, so it must keep compiling (see the tests).
pub const EXAMPLE_FAUST: &str = r#"declare name "rubber_bass";
declare archetype "bass";
declare description "Round, bouncy saw-and-square bass with a snappy filter envelope";

import("stdfaust.lib");

freq = hslider("freq", 110, 20, 20000, 0.01);
gain = hslider("gain", 0.5, 0, 1, 0.01);
gate = button("gate");

cutoff = hslider("cutoff[unit:Hz][scale:log][bright:0.7][warm:-0.2]", 500, 60, 8000, 1) : si.smoo;
resonance = hslider("resonance[bright:0.2][grit:0.2]", 2, 0.7, 8, 0.01) : si.smoo;
env_amount = hslider("env_amount[unit:oct][punch:0.6]", 2.5, 0, 5, 0.01);
decay = hslider("decay[unit:s][scale:log][punch:-0.4]", 0.25, 0.02, 2, 0.001);
square_mix = hslider("square_mix", 0.4, 0, 1, 0.01) : si.smoo;
body = hslider("body[unit:dB][warm:0.8]", 0, -12, 12, 0.1) : si.smoo;
drive = hslider("drive[grit:0.9]", 0.2, 0, 1, 0.01) : si.smoo;
wobble = hslider("wobble[motion:0.8]", 0.1, 0, 1, 0.01) : si.smoo;
release = hslider("release[unit:s][scale:log][space:0.5]", 0.15, 0.01, 3, 0.001);

amp = en.adsr(0.003, decay * 2, 0.8, release, gate);
fenv = en.adsr(0.001, decay, 0, release, gate);
osc = os.sawtooth(freq) * (1 - square_mix) + os.square(freq * 0.5) * square_mix;
fc = min(cutoff * pow(2, env_amount * fenv) * (1 + 0.5 * wobble * os.osc(4)), 0.45 * ma.SR);

process = osc : fi.resonlp(fc, resonance, 1) : fi.peak_eq(body, 300, 250) : ef.cubicnl_nodc(drive, 0) : *(amp * gain * 0.45);

reverb_mix = hslider("reverb_mix[space:0.6]", 0.12, 0, 1, 0.01) : si.smoo;
room = hslider("room[space:0.4]", 0.5, 0, 1, 0.01);

// Freeverb's eight parallel combs have a large gain: its output is scaled down by 0.05.
wet = re.stereo_freeverb(0.7 + 0.28 * room, 0.5, 0.5, 23) : *(0.05 * reverb_mix), *(0.05 * reverb_mix);
effect = _,_ <: *(1 - reverb_mix), *(1 - reverb_mix), wet :> _,_;
"#;

/// The example PatchSpec around [`EXAMPLE_FAUST`], pretty-printed.
pub fn example_spec() -> String {
    let spec = json!({
        "version": 1,
        "name": "rubber_bass",
        "prompt": "bouncy rubbery bass",
        "archetype": "bass",
        "faust": EXAMPLE_FAUST,
        "params": {
            "cutoff": 500.0,
            "resonance": 2.0,
            "env_amount": 2.5,
            "decay": 0.25,
            "square_mix": 0.4,
            "body": 0.0,
            "drive": 0.2,
            "wobble": 0.1,
            "release": 0.15,
            "reverb_mix": 0.12,
            "room": 0.5
        },
        "macros": {
            "warm": [
                {"param": "body", "depth": 0.8, "curve": "linear"},
                {"param": "cutoff", "depth": -0.2, "curve": "linear"}
            ],
            "bright": [
                {"param": "cutoff", "depth": 0.7, "curve": "linear"},
                {"param": "resonance", "depth": 0.2, "curve": "linear"}
            ],
            "grit": [
                {"param": "drive", "depth": 0.9, "curve": "linear"},
                {"param": "resonance", "depth": 0.2, "curve": "linear"}
            ],
            "space": [
                {"param": "reverb_mix", "depth": 0.6, "curve": "linear"},
                {"param": "release", "depth": 0.5, "curve": "linear"},
                {"param": "room", "depth": 0.4, "curve": "linear"}
            ],
            "motion": [
                {"param": "wobble", "depth": 0.8, "curve": "linear"}
            ],
            "punch": [
                {"param": "env_amount", "depth": 0.6, "curve": "linear"},
                {"param": "decay", "depth": -0.4, "curve": "linear"}
            ]
        },
        "voices": 8,
        "notes": "Saw and sub-octave square through a resonant low-pass with a snappy filter \
                  envelope; a low-mid bell for body; light drive; small reverb in the effect."
    });
    serde_json::to_string_pretty(&spec).expect("a json! value always serializes")
}

/// The system prompt for every designer conversation.
pub fn system_prompt() -> String {
    let macros = Macro::ALL
        .iter()
        .map(|m| m.key())
        .collect::<Vec<_>>()
        .join(", ");
    let mut prompt = format!(
        r#"You are the sound designer inside Mephisto, a polyphonic synthesizer plugin. A producer describes a sound; you design it as a Faust program and reply with a PatchSpec: exactly one JSON object, with no text before or after it.

# PatchSpec (version 1)

- "version": 1
- "name": a short snake_case name for the sound, e.g. "glass_shimmer_pad".
- "prompt": the producer's words, as given.
- "archetype": one of {archetypes}.
- "faust": the whole Faust program as one JSON string (escape line breaks as \n and quotes as \").
- "params": initial values by slider label, e.g. {{"cutoff": 1200}}; each within its slider's range. List every slider except freq, gain and gate.
- "macros": for each of {macros}, a list of {{"param": slider label, "depth": -1..1, "curve": "linear"}}. It must say the same as the macro metadata in the Faust source (below).
- "voices": how many notes can sound at once, 1 to {max_voices} (1 for a monophonic lead or bass).
- "notes": one or two sentences on how the sound is built, for the producer.

# The Faust program

- `import("stdfaust.lib");` is the only import. Use the standard library prefixes: os (oscillators), no (noise), fi (filters), en (envelopes), ef (misc effects), de (delays), re (reverbs), si (signals), ba (basics), ma (maths).
- `process` is ONE voice: no audio inputs, 1 (mono) or 2 (stereo) outputs. It reads these three controls, with exactly these labels:
  freq = hslider("freq", 440, 20, 20000, 0.01);   // Hz, set from the MIDI note and pitch bend
  gain = hslider("gain", 0.5, 0, 1, 0.01);        // note velocity
  gate = button("gate");                          // 1 while the key is held, 0 after release
  The voice must fall silent after the gate goes to 0 (a release envelope), and start again cleanly when the gate rises.
- `effect` (optional) is applied once to the sum of all voices: exactly 2 inputs and 2 outputs. Put reverb, chorus and delay there, not in the voice.
- Every other control is an hslider (or nentry/checkbox) with a short snake_case label, a sensible default, range and step, and metadata where it applies: `[unit:Hz]`, `[unit:s]`, `[unit:dB]`, and `[scale:log]` for frequencies and times. Labels are unique across `process` and `effect`. Smooth controls that are heard continuously with `: si.smoo`.
- Keep the level sane: one note at gain 1 should peak around 0.5; nothing may blow up, go silent, or produce NaN at any note from 20 Hz to 5 kHz. Keep filter cutoffs below 0.45 * ma.SR.
- At most {max_kib} KiB of source; a good patch is 1 to 3 KiB.

# Macros

Mephisto has six macro knobs: {macros}. 0.5 is the patch exactly as designed. A slider joins a macro through metadata whose key is the macro and whose value is a signed depth in -1..1, e.g. `hslider("cutoff[unit:Hz][scale:log][bright:0.7][warm:-0.3]", ...)`. Turning a macro up moves each of its sliders by depth × (macro − 0.5) × 2 of its range (log range for [scale:log]). Map every macro to at least one slider, so that turning it up does this:
- warm: more low-mid (100–600 Hz) body; bright: more high frequencies (a higher spectral centroid); grit: more distortion, noise or inharmonic content; space: a longer tail (release, reverb); motion: more movement over time (vibrato, LFO depth, chorus); punch: a sharper attack and more transient.

# Refused constructs

The plugin refuses a program that uses any of: `ffunction`, `fconstant`, `fvariable`, `soundfile`, `component(...)` or `library(...)` of anything but the standard libraries, or an `import` other than "stdfaust.lib". It also refuses other channel counts than those above.

# Example

A complete, valid reply:

{example}
"#,
        archetypes = ARCHETYPES.join(", "),
        macros = macros,
        max_voices = DEFAULT_VOICES,
        max_kib = MAX_SOURCE_BYTES / 1024,
        example = example_spec(),
    );

    prompt.push_str(
        r#"
# Style references

Two of Mephisto's built-in patches follow. Read them for layout, naming, parameter ranges and macro metadata. They call `mp.…` functions from Mephisto's private helper library (`mp = library("mephisto.lib")`), which generated patches cannot use: your program imports only "stdfaust.lib" and builds the same ideas from it (for example en.adsr, en.asr(a, 1, r, gate), fi.resonlp(fc, q, 1), fi.svf.lp(fc, q), fi.peak_eq(db, hz, bandwidth), os.sawtooth, os.pulsetrain(f, duty), os.osc, ef.cubicnl_nodc(drive, 0), de.fdelay(n, d), re.stereo_freeverb(fb1, fb2, damp, spread) (its output is loud: scale it by about 0.05), ba.cent2ratio, si.smoo).
"#,
    );
    for name in STYLE_REFERENCES {
        if let Some((_, patch)) = find_builtin(name) {
            prompt.push_str(&format!(
                "\n## {} ({})\n\n```faust\n{}\n```\n",
                patch.name,
                patch.archetype,
                patch.source.trim_end()
            ));
        }
    }
    prompt
}

/// The user message asking for a new patch.
pub fn design_message(request: &str) -> ChatMessage {
    ChatMessage::user(format!(
        "Design a patch for: \"{}\"\nReply with the complete PatchSpec JSON object only; set \
         \"prompt\" to those words.",
        request.trim()
    ))
}

/// The user message asking to change the current patch, e.g. "warmer" or "like before but
/// with a longer tail". `current_spec` is the PatchSpec JSON as it is now (with the
/// producer's edits).
pub fn refine_message(current_spec: &str, request: &str) -> ChatMessage {
    let spec = serde_json::from_str::<serde_json::Value>(current_spec)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| current_spec.trim().to_string());
    ChatMessage::user(format!(
        "This is the current patch:\n\n```json\n{spec}\n```\n\nChange it as the producer asks: \
         \"{}\"\nChange only what the request is about and keep everything else: the name \
         (unless the character of the sound changes), the slider labels (automation and \
         macros use them) and the parts of the sound the request does not mention. Set \
         \"prompt\" to the request. Reply with the complete new PatchSpec JSON object only.",
        request.trim()
    ))
}

/// The user message for a repair round: what the compiler or the screening said about the
/// last PatchSpec, and the request for a corrected one.
pub fn repair_message(errors: &str) -> ChatMessage {
    let errors = errors.trim();
    let errors = match errors.char_indices().nth(MAX_REPAIR_CHARS) {
        Some((cut, _)) => format!("{}\n… (more errors cut)", &errors[..cut]),
        None => errors.to_string(),
    };
    ChatMessage::user(format!(
        "Mephisto could not use that PatchSpec:\n\n```\n{errors}\n```\n\nFix these problems and \
         reply with the corrected, complete PatchSpec JSON object only (the whole object, not a \
         diff), still following every rule above."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::{extract_json, Role};
    use mephisto_compiler::screen;
    use mephisto_patch::PatchSpec;

    #[test]
    fn the_example_is_a_valid_patchspec_whose_macros_match_its_metadata() {
        PatchSpec::from_json(&example_spec()).unwrap();
        let spec: serde_json::Value = serde_json::from_str(&example_spec()).unwrap();
        assert_eq!(spec["faust"], EXAMPLE_FAUST);
        let macros = spec["macros"].as_object().unwrap();
        for m in Macro::ALL {
            let entries = macros[m.key()].as_array().unwrap();
            assert!(!entries.is_empty(), "{} is unmapped", m.key());
            for entry in entries {
                let slider = format!("hslider(\"{}[", entry["param"].as_str().unwrap());
                let line = EXAMPLE_FAUST
                    .lines()
                    .find(|l| l.contains(&slider))
                    .unwrap_or_else(|| panic!("no {slider}"));
                let depth = entry["depth"].as_f64().unwrap();
                assert!(
                    line.contains(&format!("[{}:{depth}]", m.key())),
                    "{line} lacks [{}:{depth}]",
                    m.key()
                );
            }
        }
        for (label, _) in spec["params"].as_object().unwrap() {
            let named = |end: &str| EXAMPLE_FAUST.contains(&format!("hslider(\"{label}{end}"));
            assert!(named("[") || named("\""), "{label} is no slider");
        }
    }

    #[test]
    fn the_example_passes_screening_and_imports_only_stdfaust() {
        let screened = screen(EXAMPLE_FAUST).unwrap();
        assert!(screened.defines_effect);
        assert!(!screened.uses_mephisto_lib);
        assert!(!EXAMPLE_FAUST.contains("library("));
    }

    #[test]
    fn the_system_prompt_teaches_the_contract_and_shows_the_references() {
        let prompt = system_prompt();
        for needle in [
            "\"version\": 1",
            "stdfaust.lib",
            "ffunction",
            "soundfile",
            "[scale:log]",
            "[bright:0.7]",
            "warm, bright, grit, space, motion, punch",
            "effect",
        ] {
            assert!(prompt.contains(needle), "the prompt lacks {needle}");
        }
        for name in STYLE_REFERENCES {
            let (_, patch) = find_builtin(name).unwrap();
            assert!(
                prompt.contains(patch.source.trim_end()),
                "{name} is missing"
            );
        }
        // The example shown is the one the tests check.
        assert!(prompt.contains(&example_spec()));
    }

    #[test]
    fn refine_message_carries_the_current_spec_and_the_request() {
        let message = refine_message(&example_spec(), " warmer ");
        assert_eq!(message.role, Role::User);
        assert!(message.content.contains("\"warmer\""));
        assert!(message.content.contains("\"name\": \"rubber_bass\""));
        let sent: serde_json::Value =
            serde_json::from_str(&extract_json(&message.content).unwrap()).unwrap();
        assert_eq!(sent["faust"], EXAMPLE_FAUST);
    }

    #[test]
    fn repair_message_carries_the_errors_and_cuts_long_ones() {
        let message = repair_message("refused: `ffunction` at line 3");
        assert!(message.content.contains("refused: `ffunction` at line 3"));
        assert!(message.content.contains("complete PatchSpec"));
        let long = repair_message(&"e".repeat(50_000));
        assert!(long.content.len() < MAX_REPAIR_CHARS + 500);
        assert!(long.content.contains("more errors cut"));
    }
}
