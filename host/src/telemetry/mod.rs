//! What the host tells operators: structured logs and Prometheus metrics; and what it tells a
//! client about its request's time outside the guest (`Server-Timing`).

pub mod logging;
pub mod metrics;
pub mod timing;

pub use metrics::Metrics;
pub use timing::HostTiming;
