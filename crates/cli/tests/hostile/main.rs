//! The hostile-input suite: the `mephisto` command line attacked as a hostile user, a shared
//! patch file, a model or a damaged disk would attack it (docs/SECURITY.md has the threat
//! model and the table this prints). Every case must end in a clear error (or the right
//! result), without a crash, a hang, a leak of the planted canary file, a memory blow-up or
//! a process left behind. Needs `faust` and `rustc` (scripts/setup.sh).
//!
//! `cargo test -p mephisto-cli --test hostile -- --nocapture` prints the table.

mod harness;
mod llm_server;

use std::path::{Path, PathBuf};
use std::time::Duration;

use harness::{Arena, Case, Expect, Outcome};
use llm_server::{Answer, Server};

const SMALL: &str = r#"import("stdfaust.lib");
freq = hslider("freq", 440, 20, 20000, 1);
gain = hslider("gain", 0.5, 0, 1, 0.01);
process = os.osc(freq) * gain * en.asr(0.005, 1, 0.1, button("gate"));
"#;

const EFFECT: &str = r#"import("stdfaust.lib");
process = fi.lowpass(2, 2000), fi.lowpass(2, 2000);
"#;

/// The program whose cache entry the cache cases damage (nothing else compiles it).
const CACHED: &str = r#"import("stdfaust.lib");
// the cache cases' own program
process = os.osc(hslider("freq", 440, 20, 20000, 1)) * 0.3 * en.asr(0.01, 1, 0.1, button("gate"));
"#;

/// A program Faust spends long on (a 2^30-sample delay): the interrupted-compile cases.
const SLOW: &str = r#"import("stdfaust.lib");
process = de.delay(1<<30, hslider("d", 0, 0, 1<<30, 1)) * button("gate");
"#;

fn dsp(arena: &Arena, name: &str, source: &str) -> String {
    arena.write(
        &format!("{name}.dsp"),
        source.replace("{canary}", &arena.canary()).as_bytes(),
    )
}

fn spec_json(faust: &str, extra: &[(&str, serde_json::Value)]) -> serde_json::Value {
    let mut spec = serde_json::json!({
        "version": 1,
        "name": "hostile",
        "archetype": "pad",
        "faust": faust,
    });
    for (key, value) in extra {
        spec[*key] = value.clone();
    }
    spec
}

fn screening_cases(arena: &Arena) -> Vec<Case> {
    let refused = Expect::Error("refused");
    let programs: Vec<(&str, String)> = vec![
        ("import of a local file", "import(\"{canary}\");\nprocess = 0;".into()),
        ("backslash before the quote hides an import", "t = hslider(\"t\\\", 0, 0, 1, 0.1);\nimport(\"{canary}\");\nprocess = t;".into()),
        ("library() of a local file", "x = library(\"{canary}\");\nprocess = x.process;".into()),
        ("component() of a local file", "process = component(\"{canary}\");".into()),
        ("ffunction", "process = ffunction(int rand(), <stdlib.h>, \"\");".into()),
        ("fconstant", "process = fconstant(int RAND_MAX, <stdlib.h>);".into()),
        ("fvariable", "process = fvariable(int errno, <errno.h>);".into()),
        ("soundfile", "process = soundfile(\"s[url:{'{canary}'}]\", 1) : !, !, _;".into()),
        ("import with a comment before its argument", "import /* x */ ( // y\n\"{canary}\");\nprocess = 0;".into()),
        ("number glued to import (1fimport)", "x = 1fimport(\"{canary}\");\nprocess = 0;".into()),
        ("underscore and digit before import", "x = _1import(\"{canary}\");\nprocess = 0;".into()),
        ("string left open", "process = 0;\nx = \"open".into()),
        ("declare with a trailing backslash", "declare name \"a\\\";\nimport(\"{canary}\");\nprocess = 0;".into()),
        ("relative path out of the build folder", "import(\"../../canary.lib\");\nprocess = 0;".into()),
        ("standard library name with a path", "import(\"stdfaust.lib/../../{canary}\");\nprocess = 0;".into()),
        ("NUL byte in the import", "import(\"{canary}\0stdfaust.lib\");\nprocess = 0;".into()),
        ("import from a URL", "import(\"http://127.0.0.1:1/x.lib\");\nprocess = 0;".into()),
        ("import of /dev/zero", "import(\"/dev/zero\");\nprocess = 0;".into()),
        ("import of /proc/self/environ", "import(\"/proc/self/environ\");\nprocess = 0;".into()),
        ("import of /etc/passwd", "import(\"/etc/passwd\");\nprocess = 0;".into()),
        ("import inside an environment", "e = environment { import(\"{canary}\"); };\nprocess = e.x;".into()),
        ("mephisto.lib with a path", "import(\"mephisto.lib/../../canary.lib\");\nprocess = 0;".into()),
        ("import after a closed block comment", "/* c */ import(\"{canary}\");\nprocess = 0;".into()),
        ("import after a line comment", "// c /*\nimport(\"{canary}\");\nprocess = 0;".into()),
        ("import after a string holding //", "x = \"//\"; import(\"{canary}\");\nprocess = 0;".into()),
        ("import after a string holding /*", "x = \"/*\"; import(\"{canary}\");\nprocess = 0;".into()),
        ("import with a non-literal argument", "f = \"{canary}\";\nimport(f);\nprocess = 0;".into()),
        ("Rust injection through a label", "process = hslider(\"x\\\", 0, 0, 1, 0.1) + hslider(\"); include_str!(\\\"{canary}\\\"); (\", 0, 0, 1, 0.1);".into()),
        ("nested comment trick", "/* /* */ import(\"{canary}\"); /* */\nprocess = 0;".into()),
        ("import in a with block", "process = 0 with { import(\"{canary}\"); };".into()),
        ("capitalised keyword is not one", "IMPORT(\"{canary}\");\nimport(\"{canary}\");\nprocess = 0;".into()),
        ("tab and CR around import", "\timport\r(\r\"{canary}\"\r)\r;\nprocess = 0;".into()),
    ];
    let mut cases: Vec<Case> = programs
        .into_iter()
        .enumerate()
        .map(|(i, (name, text))| {
            let file = dsp(arena, &format!("screen{i}"), &text);
            Case::new(
                "screening and lexer desyncs",
                name,
                &["compile", &file],
                refused.clone(),
            )
        })
        .collect();
    // What the screen lets through goes to Faust in its sandbox: an error, never the file.
    for (i, (name, text)) in [
        (
            "a::import is an identifier",
            "a::import(\"{canary}\") = 1;\nprocess = 0;",
        ),
        (
            "importx is an identifier",
            "importx(\"{canary}\") = 1;\nprocess = 0;",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let file = dsp(arena, &format!("pass{i}"), text);
        cases.push(Case::new(
            "screening and lexer desyncs",
            name,
            &["compile", &file],
            Expect::Error("Faust error"),
        ));
    }
    let big = format!("process = 0;\n// {}\n", "x".repeat(70 * 1024));
    let file = dsp(arena, "oversized", &big);
    cases.push(Case::new(
        "screening and lexer desyncs",
        "a 70 KiB program",
        &["compile", &file],
        Expect::Error("more than the 64 KiB allowed"),
    ));
    let file = dsp(arena, "good", SMALL);
    cases.push(Case::new(
        "screening and lexer desyncs",
        "a plain program compiles",
        &["compile", &file],
        Expect::Ok("sanity: peak"),
    ));
    // Where the kernel cannot enforce Landlock: said once, and imports refused by name.
    let mut no_landlock = Case::new(
        "screening and lexer desyncs",
        "without Landlock, the note is given",
        &["compile", &file],
        Expect::Ok("run without the Landlock sandbox"),
    );
    no_landlock.env.push(("MEPHISTO_NO_LANDLOCK", "1"));
    cases.push(no_landlock);
    let file = dsp(arena, "nolandlock", "import(\"{canary}\");\nprocess = 0;");
    let mut no_landlock = Case::new(
        "screening and lexer desyncs",
        "without Landlock, a local import is refused by name",
        &["compile", &file],
        Expect::Error("only the standard Faust libraries"),
    );
    no_landlock.env.push(("MEPHISTO_NO_LANDLOCK", "1"));
    cases.push(no_landlock);
    cases
}

fn memory_cases(arena: &Arena) -> Vec<Case> {
    let needs = Expect::Error("refused: the patch needs");
    let programs = [
        ("rwtable of 1e9 samples", "process = rwtable(1000000000, 0.0, 0, _, 0) * button(\"gate\");"),
        ("rwtable of 5e7 samples", "process = rwtable(50000000, 0.0, 0, _, 0) + 0.1 * button(\"gate\");"),
        ("rwtable of 2^26 samples", "process = rwtable(1<<26, 0.0, 0, _, 0) + 0.1 * button(\"gate\");"),
        ("rdtable of 1e8 samples", "process = rdtable(100000000, _, int(button(\"gate\")));"),
        ("delay line of 2^24 samples", "import(\"stdfaust.lib\");\nprocess = de.delay(1<<24, hslider(\"d\", 0, 0, 1<<24, 1)) * button(\"gate\");"),
        ("fractional delay of 2^24 samples", "import(\"stdfaust.lib\");\nprocess = de.fdelay(1<<24, hslider(\"d\", 0, 0, 1<<24, 1)) * button(\"gate\");"),
        ("@ delay of 2^25 samples", "process = button(\"gate\") @ int(hslider(\"d\", 0, 0, 1<<25, 1));"),
        ("16 tables of 1e6 samples", "process = par(i, 16, rwtable(1000000, 0.0, 0, button(\"gate\"), 0)) :> _;"),
        ("an effect with a 2^25-sample delay", "import(\"stdfaust.lib\");\nprocess = os.osc(440) * button(\"gate\");\neffect = par(i, 2, de.delay(1<<25, hslider(\"d\", 0, 0, 1<<25, 1)));"),
        ("a 4 MiB voice times 16", "process = rwtable(1100000, 0.0, 0, button(\"gate\"), 0);"),
    ];
    programs
        .iter()
        .enumerate()
        .map(|(i, (name, text))| {
            let file = dsp(arena, &format!("mem{i}"), text);
            // Faust refuses some itself; the others are refused for their memory.
            let expect = match i {
                3 => Expect::Error("Faust error"),
                7 => Expect::Error("refused"),
                _ => needs.clone(),
            };
            Case::new("memory and CPU bombs", *name, &["compile", &file], expect)
        })
        .chain({
            let file = dsp(arena, "cpu", "import(\"stdfaust.lib\");\nprocess = os.osc(440) * button(\"gate\") : seq(i, 8, fi.lowpass(8, 1000 + i));");
            let cpu = Case::new("memory and CPU bombs", "a filter chain over a tiny CPU budget", &["compile", &file, "--cpu-budget", "0.001"], Expect::Error("the budget is"));
            [cpu]
        })
        .collect()
}

fn spec_cases(arena: &Arena) -> Vec<Case> {
    let out = "{out}/o.wav";
    let mut cases = Vec::new();
    let mut add = |name: &str, text: String, expect: Expect| {
        let i = cases.len();
        let file = arena.write(
            &format!("spec{i}.json"),
            text.replace("{canary}", &arena.canary()).as_bytes(),
        );
        cases.push(Case::new(
            "PatchSpec mutations",
            name,
            &["render", "--patch", &file, "--out", out],
            expect,
        ));
    };
    let good = spec_json(SMALL, &[]);
    add("a good spec renders", good.to_string(), Expect::Ok("wrote"));
    let with = |key: &str, value: serde_json::Value| spec_json(SMALL, &[(key, value)]).to_string();
    add(
        "NaN in a param",
        good.to_string()
            .replace("\"version\":1", "\"version\":1,\"params\":{\"cutoff\":NaN}"),
        Expect::Error("`params.cutoff`"),
    );
    add(
        "Infinity in a param",
        good.to_string().replace(
            "\"version\":1",
            "\"version\":1,\"params\":{\"gain\":Infinity}",
        ),
        Expect::Error("`params.gain`"),
    );
    add(
        "a 1e40 param",
        with("params", serde_json::json!({"gain": 1e40})),
        Expect::Error("params.gain"),
    );
    add(
        "a 10 MB name",
        with("name", "n".repeat(10 << 20).into()),
        Expect::Error("more than the 1 MiB"),
    );
    add(
        "a 300-character name",
        with("name", "n".repeat(300).into()),
        Expect::Error("`name`: 300 characters"),
    );
    add(
        "a param named api_key",
        with("params", serde_json::json!({"api_key": 1234.5})),
        Expect::Error("`params.api_key`: refused"),
    );
    add(
        "an api_key string param",
        with("params", serde_json::json!({"openai_api_key": "sk-canary"})),
        Expect::Error("`params.openai_api_key`"),
    );
    add(
        "a top-level token field",
        with("token", "sk-secret".into()),
        Expect::Error("`token`: refused"),
    );
    add(
        "an unknown field",
        with("colour", "red".into()),
        Expect::Error("`colour`: unknown field"),
    );
    add(
        "version 2",
        with("version", 2.into()),
        Expect::Error("`version`"),
    );
    add(
        "voices 0",
        with("voices", 0.into()),
        Expect::Error("`voices`"),
    );
    add(
        "voices 100000",
        with("voices", 100000.into()),
        Expect::Error("`voices`"),
    );
    add(
        "voices -1",
        with("voices", (-1).into()),
        Expect::Error("`voices`"),
    );
    add(
        "macro depth 5",
        with(
            "macros",
            serde_json::json!({"bright": [{"param": "gain", "depth": 5}]}),
        ),
        Expect::Error("`macros.bright[0].depth`"),
    );
    add(
        "a macro that is not one",
        with("macros", serde_json::json!({"loudness": []})),
        Expect::Error("`macros.loudness`"),
    );
    add(
        "an archetype of 1 MB",
        with("archetype", "a".repeat(1 << 19).into()),
        Expect::Error("`archetype`"),
    );
    add(
        "faust importing the canary",
        spec_json("import(\"{canary}\");\nprocess = 0;", &[]).to_string(),
        Expect::Error("refused"),
    );
    add(
        "faust with the backslash desync",
        spec_json(
            "t = hslider(\"t\\\", 0, 0, 1, 0.1);\nimport(\"{canary}\");\nprocess = t;",
            &[],
        )
        .to_string(),
        Expect::Error("refused"),
    );
    add(
        "faust with a memory bomb",
        spec_json(
            "process = rwtable(50000000, 0.0, 0, _, 0) + 0.1 * button(\"gate\");",
            &[],
        )
        .to_string(),
        Expect::Error("refused: the patch needs"),
    );
    add(
        "faust of 100 KiB",
        spec_json(&format!("process = 0;//{}", "x".repeat(100 << 10)), &[]).to_string(),
        Expect::Error("`faust`"),
    );
    add(
        "not JSON",
        "{ this is not json".into(),
        Expect::Error("line 1"),
    );
    add(
        "JSON nested 10000 deep",
        format!("{}{}", "[".repeat(10000), "]".repeat(10000)),
        Expect::Error("recursion limit"),
    );
    add(
        "a string where a number goes",
        with("voices", "many".into()),
        Expect::Error("`voices`"),
    );
    add("an empty document", String::new(), Expect::Error("EOF"));
    add(
        "a JSON array",
        "[1, 2, 3]".into(),
        Expect::Error("invalid type"),
    );
    add(
        "a neural model path to the canary",
        with("neural", serde_json::json!({"model": "{canary}"})),
        Expect::Error("neural.model"),
    );
    add(
        "notes of 100 KiB",
        with("notes", "n".repeat(100 << 10).into()),
        Expect::Error("`notes`"),
    );
    add(
        "a program that ignores gate",
        spec_json(
            "import(\"stdfaust.lib\");\nprocess = os.osc(220) * 0.1;",
            &[],
        )
        .to_string(),
        Expect::Ok("wrote"),
    );
    cases
}

fn score_and_flag_cases() -> Vec<Case> {
    let render = |notes: &str| {
        vec![
            "render".to_string(),
            "--patch".into(),
            "warm_pad".into(),
            format!("--notes={notes}"),
            "--out".into(),
            "{out}/o.wav".into(),
        ]
    };
    let mut cases = Vec::new();
    let mut add = |name: String, args: Vec<String>, expect: Expect| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cases.push(Case::new("score and flag fuzz", name, &args, expect));
    };
    for (notes, expect) in [
        ("C3:1e30", "longer than the 3600 s"),
        ("C1073741828:1", "outside the MIDI range"),
        ("4294967356:1", "outside 0..127"),
        ("-1:1", "outside 0..127"),
        ("C3:-1", "not a number of seconds"),
        ("C3:nan", "not a number of seconds"),
        ("C3:inf", "not a number of seconds"),
        ("C3:1@1e300", "longer than the 3600 s"),
        ("C3:1*2", "not a velocity"),
        ("C3:1*nan", "not a velocity"),
        ("H9:1", "not a note name"),
        ("C3", "missing `:DURATION`"),
        ("", "bad score entry"),
        (",,,,", "bad score entry"),
        ("C#99999999999999999999:1", "no octave number"),
    ] {
        add(
            format!("--notes {notes}"),
            render(notes),
            Expect::Error(expect),
        );
    }
    let many = vec!["C3:0.01"; 4000].join(",");
    add(
        "4000 notes".into(),
        render(&many),
        Expect::Error("at most 1000"),
    );
    let long = vec!["C3:4"; 1000].join(",");
    add(
        "1000 notes of 4 s".into(),
        render(&long),
        Expect::Error("after the 3600 s"),
    );
    let huge_note = format!("{}:1", "C".repeat(1 << 16));
    add(
        "a 64 KiB note name".into(),
        render(&huge_note),
        Expect::Error("has no octave number"),
    );
    let flags: Vec<(&str, Vec<&str>, &str)> = vec![
        (
            "--seconds 3600 --sr 384000",
            vec![
                "render",
                "--patch",
                "warm_pad",
                "--seconds",
                "3600",
                "--sr",
                "384000",
                "--out",
                "{out}/o.wav",
            ],
            "a render may have at most",
        ),
        (
            "--seconds 1e9",
            vec![
                "render",
                "--patch",
                "warm_pad",
                "--seconds",
                "1e9",
                "--out",
                "{out}/o.wav",
            ],
            "--seconds",
        ),
        (
            "--seconds nan",
            vec![
                "render",
                "--patch",
                "warm_pad",
                "--seconds",
                "nan",
                "--out",
                "{out}/o.wav",
            ],
            "--seconds",
        ),
        (
            "--seconds -1",
            vec![
                "render",
                "--patch",
                "warm_pad",
                "--seconds=-1",
                "--out",
                "{out}/o.wav",
            ],
            "--seconds",
        ),
        (
            "--sr 0",
            vec![
                "render",
                "--patch",
                "warm_pad",
                "--sr",
                "0",
                "--out",
                "{out}/o.wav",
            ],
            "--sr 0",
        ),
        (
            "--sr 4294967295",
            vec![
                "render",
                "--patch",
                "warm_pad",
                "--sr",
                "4294967295",
                "--out",
                "{out}/o.wav",
            ],
            "--sr",
        ),
        (
            "--macro bright=2",
            vec![
                "render",
                "--patch",
                "warm_pad",
                "--macro",
                "bright=2",
                "--out",
                "{out}/o.wav",
            ],
            "bad --macro",
        ),
        (
            "--macro nonsense",
            vec![
                "render",
                "--patch",
                "warm_pad",
                "--macro",
                "x",
                "--out",
                "{out}/o.wav",
            ],
            "bad --macro",
        ),
        (
            "an unknown patch",
            vec!["render", "--patch", "no_such_patch", "--out", "{out}/o.wav"],
            "unknown patch",
        ),
        (
            "output into a missing folder",
            vec![
                "render",
                "--patch",
                "warm_pad",
                "--out",
                "/nonexistent/dir/o.wav",
            ],
            "cannot write",
        ),
        (
            "bench --voices 100000",
            vec!["bench", "--voices", "100000"],
            "--voices 100000",
        ),
        (
            "bench --voices 0",
            vec!["bench", "--voices", "0"],
            "--voices 0",
        ),
        (
            "bench --seconds 1e9",
            vec!["bench", "--seconds", "1e9"],
            "--seconds",
        ),
        (
            "bench --seconds nan",
            vec!["bench", "--seconds", "nan"],
            "--seconds",
        ),
        (
            "bench --seconds 0",
            vec!["bench", "--seconds", "0"],
            "--seconds",
        ),
        (
            "compile --sr 0",
            vec!["compile", "x.dsp", "--sr", "0"],
            "--sr 0",
        ),
        (
            "compile --cpu-budget nan",
            vec!["compile", "x.dsp", "--cpu-budget", "nan"],
            "--cpu-budget",
        ),
        (
            "match --budget with a missing target",
            vec![
                "match",
                "--patch",
                "warm_pad",
                "--target",
                "/nonexistent.wav",
                "--out",
                "{out}/m.json",
            ],
            "cannot read",
        ),
    ];
    for (name, args, expect) in flags {
        add(
            name.to_string(),
            args.into_iter().map(String::from).collect(),
            Expect::Error(expect),
        );
    }
    add(
        "a plain render works".into(),
        render("C3:0.5,E3:0.5"),
        Expect::Ok("wrote"),
    );
    cases
}

/// A canonical 44-byte WAV header for `frames` frames of 16-bit PCM.
fn wav_header(channels: u16, rate: u32, bits: u16, data_bytes: u32) -> Vec<u8> {
    let block = channels.wrapping_mul(bits) / 8;
    let mut h = Vec::new();
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&(36u32.wrapping_add(data_bytes)).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&channels.to_le_bytes());
    h.extend_from_slice(&rate.to_le_bytes());
    h.extend_from_slice(&(rate.wrapping_mul(u32::from(block))).to_le_bytes());
    h.extend_from_slice(&block.to_le_bytes());
    h.extend_from_slice(&bits.to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data_bytes.to_le_bytes());
    h
}

fn wav_cases(arena: &Arena) -> Vec<Case> {
    let effect = dsp(arena, "effect", EFFECT);
    let mut cases = Vec::new();
    let mut add = |name: &str, bytes: Vec<u8>, expect: Expect| {
        let i = cases.len();
        let file = arena.write(&format!("in{i}.wav"), &bytes);
        cases.push(Case::new(
            "malformed and huge WAV files",
            name,
            &[
                "render",
                "--patch",
                &effect,
                "--input",
                &file,
                "--out",
                "{out}/o.wav",
            ],
            expect,
        ));
    };
    let mut good = wav_header(2, 48_000, 16, 48_000 * 4);
    good.extend(std::iter::repeat_n(0u8, 48_000 * 4));
    add("a good stereo file", good.clone(), Expect::Ok("wrote"));
    add(
        "8 channels",
        wav_header(8, 48_000, 16, 0),
        Expect::Error("8 channels"),
    );
    add(
        "65535 channels",
        wav_header(65535, 48_000, 16, 0),
        Expect::Error("cannot read"),
    );
    add(
        "0 channels",
        wav_header(0, 48_000, 16, 0),
        Expect::Error("cannot read"),
    );
    add(
        "a rate of 0 Hz",
        wav_header(2, 0, 16, 0),
        Expect::Error("Hz"),
    );
    add(
        "a rate of 4 GHz",
        wav_header(2, 4_000_000_000, 16, 0),
        Expect::Error("cannot read"),
    );
    add(
        "a header claiming 4 GB of data",
        wav_header(2, 48_000, 16, u32::MAX / 4 * 4 - 64),
        Expect::Error("Mephisto reads at most"),
    );
    add(
        "a header claiming 20 minutes",
        wav_header(1, 48_000, 16, 48_000 * 2 * 1200),
        Expect::Error("Mephisto reads at most"),
    );
    add(
        "a file cut short",
        good[..1000].to_vec(),
        Expect::Error("cannot read"),
    );
    add(
        "not a WAV file",
        b"this is not audio".to_vec(),
        Expect::Error("cannot read"),
    );
    add("an empty file", Vec::new(), Expect::Error("cannot read"));
    add(
        "the canary named .wav",
        format!("{}\n", harness::CANARY_WORD).into_bytes(),
        Expect::Error("cannot read"),
    );
    add(
        "12-bit samples",
        wav_header(1, 48_000, 12, 0),
        Expect::Error("cannot read"),
    );
    cases
}

fn special_file_cases(arena: &Arena) -> Vec<Case> {
    let fifo = |name: &str| {
        let path = arena.path(name);
        let c = std::ffi::CString::new(path.clone()).unwrap();
        // SAFETY: a valid, NUL-terminated path.
        unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
        path
    };
    let (fifo_dsp, fifo_json, fifo_wav) = (fifo("fifo.dsp"), fifo("fifo.json"), fifo("fifo.wav"));
    let mut quiet = wav_header(1, 48_000, 16, 4_800 * 2);
    quiet.extend(std::iter::repeat_n(0u8, 4_800 * 2));
    let quiet = arena.write("quiet.wav", &quiet);
    let effect = dsp(arena, "effect_special", EFFECT);
    let link = arena.path("zero.dsp");
    let _ = std::os::unix::fs::symlink("/dev/zero", &link);
    let dir = arena.path("folder.dsp");
    std::fs::create_dir_all(&dir).unwrap();
    let out = "{out}/o.wav";
    let f = "special files";
    vec![
        Case::new(
            f,
            "a FIFO as the program",
            &["compile", &fifo_dsp],
            Expect::Error("named pipe (FIFO)"),
        ),
        Case::new(
            f,
            "a FIFO as the PatchSpec",
            &["render", "--patch", &fifo_json, "--out", out],
            Expect::Error("named pipe (FIFO)"),
        ),
        Case::new(
            f,
            "a FIFO as transfer's PatchSpec",
            &[
                "transfer", "--input", &quiet, "--patch", &fifo_json, "--out", out,
            ],
            Expect::Error("named pipe (FIFO)"),
        ),
        Case::new(
            f,
            "a FIFO as the input WAV",
            &[
                "render", "--patch", &effect, "--input", &fifo_wav, "--out", out,
            ],
            Expect::Error("named pipe (FIFO)"),
        ),
        Case::new(
            f,
            "a FIFO as --from",
            &[
                "design",
                "pad",
                "--from",
                &fifo_json,
                "--out",
                "{out}/s.json",
            ],
            Expect::Error("named pipe (FIFO)"),
        ),
        Case::new(
            f,
            "a FIFO as the match target",
            &[
                "match",
                "--patch",
                "warm_pad",
                "--target",
                &fifo_wav,
                "--out",
                "{out}/m.json",
            ],
            Expect::Error("named pipe (FIFO)"),
        ),
        Case::new(
            f,
            "/dev/zero as the program",
            &["compile", "/dev/zero"],
            Expect::Error("a device"),
        ),
        Case::new(
            f,
            "/dev/zero through a .dsp symlink",
            &["compile", &link],
            Expect::Error("a device"),
        ),
        Case::new(
            f,
            "/dev/zero as the input WAV",
            &[
                "render",
                "--patch",
                &effect,
                "--input",
                "/dev/zero",
                "--out",
                out,
            ],
            Expect::Error("a device"),
        ),
        Case::new(
            f,
            "/dev/urandom as the match target",
            &[
                "match",
                "--patch",
                "warm_pad",
                "--target",
                "/dev/urandom",
                "--out",
                "{out}/m.json",
            ],
            Expect::Error("a device"),
        ),
        Case::new(
            f,
            "a folder as the program",
            &["compile", &dir],
            Expect::Error("a folder"),
        ),
        Case::new(
            f,
            "a missing program",
            &["compile", "/nonexistent/x.dsp"],
            Expect::Error("No such file"),
        ),
        Case::new(
            f,
            "the canary as a program",
            &["compile", &arena.path("canary.txt")],
            Expect::Error("Faust error"),
        ),
    ]
}

fn llm_cases(arena: &Arena, servers: &mut Vec<(String, Server)>) -> Vec<Case> {
    let canary_spec = spec_json(
        &format!("import(\"{}\");\nprocess = 0;", arena.canary()),
        &[],
    )
    .to_string();
    let desync_spec = spec_json(
        &format!(
            "t = hslider(\"t\\\", 0, 0, 1, 0.1);\nimport(\"{}\");\nprocess = t;",
            arena.canary()
        ),
        &[],
    )
    .to_string();
    let bomb_spec = spec_json(
        "process = rwtable(1000000000, 0.0, 0, _, 0) * button(\"gate\");",
        &[],
    )
    .to_string();
    let secret_spec =
        spec_json(SMALL, &[("params", serde_json::json!({"api_key": 1.0}))]).to_string();
    let huge = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        100 << 20
    )
    .into_bytes();
    let redirect =
        b"HTTP/1.1 302 Found\r\nLocation: file:///etc/passwd\r\nContent-Length: 0\r\n\r\n".to_vec();
    let scripted: Vec<(&str, Vec<Answer>, &str)> = vec![
        (
            "a reply importing the canary",
            vec![Answer::Chat(canary_spec)],
            "refused",
        ),
        (
            "a reply with the backslash desync",
            vec![Answer::Chat(desync_spec)],
            "refused",
        ),
        (
            "a reply with a memory bomb",
            vec![Answer::Chat(bomb_spec)],
            "refused: the patch needs",
        ),
        (
            "a reply with an api_key param",
            vec![Answer::Chat(secret_spec)],
            "api_key",
        ),
        (
            "a reply claiming 100 MB",
            vec![Answer::Raw(huge)],
            "grew past 256 KiB",
        ),
        (
            "a redirect to file://",
            vec![Answer::Raw(redirect)],
            "HTTP 302",
        ),
        (
            "a reply that is not HTTP",
            vec![Answer::Raw(b"garbage\r\n\r\n".to_vec())],
            "did not speak HTTP",
        ),
        (
            "prose instead of a spec",
            vec![Answer::Chat("I cannot do that.".into())],
            "holds no PatchSpec",
        ),
        (
            "a server that stalls",
            vec![Answer::Stall(Duration::from_secs(30))],
            "sent nothing for",
        ),
    ];
    let mut cases = Vec::new();
    for (name, answers, expect) in scripted {
        let server = Server::start(answers);
        cases.push(Case::new(
            "hostile LLM server",
            name,
            &[
                "design",
                "warm pad",
                "--llm",
                &server.url,
                "--timeout",
                "3",
                "--first-token-timeout",
                "3",
                "--out",
                "{out}/s.json",
            ],
            Expect::Error(expect),
        ));
        servers.push((name.to_string(), server));
    }
    cases.push(Case::new(
        "hostile LLM server",
        "--llm not a url",
        &[
            "design",
            "pad",
            "--llm",
            "not a url",
            "--out",
            "{out}/s.json",
        ],
        Expect::Error("not an http:// or https:// address"),
    ));
    cases.push(Case::new(
        "hostile LLM server",
        "--llm file:///etc/passwd",
        &[
            "design",
            "pad",
            "--llm",
            "file:///etc/passwd",
            "--out",
            "{out}/s.json",
        ],
        Expect::Error("not an http:// or https:// address"),
    ));
    cases.push(Case::new(
        "hostile LLM server",
        "--llm http:// without a host",
        &["design", "pad", "--llm", "http://", "--out", "{out}/s.json"],
        Expect::Error("not an http:// or https:// address"),
    ));
    cases
}

/// The cases `scripts/hostile.sh` adds (`MEPHISTO_HOSTILE_SLOW=1`): each takes tens of
/// seconds.
fn slow_cases(arena: &Arena) -> Vec<Case> {
    let f = "slow cases (scripts/hostile.sh)";
    let slow = dsp(arena, "slow_alone", SLOW);
    let wide = dsp(
        arena,
        "wide",
        "import(\"stdfaust.lib\");\nprocess = par(i, 3000, os.osc(100 + i)) :> _ * button(\"gate\") * 0.0001;",
    );
    let deep = dsp(
        arena,
        "deep",
        "import(\"stdfaust.lib\");\nprocess = os.osc(440) * button(\"gate\") : seq(i, 3000, fi.lowpass(2, 1000 + i));",
    );
    let mut cases = vec![
        Case::new(
            f,
            "faust until its 20 s limit",
            &["compile", &slow],
            Expect::Error("timed out after 20 s"),
        ),
        Case::new(
            f,
            "3000 oscillators",
            &["compile", &wide],
            Expect::Error(""),
        ),
        Case::new(
            f,
            "3000 filters in a row",
            &["compile", &deep],
            Expect::Error(""),
        ),
        Case::new(
            f,
            "the longest render at 48 kHz (30 min)",
            &[
                "render",
                "--patch",
                "warm_pad",
                "--seconds",
                "1800",
                "--out",
                "{out}/long.wav",
            ],
            Expect::Ok("wrote"),
        ),
    ];
    for case in &mut cases {
        case.limit = case.limit.max(180);
    }
    cases
}

fn interrupt_cases(arena: &Arena) -> Vec<Case> {
    let file = dsp(arena, "slow", SLOW);
    [
        ("SIGINT", libc::SIGINT),
        ("SIGTERM", libc::SIGTERM),
        ("SIGHUP", libc::SIGHUP),
    ]
    .into_iter()
    .map(|(name, signal)| {
        let mut case = Case::new(
            "interrupted compiles",
            format!("{name} while faust runs"),
            &["compile", &file],
            Expect::Error("interrupted"),
        );
        case.interrupt = Some((Duration::from_millis(1500), signal));
        case.limit = 30;
        case
    })
    .collect()
}

/// The cache cases: each damages the entry of [`CACHED`] and compiles it again. Each starts
/// from an empty cache and a healthy entry, so one case's damage never decides the next
/// (a build that never repairs its cache is still judged case by case).
fn cache_damage(arena: &Arena, how: &str) {
    let _ = std::fs::remove_dir_all(arena.cache());
    let program = arena.path("cached.dsp");
    let status = std::process::Command::new(harness::binary())
        .args(["compile", &program])
        .env(mephisto_compiler::CACHE_DIR_ENV, arena.cache())
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let entry = std::fs::read_dir(arena.cache())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| std::fs::read_to_string(p.join("patch.dsp")).is_ok_and(|s| s == CACHED))
        .expect("the entry of the cached program");
    if let Some(how) = how.strip_prefix(PRELUDE_DAMAGE_PREFIX) {
        // The variant must be compiled again, against the damaged prelude.
        std::fs::remove_dir_all(&entry).unwrap();
        let folder = arena.cache().join("prelude");
        if how == "prelude folder replaced by a file" {
            std::fs::remove_dir_all(&folder).unwrap();
            std::fs::write(&folder, b"not a folder").unwrap();
            return;
        }
        let prelude = std::fs::read_dir(&folder)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
            .expect("the prelude's entry");
        assert!(damage_entry(&prelude, how), "{how}");
    } else if !damage_entry(&entry, how) {
        damage_toolchain_records(arena, how);
    }
}

/// Damages a cache entry (a variant's or the prelude's: a folder with `variant.so` and its
/// manifest) as `how` says; false for another kind of damage.
fn damage_entry(entry: &Path, how: &str) -> bool {
    let library = entry.join("variant.so");
    match how {
        "truncated" => {
            let len = std::fs::metadata(&library).unwrap().len();
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&library)
                .unwrap();
            f.set_len(len / 2).unwrap();
        }
        "flipped bytes" => {
            let mut bytes = std::fs::read(&library).unwrap();
            for i in (4096..bytes.len()).step_by(997) {
                bytes[i] ^= 0x5a;
            }
            std::fs::write(&library, bytes).unwrap();
        }
        "foreign library" => std::fs::copy("/lib/x86_64-linux-gnu/libm.so.6", &library)
            .map(|_| ())
            .unwrap_or_else(|_| std::fs::write(&library, b"\x7fELF foreign").unwrap()),
        "library replaced by a folder" => {
            std::fs::remove_file(&library).unwrap();
            std::fs::create_dir_all(library.join("inside")).unwrap();
        }
        "entry replaced by a file" => {
            std::fs::remove_dir_all(entry).unwrap();
            std::fs::write(entry, b"not a folder").unwrap();
        }
        "manifest removed" => {
            let _ = std::fs::remove_file(entry.join("manifest"));
        }
        "manifest forged for a truncated library" => {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&library)
                .unwrap();
            f.set_len(100).unwrap();
            std::fs::write(entry.join("manifest"), "mephisto variant\nbytes 100\nsha256 0000000000000000000000000000000000000000000000000000000000000000\n").unwrap();
        }
        "library is a FIFO" => {
            std::fs::remove_file(&library).unwrap();
            let c = std::ffi::CString::new(library.display().to_string()).unwrap();
            // SAFETY: a valid, NUL-terminated path.
            unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
        }
        "entry is a symlink to /" => {
            std::fs::remove_dir_all(entry).unwrap();
            std::os::unix::fs::symlink("/", entry).unwrap();
        }
        _ => return false,
    }
    true
}

/// Damages the compilers' identity records next to the cache entries (`.toolchain-*`). A
/// record the compiler accepted wrongly would change the cache key (a miss, then a compile
/// with whatever it names), so each case must still end in a cache hit.
fn damage_toolchain_records(arena: &Arena, how: &str) {
    let records: Vec<PathBuf> = std::fs::read_dir(arena.cache())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".toolchain-")
        })
        .collect();
    assert_eq!(records.len(), 2, "one record per compiler: {records:?}");
    for record in records {
        let text = std::fs::read_to_string(&record).unwrap();
        match how {
            "toolchain records cut short" => {
                std::fs::write(&record, &text[..text.len() / 3]).unwrap()
            }
            "toolchain records are folders" => {
                std::fs::remove_file(&record).unwrap();
                std::fs::create_dir_all(record.join("inside")).unwrap();
            }
            "toolchain records are FIFOs" => {
                std::fs::remove_file(&record).unwrap();
                let c = std::ffi::CString::new(record.display().to_string()).unwrap();
                // SAFETY: a valid, NUL-terminated path.
                unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
            }
            "toolchain records name another program" => {
                // A well-formed record whose compiler is a program planted in the arena,
                // with its true size and time and a forged version.
                let planted = arena.path("planted-compiler");
                std::fs::write(&planted, "#!/bin/sh\necho forged\n").unwrap();
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o755)).unwrap();
                let meta = std::fs::metadata(&planted).unwrap();
                let mtime = meta
                    .modified()
                    .unwrap()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos();
                let forged: Vec<String> = text
                    .lines()
                    .map(|line| {
                        if line.starts_with("real ") {
                            format!("real {planted}\t{}\t{mtime}", meta.len())
                        } else if line.starts_with("version ") {
                            "version forged 1.0".to_string()
                        } else {
                            line.to_string()
                        }
                    })
                    .collect();
                std::fs::write(&record, forged.join("\n") + "\n").unwrap();
            }
            _ => unreachable!("{how}"),
        }
    }
}

const TOOLCHAIN_RECORD_DAMAGE: [&str; 4] = [
    "toolchain records cut short",
    "toolchain records are folders",
    "toolchain records are FIFOs",
    "toolchain records name another program",
];

/// Marks a case that damages the wrapper's prelude (`prelude/` in the cache) rather than the
/// variant's entry.
const PRELUDE_DAMAGE_PREFIX: &str = "prelude: ";

/// How the wrapper's prelude is damaged (after [`PRELUDE_DAMAGE_PREFIX`]); the compile must
/// build it again.
const PRELUDE_DAMAGE: [&str; 6] = [
    "prelude: truncated",
    "prelude: flipped bytes",
    "prelude: manifest removed",
    "prelude: library is a FIFO",
    "prelude: entry is a symlink to /",
    "prelude: prelude folder replaced by a file",
];

const CACHE_DAMAGE: [&str; 9] = [
    "truncated",
    "flipped bytes",
    "foreign library",
    "library replaced by a folder",
    "entry replaced by a file",
    "manifest removed",
    "manifest forged for a truncated library",
    "library is a FIFO",
    "entry is a symlink to /",
];

/// The table row of one family.
#[derive(Default)]
struct Tally {
    cases: usize,
    clear_errors: usize,
    correct: usize,
    crashes: usize,
    hangs: usize,
    leaks: usize,
    memory: usize,
    orphans: usize,
}

#[test]
fn hostile_inputs_end_in_clear_errors_without_crashes_hangs_or_leaks() {
    let arena = Arena::new();
    dsp(&arena, "cached", CACHED);
    let mut servers = Vec::new();
    let mut cases = Vec::new();
    cases.extend(screening_cases(&arena));
    cases.extend(memory_cases(&arena));
    cases.extend(spec_cases(&arena));
    cases.extend(score_and_flag_cases());
    cases.extend(wav_cases(&arena));
    cases.extend(special_file_cases(&arena));
    cases.extend(llm_cases(&arena, &mut servers));
    cases.extend(interrupt_cases(&arena));
    if std::env::var_os("MEPHISTO_HOSTILE_SLOW").is_some() {
        cases.extend(slow_cases(&arena));
    }
    let cache_from = cases.len();
    let cached = arena.path("cached.dsp");
    for how in CACHE_DAMAGE {
        cases.push(Case::new(
            "damaged cache entries",
            how,
            &["compile", &cached],
            Expect::Ok("was moved aside and rebuilt"),
        ));
    }
    for how in PRELUDE_DAMAGE {
        cases.push(Case::new(
            "damaged wrapper prelude",
            how,
            &["compile", &cached],
            Expect::Ok("built the wrapper's prelude"),
        ));
    }
    for how in TOOLCHAIN_RECORD_DAMAGE {
        cases.push(Case::new(
            "damaged toolchain records",
            how,
            &["compile", &cached],
            Expect::Ok("loaded from the variant cache"),
        ));
    }
    assert!(cases.len() >= 120, "only {} cases", cases.len());

    let mut failures = Vec::new();
    let mut table: Vec<(&str, Tally)> = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        if i >= cache_from {
            cache_damage(&arena, &case.name);
        }
        let outcome: Outcome = arena.run(case, i);
        let row = match table.iter_mut().position(|(f, _)| *f == case.family) {
            Some(p) => &mut table[p].1,
            None => {
                table.push((case.family, Tally::default()));
                &mut table.last_mut().unwrap().1
            }
        };
        row.cases += 1;
        row.clear_errors += usize::from(outcome.clear_error);
        row.correct += usize::from(outcome.passed_ok);
        row.crashes += usize::from(outcome.crash);
        row.hangs += usize::from(outcome.hang);
        row.leaks += usize::from(outcome.leak);
        row.memory += usize::from(outcome.memory);
        row.orphans += usize::from(outcome.orphan);
        let bad = outcome.problem.is_some()
            || outcome.leak
            || outcome.memory
            || outcome.orphan
            || outcome.crash;
        if bad {
            failures.push(format!("[{}] {}: {:?}", case.family, case.name, outcome));
        }
    }
    // No request to the model carried the canary's content (the repair rounds quote errors).
    for (name, server) in &servers {
        if server
            .requests()
            .iter()
            .any(|body| body.contains(harness::CANARY_WORD))
        {
            if let Some((_, row)) = table.iter_mut().find(|(f, _)| *f == "hostile LLM server") {
                row.leaks += 1;
            }
            failures.push(format!(
                "[hostile LLM server] {name}: the canary reached the model"
            ));
        }
    }
    println!("| family | cases | clear errors | correct results | crashes | hangs | leaks | memory blow-ups | processes left |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let mut total = Tally::default();
    for (family, t) in &table {
        println!(
            "| {family} | {} | {} | {} | {} | {} | {} | {} | {} |",
            t.cases, t.clear_errors, t.correct, t.crashes, t.hangs, t.leaks, t.memory, t.orphans
        );
        total.cases += t.cases;
        total.clear_errors += t.clear_errors;
        total.correct += t.correct;
        total.crashes += t.crashes;
        total.hangs += t.hangs;
        total.leaks += t.leaks;
        total.memory += t.memory;
        total.orphans += t.orphans;
    }
    println!(
        "| **all** | {} | {} | {} | {} | {} | {} | {} | {} |",
        total.cases,
        total.clear_errors,
        total.correct,
        total.crashes,
        total.hangs,
        total.leaks,
        total.memory,
        total.orphans
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
