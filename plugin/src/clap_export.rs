//! The CLAP entry point. nice-plug's `nice_export_clap!` offers only the plugin factory, and
//! its plugin answers no preset-load extension, so hosts with preset browsers would see no
//! presets. This entry offers nice-plug's two plugins of the library (the instrument and
//! Mephisto FX, unchanged) plus two things around the instrument:
//!
//! * a **preset discovery factory** whose one provider lists the built-in patches (a
//!   location inside the plugin) and the PatchSpec files in the user's patch folder (a file
//!   location), from [`crate::presets`];
//! * the **preset-load extension** on every plugin instance: the instance's
//!   `get_extension` answers `clap.preset-load` itself and passes every other id to
//!   nice-plug's. Loading a preset hands the preset's plugin state to nice-plug's wrapper
//!   (`set_state_object_from_gui`, the path a state load from the plugin's own window
//!   takes), so a preset restores exactly like a project.

use std::ffi::{c_char, c_void, CStr, CString};
use std::path::Path;
use std::sync::{Arc, OnceLock};

use clap_sys::entry::clap_plugin_entry;
use clap_sys::ext::preset_load::{
    clap_plugin_preset_load, CLAP_EXT_PRESET_LOAD, CLAP_EXT_PRESET_LOAD_COMPAT,
};
use clap_sys::factory::plugin_factory::{clap_plugin_factory, CLAP_PLUGIN_FACTORY_ID};
use clap_sys::factory::preset_discovery::*;
use clap_sys::host::clap_host;
use clap_sys::plugin::{clap_plugin, clap_plugin_descriptor};
use clap_sys::universal_plugin_id::clap_universal_plugin_id;
use clap_sys::version::CLAP_VERSION;
use nice_plug::prelude::*;
use nice_plug::wrapper::clap::{PluginDescriptor, Wrapper};

use crate::fx::MephistoFx;
use crate::presets::{self, PresetInfo};
use crate::Mephisto;

/// The CLAP entry point hosts look up.
#[no_mangle]
#[used]
pub static clap_entry: clap_plugin_entry = clap_plugin_entry {
    clap_version: CLAP_VERSION,
    init: Some(init),
    deinit: Some(deinit),
    get_factory: Some(get_factory),
};

unsafe extern "C" fn init(_plugin_path: *const c_char) -> bool {
    nice_plug::wrapper::setup_logger::<Mephisto>();
    true
}

unsafe extern "C" fn deinit() {}

unsafe extern "C" fn get_factory(factory_id: *const c_char) -> *const c_void {
    if factory_id.is_null() {
        return std::ptr::null();
    }
    // SAFETY: the host passes a NUL-terminated id.
    let id = unsafe { CStr::from_ptr(factory_id) };
    if id == CLAP_PLUGIN_FACTORY_ID {
        &PLUGIN_FACTORY as *const _ as *const c_void
    } else if id == CLAP_PRESET_DISCOVERY_FACTORY_ID
        || id == CLAP_PRESET_DISCOVERY_FACTORY_ID_COMPAT
    {
        &PRESET_FACTORY as *const _ as *const c_void
    } else {
        std::ptr::null()
    }
}

// --- The plugin factory: nice-plug's plugin, with the preset-load extension added ----------

static PLUGIN_FACTORY: clap_plugin_factory = clap_plugin_factory {
    get_plugin_count: Some(get_plugin_count),
    get_plugin_descriptor: Some(get_plugin_descriptor),
    create_plugin: Some(create_plugin),
};

type GetExtension = unsafe extern "C" fn(*const clap_plugin, *const c_char) -> *const c_void;

/// nice-plug's `get_extension` (the same function for every instance).
static NICE_GET_EXTENSION: OnceLock<Option<GetExtension>> = OnceLock::new();

fn descriptor() -> &'static PluginDescriptor {
    static DESCRIPTOR: OnceLock<PluginDescriptor> = OnceLock::new();
    DESCRIPTOR.get_or_init(PluginDescriptor::for_plugin::<Mephisto>)
}

/// Mephisto FX, the library's second plugin: nice-plug's plugin as it is (no presets).
fn fx_descriptor() -> &'static PluginDescriptor {
    static DESCRIPTOR: OnceLock<PluginDescriptor> = OnceLock::new();
    DESCRIPTOR.get_or_init(PluginDescriptor::for_plugin::<MephistoFx>)
}

/// The library's plugins in factory order: the instrument, then Mephisto FX.
fn descriptors() -> [&'static PluginDescriptor; 2] {
    [descriptor(), fx_descriptor()]
}

unsafe extern "C" fn get_plugin_count(_factory: *const clap_plugin_factory) -> u32 {
    descriptors().len() as u32
}

unsafe extern "C" fn get_plugin_descriptor(
    _factory: *const clap_plugin_factory,
    index: u32,
) -> *const clap_plugin_descriptor {
    descriptors()
        .get(index as usize)
        .map_or(std::ptr::null(), |d| d.clap_plugin_descriptor())
}

unsafe extern "C" fn create_plugin(
    _factory: *const clap_plugin_factory,
    host: *const clap_host,
    plugin_id: *const c_char,
) -> *const clap_plugin {
    if plugin_id.is_null() {
        return std::ptr::null();
    }
    // SAFETY: the host passes a NUL-terminated id.
    let plugin_id = unsafe { CStr::from_ptr(plugin_id) };
    if plugin_id == fx_descriptor().clap_id() {
        // As nice-plug's own export does: the Arc is taken back in the wrapper's `destroy`.
        // SAFETY: the host pointer is valid for the plugin's lifetime (CLAP's contract).
        let wrapper = Arc::into_raw(unsafe { Wrapper::<MephistoFx>::new(host) });
        // SAFETY: `wrapper` is alive until `destroy`.
        return unsafe { (*wrapper).clap_plugin.as_ptr() };
    }
    if plugin_id != descriptor().clap_id() {
        return std::ptr::null();
    }
    // SAFETY: as above.
    let wrapper = Arc::into_raw(unsafe { Wrapper::<Mephisto>::new(host) });
    // SAFETY: `wrapper` is alive until `destroy`; the host has not seen the plugin yet, so
    // nothing else reads the struct while its `get_extension` is replaced.
    unsafe {
        let plugin = (*wrapper).clap_plugin.as_ptr();
        let _ = NICE_GET_EXTENSION.set((*plugin).get_extension);
        (*plugin).get_extension = Some(get_extension);
        plugin
    }
}

unsafe extern "C" fn get_extension(plugin: *const clap_plugin, id: *const c_char) -> *const c_void {
    // SAFETY: the host passes a NUL-terminated id.
    if !id.is_null() {
        let id = unsafe { CStr::from_ptr(id) };
        if id == CLAP_EXT_PRESET_LOAD || id == CLAP_EXT_PRESET_LOAD_COMPAT {
            return &PRESET_LOAD as *const _ as *const c_void;
        }
    }
    match NICE_GET_EXTENSION.get() {
        // SAFETY: nice-plug's function, called as the host called ours.
        Some(Some(nice)) => unsafe { nice(plugin, id) },
        _ => std::ptr::null(),
    }
}

static PRESET_LOAD: clap_plugin_preset_load = clap_plugin_preset_load {
    from_location: Some(from_location),
};

unsafe extern "C" fn from_location(
    plugin: *const clap_plugin,
    location_kind: clap_preset_discovery_location_kind,
    location: *const c_char,
    load_key: *const c_char,
) -> bool {
    if plugin.is_null() {
        return false;
    }
    // SAFETY: the host passes an instance this factory made, whose `plugin_data` is
    // nice-plug's wrapper (as nice-plug's own extension functions read it).
    let wrapper = unsafe { &*((*plugin).plugin_data as *const Wrapper<Mephisto>) };
    // SAFETY: the host passes NUL-terminated strings or null.
    let (location, load_key) = unsafe { (optional_str(location), optional_str(load_key)) };
    let file = location_kind == CLAP_PRESET_DISCOVERY_LOCATION_FILE;
    match presets::resolve(file, location.as_deref(), load_key.as_deref()) {
        Ok(preset) => {
            wrapper.set_state_object_from_gui(presets::state_for(&preset));
            true
        }
        Err(why) => {
            nice_error!("Mephisto cannot load the preset: {why}");
            false
        }
    }
}

/// # Safety
/// `text` is null or a NUL-terminated string.
unsafe fn optional_str(text: *const c_char) -> Option<String> {
    (!text.is_null()).then(|| {
        // SAFETY: as the caller promises.
        unsafe { CStr::from_ptr(text) }
            .to_string_lossy()
            .into_owned()
    })
}

// --- Preset discovery -------------------------------------------------------------------

static PRESET_FACTORY: clap_preset_discovery_factory = clap_preset_discovery_factory {
    count: Some(provider_count),
    get_descriptor: Some(provider_descriptor),
    create: Some(create_provider),
};

const PROVIDER_ID: &CStr = c"com.mephisto-audio.mephisto.patches";

static PROVIDER_DESCRIPTOR: clap_preset_discovery_provider_descriptor =
    clap_preset_discovery_provider_descriptor {
        clap_version: CLAP_VERSION,
        id: PROVIDER_ID.as_ptr(),
        name: c"Mephisto patches".as_ptr(),
        vendor: c"Mephisto Audio".as_ptr(),
    };

unsafe extern "C" fn provider_count(_factory: *const clap_preset_discovery_factory) -> u32 {
    1
}

unsafe extern "C" fn provider_descriptor(
    _factory: *const clap_preset_discovery_factory,
    index: u32,
) -> *const clap_preset_discovery_provider_descriptor {
    if index == 0 {
        &PROVIDER_DESCRIPTOR
    } else {
        std::ptr::null()
    }
}

/// One provider: the CLAP struct first, so a pointer to it is a pointer to this.
#[repr(C)]
struct Provider {
    clap: clap_preset_discovery_provider,
    indexer: *const clap_preset_discovery_indexer,
}

unsafe extern "C" fn create_provider(
    _factory: *const clap_preset_discovery_factory,
    indexer: *const clap_preset_discovery_indexer,
    provider_id: *const c_char,
) -> *const clap_preset_discovery_provider {
    // SAFETY: the host passes a NUL-terminated id.
    if indexer.is_null()
        || provider_id.is_null()
        || unsafe { CStr::from_ptr(provider_id) } != PROVIDER_ID
    {
        return std::ptr::null();
    }
    let provider = Box::into_raw(Box::new(Provider {
        clap: clap_preset_discovery_provider {
            desc: &PROVIDER_DESCRIPTOR,
            provider_data: std::ptr::null_mut(),
            init: Some(provider_init),
            destroy: Some(provider_destroy),
            get_metadata: Some(provider_get_metadata),
            get_extension: Some(provider_get_extension),
        },
        indexer,
    }));
    provider as *const clap_preset_discovery_provider
}

/// The strings one declaration points to, alive while the host reads them.
struct Declared {
    name: CString,
    location: Option<CString>,
}

unsafe extern "C" fn provider_init(provider: *const clap_preset_discovery_provider) -> bool {
    // SAFETY: `provider` is the first field of a `Provider` this factory made.
    let indexer = unsafe { &*(*(provider as *const Provider)).indexer };
    let filetype = clap_preset_discovery_filetype {
        name: c"Mephisto patch".as_ptr(),
        description: c"A PatchSpec: a designed patch saved by Mephisto".as_ptr(),
        file_extension: c"json".as_ptr(),
    };
    // SAFETY: the indexer's functions, called with structs that outlive the calls.
    unsafe {
        if let Some(declare) = indexer.declare_filetype {
            declare(indexer, &filetype);
        }
    }
    let mut locations = vec![(
        CLAP_PRESET_DISCOVERY_IS_FACTORY_CONTENT,
        CLAP_PRESET_DISCOVERY_LOCATION_PLUGIN,
        Declared {
            name: c"Mephisto built-in patches".to_owned(),
            location: None,
        },
    )];
    if let Some(dir) = presets::user_patch_dir().filter(|d| d.is_dir()) {
        if let Ok(path) = CString::new(dir.to_string_lossy().into_owned()) {
            locations.push((
                CLAP_PRESET_DISCOVERY_IS_USER_CONTENT,
                CLAP_PRESET_DISCOVERY_LOCATION_FILE,
                Declared {
                    name: c"Mephisto patches (your patch folder)".to_owned(),
                    location: Some(path),
                },
            ));
        }
    }
    let Some(declare) = indexer.declare_location else {
        return false;
    };
    locations.iter().all(|(flags, kind, declared)| {
        let location = clap_preset_discovery_location {
            flags: *flags,
            name: declared.name.as_ptr(),
            kind: *kind,
            location: declared
                .location
                .as_ref()
                .map_or(std::ptr::null(), |l| l.as_ptr()),
        };
        // SAFETY: as above.
        unsafe { declare(indexer, &location) }
    })
}

unsafe extern "C" fn provider_destroy(provider: *const clap_preset_discovery_provider) {
    if !provider.is_null() {
        // SAFETY: made by `Box::into_raw` in `create_provider`, destroyed once by the host.
        drop(unsafe { Box::from_raw(provider as *mut Provider) });
    }
}

unsafe extern "C" fn provider_get_extension(
    _provider: *const clap_preset_discovery_provider,
    _extension_id: *const c_char,
) -> *const c_void {
    std::ptr::null()
}

unsafe extern "C" fn provider_get_metadata(
    _provider: *const clap_preset_discovery_provider,
    location_kind: clap_preset_discovery_location_kind,
    location: *const c_char,
    receiver: *const clap_preset_discovery_metadata_receiver,
) -> bool {
    if receiver.is_null() {
        return false;
    }
    // SAFETY: the host's receiver, valid for this call.
    let receiver = unsafe { &*receiver };
    if location_kind == CLAP_PRESET_DISCOVERY_LOCATION_PLUGIN {
        for info in presets::builtin_presets() {
            // SAFETY: as above.
            if !unsafe { announce(receiver, &info, CLAP_PRESET_DISCOVERY_IS_FACTORY_CONTENT) } {
                break;
            }
        }
        return true;
    }
    // SAFETY: the host passes a NUL-terminated path for a file location.
    let Some(path) = (unsafe { optional_str(location) }) else {
        return false;
    };
    match presets::file_preset(Path::new(&path)) {
        Ok(info) => {
            // SAFETY: as above.
            unsafe { announce(receiver, &info, CLAP_PRESET_DISCOVERY_IS_USER_CONTENT) };
            true
        }
        Err(why) => {
            if let (Some(on_error), Ok(message)) = (
                receiver.on_error,
                CString::new(format!("{path} is not a Mephisto patch: {why}")),
            ) {
                // SAFETY: as above.
                unsafe { on_error(receiver, 0, message.as_ptr()) };
            }
            false
        }
    }
}

/// Tells the receiver about one preset; `false` when it wants no more.
///
/// # Safety
/// `receiver` is the host's receiver for the current `get_metadata` call.
unsafe fn announce(
    receiver: &clap_preset_discovery_metadata_receiver,
    info: &PresetInfo,
    flags: u32,
) -> bool {
    let text = |s: &str| CString::new(s.replace('\0', " ")).unwrap_or_default();
    let name = text(&info.name);
    let key = info.load_key.as_deref().map(text);
    let Some(begin) = receiver.begin_preset else {
        return false;
    };
    // SAFETY: the receiver's functions, called with strings that outlive each call.
    unsafe {
        if !begin(
            receiver,
            name.as_ptr(),
            key.as_ref().map_or(std::ptr::null(), |k| k.as_ptr()),
        ) {
            return false;
        }
        let plugin = clap_universal_plugin_id {
            abi: c"clap".as_ptr(),
            id: descriptor().clap_id().as_ptr(),
        };
        if let Some(add) = receiver.add_plugin_id {
            add(receiver, &plugin);
        }
        if let Some(set) = receiver.set_flags {
            set(receiver, flags);
        }
        if let (Some(set), false) = (receiver.set_description, info.description.is_empty()) {
            set(receiver, text(&info.description).as_ptr());
        }
        if let (Some(add), false) = (receiver.add_feature, info.archetype.is_empty()) {
            add(receiver, text(&info.archetype).as_ptr());
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// What a fake indexer and receiver were told.
    #[derive(Default)]
    struct Heard {
        locations: Vec<(u32, u32, String, Option<String>)>,
        filetypes: Vec<String>,
        presets: Vec<(String, Option<String>)>,
        plugin_ids: Vec<String>,
    }

    static HEARD: Mutex<Option<Heard>> = Mutex::new(None);

    fn heard<R>(f: impl FnOnce(&mut Heard) -> R) -> R {
        f(HEARD.lock().unwrap().get_or_insert_with(Heard::default))
    }

    unsafe fn text(s: *const c_char) -> Option<String> {
        unsafe { optional_str(s) }
    }

    unsafe extern "C" fn declare_filetype(
        _: *const clap_preset_discovery_indexer,
        filetype: *const clap_preset_discovery_filetype,
    ) -> bool {
        let ext = unsafe { text((*filetype).file_extension) }.unwrap();
        heard(|h| h.filetypes.push(ext));
        true
    }

    unsafe extern "C" fn declare_location(
        _: *const clap_preset_discovery_indexer,
        location: *const clap_preset_discovery_location,
    ) -> bool {
        let l = unsafe { &*location };
        let entry = unsafe { (l.flags, l.kind, text(l.name).unwrap(), text(l.location)) };
        heard(|h| h.locations.push(entry));
        true
    }

    unsafe extern "C" fn begin_preset(
        _: *const clap_preset_discovery_metadata_receiver,
        name: *const c_char,
        load_key: *const c_char,
    ) -> bool {
        let entry = unsafe { (text(name).unwrap(), text(load_key)) };
        heard(|h| h.presets.push(entry));
        true
    }

    unsafe extern "C" fn add_plugin_id(
        _: *const clap_preset_discovery_metadata_receiver,
        id: *const clap_universal_plugin_id,
    ) {
        let id = unsafe { text((*id).id) }.unwrap();
        heard(|h| h.plugin_ids.push(id));
    }

    #[test]
    fn the_provider_lists_the_built_ins_and_the_user_patch_folder() {
        let dir = std::env::temp_dir().join(format!("mephisto-discovery-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::env::set_var("MEPHISTO_PATCHES", &dir);
        let indexer = clap_preset_discovery_indexer {
            clap_version: CLAP_VERSION,
            name: c"test".as_ptr(),
            vendor: std::ptr::null(),
            url: std::ptr::null(),
            version: std::ptr::null(),
            indexer_data: std::ptr::null_mut(),
            declare_filetype: Some(declare_filetype),
            declare_location: Some(declare_location),
            declare_soundpack: None,
            get_extension: None,
        };
        let receiver = clap_preset_discovery_metadata_receiver {
            receiver_data: std::ptr::null_mut(),
            on_error: None,
            begin_preset: Some(begin_preset),
            add_plugin_id: Some(add_plugin_id),
            set_soundpack_id: None,
            set_flags: None,
            add_creator: None,
            set_description: None,
            set_timestamps: None,
            add_feature: None,
            add_extra_info: None,
        };
        let factory = unsafe { get_factory(CLAP_PRESET_DISCOVERY_FACTORY_ID.as_ptr()) }
            as *const clap_preset_discovery_factory;
        assert!(!factory.is_null());
        unsafe {
            assert_eq!((*factory).count.unwrap()(factory), 1);
            let desc = (*factory).get_descriptor.unwrap()(factory, 0);
            let provider = (*factory).create.unwrap()(factory, &indexer, (*desc).id);
            assert!(!provider.is_null());
            assert!((*provider).init.unwrap()(provider));
            let get = (*provider).get_metadata.unwrap();
            assert!(get(
                provider,
                CLAP_PRESET_DISCOVERY_LOCATION_PLUGIN,
                std::ptr::null(),
                &receiver
            ));
            let file = CString::new(dir.join("none.json").to_str().unwrap()).unwrap();
            assert!(!get(
                provider,
                CLAP_PRESET_DISCOVERY_LOCATION_FILE,
                file.as_ptr(),
                &receiver
            ));
            (*provider).destroy.unwrap()(provider);
        }
        std::env::remove_var("MEPHISTO_PATCHES");
        std::fs::remove_dir_all(&dir).unwrap();

        let h = HEARD.lock().unwrap().take().unwrap();
        assert_eq!(h.filetypes, ["json"]);
        assert_eq!(h.locations.len(), 2);
        assert_eq!(h.locations[0].1, CLAP_PRESET_DISCOVERY_LOCATION_PLUGIN);
        assert_eq!(h.locations[1].1, CLAP_PRESET_DISCOVERY_LOCATION_FILE);
        assert_eq!(h.locations[1].3.as_deref(), dir.to_str());
        let builtins: Vec<(String, Option<String>)> = presets::builtin_presets()
            .into_iter()
            .map(|p| (p.name, p.load_key))
            .collect();
        assert_eq!(h.presets, builtins);
        assert!(h.plugin_ids.iter().all(|id| id == Mephisto::CLAP_ID));
    }

    #[test]
    fn the_plugin_factory_offers_the_instrument_and_mephisto_fx() {
        let factory =
            unsafe { get_factory(CLAP_PLUGIN_FACTORY_ID.as_ptr()) } as *const clap_plugin_factory;
        assert!(!factory.is_null());
        let ids: Vec<String> = unsafe {
            let count = (*factory).get_plugin_count.unwrap()(factory);
            (0..=count)
                .filter_map(|i| {
                    let desc = (*factory).get_plugin_descriptor.unwrap()(factory, i);
                    (!desc.is_null()).then(|| text((*desc).id).unwrap())
                })
                .collect()
        };
        assert_eq!(ids, [Mephisto::CLAP_ID, MephistoFx::CLAP_ID]);
    }
}
