//! Misbehaves on purpose so the end-to-end tests can prove the host's limits:
//! the last path segment picks the behaviour.
//!
//! - `spin`: an infinite loop (CPU deadline), `hog`: allocates until memory runs out (memory cap),
//! - `sleep?ms=N`: blocks on a WASI clock (wall-clock timeout, concurrency limit),
//! - `panic`: traps, `echo`: returns the body (body-size limit), `log`: writes to stdout/stderr,
//! - `headers`: the request headers it received, as JSON (what the host strips and adds),
//! - `fetch?url=http://host[:port]/path`: makes an outbound HTTP request (outbound allow-list),
//! - `hoard?n=N`: keeps N header-field resources of 32 KiB each on the host's side (the cap
//!   on host-side resources); answers how many it holds.
#![cfg(target_arch = "wasm32")]

use std::hint::black_box;

use atelier_guest::{serve, Request, Response};
use wasip2::http::types::{IncomingRequest, ResponseOutparam};

struct Chaos;

/// A query parameter, parsed.
fn param<T: std::str::FromStr>(req: &Request, name: &str) -> Option<T> {
    req.query_pairs()
        .into_iter()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.parse().ok())
}

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
                    let ms: u64 = param(&req, "ms").unwrap_or(100);
                    std::thread::sleep(std::time::Duration::from_millis(ms));
                    Response::bytes("text/plain", format!("slept {ms} ms\n").into_bytes())
                }
                "panic" => panic!("chaos: asked to panic"),
                "headers" => {
                    let seen: Vec<_> = req
                        .headers
                        .iter()
                        .map(|(k, v)| [k.clone(), String::from_utf8_lossy(v).into_owned()])
                        .collect();
                    Response::json(200, &serde_json::json!({ "headers": seen }))
                }
                "log" => {
                    println!("chaos says hello on stdout");
                    eprintln!("chaos says hello on stderr");
                    Response::bytes("text/plain", b"logged\n".to_vec())
                }
                "fetch" => {
                    let url: String = param(&req, "url").unwrap_or_default();
                    match fetch(&url) {
                        Ok((status, body)) => Response {
                            status,
                            ..Response::bytes("application/octet-stream", body)
                        },
                        Err(message) => Response::error(502, "fetch_failed", message, None),
                    }
                }
                "hoard" => {
                    let n: usize = param(&req, "n").unwrap_or(1);
                    let value = vec![b'x'; 32 << 10];
                    let held: Vec<_> = (0..n)
                        .map_while(|_| {
                            let fields = wasip2::http::types::Fields::new();
                            fields.append("x-hoard", &value).ok().map(|()| fields)
                        })
                        .collect();
                    Response::bytes("text/plain", format!("{}\n", held.len()).into_bytes())
                }
                _ => Response::bytes("application/octet-stream", req.body),
            }
        });
    }
}

/// GET `url` (plain http) through `wasi:http/outgoing-handler`: status and body.
fn fetch(url: &str) -> Result<(u16, Vec<u8>), String> {
    use std::io::Read;
    use wasip2::http::types::{Fields, OutgoingBody, OutgoingRequest, Scheme};
    let rest = url
        .strip_prefix("http://")
        .ok_or("give url=http://host/path")?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let request = OutgoingRequest::new(Fields::new());
    request
        .set_scheme(Some(&Scheme::Http))
        .map_err(|()| "scheme")?;
    request
        .set_authority(Some(authority))
        .map_err(|()| "authority")?;
    request
        .set_path_with_query(Some(if path.is_empty() { "/" } else { path }))
        .map_err(|()| "path")?;
    let body = request.body().map_err(|()| "body")?;
    OutgoingBody::finish(body, None).map_err(|e| format!("{e:?}"))?;
    let pending = wasip2::http::outgoing_handler::handle(request, None)
        .map_err(|e| format!("refused: {e:?}"))?;
    pending.subscribe().block();
    let response = pending
        .get()
        .ok_or("no response")?
        .map_err(|()| "response taken twice")?
        .map_err(|e| format!("{e:?}"))?;
    let status = response.status();
    let incoming = response.consume().map_err(|()| "body taken")?;
    let mut bytes = Vec::new();
    {
        let mut stream = incoming.stream().map_err(|()| "no body stream")?;
        stream.read_to_end(&mut bytes).map_err(|e| e.to_string())?;
    }
    Ok((status, bytes))
}

wasip2::http::proxy::export!(Chaos);
