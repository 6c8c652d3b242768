//! Drawing the window's pages. What the controls do is decided in `state`; here they are laid
//! out, and the commands they produce are collected for `MephistoApp::execute`.

use egui::text::{LayoutJob, TextFormat};
use egui::{
    pos2, vec2, Align, Color32, FontId, Key, Layout, Rect, RichText, ScrollArea, Sense, Shape,
    Stroke, TextEdit, Ui,
};
use nice_plug::prelude::ParamSetter;

use super::knob::Knob;
use super::scope::{level_at, FLOOR_DB};
use super::settings::{DesignerKind, UI_SCALES};
use super::state::{status_line, Command, EditorState, Notice, Tone, View};
use super::MephistoApp;
use crate::stored::Stored;
use mephisto_designer::llm::ReplyForm;
use mephisto_dsp::builtin_patches;
use mephisto_dsp::macros::Macro;
use mephisto_patch::{BuildSpec, PatchSpec};

const ACCENT: Color32 = Color32::from_rgb(232, 84, 96);
const GOOD: Color32 = Color32::from_rgb(110, 200, 130);
const BUSY: Color32 = Color32::from_rgb(240, 190, 80);
const BAD: Color32 = Color32::from_rgb(240, 96, 96);
const PANEL: Color32 = Color32::from_rgb(24, 24, 30);
const SCREEN: Color32 = Color32::from_rgb(12, 14, 18);
const SIDEBAR_WIDTH: f32 = 280.0;
/// The Settings page's label column, the same in every section so the fields line up.
const LABEL_WIDTH: f32 = 170.0;
/// The window's keyboard: two octaves from C3.
const KEYBOARD_LOW: u8 = 48;
const KEYBOARD_OCTAVES: u8 = 2;

/// The window's look: egui's dark theme with a little more room and the accent colour.
pub fn style(ctx: &egui::Context) {
    ctx.set_visuals(egui::Visuals::dark());
    // The scale is a setting (Settings → Window); Ctrl +/- would fight it.
    ctx.options_mut(|o| o.zoom_with_keyboard = false);
    ctx.global_style_mut(|style| {
        style.spacing.item_spacing = vec2(8.0, 6.0);
        style.spacing.button_padding = vec2(10.0, 4.0);
        style.visuals.selection.bg_fill = ACCENT.gamma_multiply(0.6);
        style.visuals.hyperlink_color = ACCENT;
        style.visuals.panel_fill = PANEL;
    });
}

fn macro_color(m: Macro) -> Color32 {
    match m {
        Macro::Warm => Color32::from_rgb(240, 140, 70),
        Macro::Bright => Color32::from_rgb(240, 210, 90),
        Macro::Grit => Color32::from_rgb(220, 80, 70),
        Macro::Space => Color32::from_rgb(90, 150, 240),
        Macro::Motion => Color32::from_rgb(80, 200, 190),
        Macro::Punch => Color32::from_rgb(210, 100, 220),
    }
}

fn tone_color(tone: Tone) -> Color32 {
    match tone {
        Tone::Quiet => Color32::GRAY,
        Tone::Busy => BUSY,
        Tone::Good => GOOD,
        Tone::Bad => BAD,
    }
}

fn notice(ui: &mut Ui, notice: &Option<Notice>) {
    if let Some(n) = notice {
        let color = if n.error { BAD } else { GOOD };
        ui.label(RichText::new(&n.text).color(color).size(12.0));
    }
}

fn section(ui: &mut Ui, title: &str) {
    ui.add_space(4.0);
    ui.label(RichText::new(title).strong().color(Color32::from_gray(200)));
}

impl MephistoApp {
    /// The whole window, one frame.
    pub(super) fn draw(&mut self, ui: &mut Ui, setter: &ParamSetter, commands: &mut Vec<Command>) {
        let status = self.link.worker().map(|(w, _)| w.status());
        if let Some(status) = &status {
            self.state.code.observe(status);
        }
        let designed = self.designed();
        let source = designed.as_ref().map_or_else(
            || builtin_patches()[self.selected()].source.to_string(),
            |spec| spec.faust.clone(),
        );
        self.state.code.follow(&source);

        egui::Panel::top("mephisto-top")
            .frame(egui::Frame::new().fill(SCREEN).inner_margin(8))
            .show(ui, |ui| {
                ui.horizontal(|ui| {
                    ui.label(RichText::new("MEPHISTO").strong().size(20.0).color(ACCENT));
                    ui.add_space(16.0);
                    for (view, name) in [
                        (View::Sound, "Sound"),
                        (View::Code, "Faust code"),
                        (View::Settings, "Settings"),
                    ] {
                        let text = RichText::new(name).size(15.0);
                        if ui.selectable_label(self.state.view == view, text).clicked() {
                            self.state.view = view;
                        }
                    }
                    ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                        let line = status_line(status.as_ref());
                        ui.label(RichText::new(&line.short).color(tone_color(line.tone)));
                        let (dot, _) = ui.allocate_exact_size(vec2(10.0, 10.0), Sense::hover());
                        ui.painter()
                            .circle_filled(dot.center(), 5.0, tone_color(line.tone));
                    });
                });
            });

        match self.state.view {
            View::Sound => self.sound_page(ui, setter, status.as_ref(), commands),
            View::Code => self.code_page(ui, commands),
            View::Settings => self.settings_page(ui),
        }
    }

    fn sound_page(
        &mut self,
        ui: &mut Ui,
        setter: &ParamSetter,
        status: Option<&crate::worker::JobStatus>,
        commands: &mut Vec<Command>,
    ) {
        egui::Panel::left("mephisto-patches")
            .exact_size(SIDEBAR_WIDTH)
            .resizable(false)
            .show(ui, |ui| {
                ScrollArea::vertical().show(ui, |ui| self.patch_column(ui, commands));
            });
        egui::CentralPanel::default().show(ui, |ui| {
            self.prompt_box(ui, status, commands);
            ui.separator();
            self.macro_row(ui, setter);
            ui.separator();
            let keyboard_height = 64.0;
            let visual_height = (ui.available_height() - keyboard_height - 14.0).max(120.0);
            ui.horizontal(|ui| {
                let width = ui.available_width();
                let spectrum_width = (width * 0.64).floor();
                self.spectrum(ui, vec2(spectrum_width, visual_height));
                self.oscilloscope(ui, vec2(width - spectrum_width - 8.0, visual_height));
            });
            ui.add_space(6.0);
            self.keyboard(ui, keyboard_height);
        });
    }

    /// The left column: built-in patches, history, patch files, neural models.
    fn patch_column(&mut self, ui: &mut Ui, commands: &mut Vec<Command>) {
        let selected = self.selected();
        let designed = self.designed();
        section(ui, "Playing");
        match &designed {
            Some(spec) => {
                ui.label(RichText::new(&spec.name).size(16.0).color(ACCENT));
                let origin = if spec.prompt.is_empty() {
                    spec.archetype.clone()
                } else {
                    format!("{} · \"{}\"", spec.archetype, spec.prompt)
                };
                ui.label(RichText::new(origin).size(12.0).weak());
            }
            None => {
                let patch = &builtin_patches()[selected];
                ui.label(RichText::new(patch.name).size(16.0).color(ACCENT));
                ui.label(
                    RichText::new(format!("built-in {}", patch.archetype))
                        .size(12.0)
                        .weak(),
                );
            }
        }

        section(ui, "Built-in patches");
        egui::Grid::new("builtins")
            .num_columns(2)
            .spacing(vec2(4.0, 2.0))
            .show(ui, |ui| {
                for (i, patch) in builtin_patches().iter().enumerate() {
                    let active = designed.is_none() && i == selected;
                    let response = ui
                        .selectable_label(active, patch.name)
                        .on_hover_text(patch.description);
                    if response.clicked() {
                        commands.push(EditorState::select_builtin(i, selected, designed.is_some()));
                    }
                    ui.label(RichText::new(patch.archetype).size(12.0).weak());
                    ui.end_row();
                }
            });

        section(ui, "History");
        self.history(ui, commands);

        section(ui, "Patch file");
        ui.add(
            TextEdit::singleline(&mut self.state.patch_file)
                .hint_text("~/mephisto-patches/name.json")
                .desired_width(f32::INFINITY),
        );
        ui.horizontal(|ui| {
            if ui
                .button("Save")
                .on_hover_text("Write the patch playing as a PatchSpec (a folder gets <name>.json)")
                .clicked()
            {
                match self.current_spec() {
                    Ok(spec) => self.state.save_patch(&spec),
                    Err(e) => {
                        self.state.file_notice = Some(Notice {
                            text: e,
                            error: true,
                        })
                    }
                }
            }
            if ui
                .button("Load")
                .on_hover_text("Play the PatchSpec in this file")
                .clicked()
            {
                commands.extend(self.state.load_patch());
            }
        });
        notice(ui, &self.state.file_notice);

        neural_models_section(ui, &self.neural_models, commands);
    }

    fn history(&mut self, ui: &mut Ui, commands: &mut Vec<Command>) {
        let history = self.params.history.read();
        let history = match &*history {
            Stored::Value(history) => history,
            Stored::Unreadable { reason, .. } => {
                ui.label(
                    RichText::new(format!(
                        "The project's history cannot be read ({reason}); it is kept unchanged."
                    ))
                    .size(12.0)
                    .color(BAD),
                );
                return;
            }
        };
        ui.horizontal(|ui| {
            let button = |ui: &mut Ui, enabled: bool, text: &str, hint: &str| {
                ui.add_enabled(enabled, egui::Button::new(text))
                    .on_hover_text(hint)
                    .clicked()
            };
            if button(
                ui,
                history.undo_target().is_some(),
                "Undo",
                "Play the patch before this one",
            ) {
                commands.push(Command::Undo);
            }
            if button(
                ui,
                history.redo_target().is_some(),
                "Redo",
                "Play the patch after this one",
            ) {
                commands.push(Command::Redo);
            }
            if button(
                ui,
                history.compare_target().is_some(),
                "A/B",
                "Switch between this patch and the one before it",
            ) {
                commands.push(Command::Compare);
            }
        });
        if history.is_empty() {
            ui.label(
                RichText::new("Every patch that goes live is kept here.")
                    .size(12.0)
                    .weak(),
            );
            return;
        }
        ScrollArea::vertical()
            .id_salt("history")
            .max_height(150.0)
            .stick_to_bottom(true)
            .show(ui, |ui| {
                for (i, spec) in history.entries().enumerate() {
                    let current = history.cursor() == Some(i);
                    let other = history.compare_target() == Some(i);
                    // The playing entry is A; B is what A/B switches to.
                    let mark = if current {
                        "A"
                    } else if other {
                        "B"
                    } else {
                        ""
                    };
                    let text = format!("{:>2}. {}", i + 1, spec.name);
                    let mut response = ui
                        .horizontal(|ui| {
                            ui.add_sized(
                                vec2(14.0, 18.0),
                                egui::Label::new(RichText::new(mark).strong().color(ACCENT)),
                            );
                            ui.add(egui::Button::selectable(current, text).truncate())
                        })
                        .inner;
                    if !spec.prompt.is_empty() {
                        response = response.on_hover_text(format!("\"{}\"", spec.prompt));
                    }
                    if response.clicked() && !current {
                        commands.push(Command::PlayHistory(i));
                    }
                }
            });
    }

    fn prompt_box(
        &mut self,
        ui: &mut Ui,
        status: Option<&crate::worker::JobStatus>,
        commands: &mut Vec<Command>,
    ) {
        let busy = status.is_some_and(|s| s.stage.is_busy());
        ui.horizontal(|ui| {
            let buttons_width = 200.0;
            let response = ui.add(
                TextEdit::singleline(&mut self.state.prompt)
                    .hint_text("Describe a sound: \"glassy bell with a long shimmering tail\"")
                    .font(FontId::proportional(17.0))
                    .margin(vec2(8.0, 6.0))
                    .desired_width(ui.available_width() - buttons_width),
            );
            let entered = response.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter));
            let generate = ui
                .add(
                    egui::Button::new(RichText::new("Generate").size(15.0).strong())
                        .fill(ACCENT.gamma_multiply(0.7)),
                )
                .on_hover_text("Design a new patch from these words (Enter)")
                .clicked();
            let refine = ui
                .add(egui::Button::new(RichText::new("Refine").size(15.0)))
                .on_hover_text(
                    "Change the patch playing: \"warmer\", \"longer tail\", \"less metallic\"",
                )
                .clicked();
            let command = if generate || entered {
                Some(self.state.generate())
            } else if refine {
                Some(self.current_spec().and_then(|spec| self.state.refine(spec)))
            } else {
                None
            };
            match command {
                Some(Ok(command)) => {
                    self.state.prompt_notice = None;
                    commands.push(command);
                }
                Some(Err(e)) => {
                    self.state.prompt_notice = Some(Notice {
                        text: e,
                        error: true,
                    })
                }
                None => {}
            }
        });
        let line = status_line(status);
        ui.horizontal_wrapped(|ui| {
            if busy {
                ui.spinner();
            }
            let designer = match self.state.settings.designer {
                DesignerKind::Offline => "offline designer".to_string(),
                DesignerKind::Llm => format!("model {}", self.state.settings.llm.model),
            };
            ui.label(
                RichText::new(&line.headline)
                    .size(15.0)
                    .color(tone_color(line.tone)),
            );
            ui.label(RichText::new(format!("({designer})")).size(12.0).weak());
        });
        for (i, detail) in line.details.iter().enumerate() {
            let color = if line.tone == Tone::Bad && i == 0 {
                BAD
            } else {
                Color32::from_gray(190)
            };
            ui.label(RichText::new(detail).color(color));
        }
        notice(ui, &self.state.prompt_notice);
    }

    fn macro_row(&self, ui: &mut Ui, setter: &ParamSetter) {
        ui.horizontal(|ui| {
            for m in Macro::ALL {
                ui.add(Knob::new(
                    self.params.macro_param(m),
                    setter,
                    54.0,
                    macro_color(m),
                ))
                .on_hover_text(macro_meaning(m));
            }
            ui.add_space(12.0);
            ui.separator();
            ui.add(Knob::new(&self.params.master_gain, setter, 54.0, ACCENT));
        });
    }

    fn spectrum(&mut self, ui: &mut Ui, size: egui::Vec2) {
        let sample_rate = self.link.worker().map_or(48_000.0, |(_, rate)| rate);
        let (rect, _) = ui.allocate_exact_size(size, Sense::hover());
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 4.0, SCREEN);
        let (low, high) = (20.0f32, (sample_rate * 0.5).min(20_000.0));
        let x_of = |hz: f32| rect.left() + rect.width() * (hz / low).ln() / (high / low).ln();
        let y_of = |db: f32| rect.top() + rect.height() * (db / FLOOR_DB).clamp(0.0, 1.0);
        let grid = Stroke::new(1.0, Color32::from_gray(40));
        let frequencies = [50.0, 100.0, 200.0, 500.0, 1e3, 2e3, 5e3, 1e4];
        let levels_db = [-24.0, -48.0, -72.0];
        for hz in frequencies {
            let x = x_of(hz);
            painter.line_segment([pos2(x, rect.top()), pos2(x, rect.bottom())], grid);
        }
        for db in levels_db {
            let y = y_of(db);
            painter.line_segment([pos2(rect.left(), y), pos2(rect.right(), y)], grid);
        }

        let mut gui = self.link.gui.lock();
        gui.scope.pull();
        let levels = gui.scope.spectrum();
        let columns = rect.width().max(2.0) as usize;
        let points: Vec<egui::Pos2> = (0..columns)
            .map(|c| {
                let x = rect.left() + c as f32;
                let hz = low * (high / low).powf(c as f32 / (columns - 1) as f32);
                pos2(x, y_of(level_at(levels, hz, sample_rate)))
            })
            .collect();
        drop(gui);
        let fill = ACCENT.gamma_multiply(0.25);
        for p in &points {
            painter.line_segment([*p, pos2(p.x, rect.bottom())], Stroke::new(1.0, fill));
        }
        painter.add(Shape::line(points, Stroke::new(1.5, ACCENT)));

        // Labels last, so the trace never hides them.
        let label = FontId::proportional(11.0);
        let label_color = Color32::from_gray(140);
        for hz in frequencies {
            let text = if hz >= 1e3 {
                format!("{}k", hz / 1e3)
            } else {
                format!("{hz}")
            };
            boxed_label(
                &painter,
                pos2(x_of(hz) + 2.0, rect.bottom() - 2.0),
                text,
                label.clone(),
                label_color,
            );
        }
        for db in levels_db {
            boxed_label(
                &painter,
                pos2(rect.left() + 2.0, y_of(db) - 1.0),
                format!("{db} dB"),
                label.clone(),
                label_color,
            );
        }
        painter.text(
            rect.left_top() + vec2(6.0, 4.0),
            egui::Align2::LEFT_TOP,
            "Spectrum",
            FontId::proportional(12.0),
            Color32::from_gray(150),
        );
    }

    fn oscilloscope(&mut self, ui: &mut Ui, size: egui::Vec2) {
        let (rect, _) = ui.allocate_exact_size(size, Sense::hover());
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 4.0, SCREEN);
        let mid = rect.center().y;
        painter.line_segment(
            [pos2(rect.left(), mid), pos2(rect.right(), mid)],
            Stroke::new(1.0, Color32::from_gray(40)),
        );
        self.link.gui.lock().scope.trace(1024, &mut self.trace);
        let n = self.trace.len().max(2);
        let points: Vec<egui::Pos2> = self
            .trace
            .iter()
            .enumerate()
            .map(|(i, &s)| {
                pos2(
                    rect.left() + rect.width() * i as f32 / (n - 1) as f32,
                    mid - s.clamp(-1.0, 1.0) * rect.height() * 0.45,
                )
            })
            .collect();
        painter.add(Shape::line(points, Stroke::new(1.5, GOOD)));
        painter.text(
            rect.left_top() + vec2(6.0, 4.0),
            egui::Align2::LEFT_TOP,
            "Scope",
            FontId::proportional(12.0),
            Color32::from_gray(150),
        );
    }

    /// Two octaves to audition patches without a controller; notes go to the audio thread
    /// through the keyboard ring.
    fn keyboard(&mut self, ui: &mut Ui, height: f32) {
        let width = ui.available_width();
        let (rect, response) = ui.allocate_exact_size(vec2(width, height), Sense::click_and_drag());
        let whites = 7 * KEYBOARD_OCTAVES as usize;
        let white_width = rect.width() / whites as f32;
        let white_rect = |i: usize| {
            Rect::from_min_size(
                pos2(rect.left() + i as f32 * white_width, rect.top()),
                vec2(white_width - 1.0, rect.height()),
            )
        };
        const WHITE_STEPS: [u8; 7] = [0, 2, 4, 5, 7, 9, 11];
        let black_keys: Vec<(u8, Rect)> = (0..whites)
            .filter(|i| ![2, 6].contains(&(i % 7)))
            .map(|i| {
                let note = KEYBOARD_LOW + 12 * (i / 7) as u8 + WHITE_STEPS[i % 7] + 1;
                let x = rect.left() + (i + 1) as f32 * white_width - white_width * 0.3;
                (
                    note,
                    Rect::from_min_size(
                        pos2(x, rect.top()),
                        vec2(white_width * 0.6, rect.height() * 0.6),
                    ),
                )
            })
            .collect();
        let white_keys: Vec<(u8, Rect)> = (0..whites)
            .map(|i| {
                (
                    KEYBOARD_LOW + 12 * (i / 7) as u8 + WHITE_STEPS[i % 7],
                    white_rect(i),
                )
            })
            .collect();

        let pressed = response.is_pointer_button_down_on();
        let under = response
            .interact_pointer_pos()
            .filter(|_| pressed)
            .and_then(|p| {
                black_keys
                    .iter()
                    .chain(&white_keys)
                    .find(|(_, r)| r.contains(p))
                    .map(|(n, _)| *n)
            });
        if under != self.mouse_note {
            if let Some(old) = self.mouse_note.take() {
                self.play_key(old, false);
            }
            if let Some(new) = under {
                self.play_key(new, true);
                self.mouse_note = Some(new);
            }
        }

        let painter = ui.painter_at(rect);
        let held = |n: u8| self.held.contains(&n);
        for (note, r) in &white_keys {
            let fill = if held(*note) {
                ACCENT
            } else {
                Color32::from_gray(225)
            };
            painter.rect_filled(*r, 2.0, fill);
            if note % 12 == 0 {
                painter.text(
                    pos2(r.center().x, r.bottom() - 3.0),
                    egui::Align2::CENTER_BOTTOM,
                    format!("C{}", note / 12 - 1),
                    FontId::proportional(10.0),
                    Color32::from_gray(90),
                );
            }
        }
        for (note, r) in &black_keys {
            let fill = if held(*note) {
                ACCENT
            } else {
                Color32::from_gray(30)
            };
            painter.rect_filled(*r, 2.0, fill);
        }
    }

    fn code_page(&mut self, ui: &mut Ui, commands: &mut Vec<Command>) {
        let name = self.designed().map_or_else(
            || builtin_patches()[self.selected()].name.to_string(),
            |s| s.name,
        );
        egui::Panel::top("code-tools").show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.label(RichText::new(&name).size(16.0).color(ACCENT));
                if self.state.code.is_edited() {
                    ui.label(RichText::new("edited").color(BUSY));
                }
                ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                    let compiling = self.state.code.is_compiling();
                    if ui
                        .add_enabled(self.state.code.is_edited(), egui::Button::new("Revert"))
                        .on_hover_text("Throw the edits away")
                        .clicked()
                    {
                        self.state.code.revert();
                    }
                    let compile = ui
                        .add_enabled(
                            !compiling,
                            egui::Button::new(RichText::new("Compile").strong())
                                .fill(ACCENT.gamma_multiply(0.7)),
                        )
                        .on_hover_text("Compile this program and swap it in (Ctrl+Enter)");
                    // Taken before the editor sees it, so it does not also insert a new line.
                    let shortcut =
                        ui.input_mut(|i| i.consume_key(egui::Modifiers::COMMAND, Key::Enter));
                    if compile.clicked() || (shortcut && !compiling) {
                        match self.current_spec() {
                            Ok(current) => commands.push(self.state.code.compile(&current)),
                            Err(e) => {
                                self.state.code.failure = Some(e);
                            }
                        }
                    }
                    if compiling {
                        ui.spinner();
                        ui.label("compiling…");
                    }
                });
            });
        });

        let errors = self.state.code.errors.clone();
        if let Some(failure) = &self.state.code.failure {
            egui::Panel::bottom("code-errors")
                .frame(egui::Frame::new().fill(SCREEN).inner_margin(8))
                .show(ui, |ui| {
                    ui.label(
                        RichText::new(
                            "The compile failed; the patch that was playing keeps playing. Faust \
                             names the line where it noticed the problem: a missing `;` or `)` is \
                             often on the line before.",
                        )
                        .color(BAD),
                    );
                    ScrollArea::vertical().max_height(120.0).show(ui, |ui| {
                        if errors.is_empty() {
                            ui.label(RichText::new(failure).monospace());
                        }
                        for e in &errors {
                            ui.label(
                                RichText::new(format!("line {}: {}", e.line, e.message))
                                    .monospace()
                                    .color(BAD),
                            );
                        }
                    });
                });
        }

        egui::CentralPanel::default().show(ui, |ui| {
            let font = FontId::monospace(13.0);
            let error_lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
            let mut layouter = |ui: &Ui, text: &dyn egui::TextBuffer, wrap_width: f32| {
                let job = code_layout(text.as_str(), &error_lines, &font, wrap_width);
                ui.fonts_mut(|f| f.layout_job(job))
            };
            let row_height = ui.fonts_mut(|f| f.row_height(&font));
            let visible_rows = ((ui.available_height() - 12.0) / row_height).max(1.0) as usize;
            ScrollArea::both()
                .auto_shrink([false, false])
                .show(ui, |ui| {
                    ui.horizontal_top(|ui| {
                        let lines = self.state.code.text.lines().count().max(1);
                        let mut gutter = LayoutJob::default();
                        for line in 1..=lines {
                            let marked = error_lines.contains(&line);
                            gutter.append(
                                &format!("{}{line:>4}\n", if marked { "●" } else { " " }),
                                0.0,
                                TextFormat {
                                    font_id: FontId::monospace(13.0),
                                    color: if marked { BAD } else { Color32::from_gray(100) },
                                    ..Default::default()
                                },
                            );
                        }
                        ui.vertical(|ui| {
                            // Level with the editor's first row (its margin and frame).
                            ui.add_space(3.0);
                            ui.add(egui::Label::new(gutter).selectable(false));
                        });
                        ui.add(
                            TextEdit::multiline(&mut self.state.code.text)
                                .code_editor()
                                .desired_width(f32::INFINITY)
                                .desired_rows(lines.max(visible_rows))
                                .lock_focus(true)
                                .layouter(&mut layouter),
                        );
                    });
                });
        });
    }

    fn settings_page(&mut self, ui: &mut Ui) {
        egui::CentralPanel::default().show(ui, |ui| {
            ScrollArea::vertical().show(ui, |ui| {
                ui.set_max_width(760.0);
                let form = &mut self.state.form;
                ui.heading("Designer");
                ui.horizontal(|ui| {
                    ui.radio_value(&mut form.designer, DesignerKind::Offline, "Offline (built-in, no network)");
                    ui.radio_value(&mut form.designer, DesignerKind::Llm, "Language model (OpenAI-compatible)");
                });
                let field = |ui: &mut Ui, label: &str, value: &mut String, hint: &str| {
                    ui.label(label);
                    ui.add(TextEdit::singleline(value).hint_text(hint).desired_width(460.0));
                    ui.end_row();
                };
                egui::Grid::new("llm-settings")
                    .num_columns(2)
                    .min_col_width(LABEL_WIDTH)
                    .spacing(vec2(12.0, 8.0))
                    .show(ui, |ui| {
                        field(ui, "Base URL", &mut form.base_url, "http://127.0.0.1:11434/v1");
                        field(ui, "Model", &mut form.model, "qwen2.5-coder:7b");
                        field(ui, "API key variable", &mut form.api_key_env, "OPENAI_API_KEY (empty for local servers)");
                        field(ui, "Context (tokens)", &mut form.context, "8192 (used when the server does not say)");
                        field(ui, "First token within (s)", &mut form.first_token_timeout, "300");
                        field(ui, "Silence time-out (s)", &mut form.timeout, "60");
                    });
                ui.horizontal(|ui| {
                    ui.label("Answer form");
                    for (value, label) in [
                        (ReplyForm::Auto, "Auto (a synth graph for small models)"),
                        (ReplyForm::Graph, "Synth graph"),
                        (ReplyForm::Faust, "Faust"),
                        (ReplyForm::Either, "Either"),
                    ] {
                        ui.radio_value(&mut form.reply_form, value, label);
                    }
                });
                let var = form.api_key_env.trim();
                if !var.is_empty() {
                    let set = std::env::var_os(var).is_some_and(|v| !v.is_empty());
                    let (text, color) = if set {
                        (format!("{var} is set in this environment."), GOOD)
                    } else {
                        (format!("{var} is not set in the environment the host was started from."), BUSY)
                    };
                    ui.label(RichText::new(text).size(12.0).color(color));
                }
                ui.label(
                    RichText::new(
                        "Name the environment variable that holds the key, never the key itself: \
                         the key is read when a request is sent and is stored nowhere.",
                    )
                    .size(12.0).weak(),
                );

                ui.add_space(10.0);
                ui.heading("Compilers");
                egui::Grid::new("tool-settings")
                    .num_columns(2)
                    .min_col_width(LABEL_WIDTH)
                    .spacing(vec2(12.0, 8.0))
                    .show(ui, |ui| {
                        field(ui, "faust", &mut form.faust_path, "empty: $MEPHISTO_FAUST, else PATH");
                        field(ui, "rustc", &mut form.rustc_path, "empty: $MEPHISTO_RUSTC, else PATH");
                    });
                ui.label(
                    RichText::new(
                        "Compiler paths take effect when the host next activates the plugin \
                         (its worker starts then).",
                    )
                    .size(12.0).weak(),
                );

                ui.add_space(10.0);
                ui.heading("Neural voice");
                egui::Grid::new("neural-settings")
                    .num_columns(2)
                    .min_col_width(LABEL_WIDTH)
                    .spacing(vec2(12.0, 8.0))
                    .show(ui, |ui| {
                        field(ui, "ONNX Runtime library", &mut form.onnxruntime_path, "/path/to/libonnxruntime.so");
                        ui.label("Execution provider");
                        let execution = self
                            .link
                            .worker()
                            .and_then(|(w, _)| w.shared().neural_execution.lock().clone());
                        match execution {
                            Some(text) => ui.add(egui::Label::new(text).wrap()),
                            None => ui.label(
                                RichText::new("not loaded (chosen when a neural patch plays)")
                                    .color(Color32::GRAY),
                            ),
                        };
                        ui.end_row();
                    });

                ui.add_space(10.0);
                ui.heading("Window");
                egui::Grid::new("window-settings")
                    .num_columns(2)
                    .min_col_width(LABEL_WIDTH)
                    .spacing(vec2(12.0, 8.0))
                    .show(ui, |ui| {
                        ui.label("Scale");
                        ui.horizontal(|ui| {
                            for scale in UI_SCALES {
                                ui.selectable_value(&mut form.ui_scale, scale, format!("{:.0} %", scale * 100.0));
                            }
                        });
                        ui.end_row();
                    });
                ui.label(
                    RichText::new("On top of the scale the host or the desktop asks for; saved with the settings.")
                        .size(12.0)
                        .weak(),
                );

                ui.add_space(14.0);
                ui.horizontal(|ui| {
                    if ui
                        .add(egui::Button::new(RichText::new("Save").strong()).fill(ACCENT.gamma_multiply(0.7)))
                        .clicked()
                    {
                        self.state.save_settings();
                    }
                    if ui.button("Discard changes").clicked() {
                        self.state.form = super::settings::SettingsForm::from_settings(&self.state.settings);
                        self.state.settings_notice = None;
                    }
                });
                notice(ui, &self.state.settings_notice);
                let location = self
                    .state
                    .settings_path
                    .as_ref()
                    .map_or("no configuration folder known".to_string(), |p| p.display().to_string());
                ui.label(
                    RichText::new(format!(
                        "Stored for this machine, not in the project: {location}"
                    ))
                    .size(12.0).weak(),
                );
            });
        });
    }
}

/// A scale label on a dark patch (anchored at its bottom left), readable over the trace.
fn boxed_label(
    painter: &egui::Painter,
    at: egui::Pos2,
    text: String,
    font: FontId,
    color: Color32,
) {
    let galley = painter.layout_no_wrap(text, font, color);
    let rect = Rect::from_min_size(pos2(at.x, at.y - galley.size().y), galley.size());
    painter.rect_filled(rect.expand(1.0), 2.0, SCREEN.gamma_multiply(0.8));
    painter.galley(rect.min, galley, color);
}

/// What each macro does, for its tooltip.
fn macro_meaning(m: Macro) -> &'static str {
    match m {
        Macro::Warm => "More low-mid body (≈100–600 Hz). 0.5 is the patch as designed.",
        Macro::Bright => "A brighter, more open tone. 0.5 is the patch as designed.",
        Macro::Grit => "More drive, fold or noise. 0.5 is the patch as designed.",
        Macro::Space => "A longer tail (release, reverb). 0.5 is the patch as designed.",
        Macro::Motion => "More movement (LFO, vibrato, chorus); the mod wheel adds to it.",
        Macro::Punch => "A sharper attack, more transient. 0.5 is the patch as designed.",
    }
}

/// The shipped neural models (`onnx/models/*.onnx`, see `neural::voices::model_dirs`): a
/// click plays one as a new patch, like a PatchSpec file.
fn neural_models_section(ui: &mut Ui, models: &[String], commands: &mut Vec<Command>) {
    section(ui, "Neural models");
    if models.is_empty() {
        ui.label(
            RichText::new("No neural models found (onnx/models, $MEPHISTO_MODELS).")
                .size(12.0)
                .weak(),
        );
    }
    for name in models {
        let response = ui
            .selectable_label(false, name)
            .on_hover_text("A DDSP decoder trained on this patch's timbre; needs ONNX Runtime");
        if response.clicked() {
            if let Ok(spec) = PatchSpec::from_model(name) {
                commands.push(Command::Play(spec));
            }
        }
    }
}

/// Lays out Faust code in the monospace font: comments dimmed, lines a compile error points
/// at on a red background.
fn code_layout(text: &str, error_lines: &[usize], font: &FontId, wrap_width: f32) -> LayoutJob {
    let mut job = LayoutJob::default();
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let marked = error_lines.contains(&(i + 1));
        let background = if marked {
            BAD.gamma_multiply(0.35)
        } else {
            Color32::TRANSPARENT
        };
        let (code, comment) = match line.find("//") {
            Some(at) => line.split_at(at),
            None => (line, ""),
        };
        let format = |color: Color32| TextFormat {
            font_id: font.clone(),
            color,
            background,
            ..Default::default()
        };
        job.append(code, 0.0, format(Color32::from_gray(220)));
        if !comment.is_empty() {
            job.append(comment, 0.0, format(Color32::from_rgb(120, 140, 120)));
        }
    }
    job.wrap.max_width = wrap_width;
    job
}
