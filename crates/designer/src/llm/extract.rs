//! Finding the JSON object in a model's reply: alone, fenced, or between prose; with raw
//! line breaks inside strings repaired.

/// Finds the JSON object in a model's reply: alone, inside ``` or ```json fences, or with
/// prose before or after it. Returns the first balanced top-level `{…}` that parses as JSON.
/// Raw line breaks and tabs inside strings (models often write Faust source that way) are
/// escaped so the object still parses.
pub fn extract_json(reply: &str) -> Result<String, String> {
    /// A bound on the work for replies full of stray braces.
    const MAX_CANDIDATES: usize = 256;

    let bytes = reply.as_bytes();
    let mut first_problem: Option<String> = None;
    let mut start = 0;
    for _ in 0..MAX_CANDIDATES {
        let Some(offset) = reply[start..].find('{') else {
            break;
        };
        let open = start + offset;
        match balanced_end(&bytes[open..]) {
            Some(len) => {
                let candidate = &reply[open..open + len];
                match parse_object(candidate) {
                    Ok(json) => return Ok(json),
                    Err(e) => {
                        first_problem.get_or_insert_with(|| {
                            format!(
                                "the model's reply has a {{…}} block that is not valid JSON ({e})"
                            )
                        });
                        start = open + len;
                    }
                }
            }
            None => {
                first_problem.get_or_insert_with(|| {
                    "the model's reply has a JSON object that never closes — it may have been \
                     cut off (a token limit on the server?)"
                        .to_string()
                });
                start = open + 1;
            }
        }
    }
    Err(first_problem.unwrap_or_else(|| {
        format!(
            "the model's reply contains no JSON object (it began {}); a PatchSpec must be one \
             JSON object",
            preview(reply)
        )
    }))
}

/// The length of the balanced `{…}` that `text` starts with, minding braces inside strings.
fn balanced_end(text: &[u8]) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in text.iter().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// Parses `candidate` as a JSON object, trying again with raw control characters inside
/// strings escaped; returns the text that parsed.
fn parse_object(candidate: &str) -> Result<String, serde_json::Error> {
    let parse =
        |text: &str| serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text);
    let error = match parse(candidate) {
        Ok(_) => return Ok(candidate.to_string()),
        Err(e) => e,
    };
    let repaired = escape_controls_in_strings(candidate);
    match parse(&repaired) {
        Ok(_) if repaired != candidate => Ok(repaired),
        _ => Err(error),
    }
}

fn escape_controls_in_strings(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            match c {
                _ if escaped => {
                    escaped = false;
                    out.push(c);
                }
                '\\' => {
                    escaped = true;
                    out.push(c);
                }
                '"' => {
                    in_string = false;
                    out.push(c);
                }
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        } else {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}

/// `text` cut to `max_chars` characters, with an ellipsis when it was cut.
pub(crate) fn shorten(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// The start of a text, quoted, for messages; `nothing` when it is empty.
pub(crate) fn preview(text: &str) -> String {
    let text = text.trim();
    if text.is_empty() {
        "nothing".to_string()
    } else {
        format!("\"{}\"", shorten(text, 80))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extract_json_escapes_raw_line_breaks_inside_strings() {
        let reply = "{\"faust\": \"import(\\\"stdfaust.lib\\\");\nprocess = os.osc(440);\"}";
        let json = extract_json(reply).unwrap();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            value["faust"],
            "import(\"stdfaust.lib\");\nprocess = os.osc(440);"
        );
    }

    #[test]
    fn extract_json_skips_prose_braces_and_handles_braces_in_strings() {
        let reply = "Use {curly} notes. Here:\n{\"a\": \"}{\", \"b\": {\"c\": 1}} done {x}";
        assert_eq!(
            extract_json(reply).unwrap(),
            "{\"a\": \"}{\", \"b\": {\"c\": 1}}"
        );
    }

    #[test]
    fn extract_json_does_not_fall_back_to_an_inner_object() {
        let err = extract_json("{\"params\": {\"cutoff\": 1}, oops}").unwrap_err();
        assert!(err.contains("not valid JSON"), "{err}");
    }

    #[test]
    fn extract_json_reports_a_cut_off_object() {
        let err = extract_json("```json\n{\"name\": \"pad\", \"faust\": \"proc").unwrap_err();
        assert!(err.contains("never closes"), "{err}");
    }

    #[test]
    fn extract_json_bounds_its_work_on_stray_braces() {
        let reply = "{".repeat(200_000);
        assert!(extract_json(&reply).is_err());
    }
}
