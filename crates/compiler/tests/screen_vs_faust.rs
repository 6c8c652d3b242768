//! Property-based check of the screener against Faust's own lexer: random programs mix
//! labels, line and block comments and a probe `import` of a file that does not exist,
//! placed as code or hidden in a comment. Faust says whether it tried to open the probe
//! (it saw the import as code); the screen must refuse exactly those programs' probe.
//! Every generated program is valid Faust under the lexical rules the screener follows, so
//! a syntax error from Faust also means the two disagree. Needs `faust` on `PATH`.

use std::process::Command;

use mephisto_compiler::screen;
use proptest::prelude::*;

const PROBE: &str = "/nonexistent-mephisto-probe/probe.lib";

#[derive(Debug, Clone)]
enum Item {
    /// `dN = hslider("label", …);`
    Label(String),
    /// `// text` up to the end of its line.
    LineComment(String),
    /// `/* text */`
    BlockComment(String),
    /// The probe import as code.
    Probe,
    /// The probe import inside a line comment.
    ProbeInLineComment(String),
    /// The probe import inside a block comment.
    ProbeInBlockComment(String),
}

fn item() -> impl Strategy<Value = Item> {
    // Labels may hold anything but a quote (Faust has no escapes): backslashes included,
    // and a backslash right before the closing quote.
    let label = "[a-z \\\\/*#@'.]{0,8}";
    let line = "[a-z \\\\/*\"#'.]{0,10}";
    let block = "[a-z \n\\\\/\"#'.]{0,10}";
    prop_oneof![
        label.prop_map(Item::Label),
        line.prop_map(Item::LineComment),
        block.prop_map(Item::BlockComment),
        Just(Item::Probe),
        line.prop_map(Item::ProbeInLineComment),
        block.prop_map(Item::ProbeInBlockComment),
    ]
}

fn program(items: &[Item], separators: &[bool]) -> String {
    let import = format!("import(\"{PROBE}\");");
    let mut text = String::new();
    for (i, item) in items.iter().enumerate() {
        match item {
            Item::Label(l) => text.push_str(&format!("d{i} = hslider(\"{l}\", 0, 0, 1, 0.1);")),
            Item::LineComment(c) => text.push_str(&format!("//{c}\n")),
            Item::BlockComment(c) => text.push_str(&format!("/*{c}*/")),
            Item::Probe => text.push_str(&import),
            Item::ProbeInLineComment(c) => text.push_str(&format!("//{c}{import}\n")),
            Item::ProbeInBlockComment(c) => text.push_str(&format!("/*{c}{import}*/")),
        }
        text.push(if separators.get(i).copied().unwrap_or(true) {
            '\n'
        } else {
            ' '
        });
    }
    text.push_str("process = 0;\n");
    text
}

/// What Faust made of the program: (it tried to open the probe, its messages).
fn faust_sees(source: &str, dir: &std::path::Path, n: u64) -> (bool, String) {
    let file = dir.join(format!("p{n}.dsp"));
    std::fs::write(&file, source).unwrap();
    let output = Command::new("faust")
        .args(["-lang", "rust", "-o", "/dev/null"])
        .arg(&file)
        .output()
        .expect("faust runs");
    let messages = String::from_utf8_lossy(&output.stderr).into_owned();
    (
        messages.contains(&format!("unable to open file {PROBE}")),
        messages,
    )
}

proptest! {
    // Each case runs Faust once (≈ 30 ms): bounded time in CI.
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn the_screen_sees_an_import_exactly_when_faust_does(
        items in proptest::collection::vec(item(), 1..7),
        separators in proptest::collection::vec(any::<bool>(), 7),
        n in any::<u64>(),
    ) {
        let dir = std::env::temp_dir().join(format!("mephisto-screen-prop-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let source = program(&items, &separators);
        let (faust, messages) = faust_sees(&source, &dir, n);
        prop_assert!(!messages.contains("syntax error"), "Faust disagrees on {source:?}: {messages}");
        let screened = screen(&source);
        let screen_sees = screened
            .as_ref()
            .err()
            .is_some_and(|refusals| refusals.iter().any(|r| r.message.contains(PROBE)));
        prop_assert_eq!(screen_sees, faust, "program {:?}: faust: {}", source, messages);
        // Whatever Faust reads as code, the screen refuses: nothing reaches Faust unscreened.
        if faust {
            prop_assert!(screened.is_err());
        }
    }
}
