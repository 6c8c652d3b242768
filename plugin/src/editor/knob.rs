//! A rotary knob bound to a host parameter. Every change is a host gesture (begin, set…,
//! end) so the DAW records automation; double-click returns the parameter to its default
//! (0.5 for the macros: the patch as designed).

use egui::{pos2, vec2, Color32, Response, Sense, Shape, Stroke, Ui, Widget};
use nice_plug::prelude::{Param, ParamSetter};

/// Normalised change per point dragged; Shift drags ten times finer.
const DRAG_SPEED: f32 = 0.005;
const FINE_DRAG_SPEED: f32 = 0.0005;
/// The knob's travel: from 7:30 to 4:30 o'clock.
const SWEEP: f32 = 1.5 * std::f32::consts::PI;

pub struct Knob<'a, P: Param> {
    param: &'a P,
    setter: &'a ParamSetter<'a>,
    diameter: f32,
    color: Color32,
}

impl<'a, P: Param> Knob<'a, P> {
    pub fn new(param: &'a P, setter: &'a ParamSetter<'a>, diameter: f32, color: Color32) -> Self {
        Knob {
            param,
            setter,
            diameter,
            color,
        }
    }
}

impl<P: Param> Widget for Knob<'_, P> {
    fn ui(self, ui: &mut Ui) -> Response {
        let label_height = ui.text_style_height(&egui::TextStyle::Body);
        let size = vec2(
            self.diameter.max(64.0),
            self.diameter + 2.0 * label_height + 8.0,
        );
        let (rect, mut response) = ui.allocate_exact_size(size, Sense::click_and_drag());

        if response.double_clicked() {
            self.setter.begin_set_parameter(self.param);
            self.setter
                .set_parameter(self.param, self.param.default_plain_value());
            self.setter.end_set_parameter(self.param);
            response.mark_changed();
        } else {
            if response.drag_started() {
                self.setter.begin_set_parameter(self.param);
            }
            if response.dragged() {
                let speed = if ui.input(|i| i.modifiers.shift) {
                    FINE_DRAG_SPEED
                } else {
                    DRAG_SPEED
                };
                let delta = response.drag_delta();
                let change = (delta.x - delta.y) * speed;
                if change != 0.0 {
                    let value =
                        (self.param.unmodulated_normalized_value() + change).clamp(0.0, 1.0);
                    self.setter.set_parameter_normalized(self.param, value);
                    response.mark_changed();
                }
            }
            if response.drag_stopped() {
                self.setter.end_set_parameter(self.param);
            }
        }

        if ui.is_rect_visible(rect) {
            let visuals = ui.style().interact(&response);
            let painter = ui.painter();
            let name_pos = pos2(rect.center().x, rect.top());
            painter.text(
                name_pos,
                egui::Align2::CENTER_TOP,
                self.param.name(),
                egui::FontId::proportional(label_height * 0.95),
                ui.visuals().strong_text_color(),
            );
            let center = pos2(
                rect.center().x,
                rect.top() + label_height + 4.0 + self.diameter / 2.0,
            );
            let radius = self.diameter / 2.0 - 3.0;
            let start = 0.75 * std::f32::consts::PI;
            let arc = |from: f32, to: f32| -> Vec<egui::Pos2> {
                let steps = 40;
                (0..=steps)
                    .map(|i| {
                        let a = start + SWEEP * (from + (to - from) * i as f32 / steps as f32);
                        center + radius * vec2(a.cos(), a.sin())
                    })
                    .collect()
            };
            let track = Stroke::new(4.0, ui.visuals().widgets.inactive.bg_fill);
            painter.add(Shape::line(arc(0.0, 1.0), track));
            let value = self.param.modulated_normalized_value();
            let neutral = self.param.default_normalized_value();
            // The lit arc runs from the default, so a macro shows how far it moves the patch.
            let (from, to) = if value < neutral {
                (value, neutral)
            } else {
                (neutral, value)
            };
            if to > from {
                painter.add(Shape::line(arc(from, to), Stroke::new(4.0, self.color)));
            }
            painter.circle_filled(center, radius - 6.0, visuals.bg_fill);
            let angle = start + SWEEP * value;
            let tip = center + (radius - 8.0) * vec2(angle.cos(), angle.sin());
            painter.line_segment([center, tip], Stroke::new(2.5, visuals.fg_stroke.color));
            painter.text(
                pos2(rect.center().x, rect.bottom()),
                egui::Align2::CENTER_BOTTOM,
                self.param.normalized_value_to_string(value, true),
                egui::FontId::monospace(label_height * 0.85),
                ui.visuals().text_color(),
            );
        }
        response.on_hover_text("Drag to change (Shift: finer); double-click: as designed")
    }
}
