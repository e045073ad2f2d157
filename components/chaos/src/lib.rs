//! Misbehaves on purpose so the end-to-end tests can prove the host's limits:
//! the last path segment picks the behaviour.
//!
//! - `spin`: an infinite loop (CPU deadline), `hog`: allocates until memory runs out (memory cap),
//! - `sleep?ms=N`: blocks on a WASI clock (wall-clock timeout, concurrency limit),
//! - `panic`: traps, `echo`: returns the body (body-size limit), `log`: writes to stdout/stderr.
#![cfg(target_arch = "wasm32")]

use std::hint::black_box;

use atelier_guest::{serve, Response};
use wasip2::http::types::{IncomingRequest, ResponseOutparam};

struct Chaos;

impl wasip2::exports::http::incoming_handler::Guest for Chaos {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        serve(request, out, |req| {
            let action = req.path.rsplit('/').next().unwrap_or_default().to_string();
            match action.as_str() {
                "spin" => {
                    let mut n: u64 = 0;
                    loop {
                        n = black_box(n.wrapping_add(1));
                    }
                }
                "hog" => {
                    let mut chunks: Vec<Vec<u8>> = Vec::new();
                    loop {
                        // Touch every page so the memory is really used.
                        chunks.push(vec![1u8; 1 << 20]);
                        black_box(&chunks);
                    }
                }
                "sleep" => {
                    let ms: u64 = req
                        .query_pairs()
                        .into_iter()
                        .find(|(k, _)| k == "ms")
                        .and_then(|(_, v)| v.parse().ok())
                        .unwrap_or(100);
                    std::thread::sleep(std::time::Duration::from_millis(ms));
                    Response::bytes("text/plain", format!("slept {ms} ms\n").into_bytes())
                }
                "panic" => panic!("chaos: asked to panic"),
                "log" => {
                    println!("chaos says hello on stdout");
                    eprintln!("chaos says hello on stderr");
                    Response::bytes("text/plain", b"logged\n".to_vec())
                }
                _ => Response::bytes("application/octet-stream", req.body),
            }
        });
    }
}

wasip2::http::proxy::export!(Chaos);
