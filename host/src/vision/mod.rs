//! The `atelier:vision` host interface (`wit/vision.wit`): portrait segmentation and face
//! detection, run natively with ONNX Runtime and imported by components.
//!
//! - [`models`]: the model manifest and sha256-checked model files;
//! - [`engine`]: the ONNX Runtime library, execution provider choice, sessions;
//! - [`batcher`]: coalescing concurrent calls into batches, with a bounded queue;
//! - [`onnx_batch`]: a fixed batch dimension of 1 made symbolic, so batches can run (and the
//!   spatial size of `any_size` models, so `segment-at` can run them smaller);
//! - [`batching`]: whether a model really runs batches as it runs images alone (probed at load);
//! - [`segment`] / [`faces`]: each model family's pre- and post-processing;
//! - [`resize`]: SIMD resizing for both;
//! - [`upload`] / [`colour`]: uploads decoded natively for components (`images`), converted to
//!   sRGB by their ICC profile.
//!
//! Invariants: sessions are created once at startup and shared by every instance; a component
//! only reaches these functions if its function was granted `atelier:vision` (checked at load by
//! the runtime); every failure reaches the guest as a `vision-error` (a `decode-error` for
//! `images`), never as a trap; an inference failure reaches it as a short message naming the
//! model, with the engine's own text in the server log only, and is counted in
//! `atelier_vision_errors_total{model, reason}` like every other refusal.

pub mod batcher;
pub mod batching;
pub mod colour;
pub mod engine;
pub mod faces;
pub mod handle;
pub mod models;
pub mod onnx_batch;
pub mod resize;
pub mod segment;
pub mod upload;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use image::RgbImage;
use ort::session::Session;
use ort::value::Tensor;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

use crate::config::VisionConfig;
use crate::telemetry::metrics::{ModelLabel, ModelReasonLabels, ProviderLabels};
use crate::telemetry::{HostTiming, Metrics};
use batcher::Batcher;
use models::{Kind, ModelManifest, ModelSpec};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "atelier:vision/imports",
        imports: { default: async | trappable },
        with: { "atelier:vision/types.image": super::handle::HostImage },
    });
}

pub use bindings::atelier::vision::faces::{Face, Point};
use bindings::atelier::vision::images::{DecodeError, Dimensions};
pub use bindings::atelier::vision::types::VisionError;
use handle::{Allowance, HostImage};
use wasmtime::component::{Resource, ResourceTable};

/// Largest image side the vision functions accept.
pub const MAX_SIDE: u32 = 12_000;

/// Why vision could not start.
#[derive(Debug, thiserror::Error)]
pub enum VisionSetupError {
    #[error("vision model manifest {0}")]
    Manifest(String),
    #[error("vision model {model:?}: {message}")]
    Model { model: String, message: String },
    #[error("ONNX Runtime: {0}")]
    Runtime(String),
}

type SegOutput = Result<Vec<f32>, VisionError>;

/// One image's input tensor data and the model size it was prepared for.
struct SegInput {
    data: Vec<f32>,
    size: (u32, u32),
}

/// A model's output for one input, with the wall time of the run (the whole batch's) that
/// made it.
type Timed<O> = (O, Duration);

struct Segmenter {
    spec: ModelSpec,
    batcher: Batcher<SegInput, Timed<SegOutput>>,
}

type FaceOutput = Result<[Vec<f32>; 12], VisionError>;

/// Runs one batch through `run`, timing it: the batch-size and run-time histograms observe
/// it, and every output carries the run's time.
fn timed<I, O>(
    inputs: Vec<I>,
    batch_size: &Histogram,
    run_time: &Histogram,
    run: impl FnOnce(Vec<I>) -> Vec<O>,
) -> Vec<Timed<O>> {
    batch_size.observe(inputs.len() as f64);
    let started = Instant::now();
    let outputs = run(inputs);
    let took = started.elapsed();
    run_time.observe(took.as_secs_f64());
    outputs.into_iter().map(|o| (o, took)).collect()
}

/// Every loaded model, shared by all instances.
pub struct Vision {
    segmenters: HashMap<String, Segmenter>,
    default_segmenter: String,
    faces: Batcher<faces::Prepared, Timed<FaceOutput>>,
    faces_model: String,
    errors: Family<ModelReasonLabels, Counter>,
    decode_budget: upload::DecodeBudget,
}

/// An inference failure: the engine's text (which names graph nodes and shapes) goes to the
/// server log; the guest gets a short, stable message naming the model.
fn failed(model: &str, e: impl std::fmt::Display) -> VisionError {
    tracing::error!(model, error = %e, "vision inference failed");
    VisionError::Failed(format!("model {model:?} could not process this image"))
}

/// Runs `n` same-size inputs (concatenated, NCHW/NHWC) through a segmentation session and
/// returns the output planes, concatenated.
fn infer(
    session: &mut Session,
    spec: &ModelSpec,
    n: usize,
    (w, h): (u32, u32),
    data: Vec<f32>,
) -> Result<Vec<f32>, ort::Error> {
    let input = spec.input.as_ref().expect("validated at load");
    let output_index = spec.output.as_ref().expect("validated at load").index;
    let (w, h) = (w as usize, h as usize);
    let shape = match input.layout {
        models::Layout::Nchw => vec![n, 3, h, w],
        models::Layout::Nhwc => vec![n, h, w, 3],
    };
    let tensor = Tensor::from_array((shape, data))?;
    let outputs = session.run(ort::inputs![tensor])?;
    let (_, plane) = outputs[output_index].try_extract_tensor::<f32>()?;
    Ok(plane.to_vec())
}

/// Two different synthetic portraits' input tensors at the model's configured size, for the
/// batching probe.
fn probe_inputs(spec: &ModelSpec) -> (Vec<f32>, Vec<f32>) {
    let input = spec.input.as_ref().expect("validated at load");
    let size = (input.width, input.height);
    let gradient = RgbImage::from_fn(size.0, size.1, |x, y| {
        image::Rgb([(x * 255 / size.0) as u8, (y * 255 / size.1) as u8, 128])
    });
    let disc = RgbImage::from_fn(size.0, size.1, |x, y| {
        let (dx, dy) = (x as i64 - size.0 as i64 / 2, y as i64 - size.1 as i64 / 3);
        let inside = dx * dx + dy * dy < (size.0 as i64 / 4).pow(2);
        if inside {
            image::Rgb([220, 180, 150])
        } else {
            image::Rgb([((x ^ y) & 0xff) as u8, 90, 40])
        }
    });
    (
        segment::preprocess(&gradient, input, size),
        segment::preprocess(&disc, input, size),
    )
}

/// Whether `spec`'s model runs batches: never when its batch dimension is fixed or the
/// manifest says `batch = false`; otherwise when [`batching::probe`] finds batches run and
/// match single runs (a manifest's `batch = true` then insists: a failed probe stops startup).
fn decide_batching(
    session: &mut Session,
    spec: &ModelSpec,
    symbolic: bool,
) -> Result<bool, VisionSetupError> {
    let refuse = |message: String| VisionSetupError::Model {
        model: spec.name.clone(),
        message,
    };
    match (spec.batch, symbolic) {
        (Some(false), _) => return Ok(false),
        (Some(true), false) => {
            return Err(refuse(
                "batch = true, but the model's batch dimension is fixed".into(),
            ))
        }
        (None, false) => return Ok(false),
        _ => {}
    }
    let input = spec.input.as_ref().expect("validated at load");
    let size = (input.width, input.height);
    let (a, b) = probe_inputs(spec);
    let mut run =
        |n: usize, data: Vec<f32>| infer(session, spec, n, size, data).map_err(|e| e.to_string());
    match batching::probe(&mut run, a, b) {
        Ok(()) => Ok(true),
        Err(why) if spec.batch == Some(true) => Err(refuse(format!(
            "batch = true, but batches do not run as single images: {why}"
        ))),
        Err(why) => {
            tracing::info!(model = %spec.name, %why, "vision model runs one image at a time");
            Ok(false)
        }
    }
}

/// Runs the inputs the batcher collected through a segmentation session, one output plane
/// each. Inputs of the same size run together when the model may batch, in arrival order; a
/// batch that fails is retried one image at a time, so one image cannot fail its neighbours.
fn run_segmentation(
    session: &mut Session,
    spec: &ModelSpec,
    batches: bool,
    inputs: Vec<SegInput>,
) -> Vec<SegOutput> {
    let mut run = |n: usize, size: (u32, u32), data: Vec<f32>| -> Result<Vec<f32>, VisionError> {
        infer(session, spec, n, size, data).map_err(|e| failed(&spec.name, e))
    };
    let mut results: Vec<Option<SegOutput>> = inputs.iter().map(|_| None).collect();
    let mut pending: Vec<(usize, SegInput)> = inputs.into_iter().enumerate().collect();
    while !pending.is_empty() {
        let size = pending[0].1.size;
        let (group, rest): (Vec<_>, Vec<_>) =
            pending.into_iter().partition(|(_, i)| i.size == size);
        pending = rest;
        if batches && group.len() > 1 {
            let n = group.len();
            let (slots, data): (Vec<usize>, Vec<Vec<f32>>) =
                group.into_iter().map(|(k, i)| (k, i.data)).unzip();
            match run(n, size, data.concat()) {
                Ok(all) if all.len() % n == 0 => {
                    for (k, plane) in slots.into_iter().zip(all.chunks(all.len() / n)) {
                        results[k] = Some(Ok(plane.to_vec()));
                    }
                }
                _ => {
                    for (k, one) in slots.into_iter().zip(data) {
                        results[k] = Some(run(1, size, one));
                    }
                }
            }
        } else {
            for (k, i) in group {
                results[k] = Some(run(1, size, i.data));
            }
        }
    }
    results
        .into_iter()
        .map(|r| r.expect("every input belongs to one group"))
        .collect()
}

fn run_faces(session: &mut Session, model: &str, prepared: faces::Prepared) -> FaceOutput {
    let run = |session: &mut Session| -> Result<[Vec<f32>; 12], ort::Error> {
        let shape = vec![1, 3, prepared.height, prepared.width];
        let outputs = session.run(ort::inputs![Tensor::from_array((shape, prepared.data))?])?;
        let mut planes: [Vec<f32>; 12] = Default::default();
        for (i, plane) in planes.iter_mut().enumerate() {
            *plane = outputs[i].try_extract_tensor::<f32>()?.1.to_vec();
        }
        Ok(planes)
    };
    run(session).map_err(|e| failed(model, e))
}

impl Vision {
    /// Loads every model of the manifest: checks files, creates sessions, starts batchers.
    pub fn load(config: &VisionConfig, metrics: &Metrics) -> Result<Vision, VisionSetupError> {
        let manifest = ModelManifest::load(&config.models)?;
        let dir = config
            .models
            .parent()
            .map(PathBuf::from)
            .unwrap_or_default();
        let library = config
            .ort_library
            .clone()
            .or_else(|| std::env::var_os("ORT_DYLIB_PATH").map(PathBuf::from))
            .ok_or_else(|| VisionSetupError::Runtime("no ONNX Runtime library: set vision.ort_library or ORT_DYLIB_PATH (scripts/fetch-ort.sh)".into()))?;
        let env = engine::environment(&library)?;
        let wait = Duration::from_millis(config.max_wait_ms);
        let mut segmenters = HashMap::new();
        let mut faces_batcher = None;
        let mut faces_model = String::new();
        for spec in &manifest.models {
            let mut bytes = models::read_verified(spec, &dir)?;
            if spec.kind == Kind::Segmentation {
                let spatial = spec
                    .input
                    .as_ref()
                    .filter(|i| i.any_size)
                    .map(|i| match i.layout {
                        models::Layout::Nchw => [2, 3],
                        models::Layout::Nhwc => [1, 2],
                    });
                if let Some(rewritten) = onnx_batch::symbolic_dims(&bytes, spatial) {
                    bytes = rewritten;
                }
            }
            let (mut session, provider) = engine::session(
                &env,
                &spec.name,
                &bytes,
                config.device,
                config.threads,
                config.spin,
            )?;
            tracing::info!(model = %spec.name, provider = provider.name(), "vision model loaded");
            metrics
                .vision_provider
                .get_or_create(&ProviderLabels {
                    model: spec.name.clone(),
                    provider: provider.name().into(),
                })
                .set(1);
            let batch_size = metrics
                .vision_batch_size
                .get_or_create(&ModelLabel {
                    model: spec.name.clone(),
                })
                .clone();
            let run_time = metrics
                .vision_run_seconds
                .get_or_create(&ModelLabel {
                    model: spec.name.clone(),
                })
                .clone();
            match spec.kind {
                Kind::Segmentation => {
                    let symbolic = session
                        .inputs()
                        .first()
                        .and_then(|i| i.dtype().tensor_shape())
                        .is_some_and(|s| s.first().is_some_and(|d| *d < 0));
                    let batches = decide_batching(&mut session, spec, symbolic)?;
                    tracing::info!(model = %spec.name, batches, "vision model batching decided");
                    metrics
                        .vision_batching
                        .get_or_create(&ModelLabel {
                            model: spec.name.clone(),
                        })
                        .set(i64::from(batches));
                    let run_spec = spec.clone();
                    let batcher = Batcher::spawn(
                        &spec.name,
                        if batches { config.max_batch } else { 1 },
                        if batches { wait } else { Duration::ZERO },
                        config.queue,
                        move |inputs: Vec<SegInput>| {
                            timed(inputs, &batch_size, &run_time, |inputs| {
                                run_segmentation(&mut session, &run_spec, batches, inputs)
                            })
                        },
                    );
                    segmenters.insert(
                        spec.name.clone(),
                        Segmenter {
                            spec: spec.clone(),
                            batcher,
                        },
                    );
                }
                Kind::Faces => {
                    let model = spec.name.clone();
                    faces_model = spec.name.clone();
                    let batcher = Batcher::spawn(
                        &spec.name,
                        1,
                        Duration::ZERO,
                        config.queue,
                        move |inputs: Vec<faces::Prepared>| {
                            timed(inputs, &batch_size, &run_time, |inputs| {
                                inputs
                                    .into_iter()
                                    .map(|p| run_faces(&mut session, &model, p))
                                    .collect()
                            })
                        },
                    );
                    faces_batcher = Some(batcher);
                }
            }
        }
        let faces = faces_batcher.ok_or_else(|| {
            VisionSetupError::Manifest(format!(
                "{}: no model of kind \"faces\"",
                config.models.display()
            ))
        })?;
        Ok(Vision {
            segmenters,
            default_segmenter: manifest.default_segmenter,
            faces,
            faces_model,
            errors: metrics.vision_errors.clone(),
            decode_budget: upload::DecodeBudget::new(config.decode_budget_mb << 20),
        })
    }

    /// Models that no worker serves (one that died and could not be restarted): `/readyz`
    /// answers 503 while any is listed.
    pub fn unavailable(&self) -> Vec<String> {
        let mut down: Vec<String> = self
            .segmenters
            .iter()
            .filter(|(_, s)| !s.batcher.alive())
            .map(|(name, _)| name.clone())
            .collect();
        if !self.faces.alive() {
            down.push(self.faces_model.clone());
        }
        down.sort();
        down
    }

    /// The names of the segmentation models, the default first.
    pub fn segmenter_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .segmenters
            .keys()
            .filter(|n| **n != self.default_segmenter)
            .cloned()
            .collect();
        names.sort();
        names.insert(0, self.default_segmenter.clone());
        names
    }

    /// Counts a failed call in `atelier_vision_errors_total{model, reason}`. `model` is a
    /// configured model's name (a name the guest made up is counted as `unknown`, so the
    /// label's values stay bounded by the manifest).
    fn counted<T>(&self, model: &str, result: Result<T, VisionError>) -> Result<T, VisionError> {
        if let Err(e) = &result {
            let known = model == self.faces_model || self.segmenters.contains_key(model);
            let reason = match e {
                VisionError::InvalidImage(_) => "invalid_image",
                VisionError::UnknownModel(_) => "unknown_model",
                VisionError::Overloaded => "overloaded",
                VisionError::Unavailable(_) => "unavailable",
                VisionError::Failed(_) => "failed",
                VisionError::OutOfMemory(_) => "out_of_memory",
            };
            self.errors
                .get_or_create(&ModelReasonLabels {
                    model: if known { model } else { "unknown" }.to_string(),
                    reason: reason.to_string(),
                })
                .inc();
        }
        result
    }

    /// The alpha matte of `image` from `model` (default when `None`); with `side`, an
    /// `any_size` model sees the image at that many pixels on its longer side. The model's run
    /// time is added to `timing`.
    pub async fn segment(
        &self,
        image: Arc<RgbImage>,
        model: Option<String>,
        side: Option<u32>,
        timing: &HostTiming,
    ) -> Result<Vec<u8>, VisionError> {
        let name = model.unwrap_or_else(|| self.default_segmenter.clone());
        let result = self.segment_with(image, &name, side, timing).await;
        self.counted(&name, result)
    }

    async fn segment_with(
        &self,
        rgb: Arc<RgbImage>,
        name: &str,
        side: Option<u32>,
        timing: &HostTiming,
    ) -> Result<Vec<u8>, VisionError> {
        let segmenter = self.segmenters.get(name).ok_or_else(|| {
            VisionError::UnknownModel(format!(
                "{name:?}; available: {}",
                self.segmenter_names().join(", ")
            ))
        })?;
        let size = rgb.dimensions();
        let input = segmenter.spec.input.clone().expect("validated at load");
        let output = segmenter.spec.output.clone().expect("validated at load");
        let model_size = input.size_for(size, side);
        let fail = |e: tokio::task::JoinError| failed(name, e);
        let prepared = tokio::task::spawn_blocking(move || SegInput {
            data: segment::preprocess(&rgb, &input, model_size),
            size: model_size,
        })
        .await
        .map_err(fail)?;
        let (plane, took) = segmenter
            .batcher
            .submit(prepared)
            .map_err(|_| VisionError::Overloaded)?
            .await
            .map_err(|_| failed(name, "the model's worker stopped"))?;
        timing.add_inference(took);
        let plane = plane?;
        let filter = match side {
            Some(_) => resize::Filter::Bilinear,
            None => resize::Filter::Lanczos3,
        };
        tokio::task::spawn_blocking(move || {
            segment::postprocess(&plane, model_size, output.normalize, size, filter)
        })
        .await
        .map_err(fail)
    }

    /// Every face in `image`, best first. The model's run time is added to `timing`.
    pub async fn detect(
        &self,
        image: Arc<RgbImage>,
        timing: &HostTiming,
    ) -> Result<Vec<faces::Detection>, VisionError> {
        let result = self.detect_with(image, timing).await;
        self.counted(&self.faces_model, result)
    }

    async fn detect_with(
        &self,
        rgb: Arc<RgbImage>,
        timing: &HostTiming,
    ) -> Result<Vec<faces::Detection>, VisionError> {
        let model = self.faces_model.as_str();
        let prepared = tokio::task::spawn_blocking(move || faces::preprocess(&rgb))
            .await
            .map_err(|e| failed(model, e))?;
        let (w, h, scale) = (prepared.width, prepared.height, prepared.scale);
        let (outputs, took) = self
            .faces
            .submit(prepared)
            .map_err(|_| VisionError::Overloaded)?
            .await
            .map_err(|_| failed(model, "the model's worker stopped"))?;
        timing.add_inference(took);
        let outputs = outputs?;
        let shape = faces::Prepared {
            data: Vec::new(),
            width: w,
            height: h,
            scale,
        };
        Ok(faces::decode(&outputs, &shape))
    }
}

/// One instance's vision state: the shared models, what its images may still take of its
/// memory cap, and its request's host-side time (model runs are added to it).
pub struct VisionInstance {
    vision: Option<Arc<Vision>>,
    allowance: Allowance,
    timing: Arc<HostTiming>,
}

impl VisionInstance {
    /// `memory_bytes`: the function's memory cap, which its host-held images share.
    pub fn new(vision: Option<Arc<Vision>>, memory_bytes: u64, timing: Arc<HostTiming>) -> Self {
        VisionInstance {
            vision,
            allowance: Allowance::new(memory_bytes),
            timing,
        }
    }
}

/// What a store exposes to the vision bindings: the instance's state and the store's resource
/// table, where its images live.
pub struct VisionView<'a> {
    pub instance: &'a mut VisionInstance,
    pub table: &'a mut ResourceTable,
}

impl VisionView<'_> {
    fn get(&self) -> Result<Arc<Vision>, VisionError> {
        self.instance
            .vision
            .clone()
            .ok_or_else(|| VisionError::Unavailable("vision is not configured on this host".into()))
    }

    /// Keeps `rgb` for the component, charged to the instance's allowance.
    fn hold(
        &mut self,
        rgb: RgbImage,
    ) -> wasmtime::Result<Result<Resource<HostImage>, VisionError>> {
        let image = HostImage { rgb: Arc::new(rgb) };
        if let Err(e) = self.instance.allowance.take(image.bytes()) {
            return Ok(Err(e));
        }
        Ok(Ok(self.table.push(image)?))
    }

    fn pixels(&self, image: &Resource<HostImage>) -> wasmtime::Result<Arc<RgbImage>> {
        Ok(self.table.get(image)?.rgb.clone())
    }
}

impl bindings::atelier::vision::types::Host for VisionView<'_> {}

impl bindings::atelier::vision::types::HostImage for VisionView<'_> {
    async fn from_rgb(
        &mut self,
        width: u32,
        height: u32,
        rgb: Vec<u8>,
    ) -> wasmtime::Result<Result<Resource<HostImage>, VisionError>> {
        match handle::from_rgb(width, height, rgb) {
            Ok(rgb) => self.hold(rgb),
            Err(e) => Ok(Err(e)),
        }
    }

    async fn width(&mut self, image: Resource<HostImage>) -> wasmtime::Result<u32> {
        Ok(self.pixels(&image)?.width())
    }

    async fn height(&mut self, image: Resource<HostImage>) -> wasmtime::Result<u32> {
        Ok(self.pixels(&image)?.height())
    }

    async fn rgb(&mut self, image: Resource<HostImage>) -> wasmtime::Result<Vec<u8>> {
        Ok(self.pixels(&image)?.as_raw().clone())
    }

    async fn crop(
        &mut self,
        image: Resource<HostImage>,
        x: u32,
        y: u32,
        width: u32,
        height: u32,
    ) -> wasmtime::Result<Result<Resource<HostImage>, VisionError>> {
        let rgb = self.pixels(&image)?;
        match handle::crop(&rgb, x, y, width, height) {
            Ok(part) => self.hold(part),
            Err(e) => Ok(Err(e)),
        }
    }

    async fn resize(
        &mut self,
        image: Resource<HostImage>,
        width: u32,
        height: u32,
    ) -> wasmtime::Result<Result<Resource<HostImage>, VisionError>> {
        let rgb = self.pixels(&image)?;
        // Off the executor: a large image takes milliseconds.
        let resized = tokio::task::spawn_blocking(move || handle::resized(&rgb, width, height))
            .await
            .map_err(|e| wasmtime::Error::msg(format!("resizing stopped: {e}")))?;
        match resized {
            Ok(rgb) => self.hold(rgb),
            Err(e) => Ok(Err(e)),
        }
    }

    async fn drop(&mut self, image: Resource<HostImage>) -> wasmtime::Result<()> {
        let image = self.table.delete(image)?;
        self.instance.allowance.give(image.bytes());
        Ok(())
    }
}

impl bindings::atelier::vision::segmentation::Host for VisionView<'_> {
    async fn segment(
        &mut self,
        img: Resource<HostImage>,
        model: Option<String>,
    ) -> wasmtime::Result<Result<Vec<u8>, VisionError>> {
        let rgb = self.pixels(&img)?;
        let timing = self.instance.timing.clone();
        Ok(match self.get() {
            Ok(vision) => vision.segment(rgb, model, None, &timing).await,
            Err(e) => Err(e),
        })
    }

    async fn segment_at(
        &mut self,
        img: Resource<HostImage>,
        model: Option<String>,
        side: u32,
    ) -> wasmtime::Result<Result<Vec<u8>, VisionError>> {
        let rgb = self.pixels(&img)?;
        let timing = self.instance.timing.clone();
        Ok(match self.get() {
            Ok(vision) => vision.segment(rgb, model, Some(side), &timing).await,
            Err(e) => Err(e),
        })
    }

    async fn models(&mut self) -> wasmtime::Result<Vec<String>> {
        Ok(self.get().map(|v| v.segmenter_names()).unwrap_or_default())
    }
}

impl bindings::atelier::vision::faces::Host for VisionView<'_> {
    async fn detect(
        &mut self,
        img: Resource<HostImage>,
    ) -> wasmtime::Result<Result<Vec<Face>, VisionError>> {
        let rgb = self.pixels(&img)?;
        let timing = self.instance.timing.clone();
        let found = match self.get() {
            Ok(vision) => vision.detect(rgb, &timing).await,
            Err(e) => Err(e),
        };
        Ok(found.map(|found| {
            found
                .into_iter()
                .map(|d| Face {
                    x: d.x,
                    y: d.y,
                    width: d.width,
                    height: d.height,
                    landmarks: d
                        .landmarks
                        .iter()
                        .map(|p| Point { x: p[0], y: p[1] })
                        .collect(),
                    score: d.score,
                })
                .collect()
        }))
    }
}

impl bindings::atelier::vision::images::Host for VisionView<'_> {
    async fn decode(
        &mut self,
        data: Vec<u8>,
    ) -> wasmtime::Result<Result<Resource<HostImage>, DecodeError>> {
        let Some(budget) = self
            .instance
            .vision
            .as_ref()
            .map(|v| v.decode_budget.clone())
        else {
            return Ok(Err(DecodeError::Invalid(
                "vision is not configured on this host".into(),
            )));
        };
        // Off the executor: a photo takes milliseconds to decode.
        let decoded = tokio::task::spawn_blocking(move || upload::decode(&data, &budget))
            .await
            .map_err(|e| wasmtime::Error::msg(format!("the decoder stopped: {e}")))?;
        match decoded {
            // The decode budget's reservation ends here; the image is charged to the
            // instance's allowance from now on.
            Ok((rgb, _reservation)) => Ok(match self.hold(rgb)? {
                Ok(image) => Ok(image),
                Err(e) => Err(DecodeError::Invalid(format!("{e:?}"))),
            }),
            Err(upload::DecodeError::Invalid(m)) => Ok(Err(DecodeError::Invalid(m))),
            Err(upload::DecodeError::TooLarge { width, height }) => {
                Ok(Err(DecodeError::TooLarge(Dimensions { width, height })))
            }
            Err(upload::DecodeError::Busy) => Ok(Err(DecodeError::Busy)),
        }
    }
}

struct HasVision;

impl wasmtime::component::HasData for HasVision {
    type Data<'a> = VisionView<'a>;
}

/// Adds `atelier:vision` to a linker; `view` finds the vision handle in the store data.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
    view: fn(&mut T) -> VisionView<'_>,
) -> wasmtime::Result<()> {
    bindings::atelier::vision::types::add_to_linker::<T, HasVision>(linker, view)?;
    bindings::atelier::vision::segmentation::add_to_linker::<T, HasVision>(linker, view)?;
    bindings::atelier::vision::faces::add_to_linker::<T, HasVision>(linker, view)?;
    bindings::atelier::vision::images::add_to_linker::<T, HasVision>(linker, view)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inference_failure_names_the_model_and_keeps_the_engine_text_out() {
        let engine =
            "Non-zero status code returned while running Reshape node. Name:'Transpose__363'";
        let VisionError::Failed(message) = failed("selfie", engine) else {
            panic!("not a failure")
        };
        assert_eq!(message, r#"model "selfie" could not process this image"#);
    }
}
