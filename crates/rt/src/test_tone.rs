//! A tiny hand-written DSP for engine tests: a sine whose envelope follows the gate with a
//! 5 ms time constant, a `tone` control moved by Bright, and a switch that makes it emit NaN.

use faust_types::{FaustDsp, Meta, ParamIndex, UI};

use mephisto_dsp::DspBox;

pub const FREQ: ParamIndex = ParamIndex(0);
pub const GAIN: ParamIndex = ParamIndex(1);
pub const GATE: ParamIndex = ParamIndex(2);
pub const TONE: ParamIndex = ParamIndex(3);
pub const BREAK: ParamIndex = ParamIndex(4);

#[derive(Default)]
pub struct TestTone {
    sample_rate: f32,
    params: [f32; 5],
    phase: f32,
    envelope: f32,
}

pub fn new_test_tone() -> DspBox {
    Box::new(TestTone::new())
}

impl FaustDsp for TestTone {
    type T = f32;

    fn new() -> Self {
        TestTone::default()
    }
    fn metadata(&self, _m: &mut dyn Meta) {}
    fn get_sample_rate(&self) -> i32 {
        self.sample_rate as i32
    }
    fn get_num_inputs(&self) -> i32 {
        0
    }
    fn get_num_outputs(&self) -> i32 {
        1
    }
    fn class_init(_sample_rate: i32) {}
    fn instance_reset_params(&mut self) {
        self.params = [440.0, 0.5, 0.0, 0.5, 0.0];
    }
    fn instance_clear(&mut self) {
        self.phase = 0.0;
        self.envelope = 0.0;
    }
    fn instance_constants(&mut self, sample_rate: i32) {
        self.sample_rate = sample_rate as f32;
    }
    fn instance_init(&mut self, sample_rate: i32) {
        self.instance_constants(sample_rate);
        self.instance_reset_params();
        self.instance_clear();
    }
    fn init(&mut self, sample_rate: i32) {
        self.instance_init(sample_rate);
    }
    fn build_user_interface(&self, ui: &mut dyn UI<f32>) {
        Self::build_user_interface_static(ui);
    }
    fn build_user_interface_static(ui: &mut dyn UI<f32>) {
        ui.add_horizontal_slider("freq", FREQ, 440.0, 20.0, 20000.0, 0.01);
        ui.add_horizontal_slider("gain", GAIN, 0.5, 0.0, 1.0, 0.01);
        ui.add_button("gate", GATE);
        ui.declare(Some(TONE), "bright", "0.5");
        ui.add_horizontal_slider("tone", TONE, 0.5, 0.0, 1.0, 0.01);
        ui.add_check_button("break", BREAK);
    }
    fn get_param(&self, param: ParamIndex) -> Option<f32> {
        self.params.get(param.0 as usize).copied()
    }
    fn set_param(&mut self, param: ParamIndex, value: f32) {
        if let Some(p) = self.params.get_mut(param.0 as usize) {
            *p = value;
        }
    }
    fn compute(&mut self, count: i32, _inputs: &[&[f32]], outputs: &mut [&mut [f32]]) {
        let [freq, gain, gate, _tone, broken] = self.params;
        let follow = 1.0 - (-1.0 / (0.005 * self.sample_rate)).exp();
        for out in outputs[0][..count as usize].iter_mut() {
            self.envelope += (gate - self.envelope) * follow;
            self.phase = (self.phase + freq / self.sample_rate).fract();
            *out = if broken > 0.5 {
                f32::NAN
            } else {
                (self.phase * std::f32::consts::TAU).sin() * gain * self.envelope * 0.25
            };
        }
    }
}
