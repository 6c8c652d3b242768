"""The synthesis graph: processors (ddsp/processors.py) wired by a small JSON config.

    {"nodes": [{"name": "harmonic", "kind": "harmonic"},
               {"name": "noise", "kind": "filtered_noise"},
               {"name": "voice", "kind": "add", "inputs": ["harmonic", "noise"]},
               {"name": "room", "kind": "reverb", "inputs": ["voice"], "ir_seconds": 1.0}],
     "output": "room"}

A node has a `name`, a `kind`, `inputs` (the names of the nodes whose audio it takes; none for
the sources) and the kind's settings. Edges carry audio only: the controls a node reads come
from the decoder, which grows one output per control the graph's nodes read. The config is
checked before anything is built; errors name the node (GraphError). An optional "encoder"
object (ddsp/encoder.py) rides along in the same config. A sidecar's "graph"
(ProcessorGroup.describe) is a config too, with every setting and what the processors learned
(a reverb's `ir`), which building it loads back.

DEFAULT_CONFIG is the contract's voice (harmonic plus filtered noise, no reverb): a sidecar
without a "graph" means it.
"""

import copy
import json
from pathlib import Path

from torch import nn

from . import SAMPLE_RATE
from .processors import KINDS, RenderContext

DEFAULT_CONFIG = {
    "nodes": [
        {"name": "harmonic", "kind": "harmonic"},
        {"name": "noise", "kind": "filtered_noise"},
        {"name": "voice", "kind": "add", "inputs": ["harmonic", "noise"]},
    ],
    "output": "voice",
}
TOP_LEVEL_KEYS = ("nodes", "output", "encoder")
NODE_KEYS = ("name", "kind", "inputs")


class GraphError(ValueError):
    """A graph config that cannot be built."""


def load_config(path: Path) -> dict:
    """A graph config from a JSON file (checked when the graph is built)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise GraphError(f"cannot read the graph config {path}: {error}") from error


def _nodes(config) -> list:
    if not isinstance(config, dict):
        raise GraphError(f"a graph config is a JSON object, got {type(config).__name__}")
    unknown = sorted(set(config) - set(TOP_LEVEL_KEYS))
    if unknown:
        raise GraphError(
            f"unknown key {unknown[0]!r} in the graph config (known: {', '.join(TOP_LEVEL_KEYS)})"
        )
    nodes = config.get("nodes")
    if not isinstance(nodes, list) or not nodes:
        raise GraphError("the graph config needs a non-empty list `nodes`")
    names = set()
    for index, node in enumerate(nodes):
        if not isinstance(node, dict) or not isinstance(node.get("name"), str) or not node["name"]:
            raise GraphError(f"node #{index + 1} needs a `name` (a non-empty string)")
        name = node["name"]
        if name in names:
            raise GraphError(f"node {name!r} is defined twice")
        names.add(name)
        if node.get("kind") not in KINDS:
            raise GraphError(
                f"node {name!r}: unknown kind {node.get('kind')!r} "
                f"(known: {', '.join(sorted(KINDS))})"
            )
        inputs = node.get("inputs", [])
        if not isinstance(inputs, list) or not all(isinstance(i, str) for i in inputs):
            raise GraphError(f"node {name!r}: `inputs` must be a list of node names")
    return nodes


def _check_inputs_exist(nodes: list) -> None:
    names = [n["name"] for n in nodes]
    for node in nodes:
        for source in node.get("inputs", []):
            if source not in names:
                raise GraphError(
                    f"node {node['name']!r}: input {source!r} is missing "
                    f"(no node has that name; nodes: {', '.join(names)})"
                )


def _check_edges(nodes: list, output) -> None:
    """Every kind gets as many inputs as it takes, the output exists and every node feeds it."""
    names = [n["name"] for n in nodes]
    for node in nodes:
        kind = KINDS[node["kind"]]
        count = len(node.get("inputs", []))
        least, most = kind.audio_inputs
        if count < least or (most is not None and count > most):
            if least == most:
                wanted = f"exactly {least}"
            elif most is None:
                wanted = f"at least {least}"
            else:
                wanted = f"{least} to {most}"
            raise GraphError(
                f"node {node['name']!r}: a {kind.kind} node takes {wanted} audio input(s), "
                f"got {count}"
            )
    if output not in names:
        raise GraphError(f"the graph's `output` {output!r} is not a node")
    feeds = {n["name"]: n.get("inputs", []) for n in nodes}
    reached, todo = set(), [output]
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            todo.extend(feeds[name])
    for name in names:
        if name not in reached:
            raise GraphError(f"node {name!r} does not reach the output {output!r}")


def _evaluation_order(nodes: list) -> list:
    """The nodes' names, every node after its inputs (config order among the ready ones);
    a cycle is an error that names it."""
    feeds = {n["name"]: n.get("inputs", []) for n in nodes}
    state, order = {}, []

    def visit(name: str, path: list) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            cycle = path[path.index(name) :] + [name]
            raise GraphError(f"the graph has a cycle: {' -> '.join(cycle)}")
        state[name] = "visiting"
        for source in feeds[name]:
            visit(source, path + [name])
        state[name] = "done"
        order.append(name)

    for node in nodes:
        visit(node["name"], [])
    return order


def check_config(config) -> list:
    """Checks a graph config; returns its nodes in evaluation order. Raises GraphError."""
    nodes = _nodes(config)
    _check_inputs_exist(nodes)
    order = _evaluation_order(nodes)
    _check_edges(nodes, config.get("output"))
    by_name = {n["name"]: n for n in nodes}
    return [by_name[name] for name in order]


class ProcessorGroup(nn.Module):
    """The processors of a graph config, run in dependency order."""

    def __init__(self, config: dict | None = None, sample_rate: int = SAMPLE_RATE):
        super().__init__()
        config = copy.deepcopy(DEFAULT_CONFIG if config is None else config)
        ordered = check_config(config)
        self.output = config["output"]
        self.inputs = {n["name"]: list(n.get("inputs", [])) for n in ordered}
        self.processors = nn.ModuleDict()
        readers = {}
        for node in config["nodes"]:
            name = node["name"]
            kind = KINDS[node["kind"]]
            settings = {k: v for k, v in node.items() if k in kind.defaults}
            learned = {k: v for k, v in node.items() if k in kind.learned_keys}
            unknown = sorted(set(node) - set(NODE_KEYS) - set(settings) - set(learned))
            if unknown:
                known = ", ".join(sorted(kind.defaults)) or "none"
                raise GraphError(
                    f"node {name!r}: unknown setting {unknown[0]!r} for a {kind.kind} node "
                    f"(known: {known})"
                )
            try:
                processor = kind(name, settings, sample_rate)
                processor.check_inputs(self.inputs[name])
                processor.load_learned(learned)
            except ValueError as error:
                raise GraphError(f"node {name!r}: {error}") from error
            for control in kind.control_sizes:
                if control in readers:
                    raise GraphError(
                        f"node {name!r}: control {control!r} is already read by node "
                        f"{readers[control]!r} (each decoder output feeds one node)"
                    )
                readers[control] = name
            self.processors[name] = processor
        self.order = [n["name"] for n in ordered]

    def control_sizes(self) -> dict:
        """The decoder outputs the graph reads, name -> size, in the config's node order (the
        default graph's: amplitude, harmonics, noise, as the contract has them)."""
        sizes = {}
        for processor in self.processors.values():
            sizes.update(processor.control_sizes)
        return sizes

    def get_controls(self, raw: dict) -> dict:
        """Raw decoder outputs -> controls, each through the processor that reads it."""
        controls = {}
        for processor in self.processors.values():
            controls.update(processor.get_controls(raw))
        return controls

    def render(self, controls: dict, context: RenderContext) -> tuple:
        """(output audio [B, samples], every node's audio by name)."""
        signals = {}
        for name in self.order:
            audio = [signals[source] for source in self.inputs[name]]
            signals[name] = self.processors[name].get_signal(context, controls, audio)
        return signals[self.output], signals

    def has_trainable_processors(self) -> bool:
        """Whether a processor learns parameters of its own (a reverb's IR): those are not
        learned from the analysis targets, only end to end through the audio."""
        return any(True for _ in self.processors.parameters())

    def describe(self) -> dict:
        """The config with every setting (defaults filled in) and what the processors learned:
        the sidecar's "graph" (without the encoder, which the model adds)."""
        nodes = []
        for name, processor in self.processors.items():
            nodes.append(
                {
                    "name": name,
                    "kind": processor.kind,
                    "inputs": self.inputs[name],
                    **processor.settings,
                    **processor.learned(),
                }
            )
        return {"nodes": nodes, "output": self.output}

