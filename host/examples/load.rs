//! A closed-loop HTTP/1.1 load generator for machines without `wrk` (the GPU machine has no
//! toolchain and no network; this binary travels with the host's): `CONNS` keep-alive
//! connections, each sending the next request as soon as the last is answered, for `SECONDS`.
//! `load URL CONNS SECONDS [BODY_FILE]` (a body makes it a POST) prints
//! `requests/s p50_ms p99_ms non_2xx errors` on one line; any non-2xx or failed request makes
//! the exit status 1, so a script never reports a fast error as throughput. Used by
//! `bench/gpu.sh`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    non_2xx: u64,
    errors: u64,
}

async fn connection(url: hyper::Uri, body: Option<Bytes>, until: Instant) -> Tally {
    let mut tally = Tally::default();
    let authority = url.authority().expect("URL with host:port").clone();
    'reconnect: while Instant::now() < until {
        let Ok(stream) = tokio::net::TcpStream::connect(authority.as_str()).await else {
            tally.errors += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let Ok((mut sender, conn)) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
        else {
            tally.errors += 1;
            continue;
        };
        tokio::spawn(conn);
        while Instant::now() < until {
            let request = hyper::Request::builder()
                .method(if body.is_some() { "POST" } else { "GET" })
                .uri(url.path_and_query().map_or("/", |p| p.as_str()))
                .header("host", authority.as_str())
                .body(Full::new(body.clone().unwrap_or_default()))
                .expect("a request");
            let sent = Instant::now();
            match sender.send_request(request).await {
                Ok(response) => {
                    let ok = response.status().is_success();
                    if response.into_body().collect().await.is_err() {
                        tally.errors += 1;
                        continue 'reconnect;
                    }
                    tally.latencies.push(sent.elapsed());
                    tally.non_2xx += u64::from(!ok);
                }
                Err(_) => {
                    tally.errors += 1;
                    continue 'reconnect;
                }
            }
        }
    }
    tally
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, conns, seconds, rest @ ..] = args.as_slice() else {
        eprintln!("usage: load URL CONNS SECONDS [BODY_FILE]");
        std::process::exit(2);
    };
    let url: hyper::Uri = url.parse().expect("a URL");
    let conns: usize = conns.parse().expect("CONNS: a number");
    let seconds: f64 = seconds.parse().expect("SECONDS: a number");
    let body = rest
        .first()
        .map(|f| Bytes::from(std::fs::read(f).expect("reading BODY_FILE")));
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(seconds);
    let body = Arc::new(body);
    let tasks: Vec<_> = (0..conns)
        .map(|_| tokio::spawn(connection(url.clone(), (*body).clone(), until)))
        .collect();
    let mut all = Tally::default();
    for task in tasks {
        let t = task.await.expect("a connection task");
        all.latencies.extend(t.latencies);
        all.non_2xx += t.non_2xx;
        all.errors += t.errors;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.latencies.sort();
    let pct = |p: f64| {
        all.latencies
            .get(((all.latencies.len().max(1) - 1) as f64 * p) as usize)
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
    };
    println!(
        "{:.1} {:.1} {:.1} {} {}",
        all.latencies.len() as f64 / elapsed,
        pct(0.5),
        pct(0.99),
        all.non_2xx,
        all.errors
    );
    if all.non_2xx > 0 || all.errors > 0 || all.latencies.is_empty() {
        std::process::exit(1);
    }
}
