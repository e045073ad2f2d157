//! Dynamic batching: concurrent calls for one model are coalesced into batches.
//!
//! A worker thread takes the first waiting job, then keeps collecting until the batch holds
//! `max_batch` jobs or `max_wait` has passed since the first was queued, and runs them together:
//! a job that already waited for a running batch is not held again, so at light load a job waits
//! at most one batch plus `max_wait`.
//! Invariants: the queue is bounded — a full queue refuses at once (the caller answers 503 with
//! Retry-After) rather than letting latency grow without bound; every accepted job gets exactly
//! one reply, also when inference fails, and a job whose caller has gone (its function's
//! deadline passed while it waited) is dropped unrun; a worker that panics (a batch whose run panics) drops
//! its jobs' replies (the callers' error) and starts its successor as it unwinds, which serves
//! the queue from the next job on, so one bad batch never disables the model. Only a worker
//! that could not be restarted leaves the model unhealthy ([`Batcher::alive`], `/readyz`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TrySendError};
use tokio::sync::oneshot;

struct Job<I, O> {
    input: I,
    reply: oneshot::Sender<O>,
    queued: Instant,
}

type Run<I, O> = Arc<Mutex<dyn FnMut(Vec<I>) -> Vec<O> + Send>>;

/// The submitting side of a model's batch queue.
pub struct Batcher<I, O> {
    queue: Sender<Job<I, O>>,
    health: Arc<Health>,
}

#[derive(Default)]
struct Health {
    alive: AtomicBool,
    restarts: AtomicU64,
}

/// What a worker thread owns; dropping it while panicking starts the next worker.
struct Worker<I, O> {
    model: String,
    max_batch: usize,
    max_wait: Duration,
    jobs: Receiver<Job<I, O>>,
    run: Run<I, O>,
    health: Arc<Health>,
}

/// The queue was full.
#[derive(Debug)]
pub struct Full;

impl<I: Send + 'static, O: Send + 'static> Worker<I, O> {
    fn successor(&self) -> Self {
        Worker {
            model: self.model.clone(),
            max_batch: self.max_batch,
            max_wait: self.max_wait,
            jobs: self.jobs.clone(),
            run: self.run.clone(),
            health: self.health.clone(),
        }
    }

    fn serve(self) {
        while let Ok(first) = self.jobs.recv() {
            let deadline = first.queued + self.max_wait;
            let mut jobs = vec![first];
            while jobs.len() < self.max_batch.max(1) {
                match self.jobs.recv_deadline(deadline) {
                    Ok(job) => jobs.push(job),
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                }
            }
            // A caller that went away (its deadline passed) is not worked for.
            jobs.retain(|j| !j.reply.is_closed());
            if jobs.is_empty() {
                continue;
            }
            let (inputs, replies): (Vec<I>, Vec<_>) =
                jobs.into_iter().map(|j| (j.input, j.reply)).unzip();
            let outputs = (self.run.lock().unwrap_or_else(|e| e.into_inner()))(inputs);
            for (reply, output) in replies.into_iter().zip(outputs) {
                let _ = reply.send(output);
            }
        }
    }
}

impl<I, O> Drop for Worker<I, O> {
    fn drop(&mut self) {
        self.health.alive.store(false, Ordering::Release);
    }
}

/// Restarts a worker whose thread unwinds. A separate guard, so that the successor is started
/// after the dying worker marked itself dead.
struct Restart<I: Send + 'static, O: Send + 'static>(Option<Worker<I, O>>);

impl<I: Send + 'static, O: Send + 'static> Drop for Restart<I, O> {
    fn drop(&mut self) {
        let Some(next) = self.0.take() else { return };
        if !std::thread::panicking() {
            return;
        }
        let (model, health) = (next.model.clone(), next.health.clone());
        health.restarts.fetch_add(1, Ordering::Relaxed);
        match supervised(next) {
            Ok(()) => {
                tracing::error!(model = %model, "a vision batch panicked; its callers got an error and the worker was restarted")
            }
            Err(e) => {
                tracing::error!(model = %model, error = %e, "a vision worker died and could not be restarted; the model is unavailable")
            }
        }
    }
}

impl<I: Send + 'static, O: Send + 'static> Batcher<I, O> {
    /// Starts the worker thread. `run` maps a batch of inputs to one output per input, in order.
    pub fn spawn(
        name: &str,
        max_batch: usize,
        max_wait: Duration,
        queue: usize,
        run: impl FnMut(Vec<I>) -> Vec<O> + Send + 'static,
    ) -> Self {
        let (tx, rx) = bounded::<Job<I, O>>(queue.max(1));
        let health = Arc::new(Health::default());
        let worker = Worker {
            model: name.to_string(),
            max_batch,
            max_wait,
            jobs: rx,
            run: Arc::new(Mutex::new(run)),
            health: health.clone(),
        };
        supervised(worker).expect("spawning a vision worker");
        Batcher { queue: tx, health }
    }

    /// Queues one input; the receiver yields its output.
    pub fn submit(&self, input: I) -> Result<oneshot::Receiver<O>, Full> {
        let (reply, rx) = oneshot::channel();
        let queued = Instant::now();
        match self.queue.try_send(Job {
            input,
            reply,
            queued,
        }) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => Err(Full),
        }
    }

    /// Whether a worker serves the queue.
    pub fn alive(&self) -> bool {
        self.health.alive.load(Ordering::Acquire)
    }

    /// Workers restarted after a panic so far.
    pub fn restarts(&self) -> u64 {
        self.health.restarts.load(Ordering::Relaxed)
    }
}

/// Starts `worker` in a thread whose unwinding starts its successor.
fn supervised<I: Send + 'static, O: Send + 'static>(worker: Worker<I, O>) -> std::io::Result<()> {
    let next = worker.successor();
    let health = worker.health.clone();
    std::thread::Builder::new()
        .name(format!("vision-{}", worker.model))
        .spawn(move || {
            let restart = Restart(Some(next));
            worker.serve();
            drop(restart);
        })?;
    health.alive.store(true, Ordering::Release);
    Ok(())
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
    async fn a_panicking_batch_fails_its_callers_and_the_worker_is_restarted() {
        let batcher = Batcher::spawn("test", 1, Duration::ZERO, 8, |xs: Vec<u32>| {
            assert!(xs[0] != 13, "a model that cannot take 13");
            xs
        });
        assert!(batcher.alive());
        for round in 1..=3 {
            // Queued behind the bad job: served by the restarted worker, nobody submits after.
            let bad = batcher.submit(13).unwrap();
            let good = batcher.submit(7).unwrap();
            assert!(bad.await.is_err(), "the panicking job gets an error");
            assert_eq!(good.await.unwrap(), 7, "the job queued behind it runs");
            assert_eq!(batcher.restarts(), round);
            assert!(batcher.alive());
        }
    }

    #[tokio::test]
    async fn jobs_whose_callers_left_are_not_run() {
        let ran = Arc::new(Mutex::new(Vec::new()));
        let seen = ran.clone();
        let batcher = Batcher::spawn(
            "test",
            4,
            Duration::from_millis(100),
            8,
            move |xs: Vec<u32>| {
                seen.lock().unwrap().extend(xs.iter().copied());
                xs
            },
        );
        let kept = batcher.submit(1).unwrap();
        drop(batcher.submit(2).unwrap());
        assert_eq!(kept.await.unwrap(), 1);
        assert_eq!(*ran.lock().unwrap(), vec![1], "the abandoned job never ran");
    }

    #[test]
    fn a_worker_ends_with_its_batcher() {
        let batcher = Batcher::spawn("test", 1, Duration::ZERO, 8, |xs: Vec<u32>| xs);
        let health = batcher.health.clone();
        drop(batcher);
        let started = Instant::now();
        while health.alive.load(Ordering::Acquire) {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the worker still runs"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(health.restarts.load(Ordering::Relaxed), 0);
    }
}
