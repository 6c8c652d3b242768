"""The graph config is checked before anything is built, and its errors name the node."""

import copy
import sys
import unittest
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ddsp.graph import DEFAULT_CONFIG, GraphError, ProcessorGroup, load_config  # noqa: E402
from ddsp.model import Voice  # noqa: E402
from ddsp.processors import RenderContext  # noqa: E402

GRAPHS = Path(__file__).resolve().parents[1] / "graphs"


def reverb_config(**reverb) -> dict:
    config = copy.deepcopy(DEFAULT_CONFIG)
    config["nodes"].append({"name": "room", "kind": "reverb", "inputs": ["voice"], **reverb})
    config["output"] = "room"
    return config


class GraphErrors(unittest.TestCase):
    def assert_error(self, config, *fragments):
        with self.assertRaises(GraphError) as caught:
            ProcessorGroup(config)
        message = str(caught.exception)
        for fragment in fragments:
            self.assertIn(fragment, message)
        return message

    def test_a_cycle_is_named(self):
        config = {
            "nodes": [
                {"name": "harmonic", "kind": "harmonic"},
                {"name": "a", "kind": "add", "inputs": ["harmonic", "b"]},
                {"name": "b", "kind": "reverb", "inputs": ["a"]},
            ],
            "output": "b",
        }
        self.assert_error(config, "cycle", "a -> b -> a")

    def test_a_node_feeding_itself_is_a_cycle(self):
        config = {"nodes": [{"name": "loop", "kind": "add", "inputs": ["loop"]}], "output": "loop"}
        self.assert_error(config, "cycle", "loop -> loop")

    def test_a_missing_input_names_the_node_and_the_input(self):
        config = reverb_config()
        config["nodes"][-1]["inputs"] = ["voic"]
        self.assert_error(config, "'room'", "'voic'", "missing")

    def test_an_unknown_kind_names_the_node_and_the_known_kinds(self):
        config = copy.deepcopy(DEFAULT_CONFIG)
        config["nodes"][1]["kind"] = "granular"
        self.assert_error(config, "'noise'", "'granular'", "filtered_noise", "reverb")

    def test_other_mistakes_are_named(self):
        twice = copy.deepcopy(DEFAULT_CONFIG)
        twice["nodes"].append({"name": "noise", "kind": "filtered_noise"})
        self.assert_error(twice, "'noise'", "twice")
        self.assert_error(reverb_config(ir_second=1.0), "'room'", "'ir_second'", "ir_seconds")
        self.assert_error(reverb_config(ir_seconds="long"), "'room'", "ir_seconds")
        self.assert_error(reverb_config(dry=float("nan")), "'room'", "dry", "finite")
        self.assert_error(reverb_config(seed=1.5), "'room'", "seed")
        self.assert_error(reverb_config(ir_seconds=0.0), "'room'", "ir_seconds")
        wrong_output = copy.deepcopy(DEFAULT_CONFIG)
        wrong_output["output"] = "mix"
        self.assert_error(wrong_output, "'mix'", "output")
        dangling = reverb_config()
        dangling["output"] = "voice"
        self.assert_error(dangling, "'room'", "does not reach")
        two_inputs = reverb_config()
        two_inputs["nodes"][-1]["inputs"] = ["harmonic", "noise"]
        self.assert_error(two_inputs, "'room'", "exactly 1", "got 2")
        fed_source = copy.deepcopy(DEFAULT_CONFIG)
        fed_source["nodes"][0]["inputs"] = ["noise"]
        self.assert_error(fed_source, "'harmonic'", "got 1")
        gains = copy.deepcopy(DEFAULT_CONFIG)
        gains["nodes"][2]["gains"] = [1.0]
        self.assert_error(gains, "'voice'", "gains")
        two_harmonics = copy.deepcopy(DEFAULT_CONFIG)
        two_harmonics["nodes"].insert(1, {"name": "h2", "kind": "harmonic"})
        two_harmonics["nodes"][-1]["inputs"].append("h2")
        self.assert_error(two_harmonics, "'h2'", "'amplitude'", "'harmonic'")
        self.assert_error({"nodes": [], "output": "x"}, "nodes")
        self.assert_error({**DEFAULT_CONFIG, "decoder": {}}, "'decoder'")
        with self.assertRaises(GraphError):
            Voice({**DEFAULT_CONFIG, "encoder": {"kind": "wavenet"}})

    def test_a_bad_file_is_named(self):
        with self.assertRaises(GraphError) as caught:
            load_config(Path("/nonexistent/graph.json"))
        self.assertIn("/nonexistent/graph.json", str(caught.exception))


class GraphBuilding(unittest.TestCase):
    def test_the_default_graph_reads_the_contracts_controls(self):
        group = ProcessorGroup()
        self.assertEqual(group.control_sizes(), {"amplitude": 1, "harmonics": 60, "noise": 65})
        self.assertEqual(group.order, ["harmonic", "noise", "voice"])
        self.assertFalse(group.has_trainable_processors())

    def test_nodes_run_after_their_inputs_whatever_the_config_order(self):
        config = reverb_config()
        config["nodes"].reverse()
        group = ProcessorGroup(config)
        self.assertEqual(group.order, ["harmonic", "noise", "voice", "room"])
        self.assertTrue(group.has_trainable_processors())

    def test_the_shipped_configs_build(self):
        for path in sorted(GRAPHS.glob("*.json")):
            with self.subTest(path.name):
                Voice(load_config(path))

    def test_a_described_graph_rebuilds_with_what_it_learned(self):
        group = ProcessorGroup(reverb_config(ir_seconds=0.01, seed=4))
        with torch.no_grad():
            group.processors["room"].log_gain.add_(1.0)
        described = group.describe()
        rebuilt = ProcessorGroup(described)
        self.assertEqual(rebuilt.describe(), described)
        torch.testing.assert_close(
            rebuilt.processors["room"].impulse_response(),
            group.processors["room"].impulse_response(),
        )
        described["nodes"][-1]["ir"] = described["nodes"][-1]["ir"][:-1]
        with self.assertRaises(GraphError):
            ProcessorGroup(described)

    def test_the_group_renders_each_node(self):
        group = ProcessorGroup(reverb_config(ir_seconds=0.01))
        frames, hop = 4, 320
        controls = group.get_controls(
            {
                "amplitude": torch.zeros(1, frames, 1),
                "harmonics": torch.zeros(1, frames, 60),
                "noise": torch.zeros(1, frames, 65),
            }
        )
        context = RenderContext(torch.full((1, frames, 1), 220.0), 16000, hop, frames * hop)
        out, signals = group.render(controls, context)
        self.assertEqual(set(signals), {"harmonic", "noise", "voice", "room"})
        torch.testing.assert_close(signals["voice"], signals["harmonic"] + signals["noise"])
        self.assertIs(out, signals["room"])
        self.assertEqual(tuple(out.shape), (1, frames * hop))


if __name__ == "__main__":
    unittest.main()
