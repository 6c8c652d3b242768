//! The note score of the offline renderer: comma-separated `NOTE:DURATION[@START][*VELOCITY]`
//! entries, where NOTE is a name such as `C3`, `F#4`, `Bb2` (scientific pitch: C4 = MIDI 60)
//! or a MIDI number, DURATION/START are seconds and VELOCITY is 0..1 (default
//! [`SCORE_VELOCITY`]). A note without `@START` begins when the previous entry ends.

/// One note of a score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreNote {
    pub note: u8,
    pub start: f64,
    pub duration: f64,
    pub velocity: f32,
}

/// The most entries a score may have: a few minutes of dense playing.
pub const MAX_SCORE_NOTES: usize = 1000;

/// The latest a score's note may end, in seconds (the longest render is an hour).
pub const MAX_SCORE_SECONDS: f64 = 3600.0;

/// Velocity of score notes: a firm but not maximal key press.
pub const SCORE_VELOCITY: f32 = 0.8;

/// The score played when none is given: C3 held for one second
/// ([`crate::probe::Probe::default_render`]).
pub fn default_score() -> Vec<ScoreNote> {
    crate::probe::Probe::default_render().score()
}

/// Parses a score, naming the entry that is wrong.
pub fn parse_score(text: &str) -> Result<Vec<ScoreNote>, String> {
    let entries = text.split(',').count();
    if entries > MAX_SCORE_NOTES {
        return Err(format!(
            "the score has {entries} entries; at most {MAX_SCORE_NOTES} are played"
        ));
    }
    let mut notes = Vec::new();
    let mut next_start = 0.0;
    for entry in text.split(',').map(str::trim) {
        let shown = mephisto_compiler::limits::cut(entry, 40);
        let bad = |why: &str| {
            format!(
                "bad score entry `{shown}`: {why} (expected NOTE:SECONDS[@START][*VELOCITY], \
                 e.g. C3:1, 60:0.5@2 or C3:1*0.4)"
            )
        };
        let (note_text, rest) = entry
            .split_once(':')
            .ok_or_else(|| bad("missing `:DURATION`"))?;
        let (rest, velocity) = match rest.split_once('*') {
            Some((rest, v)) => (rest, parse_velocity(v).map_err(|e| bad(&e))?),
            None => (rest, SCORE_VELOCITY),
        };
        let (duration_text, start_text) = match rest.split_once('@') {
            Some((d, s)) => (d, Some(s)),
            None => (rest, None),
        };
        let note = parse_note(note_text).map_err(|e| bad(&e))?;
        let duration = parse_seconds(duration_text).map_err(|e| bad(&e))?;
        if duration <= 0.0 {
            return Err(bad("the duration must be positive"));
        }
        let start = match start_text {
            Some(s) => parse_seconds(s).map_err(|e| bad(&e))?,
            None => next_start,
        };
        next_start = start + duration;
        if next_start > MAX_SCORE_SECONDS {
            return Err(bad(&format!(
                "it ends at {next_start} s, after the {MAX_SCORE_SECONDS} s a score may last"
            )));
        }
        notes.push(ScoreNote {
            note,
            start,
            duration,
            velocity,
        });
    }
    Ok(notes)
}

fn parse_velocity(text: &str) -> Result<f32, String> {
    match text.trim().parse::<f32>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("`{}` is not a velocity from 0 to 1", text.trim())),
    }
}

fn parse_seconds(text: &str) -> Result<f64, String> {
    let shown = mephisto_compiler::limits::cut(text.trim(), 20);
    match text.trim().parse::<f64>() {
        Ok(s) if s.is_finite() && (0.0..=MAX_SCORE_SECONDS).contains(&s) => Ok(s),
        Ok(s) if s.is_finite() && s > MAX_SCORE_SECONDS => Err(format!(
            "{shown} s is longer than the {MAX_SCORE_SECONDS} s a score may last"
        )),
        _ => Err(format!("`{shown}` is not a number of seconds")),
    }
}

/// Parses a note name (`C3`, `F#4`, `Eb-1`) or a MIDI number (`48`).
pub fn parse_note(text: &str) -> Result<u8, String> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        return text
            .parse::<i64>()
            .ok()
            .and_then(|n| u8::try_from(n).ok())
            .filter(|n| *n <= 127)
            .ok_or_else(|| {
                format!(
                    "MIDI note {} is outside 0..127",
                    mephisto_compiler::limits::cut(text, 20)
                )
            });
    }
    let shown = mephisto_compiler::limits::cut(text, 20);
    let mut chars = text.chars();
    let letter = chars.next().ok_or("empty note")?;
    let base = match letter.to_ascii_uppercase() {
        'C' => 0,
        'D' => 2,
        'E' => 4,
        'F' => 5,
        'G' => 7,
        'A' => 9,
        'B' => 11,
        _ => return Err(format!("`{shown}` is not a note name")),
    };
    let rest = chars.as_str();
    let (accidental, octave_text) = match rest.chars().next() {
        Some('#') => (1, &rest[1..]),
        Some('b') => (-1, &rest[1..]),
        _ => (0, rest),
    };
    // Checked arithmetic: a huge octave must not wrap round to a playable note.
    let octave: i64 = octave_text
        .parse()
        .map_err(|_| format!("`{shown}` has no octave number"))?;
    octave
        .checked_add(1)
        .and_then(|o| o.checked_mul(12))
        .and_then(|n| n.checked_add(base + accidental))
        .and_then(|midi| u8::try_from(midi).ok())
        .filter(|n| *n <= 127)
        .ok_or_else(|| format!("`{shown}` is outside the MIDI range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn note_names_follow_scientific_pitch() {
        assert_eq!(parse_note("C4"), Ok(60));
        assert_eq!(parse_note("C3"), Ok(48));
        assert_eq!(parse_note("A4"), Ok(69));
        assert_eq!(parse_note("F#4"), Ok(66));
        assert_eq!(parse_note("Bb2"), Ok(46));
        assert_eq!(parse_note("c-1"), Ok(0));
        assert_eq!(parse_note("61"), Ok(61));
        assert!(parse_note("H2").is_err());
        assert!(parse_note("128").is_err());
        assert!(parse_note("G9").is_ok());
        assert!(parse_note("A9").is_err());
    }

    #[test]
    fn entries_without_start_follow_each_other() {
        let score = parse_score("C3:1, E3:0.5, 67:2@0.25").unwrap();
        assert_eq!(score.len(), 3);
        assert_eq!(
            (score[0].note, score[0].start, score[0].duration),
            (48, 0.0, 1.0)
        );
        assert_eq!((score[1].note, score[1].start), (52, 1.0));
        assert_eq!(
            (score[2].note, score[2].start, score[2].duration),
            (67, 0.25, 2.0)
        );
        assert!(score.iter().all(|n| n.velocity == SCORE_VELOCITY));
    }

    #[test]
    fn velocities_follow_a_star() {
        let score = parse_score("C3:1*0.4, E3:0.5@2*1").unwrap();
        assert_eq!((score[0].velocity, score[0].duration), (0.4, 1.0));
        assert_eq!((score[1].velocity, score[1].start), (1.0, 2.0));
        let err = parse_score("C3:1*1.5").unwrap_err();
        assert!(err.contains("not a velocity"), "{err}");
        assert!(parse_score("C3:1*").is_err());
    }

    #[test]
    fn user_lengths_are_bounded() {
        assert!(parse_note("C1073741828").is_err());
        assert!(parse_note("C99999999999999999999").is_err());
        assert!(parse_note("4294967356").is_err());
        let err = parse_score("C3:1e30").unwrap_err();
        assert!(err.contains("longer than the 3600 s"), "{err}");
        let long: Vec<String> = (0..MAX_SCORE_NOTES + 1).map(|_| "C3:0.1".into()).collect();
        assert!(parse_score(&long.join(","))
            .unwrap_err()
            .contains("at most 1000"));
        let err = parse_score(&["C3:4"; 1000].join(",")).map(|s| s.len());
        assert!(
            err.as_ref()
                .is_err_and(|e| e.contains("after the 3600 s a score may last")),
            "{err:?}"
        );
        let err = parse_score(&format!("{}:1", "X".repeat(100_000))).unwrap_err();
        assert!(err.len() < 400, "{}", err.len());
    }

    #[test]
    fn bad_entries_are_named() {
        let err = parse_score("C3:1,X9:1").unwrap_err();
        assert!(err.contains("`X9:1`"), "{err}");
        assert!(parse_score("C3").unwrap_err().contains("missing"));
        assert!(parse_score("C3:-1").is_err());
        assert!(parse_score("C3:0").is_err());
    }
}
