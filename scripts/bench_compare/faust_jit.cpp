// Times libfaust's LLVM JIT on one Faust program: createDSPFactoryFromString (parse,
// compile, JIT) and the first instance, the path FaustLive and the Faust IDE take from code
// to sound. Prints `jit_ms <milliseconds>`.
//
// Build: g++ -O2 -std=c++17 faust_jit.cpp -o faust_jit -lfaust
// Run:   faust_jit PROGRAM.dsp
#include <faust/dsp/llvm-dsp.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: faust_jit PROGRAM.dsp\n");
        return 2;
    }
    std::ifstream file(argv[1]);
    std::stringstream text;
    text << file.rdbuf();
    const auto start = std::chrono::steady_clock::now();
    std::string error;
    // No Faust options; "" is the host's own CPU; -1 is LLVM's highest optimisation level.
    llvm_dsp_factory* factory =
        createDSPFactoryFromString("program", text.str(), 0, nullptr, "", error, -1);
    if (!factory) {
        std::fprintf(stderr, "faust_jit: %s\n", error.c_str());
        return 1;
    }
    dsp* instance = factory->createDSPInstance();
    instance->init(48000);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count();
    std::printf("jit_ms %.1f\n", ms);
    delete instance;
    deleteDSPFactory(factory);
    return 0;
}
