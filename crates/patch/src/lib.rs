//! Patches as data and what turns them into sound:
//!
//! * [`spec`]: PatchSpec, the JSON document a patch travels in (pure data: serde, schema,
//!   validation);
//! * [`graph`]: synth graphs, the small patch language Mephisto writes Faust for itself;
//! * [`build`]: a spec's program (built-in, compiled or neural), its instances, and the
//!   whole build a worker runs ([`build::Builder`]);
//! * [`sanity`]: the gate a program passes before it may play;
//! * [`level`]: the loudness every designed patch is levelled to, through its output trim;
//! * [`probe`]: the notes played on a patch to measure it;
//! * [`render`], [`effect`], [`score`]: offline rendering of scores and effect programs,
//!   WAV files, the score syntax;
//! * [`files`]: reading a user's files (regular files only, size checked first).

pub mod build;
pub mod effect;
pub mod error;
pub mod files;
pub mod graph;
mod json_path;
pub mod level;
pub mod probe;
pub mod render;
pub mod sanity;
pub mod score;
pub mod side_by_side;
pub mod spec;
pub mod transfer;

pub use build::{BuildSpec, Builder, Built, OfflinePatch, Program};
pub use error::{BuildError, Setting};
pub use spec::PatchSpec;
