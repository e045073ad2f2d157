//! Atelier: a host that runs sandboxed `wasi:http` components as HTTP functions.
//!
//! Layers, each depending only on those below it:
//! - [`app`]: wires a manifest into a running server (what `atelier serve` calls);
//! - [`oneshot`]: one function on one request without a server (`atelier run`);
//! - [`deploy_client`]: the admin API's deploy from the command line (`atelier deploy`);
//! - [`server`]: hyper accept loop, routing, request limits, ops endpoints;
//! - [`tenancy`]: tenants, API keys, quotas, runtime deployments and the admin API;
//! - [`runtime`]: wasmtime engine, compile cache, per-request sandboxed instances;
//! - [`vision`]: the `atelier:vision` host functions (ONNX Runtime);
//! - [`config`]: the TOML manifest and its validation;
//! - [`telemetry`]: logs and metrics.

pub mod app;
pub mod config;
pub mod deploy_client;
pub mod oneshot;
pub mod runtime;
pub mod server;
pub mod telemetry;
pub mod tenancy;
pub mod vision;
