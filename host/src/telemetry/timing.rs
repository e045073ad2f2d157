//! Time the host spends on one request's behalf outside its guest — model inference, today —
//! told to the client as a `Server-Timing` entry beside the guest's own stages, so a slow
//! answer shows how much of it the models took and how much the rest.
//!
//! Invariant: only what the host itself measured is reported, and only what happened before
//! the guest sent its response head (the entry travels in that head).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// One request's host-side time, shared by the instance's host interfaces (which add to it)
/// and the runtime (which reports it with the response head).
#[derive(Debug, Default)]
pub struct HostTiming {
    inference_ns: AtomicU64,
}

impl HostTiming {
    /// Adds the wall time of a model run the request waited on (a batch's whole run: the
    /// request waited for all of it).
    pub fn add_inference(&self, took: Duration) {
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.inference_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// Model inference so far.
    pub fn inference(&self) -> Duration {
        Duration::from_nanos(self.inference_ns.load(Ordering::Relaxed))
    }

    /// The `Server-Timing` entry (`infer;dur=12.345;desc="model inference"`, milliseconds),
    /// `None` when the request ran no model.
    pub fn server_timing(&self) -> Option<String> {
        let took = self.inference();
        (!took.is_zero()).then(|| {
            format!(
                "infer;dur={:.3};desc=\"model inference\"",
                took.as_secs_f64() * 1e3
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inference_adds_up_and_is_reported_in_milliseconds() {
        let timing = HostTiming::default();
        assert_eq!(timing.server_timing(), None, "no model ran");
        timing.add_inference(Duration::from_micros(12_345));
        timing.add_inference(Duration::from_micros(1_000));
        assert_eq!(
            timing.server_timing().as_deref(),
            Some("infer;dur=13.345;desc=\"model inference\"")
        );
    }
}
