//! Mephisto's presets as a host's preset browser sees them (CLAP preset discovery, exported
//! by `clap_export.rs`): the built-in patches, and the PatchSpec files in the user's patch
//! folder (`$MEPHISTO_PATCHES`, else `~/mephisto-patches`, where the window's Save button
//! writes by default). Loading a preset loads a plugin state that holds exactly the patch:
//! a built-in's index with `patch_spec` empty, or the file's PatchSpec as `patch_spec`, with
//! the six macros at their neutral 0.5 (the patch as designed). The worker then plays it
//! the way it plays a project's saved patch, and the project's history records it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mephisto_dsp::builtin_patches;
use mephisto_dsp::macros::Macro;
use mephisto_patch::PatchSpec;
use nice_plug::plugin::ParamValue;
use nice_plug::prelude::PluginState;

/// What a host's preset browser lists for one preset.
#[derive(Debug, Clone, PartialEq)]
pub struct PresetInfo {
    pub name: String,
    /// A built-in's name; `None` for a file, which holds one preset.
    pub load_key: Option<String>,
    pub description: String,
    /// The archetype (bass, pad, lead, …), offered as the preset's feature.
    pub archetype: String,
}

/// A preset, ready to load.
#[derive(Debug, Clone, PartialEq)]
pub enum Preset {
    /// The built-in at this index of the patch list.
    Builtin(usize),
    Spec(Box<PatchSpec>),
}

/// The user's patch folder: `$MEPHISTO_PATCHES`, else `~/mephisto-patches`.
pub fn user_patch_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    var("MEPHISTO_PATCHES")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|home| Path::new(&home).join("mephisto-patches")))
}

/// The built-in patches, in the order of the patch list.
pub fn builtin_presets() -> Vec<PresetInfo> {
    builtin_patches()
        .iter()
        .map(|p| PresetInfo {
            name: p.name.to_string(),
            load_key: Some(p.name.to_string()),
            description: p.description.to_string(),
            archetype: p.archetype.to_string(),
        })
        .collect()
}

/// The preset a PatchSpec file holds; an error says why the file is not one.
pub fn file_preset(path: &Path) -> Result<PresetInfo, String> {
    let spec = PatchSpec::from_file(path).map_err(|e| e.to_string())?;
    let description = if spec.prompt.is_empty() {
        spec.notes.clone()
    } else {
        spec.prompt.clone()
    };
    Ok(PresetInfo {
        name: spec.name,
        load_key: None,
        description,
        archetype: spec.archetype,
    })
}

/// The preset at a location: a built-in by its load key (`file` false), or the PatchSpec in
/// the file `location` (`file` true).
pub fn resolve(
    file: bool,
    location: Option<&str>,
    load_key: Option<&str>,
) -> Result<Preset, String> {
    if file {
        let path = location.ok_or("a preset file location without a path")?;
        return PatchSpec::from_file(Path::new(path))
            .map(|spec| Preset::Spec(Box::new(spec)))
            .map_err(|e| format!("the preset {path} cannot be loaded: {e}"));
    }
    let key = load_key.ok_or("a built-in preset without a load key")?;
    builtin_patches()
        .iter()
        .position(|p| p.name == key)
        .map(Preset::Builtin)
        .ok_or_else(|| format!("Mephisto has no built-in patch `{key}`"))
}

/// The plugin state that loads `preset`: only the fields it names change (the master gain,
/// the bypass, the history and the window size stay as they are).
pub fn state_for(preset: &Preset) -> PluginState {
    let mut params = BTreeMap::new();
    for m in Macro::ALL {
        params.insert(m.key().to_string(), ParamValue::F32(0.5));
    }
    let spec = match preset {
        Preset::Builtin(index) => {
            params.insert("patch".to_string(), ParamValue::I32(*index as i32));
            None
        }
        Preset::Spec(spec) => Some(spec.as_ref()),
    };
    let spec = serde_json::to_string(&spec).expect("a PatchSpec always serialises");
    PluginState {
        version: env!("CARGO_PKG_VERSION").to_string(),
        params,
        fields: BTreeMap::from([("patch_spec".to_string(), spec)]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mephisto_patch::BuildSpec;

    #[test]
    fn every_built_in_is_a_preset_that_selects_it() {
        let presets = builtin_presets();
        assert_eq!(presets.len(), builtin_patches().len());
        for (i, info) in presets.iter().enumerate() {
            let preset = resolve(false, None, info.load_key.as_deref()).unwrap();
            assert_eq!(preset, Preset::Builtin(i));
            let state = state_for(&preset);
            assert!(matches!(state.params["patch"], ParamValue::I32(p) if p == i as i32));
            assert_eq!(state.fields["patch_spec"], "null");
            assert!(matches!(state.params["warm"], ParamValue::F32(v) if v == 0.5));
        }
        let err = resolve(false, None, Some("no_such_patch")).unwrap_err();
        assert!(err.contains("no_such_patch"), "{err}");
    }

    #[test]
    fn a_patch_file_is_a_preset_that_restores_its_spec_exactly() {
        let dir = std::env::temp_dir().join(format!("mephisto-presets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut spec = PatchSpec::from_builtin(1).unwrap();
        spec.name = "saved_by_hand".into();
        spec.prompt = "a bell, but darker".into();
        let path = dir.join("saved_by_hand.json");
        std::fs::write(&path, serde_json::to_string_pretty(&spec).unwrap()).unwrap();

        let info = file_preset(&path).unwrap();
        assert_eq!(info.name, "saved_by_hand");
        assert_eq!(info.description, "a bell, but darker");
        assert_eq!(info.load_key, None);
        let preset = resolve(true, path.to_str(), None).unwrap();
        let state = state_for(&preset);
        let restored: Option<PatchSpec> =
            serde_json::from_str(&state.fields["patch_spec"]).unwrap();
        assert_eq!(restored, Some(spec));
        assert!(!state.params.contains_key("patch"), "the selector stays");

        std::fs::write(dir.join("broken.json"), "{ not json").unwrap();
        let err = file_preset(&dir.join("broken.json")).unwrap_err();
        assert!(!err.is_empty());
        assert!(resolve(true, dir.join("missing.json").to_str(), None).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
