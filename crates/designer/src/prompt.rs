//! What the LLM designer tells the model. The system prompt comes in a compact form (the
//! answer's shape, the rules, one short example: at most [`COMPACT_PROMPT_TOKENS`] by the
//! conservative estimate) for small contexts, and with a reference (a complete example,
//! `mephisto.lib`'s building blocks, two built-in patches) when the context has room. The
//! answer is a synth graph (docs/PATCHSPEC.md), which Mephisto turns into Faust itself, or
//! a PatchSpec with a Faust program, or either ([`Form`]). Then: the message asking for a
//! new patch, the one for changing the current patch, the repair message (what was wrong
//! with the last answer) and the feedback message (what the last patch measured against what
//! the words asked).

use serde_json::json;

use mephisto_compiler::MAX_SOURCE_BYTES;
use mephisto_dsp::find_builtin;
use mephisto_dsp::macros::Macro;
use mephisto_patch::graph::{schema_text, SynthGraph};
use mephisto_patch::spec::ARCHETYPES;
use mephisto_patch::PatchSpec;
use mephisto_rt::engine::DEFAULT_VOICES;

use crate::llm::{ChatMessage, ReplySchema};

/// The built-in patches shown as style references: a subtractive pad and an additive bell, so
/// the model sees two different ways of building a voice.
const STYLE_REFERENCES: [&str; 2] = ["warm_pad", "glass_bell"];

/// Diagnostics beyond this are cut from a repair message: the first errors are the useful
/// ones, and a local model's context is small.
pub const MAX_REPAIR_CHARS: usize = 1500;

/// The most tokens (by [`estimate_tokens`]) a compact system prompt may have.
pub const COMPACT_PROMPT_TOKENS: u32 = 1500;

/// Characters per token assumed by [`estimate_tokens`]: below what small models' tokenizers
/// reach on code and JSON (SmolLM2: 2.4 on the designer's old prompt), so estimates run
/// high.
pub const CHARS_PER_TOKEN: f32 = 2.0;

/// Tokens a chat template adds around each message.
pub const TOKENS_PER_MESSAGE: u32 = 8;

/// A conservative estimate of the tokens `text` takes: one per [`CHARS_PER_TOKEN`]
/// characters, rounded up.
pub fn estimate_tokens(text: &str) -> u32 {
    (text.chars().count() as f32 / CHARS_PER_TOKEN).ceil() as u32
}

/// The estimated tokens of a conversation, with each message's template overhead.
pub fn estimate_messages(messages: &[ChatMessage]) -> u32 {
    messages
        .iter()
        .map(|m| estimate_tokens(&m.content) + TOKENS_PER_MESSAGE)
        .sum()
}

/// What the model is asked to answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// A synth graph.
    Graph,
    /// A PatchSpec with a Faust program.
    Faust,
    /// Either one.
    Either,
}

impl Form {
    pub fn name(self) -> &'static str {
        match self {
            Form::Graph => "graph",
            Form::Faust => "Faust",
            Form::Either => "graph or Faust",
        }
    }

    /// The JSON schema the answer must follow.
    pub fn schema(self) -> ReplySchema {
        let graph = SynthGraph::model_schema();
        match self {
            Form::Graph => ReplySchema {
                name: "synth_graph",
                text: schema_text(&graph),
                strict: true,
            },
            Form::Faust => ReplySchema {
                name: "patch_spec",
                text: schema_text(&PatchSpec::json_schema().to_value()),
                strict: false,
            },
            Form::Either => ReplySchema {
                name: "synth_graph_or_patch_spec",
                text: format!(
                    "{{\"anyOf\":[{},{}]}}",
                    schema_text(&graph),
                    schema_text(&PatchSpec::json_schema().to_value())
                ),
                strict: false,
            },
        }
    }
}

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

/// The example graph shown in every graph prompt. It must stay a valid graph (see the
/// tests).
pub const EXAMPLE_GRAPH: &str = r#"{"name": "warm_analog_pad", "archetype": "pad", "nodes": [{"type": "saw", "input": 0, "frequency": 1, "amount": 0.7}, {"type": "saw", "input": 0, "frequency": 1.006, "amount": 0.7}, {"type": "lowpass", "input": 1, "frequency": 1400, "amount": 0.2}], "envelope": {"attack": 0.8, "decay": 1.5, "sustain": 0.8, "release": 2.0}, "modulators": [{"type": "lfo", "target": 2, "rate": 0.3, "depth": 0.15}], "effects": [{"type": "chorus", "mix": 0.4, "size": 0.5}, {"type": "reverb", "mix": 0.3, "size": 0.6}], "macros": {"warm": "body", "bright": "tone", "grit": "drive", "space": "reverb", "motion": "modulation", "punch": "attack"}, "velocity": "level"}"#;

/// The prompt the example graph answers.
const EXAMPLE_GRAPH_PROMPT: &str = "a warm analog pad that moves slowly";

/// The synth-graph section: the graph's shape and the example.
fn graph_section() -> String {
    format!(
        r#"# Synth graph

A synth graph is one JSON object:
- "name": a short snake_case name.
- "archetype": one of {archetypes}.
- "nodes": 1 to 8 audio nodes, in order, each {{"type", "input", "frequency", "amount"}}; "input" is an earlier node's position (0 is the first):
  - sine, triangle, saw, square, pulse, supersaw: oscillators. "frequency" is a multiple of the note (1 the note, 0.5 an octave down, 1.005 slightly detuned); "amount" is the level, 0 to 1.
  - noise: white noise, "amount" its level.
  - fm: a sine whose phase node "input" moves (bells, metallic tones); like oscillators.
  - lowpass, highpass, bandpass: filter node "input"; "frequency" is the cutoff in Hz (100 to 12000); "amount" the resonance, 0 to 1.
  - drive, fold: shape node "input"; "amount" is how hard, 0 to 1.
  Nodes no other node takes as input are heard.
- "envelope": "attack", "decay", "release" in seconds, "sustain" 0 to 1. Plucks and drums: sustain 0, short decay. Pads: slow attack, long release.
- "modulators": 0 to 4 of {{"type": lfo, envelope or drift, "target": a node's position, "rate", "depth"}}. lfo and drift "rate": Hz (0.1 to 10); envelope "rate": seconds to fall. "depth" -1 to 1 moves an oscillator's pitch (1 = an octave), a filter's cutoff (1 = 3 octaves), noise's level or a shaper's amount.
- "effects": 0 to 3 of {{"type": chorus, delay or reverb, "mix" 0 to 1, "size" 0 to 1}}.
- "macros": the control each macro knob ("warm", "bright", "grit", "space", "motion", "punch") moves: tone, body, drive, attack, release, reverb, vibrato or modulation.
- "velocity": level or level_and_tone (harder notes brighter).
- "controllers": macros the "mod_wheel", "velocity" (playing harder) and "aftertouch" push, lists of {{"macro", "depth" -1 to 1}}, empty unless the words ask: "growls when I push the mod wheel" is "mod_wheel": [{{"macro": "grit", "depth": 0.8}}]. "bend_range": pitch wheel semitones, 2.
Numbers out of range are clamped; Mephisto writes the program and sets the volume.

Example, for "{example_prompt}":
{example}
"#,
        archetypes = ARCHETYPES.join(", "),
        example_prompt = EXAMPLE_GRAPH_PROMPT,
        example = EXAMPLE_GRAPH,
    )
}

/// A short complete patch for the compact Faust prompt: its sliders carry their macro
/// metadata and designed values, so the spec needs neither `params` nor `macros`.
pub const SHORT_EXAMPLE_FAUST: &str = r#"import("stdfaust.lib");
freq = hslider("freq", 440, 20, 20000, 0.01);
gain = hslider("gain", 0.5, 0, 1, 0.01);
gate = button("gate");
cutoff = hslider("cutoff[unit:Hz][scale:log][bright:0.7][warm:-0.3]", 1500, 80, 12000, 1) : si.smoo;
body = hslider("body[unit:dB][warm:0.8]", 0, -12, 12, 0.1) : si.smoo;
drive = hslider("drive[grit:0.8]", 0.1, 0, 1, 0.01) : si.smoo;
vibrato = hslider("vibrato[motion:0.7]", 0.1, 0, 1, 0.01) : si.smoo;
attack = hslider("attack[unit:s][scale:log][punch:-0.6]", 0.01, 0.001, 2, 0.001);
release = hslider("release[unit:s][scale:log][space:0.6]", 0.4, 0.01, 4, 0.001);
env = en.adsr(attack, 0.3, 0.7, release, gate);
f = freq * (1 + 0.01 * vibrato * os.osc(5));
process = os.sawtooth(f) : fi.resonlp(min(cutoff, 0.45 * ma.SR), 2, 1) : fi.peak_eq(body, 250, 200) : ef.cubicnl_nodc(drive, 0) : *(env * gain * 0.4);
"#;

/// The short example as a PatchSpec.
pub fn short_example_spec() -> String {
    let spec = json!({
        "version": 1,
        "name": "simple_saw_lead",
        "prompt": "a simple saw lead",
        "archetype": "lead",
        "faust": SHORT_EXAMPLE_FAUST,
        "voices": 8
    });
    serde_json::to_string(&spec).expect("a json! value always serializes")
}

/// The PatchSpec section: its shape and the Faust rules.
fn faust_section(example: &str) -> String {
    let macros = Macro::ALL
        .iter()
        .map(|m| m.key())
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"# PatchSpec with a Faust program

A PatchSpec is one JSON object:
- "version": 1; "name": a short snake_case name; "prompt": the producer's words; "archetype": one of {archetypes}.
- "faust": the whole Faust program as one JSON string (escape line breaks as \n and quotes as \").
- "params", "macros" (optional): left out, slider defaults and [macro:depth] metadata are used.
- "voices": 1 to {max_voices} (1 for a mono lead or bass); "notes": one sentence on how it is built.
- "controllers", only when the words name one: "mod_wheel", "velocity" (playing harder), "aftertouch": lists of {{"macro" or "param": a slider, "depth" -1 to 1}}; "bend_range": semitones. Brighter when played harder: {{"velocity": [{{"macro": "bright", "depth": 0.7}}]}}.
- "trim_db": leave it out; Mephisto sets the level.

Rules for the program:
- `import("stdfaust.lib");` is the only import: os, no, fi, en, ef, de, re, si, ba, ma.
- `process` is ONE voice: no inputs, 1 or 2 outputs, reading `freq`, `gain` and `gate` declared as in the example. It must fall silent after the gate drops.
- Optional `effect`: 2 in, 2 out, once after the voices (reverb, chorus, delay).
- Other controls: hsliders, unique snake_case labels, `[scale:log]` for frequencies and times, `: si.smoo` if heard continuously.
- Macros ({macros}): a slider joins one with metadata like `[bright:0.7]` (depth -1 to 1). Map each: warm = 100-600 Hz body, bright = highs, grit = distortion, space = tail, motion = movement, punch = attack.
- One note at gain 1 peaks near 0.5; filter cutoffs stay below 0.45 * ma.SR; at most {max_kib} KiB.
- Refused: ffunction, fconstant, fvariable, soundfile, other imports or libraries.

Example:
{example}
"#,
        archetypes = ARCHETYPES.join(", "),
        max_voices = DEFAULT_VOICES,
        max_kib = MAX_SOURCE_BYTES / 1024,
    )
}

/// The reference sent when the context has room: the complete example, `mephisto.lib`'s
/// building blocks, and two built-in patches.
fn reference_section() -> String {
    let mut text = format!(
        "# Reference\n\nA complete PatchSpec with macro targets listed explicitly:\n\n{}\n\n\
         A program may also use Mephisto's helper library, `mp = library(\"mephisto.lib\");`: \
         mp.adsr(a, d, s, r, gate), mp.perc(a, d, r, gate), mp.saw(f), mp.pulse(f, width), \
         mp.tri(f), mp.sine(f), mp.unison(n, f, cents), mp.fmop(f, phase), mp.sub(f), \
         mp.lp(fc, res), mp.lp4(fc, res), mp.hp(fc), mp.bp(fc, q), mp.keytrack(f, amount), \
         mp.body(db), mp.air(db), mp.drive(amount), mp.fold(amount), mp.lfo(rate), \
         mp.drift(rate), mp.vibrato(rate, cents), mp.tremolo(rate, depth), and in `effect` \
         mp.chorus(rate, depth, mix), mp.ensemble(rate, depth, mix), mp.pingpong(time, \
         feedback, mix), mp.reverb(t60, damp, mix), mp.plate(decay, damp, mix), \
         mp.width(w). Two of Mephisto's built-in patches, for layout, naming and ranges:\n",
        example_spec()
    );
    for name in STYLE_REFERENCES {
        if let Some((_, patch)) = find_builtin(name) {
            text.push_str(&format!(
                "\n## {} ({})\n\n```faust\n{}\n```\n",
                patch.name,
                patch.archetype,
                patch.source.trim_end()
            ));
        }
    }
    text
}

/// The system prompt: what the model is, the answer's shape and rules, one example, and
/// the reference when `reference` is set.
pub fn system_prompt(form: Form, reference: bool) -> String {
    let answer = match form {
        Form::Graph => "a synth graph",
        Form::Faust => "a PatchSpec with a Faust program",
        Form::Either => "a synth graph or a PatchSpec with a Faust program",
    };
    let mut prompt = format!(
        "You are the sound designer inside Mephisto, a polyphonic synthesizer plugin. A \
         producer describes a sound; you answer with {answer}: exactly one JSON object, with \
         no text before or after it.\n\n"
    );
    match form {
        Form::Graph => prompt.push_str(&graph_section()),
        Form::Faust => prompt.push_str(&faust_section(&short_example_spec())),
        Form::Either => {
            prompt.push_str(&graph_section());
            prompt.push('\n');
            prompt.push_str(&faust_section(&short_example_spec()));
        }
    }
    if reference && form != Form::Graph {
        prompt.push('\n');
        prompt.push_str(&reference_section());
    }
    prompt
}

/// What the answer is called in messages.
fn answer_name(form: Form) -> &'static str {
    match form {
        Form::Graph => "synth graph",
        Form::Faust => "PatchSpec",
        Form::Either => "synth graph or PatchSpec",
    }
}

/// The user message asking for a new patch.
pub fn design_message(request: &str, form: Form) -> ChatMessage {
    ChatMessage::user(format!(
        "Design a patch for: \"{}\"\nReply with the complete {} JSON object only.",
        request.trim(),
        answer_name(form)
    ))
}

/// The user message asking to change the current patch, e.g. "warmer". A patch made from a
/// graph (and not edited since) is sent as its graph; a Faust patch as its PatchSpec when
/// the model may answer in Faust, else described in words (a graph replaces it).
pub fn refine_message(current: &PatchSpec, request: &str, form: Form) -> ChatMessage {
    let request = request.trim();
    let keep = "Change only what the request is about and keep everything else";
    if let Some(graph) = SynthGraph::of_spec(current).filter(|_| form != Form::Faust) {
        return ChatMessage::user(format!(
            "This is the current patch's synth graph:\n{}\n\nChange it as the producer asks: \
             \"{request}\". {keep}. Reply with the complete new synth graph JSON object only.",
            graph.to_json()
        ));
    }
    if form == Form::Graph {
        return ChatMessage::user(format!(
            "The current patch is `{}` ({}): {}. It was asked for as: \"{}\".\nDesign a synth \
             graph that sounds like it, changed as the producer asks: \"{request}\". Reply with \
             the complete synth graph JSON object only.",
            current.name,
            current.archetype,
            crate::llm::shorten(current.notes.trim(), 300),
            current.prompt.trim()
        ));
    }
    let spec = serde_json::to_string_pretty(current).unwrap_or_default();
    ChatMessage::user(format!(
        "This is the current patch:\n\n```json\n{spec}\n```\n\nChange it as the producer asks: \
         \"{request}\"\n{keep}: the name (unless the character of the sound changes), the \
         slider labels (automation and macros use them) and the parts of the sound the \
         request does not mention. Set \"prompt\" to the request. Reply with the complete new \
         PatchSpec JSON object only."
    ))
}

/// The user message for a repair round: what was wrong with the last answer, cut to
/// `max_chars`, and the request for a corrected one. A cut-off answer is said to be one.
pub fn repair_message(problem: &str, form: Form, max_chars: usize) -> ChatMessage {
    let problem = problem.trim();
    let problem = match problem.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}\n… (more cut)", &problem[..cut]),
        None => problem.to_string(),
    };
    ChatMessage::user(format!(
        "Mephisto could not use that answer:\n\n```\n{problem}\n```\n\nFix this and reply with \
         the corrected, complete {} JSON object only (the whole object, not a diff).",
        answer_name(form)
    ))
}

/// The user message for a feedback round: what the last patch measured against what the
/// words asked, one line each, and the request to revise it.
pub fn feedback_message(misses: &[String], form: Form) -> ChatMessage {
    let lines: Vec<String> = misses.iter().map(|m| format!("- {m}")).collect();
    ChatMessage::user(format!(
        "Mephisto built and measured that patch. It does not yet sound like the request:\n{}\n\
         Revise it and reply with the complete {} JSON object only.",
        lines.join("\n"),
        answer_name(form)
    ))
}

/// Why a previous answer is not repeated in a round's request.
pub fn omitted_answer(chars: usize) -> String {
    format!("(my previous answer, {chars} characters, is left out to fit the context)")
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
    fn compact_prompts_fit_their_budget_and_the_reference_only_comes_with_room() {
        for form in [Form::Graph, Form::Faust] {
            let compact = system_prompt(form, false);
            assert!(
                estimate_tokens(&compact) <= COMPACT_PROMPT_TOKENS,
                "the compact {} prompt is {} tokens",
                form.name(),
                estimate_tokens(&compact)
            );
            assert!(!compact.contains("# Reference"));
        }
        let full = system_prompt(Form::Faust, true);
        assert!(estimate_tokens(&full) > COMPACT_PROMPT_TOKENS);
        for needle in [
            "stdfaust.lib",
            "ffunction",
            "soundfile",
            "[scale:log]",
            "[bright:0.7]",
            "warm, bright, grit, space, motion, punch",
            "effect",
            "# Reference",
        ] {
            assert!(full.contains(needle), "the prompt lacks {needle}");
        }
        for name in STYLE_REFERENCES {
            let (_, patch) = find_builtin(name).unwrap();
            assert!(full.contains(patch.source.trim_end()), "{name} is missing");
        }
        // The example shown is the one the tests check.
        assert!(full.contains(&example_spec()));
        assert!(system_prompt(Form::Graph, false).contains(EXAMPLE_GRAPH));
        let either = system_prompt(Form::Either, false);
        assert!(either.contains("# Synth graph") && either.contains("# PatchSpec"));
    }

    #[test]
    fn compact_prompts_teach_controllers_and_the_trim() {
        let graph = system_prompt(Form::Graph, false);
        let faust = system_prompt(Form::Faust, false);
        for (prompt, needles) in [
            (
                &graph,
                &[
                    "\"controllers\"",
                    "\"mod_wheel\"",
                    "\"velocity\" (playing harder)",
                    "\"aftertouch\"",
                    "\"bend_range\"",
                ][..],
            ),
            (
                &faust,
                &[
                    "\"controllers\"",
                    "\"mod_wheel\"",
                    "\"aftertouch\"",
                    "\"param\"",
                    "\"bend_range\"",
                    "\"trim_db\"",
                ][..],
            ),
        ] {
            for needle in needles {
                assert!(
                    prompt.contains(needle),
                    "the prompt lacks {needle}:\n{prompt}"
                );
            }
        }
        // The routes they show are what the types read.
        let shown = |prompt: &str, from: &str| {
            let start = prompt.find(from).unwrap();
            let end = start + prompt[start..].find("}]").unwrap() + 2;
            format!("{{{}}}", &prompt[start..end])
        };
        let wheel: mephisto_patch::graph::Controllers =
            serde_json::from_str(&shown(&graph, "\"mod_wheel\": [")).unwrap();
        assert_eq!(
            wheel.mod_wheel[0].target,
            mephisto_patch::graph::MacroName::Grit
        );
        let velocity: mephisto_dsp::controllers::ControllerMap =
            serde_json::from_str(&shown(&faust, "\"velocity\": [")).unwrap();
        assert_eq!(velocity.velocity.len(), 1);
    }

    #[test]
    fn the_examples_are_what_they_teach() {
        let graph = SynthGraph::from_json(EXAMPLE_GRAPH).unwrap();
        assert_eq!(graph.to_json(), serde_json::to_string(&graph).unwrap());
        let short = PatchSpec::from_json(&short_example_spec()).unwrap();
        assert!(short.params.is_empty() && short.macros.is_empty());
        let screened = screen(&short.faust).unwrap();
        assert!(!screened.uses_mephisto_lib);
        for m in Macro::ALL {
            assert!(
                SHORT_EXAMPLE_FAUST.contains(&format!("[{}:", m.key())),
                "{} is unmapped",
                m.key()
            );
        }
    }

    #[test]
    fn a_graph_patch_is_refined_as_its_graph() {
        let graph = SynthGraph::from_json(EXAMPLE_GRAPH).unwrap();
        let spec = graph.to_spec("a warm pad");
        let message = refine_message(&spec, " brighter ", Form::Graph);
        assert!(
            message.content.contains(&graph.to_json()),
            "{}",
            message.content
        );
        assert!(message.content.contains("\"brighter\""));
        assert!(
            !message.content.contains("process ="),
            "no Faust for a graph"
        );
        // A Faust patch, asked for a graph: described, not pasted.
        let faust = PatchSpec::from_json(&example_spec()).unwrap();
        let message = refine_message(&faust, "warmer", Form::Graph);
        assert!(message.content.contains("rubber_bass"));
        assert!(!message.content.contains("process ="));
    }

    #[test]
    fn refine_message_carries_the_current_spec_and_the_request() {
        let current = PatchSpec::from_json(&example_spec()).unwrap();
        let message = refine_message(&current, " warmer ", Form::Faust);
        assert_eq!(message.role, Role::User);
        assert!(message.content.contains("\"warmer\""));
        assert!(message.content.contains("\"name\": \"rubber_bass\""));
        let sent: serde_json::Value =
            serde_json::from_str(&extract_json(&message.content).unwrap()).unwrap();
        assert_eq!(sent["faust"], EXAMPLE_FAUST);
    }

    #[test]
    fn repair_message_carries_the_errors_and_cuts_long_ones() {
        let message = repair_message("refused: `ffunction` at line 3", Form::Faust, 1500);
        assert!(message.content.contains("refused: `ffunction` at line 3"));
        assert!(message.content.contains("complete PatchSpec"));
        let long = repair_message(&"e".repeat(50_000), Form::Graph, 1500);
        assert!(long.content.len() < 1500 + 300);
        assert!(long.content.contains("more cut"));
        assert!(long.content.contains("complete synth graph"));
    }

    #[test]
    fn schemas_are_valid_json_and_graphs_are_strict() {
        for form in [Form::Graph, Form::Faust, Form::Either] {
            let schema = form.schema();
            let value: serde_json::Value = serde_json::from_str(&schema.text).unwrap();
            assert!(value.is_object());
            assert_eq!(schema.strict, form == Form::Graph);
        }
    }
}
