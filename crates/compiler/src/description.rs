//! A compiled DSP's UI and metadata, read once from the library (its `describe` entry hands
//! each UI call and metadata entry to [`DescriptionText::push`], which writes them as lines of
//! tab-separated, backslash-escaped fields) and replayed into any `UI` or `Meta`, so
//! `ControlSet::of` sees a runtime DSP exactly as a built-in one.

use crate::tab_fields::{escape, unescape};
use faust_types::{Meta, ParamIndex, UI};

/// One recorded `UI` call.
#[derive(Debug, Clone, PartialEq)]
enum UiCall {
    OpenTabBox(String),
    OpenHorizontalBox(String),
    OpenVerticalBox(String),
    CloseBox,
    Button(String, i32),
    CheckButton(String, i32),
    VerticalSlider(String, i32, [f32; 4]),
    HorizontalSlider(String, i32, [f32; 4]),
    NumEntry(String, i32, [f32; 4]),
    HorizontalBargraph(String, i32, [f32; 2]),
    VerticalBargraph(String, i32, [f32; 2]),
    Declare(Option<i32>, String, String),
}

/// Everything a DSP tells about itself without running.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Description {
    meta: Vec<(String, String)>,
    ui: Vec<UiCall>,
}

impl Description {
    /// Parses the wrapper's description text.
    pub fn parse(text: &str) -> Result<Description, String> {
        let mut description = Description::default();
        for (n, line) in text.lines().enumerate() {
            let fields: Option<Vec<String>> = line.split('\t').map(unescape).collect();
            let bad = |why: &str| format!("line {} `{line}`: {why}", n + 1);
            let fields = fields.ok_or_else(|| bad("a damaged escape"))?;
            let field = |i: usize| fields.get(i).cloned().ok_or_else(|| bad("too few fields"));
            let index = |i: usize| -> Result<i32, String> {
                field(i)?
                    .parse::<i32>()
                    .map_err(|_| bad("bad parameter index"))
            };
            let values = |from: usize, count: usize| -> Result<Vec<f32>, String> {
                (from..from + count)
                    .map(|i| field(i)?.parse::<f32>().map_err(|_| bad("bad number")))
                    .collect()
            };
            let four = |v: Vec<f32>| [v[0], v[1], v[2], v[3]];
            let call = match fields[0].as_str() {
                "meta" => {
                    description.meta.push((field(1)?, field(2)?));
                    continue;
                }
                "open_tab_box" => UiCall::OpenTabBox(field(1)?),
                "open_horizontal_box" => UiCall::OpenHorizontalBox(field(1)?),
                "open_vertical_box" => UiCall::OpenVerticalBox(field(1)?),
                "close_box" => UiCall::CloseBox,
                "button" => UiCall::Button(field(2)?, index(1)?),
                "check_button" => UiCall::CheckButton(field(2)?, index(1)?),
                "vertical_slider" => {
                    UiCall::VerticalSlider(field(6)?, index(1)?, four(values(2, 4)?))
                }
                "horizontal_slider" => {
                    UiCall::HorizontalSlider(field(6)?, index(1)?, four(values(2, 4)?))
                }
                "num_entry" => UiCall::NumEntry(field(6)?, index(1)?, four(values(2, 4)?)),
                "horizontal_bargraph" => {
                    let v = values(2, 2)?;
                    UiCall::HorizontalBargraph(field(4)?, index(1)?, [v[0], v[1]])
                }
                "vertical_bargraph" => {
                    let v = values(2, 2)?;
                    UiCall::VerticalBargraph(field(4)?, index(1)?, [v[0], v[1]])
                }
                "declare" => {
                    let param = match field(1)?.as_str() {
                        "-" => None,
                        _ => Some(index(1)?),
                    };
                    UiCall::Declare(param, field(2)?, field(3)?)
                }
                _ => return Err(bad("unknown entry")),
            };
            description.ui.push(call);
        }
        Ok(description)
    }

    /// Makes the calls `build_user_interface` made when the library was described.
    pub fn replay_ui(&self, ui: &mut dyn UI<f32>) {
        for call in &self.ui {
            match call {
                UiCall::OpenTabBox(label) => ui.open_tab_box(label),
                UiCall::OpenHorizontalBox(label) => ui.open_horizontal_box(label),
                UiCall::OpenVerticalBox(label) => ui.open_vertical_box(label),
                UiCall::CloseBox => ui.close_box(),
                UiCall::Button(label, i) => ui.add_button(label, ParamIndex(*i)),
                UiCall::CheckButton(label, i) => ui.add_check_button(label, ParamIndex(*i)),
                UiCall::VerticalSlider(label, i, [init, min, max, step]) => {
                    ui.add_vertical_slider(label, ParamIndex(*i), *init, *min, *max, *step)
                }
                UiCall::HorizontalSlider(label, i, [init, min, max, step]) => {
                    ui.add_horizontal_slider(label, ParamIndex(*i), *init, *min, *max, *step)
                }
                UiCall::NumEntry(label, i, [init, min, max, step]) => {
                    ui.add_num_entry(label, ParamIndex(*i), *init, *min, *max, *step)
                }
                UiCall::HorizontalBargraph(label, i, [min, max]) => {
                    ui.add_horizontal_bargraph(label, ParamIndex(*i), *min, *max)
                }
                UiCall::VerticalBargraph(label, i, [min, max]) => {
                    ui.add_vertical_bargraph(label, ParamIndex(*i), *min, *max)
                }
                UiCall::Declare(param, key, value) => ui.declare(param.map(ParamIndex), key, value),
            }
        }
    }

    /// Makes the calls `metadata` made when the library was described.
    pub fn replay_meta(&self, m: &mut dyn Meta) {
        for (key, value) in &self.meta {
            m.declare(key, value);
        }
    }
}

/// The description as the library hands it over, call by call, in the text [`Description::parse`]
/// reads.
#[derive(Debug, Default)]
pub struct DescriptionText(pub String);

impl DescriptionText {
    /// One call: `kind` (`meta`, a box, `close_box`, a widget or `declare`), the parameter
    /// `index` (-1 for none), the widget's `values`, the label or key `a`, the value `b`.
    pub fn push(&mut self, kind: &str, index: i32, values: &[f32], a: &str, b: &str) {
        let index_text = if index < 0 {
            "-".to_string()
        } else {
            index.to_string()
        };
        let numbers: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        let mut fields: Vec<&str> = vec![kind];
        match kind {
            "meta" => fields.extend([a, b]),
            "close_box" => {}
            "declare" => fields.extend([index_text.as_str(), a, b]),
            k if k.starts_with("open_") => fields.push(a),
            _ => {
                fields.push(&index_text);
                fields.extend(numbers.iter().map(String::as_str));
                fields.push(a);
            }
        }
        let line: Vec<String> = fields.iter().map(|f| escape(f)).collect();
        self.0.push_str(&line.join("\t"));
        self.0.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Recorder(Vec<String>);

    impl UI<f32> for Recorder {
        fn open_tab_box(&mut self, label: &str) {
            self.0.push(format!("tab {label}"));
        }
        fn open_horizontal_box(&mut self, label: &str) {
            self.0.push(format!("hbox {label}"));
        }
        fn open_vertical_box(&mut self, label: &str) {
            self.0.push(format!("vbox {label}"));
        }
        fn close_box(&mut self) {
            self.0.push("close".into());
        }
        fn add_button(&mut self, label: &str, p: ParamIndex) {
            self.0.push(format!("button {label} {}", p.0));
        }
        fn add_check_button(&mut self, label: &str, p: ParamIndex) {
            self.0.push(format!("check {label} {}", p.0));
        }
        fn add_vertical_slider(&mut self, l: &str, p: ParamIndex, i: f32, a: f32, b: f32, s: f32) {
            self.0.push(format!("vslider {l} {} {i} {a} {b} {s}", p.0));
        }
        fn add_horizontal_slider(
            &mut self,
            l: &str,
            p: ParamIndex,
            i: f32,
            a: f32,
            b: f32,
            s: f32,
        ) {
            self.0.push(format!("hslider {l} {} {i} {a} {b} {s}", p.0));
        }
        fn add_num_entry(&mut self, l: &str, p: ParamIndex, i: f32, a: f32, b: f32, s: f32) {
            self.0.push(format!("nentry {l} {} {i} {a} {b} {s}", p.0));
        }
        fn add_horizontal_bargraph(&mut self, l: &str, p: ParamIndex, a: f32, b: f32) {
            self.0.push(format!("hbar {l} {} {a} {b}", p.0));
        }
        fn add_vertical_bargraph(&mut self, l: &str, p: ParamIndex, a: f32, b: f32) {
            self.0.push(format!("vbar {l} {} {a} {b}", p.0));
        }
        fn declare(&mut self, p: Option<ParamIndex>, key: &str, value: &str) {
            self.0
                .push(format!("declare {:?} {key}={value}", p.map(|p| p.0)));
        }
    }

    #[test]
    fn the_description_replays_in_order() {
        let text = "meta\tname\ttab\\there\n\
                    open_vertical_box\tpatch\n\
                    declare\t0\tscale\tlog\n\
                    horizontal_slider\t0\t2000\t50\t16000\t1\tcut\\\\off\n\
                    button\t1\tgate\n\
                    declare\t-\tx\ty\n\
                    close_box\n";
        let d = Description::parse(text).unwrap();
        let mut rec = Recorder::default();
        d.replay_ui(&mut rec);
        assert_eq!(
            rec.0,
            vec![
                "vbox patch",
                "declare Some(0) scale=log",
                "hslider cut\\off 0 2000 50 16000 1",
                "button gate 1",
                "declare None x=y",
                "close",
            ]
        );
        assert_eq!(d.meta, vec![("name".to_string(), "tab\there".to_string())]);
    }

    /// The calls a library hands over come back out of the parsed description unchanged,
    /// labels with tabs, newlines and backslashes included.
    #[test]
    fn pushed_calls_replay_as_they_came() {
        let mut text = DescriptionText::default();
        text.push("meta", -1, &[], "name", "tab\there");
        text.push("open_vertical_box", -1, &[], "patch", "");
        text.push("declare", 0, &[], "scale", "log");
        text.push(
            "horizontal_slider",
            0,
            &[2000.0, 50.0, 16000.0, 0.5],
            "cut\\off\nx",
            "",
        );
        text.push("button", 1, &[], "gate", "");
        text.push("vertical_bargraph", 2, &[-1.0, 1.0], "level", "");
        text.push("declare", -1, &[], "x", "y");
        text.push("close_box", -1, &[], "", "");
        let d = Description::parse(&text.0).unwrap();
        let mut rec = Recorder::default();
        d.replay_ui(&mut rec);
        assert_eq!(
            rec.0,
            vec![
                "vbox patch",
                "declare Some(0) scale=log",
                "hslider cut\\off\nx 0 2000 50 16000 0.5",
                "button gate 1",
                "vbar level 2 -1 1",
                "declare None x=y",
                "close",
            ]
        );
        assert_eq!(d.meta, vec![("name".to_string(), "tab\there".to_string())]);
    }

    #[test]
    fn a_malformed_line_is_named() {
        let err = Description::parse("close_box\nnum_entry\tx\t0\t0\t1\t1\tn\n").unwrap_err();
        assert!(err.starts_with("line 2 "), "{err}");
        assert!(Description::parse("whatever\n").is_err());
    }
}
