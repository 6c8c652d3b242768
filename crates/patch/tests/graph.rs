//! Synth graphs compile: graphs with every node, modulator and effect type, positions and
//! numbers far outside their ranges, and the extremes of level (eight full-level supersaws,
//! a sine under a stack of high-passes, every level at zero) are turned into PatchSpecs
//! whose programs compile, get their output level matched, and pass the sanity gate.
//! Needs `faust` and `rustc` on `PATH` (scripts/setup.sh installs them).

use std::path::Path;

use serde_json::{json, Value};

use mephisto_compiler::{Compiler, CompilerOptions};
use mephisto_patch::graph::{normalize_level, SynthGraph, LEVEL_CONTROL, TARGET_PEAK};
use mephisto_patch::sanity::SanityLimits;
use mephisto_patch::Builder;
use mephisto_rt::neural::bank::OfflineFlag;

const NODE_TYPES: [&str; 13] = [
    "sine", "triangle", "saw", "square", "pulse", "supersaw", "noise", "fm", "lowpass", "highpass",
    "bandpass", "drive", "fold",
];
const MODULATOR_TYPES: [&str; 3] = ["lfo", "envelope", "drift"];
const EFFECT_TYPES: [&str; 3] = ["chorus", "delay", "reverb"];
const CONTROLS: [&str; 8] = [
    "tone",
    "body",
    "drive",
    "attack",
    "release",
    "reverb",
    "vibrato",
    "modulation",
];
const ARCHETYPES: [&str; 4] = ["pad", "bass", "bell", "fx"];

/// A small deterministic generator (xorshift), so a failing graph can be found again.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
    /// A number a model might write: mostly in a plausible range, sometimes wild.
    fn number(&mut self) -> f64 {
        match self.below(6) {
            0 => -(self.below(1000) as f64) / 7.0,
            1 => self.below(100_000) as f64,
            _ => self.below(1000) as f64 / 250.0,
        }
    }
}

/// A graph with the schema's shape and arbitrary content.
fn random_graph(dice: &mut Dice) -> Value {
    let nodes: Vec<Value> = (0..1 + dice.below(8))
        .map(|_| {
            json!({"type": dice.pick(&NODE_TYPES), "input": dice.below(12) as i64 - 2,
                   "frequency": dice.number(), "amount": dice.number()})
        })
        .collect();
    let modulators: Vec<Value> = (0..dice.below(5))
        .map(|_| {
            json!({"type": dice.pick(&MODULATOR_TYPES), "target": dice.below(12),
                   "rate": dice.number(), "depth": dice.number() - 1.0})
        })
        .collect();
    let effects: Vec<Value> = (0..dice.below(4))
        .map(|_| json!({"type": dice.pick(&EFFECT_TYPES), "mix": dice.number(), "size": dice.number()}))
        .collect();
    let mut macros = serde_json::Map::new();
    for m in ["warm", "bright", "grit", "space", "motion", "punch"] {
        macros.insert(m.into(), dice.pick(&CONTROLS).into());
    }
    json!({
        "name": format!("random {}", dice.below(1000)),
        "archetype": dice.pick(&ARCHETYPES),
        "nodes": nodes,
        "envelope": {"attack": dice.number(), "decay": dice.number(),
                     "sustain": dice.number(), "release": dice.number()},
        "modulators": modulators,
        "effects": effects,
        "macros": macros,
        "velocity": if dice.below(2) == 0 { "level" } else { "level_and_tone" }
    })
}

fn node(kind: &str, input: i64, frequency: f64, amount: f64) -> Value {
    json!({"type": kind, "input": input, "frequency": frequency, "amount": amount})
}

fn extremes() -> Vec<Value> {
    let graph = |nodes: Vec<Value>, attack: f64| {
        json!({"name": "extreme", "archetype": "fx", "nodes": nodes,
               "envelope": {"attack": attack, "decay": 1, "sustain": 1, "release": 0.2}})
    };
    vec![
        // Eight supersaws at full level: the loudest a graph gets.
        graph(vec![node("supersaw", 0, 1.0, 1.0); 8], 0.001),
        // A sine under seven high-passes at the top of their range: nearly nothing passes.
        graph(
            std::iter::once(node("sine", 0, 0.25, 0.0))
                .chain((0..7).map(|i| node("highpass", i, 16000.0, 0.0)))
                .collect(),
            0.001,
        ),
        // Every level at zero, through FM and a fold, with the slowest attack.
        graph(
            vec![
                node("sine", 0, 1.0, 0.0),
                node("fm", 0, 3.0, 0.0),
                node("fold", 1, 0.0, 1.0),
            ],
            8.0,
        ),
    ]
}

#[test]
fn every_graph_compiles_plays_at_the_target_level_and_passes_the_sanity_gate_if_audible() {
    let compiler = Compiler::new(CompilerOptions {
        cache_dir: Some(Path::new(env!("CARGO_TARGET_TMPDIR")).join("graph-cache")),
        ..CompilerOptions::default()
    });
    let builder = Builder {
        compiler: &compiler,
        limits: SanityLimits::default(),
        sample_rate: 48_000.0,
        offline: OfflineFlag::default(),
    };
    let mut dice = Dice(0x5eed_1234_abcd_9876);
    let mut graphs: Vec<Value> = (0..10).map(|_| random_graph(&mut dice)).collect();
    graphs.extend(extremes());
    let mut kinds_seen = std::collections::BTreeSet::new();
    for (i, value) in graphs.iter().enumerate() {
        let graph = SynthGraph::from_json(&value.to_string())
            .unwrap_or_else(|e| panic!("graph {i} has the schema's shape: {e}\n{value}"));
        kinds_seen.extend(graph.nodes.iter().map(|n| n.kind.name()));
        let mut spec = graph.to_spec("a test");
        let peak = normalize_level(&mut spec, &|s| builder.probe(s))
            .unwrap_or_else(|e| panic!("graph {i} does not compile: {e}\n{}", spec.faust));
        let trim = spec.params[LEVEL_CONTROL];
        // Within 1.5 dB of the target, unless a trim of +40 dB cannot lift it (the sine
        // under seven high-passes).
        assert!(
            (peak / TARGET_PEAK).log10().abs() * 20.0 < 1.5 || trim == 40.0,
            "graph {i}: peak {peak} with a trim of {trim} dB"
        );
        match builder.build(&spec, &mut |_| {}) {
            Ok(built) => assert_eq!(built.instance.name, spec.name),
            // What even +40 dB cannot lift stays under the gate's silence floor in most
            // chunks: the gate refuses it as making no sound, which is the right answer
            // (the model is told, and the current patch keeps playing).
            Err(e) if trim == 40.0 => assert!(
                e.to_string().contains("make it produce a sound"),
                "graph {i}: an inaudible graph is refused for the wrong reason: {e}"
            ),
            Err(e) => panic!("graph {i} fails the gate: {e}\n{value}"),
        }
    }
    assert_eq!(
        kinds_seen.len(),
        NODE_TYPES.len(),
        "every node type was tried"
    );
}

const SCHEMA_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../docs/synthgraph.schema.json"
);
const REGENERATE: &str = "cargo test -p mephisto-patch --test graph -- --ignored write_schema";

fn schema_file_text() -> String {
    let mut text = serde_json::to_string_pretty(&SynthGraph::json_schema()).unwrap();
    text.push('\n');
    text
}

#[test]
fn the_committed_schema_is_current() {
    let committed = std::fs::read_to_string(SCHEMA_FILE).unwrap_or_default();
    assert!(
        committed == schema_file_text(),
        "docs/synthgraph.schema.json is stale; regenerate it with `{REGENERATE}`"
    );
}

#[test]
#[ignore]
fn write_schema() {
    std::fs::write(SCHEMA_FILE, schema_file_text()).unwrap();
}
