//! Values the DAW project keeps for the plugin (the live PatchSpec, the history), read so
//! that nothing is lost: data that cannot be read as this version's type is kept verbatim
//! (and written back unchanged) together with the reason, so the plugin can tell the
//! producer and a later version can still read it.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum Stored<T> {
    Value(T),
    /// What the project held, unchanged, and why it could not be read.
    Unreadable {
        raw: Value,
        reason: String,
    },
}

impl<T: Default> Default for Stored<T> {
    fn default() -> Self {
        Stored::Value(T::default())
    }
}

impl<T> Stored<T> {
    /// The value, when it could be read.
    pub fn value(&self) -> Option<&T> {
        match self {
            Stored::Value(value) => Some(value),
            Stored::Unreadable { .. } => None,
        }
    }

    /// Why the project's data could not be read, if it could not.
    pub fn unreadable_reason(&self) -> Option<&str> {
        match self {
            Stored::Value(_) => None,
            Stored::Unreadable { reason, .. } => Some(reason),
        }
    }
}

impl<T: Serialize> Serialize for Stored<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Stored::Value(value) => value.serialize(serializer),
            Stored::Unreadable { raw, .. } => raw.serialize(serializer),
        }
    }
}

impl<'de, T: for<'a> Deserialize<'a>> Deserialize<'de> for Stored<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Value::deserialize(deserializer)?;
        Ok(match serde_path_to_error::deserialize::<_, T>(&raw) {
            Ok(value) => Stored::Value(value),
            Err(e) => {
                let path = e.path().to_string();
                let reason = if path == "." {
                    e.inner().to_string()
                } else {
                    format!("`{path}`: {}", e.inner())
                };
                Stored::Unreadable { raw, reason }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Thing {
        size: u32,
    }

    #[test]
    fn readable_data_is_read_and_written_back_the_same() {
        let stored: Stored<Thing> = serde_json::from_str(r#"{"size": 3}"#).unwrap();
        assert_eq!(stored, Stored::Value(Thing { size: 3 }));
        assert_eq!(serde_json::to_string(&stored).unwrap(), r#"{"size":3}"#);
    }

    #[test]
    fn unreadable_data_is_kept_verbatim_with_the_reason() {
        let text = r#"{"size":"big","extra":[1,2]}"#;
        let stored: Stored<Thing> = serde_json::from_str(text).unwrap();
        let reason = stored.unreadable_reason().unwrap();
        assert!(reason.contains("size"), "{reason}");
        assert_eq!(stored.value(), None);
        let back: Value = serde_json::from_str(&serde_json::to_string(&stored).unwrap()).unwrap();
        assert_eq!(back, serde_json::from_str::<Value>(text).unwrap());
    }
}
