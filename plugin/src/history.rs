//! The patch history: every patch that went live, oldest first, bounded, with a cursor for
//! undo/redo and a second mark for A/B comparison. Saved with the DAW project.
//!
//! Going live with a new patch appends it and moves the cursor to it (nothing is thrown
//! away by designing after an undo: the history is a record, not a branch). Undo and redo
//! move the cursor; A/B flips between the cursor and the patch that was live before it.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use mephisto_patch::PatchSpec;

/// How many patches are kept; the oldest go first.
pub const HISTORY_LIMIT: usize = 100;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "SavedHistory")]
pub struct History {
    entries: VecDeque<PatchSpec>,
    /// The entry playing now, when the history holds one.
    cursor: Option<usize>,
    /// The entry A/B compares against: the one that was live before the cursor's.
    other: Option<usize>,
}

impl History {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn entries(&self) -> impl Iterator<Item = &PatchSpec> {
        self.entries.iter()
    }

    pub fn get(&self, index: usize) -> Option<&PatchSpec> {
        self.entries.get(index)
    }

    /// The index of the entry playing now.
    pub fn cursor(&self) -> Option<usize> {
        self.cursor
    }

    /// The entry playing now.
    pub fn current(&self) -> Option<&PatchSpec> {
        self.cursor.and_then(|i| self.entries.get(i))
    }

    /// Records a patch that went live. The same patch as the current one is not recorded
    /// twice.
    pub fn record(&mut self, spec: PatchSpec) {
        if self.current() == Some(&spec) {
            return;
        }
        self.other = self.cursor;
        self.entries.push_back(spec);
        if self.entries.len() > HISTORY_LIMIT {
            self.entries.pop_front();
            self.other = self.other.and_then(|i| i.checked_sub(1));
        }
        self.cursor = Some(self.entries.len() - 1);
    }

    /// Replaces the current entry when it is `old` with `new` (the same patch with its macros
    /// calibrated after it went live); says whether it did.
    pub fn replace_current(&mut self, old: &PatchSpec, new: PatchSpec) -> bool {
        match self.cursor {
            Some(i) if self.entries.get(i) == Some(old) => {
                self.entries[i] = new;
                true
            }
            _ => false,
        }
    }

    /// Marks entry `index` as live (after undo, redo, A/B or a pick from the list went
    /// live), remembering the previous one for A/B.
    pub fn mark_live(&mut self, index: usize) {
        if index < self.entries.len() && self.cursor != Some(index) {
            self.other = self.cursor;
            self.cursor = Some(index);
        }
    }

    /// The entry undo goes to, without moving.
    pub fn undo_target(&self) -> Option<usize> {
        self.cursor.and_then(|i| i.checked_sub(1))
    }

    /// The entry redo goes to, without moving.
    pub fn redo_target(&self) -> Option<usize> {
        self.cursor
            .map(|i| i + 1)
            .filter(|&i| i < self.entries.len())
    }

    /// The entry A/B switches to: the patch live before the current one.
    pub fn compare_target(&self) -> Option<usize> {
        self.other.filter(|&i| i < self.entries.len())
    }
}

/// A history as a project stores it, before its indices are checked.
#[derive(Default, Deserialize)]
#[serde(default)]
struct SavedHistory {
    entries: VecDeque<PatchSpec>,
    cursor: Option<usize>,
    other: Option<usize>,
}

impl From<SavedHistory> for History {
    /// Keeps the newest entries up to the limit and drops indices that point nowhere, so a
    /// damaged or edited project cannot make undo ask for an entry that is not there.
    fn from(saved: SavedHistory) -> History {
        let mut entries = saved.entries;
        let dropped = entries.len().saturating_sub(HISTORY_LIMIT);
        entries.drain(..dropped);
        let valid = |i: Option<usize>| {
            i.and_then(|i| i.checked_sub(dropped))
                .filter(|&i| i < entries.len())
        };
        History {
            cursor: valid(saved.cursor),
            other: valid(saved.other),
            entries,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mephisto_patch::{BuildSpec, PatchSpec};

    fn spec(name: &str) -> PatchSpec {
        let mut spec = PatchSpec::from_builtin(0).unwrap();
        spec.name = name.to_string();
        spec
    }

    #[test]
    fn undo_redo_and_compare_walk_the_record() {
        let mut h = History::default();
        assert_eq!(h.undo_target(), None);
        for name in ["a", "b", "c"] {
            h.record(spec(name));
        }
        assert_eq!(h.current().unwrap().name, "c");
        assert_eq!(h.undo_target(), Some(1));
        assert_eq!(h.redo_target(), None);
        assert_eq!(h.compare_target(), Some(1));

        h.mark_live(1);
        assert_eq!(h.current().unwrap().name, "b");
        assert_eq!(h.redo_target(), Some(2));
        assert_eq!(h.compare_target(), Some(2));

        // Designing after an undo appends; nothing is lost.
        h.record(spec("d"));
        assert_eq!(h.len(), 4);
        assert_eq!(h.current().unwrap().name, "d");
        assert_eq!(h.compare_target(), Some(1));
    }

    #[test]
    fn the_same_patch_is_not_recorded_twice() {
        let mut h = History::default();
        h.record(spec("a"));
        h.record(spec("a"));
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn it_keeps_the_newest_entries_up_to_the_limit() {
        let mut h = History::default();
        for i in 0..HISTORY_LIMIT + 7 {
            h.record(spec(&format!("p{i}")));
        }
        assert_eq!(h.len(), HISTORY_LIMIT);
        assert_eq!(h.get(0).unwrap().name, "p7");
        assert_eq!(h.cursor(), Some(HISTORY_LIMIT - 1));
        assert_eq!(h.compare_target(), Some(HISTORY_LIMIT - 2));
    }

    #[test]
    fn a_saved_history_survives_json_and_bad_indices_are_dropped() {
        let mut h = History::default();
        h.record(spec("a"));
        h.record(spec("b"));
        let text = serde_json::to_string(&h).unwrap();
        let back: History = serde_json::from_str(&text).unwrap();
        assert_eq!(back, h);

        let fixed: History =
            serde_json::from_str(r#"{"entries": [], "cursor": 5, "other": 2}"#).unwrap();
        assert_eq!(fixed.cursor(), None);
        assert_eq!(fixed.compare_target(), None);
    }
}
