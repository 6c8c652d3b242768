//! The synthesis graph's processors against PyTorch (`onnx/testdata/processor_*.json`,
//! written by `onnx/parity.py --write-processors` from `onnx/ddsp/processors.py`): each
//! processor the plugin runs, through the code the plugin runs it with, gives the float64
//! reference within the file's tolerance (1e-4). The sidecar's graph is read by the same
//! serde pass as a model's (`GraphConfig`).

use std::path::Path;

use serde_json::Value;

use mephisto_neural::model::{GraphConfig, NodeConfig};
use mephisto_rt::neural::fir_noise::{filter_white_noise, FirNoise};
use mephisto_rt::neural::graph::{add_scaled, GraphSpec, NodeKind, NodeSpec, SynthGraph};
use mephisto_rt::neural::reverb::resample_ir;
use mephisto_rt::neural::synth::render_frames;
use mephisto_rt::neural::{Controls, HARMONICS, NOISE_BANDS};

fn processor_file(kind: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../onnx/testdata")
        .join(format!("processor_{kind}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (onnx/parity.py --write-processors)",
            path.display()
        )
    });
    let data: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(data["processor"], kind);
    data
}

fn flat(value: &Value) -> Vec<f32> {
    match value {
        Value::Array(items) => items.iter().flat_map(flat).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap() as f32],
        other => panic!("not a number: {other}"),
    }
}

fn tolerance(data: &Value) -> f32 {
    data["tolerance"].as_f64().unwrap() as f32
}

/// The largest difference, checked against the file's tolerance.
fn assert_close(ours: &[f32], theirs: &[f32], tolerance: f32, what: &str) {
    assert_eq!(ours.len(), theirs.len(), "{what}: lengths");
    let worst = ours
        .iter()
        .zip(theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    println!("{what}: largest difference {worst:e}");
    assert!(worst <= tolerance, "{what}: largest difference {worst}");
    let scale = theirs.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    assert!(
        scale > 0.0,
        "{what}: the reference is silent, the test would prove nothing"
    );
}

/// Harmonic frames from the file's per-frame f0, amplitude and distribution.
fn harmonic_frames(f0: &[f32], amplitude: &[f32], harmonics: &[f32]) -> Vec<Controls> {
    (0..f0.len())
        .map(|i| {
            let mut c = Controls::silent(f0[i]);
            c.amplitude = amplitude[i];
            c.harmonics
                .copy_from_slice(&harmonics[i * HARMONICS..(i + 1) * HARMONICS]);
            c
        })
        .collect()
}

/// The graph a node list of the file describes, read as a sidecar's graph.
fn graph_of(value: &Value) -> GraphSpec {
    let config: GraphConfig = serde_json::from_value(value.clone()).unwrap();
    config.spec().unwrap()
}

#[test]
fn the_harmonic_processor_is_pytorch_s() {
    let data = processor_file("harmonic");
    let s = &data["signal"];
    let frames = harmonic_frames(
        &flat(&s["f0_hz"]),
        &flat(&s["amplitude"]),
        &flat(&s["harmonics"]),
    );
    let ours = render_frames(
        &frames,
        s["sample_rate"].as_f64().unwrap() as f32,
        8000.0,
        s["hop"].as_f64().unwrap(),
        s["samples"].as_u64().unwrap() as usize,
        false,
    );
    assert_close(&ours, &flat(&s["output"]), tolerance(&data), "harmonic");
}

/// Frames of noise-band magnitudes from a flat list.
fn band_frames(values: &[f32]) -> Vec<[f32; NOISE_BANDS]> {
    assert_eq!(values.len() % NOISE_BANDS, 0);
    values
        .chunks(NOISE_BANDS)
        .map(|c| c.try_into().unwrap())
        .collect()
}

/// The voices' noise (`FirNoise`) on the file's white noise: each frame's FIR and the
/// filtered signal are PyTorch's.
#[test]
fn the_filtered_noise_processor_is_pytorch_s() {
    let data = processor_file("filtered_noise");
    let s = &data["signal"];
    let sample_rate = s["sample_rate"].as_f64().unwrap() as f32;
    let frames = band_frames(&flat(&s["noise"]));
    let mut noise = FirNoise::new(sample_rate, sample_rate / 2.0, 1);
    assert_eq!(noise.hop() as u64, s["hop"].as_u64().unwrap());
    let filters: Vec<f32> = frames
        .iter()
        .flat_map(|bands| noise.design(bands).to_vec())
        .collect();
    assert_close(
        &filters,
        &flat(&data["filters"]),
        tolerance(&data),
        "filters",
    );
    let ours = filter_white_noise(
        &frames,
        &flat(&s["white"]),
        sample_rate,
        sample_rate / 2.0,
        s["samples"].as_u64().unwrap() as usize,
    );
    assert_close(
        &ours,
        &flat(&s["output"]),
        tolerance(&data),
        "filtered noise",
    );
}

#[test]
fn the_add_processor_is_pytorch_s() {
    let data = processor_file("add");
    let node: NodeConfig = serde_json::from_value(data["node"].clone()).unwrap();
    let gains = node.gains.clone().unwrap();
    let inputs: Vec<Vec<f32>> = data["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(flat)
        .collect();
    assert_eq!(inputs.len(), gains.len());
    let mut out = vec![0.0; inputs[0].len()];
    for (input, gain) in inputs.iter().zip(&gains) {
        add_scaled(&mut out, input, *gain);
    }
    assert_close(&out, &flat(&data["output"]), tolerance(&data), "add");
}

#[test]
fn the_reverb_processor_is_pytorch_s_at_the_model_rate_and_at_48_khz() {
    let data = processor_file("reverb");
    let node: NodeConfig = serde_json::from_value(data["node"].clone()).unwrap();
    let ir = node.ir.clone().unwrap();
    let rate = node.ir_sample_rate.unwrap();
    for (key, signal) in data["signals"].as_object().unwrap() {
        let sample_rate = signal["sample_rate"].as_f64().unwrap();
        // The IR made for this rate, as the plugin makes it.
        let made = resample_ir(&ir, rate, sample_rate).unwrap();
        assert_close(
            &made,
            &flat(&signal["ir"]),
            1e-6,
            &format!("IR at {key} Hz"),
        );
        // The node in a graph whose only sound is the harmonic part: the input.
        let mut spec = GraphSpec::default_graph();
        spec.nodes[2].kind = NodeKind::Add {
            gains: vec![1.0, 0.0],
        };
        spec.nodes.push(NodeSpec {
            name: node.name.clone(),
            kind: NodeKind::Reverb {
                ir: ir.clone(),
                ir_sample_rate: rate,
                dry: node.dry.unwrap(),
                wet: node.wet.unwrap(),
            },
            inputs: vec!["voice".into()],
        });
        spec.output = node.name.clone();
        let mut graph = SynthGraph::new(&spec, sample_rate as f32).unwrap();
        let input = flat(&signal["input"]);
        let mut out = vec![0.0; input.len()];
        // Odd pieces, as host blocks come.
        let mut start = 0;
        for size in [1usize, 63, 500, 64].iter().cycle() {
            if start == input.len() {
                break;
            }
            let end = (start + size).min(input.len());
            let silence = vec![0.0; end - start];
            graph.process(&input[start..end], &silence, &mut out[start..end]);
            start = end;
        }
        assert_close(
            &out,
            &flat(&signal["output"]),
            tolerance(&data),
            &format!("reverb at {key} Hz"),
        );
    }
}

#[test]
fn a_whole_graph_is_pytorch_s_node_by_node() {
    let data = processor_file("group");
    let spec = graph_of(&data["node"]);
    assert!(spec.has_reverb());
    let sample_rate = data["sample_rate"].as_f64().unwrap() as f32;
    let samples = data["samples"].as_u64().unwrap() as usize;
    let c = &data["controls"];
    let frames = harmonic_frames(
        &flat(&data["f0_hz"]),
        &flat(&c["amplitude"]),
        &flat(&c["harmonics"]),
    );
    assert_eq!(flat(&c["noise"]).len(), frames.len() * NOISE_BANDS);
    let signals = &data["signals"];
    let tol = tolerance(&data);
    let harmonic = render_frames(
        &frames,
        sample_rate,
        sample_rate / 2.0,
        data["hop"].as_f64().unwrap(),
        samples,
        false,
    );
    assert_close(&harmonic, &flat(&signals["harmonic"]), tol, "harmonic");
    // The noise part from the file's white noise, as the voices filter theirs.
    let noise = filter_white_noise(
        &band_frames(&flat(&c["noise"])),
        &flat(&data["white"]["noise"]),
        sample_rate,
        sample_rate / 2.0,
        samples,
    );
    assert_close(&noise, &flat(&signals["noise"]), tol, "noise");
    // Every node's output: the graph cut at that node.
    for name in ["voice", "room"] {
        let mut cut = spec.clone();
        cut.output = name.to_string();
        cut.nodes.retain(|n| n.name != "room" || name == "room");
        let mut graph = SynthGraph::new(&cut, sample_rate).unwrap();
        let mut out = vec![0.0; samples];
        graph.process(&harmonic, &noise, &mut out);
        assert_close(&out, &flat(&signals[name]), tol, name);
    }
    let mut graph = SynthGraph::new(&spec, sample_rate).unwrap();
    let mut out = vec![0.0; samples];
    graph.process(&harmonic, &noise, &mut out);
    assert_close(&out, &flat(&data["output"]), tol, "output");
}

/// nylon_pluck was trained with a learned room: it plays with it (the ONNX Runtime is found
/// as the plugin finds it), without the patch's own effect, and `room` (Space) moves it.
#[test]
fn nylon_pluck_plays_its_learned_room_and_room_moves_it() {
    use mephisto_neural::voices::{load_lockstep, resolve_model, trained_on_effect};
    let model = resolve_model("nylon_pluck").unwrap();
    let tail_power = |room: f32| {
        let (mut voices, info, mut lockstep) = load_lockstep(&model, 1, 48_000.0).unwrap();
        assert!(info.has_room() && trained_on_effect(&info).is_none());
        let room_control = voices.controls().find("room").map(|c| c.index).unwrap();
        voices.set_control(room_control, room);
        voices.bank_mut().note_on(0, 220.0, 1.0);
        let mut block = vec![0.0f32; 64];
        let mut tail = 0.0f64;
        // 0.3 s held, released; the voice ends by its 0.25 s release, the room rings on.
        for i in 0..(48_000 * 12 / 10 / 64) {
            if i == 48_000 * 3 / 10 / 64 {
                voices.bank_mut().note_off(0);
            }
            lockstep.step();
            voices.render(&mut block);
            if i * 64 > 48_000 * 7 / 10 {
                assert!(!voices.bank().is_voice_active(0), "the dry voice has ended");
                tail += block.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>();
            }
        }
        tail
    };
    let (dry, learned, doubled) = (tail_power(0.0), tail_power(1.0), tail_power(2.0));
    assert_eq!(dry, 0.0, "no room: silence once the voice has ended");
    assert!(
        learned > 1e-9,
        "the learned room rings after the voice ({learned})"
    );
    assert!(
        (doubled / learned - 4.0).abs() < 1e-3,
        "twice the wet gain, four times the tail's power ({doubled} vs {learned})"
    );
}
