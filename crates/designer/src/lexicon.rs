//! The offline designer's vocabulary and reader: which words name an instrument (an
//! archetype, sometimes a particular template), which describe a sound (weights on the
//! descriptor axes), which give a controller a job, and which only shape a sentence. A
//! prompt is read into a [`Reading`].
//!
//! Reading degrades gracefully. A word the English table ([`words::ENTRIES`]) does not list
//! as written is tried, in order, as a word of German, French, Spanish, Italian or
//! Portuguese ([`foreign`]), as "un" + a known word ("undistorted" = "not distorted"), as an
//! inflection of a known word ("growled", "darkest"; [`spelling::stem`]) and as a typo of
//! one ([`spelling::correct`], with an edit budget scaled to the word's length). Every word
//! read as another is reported ([`Reading::reinterpreted`]); what is still not understood
//! is reported too and changes nothing: an unknown word never changes the template.
//!
//! Conventions of the table:
//!
//! * Plurals, comparatives and phrases are listed explicitly ("warmer", "mod wheel");
//!   stemming only catches what the table forgot.
//! * Strong words push an axis by 0.8–0.9, mild ones by 0.3–0.5. Degree words scale the
//!   next content word ([`words::DEGREES`]: "barely" ×0.3 … "extremely" ×2); sums are
//!   clamped to ±[`AXIS_LIMIT`], so "extremely bright" still reads as more than "bright".
//! * Instrument nouns vote 1.0 for their archetype ([`NOUN_VOTE`]), and may name the
//!   template that plays them (`marimba` → `wood_mallet`); describing words that only
//!   suggest an instrument ("plucky" → pluck) vote 0.3–0.6, so any noun outvotes them.
//! * Moods, genres and synthesizer names are describing words: "sad" is darker and more
//!   spacious, "techno" punchier, "juno" chorused and warm.
//! * "loud" and "quiet" push the Level axis: the designed patch's output trim.

mod controllers;
pub mod foreign;
pub mod spelling;
mod words;

pub use controllers::{Controller, MAX_BEND_SEMITONES};
pub use foreign::Language;
pub use words::*;

use mephisto_dsp::macros::Macro;
use mephisto_patch::spec::ARCHETYPES;

/// A direction a sound can be pushed in: one of the six macros, the attack or the length
/// (envelope shapes the macros do not cover on their own), or the level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Axis {
    /// Warm: low-mid (100–600 Hz) energy share up; Bright: spectral centroid up; Grit:
    /// flatness up; Space: tail up; Motion: spectral flux up; Punch: sharper attack and
    /// crest. Negative weights push the other way (thin, dark, clean, dry, static, soft).
    Macro(Macro),
    /// Attack time up: swelling, slow, fading in. Negative: instant, immediate.
    Attack,
    /// Decay and release time up: long, sustained, ringing. Negative: short, staccato.
    Length,
    /// Loudness up: loud. Negative: quiet. Moves the output trim, nothing else.
    Level,
}

/// The axes by name, for the tables.
pub(crate) const WARM: Axis = Axis::Macro(Macro::Warm);
pub(crate) const BRIGHT: Axis = Axis::Macro(Macro::Bright);
pub(crate) const GRIT: Axis = Axis::Macro(Macro::Grit);
pub(crate) const SPACE: Axis = Axis::Macro(Macro::Space);
pub(crate) const MOTION: Axis = Axis::Macro(Macro::Motion);
pub(crate) const PUNCH: Axis = Axis::Macro(Macro::Punch);
pub(crate) const ATTACK: Axis = Axis::Attack;
pub(crate) const LENGTH: Axis = Axis::Length;
pub(crate) const LEVEL: Axis = Axis::Level;

impl Axis {
    pub const COUNT: usize = Macro::COUNT + 3;
    pub const ALL: [Axis; Axis::COUNT] = [
        WARM, BRIGHT, GRIT, SPACE, MOTION, PUNCH, ATTACK, LENGTH, LEVEL,
    ];

    /// The macros' axes first, in [`Macro::ALL`] order, then attack, length and level.
    pub fn index(self) -> usize {
        match self {
            Axis::Macro(m) => m.index(),
            Axis::Attack => Macro::COUNT,
            Axis::Length => Macro::COUNT + 1,
            Axis::Level => Macro::COUNT + 2,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Axis::Macro(m) => m.key(),
            Axis::Attack => "attack",
            Axis::Length => "length",
            Axis::Level => "level",
        }
    }
}

/// Axis weights, indexed by [`Axis::index`]; each is clamped to ±[`AXIS_LIMIT`] after a
/// prompt is read.
pub type AxisWeights = [f32; Axis::COUNT];

/// The largest weight an axis can have after a prompt is read: one and a half times a
/// plain strong word, so degree words still grade strong words.
pub const AXIS_LIMIT: f32 = 1.5;

/// One lexicon entry: every spelling (synonyms, comparatives and plurals are listed
/// explicitly), the archetype it names if any (one of [`ARCHETYPES`]) and the built-in
/// template that plays it when one is more fitting than the archetype's usual one, how
/// strongly it votes for that archetype, and its pushes on the axes.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub words: &'static [&'static str],
    pub archetype: Option<&'static str>,
    /// The built-in patch that plays this instrument ("marimba" → `wood_mallet`).
    pub template: Option<&'static str>,
    /// The archetype vote: [`NOUN_VOTE`] for an instrument noun, less for a describing word
    /// that only suggests an instrument, 0 without an archetype.
    pub vote: f32,
    pub axes: &'static [(Axis, f32)],
}

/// The vote of a word that names an instrument ("pad", "rhodes", "kick").
pub const NOUN_VOTE: f32 = 1.0;

impl Entry {
    /// A word that names an instrument.
    const fn noun(
        words: &'static [&'static str],
        archetype: &'static str,
        axes: &'static [(Axis, f32)],
    ) -> Entry {
        Entry {
            words,
            archetype: Some(archetype),
            template: None,
            vote: NOUN_VOTE,
            axes,
        }
    }

    /// A describing word that also suggests an instrument, with a vote below a noun's.
    const fn hint(
        words: &'static [&'static str],
        archetype: &'static str,
        vote: f32,
        axes: &'static [(Axis, f32)],
    ) -> Entry {
        Entry {
            words,
            archetype: Some(archetype),
            template: None,
            vote,
            axes,
        }
    }

    /// A describing word (or a neutral noun such as "tail" when `axes` is empty).
    const fn word(words: &'static [&'static str], axes: &'static [(Axis, f32)]) -> Entry {
        Entry {
            words,
            archetype: None,
            template: None,
            vote: 0.0,
            axes,
        }
    }

    /// The same entry, played by built-in `template`.
    const fn of(self, template: &'static str) -> Entry {
        Entry {
            template: Some(template),
            ..self
        }
    }
}

/// Why a word was read as another.
#[derive(Debug, Clone, PartialEq)]
pub enum Why {
    /// A word of these languages.
    Language(Vec<Language>),
    /// A typo within the length rule of [`spelling`].
    Typo,
    /// An inflection of a listed word.
    Inflection,
    /// "un" + a word: its negation.
    Negated,
}

/// A word of the prompt that was read as another.
#[derive(Debug, Clone, PartialEq)]
pub struct Reinterpretation {
    /// As written (lowercase, accents folded).
    pub written: String,
    /// As read: an English spelling or function word.
    pub read: String,
    pub why: Why,
}

impl std::fmt::Display for Reinterpretation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "read '{}' as '{}'", self.written, self.read)?;
        match &self.why {
            Why::Language(languages) => {
                let names: Vec<&str> = languages.iter().map(|l| l.name()).collect();
                write!(f, " ({})", names.join("/"))
            }
            Why::Typo => f.write_str(" (typo)"),
            Why::Inflection | Why::Negated => Ok(()),
        }
    }
}

/// The jobs a prompt gave the controllers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ControllerWords {
    /// What pushing the mod wheel adds, as axis weights (each macro axis's weight is the
    /// depth with which the wheel pushes that macro); `None` when the prompt names no job
    /// for the wheel.
    pub mod_wheel: Option<AxisWeights>,
    /// What playing harder adds.
    pub velocity: Option<AxisWeights>,
    /// What pressing into the keys adds.
    pub aftertouch: Option<AxisWeights>,
    /// The pitch-bend range asked for, in semitones.
    pub bend_range: Option<f32>,
}

impl ControllerWords {
    pub fn is_empty(&self) -> bool {
        *self == ControllerWords::default()
    }

    fn route_mut(&mut self, controller: Controller) -> Option<&mut Option<AxisWeights>> {
        match controller {
            Controller::ModWheel => Some(&mut self.mod_wheel),
            Controller::Velocity => Some(&mut self.velocity),
            Controller::Aftertouch => Some(&mut self.aftertouch),
            Controller::PitchBend => None,
        }
    }
}

/// What a prompt said, as the offline designer understands it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reading {
    /// Summed archetype votes, indexed like [`ARCHETYPES`]; a negated noun ("no bass")
    /// votes against.
    pub archetype_votes: [f32; ARCHETYPES.len()],
    /// Summed votes for particular templates, by built-in name.
    pub template_votes: Vec<(&'static str, f32)>,
    /// Summed axis pushes of the resting sound, each clamped to ±[`AXIS_LIMIT`].
    pub axes: AxisWeights,
    /// What the prompt asks the controllers to do.
    pub controllers: ControllerWords,
    /// The words understood (lexicon spellings, modifiers and relative words, not stop
    /// words), in order of first appearance, as read.
    pub understood: Vec<String>,
    /// The words not understood, in order of first appearance.
    pub unknown: Vec<String>,
    /// Words read as another word (a typo, another language, an inflection).
    pub reinterpreted: Vec<Reinterpretation>,
    /// Whether the prompt asks for a change of the current sound ("warmer", "less
    /// metallic", "too bright") rather than a new one.
    pub relative: bool,
}

impl Reading {
    /// The archetype with the highest positive vote, ties broken by [`ARCHETYPES`] order;
    /// `None` when no instrument was voted for.
    pub fn archetype(&self) -> Option<&'static str> {
        let mut best: Option<(usize, f32)> = None;
        for (i, &vote) in self.archetype_votes.iter().enumerate() {
            if vote > 0.0 && best.is_none_or(|(_, top)| vote > top) {
                best = Some((i, vote));
            }
        }
        best.map(|(i, _)| ARCHETYPES[i])
    }

    /// The template with the highest positive vote among those `fits` accepts.
    pub fn template(&self, fits: impl Fn(&str) -> bool) -> Option<&'static str> {
        let mut best: Option<(&'static str, f32)> = None;
        for &(template, vote) in &self.template_votes {
            if vote > 0.0 && fits(template) && best.is_none_or(|(_, top)| vote > top) {
                best = Some((template, vote));
            }
        }
        best.map(|(t, _)| t)
    }

    /// The weight on one axis.
    pub fn axis(&self, axis: Axis) -> f32 {
        self.axes[axis.index()]
    }
}

/// The number of distinct spellings in [`ENTRIES`].
pub fn spelling_count() -> usize {
    let mut all: Vec<&str> = ENTRIES
        .iter()
        .flat_map(|e| e.words.iter().copied())
        .collect();
    all.sort_unstable();
    all.dedup();
    all.len()
}

/// Whether `word` (one spelling, as in [`Reading::understood`]) describes a sound or names
/// an instrument, as opposed to a modifier such as "very" or "more".
pub fn is_descriptive(word: &str) -> bool {
    entry_for(word).is_some()
}

/// One step of a prompt as the reader sees it, after spelling and languages are resolved.
#[derive(Debug, Clone)]
enum Item {
    Entry(&'static Entry, String),
    Degree(f32, String),
    Negator(String),
    Too,
    Relative(String),
    Controller(Controller, f32, String),
    /// The end of a clause: punctuation or a word of `CLAUSE_BREAKS`.
    Break,
    /// A stop word, number or other word that says nothing.
    Silent,
    Unknown(String),
}

/// Reads a prompt: folds accents and case, splits it into words (resolving other
/// languages, inflections and typos), matches the longest phrase of the table first,
/// applies degree words and negations to the next content word, gives each controller
/// clause's words to its controller, sums the pushes and clamps each axis to
/// ±[`AXIS_LIMIT`]. Numbers and one-letter words are ignored silently.
pub fn read(prompt: &str) -> Reading {
    let mut reading = Reading::default();
    let tokens = resolve(prompt, &mut reading.reinterpreted);
    let (items, clause_words) = items(&tokens);
    // Each clause's controller, if it names one.
    let controller_of: Vec<Option<(Controller, f32)>> = (0..=items.last().map_or(0, |i| i.0))
        .map(|clause| {
            items.iter().find_map(|(c, item)| match item {
                Item::Controller(controller, sign, _) if *c == clause => Some((*controller, *sign)),
                _ => None,
            })
        })
        .collect();
    let mut routes: Vec<(Controller, AxisWeights, bool)> = Vec::new();
    let mut modifier = Modifier::default();
    let mut previous_negator = false;
    for (clause, item) in &items {
        let route = controller_of[*clause].filter(|(c, _)| *c != Controller::PitchBend);
        match item {
            Item::Entry(entry, spelling) => {
                let scale = modifier.take();
                let target = match route {
                    Some((controller, sign)) => {
                        let slot = match routes.iter().position(|r| r.0 == controller) {
                            Some(slot) => slot,
                            None => {
                                routes.push((controller, [0.0; Axis::COUNT], false));
                                routes.len() - 1
                            }
                        };
                        routes[slot].2 = true;
                        for &(axis, weight) in entry.axes {
                            // A controller pushes macros; attack, length and level stay
                            // with the resting sound.
                            if matches!(axis, Axis::Macro(_)) {
                                routes[slot].1[axis.index()] += sign * scale * weight;
                            }
                        }
                        None
                    }
                    None => Some(&mut reading.axes),
                };
                if let Some(axes) = target {
                    for &(axis, weight) in entry.axes {
                        axes[axis.index()] += scale * weight;
                    }
                    if COMPARATIVES.contains(&spelling.as_str()) {
                        reading.relative = true;
                    }
                }
                if let Some(slot) = entry
                    .archetype
                    .and_then(|a| ARCHETYPES.iter().position(|&x| x == a))
                {
                    reading.archetype_votes[slot] += scale * entry.vote;
                }
                if let Some(template) = entry.template {
                    let vote = scale * entry.vote.max(0.3);
                    match reading
                        .template_votes
                        .iter_mut()
                        .find(|(t, _)| *t == template)
                    {
                        Some(slot) => slot.1 += vote,
                        None => reading.template_votes.push((template, vote)),
                    }
                }
                push_once(&mut reading.understood, spelling.clone());
            }
            Item::Degree(scale, word) => {
                // "not very bright" is a hedge, not a stronger "not bright".
                modifier.scale = if modifier.sign < 0.0 && *scale > 1.0 {
                    SOFTEN
                } else {
                    *scale
                };
                push_once(&mut reading.understood, word.clone());
            }
            Item::Negator(word) => {
                modifier.sign = -modifier.sign;
                if RELATIVE_WORDS.contains(&word.as_str()) {
                    reading.relative = true;
                }
                push_once(&mut reading.understood, word.clone());
                previous_negator = true;
                continue;
            }
            Item::Too => {
                if previous_negator {
                    modifier.scale = SOFTEN;
                } else {
                    modifier.sign = -modifier.sign;
                    reading.relative = true;
                }
                push_once(&mut reading.understood, TOO.to_string());
            }
            Item::Relative(word) => {
                reading.relative = true;
                push_once(&mut reading.understood, word.clone());
            }
            Item::Controller(_, _, phrase) => push_once(&mut reading.understood, phrase.clone()),
            Item::Break => modifier = Modifier::default(),
            Item::Silent => {}
            Item::Unknown(word) => push_once(&mut reading.unknown, word.clone()),
        }
        previous_negator = false;
    }
    for weight in &mut reading.axes {
        *weight = weight.clamp(-AXIS_LIMIT, AXIS_LIMIT);
    }
    // Controllers named without describing words get their usual job.
    for (clause, named) in controller_of.iter().enumerate() {
        let Some((controller, _)) = *named else {
            continue;
        };
        if controller == Controller::PitchBend {
            let words: Vec<&str> = clause_words[clause].iter().map(String::as_str).collect();
            if let Some(semitones) = controllers::bend_semitones(&words) {
                reading.controllers.bend_range = Some(semitones);
            }
            continue;
        }
        if !routes.iter().any(|r| r.0 == controller && r.2) {
            if let Some(axes) = controller.default_axes() {
                routes.push((controller, axes, true));
            }
        }
    }
    for (controller, mut axes, _) in routes {
        for weight in &mut axes {
            *weight = weight.clamp(-1.0, 1.0);
        }
        if let Some(route) = reading.controllers.route_mut(controller) {
            let sum = route.get_or_insert([0.0; Axis::COUNT]);
            for (s, a) in sum.iter_mut().zip(axes) {
                *s = (*s + a).clamp(-1.0, 1.0);
            }
        }
    }
    reading
}

/// The modifiers waiting for the next content word.
struct Modifier {
    sign: f32,
    scale: f32,
}

impl Default for Modifier {
    fn default() -> Self {
        Modifier {
            sign: 1.0,
            scale: 1.0,
        }
    }
}

impl Modifier {
    /// The factor for the content word that consumes the modifiers, which are then reset.
    fn take(&mut self) -> f32 {
        let factor = self.sign * self.scale;
        *self = Modifier::default();
        factor
    }
}

/// A word as read, and the clause (between punctuation) it is in.
#[derive(Debug, Clone)]
struct Token {
    text: String,
    clause: usize,
}

/// The steps of the resolved tokens, each with its clause number (punctuation and the
/// words of `CLAUSE_BREAKS` end a clause, unless inside a phrase of the table), and the
/// words of each clause.
fn items(tokens: &[Token]) -> (Vec<(usize, Item)>, Vec<Vec<String>>) {
    let longest = ENTRIES
        .iter()
        .flat_map(|e| e.words)
        .map(|w| w.split(' ').count())
        .max()
        .unwrap_or(1);
    let mut items = Vec::new();
    let mut clause_words: Vec<Vec<String>> = vec![Vec::new()];
    let mut clause = 0;
    let mut punctuation_clause = tokens.first().map_or(0, |t| t.clause);
    let mut i = 0;
    while i < tokens.len() {
        if tokens[i].clause != punctuation_clause {
            punctuation_clause = tokens[i].clause;
            clause += 1;
            clause_words.push(Vec::new());
            items.push((clause, Item::Break));
        }
        // Phrases do not reach across punctuation.
        let end = tokens[i..]
            .iter()
            .position(|t| t.clause != punctuation_clause)
            .map_or(tokens.len(), |p| i + p);
        let words: Vec<&str> = tokens[i..end].iter().map(|t| t.text.as_str()).collect();
        if let Some((controller, sign, len)) = controllers::phrase_at(&words) {
            items.push((
                clause,
                Item::Controller(controller, sign, words[..len].join(" ")),
            ));
            clause_words[clause].extend(words[..len].iter().map(|w| w.to_string()));
            i += len;
            continue;
        }
        if let Some((entry, spelling, len)) = match_phrase(&words, longest) {
            items.push((clause, Item::Entry(entry, spelling)));
            clause_words[clause].extend(words[..len].iter().map(|w| w.to_string()));
            i += len;
            continue;
        }
        let word = words[0];
        i += 1;
        if !controllers::CLAUSE_BREAKS.contains(&word) {
            clause_words[clause].push(word.to_string());
        }
        let item = if controllers::CLAUSE_BREAKS.contains(&word) {
            clause += 1;
            clause_words.push(Vec::new());
            Item::Break
        } else if NEGATORS.contains(&word) {
            Item::Negator(word.to_string())
        } else if let Some(scale) = degree(word) {
            Item::Degree(scale, word.to_string())
        } else if word == TOO {
            Item::Too
        } else if RELATIVE_WORDS.contains(&word) {
            Item::Relative(word.to_string())
        } else if STOP_WORDS.contains(&word) || is_ignored(word) {
            Item::Silent
        } else {
            Item::Unknown(word.to_string())
        };
        items.push((clause, item));
    }
    (items, clause_words)
}

/// The scale of a degree word.
fn degree(word: &str) -> Option<f32> {
    DEGREES
        .iter()
        .find(|(words, _)| words.contains(&word))
        .map(|(_, scale)| *scale)
}

/// The entry that lists `spelling`.
fn entry_for(spelling: &str) -> Option<&'static Entry> {
    ENTRIES.iter().find(|e| e.words.contains(&spelling))
}

/// The longest spelling (up to `longest` words) at the start of `tokens`: its entry, the
/// spelling, and how many tokens it covers.
fn match_phrase(tokens: &[&str], longest: usize) -> Option<(&'static Entry, String, usize)> {
    (1..=longest.min(tokens.len())).rev().find_map(|len| {
        let phrase = tokens[..len].join(" ");
        entry_for(&phrase).map(|e| (e, phrase, len))
    })
}

/// Numbers ("120", "3rd") and one-letter words say nothing about a sound.
fn is_ignored(word: &str) -> bool {
    word.chars().count() < 2 || word.starts_with(|c: char| c.is_ascii_digit())
}

/// Any spelling, function word or word of a phrase the reader knows: such a word is read
/// as written, never as another language or a typo.
fn is_known(word: &str) -> bool {
    use std::collections::HashSet;
    use std::sync::OnceLock;
    static KNOWN: OnceLock<HashSet<&'static str>> = OnceLock::new();
    let known = KNOWN.get_or_init(|| {
        let phrases = ENTRIES
            .iter()
            .flat_map(|e| e.words.iter().copied())
            .chain(controllers::PHRASES.iter().map(|p| p.0))
            .flat_map(|phrase| phrase.split(' '));
        let function_words = DEGREES
            .iter()
            .flat_map(|(words, _)| words.iter().copied())
            .chain(NEGATORS.iter().copied())
            .chain(RELATIVE_WORDS.iter().copied())
            .chain(STOP_WORDS.iter().copied())
            .chain(controllers::CLAUSE_BREAKS.iter().copied())
            .chain([TOO]);
        phrases.chain(function_words).collect()
    });
    known.contains(word)
}

/// Words a typo may be of, most likely first: the describing and instrument words, the
/// degree words and negations, the controllers' names.
fn typo_candidates() -> &'static [&'static str] {
    use std::sync::OnceLock;
    static CANDIDATES: OnceLock<Vec<&'static str>> = OnceLock::new();
    CANDIDATES.get_or_init(|| {
        let mut all: Vec<&'static str> = ENTRIES
            .iter()
            .flat_map(|e| e.words.iter().copied())
            .filter(|w| !w.contains(' '))
            .chain(DEGREES.iter().flat_map(|(words, _)| words.iter().copied()))
            .chain(NEGATORS.iter().copied())
            .chain(
                controllers::PHRASES
                    .iter()
                    .map(|p| p.0)
                    .filter(|p| !p.contains(' ')),
            )
            .collect();
        let mut seen = std::collections::HashSet::new();
        all.retain(|w| seen.insert(*w));
        all
    })
}

/// Splits a prompt into words as the reader understands them, with their clause (between
/// punctuation). Accents and case are folded. A hyphenated or apostrophised word that is
/// not known as written is tried joined ("lo-fi" → "lofi", "don't" → "dont"), then as its
/// parts ("lo-fi" → "lo fi"). A word still unknown is tried as a word of another language,
/// as "un" + a word, as an inflection and as a typo, in that order; what it was read as is
/// recorded in `reinterpreted`.
fn resolve(prompt: &str, reinterpreted: &mut Vec<Reinterpretation>) -> Vec<Token> {
    let folded = foreign::fold_accents(prompt)
        .to_lowercase()
        .replace(['’', '‘'], "'");
    let mut tokens = Vec::new();
    for (clause, part) in folded
        .split([',', ';', '.', '!', '?', ':', '(', ')', '/'])
        .enumerate()
    {
        let words = split_words(part);
        let mut i = 0;
        while i < words.len() {
            // Two-word phrases of another language ("grosse caisse").
            if i + 1 < words.len() && !is_known(&words[i]) {
                let pair = format!("{} {}", words[i], words[i + 1]);
                if let Some((meaning, languages)) = foreign::translate(&pair) {
                    push_read(
                        &mut tokens,
                        clause,
                        meaning,
                        reinterpreted,
                        &pair,
                        Why::Language(languages),
                    );
                    i += 2;
                    continue;
                }
            }
            let word = words[i].as_str();
            i += 1;
            if is_known(word) || is_ignored(word) {
                tokens.push(Token {
                    text: word.to_string(),
                    clause,
                });
                continue;
            }
            if let Some((meaning, languages)) = foreign::translate(word) {
                push_read(
                    &mut tokens,
                    clause,
                    meaning,
                    reinterpreted,
                    word,
                    Why::Language(languages),
                );
                continue;
            }
            if let Some(rest) = word.strip_prefix("un").filter(|r| r.len() >= 4) {
                if let Some(base) = known_form(rest) {
                    tokens.push(Token {
                        text: "not".into(),
                        clause,
                    });
                    push_read(
                        &mut tokens,
                        clause,
                        &base,
                        reinterpreted,
                        word,
                        Why::Negated,
                    );
                    continue;
                }
            }
            if let Some(base) = spelling::stem(word, &is_known) {
                push_read(
                    &mut tokens,
                    clause,
                    &base,
                    reinterpreted,
                    word,
                    Why::Inflection,
                );
                continue;
            }
            if let Some(fixed) = spelling::correct(word, typo_candidates().iter().copied()) {
                push_read(&mut tokens, clause, fixed, reinterpreted, word, Why::Typo);
                continue;
            }
            tokens.push(Token {
                text: word.to_string(),
                clause,
            });
        }
    }
    tokens
}

/// `word` as a known word: as written, or stemmed.
fn known_form(word: &str) -> Option<String> {
    if is_known(word) {
        Some(word.to_string())
    } else {
        spelling::stem(word, &is_known)
    }
}

/// Appends `meaning` (one or more words) as read from `written`.
fn push_read(
    tokens: &mut Vec<Token>,
    clause: usize,
    meaning: &str,
    reinterpreted: &mut Vec<Reinterpretation>,
    written: &str,
    why: Why,
) {
    for word in meaning.split(' ') {
        tokens.push(Token {
            text: word.to_string(),
            clause,
        });
    }
    let entry = Reinterpretation {
        written: written.to_string(),
        read: meaning.to_string(),
        why,
    };
    if !reinterpreted.contains(&entry) {
        reinterpreted.push(entry);
    }
}

/// The words of one clause: split on anything but letters, digits, hyphens and
/// apostrophes; hyphens and apostrophes resolved as [`resolve`] says.
fn split_words(part: &str) -> Vec<String> {
    let mut words = Vec::new();
    for raw in part.split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '\'')) {
        let word = raw.trim_matches(|c| c == '-' || c == '\'');
        let word = word.strip_suffix("'s").unwrap_or(word);
        if word.is_empty() {
            continue;
        }
        if is_known(word) || !(word.contains('-') || word.contains('\'')) {
            words.push(word.to_string());
            continue;
        }
        let joined: String = word.chars().filter(|&c| c != '-' && c != '\'').collect();
        if is_known(&joined) || !word.contains('-') {
            words.push(joined);
        } else {
            words.extend(
                word.split('-')
                    .filter(|part| !part.is_empty())
                    .map(str::to_string),
            );
        }
    }
    words
}

/// Appends `word` unless it is already there.
fn push_once(list: &mut Vec<String>, word: String) {
    if !list.contains(&word) {
        list.push(word);
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn all_spellings() -> Vec<&'static str> {
        ENTRIES
            .iter()
            .flat_map(|e| e.words.iter().copied())
            .collect()
    }

    fn degree_words() -> Vec<&'static str> {
        DEGREES
            .iter()
            .flat_map(|(w, _)| w.iter().copied())
            .collect()
    }

    fn function_lists() -> Vec<(&'static str, Vec<&'static str>)> {
        vec![
            ("DEGREES", degree_words()),
            ("NEGATORS", NEGATORS.to_vec()),
            ("STOP_WORDS", STOP_WORDS.to_vec()),
            ("RELATIVE_WORDS", RELATIVE_WORDS.to_vec()),
            ("CLAUSE_BREAKS", controllers::CLAUSE_BREAKS.to_vec()),
        ]
    }

    #[test]
    fn axes_follow_the_macro_order() {
        for (axis, m) in Axis::ALL.iter().zip(Macro::ALL) {
            assert_eq!(axis.name(), m.key());
        }
        for (i, axis) in Axis::ALL.iter().enumerate() {
            assert_eq!(axis.index(), i);
        }
    }

    #[test]
    fn the_table_is_large_enough() {
        let count = spelling_count();
        assert!(count >= 150, "only {count} spellings");
    }

    #[test]
    fn no_spelling_is_listed_twice() {
        let mut seen = std::collections::HashMap::new();
        for (i, entry) in ENTRIES.iter().enumerate() {
            for word in entry.words {
                if let Some(first) = seen.insert(*word, i) {
                    panic!("`{word}` is in entries {first} and {i}");
                }
            }
        }
    }

    #[test]
    fn spellings_are_lowercase_words_separated_by_single_spaces() {
        for word in all_spellings() {
            assert!(!word.is_empty());
            assert!(
                word.split(' ').all(|part| !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())),
                "`{word}` cannot come out of the tokenizer"
            );
        }
    }

    #[test]
    fn function_words_are_not_spellings_and_lists_do_not_overlap() {
        let spellings = all_spellings();
        for (name, list) in function_lists() {
            for word in &list {
                assert!(
                    !spellings.contains(word),
                    "`{word}` ({name}) is also a spelling"
                );
                assert_ne!(*word, TOO, "`too` is handled on its own");
            }
        }
        for (name, list) in function_lists() {
            for (i, word) in list.iter().enumerate() {
                assert!(!list[i + 1..].contains(word), "`{word}` twice in {name}");
            }
        }
        let degrees = degree_words();
        let modifiers = [
            &degrees[..],
            NEGATORS,
            STOP_WORDS,
            controllers::CLAUSE_BREAKS,
        ];
        for (i, a) in modifiers.iter().enumerate() {
            for b in &modifiers[i + 1..] {
                for word in *a {
                    assert!(!b.contains(word), "`{word}` is in two function-word lists");
                }
            }
        }
        for word in RELATIVE_WORDS {
            assert!(!STOP_WORDS.contains(word), "`{word}` would be ignored");
        }
    }

    #[test]
    fn archetypes_are_known_and_votes_fit_them() {
        for entry in ENTRIES {
            match entry.archetype {
                Some(a) => {
                    assert!(
                        ARCHETYPES.contains(&a),
                        "{:?}: unknown archetype",
                        entry.words
                    );
                    assert!(
                        entry.vote > 0.0 && entry.vote <= NOUN_VOTE,
                        "{:?}",
                        entry.words
                    );
                }
                None => assert_eq!(entry.vote, 0.0, "{:?}", entry.words),
            }
        }
    }

    #[test]
    fn weights_are_in_range_and_each_axis_is_pushed_once_per_entry() {
        for entry in ENTRIES {
            for (i, &(axis, weight)) in entry.axes.iter().enumerate() {
                assert!((-1.0..=1.0).contains(&weight), "{:?}", entry.words);
                assert!(weight != 0.0, "{:?}: a zero push", entry.words);
                assert!(
                    entry.axes[i + 1..].iter().all(|&(a, _)| a != axis),
                    "{:?} pushes {} twice",
                    entry.words,
                    axis.name()
                );
            }
        }
    }

    #[test]
    fn every_archetype_has_at_least_two_spellings() {
        for archetype in ARCHETYPES {
            let count: usize = ENTRIES
                .iter()
                .filter(|e| e.archetype == Some(archetype))
                .map(|e| e.words.len())
                .sum();
            assert!(count >= 2, "{archetype} has {count} spellings");
        }
    }

    #[test]
    fn comparatives_are_spellings() {
        for word in COMPARATIVES {
            assert!(
                entry_for(word).is_some(),
                "comparative `{word}` is not in ENTRIES"
            );
        }
    }

    #[test]
    fn a_full_sentence_is_understood() {
        let r = read("dark detuned bass that growls when I push the mod wheel");
        assert_eq!(r.archetype(), Some("bass"));
        assert!(r.axis(BRIGHT) < 0.0);
        assert!(r.axis(MOTION) > 0.0, "detuned");
        // The growl is what the wheel adds, not part of the resting sound.
        assert_eq!(r.axis(GRIT), 0.0);
        let wheel = r.controllers.mod_wheel.expect("a job for the wheel");
        assert!(wheel[GRIT.index()] > 0.0 && wheel[MOTION.index()] > 0.0);
        assert!(r.unknown.is_empty(), "{:?}", r.unknown);
        assert!(!r.relative);
        assert!(r.understood.contains(&"mod wheel".to_string()));
    }

    #[test]
    fn controllers_get_the_words_of_their_clause() {
        let r = read("electric piano where harder playing is brighter");
        assert!(!r.relative, "a controller's comparative is no change");
        assert_eq!(r.axis(BRIGHT), 0.0);
        assert_eq!(r.axis(PUNCH), 0.0, "`harder` names the controller");
        assert!(r.controllers.velocity.unwrap()[BRIGHT.index()] > 0.0);
        assert!(r.controllers.mod_wheel.is_none());
        assert_eq!(r.archetype(), Some("keys"));

        let r = read("softer playing is darker on this rhodes");
        assert!(r.controllers.velocity.unwrap()[BRIGHT.index()] > 0.0);

        let r = read("pad where aftertouch opens the filter");
        assert!(r.controllers.aftertouch.unwrap()[BRIGHT.index()] > 0.0);
        assert!(r.unknown.is_empty(), "{:?}", r.unknown);

        let r = read("lead with a pitch bend range of an octave");
        assert_eq!(r.controllers.bend_range, Some(12.0));
        assert_eq!(r.archetype(), Some("lead"));

        // Named without words, a controller does its usual job.
        let r = read("pad, mod wheel");
        assert_eq!(r.controllers.mod_wheel.unwrap()[MOTION.index()], 1.0);
        // Without controller words there are no jobs.
        assert!(read("warm pad with a long tail").controllers.is_empty());
    }

    #[test]
    fn typos_inflections_and_prefixes_are_read_and_reported() {
        let r = read("britgh pad");
        assert!(r.axis(BRIGHT) > 0.0);
        assert!(r.unknown.is_empty());
        assert_eq!(
            r.reinterpreted[0].to_string(),
            "read 'britgh' as 'bright' (typo)"
        );
        assert!(read("drak pad").axis(BRIGHT) < 0.0);
        assert!(read("distroted bass").axis(GRIT) > 0.0);
        assert_eq!(read("plcuk").archetype(), Some("pluck"));
        assert!(read("growled").axis(GRIT) > 0.0);
        assert!(read("darkest pad").axis(BRIGHT) < 0.0);
        let r = read("undistorted bass");
        assert!(r.axis(GRIT) < 0.0);
        assert!(r.unknown.is_empty());
        // Short words are never guessed at.
        assert_eq!(read("drk pad").unknown, vec!["drk"]);
    }

    #[test]
    fn five_languages_are_read() {
        for (prompt, archetype, axis, sign) in [
            ("dunkler Bass", "bass", BRIGHT, -1.0),
            ("warmes Pad", "pad", WARM, 1.0),
            ("Glocke mit langem Hall", "bell", SPACE, 1.0),
            ("nappe sombre", "pad", BRIGHT, -1.0),
            ("basse sale et distordue", "bass", GRIT, 1.0),
            ("cordes lentes", "strings", ATTACK, 1.0),
            ("pad cálido", "pad", WARM, 1.0),
            ("bajo sucio", "bass", GRIT, 1.0),
            ("campana con mucha reverberación", "bell", SPACE, 1.0),
            ("basso distorto", "bass", GRIT, 1.0),
            ("pianoforte scuro", "keys", BRIGHT, -1.0),
            ("pad quente", "pad", WARM, 1.0),
            ("sino brilhante", "bell", BRIGHT, 1.0),
            ("pluck curto", "pluck", LENGTH, -1.0),
        ] {
            let r = read(prompt);
            assert_eq!(r.archetype(), Some(archetype), "{prompt}");
            assert!(r.axis(axis) * sign > 0.0, "{prompt}: {:?}", r.axes);
            assert!(r.unknown.is_empty(), "{prompt}: {:?}", r.unknown);
            assert!(
                r.reinterpreted
                    .iter()
                    .any(|w| matches!(w.why, Why::Language(_))),
                "{prompt}"
            );
        }
        assert!(read("mucha reverb").axis(SPACE) > read("reverb").axis(SPACE));
        assert!(read("sin reverb").axis(SPACE) < 0.0);
    }

    #[test]
    fn foreign_meanings_are_words_the_reader_knows() {
        for &(language, meaning, _) in foreign::FOREIGN {
            assert!(
                meaning.split(' ').all(is_known),
                "{}: `{meaning}` is not a known word",
                language.name()
            );
        }
    }

    #[test]
    fn moods_genres_and_synth_names_push_the_sound() {
        let bright = |p: &str| read(p).axis(BRIGHT);
        assert!(bright("sad piano") < 0.0 && bright("happy piano") > 0.0);
        assert!(bright("melancholic pad") < bright("cheerful pad"));
        assert!(read("angry lead").axis(GRIT) > read("calm lead").axis(GRIT));
        assert!(read("scary drone").axis(MOTION) > read("peaceful drone").axis(MOTION));
        assert!(bright("lo-fi keys") < bright("hi-fi crystal clear keys"));
        assert!(read("dubstep bass").axis(GRIT) > read("deep house bass").axis(GRIT));
        assert!(read("synthwave lead").axis(WARM) > read("chiptune lead").axis(WARM));
        assert!(read("juno pad").axis(MOTION) > 0.0);
        assert!(read("moog bass").axis(WARM) > 0.0);
        assert!(bright("pitch black pad") < bright("dark pad"));
        for prompt in [
            "sad piano",
            "techno stab",
            "juno pad",
            "trap 808",
            "nervous anxious pad",
        ] {
            assert!(
                read(prompt).unknown.is_empty(),
                "{prompt}: {:?}",
                read(prompt).unknown
            );
        }
    }

    #[test]
    fn instruments_name_their_templates() {
        let template = |p: &str| read(p).template(|_| true);
        assert_eq!(template("marimba"), Some("wood_mallet"));
        assert_eq!(template("glockenspiel"), Some("metal_mallet"));
        assert_eq!(template("clarinet"), Some("reed_wind"));
        assert_eq!(template("flute"), Some("breath_flute"));
        assert_eq!(template("trance lead"), Some("supersaw"));
        assert_eq!(template("reese"), Some("reese_bass"));
        assert_eq!(template("warm pad"), None);
        for (prompt, archetype) in [
            ("trumpet", "brass"),
            ("tuba", "brass"),
            ("french horn", "brass"),
            ("saxophone", "woodwind"),
            ("choir", "vocal"),
            ("breathy female voice", "vocal"),
            ("marimba", "mallet"),
            ("vibraphone", "mallet"),
            ("cello", "strings"),
            ("upright bass", "pluck"),
            ("drum and bass reese", "bass"),
        ] {
            assert_eq!(read(prompt).archetype(), Some(archetype), "{prompt}");
        }
        assert!(read("tuba").axis(BRIGHT) < read("trumpet").axis(BRIGHT));
        assert!(read("cello").axis(BRIGHT) < read("violin").axis(BRIGHT));
    }

    /// An unknown word never changes the template on its own: adding one to a prompt
    /// changes neither the archetype nor the template (nor, since it pushes nothing, the
    /// axes).
    #[test]
    fn an_unknown_word_changes_nothing() {
        for prompt in ["bass", "warm pad", "marimba", "dark lead", "", "slow"] {
            let plain = read(prompt);
            for word in ["zorgle", "qwxv", "blorptastic", "émigré"] {
                let with = read(&format!("{word} {prompt} {word}"));
                assert_eq!(with.archetype(), plain.archetype(), "{word} {prompt}");
                assert_eq!(with.template(|_| true), plain.template(|_| true));
                assert_eq!(with.axes, plain.axes, "{word} {prompt}");
                assert!(!with.unknown.is_empty());
            }
        }
    }

    #[test]
    fn loud_and_quiet_are_level() {
        assert!(read("loud bass").axis(Axis::Level) > 0.0);
        assert!(read("quiet bass").axis(Axis::Level) < 0.0);
        assert!(read("very quiet pad").axis(Axis::Level) < read("quiet pad").axis(Axis::Level));
        assert_eq!(read("bass").axis(Axis::Level), 0.0);
    }

    #[test]
    fn comparatives_ask_for_a_change() {
        let r = read("warmer");
        assert!(r.relative);
        assert!(r.axis(WARM) > 0.0);
        let r = read("shorter tail");
        assert!(r.relative);
        assert!(r.axis(Axis::Length) < 0.0);
        assert!(r.unknown.is_empty());
        let r = read("like before but with a longer tail");
        assert!(r.relative);
        assert!(r.axis(Axis::Length) > 0.0);
        assert!(r.unknown.is_empty(), "{:?}", r.unknown);
    }

    #[test]
    fn less_turns_a_word_around() {
        let r = read("less metallic");
        assert!(r.relative);
        let metallic = entry_for("metallic").unwrap();
        for &(axis, weight) in metallic.axes {
            assert!(
                r.axis(axis) * weight < 0.0,
                "{} not turned around",
                axis.name()
            );
        }
        let slot = ARCHETYPES.iter().position(|&a| a == "metallic").unwrap();
        assert!(r.archetype_votes[slot] < 0.0);
        assert_eq!(r.archetype(), None);
    }

    #[test]
    fn intensifiers_softeners_and_negators_scale_the_next_word() {
        let bright = read("bright").axis(BRIGHT);
        assert!(bright > 0.0);
        assert!(read("very bright").axis(BRIGHT) > bright);
        assert!(read("slightly bright").axis(BRIGHT) < bright);
        assert!(read("slightly bright").axis(BRIGHT) > 0.0);
        assert!(read("not bright").axis(BRIGHT) < 0.0);
        assert!(read("without reverb").axis(SPACE) < 0.0);
        // Degree words do not stack.
        assert_eq!(
            read("a little bit dark").axis(BRIGHT),
            read("slightly dark").axis(BRIGHT)
        );
        // Modifiers reach across stop words, and only to the next content word.
        let r = read("very much the bright and warm");
        assert!(r.axis(BRIGHT) > bright);
        assert_eq!(r.axis(WARM), read("warm").axis(WARM));
    }

    #[test]
    fn too_asks_for_less_and_not_too_is_a_hedge() {
        let too = read("too bright");
        assert!(too.relative);
        assert!(too.axis(BRIGHT) < 0.0);
        let hedge = read("a pad that's not too bright");
        assert!(!hedge.relative);
        assert!(hedge.axis(BRIGHT) < 0.0);
        assert!(hedge.axis(BRIGHT) > read("not bright").axis(BRIGHT));
        assert!(hedge.unknown.is_empty(), "{:?}", hedge.unknown);
        assert!(read("not very bright").axis(BRIGHT) > read("not bright").axis(BRIGHT));
    }

    #[test]
    fn unknown_words_are_reported_once_in_order() {
        let r = read("zorgle bright pad, blarp zorgle");
        assert_eq!(r.unknown, vec!["zorgle", "blarp"]);
        assert_eq!(r.archetype(), Some("pad"));
        let r = read("zorgle bright pad");
        assert_eq!(r.unknown, vec!["zorgle"]);
    }

    #[test]
    fn numbers_and_single_letters_are_ignored() {
        let r = read("a 2 second zorgle pad at 120 bpm, 3rd octave, x");
        assert_eq!(r.unknown, vec!["zorgle"]);
    }

    #[test]
    fn shapes_and_hints() {
        let r = read("slow evolving pad");
        assert!(r.axis(Axis::Attack) > 0.0);
        assert!(r.axis(MOTION) > 0.0);
        assert_eq!(r.archetype(), Some("pad"));
        let r = read("plucky glassy");
        assert!(r.axis(PUNCH) > 0.0);
        assert!(r.axis(BRIGHT) > 0.0);
        assert_eq!(r.archetype(), Some("pluck"));
        // A noun outvotes a hint.
        assert_eq!(read("glassy pad").archetype(), Some("pad"));
        assert_eq!(read("bowed metal").archetype(), Some("metallic"));
        // Ties go to the earlier archetype: pizzicato strings are plucks.
        assert_eq!(read("pizzicato strings").archetype(), Some("pluck"));
        assert_eq!(read("dark, wide, slow").archetype(), None);
    }

    #[test]
    fn phrases_match_longest_first() {
        assert_eq!(read("808").archetype(), Some("bass"));
        assert_eq!(read("808 kick").archetype(), Some("percussion"));
        let r = read("never ending drone");
        assert!(r.axis(Axis::Length) > 0.0);
        assert_eq!(r.understood, vec!["never ending", "drone"]);
        let r = read("electric piano, in your face");
        assert_eq!(r.archetype(), Some("keys"));
        assert!(r.axis(SPACE) < 0.0);
        assert!(r.unknown.is_empty());
    }

    #[test]
    fn hyphens_and_apostrophes() {
        for prompt in ["lo-fi keys", "lo fi keys", "lofi keys"] {
            let r = read(prompt);
            assert!(r.axis(GRIT) > 0.0, "{prompt}");
            assert!(r.unknown.is_empty(), "{prompt}: {:?}", r.unknown);
        }
        let r = read("never-ending e-piano");
        assert!(r.axis(Axis::Length) > 0.0);
        assert_eq!(r.archetype(), Some("keys"));
        let r = read("don't make it bright");
        assert!(r.axis(BRIGHT) < 0.0);
        assert!(r.unknown.is_empty(), "{:?}", r.unknown);
        let r = read("super-dark non-zorgle");
        assert!(r.axis(BRIGHT) < read("dark").axis(BRIGHT));
        assert_eq!(r.unknown, vec!["zorgle"]);
        let r = read("it’s a harp");
        assert_eq!(r.archetype(), Some("pluck"));
        assert!(r.unknown.is_empty());
    }

    #[test]
    fn sums_are_clamped_and_degrees_grade_them() {
        let r = read("very bright brilliant shiny sparkly glassy crisp");
        assert_eq!(r.axis(BRIGHT), AXIS_LIMIT);
        let r = read("extremely dry, no reverb, no echo, close");
        assert_eq!(r.axis(SPACE), -AXIS_LIMIT);
        let bright = |p: &str| read(p).axis(BRIGHT);
        assert!(bright("barely bright") < bright("slightly bright"));
        assert!(bright("slightly bright") < bright("bright"));
        assert!(bright("bright") < bright("very bright"));
        assert!(bright("very bright") < bright("extremely bright"));
    }

    #[test]
    fn descriptive_words_are_spellings_only() {
        let r = read("very warm pad");
        assert_eq!(r.understood, vec!["very", "warm", "pad"]);
        let named: Vec<&str> = r
            .understood
            .iter()
            .map(String::as_str)
            .filter(|w| is_descriptive(w))
            .collect();
        assert_eq!(named, vec!["warm", "pad"]);
    }

    /// The prompt suite (`tests/data/prompts.json`) is what the designer is scored on: it
    /// is large enough, covers every category the designer promises to read, and every
    /// relation names two prompts, a category and a descriptor the evaluation measures. Its prompts are written as producers write, so
    /// typos, other languages and words the lexicon does not know are allowed.
    #[test]
    fn the_prompt_suite_is_well_formed() {
        const DESCRIPTORS: [&str; 11] = [
            "centroid", "low_mid", "flatness", "flux", "crest", "attack", "decay", "tail", "level",
            "peak", "f0",
        ];
        const CATEGORIES: [&str; 12] = [
            "basics",
            "families",
            "moods",
            "genres",
            "intensity",
            "negation",
            "typos",
            "languages",
            "controllers",
            "level",
            "compound",
            "rambling",
        ];
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data/prompts.json");
        let text = std::fs::read_to_string(path).expect("tests/data/prompts.json");
        let suite: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        let prompts = suite["prompts"].as_array().expect("a `prompts` array");
        let relations = suite["relations"].as_array().expect("a `relations` array");
        assert!(prompts.len() >= 150, "{} prompts", prompts.len());
        assert!(relations.len() >= 120, "{} relations", relations.len());
        let mut ids = Vec::new();
        for p in prompts {
            let id = p["id"].as_str().expect("an id");
            assert!(p["prompt"].as_str().is_some_and(|t| !t.trim().is_empty()));
            assert!(!ids.contains(&id), "duplicate id {id}");
            ids.push(id);
        }
        let mut seen = Vec::new();
        for rel in relations {
            let lower = rel["lower"].as_str().expect("lower");
            let higher = rel["higher"].as_str().expect("higher");
            let descriptor = rel["descriptor"].as_str().expect("descriptor");
            let category = rel["category"].as_str().expect("category");
            assert!(ids.contains(&lower), "unknown id {lower}");
            assert!(ids.contains(&higher), "unknown id {higher}");
            assert_ne!(lower, higher);
            assert!(
                DESCRIPTORS.contains(&descriptor),
                "unknown descriptor {descriptor}"
            );
            assert!(
                CATEGORIES.contains(&category),
                "unknown category {category}"
            );
            assert!(
                !rel["why"].as_str().unwrap_or("").is_empty(),
                "{lower} < {higher}: no why"
            );
            assert!(
                !seen.contains(&(higher, lower, descriptor)),
                "{lower} < {higher} contradicts an earlier relation on {descriptor}"
            );
            assert!(
                !seen.contains(&(lower, higher, descriptor)),
                "duplicate relation"
            );
            seen.push((lower, higher, descriptor));
        }
        for category in CATEGORIES {
            let count = relations
                .iter()
                .filter(|r| r["category"].as_str() == Some(category))
                .count();
            assert!(count >= 6, "{category}: only {count} relations");
        }
    }
}
