//! Every bound the compiler puts on what a program may cost: the memory a variant's DSPs may
//! take (known from Faust's output before rustc runs, and from the library before any DSP is
//! made), the resources the `faust` and `rustc` processes may use, and the length of what a
//! message repeats.

use std::time::Duration;

use mephisto_rt::engine::DEFAULT_VOICES;

/// The most memory one variant's DSP state may take for a whole bank: [`BANK_VOICES`] voice
/// instances, the effect instance and the static tables.
///
/// Why 64 MiB: a patch lives in the DAW's own process next to dozens of other plugins, and
/// the plugin keeps up to two variants alive while it crossfades (plus one being checked).
/// The heaviest built-ins (`saw_lead`, `nylon_pluck`, effects included) need 2.6 MiB for
/// 16 voices, and Faust's `zitaRev` played as 16 instances 14.6 MiB (`mephisto compile`
/// prints the figure), so 64 MiB is four times the heaviest real program, yet it holds a
/// 2-second delay line at 192 kHz in every one of 16 voices (16 × 1.5 MiB) or a
/// 16-million-sample table. What is over it (`rwtable(5e7, …)`, a delay of 2^30 samples)
/// is a mistake or an attack, and would take gigabytes.
pub const MAX_BANK_BYTES: u64 = 64 * 1024 * 1024;

/// Voices in a bank: every instance the plugin builds has the engine's voice count.
pub const BANK_VOICES: u64 = DEFAULT_VOICES as u64;

/// What a variant's DSPs need, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Footprint {
    /// One voice instance (`process`).
    pub voice: u64,
    /// The effect instance, 0 without one.
    pub effect: u64,
    /// Tables shared by every instance (Faust's `static` arrays).
    pub statics: u64,
}

impl Footprint {
    /// The whole bank: [`BANK_VOICES`] voices, the effect and the tables.
    pub fn bank(&self) -> u64 {
        self.voice
            .saturating_mul(BANK_VOICES)
            .saturating_add(self.effect)
            .saturating_add(self.statics)
    }

    /// The refusal when the bank is over [`MAX_BANK_BYTES`].
    pub fn check(&self) -> Result<(), String> {
        if self.bank() <= MAX_BANK_BYTES {
            return Ok(());
        }
        let mut parts = vec![format!("{} per voice", bytes(self.voice))];
        if self.effect > 0 {
            parts.push(format!("{} for the effect", bytes(self.effect)));
        }
        if self.statics > 0 {
            parts.push(format!("{} of shared tables", bytes(self.statics)));
        }
        Err(format!(
            "refused: the patch needs {} of memory for {BANK_VOICES} voices ({}), over the {} a patch may use; shorten its delay lines and tables (`rwtable`, `rdtable`, `de.delay` sizes)",
            bytes(self.bank()),
            parts.join(", "),
            bytes(MAX_BANK_BYTES)
        ))
    }

    /// The footprint Faust's Rust output declares: every `[T; N]` array, in `static`
    /// declarations once, elsewhere (the DSP structs) per instance. Scalars are left out:
    /// they are a few hundred bytes, and the library reports the exact size before use.
    pub fn of_faust_output(voice_code: &str, effect_code: Option<&str>) -> Footprint {
        let (voice, voice_statics) = declared_arrays(voice_code);
        let (effect, effect_statics) = effect_code.map(declared_arrays).unwrap_or((0, 0));
        Footprint {
            voice,
            effect,
            statics: voice_statics.saturating_add(effect_statics),
        }
    }
}

/// Bytes of the arrays `code` declares: (per instance, static).
fn declared_arrays(code: &str) -> (u64, u64) {
    let (mut instance, mut statics) = (0u64, 0u64);
    for line in code.lines() {
        let is_static = line.trim_start().starts_with("static");
        let mut rest = line;
        while let Some(open) = rest.find('[') {
            rest = &rest[open + 1..];
            let Some(size) = array_type_size(rest) else {
                continue;
            };
            let total = if is_static {
                &mut statics
            } else {
                &mut instance
            };
            *total = total.saturating_add(size);
        }
    }
    (instance, statics)
}

/// The size of the array type `T; N]` at the start of `text` (just after its `[`), if
/// it is one (an initialiser such as `0.0; N]` is not: its first part is a value).
fn array_type_size(text: &str) -> Option<u64> {
    let (element, rest) = text.split_once(';')?;
    let element = element.trim();
    if element.is_empty()
        || !element
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return None;
    }
    if !element.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let count: u64 = rest.split_once(']')?.0.trim().parse().ok()?;
    let width = match element {
        "bool" | "u8" | "i8" => 1,
        "u16" | "i16" => 2,
        "F32" | "f32" | "i32" | "u32" => 4,
        // F64, i64 and anything unknown: the widest scalar.
        _ => 8,
    };
    Some(count.saturating_mul(width))
}

/// `312 bytes`, `1.5 KiB`, `64 MiB`, `3.7 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    let text = format!("{value:.1}");
    let text = text.strip_suffix(".0").unwrap_or(&text);
    format!("{text} {}", UNITS[unit])
}

/// What one compiler process may use. The wall-clock limit is the caller's; these are the
/// kernel's, so a process that escapes our wait (its parent killed) still stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildLimits {
    /// CPU seconds (`RLIMIT_CPU`): the wall-clock limit, rounded up, plus one.
    pub cpu_seconds: u64,
    /// Address space (`RLIMIT_AS`).
    pub address_space: u64,
    /// The largest file it may write (`RLIMIT_FSIZE`).
    pub file_size: u64,
}

impl ChildLimits {
    /// `faust`: 2 GiB of address space (zitaRev needs under 512 MiB; the heaviest example
    /// programs under 1 GiB) and 256 MiB files (Faust's output for real patches is < 1 MiB).
    pub fn faust(limit: Duration) -> ChildLimits {
        ChildLimits {
            cpu_seconds: limit.as_secs() + 2,
            address_space: 2 << 30,
            file_size: 256 << 20,
        }
    }

    /// `rustc` and the linker it starts: 4 GiB of address space (LLVM at `opt-level=3` on
    /// the largest generated programs stays under 1 GiB) and 256 MiB files.
    pub fn rustc(limit: Duration) -> ChildLimits {
        ChildLimits {
            cpu_seconds: limit.as_secs() + 2,
            address_space: 4 << 30,
            file_size: 256 << 20,
        }
    }
}

/// `text` cut to `max` characters with `…` when longer, so a message never repeats a
/// megabyte the user (or a model) sent.
pub fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_in_faust_output_are_counted() {
        let voice = "pub struct Voice {\n\tfVec0: [F32;1024],\n\tiRec0: [i32;2],\n\tfRec1: [F64; 4],\n}\nfn new() -> Voice { Voice { fVec0: [0.0;1024], iRec0: [0;2], fRec1: [0.0;4] } }\nstatic mut ftbl0VoiceSIG0: [F32;65536] = [0.0;65536];\n";
        let f = Footprint::of_faust_output(voice, Some("struct Effect { fVec0: [F32;10], }"));
        assert_eq!(f.voice, 1024 * 4 + 2 * 4 + 4 * 8);
        assert_eq!(f.statics, 65536 * 4);
        assert_eq!(f.effect, 40);
    }

    #[test]
    fn a_bank_over_the_budget_is_refused_with_its_size() {
        let small = Footprint {
            voice: 1 << 20,
            effect: 1 << 20,
            statics: 0,
        };
        assert!(small.check().is_ok());
        let huge = Footprint {
            voice: 4_000_000_000,
            effect: 0,
            statics: 0,
        };
        let message = huge.check().unwrap_err();
        assert!(
            message.starts_with(
                "refused: the patch needs 59.6 GiB of memory for 16 voices (3.7 GiB per voice)"
            ),
            "{message}"
        );
        assert!(
            message.contains("over the 64 MiB a patch may use"),
            "{message}"
        );
    }

    #[test]
    fn sizes_and_cut_text_read_well() {
        assert_eq!(bytes(312), "312 bytes");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(64 << 20), "64 MiB");
        assert_eq!(cut("abcdef", 3), "abc…");
        assert_eq!(cut("abc", 3), "abc");
        assert_eq!(cut("ééé", 2), "éé…");
    }
}
