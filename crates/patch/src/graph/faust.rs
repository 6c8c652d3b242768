//! A synth graph's Faust program. Every node, modulator and effect becomes a few lines
//! built from `mephisto.lib` and the standard libraries, every number a slider whose range
//! is the one it was clamped into, so whatever the graph says, the program is one the
//! compiler accepts: a voice with no inputs and one output, and a 2-in, 2-out effect.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use mephisto_dsp::macros::Macro;

use super::ranges::*;
use super::{
    clamp_position, resolve_input, EffectKind, MacroControl, ModulatorKind, NodeKind, Range,
    SynthGraph, Velocity, GRAPH_LINE, LEVEL_CONTROL,
};

/// The generated program and the designed value of each of its controls.
pub(crate) struct Program {
    pub source: String,
    pub params: BTreeMap<String, f32>,
}

/// Sliders and code lines as they are written.
struct Writer {
    sliders: String,
    params: BTreeMap<String, f32>,
    macros: Vec<(MacroControl, Vec<(Macro, f32)>)>,
}

impl Writer {
    /// Declares a slider for `value` clamped into `range`; returns its name in the program.
    fn slider(&mut self, label: &str, value: f64, range: Range, smooth: bool) -> String {
        let value = range.clamp(value);
        let mut meta = String::new();
        if !range.unit.is_empty() {
            let _ = write!(meta, "[unit:{}]", range.unit);
        }
        if range.log {
            meta.push_str("[scale:log]");
        }
        if let Some((_, links)) = self.macros.iter().find(|(c, _)| c.label() == label) {
            for (m, depth) in links {
                let _ = write!(meta, "[{}:{}]", m.key(), number(f64::from(*depth)));
            }
        }
        let step = if range.max - range.min >= 100.0 {
            0.01
        } else {
            0.0001
        };
        let _ = writeln!(
            self.sliders,
            "{label} = hslider(\"{label}{meta}\", {}, {}, {}, {step}){};",
            number(value),
            number(range.min),
            number(range.max),
            if smooth { " : mp.smooth" } else { "" }
        );
        self.params.insert(label.to_string(), value as f32);
        label.to_string()
    }
}

/// A number as a Faust literal: always with a decimal point, never in exponent form.
pub(super) fn number(value: f64) -> String {
    let text = format!("{value:.6}");
    let text = text.trim_end_matches('0');
    if text.ends_with('.') {
        format!("{text}0")
    } else {
        text.to_string()
    }
}

/// Writes `graph`'s program.
pub(crate) fn generate(graph: &SynthGraph) -> Program {
    let macros = Macro::ALL.iter().fold(
        Vec::<(MacroControl, Vec<(Macro, f32)>)>::new(),
        |mut acc, &m| {
            let control = graph.macros.of(m);
            let depth = control.depth_for(m);
            match acc.iter_mut().find(|(c, _)| *c == control) {
                Some((_, links)) => links.push((m, depth)),
                None => acc.push((control, vec![(m, depth)])),
            }
            acc
        },
    );
    let mut w = Writer {
        sliders: String::new(),
        params: BTreeMap::new(),
        macros,
    };
    let last = graph.nodes.len().saturating_sub(1);
    let mut code = String::new();

    // Voice-wide controls: what the macros and the envelope move.
    let env = &graph.envelope;
    w.slider("attack", env.attack, ATTACK, false);
    w.slider("decay", env.decay, DECAY, false);
    w.slider("sustain", env.sustain, UNIT, true);
    w.slider("release", env.release, RELEASE, false);
    w.slider("tone", 0.0, TONE, true);
    w.slider("body", 0.0, BODY, true);
    w.slider("drive", 0.0, UNIT, true);
    w.slider("vibrato", 0.0, VIBRATO, true);
    w.slider("modulation", 1.0, MODULATION, true);
    w.slider("reverb", 0.0, UNIT, true);
    w.slider(LEVEL_CONTROL, 0.0, LEVEL_DB, true);

    let _ = writeln!(code, "vib = mp.vibrato(5.5, vibrato);");
    let _ = writeln!(code, "kt = mp.keytrack(freq, 0.5);");
    let velocity_tone = match graph.velocity {
        Velocity::Level => "1.0",
        Velocity::LevelAndTone => "pow(2.0, gain - 0.8)",
    };
    let _ = writeln!(code, "vt = {velocity_tone};");

    // Modulators, and what each node receives from them.
    let mut received: Vec<Vec<String>> = vec![Vec::new(); graph.nodes.len()];
    for (j, m) in graph.modulators.iter().enumerate() {
        let rate_range = match m.kind {
            ModulatorKind::Envelope => ENVELOPE_TIME,
            ModulatorKind::Lfo | ModulatorKind::Drift => LFO_RATE,
        };
        let rate = w.slider(&format!("m{j}_rate"), m.rate, rate_range, false);
        let depth = w.slider(&format!("m{j}_depth"), m.depth, DEPTH, true);
        let signal = match m.kind {
            ModulatorKind::Lfo => format!("mp.lfo({rate})"),
            ModulatorKind::Drift => format!("mp.drift({rate})"),
            ModulatorKind::Envelope => format!("mp.perc(0.002, {rate}, {rate}, gate)"),
        };
        let _ = writeln!(code, "m{j} = {signal} * {depth} * modulation;");
        received[clamp_position(m.target, last)].push(format!("m{j}"));
    }

    // Audio nodes, in order.
    let mut used_as_input = vec![false; graph.nodes.len()];
    for (i, node) in graph.nodes.iter().enumerate() {
        let modulation = if received[i].is_empty() {
            "0.0".to_string()
        } else {
            received[i].join(" + ")
        };
        let input = resolve_input(i, node.input);
        if node.kind.takes_input() {
            if let Some(input) = input {
                used_as_input[input] = true;
            }
        }
        let source_in = match input {
            Some(input) => format!("n{input}"),
            None => "mp.saw(freq * vib)".to_string(),
        };
        let expression = match node.kind {
            kind if kind.is_oscillator() => {
                let ratio = w.slider(&format!("n{i}_ratio"), node.frequency, RATIO, false);
                let level = w.slider(&format!("n{i}_level"), node.amount, LEVEL, true);
                let pitch = format!("freq * {ratio} * vib * pow(2.0, {modulation})");
                let wave = match kind {
                    NodeKind::Sine => format!("mp.sine({pitch})"),
                    NodeKind::Triangle => format!("mp.tri({pitch})"),
                    NodeKind::Saw => format!("mp.saw({pitch})"),
                    NodeKind::Square => format!("mp.pulse({pitch}, 0.5)"),
                    NodeKind::Pulse => format!("mp.pulse({pitch}, 0.25)"),
                    NodeKind::Supersaw => format!("mp.unison(4, {pitch}, 15.0)"),
                    NodeKind::Fm => match input {
                        Some(input) => format!("mp.fmop({pitch}, 0.5 * n{input})"),
                        None => format!("mp.sine({pitch})"),
                    },
                    _ => unreachable!("every oscillator is listed"),
                };
                format!("{wave} * {level}")
            }
            NodeKind::Noise => {
                let level = w.slider(&format!("n{i}_level"), node.amount, LEVEL, true);
                format!("no.noise * {level} * max(0.0, 1.0 + {modulation})")
            }
            kind if kind.is_filter() => {
                let cutoff = w.slider(&format!("n{i}_cutoff"), node.frequency, CUTOFF, true);
                let res = w.slider(&format!("n{i}_resonance"), node.amount, UNIT, true);
                let fc =
                    format!("mp.fclip({cutoff} * kt * vt * pow(2.0, tone + 3.0 * ({modulation})))");
                let filter = match kind {
                    NodeKind::Lowpass => format!("mp.lp({fc}, {res})"),
                    NodeKind::Highpass => format!("fi.svf.hp({fc}, mp.resq({res}))"),
                    NodeKind::Bandpass => format!("fi.svf.bp({fc}, mp.resq({res}))"),
                    _ => unreachable!("every filter is listed"),
                };
                format!("{source_in} : {filter}")
            }
            NodeKind::Drive | NodeKind::Fold => {
                let name = if node.kind == NodeKind::Drive {
                    "drive"
                } else {
                    "fold"
                };
                let amount = w.slider(&format!("n{i}_{name}"), node.amount, UNIT, true);
                let moved = format!("max(0.0, min(1.0, {amount} + 0.5 * ({modulation})))");
                format!("{source_in} : mp.{name}({moved})")
            }
            _ => unreachable!("every node kind is handled"),
        };
        let _ = writeln!(code, "n{i} = {expression};");
    }
    let ends: Vec<String> = (0..graph.nodes.len())
        .filter(|&i| !used_as_input[i])
        .map(|i| format!("n{i}"))
        .collect();
    let _ = writeln!(code, "nodes = {};", ends.join(" + "));
    let _ = writeln!(
        code,
        "amp = mp.adsr(attack, decay, sustain, release, gate);"
    );
    // `attach` keeps the vibrato and modulation controls in a program that does not use
    // them (no oscillator, no modulator), so a macro may always name them.
    // The trim comes before the saturation, which bounds every voice near ±0.9 however
    // loud its nodes are.
    let _ = writeln!(
        code,
        "process = nodes * ba.db2linear({LEVEL_CONTROL}) : mp.body(body) : mp.air(3.0 * tone) \
         : mp.drive(drive) : *(amp * gain * 0.8) : attach(_, vibrato + modulation);"
    );

    // Effects after the voices, then the reverb the macros can open.
    let mut chain = Vec::new();
    for (k, effect) in graph.effects.iter().enumerate() {
        let mix = w.slider(&format!("fx{k}_mix"), effect.mix, UNIT, true);
        let size = w.slider(&format!("fx{k}_size"), effect.size, UNIT, true);
        chain.push(match effect.kind {
            EffectKind::Chorus => format!("mp.chorus(0.4, {size}, {mix})"),
            EffectKind::Delay => format!("mp.pingpong(0.05 + 0.75 * {size}, 0.35, {mix})"),
            EffectKind::Reverb => format!("mp.reverb(0.5 + 7.5 * {size}, 0.4, {mix})"),
        });
    }
    chain.push("mp.reverb(2.5, 0.4, reverb)".to_string());
    let _ = writeln!(code, "effect = {};", chain.join(" : "));

    let mut source = String::new();
    let _ = writeln!(
        source,
        "// Generated by Mephisto from a synth graph (docs/PATCHSPEC.md, \"Synth graphs\").\n\
         // Ask the designer to change it, or edit this program: an edited program is kept as \
         you write it."
    );
    let _ = writeln!(source, "{GRAPH_LINE}{}", graph.to_json());
    let _ = writeln!(source, "declare name \"{}\";", graph.patch_name());
    let _ = writeln!(source, "declare archetype \"{}\";", graph.archetype);
    let description = graph.describe().replace(['"', '\\'], "");
    let _ = writeln!(source, "declare description \"{description}\";");
    source.push_str(
        "\nimport(\"stdfaust.lib\");\nmp = library(\"mephisto.lib\");\n\n\
         freq = hslider(\"freq\", 440, 20, 20000, 0.01);\n\
         gain = hslider(\"gain\", 0.5, 0, 1, 0.01);\n\
         gate = button(\"gate\");\n\n",
    );
    source.push_str(&w.sliders);
    source.push('\n');
    source.push_str(&code);
    Program {
        source,
        params: w.params,
    }
}
