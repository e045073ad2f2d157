//! Request limits enforced before a function runs: body size (413) and concurrent instances
//! (503 + Retry-After).
//!
//! Invariant: a request reaches [`crate::runtime::Function::invoke`] only with its whole body read
//! within the function's cap and a concurrency permit that lives as long as its instance.

use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::reply::{self, Body};

/// Why a request was refused before its function ran.
#[derive(Debug)]
pub enum Refusal {
    BodyTooLarge { max: u64 },
    BadBody(String),
    Saturated { max: u32 },
}

impl Refusal {
    /// The JSON answer for this refusal.
    pub fn response(&self, function: &str) -> http::Response<Body> {
        match self {
            Refusal::BodyTooLarge { max } => reply::error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                &format!("request body exceeds this function's limit of {max} bytes"),
                Some(function),
            ),
            Refusal::BadBody(e) => reply::error(
                StatusCode::BAD_REQUEST,
                "bad_body",
                &format!("reading request body: {e}"),
                Some(function),
            ),
            Refusal::Saturated { max } => reply::overloaded(
                &format!("function is at its limit of {max} concurrent instances"),
                Some(function),
                1,
            ),
        }
    }
}

/// Reads a whole request body of at most `max` bytes.
pub async fn read_body(
    body: Incoming,
    content_length: Option<u64>,
    max: u64,
) -> Result<Bytes, Refusal> {
    if content_length.is_some_and(|len| len > max) {
        return Err(Refusal::BodyTooLarge { max });
    }
    match Limited::new(body, max as usize).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(Refusal::BodyTooLarge { max }),
        Err(e) => Err(Refusal::BadBody(e.to_string())),
    }
}

/// Bounds the instances of one function running at once.
pub struct ConcurrencyGate {
    permits: Arc<Semaphore>,
    max: u32,
}

impl ConcurrencyGate {
    pub fn new(max: u32) -> Self {
        ConcurrencyGate {
            permits: Arc::new(Semaphore::new(max as usize)),
            max,
        }
    }

    /// A permit, or a refusal when the function is saturated.
    pub fn enter(&self) -> Result<OwnedSemaphorePermit, Refusal> {
        self.permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refusal::Saturated { max: self.max })
    }
}
