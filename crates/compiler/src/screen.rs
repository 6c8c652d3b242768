//! Screening of a Faust program before it reaches the compilers: refuses the constructs that
//! reach outside the sandbox (C functions, files, non-standard libraries) and oversized
//! sources, and notes what the pipeline needs to know (an `effect`, a `mephisto.lib` import).

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
    let tokens = tokenize(source);
    let mut refusals = Vec::new();
    let mut screened = Screened::default();
    let mut depth = 0usize;
    for (i, token) in tokens.iter().enumerate() {
        match &token.kind {
            Kind::Punct("{") => depth += 1,
            Kind::Punct("}") => depth = depth.saturating_sub(1),
            Kind::Ident(word) => {
                if let Some(reason) = forbidden_reason(word) {
                    refusals.push(Refusal::new(
                        Some(token.line),
                        format!("refused: `{word}` at line {} ({reason})", token.line),
                    ));
                } else if matches!(word.as_str(), "import" | "library" | "component") {
                    match library_argument(&tokens[i + 1..]) {
                        Some(name) if name == MEPHISTO_LIB => screened.uses_mephisto_lib = true,
                        Some(name) if STANDARD_LIBRARIES.contains(&name) => {}
                        Some(name) => refusals.push(Refusal::new(
                            Some(token.line),
                            format!(
                                "refused: `{word}(\"{name}\")` at line {} (only the standard Faust libraries and {MEPHISTO_LIB} can be used)",
                                token.line
                            ),
                        )),
                        None => refusals.push(Refusal::new(
                            Some(token.line),
                            format!(
                                "refused: `{word}` at line {} (its argument must be a library name in quotes, e.g. `{word}(\"stdfaust.lib\")`)",
                                token.line
                            ),
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
            kind: Kind::Str(name),
            ..
        }, Token {
            kind: Kind::Punct(")"),
            ..
        }, ..] => Some(name.as_str()),
        _ => None,
    }
}

#[derive(Debug, PartialEq)]
enum Kind {
    Ident(String),
    Str(String),
    Punct(&'static str),
    Other,
}

#[derive(Debug)]
struct Token {
    kind: Kind,
    /// 1-based line where the token starts.
    line: usize,
}

/// Splits Faust source into the tokens screening cares about, dropping comments so a word
/// in a comment is never mistaken for code, and keeping strings whole so a word inside a
/// label is never mistaken for a keyword.
fn tokenize(source: &str) -> Vec<Token> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start_line = line;
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                if chars[i] == '\n' {
                    line += 1;
                }
                i += 1;
            }
            i += 2;
        } else if c == '"' {
            let mut text = String::new();
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    text.push(chars[i]);
                    i += 1;
                }
                if chars[i] == '\n' {
                    line += 1;
                }
                text.push(chars[i]);
                i += 1;
            }
            i += 1;
            tokens.push(Token {
                kind: Kind::Str(text),
                line: start_line,
            });
        } else if c.is_ascii_alphabetic() || c == '_' {
            let begin = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Token {
                kind: Kind::Ident(chars[begin..i].iter().collect()),
                line: start_line,
            });
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let kind = match (c, two.as_str()) {
                (_, "==" | "!=" | "<=" | ">=") => {
                    i += 1;
                    Kind::Other
                }
                ('(', _) => Kind::Punct("("),
                (')', _) => Kind::Punct(")"),
                ('{', _) => Kind::Punct("{"),
                ('}', _) => Kind::Punct("}"),
                ('=', _) => Kind::Punct("="),
                (';', _) => Kind::Punct(";"),
                _ => Kind::Other,
            };
            i += 1;
            tokens.push(Token {
                kind,
                line: start_line,
            });
        }
    }
    tokens
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
    fn escaped_quotes_stay_inside_strings() {
        assert!(screen("process = hslider(\"a \\\" soundfile\", 0, 0, 1, 0.1);").is_ok());
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
