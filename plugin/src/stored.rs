//! Values the DAW project keeps for the plugin (the live PatchSpec, the history), read so
//! that nothing is lost: data that cannot be read as this version's type is kept verbatim
//! (and written back unchanged) together with the reason, so the plugin can tell the
//! producer and a later version can still read it.
//!
//! The host may load a project's (or a preset's) state at any time, also after the plugin
//! was activated (Ardour activates, then loads), so the fields it loads are [`HostLoaded`]:
//! each load is counted and the worker acts on a new count.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use nice_plug::params::persist::PersistentField;
use parking_lot::RwLock;
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

/// A persisted field the host loads: the value (shared with the worker and the window) and
/// a counter, shared by every field of one plugin instance, that each load by the host
/// advances. Writes by the plugin itself go through the lock and count nothing.
pub struct HostLoaded<T> {
    value: Arc<RwLock<T>>,
    loads: Arc<AtomicU64>,
}

impl<T> HostLoaded<T> {
    pub fn new(value: T, loads: Arc<AtomicU64>) -> Self {
        HostLoaded {
            value: Arc::new(RwLock::new(value)),
            loads,
        }
    }

    /// The value, shared.
    pub fn shared(&self) -> Arc<RwLock<T>> {
        self.value.clone()
    }

    /// How many times the host has loaded state into this plugin instance.
    pub fn loads(&self) -> u64 {
        self.loads.load(Ordering::Acquire)
    }

    /// The counter of the host's loads, for whoever follows them (the worker).
    pub fn load_counter(&self) -> Arc<AtomicU64> {
        self.loads.clone()
    }
}

impl<T> std::ops::Deref for HostLoaded<T> {
    type Target = RwLock<T>;

    fn deref(&self) -> &RwLock<T> {
        &self.value
    }
}

impl<'a, T> PersistentField<'a, T> for HostLoaded<T>
where
    T: Serialize + Deserialize<'a> + Send + Sync,
{
    fn set(&self, new_value: T) {
        *self.value.write() = new_value;
        self.loads.fetch_add(1, Ordering::AcqRel);
    }

    fn map<F, R>(&self, f: F) -> R
    where
        F: Fn(&T) -> R,
    {
        f(&self.value.read())
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
    fn a_load_by_the_host_is_counted_and_a_write_by_the_plugin_is_not() {
        let loads = Arc::new(AtomicU64::new(0));
        let a = HostLoaded::new(1u32, loads.clone());
        let b = HostLoaded::new(2u32, loads.clone());
        *a.write() = 5;
        assert_eq!((a.loads(), *a.read()), (0, 5));
        PersistentField::set(&a, 7);
        PersistentField::set(&b, 8);
        assert_eq!((a.loads(), b.loads()), (2, 2));
        assert_eq!(PersistentField::map(&b, |v| *v), 8);
        assert_eq!(*a.shared().read(), 7);
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
