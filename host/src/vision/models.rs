//! `models/models.toml`: which ONNX models exist, where their files are, how to feed them.
//!
//! Invariant: a model is used only after its file's sha256 matched the manifest, so a missing or
//! corrupt file is a startup error naming the model and the file.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::VisionSetupError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelManifest {
    pub default_segmenter: String,
    #[serde(rename = "model")]
    pub models: Vec<ModelSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Segmentation,
    Faces,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub name: String,
    pub kind: Kind,
    pub file: PathBuf,
    pub sha256: String,
    pub source: String,
    pub licence: String,
    pub input: Option<InputSpec>,
    pub output: Option<OutputSpec>,
    /// Segmentation only: `false` never batches the model; `true` insists (startup fails when
    /// the model's batches do not run as its single images do); absent, a probe at load decides.
    #[serde(default)]
    pub batch: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    Nchw,
    Nhwc,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    pub layout: Layout,
    pub width: u32,
    pub height: u32,
    /// `"max"` (divide by the image's largest value, as rembg does) or a divisor such as `"255"`.
    pub scale: String,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    /// The network is fully convolutional and its size is fixed only in the file: the host
    /// frees it at load, and `segment-at` may run it smaller than `width`×`height`.
    #[serde(default)]
    pub any_size: bool,
}

impl InputSpec {
    /// The model's input size for an image of `image` pixels when the caller asks for `side`
    /// pixels on the longer side: the image's aspect kept, each side a multiple of 32, never
    /// above the configured size's longer side. Fixed-size models always get their size.
    pub fn size_for(&self, image: (u32, u32), side: Option<u32>) -> (u32, u32) {
        let (Some(side), true) = (side, self.any_size) else {
            return (self.width, self.height);
        };
        let side = side.clamp(32, self.width.max(self.height)) as f32;
        let scale = side / image.0.max(image.1) as f32;
        let fit = |v: u32| (((v as f32 * scale) / 32.0).round() as u32).max(1) * 32;
        (fit(image.0), fit(image.1))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Normalize {
    Minmax,
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    pub index: usize,
    pub normalize: Normalize,
}

impl ModelManifest {
    pub fn load(path: &Path) -> Result<Self, VisionSetupError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| VisionSetupError::Manifest(format!("{}: {e}", path.display())))?;
        let manifest: ModelManifest = toml::from_str(&text)
            .map_err(|e| VisionSetupError::Manifest(format!("{}: {e}", path.display())))?;
        for m in &manifest.models {
            if m.kind == Kind::Segmentation && (m.input.is_none() || m.output.is_none()) {
                return Err(VisionSetupError::Manifest(format!(
                    "{}: segmentation model {:?} needs `input` and `output`",
                    path.display(),
                    m.name
                )));
            }
        }
        if !manifest
            .models
            .iter()
            .any(|m| m.name == manifest.default_segmenter && m.kind == Kind::Segmentation)
        {
            return Err(VisionSetupError::Manifest(format!(
                "{}: default_segmenter {:?} is not a segmentation model",
                path.display(),
                manifest.default_segmenter
            )));
        }
        Ok(manifest)
    }
}

/// Reads a model file and checks its sha256.
pub fn read_verified(spec: &ModelSpec, dir: &Path) -> Result<Vec<u8>, VisionSetupError> {
    let path = dir.join(&spec.file);
    let bytes = std::fs::read(&path).map_err(|e| VisionSetupError::Model {
        model: spec.name.clone(),
        message: format!("{}: {e} (run scripts/fetch-models.sh)", path.display()),
    })?;
    let digest = hex::encode(Sha256::digest(&bytes));
    if !digest.eq_ignore_ascii_case(&spec.sha256) {
        return Err(VisionSetupError::Model {
            model: spec.name.clone(),
            message: format!(
                "{}: sha256 {digest} does not match {} (corrupt or wrong file)",
                path.display(),
                spec.sha256
            ),
        });
    }
    Ok(bytes)
}
