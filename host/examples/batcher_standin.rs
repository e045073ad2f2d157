//! The vision batcher alone, in front of a stand-in model whose batch latency follows measured
//! H100 figures for u2netp: 5.5 ms for one image, ~1.6 ms an image at batch 32-128, i.e.
//! `3.9 ms + 1.6 ms × n` (the model "runs" by sleeping, as a GPU leaves the CPU idle).
//! `cargo run --release -p atelier --example batcher_standin -- [MAX_BATCH] [MAX_WAIT_MS]`
//! (defaults 64 and 2): for 1, 16, 64 and 256 callers, each submitting again as soon as it is
//! answered, the throughput against the most the curve allows at that concurrency
//! (`b / latency(b)` with `b = min(callers, MAX_BATCH)`), and batch sizes; then a light open
//! load (50 requests/s at random times) and its queueing delay (answer time − the model's
//! time for one image) against `MAX_WAIT_MS` + one batch. Run by `bench/batcher.sh`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use atelier::vision::batcher::Batcher;

/// The stand-in's time for a batch of `n`.
fn latency(n: usize) -> Duration {
    Duration::from_micros(3_900 + 1_600 * n as u64)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let max_batch: usize = args.next().map_or(64, |a| a.parse().expect("MAX_BATCH"));
    let max_wait_ms: u64 = args.next().map_or(2, |a| a.parse().expect("MAX_WAIT_MS"));
    let batches = Arc::new(AtomicU64::new(0));
    let images = Arc::new(AtomicU64::new(0));
    let (b, i) = (batches.clone(), images.clone());
    let batcher = Arc::new(Batcher::spawn(
        "standin",
        max_batch,
        Duration::from_millis(max_wait_ms),
        4096,
        move |inputs: Vec<u32>| {
            std::thread::sleep(latency(inputs.len()));
            b.fetch_add(1, Ordering::Relaxed);
            i.fetch_add(inputs.len() as u64, Ordering::Relaxed);
            inputs
        },
    ));
    println!(
        "stand-in u2netp (3.9 ms + 1.6 ms/image), max_batch {max_batch}, max_wait {max_wait_ms} ms"
    );
    println!("callers | images/s | curve allows | share | mean batch | p50 ms | p99 ms");
    for callers in [1usize, 16, 64, 256] {
        let run_for = Duration::from_secs(3);
        batches.store(0, Ordering::Relaxed);
        images.store(0, Ordering::Relaxed);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..callers {
            let batcher = batcher.clone();
            tasks.push(tokio::spawn(async move {
                let mut waits = Vec::new();
                while started.elapsed() < run_for {
                    let sent = Instant::now();
                    let answer = batcher.submit(0).expect("queue of 4096");
                    answer.await.expect("answered");
                    waits.push(sent.elapsed());
                }
                waits
            }));
        }
        let mut waits = Vec::new();
        for t in tasks {
            waits.extend(t.await.unwrap());
        }
        let seconds = started.elapsed().as_secs_f64();
        waits.sort();
        let pct = |p: f64| waits[((waits.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3;
        let rate = waits.len() as f64 / seconds;
        let b = callers.min(max_batch);
        let allowed = b as f64 / latency(b).as_secs_f64();
        let mean_batch =
            images.load(Ordering::Relaxed) as f64 / batches.load(Ordering::Relaxed).max(1) as f64;
        println!(
            "{callers} | {rate:.0} | {allowed:.0} | {:.1}% | {mean_batch:.1} | {:.1} | {:.1}",
            100.0 * rate / allowed,
            pct(0.5),
            pct(0.99)
        );
    }
    // Light open load: arrivals at random times, 50 a second on average, for 4 s.
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next_gap = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let u = (rng >> 11) as f64 / (1u64 << 53) as f64;
        Duration::from_secs_f64(-(1.0 - u).ln() / 50.0)
    };
    let mut tasks = Vec::new();
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        tokio::time::sleep(next_gap()).await;
        let batcher = batcher.clone();
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            batcher.submit(0).expect("queue").await.expect("answered");
            sent.elapsed().saturating_sub(latency(1))
        }));
    }
    let mut delays = Vec::new();
    for t in tasks {
        delays.push(t.await.unwrap());
    }
    delays.sort();
    let pct = |p: f64| delays[((delays.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3;
    let bound = max_wait_ms as f64 + latency(1).as_secs_f64() * 1e3;
    println!(
        "light load (50/s, {} requests): queueing delay p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; bound max_wait + one batch = {bound:.1} ms",
        delays.len(),
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
}
