//! Dynamic batching: concurrent calls for one model are coalesced into batches.
//!
//! A worker thread takes the first waiting job, then keeps collecting until the batch holds
//! `max_batch` jobs or `max_wait` has passed since the first, and runs them together.
//! Invariants: the queue is bounded — a full queue refuses at once (the caller answers 503 with
//! Retry-After) rather than letting latency grow without bound; every accepted job gets exactly
//! one reply, also when inference fails; a batch whose run panics answers its jobs with a
//! closed reply (the callers' error) and the worker goes on with the next batch, so one bad
//! batch never disables the model.

use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, RecvTimeoutError, Sender, TrySendError};
use tokio::sync::oneshot;

struct Job<I, O> {
    input: I,
    reply: oneshot::Sender<O>,
}

/// The submitting side of a model's batch queue.
pub struct Batcher<I, O> {
    queue: Sender<Job<I, O>>,
}

/// The queue was full.
#[derive(Debug)]
pub struct Full;

impl<I: Send + 'static, O: Send + 'static> Batcher<I, O> {
    /// Starts the worker thread. `run` maps a batch of inputs to one output per input, in order.
    pub fn spawn(
        name: &str,
        max_batch: usize,
        max_wait: Duration,
        queue: usize,
        mut run: impl FnMut(Vec<I>) -> Vec<O> + Send + 'static,
    ) -> Self {
        let (tx, rx) = bounded::<Job<I, O>>(queue.max(1));
        let model = name.to_string();
        std::thread::Builder::new()
            .name(format!("vision-{name}"))
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let deadline = Instant::now() + max_wait;
                    let mut jobs = vec![first];
                    while jobs.len() < max_batch.max(1) {
                        match rx.recv_deadline(deadline) {
                            Ok(job) => jobs.push(job),
                            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                                break
                            }
                        }
                    }
                    let (inputs, replies): (Vec<I>, Vec<_>) =
                        jobs.into_iter().map(|j| (j.input, j.reply)).unzip();
                    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(inputs)));
                    let Ok(outputs) = ran else {
                        tracing::error!(model = %model, jobs = replies.len(), "a vision batch panicked; its callers get an error, the worker goes on");
                        continue;
                    };
                    for (reply, output) in replies.into_iter().zip(outputs) {
                        let _ = reply.send(output);
                    }
                }
            })
            .expect("spawning a vision worker");
        Batcher { queue: tx }
    }

    /// Queues one input; the receiver yields its output.
    pub fn submit(&self, input: I) -> Result<oneshot::Receiver<O>, Full> {
        let (reply, rx) = oneshot::channel();
        match self.queue.try_send(Job { input, reply }) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => Err(Full),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn coalesces_and_refuses_when_full() {
        let batcher = Batcher::spawn("test", 4, Duration::from_millis(50), 8, |xs: Vec<u32>| {
            std::thread::sleep(Duration::from_millis(20));
            let n = xs.len() as u32;
            xs.into_iter().map(|x| (x, n)).collect()
        });
        let rxs: Vec<_> = (0..4).map(|i| batcher.submit(i).unwrap()).collect();
        for (i, rx) in rxs.into_iter().enumerate() {
            let (x, batch) = rx.await.unwrap();
            assert_eq!(x, i as u32);
            assert_eq!(batch, 4, "four concurrent jobs ran as one batch");
        }
        let flood: Vec<_> = (0..40).map(|i| batcher.submit(i)).collect();
        assert!(
            flood.iter().any(|r| r.is_err()),
            "a bounded queue refuses when full"
        );
    }

    #[tokio::test]
    async fn a_panicking_batch_fails_its_callers_and_the_worker_goes_on() {
        let batcher = Batcher::spawn("test", 1, Duration::ZERO, 8, |xs: Vec<u32>| {
            assert!(xs[0] != 13, "a model that cannot take 13");
            xs
        });
        assert!(
            batcher.submit(13).unwrap().await.is_err(),
            "the panicking job gets an error"
        );
        assert_eq!(
            batcher.submit(7).unwrap().await.unwrap(),
            7,
            "the next job runs"
        );
    }
}
