//! A model's synthesis graph as the audio thread runs it (docs/NEURAL.md §10). The sidecar's
//! `"graph"` names processors and the audio edges between them; `onnx/ddsp/` trains with
//! the same graph. Its sources (`harmonic`, `filtered_noise`) are per voice: the voice bank
//! renders them and sums each over the voices. Every other processor (`add`, `reverb`) is
//! linear and the same for every voice, so it runs once, on those sums:
//! Σ_v f(x_v) = f(Σ_v x_v).
//!
//! [`GraphSpec`] is the graph as data (the `mephisto-neural` crate reads it from the sidecar);
//! [`SynthGraph::new`] checks it (known kinds, inputs that exist, no cycles, the right number
//! of inputs, every node reaching the output) and plans it for a sample rate, allocating
//! everything; [`SynthGraph::process`] allocates nothing.

use super::reverb::{resample_ir, Convolver};

/// Samples processed per internal step: the graph's buffers have this size.
const BLOCK: usize = 256;

/// What a node does.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    /// The harmonic synthesiser (a source, per voice).
    Harmonic,
    /// The filtered noise (a source, per voice).
    FilteredNoise,
    /// `Σ gains[i] · input[i]`.
    Add { gains: Vec<f32> },
    /// `dry · x + wet · (ir ∗ x)` with `ir` at `ir_sample_rate` (made for the playing rate).
    Reverb {
        ir: Vec<f32>,
        ir_sample_rate: f64,
        dry: f32,
        wet: f32,
    },
}

impl NodeKind {
    fn name(&self) -> &'static str {
        match self {
            NodeKind::Harmonic => "harmonic",
            NodeKind::FilteredNoise => "filtered_noise",
            NodeKind::Add { .. } => "add",
            NodeKind::Reverb { .. } => "reverb",
        }
    }
}

/// One processor of a graph, as the sidecar describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeSpec {
    pub name: String,
    pub kind: NodeKind,
    /// Names of the nodes whose audio it takes.
    pub inputs: Vec<String>,
}

/// A synthesis graph as data.
#[derive(Clone, Debug, PartialEq)]
pub struct GraphSpec {
    pub nodes: Vec<NodeSpec>,
    /// The node whose audio is the voice's.
    pub output: String,
}

impl GraphSpec {
    /// The graph of a sidecar without one: harmonic + noise, added.
    pub fn default_graph() -> GraphSpec {
        let node = |name: &str, kind, inputs: &[&str]| NodeSpec {
            name: name.to_string(),
            kind,
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
        };
        GraphSpec {
            nodes: vec![
                node("harmonic", NodeKind::Harmonic, &[]),
                node("noise", NodeKind::FilteredNoise, &[]),
                node(
                    "voice",
                    NodeKind::Add {
                        gains: vec![1.0, 1.0],
                    },
                    &["harmonic", "noise"],
                ),
            ],
            output: "voice".to_string(),
        }
    }

    /// Whether any node is a reverb (the graph has a room of its own).
    pub fn has_reverb(&self) -> bool {
        self.nodes
            .iter()
            .any(|n| matches!(n.kind, NodeKind::Reverb { .. }))
    }

    /// Checks the graph without planning it: known arities, inputs that exist, no cycle,
    /// every node reaching the output. Errors name the node.
    pub fn check(&self) -> Result<(), String> {
        self.order().map(|_| ())
    }

    /// The nodes in an order where every node comes after its inputs, by index; errors name
    /// the node and what is wrong with it.
    fn order(&self) -> Result<Vec<usize>, String> {
        let index = |name: &str| self.nodes.iter().position(|n| n.name == name);
        for (i, node) in self.nodes.iter().enumerate() {
            if index(&node.name) != Some(i) {
                return Err(format!("two nodes are named `{}`", node.name));
            }
            let (least, most) = match node.kind {
                NodeKind::Harmonic | NodeKind::FilteredNoise => (0, 0),
                NodeKind::Add { .. } => (1, usize::MAX),
                NodeKind::Reverb { .. } => (1, 1),
            };
            let count = node.inputs.len();
            if count < least || count > most {
                return Err(format!(
                    "node `{}` ({}) takes {} audio input{}, it has {count}",
                    node.name,
                    node.kind.name(),
                    if least == most {
                        least.to_string()
                    } else {
                        format!("at least {least}")
                    },
                    if most == 1 { "" } else { "s" },
                ));
            }
            for input in &node.inputs {
                if index(input).is_none() {
                    return Err(format!(
                        "node `{}` takes `{input}`, which is missing (no node has that name)",
                        node.name
                    ));
                }
            }
            if let NodeKind::Add { gains } = &node.kind {
                if gains.len() != count {
                    return Err(format!(
                        "node `{}` (add) has {} gains for {count} inputs",
                        node.name,
                        gains.len()
                    ));
                }
            }
        }
        let output = index(&self.output)
            .ok_or_else(|| format!("the output `{}` is not a node", self.output))?;
        // Depth-first from the output: a node on the current path seen again is a cycle.
        let mut order = Vec::new();
        let mut state = vec![0u8; self.nodes.len()]; // 0 new, 1 on the path, 2 done
        let mut path: Vec<usize> = Vec::new();
        fn visit(
            spec: &GraphSpec,
            node: usize,
            state: &mut [u8],
            path: &mut Vec<usize>,
            order: &mut Vec<usize>,
        ) -> Result<(), String> {
            match state[node] {
                2 => return Ok(()),
                1 => {
                    let start = path.iter().position(|&p| p == node).unwrap_or(0);
                    let names: Vec<&str> = path[start..]
                        .iter()
                        .chain(std::iter::once(&node))
                        .map(|&i| spec.nodes[i].name.as_str())
                        .collect();
                    return Err(format!("the graph has a cycle: {}", names.join(" -> ")));
                }
                _ => {}
            }
            state[node] = 1;
            path.push(node);
            for input in &spec.nodes[node].inputs {
                let i = spec
                    .nodes
                    .iter()
                    .position(|n| &n.name == input)
                    .expect("inputs checked above");
                visit(spec, i, state, path, order)?;
            }
            path.pop();
            state[node] = 2;
            order.push(node);
            Ok(())
        }
        visit(self, output, &mut state, &mut path, &mut order)?;
        if let Some(unused) = (0..self.nodes.len()).find(|&i| state[i] != 2) {
            return Err(format!(
                "node `{}` does not reach the output `{}`",
                self.nodes[unused].name, self.output
            ));
        }
        Ok(order)
    }
}

/// What a planned node does on the audio thread.
enum Step {
    Harmonic,
    Noise,
    Add {
        inputs: Vec<usize>,
        gains: Vec<f32>,
    },
    Reverb {
        input: usize,
        dry: f32,
        wet: f32,
        convolver: Box<Convolver>,
    },
}

/// A graph planned for one sample rate (see the module notes).
pub struct SynthGraph {
    /// In evaluation order; `Step` inputs index `buffers`.
    steps: Vec<Step>,
    /// One buffer per step, in the same order.
    buffers: Vec<Vec<f32>>,
    /// Multiplies every reverb's `wet` (the `room` control: Space moves it).
    room: f32,
    has_reverb: bool,
}

impl SynthGraph {
    /// Checks `spec` and plans it at `sample_rate` (a reverb's IR made for that rate).
    /// Allocates: off the audio thread.
    pub fn new(spec: &GraphSpec, sample_rate: f32) -> Result<SynthGraph, String> {
        let order = spec.order()?;
        let mut position = vec![usize::MAX; spec.nodes.len()];
        let mut steps = Vec::with_capacity(order.len());
        for (slot, &node) in order.iter().enumerate() {
            position[node] = slot;
            let n = &spec.nodes[node];
            let input_slot = |name: &String| {
                position[spec
                    .nodes
                    .iter()
                    .position(|m| &m.name == name)
                    .expect("inputs checked")]
            };
            steps.push(match &n.kind {
                NodeKind::Harmonic => Step::Harmonic,
                NodeKind::FilteredNoise => Step::Noise,
                NodeKind::Add { gains } => Step::Add {
                    inputs: n.inputs.iter().map(input_slot).collect(),
                    gains: gains.clone(),
                },
                NodeKind::Reverb {
                    ir,
                    ir_sample_rate,
                    dry,
                    wet,
                } => {
                    let ir = resample_ir(ir, *ir_sample_rate, f64::from(sample_rate))
                        .map_err(|e| format!("node `{}`: {e}", n.name))?;
                    Step::Reverb {
                        input: input_slot(&n.inputs[0]),
                        dry: *dry,
                        wet: *wet,
                        convolver: Box::new(Convolver::new(&ir)),
                    }
                }
            });
        }
        let sources = steps
            .iter()
            .filter(|s| matches!(s, Step::Harmonic | Step::Noise))
            .count();
        if sources == 0 {
            return Err(
                "the graph has no harmonic or filtered_noise node: it would be silent".to_string(),
            );
        }
        Ok(SynthGraph {
            buffers: vec![vec![0.0; BLOCK]; steps.len()],
            has_reverb: spec.has_reverb(),
            steps,
            room: 1.0,
        })
    }

    /// Whether the graph has a reverb (a room the `room` control moves).
    pub fn has_reverb(&self) -> bool {
        self.has_reverb
    }

    /// Scales every reverb's `wet` gain. Wait-free.
    pub fn set_room(&mut self, room: f32) {
        self.room = room.max(0.0);
    }

    /// Silences every reverb at once.
    pub fn reset(&mut self) {
        for step in &mut self.steps {
            if let Step::Reverb { convolver, .. } = step {
                convolver.reset();
            }
        }
    }

    /// Runs the graph on the voices' summed `harmonic` and `noise` parts, writing its output
    /// into `out` (all three the same length). Allocation-free.
    pub fn process(&mut self, harmonic: &[f32], noise: &[f32], out: &mut [f32]) {
        let mut start = 0;
        while start < out.len() {
            let end = (start + BLOCK).min(out.len());
            self.process_block(
                &harmonic[start..end],
                &noise[start..end],
                &mut out[start..end],
            );
            start = end;
        }
    }

    fn process_block(&mut self, harmonic: &[f32], noise: &[f32], out: &mut [f32]) {
        let n = out.len();
        for i in 0..self.steps.len() {
            let (done, rest) = self.buffers.split_at_mut(i);
            let buffer = &mut rest[0][..n];
            match &mut self.steps[i] {
                Step::Harmonic => buffer.copy_from_slice(harmonic),
                Step::Noise => buffer.copy_from_slice(noise),
                Step::Add { inputs, gains } => {
                    buffer.fill(0.0);
                    for (&input, &gain) in inputs.iter().zip(gains.iter()) {
                        add_scaled(buffer, &done[input][..n], gain);
                    }
                }
                Step::Reverb {
                    input,
                    dry,
                    wet,
                    convolver,
                } => {
                    let x = &done[*input][..n];
                    convolver.process(x, buffer);
                    let wet = *wet * self.room;
                    for (y, x) in buffer.iter_mut().zip(x) {
                        *y = *dry * x + wet * *y;
                    }
                }
            }
        }
        out.copy_from_slice(&self.buffers[self.steps.len() - 1][..n]);
    }
}

/// The `add` processor's step: `out += gain · input`.
pub fn add_scaled(out: &mut [f32], input: &[f32], gain: f32) {
    for (y, x) in out.iter_mut().zip(input) {
        *y += gain * x;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, kind: NodeKind, inputs: &[&str]) -> NodeSpec {
        NodeSpec {
            name: name.to_string(),
            kind,
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn add(n: usize) -> NodeKind {
        NodeKind::Add {
            gains: vec![1.0; n],
        }
    }

    #[test]
    fn a_bad_graph_is_refused_with_the_node_named() {
        let mut spec = GraphSpec::default_graph();
        spec.nodes[2].inputs[1] = "nois".into();
        let err = SynthGraph::new(&spec, 48_000.0).err().unwrap();
        assert!(err.contains("`voice`") && err.contains("missing"), "{err}");

        let spec = GraphSpec {
            nodes: vec![
                node("harmonic", NodeKind::Harmonic, &[]),
                node("a", add(2), &["harmonic", "b"]),
                node("b", add(1), &["a"]),
            ],
            output: "b".into(),
        };
        let err = SynthGraph::new(&spec, 48_000.0).err().unwrap();
        assert!(err.contains("cycle: b -> a -> b"), "{err}");

        let mut spec = GraphSpec::default_graph();
        spec.nodes.push(node("x", NodeKind::Harmonic, &["noise"]));
        let err = SynthGraph::new(&spec, 48_000.0).err().unwrap();
        assert!(err.contains("`x`") && err.contains("takes 0"), "{err}");

        let mut spec = GraphSpec::default_graph();
        spec.nodes.push(node("spare", NodeKind::FilteredNoise, &[]));
        let err = SynthGraph::new(&spec, 48_000.0).err().unwrap();
        assert!(err.contains("`spare` does not reach"), "{err}");

        let mut spec = GraphSpec::default_graph();
        spec.output = "room".into();
        assert!(SynthGraph::new(&spec, 48_000.0).is_err());
    }

    #[test]
    fn the_default_graph_adds_its_sources() {
        let mut graph = SynthGraph::new(&GraphSpec::default_graph(), 48_000.0).unwrap();
        assert!(!graph.has_reverb());
        let h: Vec<f32> = (0..600).map(|i| i as f32).collect();
        let n = vec![0.5; 600];
        let mut out = vec![0.0; 600];
        graph.process(&h, &n, &mut out);
        assert!(out.iter().enumerate().all(|(i, y)| *y == i as f32 + 0.5));
    }

    /// With `assert_process_allocs`, any allocation inside `assert_no_alloc` aborts.
    #[cfg(all(feature = "assert_process_allocs", debug_assertions))]
    #[test]
    fn a_graph_with_a_reverb_allocates_nothing_while_it_plays() {
        let mut spec = GraphSpec::default_graph();
        spec.nodes.push(node(
            "room",
            NodeKind::Reverb {
                ir: (0..24_000)
                    .map(|i| (-(i as f32) / 4000.0).exp() * 0.01)
                    .collect(),
                ir_sample_rate: 16_000.0,
                dry: 1.0,
                wet: 1.0,
            },
            &["voice"],
        ));
        spec.output = "room".into();
        let mut graph = SynthGraph::new(&spec, 48_000.0).unwrap();
        let x = vec![0.1; 4096];
        let mut out = vec![0.0; 4096];
        nice_assert_no_alloc::assert_no_alloc(|| {
            for size in [64, 1, 1000, 4096] {
                graph.process(&x[..size], &x[..size], &mut out[..size]);
            }
            graph.set_room(0.5);
            graph.reset();
            graph.process(&x, &x, &mut out);
        });
        assert!(out.iter().all(|y| y.is_finite()));
    }
}
