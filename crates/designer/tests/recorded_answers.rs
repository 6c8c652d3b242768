//! Answers SmolLM2-135M-Instruct gave through llama-cpp-python's server when
//! `scripts/local_llm.sh run` designed its prompts (`tests/data/smollm2/`): under the graph
//! schema's grammar every one is a synth graph, however wild its numbers, and turns into a
//! valid PatchSpec whose values are inside their ranges.

use std::path::Path;

use mephisto_patch::graph::SynthGraph;
use serde_json::Value;

fn recorded() -> Vec<(String, Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/smollm2");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            (name, serde_json::from_str(&text).unwrap())
        })
        .collect()
}

#[test]
fn every_recorded_answer_is_a_graph_whose_spec_is_valid() {
    let answers = recorded();
    assert!(answers.len() >= 4, "{} recorded answers", answers.len());
    for (name, record) in &answers {
        assert_eq!(record["finish_reason"], "stop", "{name}");
        let answer = record["answer"].as_str().unwrap();
        let graph = SynthGraph::from_json(answer).unwrap_or_else(|e| panic!("{name}: {e}"));
        let spec = graph.to_spec(record["prompt"].as_str().unwrap());
        spec.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(SynthGraph::of_spec(&spec), Some(graph), "{name}");
    }
}

#[test]
fn the_wild_numbers_small_models_write_are_clamped() {
    let answers = recorded();
    let (_, snare) = answers
        .iter()
        .find(|(name, _)| name == "noisy_snare_round1")
        .expect("the recorded snare");
    let answer = snare["answer"].as_str().unwrap();
    // What the model wrote: a saw at 241.98 times the note, a sustain of 97.5, an effect mix
    // of 4.15, a modulator aimed at node 4613 of 3.
    for wild in [
        "241.98",
        "\"sustain\": 97.5",
        "\"mix\": 4.15",
        "\"target\": 4613",
    ] {
        assert!(answer.contains(wild), "{wild}");
    }
    let spec = SynthGraph::from_json(answer)
        .unwrap()
        .to_spec("a noisy snare drum");
    assert_eq!(spec.params["n0_ratio"], 8.0);
    assert_eq!(spec.params["sustain"], 1.0);
    assert_eq!(spec.params["fx1_mix"], 1.0);
    // The LFO's target 4613 is the last node (2).
    assert!(spec.faust.contains("n2 = "), "{}", spec.faust);
    assert!(spec.faust.contains("3.0 * (m0 + m1)"), "{}", spec.faust);
}
