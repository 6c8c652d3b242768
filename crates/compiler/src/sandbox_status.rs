//! Whether the compilers run inside the Landlock sandbox: one type for the Linux sandbox and
//! for the fallback where Landlock does not exist.

/// Whether Landlock confines the compilers on this machine, asked once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SandboxStatus {
    /// The kernel enforces Landlock at this ABI version.
    Enforced { abi: i32 },
    /// It does not; the reason, for the one note the compiler gives.
    Unavailable(String),
}

impl SandboxStatus {
    pub fn enforced(&self) -> bool {
        matches!(self, SandboxStatus::Enforced { .. })
    }

    /// The note a compile gives (once) when the compilers run without Landlock.
    pub fn note(&self) -> Option<String> {
        match self {
            SandboxStatus::Enforced { .. } => None,
            SandboxStatus::Unavailable(why) => Some(format!(
                "the compilers run without the Landlock sandbox ({why}); programs may import only the standard Faust libraries and mephisto.lib, by name"
            )),
        }
    }
}
