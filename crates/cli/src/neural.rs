//! `mephisto bench-neural`: what the neural voice costs and how quickly it answers. The
//! decoder's per-call latency on the CPU for 1 and 16 voices (one frame each, the streaming
//! shape), the control latency from a note-on on the audio side to its first frame being
//! there for the audio side (a worker thread running, 16 voices sounding, audio blocks paced
//! in real time), and the audio side's own rendering cost. Prints a Markdown table.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mephisto_neural::decoder::{Decoder, DecoderOptions, ProviderChoice};
use mephisto_neural::inference::NeuralInference;
use mephisto_neural::voices::timing;
use mephisto_rt::neural::bank::{NeuralVoiceBank, StreamSettings};
use mephisto_rt::neural::FrameFeed;

/// The audio rate and block of the real-time simulation.
const SAMPLE_RATE: f32 = 48_000.0;
const BLOCK: usize = 256;

/// Voices sounding while note-ons are timed (the engine's default count).
const VOICES: usize = 16;

/// Calls made before timing, so that ONNX Runtime's first-call work is not counted.
const WARM_UP_CALLS: usize = 50;

pub struct BenchNeuralArgs {
    pub model: Option<PathBuf>,
    pub library: Option<PathBuf>,
    pub calls: usize,
    pub notes: usize,
}

/// `mephisto bench-neural [--model MODEL.onnx] [--calls N] [--notes N]`.
pub fn bench_neural(args: BenchNeuralArgs) -> Result<(), String> {
    let model = match args.model {
        Some(model) => model,
        None => default_model()?,
    };
    let options = DecoderOptions {
        library: args.library,
        providers: ProviderChoice::CpuOnly,
        threads: 1,
    };
    let mut decoder = Decoder::load(&model, &options).map_err(|e| e.to_string())?;
    println!(
        "model `{}` ({}), {} on the {}, one thread per call\n",
        model.display(),
        decoder.info().name,
        decoder.runtime(),
        decoder.provider()
    );
    println!("| measure | p50 | p99 | mean |");
    println!("| --- | --- | --- | --- |");
    for voices in [1, VOICES] {
        let times = time_calls(&mut decoder, voices, args.calls.max(1))?;
        let s = Summary::of(times);
        println!(
            "| decoder call, {voices} voice{} × 1 frame (CPU) | {} | {} | {} |",
            if voices == 1 { "" } else { "s" },
            us(s.p50),
            us(s.p99),
            us(s.mean)
        );
    }
    let realtime = control_latency(decoder, args.notes.max(1))?;
    let s = Summary::of(realtime.latencies);
    println!(
        "| note-on → first frame at the audio side ({VOICES} voices sounding) | {} | {} | {} |",
        ms(s.p50),
        ms(s.p99),
        ms(s.mean)
    );
    let block = Duration::from_secs_f64(BLOCK as f64 / f64::from(SAMPLE_RATE));
    let r = Summary::of(realtime.renders);
    println!(
        "| audio side: {VOICES} voices, {BLOCK}-sample block at 48 kHz | {} ({:.1} %) | {} \
         ({:.1} %) | {} ({:.1} %) |",
        us(r.p50),
        percent(r.p50, block),
        us(r.p99),
        percent(r.p99, block),
        us(r.mean),
        percent(r.mean, block)
    );
    println!(
        "\n{} note-ons timed; {} late frames (held) in {:.1} s of audio. A frame is used at \
         the start of the next block (≤ {:.1} ms later) and glided to over the rest of its \
         20 ms segment.",
        s.count,
        realtime.late_frames,
        realtime.seconds,
        block.as_secs_f64() * 1000.0
    );
    Ok(())
}

/// The first model (with its sidecar) in `onnx/models`, from the working directory or the
/// source tree.
fn default_model() -> Result<PathBuf, String> {
    let dirs = [
        PathBuf::from("onnx/models"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../onnx/models"),
    ];
    for dir in &dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut models: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
            .filter(|p| p.with_extension("json").is_file())
            .collect();
        models.sort();
        if let Some(model) = models.into_iter().next() {
            return Ok(model);
        }
    }
    Err("no model in onnx/models: give one with --model MODEL.onnx".to_string())
}

/// Times `calls` decoder calls for `voices` voices of one frame each.
fn time_calls(decoder: &mut Decoder, voices: usize, calls: usize) -> Result<Vec<Duration>, String> {
    let f0: Vec<f32> = (0..voices)
        .map(|v| 110.0 * (1.0 + (v % 8) as f32))
        .collect();
    let mut loudness = vec![-20.0f32; voices];
    for _ in 0..WARM_UP_CALLS {
        decoder.infer(&f0, &loudness, voices, 1)?;
    }
    let mut times = Vec::with_capacity(calls);
    for i in 0..calls {
        // Inputs change from call to call, as a loudness contour does.
        loudness.fill(-60.0 + (i % 50) as f32);
        let start = Instant::now();
        decoder.infer(&f0, &loudness, voices, 1)?;
        times.push(start.elapsed());
    }
    Ok(times)
}

struct Realtime {
    latencies: Vec<Duration>,
    renders: Vec<Duration>,
    late_frames: u64,
    seconds: f64,
}

/// Plays the audio side in real time (a block every 5.3 ms) against the inference thread:
/// 15 voices hold notes while the 16th is retriggered `notes` times; each note-on is timed
/// until its first frame has reached the audio side.
fn control_latency(decoder: Decoder, notes: usize) -> Result<Realtime, String> {
    let settings = StreamSettings::new(VOICES, SAMPLE_RATE);
    let (mut bank, ports) = NeuralVoiceBank::new(&timing(decoder.info()), &settings);
    let worker = NeuralInference::new(decoder, ports, &settings).spawn()?;
    let probe = VOICES - 1;
    for v in 0..probe {
        bank.note_on(v, 110.0 * (1.0 + (v % 8) as f32), 0.7);
    }
    let block = Duration::from_secs_f64(BLOCK as f64 / f64::from(SAMPLE_RATE));
    let mut out = vec![0.0f32; BLOCK];
    let mut latencies = Vec::with_capacity(notes);
    let mut renders = Vec::new();
    let mut pending: Option<Instant> = None;
    // Let the held notes start before timing.
    let settle = 20;
    let mut next_block = Instant::now();
    for n in 0.. {
        let start = Instant::now();
        bank.render(&mut out);
        renders.push(start.elapsed());
        if n >= settle && pending.is_none() {
            if latencies.len() == notes {
                break;
            }
            bank.note_on(probe, 220.0 + 10.0 * (latencies.len() % 24) as f32, 0.8);
            pending = Some(Instant::now());
        }
        next_block += block;
        // Between blocks: watch for the frame as the next block's start would.
        while Instant::now() < next_block {
            if let Some(on) = pending {
                bank.receive_frames();
                if bank.has_frame(probe) {
                    latencies.push(on.elapsed());
                    pending = None;
                }
            }
            std::thread::yield_now();
        }
        if let Some(e) = worker.error() {
            return Err(format!("neural inference failed: {e}"));
        }
    }
    Ok(Realtime {
        latencies,
        renders,
        late_frames: bank.late_frames(),
        seconds: bank.clock() as f64 / f64::from(SAMPLE_RATE),
    })
}

struct Summary {
    count: usize,
    p50: Duration,
    p99: Duration,
    mean: Duration,
}

impl Summary {
    fn of(mut times: Vec<Duration>) -> Self {
        times.sort();
        let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
        let total: Duration = times.iter().sum();
        Summary {
            count: times.len(),
            p50: at(0.5),
            p99: at(0.99),
            mean: total / times.len() as u32,
        }
    }
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn percent(d: Duration, of: Duration) -> f64 {
    100.0 * d.as_secs_f64() / of.as_secs_f64()
}
