//! Bounding how many of something run at once: one function's instances, or all of a tenant's.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bounds the instances running at once.
pub struct ConcurrencyGate {
    permits: Arc<Semaphore>,
    max: u32,
}

/// Every permit is taken.
#[derive(Debug, Clone, Copy)]
pub struct Saturated {
    pub max: u32,
}

impl ConcurrencyGate {
    pub fn new(max: u32) -> Self {
        ConcurrencyGate {
            permits: Arc::new(Semaphore::new(max as usize)),
            max,
        }
    }

    /// A permit, held as long as what it admits runs; or a refusal when all are taken.
    pub fn enter(&self) -> Result<OwnedSemaphorePermit, Saturated> {
        self.permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| Saturated { max: self.max })
    }
}
