//! Request limits enforced before a function runs: concurrent instances (503 + Retry-After),
//! body size (413) and the time to send the body (408).
//!
//! Invariant: a request reaches [`crate::runtime::Function::invoke`] only with a concurrency
//! permit taken before its body was read (so bodies held in memory are bounded by
//! `max_concurrency × max_body_kb` per function), its whole body read within the function's cap
//! and time, and the permit living as long as its instance.

use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use super::reply::{self, Body};
use crate::tenancy::gate::Saturated;

/// Why a request was refused before its function ran.
#[derive(Debug)]
pub enum Refusal {
    BodyTooLarge { max: u64 },
    BodyTimeout { after: Duration },
    BadBody(String),
    Saturated { max: u32 },
}

impl From<Saturated> for Refusal {
    fn from(s: Saturated) -> Self {
        Refusal::Saturated { max: s.max }
    }
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
            Refusal::BodyTimeout { after } => reply::error(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                &format!(
                    "the request body did not arrive within {} ms",
                    after.as_millis()
                ),
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

/// Reads a whole request body of at most `max` bytes, arriving within `within`.
pub async fn read_body(
    body: Incoming,
    content_length: Option<u64>,
    max: u64,
    within: Duration,
) -> Result<Bytes, Refusal> {
    if content_length.is_some_and(|len| len > max) {
        return Err(Refusal::BodyTooLarge { max });
    }
    let collected = tokio::time::timeout(within, Limited::new(body, max as usize).collect())
        .await
        .map_err(|_| Refusal::BodyTimeout { after: within })?;
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(Refusal::BodyTooLarge { max }),
        Err(e) => Err(Refusal::BadBody(e.to_string())),
    }
}

/// Reads what a client still sends of a refused request's body and drops it, at most `max`
/// bytes within `within`, keeping nothing: the client, which may still be writing, then reads
/// the refusal instead of a reset connection (a "lingering close").
pub fn discard(body: Incoming, max: u64, within: Duration) {
    tokio::spawn(async move {
        let mut body = body;
        let drain = async {
            let mut seen = 0u64;
            while let Some(Ok(frame)) = body.frame().await {
                seen += frame.data_ref().map_or(0, |d| d.len() as u64);
                if seen > max {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(within, drain).await;
    });
}
