//! Reading words the table does not list as written: simple English stemming ("growled" →
//! "growl", "darkest" → "dark", "wobbling" → "wobble") and typo tolerance ("britgh" →
//! "bright"). Both only ever produce a word the reader knows, and the reader reports every
//! word it read as another.
//!
//! The typo rule, scaled to the word's length so short words are never guessed at:
//!
//! | letters | edits allowed |
//! | --- | --- |
//! | 1–3 | none |
//! | 4 | one swap of neighbouring letters ("drak" → "dark") |
//! | 5 | one (a letter added, dropped, changed, or two neighbours swapped) |
//! | 6 or more | two |
//!
//! The first letter must match (people rarely mistype it, and it keeps "sing" from
//! becoming "ring"), and the candidate must be at least four letters long. Among candidates
//! the fewest edits win; ties go to the one listed first.

/// Suffixes tried on an unknown word, with what replaces them: "darkest" → "dark",
/// "rumbling" → "rumble", "punchiest" → "punchy".
const SUFFIXES: &[(&str, &str)] = &[
    ("iest", "y"),
    ("ier", "y"),
    ("ies", "y"),
    ("ily", "y"),
    ("ness", ""),
    ("est", ""),
    ("est", "e"),
    ("ing", ""),
    ("ing", "e"),
    ("ed", ""),
    ("ed", "e"),
    ("er", ""),
    ("er", "e"),
    ("ish", ""),
    ("ly", ""),
    ("es", ""),
    ("s", ""),
    ("y", ""),
    ("y", "e"),
];

/// The word `word` is an inflection of, when stripping a suffix (and undoing a doubled
/// final consonant: "wobbly" → "wobbl" → "wobble", "bigger" → "big") gives a word `known`
/// accepts. `None` when `word` is known as written or nothing fits.
pub fn stem(word: &str, known: &dyn Fn(&str) -> bool) -> Option<String> {
    if word.len() < 4 || known(word) {
        return None;
    }
    for (suffix, replacement) in SUFFIXES {
        let Some(base) = word.strip_suffix(suffix) else {
            continue;
        };
        if base.len() < 3 {
            continue;
        }
        let candidate = format!("{base}{replacement}");
        if known(&candidate) {
            return Some(candidate);
        }
        // A doubled final consonant: "fatter" → "fatt" → "fat".
        let bytes = base.as_bytes();
        if replacement.is_empty()
            && bytes.len() >= 4
            && bytes[bytes.len() - 1] == bytes[bytes.len() - 2]
        {
            let single = &base[..base.len() - 1];
            if known(single) {
                return Some(single.to_string());
            }
        }
    }
    None
}

/// The most edits a typo of a word this long may have; see the module documentation.
pub fn allowed_edits(letters: usize) -> usize {
    match letters {
        0..=3 => 0,
        4 | 5 => 1,
        _ => 2,
    }
}

/// The known word `word` is most likely a typo of, among `candidates` (in order of
/// preference), following the rule of the module documentation.
pub fn correct<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let letters = word.chars().count();
    let allowed = allowed_edits(letters);
    if allowed == 0 || !word.chars().all(|c| c.is_ascii_lowercase()) {
        return None;
    }
    let first = word.chars().next()?;
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        if candidate.len() < 4
            || candidate == word
            || !candidate.starts_with(first)
            || candidate.len().abs_diff(word.len()) > allowed
        {
            continue;
        }
        let edits = osa_distance(word, candidate, allowed);
        let fits = if letters == 4 {
            edits == 1 && is_one_swap(word, candidate)
        } else {
            edits <= allowed
        };
        if fits && best.is_none_or(|(e, _)| edits < e) {
            best = Some((edits, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// Whether `b` is `a` with two neighbouring letters swapped.
fn is_one_swap(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let differ: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
    differ.len() == 2
        && differ[1] == differ[0] + 1
        && a[differ[0]] == b[differ[1]]
        && a[differ[1]] == b[differ[0]]
}

/// The optimal-string-alignment distance (insertions, deletions, substitutions and swaps of
/// neighbours, each costing 1) between two ASCII words, or `limit + 1` once it is certain
/// to exceed `limit`.
pub fn osa_distance(a: &str, b: &str, limit: usize) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (n, m) = (a.len(), b.len());
    if n.abs_diff(m) > limit {
        return limit + 1;
    }
    // Three rows: two back (for swaps), one back, and the current one.
    let mut before = vec![0usize; m + 1];
    let mut previous: Vec<usize> = (0..=m).collect();
    let mut current = vec![0usize; m + 1];
    for i in 1..=n {
        current[0] = i;
        let mut row_min = current[0];
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            current[j] = d;
            row_min = row_min.min(d);
        }
        if row_min > limit {
            return limit + 1;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[m].min(limit + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORDS: [&str; 12] = [
        "bright",
        "dark",
        "distorted",
        "aggressive",
        "smooth",
        "shimmering",
        "pluck",
        "strings",
        "reverb",
        "wobble",
        "organ",
        "warm",
    ];

    #[test]
    fn typos_are_corrected_by_the_length_rule() {
        for (typo, word) in [
            ("britgh", "bright"),
            ("drak", "dark"),
            ("distroted", "distorted"),
            ("agressive", "aggressive"),
            ("smoth", "smooth"),
            ("shimering", "shimmering"),
            ("plcuk", "pluck"),
            ("stirngs", "strings"),
            ("reverbb", "reverb"),
            ("wobbel", "wobble"),
            ("orgen", "organ"),
            ("warrm", "warm"),
        ] {
            assert_eq!(correct(typo, WORDS), Some(word), "{typo}");
        }
    }

    #[test]
    fn short_words_and_other_first_letters_are_never_guessed() {
        // Three letters: never.
        assert_eq!(correct("drk", WORDS), None);
        // Four letters: only a swap, not a changed letter.
        assert_eq!(correct("dork", WORDS), None);
        assert_eq!(correct("warn", WORDS), None);
        // The first letter must match.
        assert_eq!(correct("vright", WORDS), None);
        // Too many edits for the length.
        assert_eq!(correct("brxxhx", WORDS), None);
        assert_eq!(correct("zorgle", WORDS), None);
    }

    #[test]
    fn the_distance_counts_swaps_as_one_edit() {
        assert_eq!(osa_distance("drak", "dark", 2), 1);
        assert_eq!(osa_distance("britgh", "bright", 3), 2);
        assert_eq!(osa_distance("smoth", "smooth", 2), 1);
        assert_eq!(osa_distance("abc", "abc", 0), 0);
        assert_eq!(osa_distance("kitten", "sitting", 5), 3);
        assert_eq!(
            osa_distance("kitten", "sitting", 1),
            2,
            "stops past the limit"
        );
    }

    #[test]
    fn inflections_are_stemmed_to_known_words() {
        let known = |w: &str| {
            [
                "dark", "growl", "rumble", "punchy", "big", "wobble", "sparkle", "warm",
            ]
            .contains(&w)
        };
        for (word, base) in [
            ("darkest", "dark"),
            ("darkish", "dark"),
            ("growled", "growl"),
            ("rumbling", "rumble"),
            ("punchiest", "punchy"),
            ("bigger", "big"),
            ("warmly", "warm"),
            ("sparkles", "sparkle"),
            ("wobbly", "wobble"),
        ] {
            assert_eq!(stem(word, &known).as_deref(), Some(base), "{word}");
        }
        assert_eq!(stem("dark", &known), None, "known as written");
        assert_eq!(stem("zorgles", &known), None);
    }
}
