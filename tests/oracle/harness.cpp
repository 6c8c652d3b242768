// Mephisto oracle render harness.
//
// Renders a Faust patch (voice + optional effect, both compiled to C++ by the Faust
// compiler) from a list of timed parameter events, with exactly the semantics the Rust
// engine mirrors, so its output can serve as a correctness oracle.
//
// Build (T = a scratch folder):
//   faust -lang cpp -I faust -cn MephistoVoice -o $T/voice.h faust/patches/X.dsp
//   faust -lang cpp -I faust -pn effect -cn MephistoEffect -o $T/effect.h faust/patches/X.dsp
//   g++ -O2 -std=c++17 -I$T [-DHAS_EFFECT] tests/oracle/harness.cpp -o $T/harness
// Run:
//   $T/harness SAMPLE_RATE FRAMES EVENTS.txt OUT.f32
//
// EVENTS.txt: one event per line, `FRAME TARGET LABEL VALUE`, sorted by FRAME.
//   TARGET is `v0`, `v1`, ... (a voice instance) or `fx` (the effect). Blank lines and
//   lines starting with `#` are ignored.
//
// Semantics:
//   * Every DSP instance is init(SAMPLE_RATE) before rendering.
//   * A voice is created on its first mention and computed from the frame of its first
//     event on (not before: its oscillators start at that frame), then every frame.
//   * Events of a frame are applied (by label) before that frame is computed; rendering
//     goes in blocks of up to 64 frames, split at event frames.
//   * Voices are summed in index order into a stereo bus (a mono voice feeds both
//     sides); the bus goes through the effect when there is one; the result is written
//     as little-endian float32, interleaved stereo, FRAMES frames. No other gain.

#include <faust/dsp/dsp.h>
#include <faust/gui/UI.h>
#include <faust/gui/meta.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

// Both generated headers define FAUSTCLASS only when it is not already defined, so it
// is undefined after each of them.
#include "voice.h"
#undef FAUSTCLASS
#ifdef HAS_EFFECT
#include "effect.h"
#undef FAUSTCLASS
#endif

namespace {

const int kMaxBlock = 64;

[[noreturn]] void fail(const std::string& message) {
    std::fprintf(stderr, "harness: error: %s\n", message.c_str());
    std::exit(1);
}

// Collects the controls of a DSP by their plain label (metadata already stripped by
// the Faust compiler), ignoring the group path.
class LabelUI : public UI {
  public:
    std::map<std::string, FAUSTFLOAT*> zones;
    std::string duplicate;

    void openTabBox(const char*) override {}
    void openHorizontalBox(const char*) override {}
    void openVerticalBox(const char*) override {}
    void closeBox() override {}
    void addButton(const char* label, FAUSTFLOAT* zone) override { add(label, zone); }
    void addCheckButton(const char* label, FAUSTFLOAT* zone) override { add(label, zone); }
    void addVerticalSlider(const char* label, FAUSTFLOAT* zone, FAUSTFLOAT, FAUSTFLOAT, FAUSTFLOAT,
                           FAUSTFLOAT) override {
        add(label, zone);
    }
    void addHorizontalSlider(const char* label, FAUSTFLOAT* zone, FAUSTFLOAT, FAUSTFLOAT,
                             FAUSTFLOAT, FAUSTFLOAT) override {
        add(label, zone);
    }
    void addNumEntry(const char* label, FAUSTFLOAT* zone, FAUSTFLOAT, FAUSTFLOAT, FAUSTFLOAT,
                     FAUSTFLOAT) override {
        add(label, zone);
    }
    void addHorizontalBargraph(const char*, FAUSTFLOAT*, FAUSTFLOAT, FAUSTFLOAT) override {}
    void addVerticalBargraph(const char*, FAUSTFLOAT*, FAUSTFLOAT, FAUSTFLOAT) override {}
    void addSoundfile(const char*, const char*, Soundfile**) override {}

  private:
    void add(const char* label, FAUSTFLOAT* zone) {
        if (zones.count(label) && duplicate.empty()) duplicate = label;
        zones[label] = zone;
    }
};

// One DSP instance with its label map.
struct Instance {
    std::unique_ptr<dsp> engine;
    LabelUI ui;
    bool started = false;

    explicit Instance(dsp* d, const std::string& what) : engine(d) {
        engine->buildUserInterface(&ui);
        if (!ui.duplicate.empty()) fail(what + " declares the label '" + ui.duplicate + "' twice");
    }

    void set(const std::string& label, float value, const std::string& where) {
        auto it = ui.zones.find(label);
        if (it == ui.zones.end()) fail(where + ": unknown label '" + label + "'");
        *it->second = static_cast<FAUSTFLOAT>(value);
    }
};

struct Event {
    long frame;
    bool effect;  // target `fx`
    int voice;    // target `vN`
    std::string label;
    float value;
    std::string where;  // "EVENTS.txt:LINE" for messages
};

long parse_count(const char* text, const char* what, long min_value) {
    char* end = nullptr;
    errno = 0;
    long v = std::strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min_value) {
        fail(std::string("bad ") + what + " '" + text + "' (expected an integer >= " +
             std::to_string(min_value) + ")");
    }
    return v;
}

std::vector<Event> read_events(const char* path) {
    std::ifstream in(path);
    if (!in) fail(std::string("cannot open events file '") + path + "': " + std::strerror(errno));
    std::vector<Event> events;
    std::string line;
    long line_no = 0;
    long last_frame = 0;
    while (std::getline(in, line)) {
        ++line_no;
        std::string where = std::string(path) + ":" + std::to_string(line_no);
        size_t first = line.find_first_not_of(" \t\r");
        if (first == std::string::npos || line[first] == '#') continue;
        std::istringstream fields(line);
        std::string frame_s, target, label, value_s, extra;
        if (!(fields >> frame_s >> target >> label >> value_s) || (fields >> extra)) {
            fail(where + ": expected `FRAME TARGET LABEL VALUE`, got '" + line + "'");
        }
        Event ev;
        ev.where = where;
        char* end = nullptr;
        errno = 0;
        ev.frame = std::strtol(frame_s.c_str(), &end, 10);
        if (errno != 0 || *end != '\0' || ev.frame < 0) fail(where + ": bad frame '" + frame_s + "'");
        if (ev.frame < last_frame) fail(where + ": events are not sorted by frame");
        last_frame = ev.frame;
        if (target == "fx") {
            ev.effect = true;
            ev.voice = -1;
        } else if (target.size() >= 2 && target[0] == 'v') {
            ev.effect = false;
            errno = 0;
            long j = std::strtol(target.c_str() + 1, &end, 10);
            if (errno != 0 || *end != '\0' || j < 0 || j > 4095 || !std::isdigit((unsigned char)target[1])) {
                fail(where + ": bad target '" + target + "' (expected v0, v1, ... or fx)");
            }
            ev.voice = static_cast<int>(j);
        } else {
            fail(where + ": bad target '" + target + "' (expected v0, v1, ... or fx)");
        }
        ev.label = label;
        errno = 0;
        ev.value = std::strtof(value_s.c_str(), &end);
        if (errno == ERANGE || *end != '\0' || end == value_s.c_str()) {
            fail(where + ": bad value '" + value_s + "'");
        }
        events.push_back(ev);
    }
    return events;
}

void put_f32le(std::vector<unsigned char>& out, float x) {
    uint32_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    out.push_back(static_cast<unsigned char>(bits & 0xff));
    out.push_back(static_cast<unsigned char>((bits >> 8) & 0xff));
    out.push_back(static_cast<unsigned char>((bits >> 16) & 0xff));
    out.push_back(static_cast<unsigned char>((bits >> 24) & 0xff));
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 5) {
        std::fprintf(stderr,
                     "usage: %s SAMPLE_RATE FRAMES EVENTS.txt OUT.f32\n"
                     "  renders the compiled Mephisto patch; OUT.f32 is little-endian float32,\n"
                     "  interleaved stereo. Events: `FRAME TARGET LABEL VALUE` per line.\n",
                     argc > 0 ? argv[0] : "harness");
        return 2;
    }
    const int sample_rate = static_cast<int>(parse_count(argv[1], "SAMPLE_RATE", 1));
    const long frames = parse_count(argv[2], "FRAMES", 0);
    const std::vector<Event> events = read_events(argv[3]);

    // Voices in index order; each created on first mention.
    std::map<int, std::unique_ptr<Instance>> voices;
    for (const Event& ev : events) {
        if (!ev.effect && !voices.count(ev.voice)) {
            voices[ev.voice] = std::make_unique<Instance>(new MephistoVoice(), "the voice");
        }
    }
#ifdef HAS_EFFECT
    Instance effect(new MephistoEffect(), "the effect");
    if (effect.engine->getNumInputs() != 2 || effect.engine->getNumOutputs() != 2) {
        fail("the effect must have 2 inputs and 2 outputs, it has " +
             std::to_string(effect.engine->getNumInputs()) + " and " +
             std::to_string(effect.engine->getNumOutputs()));
    }
    effect.engine->init(sample_rate);
#else
    for (const Event& ev : events) {
        if (ev.effect) fail(ev.where + ": target fx, but this build has no effect (HAS_EFFECT)");
    }
#endif
    {
        std::unique_ptr<MephistoVoice> probe(new MephistoVoice());
        if (probe->getNumInputs() != 0 || probe->getNumOutputs() < 1 || probe->getNumOutputs() > 2) {
            fail("the voice must have 0 inputs and 1 or 2 outputs, it has " +
                 std::to_string(probe->getNumInputs()) + " and " +
                 std::to_string(probe->getNumOutputs()));
        }
    }
    for (auto& kv : voices) kv.second->engine->init(sample_rate);

    // Every label is checked up front (also for events past the last frame).
    for (const Event& ev : events) {
#ifdef HAS_EFFECT
        Instance& target = ev.effect ? effect : *voices[ev.voice];
#else
        Instance& target = *voices[ev.voice];
#endif
        if (!target.ui.zones.count(ev.label)) {
            fail(ev.where + " (" + (ev.effect ? std::string("fx") : "v" + std::to_string(ev.voice)) +
                 "): unknown label '" + ev.label + "'");
        }
    }

    std::vector<FAUSTFLOAT> bus_l(kMaxBlock), bus_r(kMaxBlock);
    std::vector<FAUSTFLOAT> voice_l(kMaxBlock), voice_r(kMaxBlock);
    std::vector<FAUSTFLOAT> out_l(kMaxBlock), out_r(kMaxBlock);
    std::vector<unsigned char> bytes;
    bytes.reserve(static_cast<size_t>(frames) * 8);

    size_t next_event = 0;
    long pos = 0;
    while (pos < frames) {
        while (next_event < events.size() && events[next_event].frame == pos) {
            const Event& ev = events[next_event++];
            if (ev.effect) {
#ifdef HAS_EFFECT
                effect.set(ev.label, ev.value, ev.where + " (fx)");
#endif
            } else {
                Instance& v = *voices[ev.voice];
                v.set(ev.label, ev.value, ev.where + " (v" + std::to_string(ev.voice) + ")");
                v.started = true;
            }
        }
        long end = std::min(frames, pos + kMaxBlock);
        if (next_event < events.size()) end = std::min(end, events[next_event].frame);
        const int n = static_cast<int>(end - pos);

        std::fill(bus_l.begin(), bus_l.begin() + n, 0.0f);
        std::fill(bus_r.begin(), bus_r.begin() + n, 0.0f);
        for (auto& kv : voices) {
            Instance& v = *kv.second;
            if (!v.started) continue;
            FAUSTFLOAT* outs[2] = {voice_l.data(), voice_r.data()};
            v.engine->compute(n, nullptr, outs);
            const bool stereo = v.engine->getNumOutputs() == 2;
            for (int i = 0; i < n; ++i) {
                bus_l[i] += voice_l[i];
                bus_r[i] += stereo ? voice_r[i] : voice_l[i];
            }
        }
#ifdef HAS_EFFECT
        FAUSTFLOAT* fx_in[2] = {bus_l.data(), bus_r.data()};
        FAUSTFLOAT* fx_out[2] = {out_l.data(), out_r.data()};
        effect.engine->compute(n, fx_in, fx_out);
#else
        std::copy(bus_l.begin(), bus_l.begin() + n, out_l.begin());
        std::copy(bus_r.begin(), bus_r.begin() + n, out_r.begin());
#endif
        for (int i = 0; i < n; ++i) {
            put_f32le(bytes, out_l[i]);
            put_f32le(bytes, out_r[i]);
        }
        pos = end;
    }

    std::FILE* f = std::fopen(argv[4], "wb");
    if (!f) fail(std::string("cannot write '") + argv[4] + "': " + std::strerror(errno));
    if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) {
        std::fclose(f);
        fail(std::string("short write to '") + argv[4] + "'");
    }
    if (std::fclose(f) != 0) fail(std::string("cannot close '") + argv[4] + "'");
    return 0;
}
