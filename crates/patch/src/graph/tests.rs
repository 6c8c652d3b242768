use serde_json::json;

use super::*;

fn graph(value: Value) -> SynthGraph {
    SynthGraph::from_json(&value.to_string()).unwrap()
}

fn pad() -> Value {
    json!({
        "name": "Soft Pad!",
        "archetype": "pad",
        "nodes": [
            {"type": "saw", "input": 0, "frequency": 1, "amount": 0.8},
            {"type": "supersaw", "input": 0, "frequency": 2.01, "amount": 0.4},
            {"type": "lowpass", "input": 1, "frequency": 1200, "amount": 0.3}
        ],
        "envelope": {"attack": 0.6, "decay": 1.0, "sustain": 0.8, "release": 1.5},
        "modulators": [{"type": "lfo", "target": 2, "rate": 0.3, "depth": 0.2}],
        "effects": [{"type": "chorus", "mix": 0.5, "size": 0.5}],
        "macros": {"warm": "body", "bright": "tone", "grit": "drive", "space": "reverb",
                   "motion": "modulation", "punch": "attack"},
        "velocity": "level"
    })
}

#[test]
fn the_model_schema_is_self_contained_and_lists_every_key_in_writing_order() {
    let schema = SynthGraph::model_schema();
    let text = schema_text(&schema);
    assert!(!text.contains("$ref"), "{text}");
    assert!(!text.contains("\"format\""), "{text}");
    fn check(value: &Value) {
        if let Some(Value::Object(properties)) = value.get("properties") {
            let required: Vec<&str> = value["required"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            assert_eq!(required.len(), properties.len());
            for key in properties.keys() {
                assert!(
                    KEY_ORDER.contains(&key.as_str()) || key == "punch",
                    "{key} has no place in KEY_ORDER"
                );
            }
            assert_eq!(value["additionalProperties"], false);
        }
        match value {
            Value::Object(map) => map.values().for_each(check),
            Value::Array(items) => items.iter().for_each(check),
            _ => {}
        }
    }
    check(&schema);
    // The text keeps the order: the name first, a node's type before its numbers.
    let at = |needle: &str| text.find(needle).unwrap();
    assert!(at("\"name\"") < at("\"archetype\"") && at("\"archetype\"") < at("\"nodes\""));
    assert!(at("\"type\"") < at("\"input\"") && at("\"input\"") < at("\"frequency\""));
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), schema);
}

#[test]
fn any_number_is_clamped_into_its_range() {
    let mut wild = pad();
    wild["nodes"][0]["frequency"] = json!(1e9);
    wild["nodes"][0]["amount"] = json!(-5);
    wild["nodes"][2]["frequency"] = json!(-3);
    wild["nodes"][2]["amount"] = json!(40);
    wild["envelope"] = json!({"attack": 0, "decay": 1e6, "sustain": 7, "release": -1});
    wild["modulators"][0]["rate"] = json!(1e5);
    wild["modulators"][0]["depth"] = json!(-9);
    let spec = graph(wild).to_spec("wild");
    let p = |label: &str| spec.params[label];
    assert_eq!(p("n0_ratio"), 8.0);
    assert_eq!(p("n0_level"), 0.02);
    assert_eq!(p("n2_cutoff"), 40.0);
    assert_eq!(p("n2_resonance"), 1.0);
    assert_eq!(
        [p("attack"), p("decay"), p("sustain"), p("release")],
        [0.001, 10.0, 1.0, 0.01]
    );
    assert_eq!(p("m0_rate"), 20.0);
    assert_eq!(p("m0_depth"), -1.0);
    // Every designed value is a slider's own initial value.
    for (label, value) in &spec.params {
        let init = format!("hslider(\"{label}");
        let line = spec.faust.lines().find(|l| l.contains(&init)).unwrap();
        let declared: f32 = line.split(", ").nth(1).unwrap().parse().unwrap();
        assert!((declared - value).abs() < 1e-4, "{line} vs {value}");
    }
}

#[test]
fn positions_are_rounded_and_kept_to_earlier_nodes() {
    assert_eq!(resolve_input(0, 5.0), None);
    assert_eq!(resolve_input(3, 99.0), Some(2));
    assert_eq!(resolve_input(3, -4.0), Some(0));
    assert_eq!(resolve_input(3, 1.4), Some(1));
    assert_eq!(resolve_input(3, f64::NAN), Some(0));
    assert_eq!(clamp_position(7.6, 3), 3);

    let mut loose = pad();
    loose["nodes"][2]["input"] = json!(12345);
    loose["nodes"][0]["type"] = json!("highpass");
    loose["modulators"][0]["target"] = json!(-7);
    let spec = graph(loose).to_spec("");
    // The first node processes a saw; the filter takes node 1, the last earlier node;
    // the modulator moves node 0.
    assert!(
        spec.faust.contains("n0 = mp.saw(freq * vib) : fi.svf.hp("),
        "{}",
        spec.faust
    );
    assert!(spec.faust.contains("n2 = n1 : mp.lp("), "{}", spec.faust);
    assert!(
        spec.faust.contains("pow(2.0, tone + 3.0 * (m0))"),
        "{}",
        spec.faust
    );
    // Nodes 0 and 2 are ends (nothing processes them); 1 feeds 2.
    assert!(spec.faust.contains("nodes = n0 + n2;"), "{}", spec.faust);
}

#[test]
fn the_spec_maps_every_macro_to_a_control_the_program_has() {
    let spec = graph(pad()).to_spec("a soft pad");
    assert_eq!(spec.name, "soft_pad");
    assert_eq!(spec.prompt, "a soft pad");
    assert_eq!(spec.archetype, "pad");
    spec.validate().unwrap();
    for m in Macro::ALL {
        let links: Vec<_> = spec.macros.of(m).collect();
        assert_eq!(links.len(), 1, "{m}");
        assert!(spec.params.contains_key(&links[0].param), "{m}");
        let meta = format!("[{}:", m.key());
        assert!(spec.faust.contains(&meta), "{meta} missing");
    }
    assert_eq!(spec.macros.depth(Macro::Punch, "attack"), Some(-0.5));
    assert_eq!(spec.macros.depth(Macro::Motion, "modulation"), Some(0.5));
    assert!(spec.notes.contains("2: lowpass ← 1"), "{}", spec.notes);
}

#[test]
fn a_generated_program_carries_its_graph_and_knows_when_it_was_edited() {
    let original = graph(pad());
    let mut spec = original.to_spec("a soft pad");
    assert_eq!(SynthGraph::of_spec(&spec), Some(original.clone()));
    assert_eq!(SynthGraph::from_program(&spec.faust), Some(original));
    spec.faust = spec.faust.replace("0.5);", "0.6);");
    assert_eq!(
        SynthGraph::of_spec(&spec),
        None,
        "an edited program is Faust"
    );
    assert_eq!(SynthGraph::from_program("process = 0;"), None);
}

#[test]
fn names_are_cleaned_and_never_empty() {
    let named = |name: &str| {
        let mut value = pad();
        value["name"] = json!(name);
        graph(value).patch_name()
    };
    assert_eq!(named("Glass  Bell -- 2"), "glass_bell_2");
    assert_eq!(named("   "), "pad_graph");
    assert_eq!(named("ünïcode"), "n_code");
    assert_eq!(named(&"x".repeat(100)).len(), MAX_NAME_CHARS);
}

#[test]
fn omitted_sections_take_their_defaults() {
    let minimal = graph(json!({
        "name": "beep", "archetype": "lead",
        "nodes": [{"type": "square", "input": 0, "frequency": 1, "amount": 1}]
    }));
    assert_eq!(minimal.envelope, Envelope::default());
    assert_eq!(minimal.macros, MacroChoices::default());
    assert!(minimal.modulators.is_empty() && minimal.effects.is_empty());
    let spec = minimal.to_spec("beep");
    assert!(
        spec.faust.contains("effect = mp.reverb(2.5, 0.4, reverb);"),
        "{}",
        spec.faust
    );
}

#[test]
fn what_is_not_a_graph_is_refused_naming_the_field() {
    let refused = |value: Value, field: &str, words: &str| {
        let error = SynthGraph::from_json(&value.to_string()).unwrap_err();
        assert!(error.fields().contains(&field), "{field}: {error}");
        assert!(error.to_string().contains(words), "{words}: {error}");
    };
    let mut bad = pad();
    bad["nodes"][1]["type"] = json!("synth");
    refused(bad, "nodes[1].type", "unknown variant `synth`");
    let mut bad = pad();
    bad["archetype"] = json!("banjo");
    refused(bad, "archetype", "not an archetype");
    let mut bad = pad();
    bad["nodes"] = json!([]);
    refused(bad, "nodes", "1 to 8 nodes");
    let mut bad = pad();
    bad["effects"] = Value::Array(vec![json!({"type": "reverb", "mix": 1, "size": 1}); 4]);
    refused(bad, "effects", "0 to 3 effects");
    let mut bad = pad();
    bad["tempo"] = json!(120);
    refused(bad, "tempo", "unknown field");
    let mut bad = pad();
    bad["macros"]["warm"] = json!("sparkle");
    refused(bad, "macros.warm", "unknown variant");
}

#[test]
fn faust_numbers_have_a_point_and_no_exponent() {
    assert_eq!(faust::number(1.0), "1.0");
    assert_eq!(faust::number(0.000_01), "0.00001");
    assert_eq!(faust::number(-3.25), "-3.25");
    assert_eq!(faust::number(16000.0), "16000.0");
    assert_eq!(faust::number(1e-9), "0.0");
}

#[test]
fn controllers_reach_the_spec_clamped_and_survive_the_round_trip() {
    let mut value = pad();
    value["controllers"] = json!({
        "mod_wheel": [{"macro": "grit", "depth": 0.8}, {"macro": "motion", "depth": 3.0}],
        "velocity": [{"macro": "bright", "depth": 0.7}],
        "aftertouch": [],
        "bend_range": 99
    });
    let g = graph(value);
    let spec = g.to_spec("growls when I push the mod wheel");
    let map = &spec.controllers;
    let wheel: Vec<(Target, f32)> = map
        .routes(mephisto_dsp::controllers::Source::ModWheel)
        .iter()
        .map(|r| (r.target.clone(), r.depth))
        .collect();
    assert_eq!(
        wheel,
        [
            (Target::Macro(Macro::Grit), 0.8),
            (Target::Macro(Macro::Motion), 1.0)
        ]
    );
    assert_eq!(map.velocity[0].target, Target::Macro(Macro::Bright));
    assert!(map.aftertouch.is_empty());
    assert_eq!(map.bend_range, Some(MAX_BEND_RANGE));
    assert!(spec.notes.contains("Mod wheel → Grit"), "{}", spec.notes);
    spec.validate().unwrap();
    // The program carries the graph with its controllers, so a refinement sends them back.
    assert_eq!(SynthGraph::of_spec(&spec), Some(g));

    // Left out (or all empty), the wheel stays on Motion and nothing is written.
    let plain = graph(pad());
    assert!(plain.controllers.is_default());
    assert!(plain.to_spec("").controllers.is_default());
    assert!(!plain.to_json().contains("controllers"));

    // More routes than a controller takes are refused, naming the field.
    let mut crowded = pad();
    crowded["controllers"] = json!({"velocity": [
        {"macro": "warm", "depth": 0.1}, {"macro": "bright", "depth": 0.1},
        {"macro": "grit", "depth": 0.1}, {"macro": "space", "depth": 0.1}
    ]});
    let error = SynthGraph::from_json(&crowded.to_string()).unwrap_err();
    assert!(
        error.to_string().contains("controllers.velocity"),
        "{error}"
    );
}
