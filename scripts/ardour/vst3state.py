#!/usr/bin/env python3
"""Reads and writes Mephisto's saved state inside an Ardour 7 session file (.ardour).

Ardour keeps a VST3 plugin's state as base64 in <Processor type="vst3" ...><vst3><chunk>,
in the VST3 preset-file layout (as Ardour 7.3's VST3PI::save_state writes it):

    "VST3" | int32 version | 32-char class id | int64 offset of the chunk list
    component state (Mephisto/nice-plug: the plugin's JSON, to the chunk's end)
    controller state (Mephisto: none)
    "List" | int32 count | count x ("Comp"/"Cont" id, int64 offset, int64 size)

The component state is nice-plug's JSON: {"version", "params": {id: {"i32"|"f32": v}},
"fields": {"patch_spec": JSON string, "history": JSON string, "editor_size": ...}}.

    vst3state.py show SESSION.ardour
        Prints the layout, the parameters, the saved PatchSpec's name and the history.
    vst3state.py inject SESSION.ardour SPEC.json
        Puts SPEC into the state's `patch_spec` field (what the plugin saves after a
        designed patch went live), keeping everything else, and writes the blob back in
        exactly the layout Ardour writes (byte-identical when nothing changed).
    vst3state.py check SESSION.ardour SPEC.json
        Exits 0 when the saved `patch_spec` is SPEC and the history's current entry is SPEC.
    vst3state.py param SESSION.ardour ID
        Prints the saved value of parameter ID ("patch", "warm", ...).
"""

import argparse
import base64
import json
import re
import struct
import sys

MEPHISTO_UID = "4D6570686973746F414973796E746831"  # VST3 class id, as Ardour writes it
HEADER_SIZE = 48  # "VST3" + version + 32-char class id + list offset


def find_chunk(xml):
    """Returns (start, end) of the base64 text of Mephisto's <chunk> in the session XML."""
    proc = re.search(r'<Processor [^>]*type="vst3"[^>]*unique-id="%s"' % MEPHISTO_UID, xml)
    if not proc:
        raise SystemExit("error: no Mephisto VST3 processor in the session")
    m = re.compile(r"<chunk>(.*?)</chunk>", re.S).search(xml, proc.end())
    end_of_proc = xml.find("</Processor>", proc.end())
    if not m or (end_of_proc != -1 and m.start() > end_of_proc):
        raise SystemExit("error: the Mephisto processor has no <chunk> (no saved state)")
    return m.start(1), m.end(1)


def parse_blob(blob):
    """Returns (class id, {chunk id: bytes}, layout description)."""
    if blob[:4] != b"VST3":
        raise SystemExit("error: the chunk is not in VST3 preset layout")
    version, = struct.unpack_from("<i", blob, 4)
    class_id = blob[8:40].decode("ascii")
    list_offset, = struct.unpack_from("<q", blob, 40)
    if blob[list_offset:list_offset + 4] != b"List":
        raise SystemExit("error: no chunk list at offset %d" % list_offset)
    count, = struct.unpack_from("<i", blob, list_offset + 4)
    chunks, layout = {}, []
    for i in range(count):
        cid, off, size = struct.unpack_from("<4sqq", blob, list_offset + 8 + 20 * i)
        chunks[cid.decode("ascii")] = blob[off:off + size]
        layout.append("%s@%d+%d" % (cid.decode("ascii"), off, size))
    layout.append("List@%d (%d entries), blob %d bytes, version %d" % (list_offset, count, len(blob), version))
    return class_id, chunks, ", ".join(layout)


def build_blob(class_id, comp):
    """The preset layout around component state `comp`, as Ardour writes it for Mephisto
    (whose controller state is empty: Ardour still lists it, at the list's offset, size 0)."""
    header = b"VST3" + struct.pack("<i", 1) + class_id.encode("ascii")
    comp_off = HEADER_SIZE
    list_off = comp_off + len(comp)
    listing = (b"List" + struct.pack("<i", 2) + struct.pack("<4sqq", b"Comp", comp_off, len(comp))
               + struct.pack("<4sqq", b"Cont", list_off, 0))
    return header + struct.pack("<q", list_off) + comp + listing


def load(path):
    with open(path, encoding="utf-8") as f:
        xml = f.read()
    start, end = find_chunk(xml)
    blob = base64.b64decode("".join(xml[start:end].split()))
    class_id, chunks, layout = parse_blob(blob)
    if "Comp" not in chunks:
        raise SystemExit("error: the state has no component chunk")
    state = json.loads(chunks["Comp"].decode("utf-8"))
    return xml, (start, end), class_id, state, layout


def field(state, name):
    """A persisted field: nice-plug stores each as a JSON string."""
    raw = state.get("fields", {}).get(name)
    return None if raw is None else json.loads(raw)


def same(a, b):
    """JSON equality with float tolerance: the plugin keeps PatchSpec values as f32."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))
    return a == b


def cmd_show(args):
    _, _, class_id, state, layout = load(args.session)
    print("class id: %s" % class_id)
    print("layout:   %s" % layout)
    print("params:   %s" % ", ".join("%s=%s" % (k, list(v.values())[0]) for k, v in sorted(state["params"].items())))
    spec = field(state, "patch_spec")
    print("patch_spec: %s" % ("none" if spec is None else "`%s` (%s, %d chars of Faust)" % (
        spec.get("name"), spec.get("archetype"), len(spec.get("faust", "")))))
    hist = field(state, "history") or {}
    names = [e.get("name") for e in hist.get("entries", [])]
    print("history:  %d entries %s, cursor %s, other %s" % (len(names), names, hist.get("cursor"), hist.get("other")))
    return 0


def cmd_inject(args):
    xml, (start, end), class_id, state, _ = load(args.session)
    with open(args.spec, encoding="utf-8") as f:
        spec = json.load(f)
    state.setdefault("fields", {})["patch_spec"] = json.dumps(spec, separators=(",", ":"))
    comp = json.dumps(state, separators=(",", ":")).encode("utf-8")
    blob = build_blob(class_id, comp)
    xml = xml[:start] + base64.b64encode(blob).decode("ascii") + xml[end:]
    with open(args.session, "w", encoding="utf-8") as f:
        f.write(xml)
    print("injected `%s` into %s (%d-byte state)" % (spec.get("name"), args.session, len(blob)))
    return 0


def cmd_check(args):
    _, _, _, state, layout = load(args.session)
    with open(args.spec, encoding="utf-8") as f:
        want = json.load(f)
    spec = field(state, "patch_spec")
    hist = field(state, "history") or {}
    entries = hist.get("entries", [])
    cursor = hist.get("cursor")
    current = entries[cursor] if isinstance(cursor, int) and 0 <= cursor < len(entries) else None
    checks = [
        ("patch_spec is the designed spec", spec is not None and same(spec, want),
         "none" if spec is None else "`%s`" % spec.get("name")),
        ("history holds the designed spec", any(same(e, want) for e in entries),
         "%d entries %s" % (len(entries), [e.get("name") for e in entries])),
        ("history cursor is on it", current is not None and same(current, want), "cursor %s" % cursor),
    ]
    for what, ok, detail in checks:
        print("  %-34s %-4s (%s)" % (what, "PASS" if ok else "FAIL", detail))
    print("  layout: %s" % layout)
    short = ["patch_spec", "history", "cursor"]
    print("state: %s (%s)" % ("PASS" if all(ok for _, ok, _ in checks) else "FAIL",
                              ", ".join("%s %s" % (n, "ok" if ok else "FAIL") for n, (_, ok, _) in zip(short, checks))))
    return 0 if all(ok for _, ok, _ in checks) else 1


def cmd_param(args):
    _, _, _, state, _ = load(args.session)
    value = state["params"].get(args.id)
    if value is None:
        raise SystemExit("error: no parameter %s in the state" % args.id)
    print(list(value.values())[0])
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("show")
    s.add_argument("session")
    i = sub.add_parser("inject")
    i.add_argument("session")
    i.add_argument("spec")
    c = sub.add_parser("check")
    c.add_argument("session")
    c.add_argument("spec")
    q = sub.add_parser("param")
    q.add_argument("session")
    q.add_argument("id")
    args = p.parse_args()
    return {"show": cmd_show, "inject": cmd_inject, "check": cmd_check, "param": cmd_param}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
