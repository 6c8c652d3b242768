//! Developer tasks: `cargo xtask faust [--check]` regenerates the Rust modules of the built-in
//! patches from `faust/`; `cargo xtask train-ddsp …` trains a neural voice (`onnx/`);
//! everything else (`bundle`, …) is nice-plug's bundler.

mod faust;
mod train_ddsp;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("faust") => {
            nice_plug_xtask::chdir_workspace_root()?;
            let check = match args.next().as_deref() {
                None => false,
                Some("--check") => true,
                Some(other) => {
                    return Err(format!("unknown option `{other}` (use `--check`)").into())
                }
            };
            faust::run(check).map_err(Into::into)
        }
        Some("train-ddsp") => {
            nice_plug_xtask::chdir_workspace_root()?;
            train_ddsp::run(args.collect()).map_err(Into::into)
        }
        _ => nice_plug_xtask::main().map_err(Into::into),
    }
}
