//! Mephisto as a standalone application (JACK, or ALSA through cpal): `mephisto-standalone --help`.

fn main() {
    nice_plug::prelude::nice_export_standalone::<mephisto::Mephisto>();
}
