//! Faust's lexical rules, as the Faust 2.54 compiler applies them, for the screener: what is
//! a comment, a string, a number or an identifier. The screener must see exactly the
//! identifiers Faust sees; where the two disagreed (a `\"` read as an escaped quote, which
//! Faust does not have), a file import could hide from the screen and still reach Faust.
//!
//! The rules, each checked against the `faust` binary (the property test in
//! `tests/screen_vs_faust.rs` keeps checking them):
//!
//! * `//` comments run to the end of the line; `/* … */` comments do not nest, and one left
//!   open runs to the end of the file.
//! * A string is `"` up to the next `"`, newlines included; there are no escapes (a
//!   backslash is an ordinary character).
//! * An identifier is `_*[A-Za-z][A-Za-z0-9_]*`, and `::` joins identifiers into one
//!   (`a::import` is one identifier, not the keyword); a `_` not followed by a letter is
//!   the wire `_`.
//! * A number is `[0-9]+(\.[0-9]*)?` or `\.[0-9]+`, then optionally `e[+-]?[0-9]+`
//!   (lowercase only) and `f`: `1fimport` is the number `1f` and the keyword `import`.

/// What a token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Ident(String),
    /// A string's text without its quotes; `terminated` is false when the file ended first.
    Str {
        text: String,
        terminated: bool,
    },
    Number,
    /// The punctuation the screener reads: `(`, `)`, `{`, `}`, `=`, `;`.
    Punct(&'static str),
    /// Any other character or operator.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    /// 1-based line where the token starts.
    pub line: usize,
}

/// Splits Faust source into tokens, dropping comments and whitespace.
pub fn tokenize(source: &str) -> Vec<Token> {
    let bytes = source.as_bytes();
    let mut tokens = Vec::new();
    let mut line = 1;
    let mut i = 0;
    let count_lines =
        |from: usize, to: usize| bytes[from..to].iter().filter(|&&b| b == b'\n').count();
    while i < bytes.len() {
        let start = i;
        let start_line = line;
        let c = bytes[i];
        let at = |k: usize| bytes.get(k).copied();
        let kind = if c == b'/' && at(i + 1) == Some(b'/') {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            None
        } else if c == b'/' && at(i + 1) == Some(b'*') {
            i = match find(bytes, i + 2, b"*/") {
                Some(end) => end + 2,
                None => bytes.len(),
            };
            None
        } else if c == b'"' {
            let (end, terminated) = match bytes[i + 1..].iter().position(|&b| b == b'"') {
                Some(offset) => (i + 1 + offset, true),
                None => (bytes.len(), false),
            };
            let text = source[i + 1..end].to_string();
            i = if terminated { end + 1 } else { end };
            Some(Kind::Str { text, terminated })
        } else if c.is_ascii_digit() || (c == b'.' && at(i + 1).is_some_and(|b| b.is_ascii_digit()))
        {
            i = number_end(bytes, i);
            Some(Kind::Number)
        } else if let Some(end) = identifier_end(bytes, i) {
            i = end;
            Some(Kind::Ident(source[start..end].to_string()))
        } else if c.is_ascii_whitespace() {
            i += 1;
            None
        } else {
            i += utf8_len(c);
            Some(match c {
                b'(' => Kind::Punct("("),
                b')' => Kind::Punct(")"),
                b'{' => Kind::Punct("{"),
                b'}' => Kind::Punct("}"),
                b';' => Kind::Punct(";"),
                // `==` is one operator, not a definition's `=`.
                b'=' if at(i) == Some(b'=') => {
                    i += 1;
                    Kind::Other
                }
                b'=' => Kind::Punct("="),
                _ => Kind::Other,
            })
        };
        line += count_lines(start, i.min(bytes.len()));
        if let Some(kind) = kind {
            tokens.push(Token {
                kind,
                line: start_line,
            });
        }
    }
    tokens
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

/// The end of the number starting at `i` (a digit, or `.` and a digit).
fn number_end(bytes: &[u8], mut i: usize) -> usize {
    let digits = |mut k: usize| {
        while bytes.get(k).is_some_and(u8::is_ascii_digit) {
            k += 1;
        }
        k
    };
    i = digits(i);
    if bytes.get(i) == Some(&b'.') {
        i = digits(i + 1);
    }
    if bytes.get(i) == Some(&b'e') {
        let sign = usize::from(matches!(bytes.get(i + 1), Some(b'+' | b'-')));
        if bytes.get(i + 1 + sign).is_some_and(u8::is_ascii_digit) {
            i = digits(i + 1 + sign);
        }
    }
    if bytes.get(i) == Some(&b'f') {
        i += 1;
    }
    i
}

/// The end of `_*[A-Za-z][A-Za-z0-9_]*`, starting at `i`, if one starts there.
fn name_end(bytes: &[u8], mut i: usize) -> Option<usize> {
    while bytes.get(i) == Some(&b'_') {
        i += 1;
    }
    if !bytes.get(i).is_some_and(u8::is_ascii_alphabetic) {
        return None;
    }
    while bytes
        .get(i)
        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
    {
        i += 1;
    }
    Some(i)
}

/// The end of an identifier (names joined by `::`) starting at `i`, if one starts there.
fn identifier_end(bytes: &[u8], i: usize) -> Option<usize> {
    let mut end = name_end(bytes, i)?;
    while bytes.get(end..end + 2) == Some(b"::") {
        match name_end(bytes, end + 2) {
            Some(next) => end = next,
            None => break,
        }
    }
    Some(end)
}

/// Bytes in the UTF-8 character that starts with `first`, so a token never splits one.
fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idents(source: &str) -> Vec<String> {
        tokenize(source)
            .into_iter()
            .filter_map(|t| match t.kind {
                Kind::Ident(name) => Some(name),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_backslash_does_not_escape_a_quote() {
        let tokens = tokenize("t = hslider(\"t\\\", 0); import(\"x\");");
        assert!(tokens.contains(&Token {
            kind: Kind::Str {
                text: "t\\".into(),
                terminated: true
            },
            line: 1
        }));
        assert_eq!(
            idents("t = hslider(\"t\\\", 0); import(\"x\");"),
            ["t", "hslider", "import"]
        );
    }

    #[test]
    fn identifiers_and_numbers_split_as_faust_splits_them() {
        assert_eq!(idents("1fimport"), ["import"]);
        assert_eq!(idents("1e5import"), ["import"]);
        assert_eq!(idents("1eimport"), ["eimport"]);
        assert_eq!(idents("1.5e5.3 x.5"), ["x"]);
        assert_eq!(idents("_1import"), ["import"]);
        assert_eq!(
            idents("__import a::import import::a"),
            ["__import", "a::import", "import::a"]
        );
        assert_eq!(idents("a:: import"), ["a", "import"]);
        assert_eq!(idents("1E5"), ["E5"]);
    }

    #[test]
    fn comments_do_not_nest_and_an_open_one_runs_to_the_end() {
        assert_eq!(idents("/* /* */ import */"), ["import"]);
        assert_eq!(idents("// a /*\nimport"), ["import"]);
        assert!(idents("x /* import").len() == 1);
        assert_eq!(idents("\"// not a comment\" import"), ["import"]);
    }

    #[test]
    fn lines_count_through_strings_and_comments() {
        let tokens = tokenize("/*\n*/ \"a\nb\"\n// c\nx");
        assert_eq!(tokens.last().unwrap().line, 5);
        let open = tokenize("\"open\nstring");
        assert_eq!(
            open[0].kind,
            Kind::Str {
                text: "open\nstring".into(),
                terminated: false
            }
        );
    }
}
