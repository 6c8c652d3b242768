//! Property-based fuzzing (bounded: a few hundred cases each) of the readers that take a
//! user's or a model's bytes: the PatchSpec reader, the score parser and the WAV reader.
//! Whatever they are given they return (no panic, no hang), refuse with a message of
//! bounded length that names where the problem is, and never accept what breaks the caps.

use mephisto_patch::effect::{read_wav, MAX_WAV_FRAMES};
use mephisto_patch::score::{parse_score, MAX_SCORE_NOTES, MAX_SCORE_SECONDS};
use mephisto_patch::PatchSpec;
use proptest::prelude::*;

const GOOD: &str = r#"{"version": 1, "name": "fuzz", "archetype": "pad", "faust": "process = 0;", "params": {"cutoff": 1000}, "voices": 8, "macros": {"bright": [{"param": "cutoff", "depth": 0.5}]}}"#;

/// Edits of a good spec: a byte replaced, removed or inserted, the text cut short.
fn mutated() -> impl Strategy<Value = String> {
    let tokens = prop_oneof![
        Just("NaN".to_string()),
        Just("1e999".to_string()),
        Just("\"api_key\"".to_string()),
        Just("[[[[".to_string()),
        Just("\u{0}".to_string()),
        Just("\"\\ud800\"".to_string()),
        "[ -~]{0,4}".prop_map(String::from),
    ];
    (0..GOOD.len(), 0..6usize, tokens).prop_map(|(at, cut, token)| {
        let mut text = GOOD.to_string();
        let at = (0..=at)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        let end = (at + cut).min(text.len());
        text.replace_range(at..end, &token);
        text
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn the_patchspec_reader_answers_everything_with_a_named_problem(text in mutated()) {
        match PatchSpec::from_json(&text) {
            Ok(spec) => prop_assert!(spec.validate().is_ok()),
            Err(e) => {
                let message = e.to_string();
                prop_assert!(!message.is_empty());
                prop_assert!(message.len() < 4096, "{} bytes", message.len());
                // A syntax error says where; a rule broken names its field.
                prop_assert!(message.contains("line ") || message.contains('`'), "{message}");
            }
        }
    }

    #[test]
    fn the_patchspec_reader_survives_arbitrary_text(text in "\\PC{0,200}") {
        let _ = PatchSpec::from_json(&text);
    }

    #[test]
    fn the_score_parser_keeps_its_caps(text in "[A-Ga-g#b0-9:@*.,e+\\- ]{0,80}") {
        match parse_score(&text) {
            Ok(score) => {
                prop_assert!(score.len() <= MAX_SCORE_NOTES);
                for note in score {
                    prop_assert!(note.note <= 127);
                    prop_assert!(note.start + note.duration <= MAX_SCORE_SECONDS);
                    prop_assert!((0.0..=1.0).contains(&note.velocity));
                }
            }
            Err(message) => prop_assert!(message.len() < 400, "{message}"),
        }
    }

    #[test]
    fn the_wav_reader_answers_any_bytes(
        channels in 0u16..10,
        rate in prop_oneof![Just(0u32), Just(44_100), Just(48_000), Just(u32::MAX)],
        bits in prop_oneof![Just(8u16), Just(12), Just(16), Just(24), Just(32), Just(0)],
        data_len in any::<u32>(),
        tail in proptest::collection::vec(any::<u8>(), 0..256),
        n in any::<u64>(),
    ) {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(b"RIFF");
        bytes.extend_from_slice(&36u32.wrapping_add(data_len).to_le_bytes());
        bytes.extend_from_slice(b"WAVEfmt ");
        bytes.extend_from_slice(&16u32.to_le_bytes());
        bytes.extend_from_slice(&1u16.to_le_bytes());
        bytes.extend_from_slice(&channels.to_le_bytes());
        bytes.extend_from_slice(&rate.to_le_bytes());
        let block = channels.wrapping_mul(bits) / 8;
        bytes.extend_from_slice(&rate.wrapping_mul(u32::from(block)).to_le_bytes());
        bytes.extend_from_slice(&block.to_le_bytes());
        bytes.extend_from_slice(&bits.to_le_bytes());
        bytes.extend_from_slice(b"data");
        bytes.extend_from_slice(&data_len.to_le_bytes());
        bytes.extend_from_slice(&tail);
        let path = std::env::temp_dir().join(format!("mephisto-wav-fuzz-{}-{n}.wav", std::process::id()));
        std::fs::write(&path, &bytes).unwrap();
        let result = read_wav(&path);
        let _ = std::fs::remove_file(&path);
        match result {
            Ok(audio) => {
                prop_assert!(audio.left.len() as u64 <= MAX_WAV_FRAMES);
                prop_assert_eq!(audio.left.len(), audio.right.len());
            }
            Err(message) => prop_assert!(message.len() < 600, "{message}"),
        }
    }
}
