//! The field a position in a JSON document is in (`params.cutoff`, `macros.warm[1].depth`),
//! for syntax errors: serde_json says "line 12, column 13: expected value" for a `NaN`, and
//! the producer needs to know which field holds it.

/// One open container on the way to the position.
enum Open {
    /// An object, with the key whose value is being read (once its `:` was seen).
    Object {
        key: Option<String>,
        in_value: bool,
    },
    Array {
        index: usize,
    },
}

/// The path of the field at 1-based `line` and `column` of `text`, if the position is inside
/// a field's value; `None` at the top level.
pub fn path_at(text: &str, line: usize, column: usize) -> Option<String> {
    let end = offset_of(text, line, column);
    let bytes = &text.as_bytes()[..end];
    let mut stack: Vec<Open> = Vec::new();
    let mut last_string: Option<String> = None;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let start = i + 1;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                let string = String::from_utf8_lossy(&bytes[start..i.min(bytes.len())]);
                last_string = Some(string.into_owned());
            }
            b'{' => stack.push(Open::Object {
                key: None,
                in_value: false,
            }),
            b'[' => stack.push(Open::Array { index: 0 }),
            b'}' | b']' => {
                stack.pop();
            }
            b':' => {
                if let Some(Open::Object { key, in_value }) = stack.last_mut() {
                    *key = last_string.take();
                    *in_value = true;
                }
            }
            b',' => match stack.last_mut() {
                Some(Open::Array { index }) => *index += 1,
                Some(Open::Object { in_value, .. }) => *in_value = false,
                None => {}
            },
            _ => {}
        }
        i += 1;
    }
    let mut path = String::new();
    for open in &stack {
        match open {
            Open::Object {
                key: Some(key),
                in_value: true,
            } => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&mephisto_compiler::limits::cut(key, 60));
            }
            Open::Array { index } => path.push_str(&format!("[{index}]")),
            Open::Object { .. } => break,
        }
    }
    (!path.is_empty()).then_some(path)
}

/// The byte offset of 1-based `line` and `column` (serde_json counts columns in bytes).
fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let mut offset = 0;
    for (n, l) in text.split_inclusive('\n').enumerate() {
        if n + 1 == line {
            return (offset + column.saturating_sub(1)).min(text.len());
        }
        offset += l.len();
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_field_at_a_position_is_named() {
        let text = "{\n  \"params\": {\"cutoff\": NaN},\n  \"macros\": {\"warm\": [{\"param\": \"a\", \"depth\": x}]}\n}";
        assert_eq!(path_at(text, 2, 26).as_deref(), Some("params.cutoff"));
        assert_eq!(
            path_at(text, 3, 47).as_deref(),
            Some("macros.warm[0].depth")
        );
        assert_eq!(path_at("{\"a\": 1, x", 1, 10), None);
        assert_eq!(path_at("[1, 2, oops]", 1, 8).as_deref(), Some("[2]"));
    }
}
