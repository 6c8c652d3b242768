//! `cargo xtask train-ddsp --patch NAME | --audio FILE.wav --out MODEL.onnx [train.py options]`:
//! trains a neural voice. Sets up the Python environment (`scripts/setup_python.sh`), builds
//! the `mephisto` command line the training data is rendered with, and runs `onnx/train.py`
//! with the arguments as given.

use std::process::Command;

use crate::run_step;

pub fn run(args: Vec<String>) -> Result<(), String> {
    if !args
        .iter()
        .any(|a| a == "--patch" || a == "--audio" || a == "--smoke")
    {
        return Err(
            "say what to train on: `--patch NAME` (a built-in patch) or `--audio FILE.wav`, \
             and where to write it: `--out MODEL.onnx`"
                .into(),
        );
    }
    let setup = Command::new("bash")
        .arg("scripts/setup_python.sh")
        .output()
        .map_err(|e| format!("cannot run scripts/setup_python.sh: {e}"))?;
    if !setup.status.success() {
        return Err(format!(
            "scripts/setup_python.sh failed:\n{}",
            String::from_utf8_lossy(&setup.stderr)
        ));
    }
    let python = String::from_utf8_lossy(&setup.stdout).trim().to_string();
    run_step(
        Command::new("cargo").args([
            "build",
            "--release",
            "-p",
            "mephisto-cli",
            "--bin",
            "mephisto",
        ]),
        "building the mephisto command line",
    )?;
    run_step(
        Command::new(&python).arg("onnx/train.py").args(&args),
        "onnx/train.py",
    )
}
