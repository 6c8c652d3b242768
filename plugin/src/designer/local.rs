//! A design job run in the calling thread, as the command line does: the same compile,
//! sanity gate and instantiation as the plugin's worker, with the stages printed.

use super::{DesignHost, DesignStage};
use crate::calibration::CalibrationReport;
use crate::compiler::sanity::SanityLimits;
use crate::compiler::Compiler;
use crate::engine::instance::PatchInstance;
use crate::neural::stream::OfflineFlag;
use crate::patchspec::PatchSpec;
use crate::worker::{build_patch, BuiltPatch};

pub struct LocalHost<'a> {
    pub compiler: &'a Compiler,
    pub limits: SanityLimits,
    pub sample_rate: f32,
    /// Called with every stage the job reaches (the CLI prints it).
    pub on_stage: Box<dyn FnMut(DesignStage) + 'a>,
}

impl DesignHost for LocalHost<'_> {
    type Built = BuiltPatch;

    fn stage(&mut self, stage: DesignStage) {
        (self.on_stage)(stage);
    }

    fn build(&mut self, spec: &PatchSpec) -> Result<BuiltPatch, String> {
        let on_stage = &mut self.on_stage;
        build_patch(
            self.compiler,
            &self.limits,
            self.sample_rate,
            // The command line never plays the instance it builds.
            &OfflineFlag::default(),
            spec,
            &mut |s| on_stage(s),
        )
    }

    fn probe(&self, spec: &PatchSpec) -> Result<Box<PatchInstance>, String> {
        spec.instantiate(self.compiler, self.sample_rate)
    }

    fn calibrate(
        &mut self,
        spec: &PatchSpec,
        built: &mut BuiltPatch,
    ) -> Result<(PatchSpec, CalibrationReport), String> {
        built.calibrate(spec)
    }
}
