//! The core vocabulary in German, French, Spanish, Italian and Portuguese: instrument nouns,
//! the six macro adjectives and their opposites, attack and length words, degree words and
//! negations, each read as the English word it means. A foreign word is only tried when
//! the English table does not know the word as written.
//!
//! Words are listed by stem; the reader accepts a stem followed by any of its family's
//! endings ([`GERMANIC_ENDINGS`]: "dunkl" + "er" = "dunkler"; [`ROMANCE_ENDINGS`]: "oscur" +
//! "a" = "oscura"), so gender, number and case need not be listed one by one. Accents are
//! removed before anything is read ("cálido" is read as "calido").

use std::collections::HashMap;
use std::sync::OnceLock;

/// A language of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    German,
    French,
    Spanish,
    Italian,
    Portuguese,
}

impl Language {
    pub fn name(self) -> &'static str {
        match self {
            Language::German => "German",
            Language::French => "French",
            Language::Spanish => "Spanish",
            Language::Italian => "Italian",
            Language::Portuguese => "Portuguese",
        }
    }

    fn endings(self) -> &'static [&'static str] {
        match self {
            Language::German => GERMANIC_ENDINGS,
            _ => ROMANCE_ENDINGS,
        }
    }
}

/// Adjective and plural endings of German, tried after a stem.
pub const GERMANIC_ENDINGS: &[&str] = &["", "e", "er", "es", "en", "em", "s", "n"];
/// Gender and number endings of French, Spanish, Italian and Portuguese, tried after a stem.
pub const ROMANCE_ENDINGS: &[&str] = &["", "s", "e", "es", "o", "a", "os", "as", "i"];

use Language::{French as FR, German as DE, Italian as IT, Portuguese as PT, Spanish as ES};

/// (language, the English word it means, stems).
pub const FOREIGN: &[(Language, &str, &[&str])] = &[
    // ---- German --------------------------------------------------------------------------
    (DE, "bass", &["bass", "bassline"]),
    (DE, "pad", &["flache", "teppich", "klangteppich"]),
    (DE, "lead", &["leadsound", "melodie"]),
    (DE, "pluck", &["zupf", "gezupft"]),
    (DE, "piano", &["klavier", "flugel"]),
    (DE, "bell", &["glocke", "glock"]),
    (DE, "organ", &["orgel"]),
    (DE, "strings", &["streicher", "geige", "saite"]),
    (DE, "cello", &["cello"]),
    (DE, "violin", &["violine"]),
    (DE, "guitar", &["gitarr"]),
    (DE, "harp", &["harfe"]),
    (DE, "flute", &["flote", "querflote"]),
    (DE, "trumpet", &["trompet"]),
    (DE, "horn", &["horn", "horner", "waldhorn"]),
    (DE, "brass", &["blech", "blechblaser"]),
    (DE, "choir", &["chor", "gesang"]),
    (DE, "voice", &["stimm"]),
    (DE, "drum", &["trommel", "schlagzeug"]),
    (DE, "kick", &["bassdrum", "kickdrum"]),
    (DE, "bright", &["hell", "brillant", "strahlend"]),
    (DE, "dark", &["dunkel", "dunkl", "finster"]),
    (DE, "warm", &["warm", "warmer"]),
    (DE, "thin", &["dunn", "schmal"]),
    (DE, "cold", &["kalt"]),
    (DE, "fat", &["fett"]),
    (DE, "deep", &["tief"]),
    (DE, "dirty", &["dreckig", "schmutzig", "rau"]),
    (DE, "distorted", &["verzerrt", "ubersteuert", "verzerrung"]),
    (DE, "clean", &["sauber", "rein", "klar"]),
    (DE, "reverb", &["hall", "nachhall"]),
    (DE, "spacious", &["hallig", "raumlich", "weit"]),
    (DE, "dry", &["trocken"]),
    (DE, "evolving", &["bewegt", "lebendig", "schwebend"]),
    (DE, "static", &["statisch"]),
    (DE, "calm", &["ruhig", "entspannt"]),
    (DE, "punchy", &["druckvoll", "knackig", "hart"]),
    (DE, "soft", &["weich", "sanft"]),
    (DE, "slow", &["langsam"]),
    (DE, "fast", &["schnell"]),
    (DE, "long", &["lang"]),
    (DE, "short", &["kurz"]),
    (DE, "loud", &["laut"]),
    (DE, "quiet", &["leis"]),
    (DE, "sad", &["traurig"]),
    (DE, "happy", &["frohlich", "glucklich"]),
    (DE, "very", &["sehr", "richtig"]),
    (DE, "slightly", &["etwas", "leicht", "bisschen"]),
    (DE, "not", &["nicht", "kein"]),
    (DE, "without", &["ohne"]),
    (DE, "with", &["mit"]),
    (DE, "and", &["und"]),
    (
        DE,
        "the",
        &[
            "ein", "der", "die", "das", "den", "dem", "fur", "im", "ich", "will",
        ],
    ),
    // ---- French --------------------------------------------------------------------------
    (FR, "bass", &["bass", "basse"]),
    (FR, "pad", &["nappe"]),
    (FR, "pluck", &["pince", "pincee"]),
    (FR, "piano", &["piano"]),
    (FR, "bell", &["cloche", "carillon"]),
    (FR, "organ", &["orgue"]),
    (FR, "strings", &["corde", "cordes"]),
    (FR, "violin", &["violon"]),
    (FR, "cello", &["violoncelle"]),
    (FR, "guitar", &["guitar"]),
    (FR, "harp", &["harpe"]),
    (FR, "flute", &["flute"]),
    (FR, "trumpet", &["trompette"]),
    (FR, "brass", &["cuivre"]),
    (FR, "choir", &["choeur", "chorale"]),
    (FR, "voice", &["voix"]),
    (FR, "drum", &["batterie", "tambour"]),
    (FR, "kick", &["grosse caisse"]),
    (
        FR,
        "bright",
        &["brillant", "lumineux", "lumineus", "eclatant"],
    ),
    (FR, "dark", &["sombr", "obscur"]),
    (FR, "warm", &["chaud", "chaleureux", "chaleureus"]),
    (FR, "thin", &["mince", "maigr"]),
    (FR, "cold", &["froid"]),
    (FR, "fat", &["gras", "grass", "epais", "epaiss"]),
    (FR, "deep", &["profond"]),
    (FR, "dirty", &["sale"]),
    (FR, "distorted", &["distordu", "sature", "saturee"]),
    (FR, "clean", &["propre", "pur", "clair"]),
    (FR, "reverb", &["reverb", "reverberation", "echo"]),
    (FR, "spacious", &["spacieux", "spacieus", "ample"]),
    (FR, "dry", &["seche"]),
    (FR, "evolving", &["evolutif", "evolutiv", "mouvant"]),
    (FR, "static", &["statique"]),
    (FR, "punchy", &["percutant", "dur"]),
    (FR, "soft", &["doux", "douc"]),
    (FR, "slow", &["lent"]),
    (FR, "fast", &["rapide"]),
    (FR, "long", &["longu"]),
    (FR, "short", &["court"]),
    (FR, "loud", &["fort"]),
    (FR, "sad", &["trist"]),
    (FR, "happy", &["joyeux", "joyeus", "gai"]),
    (FR, "very", &["tres", "beaucoup"]),
    (FR, "slightly", &["peu", "legerement"]),
    (FR, "not", &["pas"]),
    (FR, "without", &["sans"]),
    (FR, "with", &["avec"]),
    (FR, "and", &["et"]),
    (
        FR,
        "the",
        &[
            "un", "une", "le", "la", "les", "des", "du", "de", "je", "veux",
        ],
    ),
    // ---- Spanish -------------------------------------------------------------------------
    (ES, "bass", &["bajo"]),
    (ES, "pad", &["colchon"]),
    (ES, "pluck", &["punteado", "pulsado"]),
    (ES, "piano", &["piano"]),
    (ES, "bell", &["campan"]),
    (ES, "organ", &["organo"]),
    (ES, "strings", &["cuerda"]),
    (ES, "violin", &["violin"]),
    (ES, "cello", &["violonchelo"]),
    (ES, "guitar", &["guitarr"]),
    (ES, "flute", &["flaut"]),
    (ES, "trumpet", &["trompet"]),
    (ES, "choir", &["coro"]),
    (ES, "voice", &["voz", "voces"]),
    (ES, "drum", &["tambor", "bateria"]),
    (ES, "kick", &["bombo"]),
    (ES, "bright", &["brillant", "luminos"]),
    (ES, "dark", &["oscur"]),
    (ES, "warm", &["calid", "caliente"]),
    (ES, "thin", &["delgad", "fino", "fina"]),
    (ES, "cold", &["frio", "fria"]),
    (ES, "fat", &["gord"]),
    (ES, "deep", &["profund"]),
    (ES, "dirty", &["sucio", "sucia"]),
    (ES, "distorted", &["distorsionad", "saturad"]),
    (ES, "clean", &["limpi", "puro", "pura"]),
    (ES, "reverb", &["reverberacion", "reverb", "eco"]),
    (ES, "spacious", &["espacios", "amplio"]),
    (ES, "dry", &["seco", "seca"]),
    (ES, "evolving", &["evolutiv", "cambiante"]),
    (ES, "static", &["estatic"]),
    (ES, "punchy", &["contundente", "duro", "dura"]),
    (ES, "soft", &["suav", "blando"]),
    (ES, "slow", &["lento", "lenta"]),
    (ES, "fast", &["rapid"]),
    (ES, "long", &["largo", "larga"]),
    (ES, "short", &["corto", "corta"]),
    (ES, "loud", &["fuerte"]),
    (ES, "sad", &["trist"]),
    (ES, "happy", &["alegr", "feliz"]),
    (ES, "very", &["muy", "mucho", "mucha"]),
    (ES, "slightly", &["poco", "algo", "ligeramente"]),
    (ES, "without", &["sin"]),
    (ES, "with", &["con"]),
    (ES, "and", &["y"]),
    (ES, "the", &["el", "los", "las", "una", "del", "quiero"]),
    // ---- Italian -------------------------------------------------------------------------
    (IT, "bass", &["basso", "bassi"]),
    (IT, "pluck", &["pizzicat"]),
    (IT, "piano", &["pianoforte"]),
    (IT, "bell", &["campan"]),
    (IT, "organ", &["organo"]),
    (IT, "strings", &["archi", "corde"]),
    (IT, "violin", &["violino"]),
    (IT, "cello", &["violoncell"]),
    (IT, "guitar", &["chitarr"]),
    (IT, "harp", &["arpa"]),
    (IT, "flute", &["flauto"]),
    (IT, "trumpet", &["tromba"]),
    (IT, "brass", &["ottoni"]),
    (IT, "choir", &["coro"]),
    (IT, "voice", &["voce"]),
    (IT, "drum", &["tamburo", "batteria"]),
    (IT, "kick", &["cassa"]),
    (IT, "bright", &["brillant", "luminos"]),
    (IT, "dark", &["scur"]),
    (IT, "warm", &["cald"]),
    (IT, "thin", &["sottil"]),
    (IT, "cold", &["fredd"]),
    (IT, "fat", &["grass"]),
    (IT, "deep", &["profond"]),
    (IT, "dirty", &["sporc"]),
    (IT, "distorted", &["distort", "saturat"]),
    (IT, "clean", &["pulit"]),
    (IT, "reverb", &["riverbero", "eco"]),
    (IT, "spacious", &["spazios", "ampio"]),
    (IT, "dry", &["secc"]),
    (IT, "evolving", &["evolutiv"]),
    (IT, "static", &["static"]),
    (IT, "punchy", &["incisiv"]),
    (IT, "soft", &["morbid", "dolc", "soffic"]),
    (IT, "slow", &["lento", "lenta", "lenti"]),
    (IT, "fast", &["veloc"]),
    (IT, "long", &["lung"]),
    (IT, "short", &["cort", "brev"]),
    (IT, "sad", &["trist"]),
    (IT, "happy", &["allegr"]),
    (IT, "very", &["molto", "molta", "tanto"]),
    (IT, "slightly", &["leggermente", "poco"]),
    (IT, "not", &["non"]),
    (IT, "without", &["senza"]),
    (IT, "with", &["con"]),
    (
        IT,
        "the",
        &["il", "lo", "gli", "di", "da", "della", "dei", "voglio"],
    ),
    // ---- Portuguese ----------------------------------------------------------------------
    (PT, "bass", &["baixo"]),
    (PT, "bell", &["sino"]),
    (PT, "organ", &["orgao"]),
    (PT, "strings", &["corda"]),
    (PT, "violin", &["violino"]),
    (PT, "guitar", &["violao"]),
    (PT, "flute", &["flauta"]),
    (PT, "trumpet", &["trompete"]),
    (PT, "choir", &["coral"]),
    (PT, "drum", &["bateria"]),
    (PT, "bright", &["brilhant"]),
    (PT, "dark", &["escur", "sombri"]),
    (PT, "warm", &["quent"]),
    (PT, "thin", &["magr"]),
    (PT, "cold", &["frio"]),
    (PT, "fat", &["gord"]),
    (PT, "deep", &["profund"]),
    (PT, "dirty", &["suj"]),
    (PT, "distorted", &["distorcid"]),
    (PT, "clean", &["limp"]),
    (PT, "reverb", &["reverberacao", "eco"]),
    (PT, "spacious", &["espacos", "amplo"]),
    (PT, "dry", &["seco", "seca"]),
    (PT, "static", &["estatic"]),
    (PT, "soft", &["suav", "maci"]),
    (PT, "slow", &["lento", "lenta"]),
    (PT, "fast", &["rapid"]),
    (PT, "long", &["longo", "longa"]),
    (PT, "short", &["curto", "curta"]),
    (PT, "sad", &["trist"]),
    (PT, "happy", &["feliz", "alegr"]),
    (PT, "very", &["muito", "muita"]),
    (PT, "slightly", &["pouco"]),
    (PT, "not", &["nao"]),
    (PT, "without", &["sem"]),
    (PT, "with", &["com"]),
    (PT, "the", &["um", "uma", "os", "do", "da", "quero"]),
];

/// A stem's meaning and the languages that use it with that meaning.
type Meaning = (&'static str, Vec<Language>);

/// The English word a foreign `word` means, with the languages it is a word of, when the
/// table has it.
pub fn translate(word: &str) -> Option<(&'static str, Vec<Language>)> {
    static STEMS: OnceLock<HashMap<&'static str, Meaning>> = OnceLock::new();
    let stems = STEMS.get_or_init(|| {
        let mut map: HashMap<&'static str, Meaning> = HashMap::new();
        for &(language, meaning, stems) in FOREIGN {
            for stem in stems {
                // A stem two languages share with different meanings keeps the first.
                let entry = map.entry(*stem).or_insert((meaning, Vec::new()));
                if entry.0 == meaning && !entry.1.contains(&language) {
                    entry.1.push(language);
                }
            }
        }
        map
    });
    // The longest stem first: "sino" is a bell (Portuguese), not "sin" (Spanish, without)
    // + "o".
    let mut endings: Vec<&str> = GERMANIC_ENDINGS
        .iter()
        .chain(ROMANCE_ENDINGS)
        .copied()
        .collect();
    endings.sort_by_key(|e| e.len());
    endings.dedup();
    for ending in endings {
        let Some(stem) = word.strip_suffix(ending) else {
            continue;
        };
        if let Some((meaning, languages)) = stems.get(stem) {
            let fits: Vec<Language> = languages
                .iter()
                .copied()
                .filter(|l| l.endings().contains(&ending))
                .collect();
            if !fits.is_empty() && stem.len() >= 2 {
                return Some((meaning, fits));
            }
        }
    }
    None
}

/// `text` without accents and ligatures: "cálido" → "calido", "Flöte" → "Flote", "chœur" →
/// "choeur", "ß" → "ss". Other characters pass through.
pub fn fold_accents(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' => out.push('a'),
            'Á' | 'À' | 'Â' | 'Ä' | 'Ã' | 'Å' => out.push('A'),
            'é' | 'è' | 'ê' | 'ë' => out.push('e'),
            'É' | 'È' | 'Ê' | 'Ë' => out.push('E'),
            'í' | 'ì' | 'î' | 'ï' => out.push('i'),
            'Í' | 'Ì' | 'Î' | 'Ï' => out.push('I'),
            'ó' | 'ò' | 'ô' | 'ö' | 'õ' => out.push('o'),
            'Ó' | 'Ò' | 'Ô' | 'Ö' | 'Õ' => out.push('O'),
            'ú' | 'ù' | 'û' | 'ü' => out.push('u'),
            'Ú' | 'Ù' | 'Û' | 'Ü' => out.push('U'),
            'ç' => out.push('c'),
            'Ç' => out.push('C'),
            'ñ' => out.push('n'),
            'Ñ' => out.push('N'),
            'ß' => out.push_str("ss"),
            'œ' => out.push_str("oe"),
            'Œ' => out.push_str("OE"),
            'æ' => out.push_str("ae"),
            'Æ' => out.push_str("AE"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inflected_words_are_read_by_their_stem() {
        for (word, meaning) in [
            ("dunkler", "dark"),
            ("dunkles", "dark"),
            ("heller", "bright"),
            ("warmes", "warm"),
            ("kaltes", "cold"),
            ("langem", "long"),
            ("kurze", "short"),
            ("trockene", "dry"),
            ("sombre", "dark"),
            ("sombres", "dark"),
            ("brillante", "bright"),
            ("distordue", "distorted"),
            ("lentes", "slow"),
            ("pincees", "pluck"),
            ("calido", "warm"),
            ("frio", "cold"),
            ("sucio", "dirty"),
            ("reverberacion", "reverb"),
            ("distorto", "distorted"),
            ("pulito", "clean"),
            ("scuro", "dark"),
            ("quente", "warm"),
            ("escuro", "dark"),
            ("brilhante", "bright"),
            ("curto", "short"),
        ] {
            assert_eq!(translate(word).map(|t| t.0), Some(meaning), "{word}");
        }
        assert_eq!(translate("zorgle"), None);
        // A German ending does not make a Romance stem.
        assert_eq!(translate("sucioem"), None);
    }

    #[test]
    fn accents_are_folded() {
        assert_eq!(
            fold_accents("cálido frío Flöte chœur"),
            "calido frio Flote choeur"
        );
        assert_eq!(fold_accents("Straße"), "Strasse");
    }

    #[test]
    fn every_language_has_the_core_vocabulary() {
        // Instrument nouns, the six macros' adjectives and their opposites, attack and
        // length words, in every language.
        let core = [
            &["bass"][..],
            &["bell"],
            &["strings"],
            &["bright"],
            &["dark"],
            &["warm"],
            &["thin", "cold"],
            &["dirty", "distorted"],
            &["clean"],
            &["reverb", "spacious"],
            &["dry"],
            &["static"],
            &["soft"],
            &["slow"],
            &["fast"],
            &["long"],
            &["short"],
        ];
        for language in [DE, FR, ES, IT, PT] {
            for meanings in core {
                assert!(
                    FOREIGN
                        .iter()
                        .any(|&(l, m, _)| l == language && meanings.contains(&m)),
                    "{}: no word for {meanings:?}",
                    language.name()
                );
            }
        }
    }
}
