//! Discovers a Faust DSP's controls (its sliders, buttons and their metadata) through the
//! `UI` callback interface, so the engine and the macros can address parameters by label.

use faust_types::{FaustDsp, ParamIndex, UI};

use crate::macros::Macro;

/// The kind of widget a control was declared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlKind {
    Slider,
    NumEntry,
    Button,
    Checkbox,
}

/// One parameter of a Faust DSP.
#[derive(Debug, Clone, PartialEq)]
pub struct Control {
    pub label: String,
    pub index: i32,
    pub kind: ControlKind,
    pub init: f32,
    pub min: f32,
    pub max: f32,
    pub step: f32,
    /// `[scale:log]`: normalised positions (and so macro depths) are taken in log space.
    pub log_scale: bool,
    pub unit: String,
    /// `[warm:0.4]`-style metadata: how far each macro moves this control, as a signed share
    /// of its normalised range for a macro going from 0.5 to 1.
    pub macro_depths: Vec<(Macro, f32)>,
}

impl Control {
    pub fn param(&self) -> ParamIndex {
        ParamIndex(self.index)
    }

    fn uses_log(&self) -> bool {
        self.log_scale && self.min > 0.0 && self.max > self.min
    }

    /// Maps a value to its position in [0, 1] along the control's range.
    pub fn normalize(&self, value: f32) -> f32 {
        if self.max <= self.min {
            return 0.0;
        }
        let n = if self.uses_log() {
            (value.max(self.min) / self.min).ln() / (self.max / self.min).ln()
        } else {
            (value - self.min) / (self.max - self.min)
        };
        n.clamp(0.0, 1.0)
    }

    /// Maps a position in [0, 1] back to a value in the control's range.
    pub fn denormalize(&self, position: f32) -> f32 {
        let p = position.clamp(0.0, 1.0);
        if self.uses_log() {
            self.min * (self.max / self.min).powf(p)
        } else {
            self.min + p * (self.max - self.min)
        }
    }
}

/// All controls of one DSP, in declaration order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ControlSet {
    pub controls: Vec<Control>,
}

impl ControlSet {
    /// Reads the controls a DSP declares. Fails with a message naming the control when its
    /// metadata cannot be understood (a macro depth that is not a number in [-1, 1]).
    pub fn of(dsp: &dyn FaustDsp<T = f32>) -> Result<ControlSet, String> {
        let mut collector = Collector::default();
        dsp.build_user_interface(&mut collector);
        match collector.error {
            Some(error) => Err(error),
            None => Ok(ControlSet {
                controls: collector.controls,
            }),
        }
    }

    pub fn find(&self, label: &str) -> Option<&Control> {
        self.controls.iter().find(|c| c.label == label)
    }
}

/// Metadata declared for a widget before the widget itself is added.
#[derive(Default)]
struct PendingMetadata {
    index: i32,
    log_scale: bool,
    unit: String,
    macro_depths: Vec<(Macro, f32)>,
}

#[derive(Default)]
struct Collector {
    controls: Vec<Control>,
    pending: Vec<PendingMetadata>,
    error: Option<String>,
}

impl Collector {
    fn pending_for(&mut self, index: i32) -> &mut PendingMetadata {
        if let Some(pos) = self.pending.iter().position(|p| p.index == index) {
            return &mut self.pending[pos];
        }
        self.pending.push(PendingMetadata {
            index,
            ..Default::default()
        });
        self.pending.last_mut().expect("just pushed")
    }

    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        label: &str,
        param: ParamIndex,
        kind: ControlKind,
        init: f32,
        min: f32,
        max: f32,
        step: f32,
    ) {
        let meta = match self.pending.iter().position(|p| p.index == param.0) {
            Some(pos) => self.pending.swap_remove(pos),
            None => PendingMetadata::default(),
        };
        self.controls.push(Control {
            label: label.to_string(),
            index: param.0,
            kind,
            init,
            min,
            max,
            step,
            log_scale: meta.log_scale,
            unit: meta.unit,
            macro_depths: meta.macro_depths,
        });
    }
}

impl UI<f32> for Collector {
    fn open_tab_box(&mut self, _label: &str) {}
    fn open_horizontal_box(&mut self, _label: &str) {}
    fn open_vertical_box(&mut self, _label: &str) {}
    fn close_box(&mut self) {}

    fn add_button(&mut self, label: &str, param: ParamIndex) {
        self.add(label, param, ControlKind::Button, 0.0, 0.0, 1.0, 1.0);
    }
    fn add_check_button(&mut self, label: &str, param: ParamIndex) {
        self.add(label, param, ControlKind::Checkbox, 0.0, 0.0, 1.0, 1.0);
    }
    fn add_vertical_slider(
        &mut self,
        label: &str,
        param: ParamIndex,
        init: f32,
        min: f32,
        max: f32,
        step: f32,
    ) {
        self.add(label, param, ControlKind::Slider, init, min, max, step);
    }
    fn add_horizontal_slider(
        &mut self,
        label: &str,
        param: ParamIndex,
        init: f32,
        min: f32,
        max: f32,
        step: f32,
    ) {
        self.add(label, param, ControlKind::Slider, init, min, max, step);
    }
    fn add_num_entry(
        &mut self,
        label: &str,
        param: ParamIndex,
        init: f32,
        min: f32,
        max: f32,
        step: f32,
    ) {
        self.add(label, param, ControlKind::NumEntry, init, min, max, step);
    }
    fn add_horizontal_bargraph(&mut self, _label: &str, _param: ParamIndex, _min: f32, _max: f32) {}
    fn add_vertical_bargraph(&mut self, _label: &str, _param: ParamIndex, _min: f32, _max: f32) {}

    fn declare(&mut self, param: Option<ParamIndex>, key: &str, value: &str) {
        let Some(param) = param else { return };
        if key == "scale" {
            self.pending_for(param.0).log_scale = value.trim() == "log";
        } else if key == "unit" {
            self.pending_for(param.0).unit = value.trim().to_string();
        } else if let Some(m) = Macro::from_key(key) {
            match value.trim().parse::<f32>() {
                Ok(depth) if (-1.0..=1.0).contains(&depth) => {
                    self.pending_for(param.0).macro_depths.push((m, depth));
                }
                _ => {
                    self.error.get_or_insert(format!(
                        "macro metadata [{key}:{value}] must be a depth between -1 and 1"
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control(min: f32, max: f32, log_scale: bool) -> Control {
        Control {
            label: "x".into(),
            index: 0,
            kind: ControlKind::Slider,
            init: min,
            min,
            max,
            step: 0.0,
            log_scale,
            unit: String::new(),
            macro_depths: vec![],
        }
    }

    #[test]
    fn linear_normalisation_round_trips() {
        let c = control(-12.0, 12.0, false);
        assert_eq!(c.normalize(0.0), 0.5);
        assert!((c.denormalize(0.25) - -6.0).abs() < 1e-6);
        assert_eq!(c.normalize(100.0), 1.0);
    }

    #[test]
    fn log_normalisation_puts_geometric_mean_in_the_middle() {
        let c = control(100.0, 10_000.0, true);
        assert!((c.normalize(1000.0) - 0.5).abs() < 1e-6);
        assert!((c.denormalize(0.5) - 1000.0).abs() < 0.01);
    }

    #[test]
    fn metadata_is_attached_to_the_right_control() {
        let mut ui = Collector::default();
        ui.declare(Some(ParamIndex(1)), "bright", "0.7");
        ui.declare(Some(ParamIndex(1)), "scale", "log");
        ui.declare(Some(ParamIndex(1)), "warm", "-0.2");
        ui.add_horizontal_slider("gain", ParamIndex(0), 0.5, 0.0, 1.0, 0.01);
        ui.add_horizontal_slider("cutoff", ParamIndex(1), 2000.0, 50.0, 16000.0, 1.0);
        assert!(ui.error.is_none());
        assert!(ui.controls[0].macro_depths.is_empty());
        let cutoff = &ui.controls[1];
        assert!(cutoff.log_scale);
        assert_eq!(
            cutoff.macro_depths,
            vec![(Macro::Bright, 0.7), (Macro::Warm, -0.2)]
        );
    }

    #[test]
    fn bad_macro_depth_is_reported() {
        let mut ui = Collector::default();
        ui.declare(Some(ParamIndex(0)), "grit", "lots");
        assert!(ui.error.unwrap().contains("[grit:lots]"));
    }
}
