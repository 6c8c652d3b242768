//! Screening of a Faust program before it reaches the compilers: refuses the constructs that
//! reach outside the sandbox (C functions, files, non-standard libraries) and oversized
//! sources, and notes what the pipeline needs to know (an `effect`, a `mephisto.lib` import).

use crate::lexer::{tokenize, Kind, Token};
use crate::Refusal;

/// The largest source accepted. A patch that builds on the libraries is a few KiB (the
/// built-in ones are under 2 KiB); 64 KiB leaves ample room for hand-written programs while
/// keeping a runaway generator from feeding the compilers megabytes.
pub const MAX_SOURCE_BYTES: usize = 64 * 1024;

/// The project's own library; shipped inside the plugin and written next to the program.
pub const MEPHISTO_LIB: &str = "mephisto.lib";

/// The standard libraries shipped with Faust (2.54) that a patch may import. `soundfiles.lib`
/// is left out: everything in it needs a sound file, which patches cannot load.
const STANDARD_LIBRARIES: &[&str] = &[
    "aanl.lib",
    "all.lib",
    "analyzers.lib",
    "basics.lib",
    "compressors.lib",
    "delays.lib",
    "demos.lib",
    "dx7.lib",
    "envelopes.lib",
    "fds.lib",
    "filters.lib",
    "hoa.lib",
    "instruments.lib",
    "interpolators.lib",
    "maths.lib",
    "mi.lib",
    "misceffects.lib",
    "noises.lib",
    "oscillators.lib",
    "phaflangers.lib",
    "physmodels.lib",
    "platform.lib",
    "quantizers.lib",
    "reducemaps.lib",
    "reverbs.lib",
    "routes.lib",
    "sf.lib",
    "signals.lib",
    "spats.lib",
    "stdfaust.lib",
    "synths.lib",
    "tonestacks.lib",
    "tubes.lib",
    "vaeffects.lib",
    "version.lib",
    "wdmodels.lib",
    "webaudio.lib",
];

/// What screening learned about an accepted program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Screened {
    /// The program defines a top-level `effect`, compiled as the patch's shared effect.
    pub defines_effect: bool,
    /// The program imports `mephisto.lib`, whose contents then belong in the cache key.
    pub uses_mephisto_lib: bool,
}

/// Checks `source`, returning every refusal as one line naming the construct and its line.
pub fn screen(source: &str) -> Result<Screened, Vec<Refusal>> {
    if source.len() > MAX_SOURCE_BYTES {
        return Err(vec![Refusal::new(
            None,
            format!(
                "refused: the program is {} KiB, over the {} KiB limit (a patch that uses the libraries needs a few KiB)",
                source.len().div_ceil(1024),
                MAX_SOURCE_BYTES / 1024
            ),
        )]);
    }
    if let Some(offset) = source.find('\0') {
        let line = source[..offset].matches('\n').count() + 1;
        return Err(vec![Refusal::new(
            Some(line),
            format!("refused: a NUL character at line {line} (a Faust program is text)"),
        )]);
    }
    let tokens = tokenize(source);
    let mut refusals = Vec::new();
    let mut screened = Screened::default();
    let mut depth = 0usize;
    for (i, token) in tokens.iter().enumerate() {
        let mut refuse = |what: String| refusals.push(Refusal::new(Some(token.line), what));
        match &token.kind {
            Kind::Punct("{") => depth += 1,
            Kind::Punct("}") => depth = depth.saturating_sub(1),
            Kind::Str {
                terminated: false, ..
            } => refuse(format!(
                "refused: the string opened at line {} is never closed (add the closing `\"`)",
                token.line
            )),
            Kind::Str { text, .. } if text.contains('\\') => refuse(format!(
                "refused: a backslash in the string at line {} (Faust has no escapes in strings and copies them unchanged into the generated code; remove it)",
                token.line
            )),
            Kind::Ident(word) => {
                if let Some(reason) = forbidden_reason(word) {
                    refuse(format!("refused: `{word}` at line {} ({reason})", token.line));
                } else if matches!(word.as_str(), "import" | "library" | "component") {
                    match library_argument(&tokens[i + 1..]) {
                        Some(name) if name == MEPHISTO_LIB => screened.uses_mephisto_lib = true,
                        Some(name) if STANDARD_LIBRARIES.contains(&name) => {}
                        Some(name) => refuse(format!(
                            "refused: `{word}(\"{}\")` at line {} (only the standard Faust libraries and {MEPHISTO_LIB} can be used)",
                            crate::limits::cut(name, 80),
                            token.line
                        )),
                        None => refuse(format!(
                            "refused: `{word}` at line {} (its argument must be a library name in quotes, e.g. `{word}(\"stdfaust.lib\")`)",
                            token.line
                        )),
                    }
                } else if word == "effect"
                    && depth == 0
                    && tokens
                        .get(i + 1)
                        .is_some_and(|t| t.kind == Kind::Punct("="))
                    && (i == 0 || tokens[i - 1].kind == Kind::Punct(";"))
                {
                    screened.defines_effect = true;
                }
            }
            _ => {}
        }
    }
    if refusals.is_empty() {
        Ok(screened)
    } else {
        Err(refusals)
    }
}

/// Whether `name` is a library a program may import (a standard Faust library or
/// `mephisto.lib`).
pub fn is_allowed_library(name: &str) -> bool {
    name == MEPHISTO_LIB || STANDARD_LIBRARIES.contains(&name)
}

/// Whether Faust may read the library file `name` from its own library folders while it
/// compiles: what a program may import, and `soundfiles.lib`, which `all.lib` imports.
/// Reading it is harmless (it is Faust's own file); what would use a sound file, the
/// `soundfile` primitive, is refused in the program by the screen.
pub fn is_faust_library_file(name: &str) -> bool {
    is_allowed_library(name) || name == "soundfiles.lib"
}

fn forbidden_reason(word: &str) -> Option<&'static str> {
    Some(match word {
        "ffunction" => "calling C functions is not allowed in patches",
        "fconstant" => "reading C constants is not allowed in patches",
        "fvariable" => "reading C variables is not allowed in patches",
        "soundfile" => "patches cannot load sound files",
        _ => return None,
    })
}

/// The quoted name in `( "name" )` at the start of `tokens`.
fn library_argument(tokens: &[Token]) -> Option<&str> {
    match tokens {
        [Token {
            kind: Kind::Punct("("),
            ..
        }, Token {
            kind:
                Kind::Str {
                    text: name,
                    terminated: true,
                },
            ..
        }, Token {
            kind: Kind::Punct(")"),
            ..
        }, ..] => Some(name.as_str()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_instrument_passes() {
        let s = screen("import(\"stdfaust.lib\");\nprocess = os.osc(440);\n").unwrap();
        assert_eq!(s, Screened::default());
    }

    #[test]
    fn effect_and_mephisto_lib_are_noticed() {
        let s = screen(
            "mp = library(\"mephisto.lib\");\nprocess = 0;\neffect = _, _;\nx = y with { effect = 1; };\n",
        )
        .unwrap();
        assert!(s.defines_effect);
        assert!(s.uses_mephisto_lib);
        assert!(
            !screen("process = x with { effect = 1; };")
                .unwrap()
                .defines_effect
        );
        assert!(!screen("process = effect == 1;").unwrap().defines_effect);
    }

    #[test]
    fn lines_are_counted_through_comments_and_strings() {
        let source =
            "/* one\ntwo */ x = \"a\nb\";\n// three\nprocess = ffunction(int f(), \"\", \"\");\n";
        assert_eq!(
            screen(source).unwrap_err(),
            vec![Refusal::new(
                Some(5),
                "refused: `ffunction` at line 5 (calling C functions is not allowed in patches)"
                    .into()
            )]
        );
    }

    #[test]
    fn a_backslash_before_a_quote_does_not_hide_an_import() {
        // Faust ends the string at `\"`: the import is code, and screening sees it.
        let refusals =
            screen("t = hslider(\"t\\\", 0, 0, 1, 0.1);\nimport(\"/etc/passwd\");\nprocess = t;")
                .unwrap_err();
        let text: Vec<&str> = refusals.iter().map(|r| r.message.as_str()).collect();
        assert!(
            text[0].starts_with("refused: a backslash in the string at line 1"),
            "{text:?}"
        );
        assert!(
            text[1].starts_with("refused: `import(\"/etc/passwd\")` at line 2"),
            "{text:?}"
        );
    }

    #[test]
    fn open_strings_and_nul_bytes_are_refused() {
        let refusals = screen("process = 0;\nx = \"open").unwrap_err();
        assert!(
            refusals[0].message.contains("line 2 is never closed"),
            "{refusals:?}"
        );
        let refusals = screen("process = 0;\0import(\"x\");").unwrap_err();
        assert!(refusals[0]
            .message
            .starts_with("refused: a NUL character at line 1"));
    }

    #[test]
    fn every_refusal_is_reported() {
        let refusals =
            screen("import(\"/etc/passwd\");\nprocess = fconstant(int x, <a.h>) + fvariable(int y, <a.h>);\n")
                .unwrap_err();
        assert_eq!(refusals.len(), 3);
        assert!(refusals[0]
            .message
            .starts_with("refused: `import(\"/etc/passwd\")` at line 1"));
        assert!(refusals[1]
            .message
            .starts_with("refused: `fconstant` at line 2"));
        assert!(refusals[2]
            .message
            .starts_with("refused: `fvariable` at line 2"));
        let lines: Vec<Option<usize>> = refusals.iter().map(|r| r.line).collect();
        assert_eq!(lines, [Some(1), Some(2), Some(2)]);
    }
}
