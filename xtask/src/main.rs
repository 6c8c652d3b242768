//! Developer tasks:
//!
//! * `cargo xtask bundle mephisto [--release]`: `Mephisto.clap`, `Mephisto.vst3` and the
//!   standalone app `Mephisto` in `target/bundled/`, each with ONNX Runtime and the neural
//!   models (`bundle.rs`); other packages go to nice-plug's bundler as they are;
//! * `cargo xtask install` / `uninstall`: the release bundles into the user's plugin folders
//!   and out again (`install.rs`);
//! * `cargo xtask faust [--check]` regenerates the Rust modules of the built-in patches from
//!   `faust/`;
//! * `cargo xtask train-ddsp …` trains a neural voice (`onnx/`).

mod bundle;
mod faust;
mod install;
mod train_ddsp;

use std::process::Command;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let command = args.next();
    let rest: Vec<String> = args.collect();
    if command.is_some() {
        nice_plug_xtask::chdir_workspace_root()?;
    }
    match command.as_deref() {
        Some("faust") => {
            let check = match rest.first().map(String::as_str) {
                None => false,
                Some("--check") => true,
                Some(other) => {
                    return Err(format!("unknown option `{other}` (use `--check`)").into())
                }
            };
            faust::run(check).map_err(Into::into)
        }
        Some("train-ddsp") => train_ddsp::run(rest).map_err(Into::into),
        Some("bundle") if rest.first().map(String::as_str) == Some(bundle::PACKAGE) => {
            bundle::run(&rest[1..]).map(|_| ()).map_err(Into::into)
        }
        Some("install") => install::install(&rest).map_err(Into::into),
        Some("uninstall") => install::uninstall(&rest).map_err(Into::into),
        _ => nice_plug_xtask::main().map_err(Into::into),
    }
}

/// Runs a step of a task, saying which one failed.
fn run_step(command: &mut Command, what: &str) -> Result<(), String> {
    let status = command
        .status()
        .map_err(|e| format!("{what}: cannot start: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}
