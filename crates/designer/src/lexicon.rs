//! The offline designer's vocabulary: which words name an instrument (archetype), which
//! describe a sound (weights on the descriptor axes), and which only shape a sentence. A
//! prompt is read into a [`Reading`]: archetype votes, axis weights, and the words that
//! were not understood (so the producer can be told).
//!
//! Conventions of the table:
//!
//! * Every spelling is listed explicitly: plurals, comparatives ("warmer"), verb forms
//!   ("growls") and two- or three-word phrases ("mod wheel", "electric piano"). The reader
//!   does no stemming, so what it understands is exactly what [`ENTRIES`] lists.
//! * Strong words push an axis by 0.8–0.9, mild ones by 0.3–0.5. Only a few extreme words
//!   ("endless", "filthy", "cavernous") use 1.0, so that "very bright" still reads as more
//!   than "bright" after the clamp to [-1, 1].
//! * Instrument nouns vote 1.0 for their archetype ([`NOUN_VOTE`]); describing words that
//!   only suggest an instrument ("plucky" → pluck, "glassy" → bell, "bowed" → strings) vote
//!   0.3–0.6, so any noun in the prompt outvotes them ("glassy pad" is a pad).
//! * Modifiers ("very", "slightly", "not", "too") and stop words are not entries: they are
//!   the `const` lists below, handled by [`read`].

use mephisto_dsp::macros::Macro;
use mephisto_patch::spec::ARCHETYPES;

/// A direction a sound can be pushed in: one of the six macros, or the attack or the length,
/// envelope shapes the macros do not cover on their own.
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
}

/// The macro axes by name, for the table below.
const WARM: Axis = Axis::Macro(Macro::Warm);
const BRIGHT: Axis = Axis::Macro(Macro::Bright);
const GRIT: Axis = Axis::Macro(Macro::Grit);
const SPACE: Axis = Axis::Macro(Macro::Space);
const MOTION: Axis = Axis::Macro(Macro::Motion);
const PUNCH: Axis = Axis::Macro(Macro::Punch);
const ATTACK: Axis = Axis::Attack;
const LENGTH: Axis = Axis::Length;

impl Axis {
    pub const COUNT: usize = Macro::COUNT + 2;
    pub const ALL: [Axis; Axis::COUNT] = [WARM, BRIGHT, GRIT, SPACE, MOTION, PUNCH, ATTACK, LENGTH];

    /// The macros' axes first, in [`Macro::ALL`] order, then attack and length.
    pub fn index(self) -> usize {
        match self {
            Axis::Macro(m) => m.index(),
            Axis::Attack => Macro::COUNT,
            Axis::Length => Macro::COUNT + 1,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Axis::Macro(m) => m.key(),
            Axis::Attack => "attack",
            Axis::Length => "length",
        }
    }
}

/// Axis weights, indexed by [`Axis::index`]; each is clamped to [-1, 1] after a prompt is
/// read.
pub type AxisWeights = [f32; Axis::COUNT];

/// One lexicon entry: every spelling (synonyms, comparatives and plurals are listed
/// explicitly), the archetype it names if any (one of [`crate::patchspec::ARCHETYPES`]),
/// how strongly it votes for that archetype, and its pushes on the axes.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub words: &'static [&'static str],
    pub archetype: Option<&'static str>,
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
            vote,
            axes,
        }
    }

    /// A describing word (or a neutral noun such as "tail" when `axes` is empty).
    const fn word(words: &'static [&'static str], axes: &'static [(Axis, f32)]) -> Entry {
        Entry {
            words,
            archetype: None,
            vote: 0.0,
            axes,
        }
    }
}

/// The word table. Grouped by archetype nouns, then by axis; within a group, one entry per
/// shade of meaning.
pub const ENTRIES: &[Entry] = &[
    // ---- Instruments -------------------------------------------------------------------
    Entry::noun(&["pad", "pads"], "pad", &[]),
    Entry::noun(
        &["atmosphere", "atmospheres", "atmos", "texture", "textures"],
        "pad",
        &[(SPACE, 0.4), (MOTION, 0.2)],
    ),
    Entry::noun(
        &["bass", "basses", "bassline", "basslines", "bass line"],
        "bass",
        &[],
    ),
    Entry::noun(
        &["sub", "subs", "sub bass"],
        "bass",
        &[(BRIGHT, -0.6), (WARM, 0.5)],
    ),
    Entry::noun(&["808", "808s"], "bass", &[(PUNCH, 0.3), (LENGTH, 0.3)]),
    Entry::noun(&["reese"], "bass", &[(MOTION, 0.6), (GRIT, 0.3)]),
    Entry::noun(
        &["lead", "leads", "solo", "solos", "melody", "melodies"],
        "lead",
        &[],
    ),
    Entry::noun(
        &["supersaw", "supersaws"],
        "lead",
        &[(MOTION, 0.5), (BRIGHT, 0.4), (WARM, 0.3)],
    ),
    Entry::noun(
        &[
            "pluck",
            "plucks",
            "plucked",
            "guitar",
            "guitars",
            "harp",
            "harps",
            "koto",
            "pizzicato",
            "pizz",
            "banjo",
            "mandolin",
        ],
        "pluck",
        &[],
    ),
    Entry::noun(&["sitar"], "pluck", &[(GRIT, 0.3)]),
    Entry::noun(
        &[
            "keys",
            "piano",
            "pianos",
            "grand piano",
            "upright piano",
            "keyboard",
            "keyboards",
        ],
        "keys",
        &[],
    ),
    Entry::noun(
        &[
            "rhodes",
            "wurlitzer",
            "wurli",
            "epiano",
            "electric piano",
            "electric pianos",
        ],
        "keys",
        &[(WARM, 0.2)],
    ),
    Entry::noun(
        &["clav", "clavinet", "harpsichord"],
        "keys",
        &[(BRIGHT, 0.3), (PUNCH, 0.3)],
    ),
    Entry::noun(
        &[
            "bell",
            "bells",
            "chime",
            "chimes",
            "glockenspiel",
            "glock",
            "celesta",
            "celeste",
            "music box",
            "tubular bells",
        ],
        "bell",
        &[],
    ),
    Entry::noun(
        &["marimba", "xylophone", "vibraphone", "kalimba"],
        "bell",
        &[(WARM, 0.2), (LENGTH, -0.3)],
    ),
    Entry::noun(
        &[
            "organ", "organs", "hammond", "drawbar", "drawbars", "b3", "farfisa",
        ],
        "organ",
        &[],
    ),
    Entry::noun(&["pipe organ", "church organ"], "organ", &[(SPACE, 0.5)]),
    Entry::noun(
        &[
            "strings",
            "string",
            "violin",
            "violins",
            "viola",
            "violas",
            "cello",
            "cellos",
            "fiddle",
            "orchestra",
            "ensemble",
            "string ensemble",
            "string section",
        ],
        "strings",
        &[],
    ),
    Entry::noun(&["drone", "drones"], "drone", &[(LENGTH, 0.3)]),
    Entry::noun(&["hum", "soundscape"], "drone", &[(SPACE, 0.3)]),
    Entry::noun(
        &["metal", "anvil", "cymbal", "cymbals"],
        "metallic",
        &[(BRIGHT, 0.3), (GRIT, 0.4)],
    ),
    Entry::noun(
        &["gong", "gongs", "singing bowl"],
        "metallic",
        &[(LENGTH, 0.4), (GRIT, 0.2)],
    ),
    Entry::noun(
        &["clang", "clangs"],
        "metallic",
        &[(PUNCH, 0.4), (GRIT, 0.3)],
    ),
    Entry::noun(
        &[
            "percussion",
            "perc",
            "percs",
            "drum",
            "drums",
            "hit",
            "hits",
        ],
        "percussion",
        &[(PUNCH, 0.4)],
    ),
    Entry::noun(
        &[
            "kick",
            "kicks",
            "kick drum",
            "808 kick",
            "808 drum",
            "808 drums",
        ],
        "percussion",
        &[(PUNCH, 0.8), (LENGTH, -0.5), (WARM, 0.3)],
    ),
    Entry::noun(
        &["tom", "toms", "bongo", "bongos", "conga", "congas"],
        "percussion",
        &[(PUNCH, 0.6), (LENGTH, -0.3)],
    ),
    Entry::noun(
        &[
            "snare", "snares", "clap", "claps", "rimshot", "hat", "hats", "hihat", "hihats",
            "hi hat", "hi hats",
        ],
        "percussion",
        &[(PUNCH, 0.6), (BRIGHT, 0.4), (LENGTH, -0.5)],
    ),
    Entry::noun(&["fx", "sfx", "transition"], "fx", &[]),
    Entry::noun(
        &["riser", "risers", "uplifter", "uplifters"],
        "fx",
        &[(ATTACK, 0.8), (MOTION, 0.6)],
    ),
    Entry::noun(
        &["downlifter", "downlifters"],
        "fx",
        &[(MOTION, 0.6), (LENGTH, 0.4)],
    ),
    Entry::noun(
        &["sweep", "sweeps", "whoosh", "whooshes", "swoosh"],
        "fx",
        &[(MOTION, 0.7), (GRIT, 0.3)],
    ),
    Entry::noun(&["noise"], "fx", &[(GRIT, 0.8), (BRIGHT, 0.3)]),
    Entry::noun(
        &["impact", "impacts", "boom", "booms"],
        "fx",
        &[(PUNCH, 0.6), (ATTACK, -0.5), (WARM, 0.3)],
    ),
    Entry::noun(
        &["zap", "zaps", "laser", "lasers"],
        "fx",
        &[(MOTION, 0.6), (LENGTH, -0.4), (BRIGHT, 0.3)],
    ),
    // ---- Words that suggest an instrument ----------------------------------------------
    Entry::hint(
        &["plucky", "pluckier"],
        "pluck",
        0.5,
        &[(PUNCH, 0.6), (LENGTH, -0.6)],
    ),
    Entry::hint(
        &["glassy", "glass", "crystal", "crystalline"],
        "bell",
        0.4,
        &[(BRIGHT, 0.7), (GRIT, -0.3)],
    ),
    Entry::hint(&["fm"], "bell", 0.3, &[(BRIGHT, 0.3), (GRIT, 0.2)]),
    Entry::hint(
        &["bowed", "bowing"],
        "strings",
        0.6,
        &[(ATTACK, 0.5), (LENGTH, 0.4)],
    ),
    Entry::hint(&["orchestral"], "strings", 0.5, &[(SPACE, 0.4)]),
    Entry::hint(&["church"], "organ", 0.5, &[(SPACE, 0.6)]),
    Entry::hint(
        &["leslie", "rotary", "rotating"],
        "organ",
        0.4,
        &[(MOTION, 0.6)],
    ),
    Entry::hint(&["ambient", "ambience"], "drone", 0.4, &[(SPACE, 0.8)]),
    Entry::hint(&["droning", "droney"], "drone", 0.5, &[(LENGTH, 0.8)]),
    Entry::hint(
        &["rumble", "rumbling", "rumbly"],
        "drone",
        0.3,
        &[(BRIGHT, -0.6), (WARM, 0.4), (MOTION, 0.2)],
    ),
    Entry::hint(
        &["metallic", "metalic", "clangy", "clanky"],
        "metallic",
        0.6,
        &[(BRIGHT, 0.4), (GRIT, 0.4)],
    ),
    Entry::hint(&["inharmonic"], "metallic", 0.5, &[(GRIT, 0.5)]),
    Entry::hint(
        &["percussive"],
        "percussion",
        0.4,
        &[(PUNCH, 0.8), (LENGTH, -0.4)],
    ),
    Entry::hint(
        &["reversed", "reverse", "backwards"],
        "fx",
        0.3,
        &[(ATTACK, 0.9)],
    ),
    Entry::hint(
        &["glitch", "glitchy", "glitched", "stuttering", "stutter"],
        "fx",
        0.3,
        &[(MOTION, 0.7), (GRIT, 0.3)],
    ),
    Entry::hint(
        &["zappy", "laserlike"],
        "fx",
        0.4,
        &[(MOTION, 0.5), (LENGTH, -0.3)],
    ),
    Entry::hint(&["dubstep"], "bass", 0.4, &[(GRIT, 0.7), (MOTION, 0.8)]),
    Entry::hint(
        &["acid", "acidic", "squelchy", "squelch"],
        "bass",
        0.3,
        &[(MOTION, 0.6), (GRIT, 0.4), (BRIGHT, 0.3)],
    ),
    Entry::hint(
        &["trance"],
        "lead",
        0.3,
        &[(BRIGHT, 0.4), (MOTION, 0.3), (SPACE, 0.3)],
    ),
    // ---- Neutral nouns: understood, they carry no push of their own --------------------
    Entry::word(
        &[
            "tail",
            "tails",
            "release",
            "decay",
            "attack",
            "envelope",
            "filter",
            "cutoff",
            "timbre",
            "character",
            "layer",
            "layers",
            "voice",
            "voices",
            "oscillator",
            "oscillators",
            "osc",
            "harmonics",
            "overtones",
        ],
        &[],
    ),
    // ---- Bright ------------------------------------------------------------------------
    Entry::word(&["bright", "brighter", "brightness"], &[(BRIGHT, 0.9)]),
    Entry::word(&["brilliant"], &[(BRIGHT, 0.9), (GRIT, -0.1)]),
    Entry::word(
        &["crisp", "crispy", "crisper"],
        &[(BRIGHT, 0.7), (PUNCH, 0.2)],
    ),
    Entry::word(
        &["sparkly", "sparkling", "sparkle", "twinkly", "twinkling"],
        &[(BRIGHT, 0.8), (MOTION, 0.2)],
    ),
    Entry::word(&["shiny", "shinier"], &[(BRIGHT, 0.7)]),
    Entry::word(
        &[
            "airy",
            "airier",
            "air",
            "breathy",
            "breathier",
            "breath",
            "whispery",
        ],
        &[(BRIGHT, 0.5), (GRIT, 0.2), (PUNCH, -0.2)],
    ),
    Entry::word(
        &["sizzling", "sizzle", "sizzly", "fizzy", "fizz"],
        &[(BRIGHT, 0.8), (GRIT, 0.4)],
    ),
    Entry::word(
        &[
            "harsh",
            "harsher",
            "shrill",
            "piercing",
            "screaming",
            "screechy",
        ],
        &[(BRIGHT, 0.7), (GRIT, 0.5), (WARM, -0.3)],
    ),
    Entry::word(&["icy", "frosty"], &[(BRIGHT, 0.7), (WARM, -0.6)]),
    Entry::word(&["high", "higher"], &[(BRIGHT, 0.5)]),
    Entry::word(&["open"], &[(BRIGHT, 0.5)]),
    Entry::word(
        &["clear", "clearer", "clarity"],
        &[(BRIGHT, 0.4), (GRIT, -0.4)],
    ),
    Entry::word(
        &["biting", "bite", "edgy", "edgier", "edge"],
        &[(BRIGHT, 0.4), (GRIT, 0.4), (PUNCH, 0.3)],
    ),
    Entry::word(&["saw", "saws", "sawtooth"], &[(BRIGHT, 0.5), (GRIT, 0.3)]),
    // ---- Dark --------------------------------------------------------------------------
    Entry::word(&["dark", "darker", "darkness"], &[(BRIGHT, -0.9)]),
    Entry::word(&["dull", "duller", "dim"], &[(BRIGHT, -0.7), (PUNCH, -0.2)]),
    Entry::word(&["muffled", "muffle"], &[(BRIGHT, -0.8)]),
    Entry::word(
        &["muted", "damped", "dampened"],
        &[(BRIGHT, -0.6), (LENGTH, -0.3)],
    ),
    Entry::word(&["murky", "muddy"], &[(BRIGHT, -0.6), (WARM, 0.5)]),
    Entry::word(
        &["mellow", "mellower"],
        &[(BRIGHT, -0.5), (PUNCH, -0.4), (WARM, 0.3)],
    ),
    Entry::word(&["deep", "deeper"], &[(WARM, 0.6), (BRIGHT, -0.5)]),
    Entry::word(&["low", "lower"], &[(BRIGHT, -0.5), (WARM, 0.3)]),
    Entry::word(&["low end", "bottom end"], &[(WARM, 0.7), (BRIGHT, -0.3)]),
    Entry::word(&["closed", "filtered"], &[(BRIGHT, -0.6)]),
    Entry::word(
        &["moody", "gloomy", "brooding", "somber", "sombre"],
        &[(BRIGHT, -0.5), (SPACE, 0.2)],
    ),
    Entry::word(
        &["ominous", "sinister", "menacing", "evil", "creepy"],
        &[(BRIGHT, -0.5), (GRIT, 0.3), (MOTION, 0.2)],
    ),
    Entry::word(
        &["eerie", "haunting", "spooky"],
        &[(BRIGHT, -0.2), (SPACE, 0.5), (MOTION, 0.5)],
    ),
    Entry::word(&["lofi", "lo fi", "lofy"], &[(BRIGHT, -0.5), (GRIT, 0.5)]),
    Entry::word(
        &["dusty", "vinyl", "crackle", "crackly", "crackling"],
        &[(BRIGHT, -0.3), (GRIT, 0.4)],
    ),
    // ---- Warm --------------------------------------------------------------------------
    Entry::word(&["warm", "warmer", "warmth"], &[(WARM, 0.9)]),
    Entry::word(
        &["round", "rounder", "rounded"],
        &[(WARM, 0.6), (BRIGHT, -0.2), (PUNCH, -0.2)],
    ),
    Entry::word(&["full", "fuller", "body", "bodied"], &[(WARM, 0.7)]),
    Entry::word(
        &["fat", "fatter", "phat", "chunky", "chunkier"],
        &[(WARM, 0.8), (PUNCH, 0.2)],
    ),
    Entry::word(&["thick", "thicker"], &[(WARM, 0.8), (MOTION, 0.1)]),
    Entry::word(
        &["lush", "lusher", "luscious"],
        &[(WARM, 0.6), (SPACE, 0.4), (MOTION, 0.3)],
    ),
    Entry::word(&["rich", "richer"], &[(WARM, 0.6), (BRIGHT, 0.2)]),
    Entry::word(
        &["analog", "analogue"],
        &[(WARM, 0.5), (MOTION, 0.2), (GRIT, 0.1)],
    ),
    Entry::word(
        &["cosy", "cozy", "velvety", "velvet", "creamy"],
        &[(WARM, 0.6), (BRIGHT, -0.3), (GRIT, -0.3)],
    ),
    Entry::word(
        &["heavy", "heavier"],
        &[(WARM, 0.6), (GRIT, 0.4), (PUNCH, 0.3)],
    ),
    Entry::word(&["big", "bigger", "massive"], &[(WARM, 0.6), (SPACE, 0.3)]),
    Entry::word(&["boomy"], &[(WARM, 0.8), (BRIGHT, -0.3)]),
    Entry::word(&["booming"], &[(WARM, 0.6), (PUNCH, 0.4), (LENGTH, 0.3)]),
    Entry::word(
        &["woody", "wooden"],
        &[(WARM, 0.4), (BRIGHT, -0.2), (LENGTH, -0.3)],
    ),
    Entry::word(
        &["vintage", "retro", "old school", "oldschool", "tape"],
        &[(WARM, 0.5), (GRIT, 0.2)],
    ),
    Entry::word(
        &["synthwave", "retrowave"],
        &[(WARM, 0.4), (MOTION, 0.3), (SPACE, 0.3)],
    ),
    Entry::word(&["organic"], &[(WARM, 0.3), (MOTION, 0.5)]),
    // ---- Thin --------------------------------------------------------------------------
    Entry::word(&["thin", "thinner", "lean"], &[(WARM, -0.8)]),
    Entry::word(
        &["cold", "colder", "chilly"],
        &[(WARM, -0.6), (BRIGHT, 0.2)],
    ),
    Entry::word(&["hollow", "hollower", "square"], &[(WARM, -0.5)]),
    Entry::word(
        &["nasal", "nasally", "reedy"],
        &[(WARM, -0.5), (BRIGHT, 0.3), (GRIT, 0.2)],
    ),
    Entry::word(&["tinny"], &[(WARM, -0.8), (BRIGHT, 0.5)]),
    Entry::word(
        &["small", "smaller", "tiny", "narrow"],
        &[(WARM, -0.4), (SPACE, -0.3)],
    ),
    Entry::word(&["light", "lighter"], &[(WARM, -0.4), (PUNCH, -0.2)]),
    Entry::word(
        &["digital", "sterile", "clinical"],
        &[(WARM, -0.5), (BRIGHT, 0.2), (GRIT, -0.2)],
    ),
    // ---- Grit --------------------------------------------------------------------------
    Entry::word(
        &["gritty", "grittier", "grit", "grimy", "grime"],
        &[(GRIT, 0.8)],
    ),
    Entry::word(
        &["dirty", "dirtier", "dirt", "nasty", "rough", "rougher"],
        &[(GRIT, 0.8), (BRIGHT, -0.1)],
    ),
    Entry::word(&["distorted", "distortion", "distort"], &[(GRIT, 0.9)]),
    Entry::word(
        &["crunchy", "crunchier", "crunch"],
        &[(GRIT, 0.7), (PUNCH, 0.2)],
    ),
    Entry::word(
        &["fuzzy", "fuzzier", "fuzz"],
        &[(GRIT, 0.8), (BRIGHT, -0.2)],
    ),
    Entry::word(
        &["buzzy", "buzzier", "buzz", "buzzing"],
        &[(GRIT, 0.6), (BRIGHT, 0.3)],
    ),
    Entry::word(
        &["saturated", "saturation", "saturate"],
        &[(GRIT, 0.6), (WARM, 0.3)],
    ),
    Entry::word(
        &["overdriven", "overdrive", "driven", "drive"],
        &[(GRIT, 0.8), (WARM, 0.2)],
    ),
    Entry::word(
        &["raspy", "raspier", "rasp", "raw"],
        &[(GRIT, 0.6), (BRIGHT, 0.3)],
    ),
    Entry::word(
        &["aggressive", "angry", "brutal", "savage"],
        &[(GRIT, 0.7), (PUNCH, 0.6)],
    ),
    Entry::word(
        &["growling", "growly", "growl", "growls"],
        &[(GRIT, 0.7), (MOTION, 0.6)],
    ),
    Entry::word(&["filthy", "filth"], &[(GRIT, 1.0), (MOTION, 0.3)]),
    Entry::word(
        &[
            "bitcrushed",
            "bitcrush",
            "bitcrusher",
            "crushed",
            "decimated",
        ],
        &[(GRIT, 0.8)],
    ),
    Entry::word(&["noisy", "noisier"], &[(GRIT, 0.7), (BRIGHT, 0.2)]),
    // ---- Clean -------------------------------------------------------------------------
    Entry::word(&["clean", "cleaner"], &[(GRIT, -0.8)]),
    Entry::word(&["pure", "purer"], &[(GRIT, -0.9), (MOTION, -0.2)]),
    Entry::word(
        &["pristine", "polished", "hifi", "hi fi"],
        &[(GRIT, -0.7), (BRIGHT, 0.2)],
    ),
    Entry::word(
        &["smooth", "smoother", "silky", "silk"],
        &[(GRIT, -0.6), (PUNCH, -0.3), (BRIGHT, -0.1)],
    ),
    Entry::word(
        &["sine", "sines", "sine wave", "sinewave"],
        &[(GRIT, -0.9), (BRIGHT, -0.5)],
    ),
    Entry::word(
        &["sweet", "sweeter"],
        &[(GRIT, -0.4), (PUNCH, -0.3), (BRIGHT, 0.2)],
    ),
    // ---- Space -------------------------------------------------------------------------
    Entry::word(
        &["spacious", "space", "spacey", "spacy", "roomy", "room"],
        &[(SPACE, 0.8)],
    ),
    Entry::word(
        &["reverberant", "reverb", "reverbs", "reverby", "verb"],
        &[(SPACE, 0.8)],
    ),
    Entry::word(
        &["wet", "wetter", "drenched", "soaked", "drowned"],
        &[(SPACE, 0.9)],
    ),
    Entry::word(
        &["washed", "washed out", "washy", "wash"],
        &[(SPACE, 0.8), (BRIGHT, -0.2)],
    ),
    Entry::word(
        &["cavernous", "cave", "canyon", "cathedral", "hall"],
        &[(SPACE, 1.0)],
    ),
    Entry::word(
        &["huge", "enormous", "vast", "giant"],
        &[(SPACE, 0.7), (WARM, 0.4)],
    ),
    Entry::word(
        &["wide", "wider", "width", "stereo"],
        &[(SPACE, 0.6), (MOTION, 0.2)],
    ),
    Entry::word(
        &["distant", "far", "faraway", "far away"],
        &[(SPACE, 0.8), (BRIGHT, -0.3)],
    ),
    Entry::word(
        &["ethereal", "heavenly", "celestial", "angelic"],
        &[(SPACE, 0.7), (BRIGHT, 0.4), (MOTION, 0.3), (GRIT, -0.3)],
    ),
    Entry::word(
        &[
            "echo", "echoes", "echoey", "echoing", "delay", "delays", "delayed",
        ],
        &[(SPACE, 0.7)],
    ),
    Entry::word(
        &["cinematic", "epic"],
        &[(SPACE, 0.6), (LENGTH, 0.5), (WARM, 0.2)],
    ),
    Entry::word(
        &["dreamy", "dreamlike", "dream"],
        &[(SPACE, 0.7), (MOTION, 0.5), (BRIGHT, -0.2)],
    ),
    Entry::word(
        &["hazy", "haze", "foggy", "blurry"],
        &[(SPACE, 0.5), (BRIGHT, -0.4)],
    ),
    Entry::word(
        &["floaty", "floating", "float"],
        &[(SPACE, 0.6), (ATTACK, 0.4), (MOTION, 0.3)],
    ),
    // ---- Dry ---------------------------------------------------------------------------
    Entry::word(&["dry", "drier", "dryer"], &[(SPACE, -0.9)]),
    Entry::word(
        &[
            "close",
            "closer",
            "upfront",
            "up front",
            "in your face",
            "direct",
        ],
        &[(SPACE, -0.6), (PUNCH, 0.2)],
    ),
    Entry::word(&["intimate"], &[(SPACE, -0.6), (PUNCH, -0.2), (WARM, 0.2)]),
    Entry::word(
        &["tight", "tighter"],
        &[(SPACE, -0.4), (PUNCH, 0.5), (LENGTH, -0.4)],
    ),
    Entry::word(
        &["focused", "focussed", "mono"],
        &[(SPACE, -0.5), (MOTION, -0.2)],
    ),
    // ---- Motion ------------------------------------------------------------------------
    Entry::word(
        &["evolving", "evolve", "evolves", "evolution"],
        &[(MOTION, 0.9)],
    ),
    Entry::word(
        &["moving", "movement", "motion", "move", "moves"],
        &[(MOTION, 0.8)],
    ),
    Entry::word(
        &[
            "morphing", "morph", "morphs", "changing", "shifting", "mutating",
        ],
        &[(MOTION, 0.8)],
    ),
    Entry::word(
        &["wobbly", "wobble", "wobbles", "wobbling", "wub"],
        &[(MOTION, 0.9), (GRIT, 0.2)],
    ),
    Entry::word(
        &["shimmering", "shimmer", "shimmery", "shimmers"],
        &[(MOTION, 0.7), (BRIGHT, 0.4), (SPACE, 0.3)],
    ),
    Entry::word(
        &["pulsing", "pulsating", "throbbing", "rhythmic"],
        &[(MOTION, 0.8), (PUNCH, 0.2)],
    ),
    Entry::word(
        &["animated", "lively", "alive", "expressive"],
        &[(MOTION, 0.7)],
    ),
    Entry::word(
        &[
            "swirling", "swirly", "swirl", "phasey", "phasing", "phaser", "phased", "flanged",
            "flanger", "flanging",
        ],
        &[(MOTION, 0.8)],
    ),
    Entry::word(
        &["chorus", "chorused", "chorusy"],
        &[(MOTION, 0.6), (SPACE, 0.3), (WARM, 0.2)],
    ),
    Entry::word(
        &[
            "modulated",
            "modulation",
            "modulating",
            "mod",
            "mod wheel",
            "modwheel",
            "lfo",
            "lfos",
            "sweeping",
        ],
        &[(MOTION, 0.8)],
    ),
    Entry::word(
        &[
            "vibrato", "wavering", "warbly", "warble", "warbling", "flutter",
        ],
        &[(MOTION, 0.6)],
    ),
    Entry::word(&["tremolo", "trem"], &[(MOTION, 0.7), (PUNCH, 0.1)]),
    Entry::word(
        &["detuned", "detune", "detuning", "unison"],
        &[(MOTION, 0.6), (WARM, 0.3)],
    ),
    Entry::word(&["pwm"], &[(MOTION, 0.5), (WARM, 0.2)]),
    Entry::word(
        &[
            "unstable", "drifting", "drifty", "drift", "wonky", "warped", "seasick",
        ],
        &[(MOTION, 0.7), (GRIT, 0.1)],
    ),
    Entry::word(&["breathing"], &[(MOTION, 0.5), (ATTACK, 0.3)]),
    Entry::word(
        &["resonant", "resonance", "reso"],
        &[(BRIGHT, 0.3), (MOTION, 0.2), (GRIT, 0.2)],
    ),
    // ---- Static ------------------------------------------------------------------------
    Entry::word(
        &[
            "static",
            "steady",
            "stable",
            "constant",
            "fixed",
            "unchanging",
            "frozen",
        ],
        &[(MOTION, -0.8)],
    ),
    Entry::word(
        &[
            "calm", "calmer", "peaceful", "serene", "tranquil", "relaxed",
        ],
        &[(MOTION, -0.4), (PUNCH, -0.4), (GRIT, -0.3)],
    ),
    Entry::word(
        &["simple", "plain", "basic", "vanilla"],
        &[(MOTION, -0.5), (GRIT, -0.2)],
    ),
    Entry::word(&["solid"], &[(MOTION, -0.4), (WARM, 0.3), (PUNCH, 0.2)]),
    // ---- Punch -------------------------------------------------------------------------
    Entry::word(&["punchy", "punchier", "punch"], &[(PUNCH, 0.9)]),
    Entry::word(
        &["snappy", "snappier", "snap"],
        &[(PUNCH, 0.8), (ATTACK, -0.5), (LENGTH, -0.3)],
    ),
    Entry::word(&["hard", "harder"], &[(PUNCH, 0.8), (GRIT, 0.2)]),
    Entry::word(
        &["sharp", "sharper"],
        &[(PUNCH, 0.7), (ATTACK, -0.6), (BRIGHT, 0.3)],
    ),
    Entry::word(
        &["attacky", "transient", "transients"],
        &[(PUNCH, 0.7), (ATTACK, -0.4)],
    ),
    Entry::word(
        &["fast", "faster", "quick", "quicker"],
        &[(ATTACK, -0.6), (PUNCH, 0.3)],
    ),
    Entry::word(
        &["instant", "immediate", "instantly"],
        &[(ATTACK, -0.8), (PUNCH, 0.4)],
    ),
    Entry::word(
        &[
            "thumping", "thump", "thumpy", "knock", "knocking", "knocky", "slam", "slamming",
            "hitting",
        ],
        &[(PUNCH, 0.8), (WARM, 0.3)],
    ),
    Entry::word(
        &["strong", "stronger", "powerful", "power", "driving"],
        &[(PUNCH, 0.6), (WARM, 0.3)],
    ),
    Entry::word(
        &["bouncy", "bounce"],
        &[(PUNCH, 0.5), (LENGTH, -0.3), (MOTION, 0.2)],
    ),
    Entry::word(
        &["clicky", "click"],
        &[(PUNCH, 0.6), (BRIGHT, 0.3), (LENGTH, -0.4)],
    ),
    Entry::word(&["techno"], &[(PUNCH, 0.4), (GRIT, 0.3), (MOTION, 0.2)]),
    // ---- Soft --------------------------------------------------------------------------
    Entry::word(
        &["soft", "softer"],
        &[(PUNCH, -0.8), (GRIT, -0.3), (ATTACK, 0.3)],
    ),
    Entry::word(
        &["gentle", "gentler", "gently", "tender"],
        &[(PUNCH, -0.7), (GRIT, -0.3), (ATTACK, 0.2)],
    ),
    Entry::word(
        &["delicate", "fragile"],
        &[(PUNCH, -0.6), (WARM, -0.2), (BRIGHT, 0.2)],
    ),
    Entry::word(&["subtle", "subtler"], &[(PUNCH, -0.4), (GRIT, -0.2)]),
    Entry::word(
        &["quiet", "quieter", "hushed"],
        &[(PUNCH, -0.6), (BRIGHT, -0.2)],
    ),
    Entry::word(
        &["pillowy", "fluffy", "cushioned", "padded"],
        &[(PUNCH, -0.7), (WARM, 0.3)],
    ),
    // ---- Attack (slow) -----------------------------------------------------------------
    Entry::word(
        &["swelling", "swell", "swells", "swelled"],
        &[(ATTACK, 0.9), (LENGTH, 0.3)],
    ),
    Entry::word(&["slow", "slower", "slowly"], &[(ATTACK, 0.8)]),
    Entry::word(&["fade in", "fades in", "fading in"], &[(ATTACK, 0.9)]),
    Entry::word(
        &["fade", "fades", "fading", "faded"],
        &[(ATTACK, 0.5), (LENGTH, 0.3)],
    ),
    Entry::word(&["fade out", "fades out"], &[(LENGTH, 0.6)]),
    Entry::word(
        &[
            "blooming",
            "bloom",
            "blossoming",
            "rising",
            "crescendo",
            "builds",
            "building",
        ],
        &[(ATTACK, 0.7), (MOTION, 0.2)],
    ),
    Entry::word(&["lazy", "sluggish"], &[(ATTACK, 0.6)]),
    Entry::word(&["legato"], &[(ATTACK, 0.3), (LENGTH, 0.4)]),
    // ---- Short -------------------------------------------------------------------------
    Entry::word(&["short", "shorter"], &[(LENGTH, -0.8)]),
    Entry::word(&["staccato"], &[(LENGTH, -0.9), (PUNCH, 0.3)]),
    Entry::word(
        &["stabby", "stab", "stabs"],
        &[(LENGTH, -0.7), (PUNCH, 0.6)],
    ),
    Entry::word(
        &["clipped", "chopped", "choppy", "brief"],
        &[(LENGTH, -0.7)],
    ),
    Entry::word(
        &[
            "blip", "blips", "blippy", "bleep", "bleeps", "bloop", "beep", "beeps",
        ],
        &[(LENGTH, -0.8), (BRIGHT, 0.3), (GRIT, -0.3)],
    ),
    Entry::word(&["bouncing"], &[(LENGTH, -0.4), (MOTION, 0.3)]),
    // ---- Long --------------------------------------------------------------------------
    Entry::word(&["long", "longer", "lengthy"], &[(LENGTH, 0.8)]),
    Entry::word(
        &["sustained", "sustain", "sustaining", "sustains"],
        &[(LENGTH, 0.8)],
    ),
    Entry::word(
        &["ringing", "ring", "rings", "ringy", "resonating"],
        &[(LENGTH, 0.7), (BRIGHT, 0.2)],
    ),
    Entry::word(
        &[
            "endless",
            "infinite",
            "eternal",
            "never ending",
            "neverending",
        ],
        &[(LENGTH, 1.0), (SPACE, 0.3)],
    ),
    Entry::word(
        &["lingering", "linger", "lingers"],
        &[(LENGTH, 0.7), (SPACE, 0.2)],
    ),
];

/// Words that make the next content word count more ("very bright").
pub const INTENSIFIERS: &[&str] = &[
    "very",
    "really",
    "super",
    "extremely",
    "ultra",
    "so",
    "much",
    "way",
    "extra",
    "heavily",
    "highly",
    "incredibly",
    "insanely",
    "seriously",
    "totally",
    "completely",
    "massively",
    "overly",
    "hyper",
    "mega",
    "lot",
    "lots",
    "tons",
    "loads",
    "plenty",
];

/// Words that make the next content word count less ("slightly dark", "a touch of grit").
pub const SOFTENERS: &[&str] = &[
    "slightly", "somewhat", "bit", "little", "touch", "tad", "kind", "kinda", "sort", "sorta",
    "mildly", "lightly", "subtly", "barely", "hint", "dash",
];

/// Words that turn the next content word around ("not bright", "without reverb").
pub const NEGATORS: &[&str] = &[
    "not",
    "no",
    "without",
    "less",
    "non",
    "never",
    "zero",
    "don't",
    "dont",
    "isn't",
    "isnt",
    "shouldn't",
    "shouldnt",
    "doesn't",
    "doesnt",
];

/// "too bright" asks for less of it (a change of the current sound); "not too bright" asks
/// for a little less of it in a new sound.
pub const TOO: &str = "too";

/// The scale an intensifier gives the next content word.
pub const INTENSIFY: f32 = 1.6;
/// The scale a softener gives the next content word; also the scale of a hedged negation
/// ("not very", "not too").
pub const SOFTEN: f32 = 0.5;

/// Words that ask for a change of the current sound rather than a new one. Comparative
/// spellings ([`COMPARATIVES`]) and "too" do the same.
pub const RELATIVE_WORDS: &[&str] = &[
    "more", "less", "again", "tweak", "tweaked", "before", "previous", "current", "instead",
];

/// The comparative spellings in [`ENTRIES`]: a prompt that uses one asks for a change.
pub const COMPARATIVES: &[&str] = &[
    "brighter",
    "darker",
    "warmer",
    "thinner",
    "grittier",
    "dirtier",
    "cleaner",
    "purer",
    "drier",
    "dryer",
    "wetter",
    "wider",
    "closer",
    "tighter",
    "punchier",
    "snappier",
    "harder",
    "sharper",
    "faster",
    "quicker",
    "softer",
    "gentler",
    "subtler",
    "quieter",
    "slower",
    "shorter",
    "longer",
    "deeper",
    "lower",
    "higher",
    "rounder",
    "fuller",
    "fatter",
    "chunkier",
    "thicker",
    "lusher",
    "richer",
    "heavier",
    "bigger",
    "crisper",
    "shinier",
    "airier",
    "breathier",
    "harsher",
    "clearer",
    "edgier",
    "duller",
    "mellower",
    "colder",
    "hollower",
    "smaller",
    "lighter",
    "rougher",
    "crunchier",
    "fuzzier",
    "buzzier",
    "raspier",
    "noisier",
    "smoother",
    "sweeter",
    "calmer",
    "stronger",
    "pluckier",
];

/// Words that only shape a sentence: understood, and ignored.
pub const STOP_WORDS: &[&str] = &[
    "a",
    "an",
    "the",
    "with",
    "and",
    "or",
    "of",
    "for",
    "to",
    "in",
    "on",
    "at",
    "that",
    "which",
    "when",
    "i",
    "me",
    "my",
    "it",
    "its",
    "is",
    "be",
    "some",
    "sound",
    "sounds",
    "sounding",
    "patch",
    "patches",
    "tone",
    "tones",
    "synth",
    "synths",
    "like",
    "but",
    "this",
    "these",
    "those",
    "there",
    "here",
    "has",
    "have",
    "had",
    "having",
    "was",
    "are",
    "were",
    "been",
    "being",
    "as",
    "by",
    "from",
    "into",
    "onto",
    "out",
    "up",
    "down",
    "over",
    "under",
    "around",
    "through",
    "about",
    "than",
    "then",
    "while",
    "where",
    "who",
    "whose",
    "what",
    "how",
    "please",
    "make",
    "makes",
    "making",
    "made",
    "give",
    "gives",
    "want",
    "wanted",
    "need",
    "needs",
    "get",
    "gets",
    "got",
    "can",
    "could",
    "would",
    "should",
    "will",
    "you",
    "your",
    "we",
    "our",
    "us",
    "they",
    "them",
    "their",
    "just",
    "also",
    "even",
    "all",
    "any",
    "every",
    "each",
    "one",
    "ones",
    "thing",
    "something",
    "type",
    "style",
    "vibe",
    "feel",
    "feels",
    "feeling",
    "push",
    "pushed",
    "pushing",
    "play",
    "played",
    "playing",
    "press",
    "pressed",
    "hold",
    "holding",
    "held",
    "note",
    "notes",
    "chord",
    "chords",
    "key",
    "track",
    "song",
    "mix",
    "instrument",
    "preset",
    "sample",
    "do",
    "does",
    "did",
    "let",
    "im",
    "ive",
    "id",
    "quite",
    "pretty",
    "fairly",
    "rather",
    "still",
    "same",
    "now",
    "yet",
    "only",
    "both",
    "either",
    "use",
    "using",
    "used",
    "via",
    "plus",
    "speaker",
    "effect",
    "effects",
    "sits",
    "sitting",
    "behind",
    "background",
    "foreground",
];

/// What a prompt said, as the offline designer understands it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reading {
    /// Summed archetype votes, indexed like [`ARCHETYPES`]; a negated noun ("no bass")
    /// votes against.
    pub archetype_votes: [f32; 12],
    /// Summed axis pushes, each clamped to [-1, 1].
    pub axes: AxisWeights,
    /// The words understood (lexicon spellings, modifiers and relative words, not stop
    /// words), in order of first appearance.
    pub understood: Vec<String>,
    /// The words not understood, in order of first appearance.
    pub unknown: Vec<String>,
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

/// Reads a prompt. Lowercases it, splits it on anything but letters, digits, hyphens and
/// apostrophes, matches the longest phrase of the table first, applies modifiers to the
/// next content word, sums the pushes and clamps each axis to [-1, 1]. Numbers and
/// one-letter words are ignored silently.
pub fn read(prompt: &str) -> Reading {
    let tokens = tokenize(prompt);
    let longest = ENTRIES
        .iter()
        .flat_map(|e| e.words)
        .map(|w| w.split(' ').count())
        .max()
        .unwrap_or(1);
    let mut reading = Reading::default();
    let mut modifier = Modifier::default();
    let mut i = 0;
    while i < tokens.len() {
        if let Some((entry, spelling, len)) = match_phrase(&tokens[i..], longest) {
            let scale = modifier.take();
            for &(axis, weight) in entry.axes {
                reading.axes[axis.index()] += scale * weight;
            }
            if let Some(slot) = entry
                .archetype
                .and_then(|a| ARCHETYPES.iter().position(|&x| x == a))
            {
                reading.archetype_votes[slot] += scale * entry.vote;
            }
            if COMPARATIVES.contains(&spelling.as_str()) {
                reading.relative = true;
            }
            push_once(&mut reading.understood, spelling);
            i += len;
            continue;
        }
        let word = tokens[i].as_str();
        let previous = i.checked_sub(1).map(|p| tokens[p].as_str());
        i += 1;
        if RELATIVE_WORDS.contains(&word) {
            reading.relative = true;
        }
        if NEGATORS.contains(&word) {
            modifier.sign = -modifier.sign;
        } else if INTENSIFIERS.contains(&word) {
            // "not very bright" is a hedge, not a stronger "not bright".
            modifier.scale = if modifier.sign < 0.0 {
                SOFTEN
            } else {
                INTENSIFY
            };
        } else if SOFTENERS.contains(&word) {
            modifier.scale = SOFTEN;
        } else if word == TOO {
            if previous.is_some_and(|p| NEGATORS.contains(&p)) {
                modifier.scale = SOFTEN;
            } else {
                modifier.sign = -modifier.sign;
                reading.relative = true;
            }
        } else if !RELATIVE_WORDS.contains(&word) {
            // A stop word, a number, or an unknown word. (A relative word such as "more"
            // skips this: it is understood, and it leaves the next push as it is.)
            if !(STOP_WORDS.contains(&word) || is_ignored(word)) {
                push_once(&mut reading.unknown, word.to_string());
            }
            continue;
        }
        push_once(&mut reading.understood, word.to_string());
    }
    for weight in &mut reading.axes {
        *weight = weight.clamp(-1.0, 1.0);
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

/// The entry that lists `spelling`.
fn entry_for(spelling: &str) -> Option<&'static Entry> {
    ENTRIES.iter().find(|e| e.words.contains(&spelling))
}

/// The longest spelling (up to `longest` words) at the start of `tokens`: its entry, the
/// spelling, and how many tokens it covers.
fn match_phrase(tokens: &[String], longest: usize) -> Option<(&'static Entry, String, usize)> {
    (1..=longest.min(tokens.len())).rev().find_map(|len| {
        let phrase = tokens[..len].join(" ");
        entry_for(&phrase).map(|e| (e, phrase, len))
    })
}

/// Numbers ("120", "3rd") and one-letter words say nothing about a sound.
fn is_ignored(word: &str) -> bool {
    word.chars().count() < 2 || word.starts_with(|c: char| c.is_ascii_digit())
}

/// Any spelling, modifier or function word.
fn is_known(word: &str) -> bool {
    entry_for(word).is_some()
        || [
            INTENSIFIERS,
            SOFTENERS,
            NEGATORS,
            RELATIVE_WORDS,
            STOP_WORDS,
        ]
        .iter()
        .any(|list| list.contains(&word))
        || word == TOO
}

/// Splits a prompt into lowercase words. A hyphenated or apostrophised word that is not
/// known as written is tried joined ("lo-fi" → "lofi", "don't" → "dont"); a hyphenated
/// one that is still unknown becomes its parts ("lo-fi" → "lo fi", matched as a phrase).
fn tokenize(prompt: &str) -> Vec<String> {
    let lower = prompt.to_lowercase().replace('’', "'");
    let mut tokens = Vec::new();
    for raw in lower.split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '\'')) {
        let word = raw.trim_matches(|c| c == '-' || c == '\'');
        let word = word.strip_suffix("'s").unwrap_or(word);
        if word.is_empty() {
            continue;
        }
        if is_known(word) || !(word.contains('-') || word.contains('\'')) {
            tokens.push(word.to_string());
            continue;
        }
        let joined: String = word.chars().filter(|&c| c != '-' && c != '\'').collect();
        if is_known(&joined) || !word.contains('-') {
            tokens.push(joined);
        } else {
            tokens.extend(
                word.split('-')
                    .filter(|part| !part.is_empty())
                    .map(str::to_string),
            );
        }
    }
    tokens
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

    fn function_lists() -> [(&'static str, &'static [&'static str]); 5] {
        [
            ("INTENSIFIERS", INTENSIFIERS),
            ("SOFTENERS", SOFTENERS),
            ("NEGATORS", NEGATORS),
            ("STOP_WORDS", STOP_WORDS),
            ("RELATIVE_WORDS", RELATIVE_WORDS),
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
            for word in list {
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
        let modifiers = [INTENSIFIERS, SOFTENERS, NEGATORS, STOP_WORDS];
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
        assert!(r.axis(GRIT) > 0.0);
        assert!(r.axis(MOTION) > 0.0);
        assert!(r.unknown.is_empty(), "{:?}", r.unknown);
        assert!(!r.relative);
        assert!(r.understood.contains(&"mod wheel".to_string()));
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
        let r = read("a 2 second pad at 120 bpm, 3rd octave, x");
        assert_eq!(r.unknown, vec!["second", "bpm", "octave"]);
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
    fn sums_are_clamped() {
        let r = read("very bright brilliant shiny sparkly glassy crisp");
        assert_eq!(r.axis(BRIGHT), 1.0);
        let r = read("extremely dry, no reverb, no echo, close");
        assert_eq!(r.axis(SPACE), -1.0);
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
            "centroid", "low_mid", "flatness", "flux", "crest", "attack", "decay", "tail",
            "level", "peak", "f0",
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
            assert!(CATEGORIES.contains(&category), "unknown category {category}");
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
