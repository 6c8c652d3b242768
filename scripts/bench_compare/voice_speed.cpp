// Time per sample of one voice compiled with Faust's C++ backend: note 220 Hz at gain 0.5
// held, 64-frame blocks at 48 kHz, exactly as crates/dsp/examples/voice_speed.rs does with
// the built-in Rust voice; `LABEL=VALUE` arguments set other controls first. Prints
// `ns_per_sample`.
//
// Build (T = a folder with voice.h from `faust -lang cpp -I faust -cn MephistoVoice`):
//   g++ -O3 -std=c++17 -I$T voice_speed.cpp -o $T/voice_speed
// Run:   $T/voice_speed SECONDS [LABEL=VALUE…]
#include <faust/dsp/dsp.h>
#include <faust/gui/MapUI.h>
#include <faust/gui/meta.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "voice.h"

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: voice_speed SECONDS [LABEL=VALUE...]\n");
        return 2;
    }
    const double seconds = std::atof(argv[1]);
    MephistoVoice voice;
    voice.init(48000);
    MapUI controls;
    voice.buildUserInterface(&controls);
    const char* labels[] = {"freq", "gain", "gate"};
    const float values[] = {220.0f, 0.5f, 1.0f};
    for (int i = 0; i < 3; i++) {
        if (controls.getParamZone(labels[i])) controls.setParamValue(labels[i], values[i]);
    }
    for (int i = 2; i < argc; i++) {
        std::string setting(argv[i]);
        const size_t eq = setting.find('=');
        const std::string label = setting.substr(0, eq);
        if (eq == std::string::npos || !controls.getParamZone(label)) {
            std::fprintf(stderr, "no control `%s`\n", argv[i]);
            return 2;
        }
        controls.setParamValue(label, std::atof(setting.c_str() + eq + 1));
    }
    float left[64] = {0}, right[64] = {0};
    float* outputs[2] = {left, right};
    const long frames = static_cast<long>(seconds * 48000.0) / 64 * 64;
    float sink = 0.0f;
    const auto start = std::chrono::steady_clock::now();
    for (long f = 0; f < frames; f += 64) {
        voice.compute(64, nullptr, outputs);
        sink += left[0];
    }
    const double ns =
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() /
        static_cast<double>(frames);
    std::printf("%.2f %s\n", ns, sink != sink ? "nan" : "ok");
    return 0;
}
