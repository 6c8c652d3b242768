//! Tab-separated text fields, escaped so a field may hold any text: the form of the
//! description a compiled DSP reports and of the toolchain identity records on disk.

/// `field` with backslash, tab, newline and carriage return written as `\\`, `\t`, `\n`, `\r`.
pub fn escape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    for ch in field.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            _ => out.push(ch),
        }
    }
    out
}

/// The text [`escape`] wrote; `None` for an escape it never writes (the text is damaged).
pub fn unescape(field: &str) -> Option<String> {
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(ch) = chars.next() {
        if ch != '\\' {
            out.push(ch);
            continue;
        }
        out.push(match chars.next()? {
            '\\' => '\\',
            't' => '\t',
            'n' => '\n',
            'r' => '\r',
            _ => return None,
        });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_round_trips_and_damage_is_refused() {
        for text in ["", "a\tb\nc\\d\re", "plain", "\\\\t"] {
            assert_eq!(unescape(&escape(text)).as_deref(), Some(text));
        }
        assert_eq!(unescape("trailing\\"), None);
        assert_eq!(unescape("\\x"), None);
    }
}
