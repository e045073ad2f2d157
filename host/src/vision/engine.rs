//! ONNX Runtime: loading the library, choosing the execution provider, creating sessions.
//!
//! Invariants: the library is loaded once per process (from `vision.ort_library` or
//! `ORT_DYLIB_PATH`); CUDA is registered on each session with `error_on_failure`, so a session
//! is either really on CUDA or explicitly on CPU, and the provider in use is logged and exported
//! as `atelier_vision_provider{model, provider}`.

use std::sync::OnceLock;

use ort::ep;
use ort::session::Session;

use super::VisionSetupError;
use crate::config::Device;

/// The execution provider a session runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Cpu,
    Cuda,
}

impl Provider {
    pub fn name(self) -> &'static str {
        match self {
            Provider::Cpu => "cpu",
            Provider::Cuda => "cuda",
        }
    }
}

static ENVIRONMENT: OnceLock<Result<std::sync::Arc<ort::environment::Environment>, String>> =
    OnceLock::new();

/// Loads ONNX Runtime (once) and returns the process's environment.
pub fn environment(
    library: &std::path::Path,
) -> Result<std::sync::Arc<ort::environment::Environment>, VisionSetupError> {
    ENVIRONMENT
        .get_or_init(|| {
            let builder = ort::init_from(library)
                .map_err(|e| format!("loading ONNX Runtime from {}: {e}", library.display()))?;
            builder
                .with_name("atelier")
                .build()
                .map(std::sync::Arc::new)
                .map_err(|e| format!("creating the ONNX Runtime environment: {e}"))
        })
        .clone()
        .map_err(VisionSetupError::Runtime)
}

/// Creates a session for model bytes on the configured device.
pub fn session(
    env: &ort::environment::Environment,
    model: &str,
    bytes: &[u8],
    device: Device,
    threads: usize,
    spin: bool,
) -> Result<(Session, Provider), VisionSetupError> {
    let fail = |message: String| VisionSetupError::Model {
        model: model.to_string(),
        message,
    };
    let build = |provider: Provider| -> Result<Session, String> {
        let mut builder = Session::builder(env).map_err(|e| e.to_string())?;
        if threads > 0 {
            builder = builder
                .with_intra_threads(threads)
                .map_err(|e| e.to_string())?;
        }
        builder = builder
            .with_intra_op_spinning(spin)
            .map_err(|e| e.to_string())?;
        if provider == Provider::Cuda {
            builder = builder
                .with_execution_providers([ep::CUDA::default().build().error_on_failure()])
                .map_err(|e| e.to_string())?;
        }
        builder.commit_from_memory(bytes).map_err(|e| e.to_string())
    };
    match device {
        Device::Cpu => build(Provider::Cpu)
            .map(|s| (s, Provider::Cpu))
            .map_err(fail),
        Device::Cuda => build(Provider::Cuda)
            .map(|s| (s, Provider::Cuda))
            .map_err(|e| fail(format!("device = \"cuda\" but CUDA is not usable: {e}"))),
        Device::Auto => match build(Provider::Cuda) {
            Ok(s) => Ok((s, Provider::Cuda)),
            Err(e) => {
                tracing::info!(model, reason = %e, "CUDA not available; using CPU");
                build(Provider::Cpu)
                    .map(|s| (s, Provider::Cpu))
                    .map_err(fail)
            }
        },
    }
}
