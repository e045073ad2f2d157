//! What the host tells operators: structured logs and Prometheus metrics.

pub mod logging;
pub mod metrics;

pub use metrics::Metrics;
