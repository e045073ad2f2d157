//! Atelier: a host that runs sandboxed `wasi:http` components as HTTP functions.
//!
//! Layers, highest first; each names only those below it (`tests/layers.rs` checks):
//! - [`app`]: wires a manifest into a running server (what `atelier serve` calls);
//!   [`oneshot`]: one function on one request without a server (`atelier run`);
//!   [`deploy_client`]: the admin API's deploy from the command line (`atelier deploy`);
//! - [`server`]: the HTTP surface: accept loop, dispatch, request limits, ops endpoints, the
//!   admin API, JSON replies;
//! - [`jobs`]: asynchronous requests: queues (in process, or Redis), results, the result
//!   cache, signed callbacks (how a job runs is the server's);
//! - [`tenancy`]: tenants, API keys, quotas, deployed functions and their routing table,
//!   runtime deployments and their store (no HTTP);
//! - [`cluster`]: the state several nodes share through Redis: the deployment registry and its
//!   change log, tenants' shared rate buckets, heartbeats (only with `[cluster] redis`);
//! - [`runtime`]: wasmtime engine, compiling, compile cache, per-request sandboxed instances;
//! - [`vision`]: the `atelier:vision` host functions (ONNX Runtime);
//! - [`config`]: the TOML manifest and its validation;
//! - [`routes`]: route identity, ownership and the routing table; [`telemetry`]: logs and
//!   metrics.
//!
//! One function on one request, without a server (what `atelier run` does); [`app::serve`]
//! serves the same manifest over HTTP:
//!
//! ```no_run
//! use std::path::Path;
//!
//! use atelier::config::Manifest;
//! use atelier::oneshot::{self, OneShot};
//!
//! # async fn example() -> anyhow::Result<()> {
//! let manifest = Manifest::parse(
//!     r#"
//!     [[function]]
//!     name = "qr"
//!     component = "target/wasm32-wasip2/release/qr.wasm"
//!     routes = [{ path = "/qr" }]
//!     "#,
//!     "example.toml",
//!     Path::new("."),
//! )?;
//! let shot = OneShot {
//!     function: "qr".into(),
//!     body: None,
//!     sub_path: String::new(),
//!     query: vec![("text".into(), "hello".into())],
//! };
//! let answer = oneshot::run(manifest, shot).await?;
//! assert_eq!(answer.status, 200);
//! assert_eq!(answer.content_type.as_deref(), Some("image/png"));
//! # Ok(())
//! # }
//! ```

pub mod app;
pub mod cluster;
pub mod config;
pub mod deploy_client;
pub mod jobs;
pub mod oneshot;
pub mod routes;
pub mod runtime;
pub mod server;
pub mod telemetry;
pub mod tenancy;
pub mod vision;
