-- Ardour 7 headless session driver for scripts/ardour_roundtrip.sh, run by `ardour7-lua`
-- (Ardour's Lua session tool, /usr/lib/ardour7/luasession, dummy audio backend, no X).
--
--   ardour7-lua session.lua create DIR NAME PATCH NOTES OUT_DIR OUT_NAME END_SECONDS SETTLE_SECONDS
--       New session DIR/NAME.ardour at 48 kHz, 120 bpm: one MIDI track whose instrument is
--       the Mephisto VST3, its "Patch" parameter set to PATCH (built-in index), and one MIDI
--       region holding NOTES = MIDI:START_BEAT:LENGTH_BEATS[,...] at velocity 100. Saves it,
--       then exports it like `render` does, in the same process (no reload in between).
--   ardour7-lua session.lua render DIR NAME OUT_DIR OUT_NAME END_SECONDS SETTLE_SECONDS SAVE [RESET_CCS]
--       Opens the session, lets it run SETTLE_SECONDS (the plugin restores a saved designed
--       patch on its worker thread), exports 0..END_SECONDS of the master bus to
--       OUT_DIR/OUT_NAME.wav (32-bit float, the "mephisto-float" preset the caller put in
--       the private ~/.config/ardour7/export), and saves the session when SAVE is 1 (so
--       the plugin writes its state as it is now). It prints the values Ardour holds for
--       the plugin's MIDI-controller proxy parameters CC 64 (sustain) and CC 1 (mod wheel).
--       RESET_CCS=1 (a diagnostic) first sends CC 64 = 0 and CC 1 = 0 straight to the
--       plugin, as a MIDI file that starts with controller resets would.
--
-- Every step prints "session.lua: ..." and any failure raises a Lua error, which makes
-- ardour7-lua exit non-zero.

local SAMPLE_RATE = 48000
local BPM = 120
-- The preset written by ardour_roundtrip.sh (scripts/ardour/export/mephisto-float.preset).
local EXPORT_PRESET = "5d3c6a5e-2f0b-4c55-9a51-6d2f3c1b7e01"

local function say(...)
	print("session.lua: " .. string.format(...))
	-- Ardour's print goes to a buffered stdout; flush so the log is complete up to here
	-- even when the process dies later (see the note in export_wav).
	io.stdout:flush()
end

local function fail(...)
	error("session.lua: " .. string.format(...), 0)
end

local function mephisto_insert(track)
	local inst = track:the_instrument()
	if inst:isnil() then
		fail("track '%s' has no instrument", track:name())
	end
	if inst:display_name() ~= "Mephisto" then
		fail("the instrument is '%s', not Mephisto (plugin missing from the VST3 scan?)", inst:display_name())
	end
	return inst
end

local function only_midi_track()
	for r in Session:get_routes():iter() do
		local t = r:to_track()
		if not t:isnil() and not t:to_midi_track():isnil() then
			return t
		end
	end
	fail("the session has no MIDI track")
end

local export_wav -- defined below

local function create(dir, name, patch, notes, out_dir, out_name, end_seconds, settle)
	if not create_session(dir, name, SAMPLE_RATE) then
		fail("cannot create session %s/%s", dir, name)
	end
	-- The score is given in beats and checked in seconds: both sides assume 120 bpm, which
	-- is what a new Ardour session starts with. Stop rather than measure the wrong windows.
	local bpm = Temporal.TempoMap.read():tempo_at(Temporal.timepos_t(0)):quarter_notes_per_minute()
	if math.abs(bpm - BPM) > 1e-6 then
		fail("new session tempo is %s bpm, expected %d", tostring(bpm), BPM)
	end

	local info = ARDOUR.LuaAPI.new_plugin_info("Mephisto", ARDOUR.PluginType.VST3)
	if info:isnil() then
		fail("Ardour does not know the Mephisto VST3 (was the bundle scanned?)")
	end
	local tracks = Session:new_midi_track(
		ARDOUR.ChanCount(ARDOUR.DataType("midi"), 1),
		ARDOUR.ChanCount(ARDOUR.DataType("audio"), 2),
		true, info, nil, nil, 1, "Mephisto",
		ARDOUR.PresentationInfo.max_order, ARDOUR.TrackMode.Normal, true)
	if tracks:size() ~= 1 then
		fail("new_midi_track made %d tracks", tracks:size())
	end
	local track = tracks:front()
	local inst = mephisto_insert(track)

	if not ARDOUR.LuaAPI.set_processor_param(inst, 0, patch) then
		fail("cannot set the Patch parameter to %d", patch)
	end
	-- Ardour queues the change and hands it to the plugin in its next process cycle; the
	-- state saved below is asked of the plugin, so let the engine run a few cycles first.
	sleep(0.5)
	say("track '%s', instrument %s, Patch = %s", track:name(), inst:display_name(),
		tostring(ARDOUR.LuaAPI.get_processor_param(inst, 0)))

	-- Ardour 7's Lua has no call that makes a MIDI source from nothing, but bouncing a
	-- track's own (empty) MIDI data does: the nil processor as end point means "the
	-- playlist's data, unprocessed", so the bounce is an empty MIDI region of that length
	-- with its SMF file in interchange/NAME/midifiles. Its model then takes the notes.
	local last_beat = 0
	local parsed = {}
	for midi, start, len in string.gmatch(notes, "(%d+):([%d.]+):([%d.]+)") do
		parsed[#parsed + 1] = { tonumber(midi), tonumber(start), tonumber(len) }
		last_beat = math.max(last_beat, tonumber(start) + tonumber(len))
	end
	if #parsed == 0 then
		fail("no notes in '%s'", notes)
	end
	local region_samples = math.ceil((last_beat + 1) * 60 / BPM * SAMPLE_RATE)
	local itt = ARDOUR.InterThreadInfo()
	local region = track:bounce_range(0, region_samples, itt, ARDOUR.LuaAPI.nil_proc(), false, "phrase", false)
	if region:isnil() then
		fail("bouncing an empty MIDI region failed")
	end
	local mr = region:to_midiregion()
	if mr:isnil() then
		fail("the bounce is not a MIDI region")
	end
	local model = mr:model()
	local cmd = model:new_note_diff_command("phrase")
	-- Beats(beats, ticks), 1920 ticks to the beat.
	local function beats(b)
		local whole = math.floor(b)
		return Temporal.Beats(whole, math.floor((b - whole) * 1920 + 0.5))
	end
	for _, n in ipairs(parsed) do
		cmd:add(ARDOUR.LuaAPI.new_noteptr(0, beats(n[2]), beats(n[3]), n[1], 100))
	end
	model:apply_command(Session, cmd)
	track:playlist():add_region(region, Temporal.timepos_t(0), 1, false)

	local count = 0
	for note in ARDOUR.LuaAPI.note_list(model):iter() do
		count = count + 1
		say("note %d at beat %s for %s beats", note:note(), note:time():str(), note:length():str())
	end
	if count ~= #parsed then
		fail("the region holds %d notes, expected %d", count, #parsed)
	end
	Session:save_state("", false, false, false, false, false)
	say("saved %s/%s.ardour", dir, name)
	export_wav(out_dir, out_name, end_seconds, settle)
end

export_wav = function(out_dir, out_name, end_seconds, settle)
	-- The engine runs (dummy backend, real time) while we wait, so the plugin's worker can
	-- build a saved designed patch and its audio thread can swap it in before export.
	sleep(settle)
	local export = Session:simple_export()
	export:set_name(out_name)
	export:set_folder(out_dir)
	export:set_range(0, math.floor(end_seconds * SAMPLE_RATE))
	if not export:set_preset(EXPORT_PRESET) then
		fail("export preset %s not found (is ~/.config/ardour7/export set up?)", EXPORT_PRESET)
	end
	if not export:check_outputs() then
		fail("export: the master bus has no outputs to export")
	end
	if not export:run_export() then
		fail("export failed")
	end
	-- With Ardour 7.3's session tool, about one export in five leaves the heap corrupted
	-- (the Mephisto-free control session too, less often): the process dies later with
	-- "double free or corruption" / SIGSEGV, mostly when the exporter's
	-- ExportProfileManager is freed, sometimes in the next malloc (e.g. in save_state).
	-- The WAV is complete by then. ardour_roundtrip.sh retries a step that dies before it
	-- printed "session.lua: done", and counts every crash.
	say("exported %s/%s.wav", out_dir, out_name)
end

-- nice-plug (MidiConfig::MidiCCs) lists the plugin's own parameters and then, per MIDI
-- channel, 130 hidden proxy parameters (CC 0-127, channel pressure, pitch bend) that the
-- host turns MIDI controllers into; a change of one reaches the plugin as that controller.
local function cc_proxy_value(inst, channel, cc)
	local count = inst:to_insert():plugin(0):parameter_count()
	local own = count - 16 * 130
	return ARDOUR.LuaAPI.get_processor_param(inst, own + channel * 130 + cc)
end

local function render(dir, name, out_dir, out_name, end_seconds, settle, save, reset_ccs)
	if not load_session(dir, name) then
		fail("cannot load session %s/%s", dir, name)
	end
	local track = only_midi_track()
	local inst = mephisto_insert(track)
	say("loaded; instrument %s, Patch = %s; host-side MIDI proxies: ch1 CC64 (sustain) = %s, CC1 (mod wheel) = %s",
		inst:display_name(), tostring(ARDOUR.LuaAPI.get_processor_param(inst, 0)),
		tostring(cc_proxy_value(inst, 0, 64)), tostring(cc_proxy_value(inst, 0, 1)))
	if reset_ccs == "1" then
		sleep(0.5)
		local parser = ARDOUR.RawMidiParser()
		for _, byte in ipairs({ 0xB0, 64, 0, 0xB0, 1, 0 }) do
			if parser:process_byte(byte) then
				local insert = inst:to_plugininsert()
				if not insert:write_immediate_event(Evoral.EventType.MIDI_EVENT, parser:buffer_size(), parser:midi_buffer()) then
					fail("cannot send a controller reset to the plugin")
				end
			end
		end
		say("sent CC64 = 0 and CC1 = 0 to the plugin")
	end
	export_wav(out_dir, out_name, end_seconds, settle)
	if save == "1" then
		Session:save_state("", false, false, false, false, false)
		say("saved %s/%s.ardour", dir, name)
	end
end

local mode = arg[1]
if mode == "create" then
	create(arg[2], arg[3], tonumber(arg[4]), arg[5], arg[6], arg[7], tonumber(arg[8]), tonumber(arg[9]))
elseif mode == "render" then
	render(arg[2], arg[3], arg[4], arg[5], tonumber(arg[6]), tonumber(arg[7]), arg[8], arg[9])
else
	fail("usage: session.lua create DIR NAME PATCH NOTES OUT_DIR OUT_NAME END_S SETTLE_S | render DIR NAME OUT_DIR OUT_NAME END_S SETTLE_S SAVE [RESET_CCS]")
end
say("done")
close_session()
quit()
