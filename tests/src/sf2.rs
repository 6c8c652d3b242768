//! One recorded sample out of a SoundFont 2 file (a RIFF `sfbk`: the 16-bit samples in
//! `sdta/smpl`, their headers in `pdta/shdr`), for tests that need a real instrument
//! recording at a known pitch: Debian's `timgm6mb-soundfont` (GPL-2, installed by
//! scripts/setup.sh; read where it is installed, never copied into the repository).

use std::path::Path;

/// Where Debian's timgm6mb-soundfont puts its SoundFont.
pub const TIMGM6MB: &str = "/usr/share/sounds/sf2/TimGM6mb.sf2";

/// A sample and what its header says about it.
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub sample_rate: u32,
    /// The pitch it was recorded at: its original key plus its correction, in Hz.
    pub pitch_hz: f64,
    pub data: Vec<f32>,
    /// The sustain loop, in samples from the start.
    pub loop_start: usize,
    pub loop_end: usize,
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
}

/// The chunks `(id, start of data, size)` between `from` and `to`.
fn chunks(bytes: &[u8], mut from: usize, to: usize) -> Vec<(&[u8], usize, usize)> {
    let mut out = Vec::new();
    while from + 8 <= to {
        let size = u32_at(bytes, from + 4) as usize;
        out.push((&bytes[from..from + 4], from + 8, size));
        from += 8 + size + (size & 1);
    }
    out
}

/// The sample named `name` in the SoundFont at `path`.
pub fn read_sample(path: &Path, name: &str) -> Result<Sample, String> {
    let bytes = std::fs::read(path).map_err(|e| {
        format!(
            "cannot read {}: {e} (scripts/setup.sh installs timgm6mb-soundfont)",
            path.display()
        )
    })?;
    if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"sfbk" {
        return Err(format!("{} is not a SoundFont 2 file", path.display()));
    }
    let list = |kind: &[u8]| {
        chunks(&bytes, 12, bytes.len())
            .into_iter()
            .find(|(id, start, _)| *id == b"LIST" && &bytes[*start..*start + 4] == kind)
            .map(|(_, start, size)| (start + 4, start + size))
            .ok_or_else(|| format!("no {} list", String::from_utf8_lossy(kind)))
    };
    let find = |(from, to): (usize, usize), id: &[u8]| {
        chunks(&bytes, from, to)
            .into_iter()
            .find(|(c, _, _)| *c == id)
            .map(|(_, start, size)| (start, size))
            .ok_or_else(|| format!("no {} chunk", String::from_utf8_lossy(id)))
    };
    let (smpl, _) = find(list(b"sdta")?, b"smpl")?;
    let (shdr, size) = find(list(b"pdta")?, b"shdr")?;
    for record in bytes[shdr..shdr + size].chunks_exact(46) {
        let title = record[..20].split(|b| *b == 0).next().unwrap_or_default();
        if title != name.as_bytes() {
            continue;
        }
        let field = |i: usize| u32_at(record, 20 + 4 * i) as usize;
        let (start, end, loop_start, loop_end) = (field(0), field(1), field(2), field(3));
        let sample_rate = field(4) as u32;
        let key = f64::from(record[40]) + f64::from(record[41] as i8) / 100.0;
        let data = (start..end)
            .map(|i| {
                let at = smpl + 2 * i;
                f32::from(i16::from_le_bytes([bytes[at], bytes[at + 1]])) / 32768.0
            })
            .collect();
        return Ok(Sample {
            name: name.to_string(),
            sample_rate,
            pitch_hz: 440.0 * 2f64.powf((key - 69.0) / 12.0),
            data,
            loop_start: loop_start - start,
            loop_end: loop_end - start,
        });
    }
    Err(format!("no sample named `{name}` in {}", path.display()))
}

impl Sample {
    /// The sample held for `seconds`, as a sampler plays it: through to the loop's end,
    /// then the loop again and again; at `to_rate` (linear interpolation).
    pub fn held(&self, seconds: f64, to_rate: u32) -> Vec<f32> {
        let step = f64::from(self.sample_rate) / f64::from(to_rate);
        let loop_len = (self.loop_end - self.loop_start).max(1) as f64;
        let at = |position: f64| {
            let position = if position >= self.loop_end as f64 {
                self.loop_start as f64 + (position - self.loop_start as f64) % loop_len
            } else {
                position
            };
            let i = position.floor() as usize;
            let frac = (position - i as f64) as f32;
            let (a, b) = (self.data[i], self.data[(i + 1).min(self.data.len() - 1)]);
            a + (b - a) * frac
        };
        (0..(seconds * f64::from(to_rate)) as usize)
            .map(|n| at(n as f64 * step))
            .collect()
    }
}
