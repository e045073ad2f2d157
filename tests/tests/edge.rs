//! The internet-facing edge through the real server, as an attacker would try it: uploads
//! refused before they are read, slow clients cut off, connections capped, oversized heads
//! refused, credentials kept from guests, pipelined requests answered in order.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use atelier_e2e::admin::{hashed, KEY_A, OPERATOR};
use atelier_e2e::{call, component, wait_for, Server};

fn manifest(max_concurrency: u32) -> String {
    format!(
        r#"
[[function]]
name = "chaos"
component = {:?}
routes = [{{ path = "/chaos" }}]
limits = {{ max_concurrency = {max_concurrency} }}

[admin]
token = "{operator}"
data_dir = "data"

[[tenant]]
id = "a"
hosts = ["a.test"]
api_keys = ["{key_a}"]
"#,
        component("chaos"),
        operator = hashed(OPERATOR),
        key_a = hashed(KEY_A),
    )
}

/// Whether the server has sent anything on `stream` yet (without waiting).
fn answered(stream: &mut TcpStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    let got = matches!(stream.peek(&mut byte), Ok(n) if n > 0);
    stream.set_nonblocking(false).unwrap();
    got
}

fn connect(server: &Server) -> TcpStream {
    let stream = TcpStream::connect(server.base.trim_start_matches("http://")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// Reads until the server closes the connection or `limit` passes; the bytes read and whether
/// the server closed it.
fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    let started = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while started.elapsed() < limit {
        match stream.read(&mut buf) {
            Ok(0) => return (got, true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return (got, true),
        }
    }
    (got, false)
}

/// The status code at the start of a response.
fn status_of(response: &[u8]) -> u16 {
    let text = String::from_utf8_lossy(response);
    text.get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text:?}"))
}

/// Open file descriptors of the server process.
fn fds(server: &Server) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", server.child.id()))
        .unwrap()
        .count()
}

/// Ten unauthenticated uploads that each declare the largest component a deploy takes (64 MiB)
/// and send 4 MiB of it: each is refused with 401 right after its headers, and the server does
/// not buffer what they send.
#[test]
fn admin_uploads_are_refused_before_they_are_read() {
    let server = Server::start(&manifest(64));
    let before = server.rss_kib();
    let declared = 64u64 << 20;
    let mut streams: Vec<TcpStream> = (0..10)
        .map(|_| {
            let mut s = connect(&server);
            write!(s, "PUT /admin/v1/tenants/a/functions/x?route=/x HTTP/1.1\r\nHost: a.test\r\nContent-Length: {declared}\r\n\r\n").unwrap();
            s
        })
        .collect();
    let chunk = vec![0u8; 64 << 10];
    for s in &mut streams {
        for _ in 0..64 {
            // The server may close the connection as soon as it answered.
            if s.write_all(&chunk).is_err() {
                break;
            }
        }
    }
    for s in &mut streams {
        let mut head = [0u8; 12];
        s.read_exact(&mut head)
            .expect("an answer before the upload ends");
        assert_eq!(status_of(&head), 401, "{}", String::from_utf8_lossy(&head));
    }
    let grown_mib = server.rss_kib().saturating_sub(before) >> 10;
    assert!(
        grown_mib < 24,
        "10 unauthenticated 4 MiB uploads grew the server by {grown_mib} MiB"
    );
}

/// A request that is still sending its body holds its function's concurrency permit: with
/// `max_concurrency = 1`, a second request is refused at once (503) instead of both bodies
/// being buffered.
#[test]
fn a_body_is_read_only_with_a_concurrency_permit() {
    let server = Server::start(&manifest(1));
    let start_slow = || {
        let mut slow = connect(&server);
        write!(
            slow,
            "POST /chaos/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\npartial"
        )
        .unwrap();
        slow
    };
    let mut slow = start_slow();
    // The slow request's head is in; wait until the server holds its permit. A probe served
    // before the server read that head took the permit first and got the slow request
    // refused (answered): then the slow request starts again.
    wait_for(
        "the slow upload to hold the permit",
        Duration::from_secs(30),
        || {
            if call("POST", &server.url("/chaos/echo"), &[], Some(b"hi")).status == 503 {
                return true;
            }
            if answered(&mut slow) {
                slow = start_slow();
            }
            false
        },
    );
    assert!(!answered(&mut slow), "the slow request was answered");
    let refused = call("POST", &server.url("/chaos/echo"), &[], Some(b"hi"));
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert!(refused.header("retry-after").is_some());
    drop(slow);
    wait_for("the permit to come back", Duration::from_secs(30), || {
        call("POST", &server.url("/chaos/echo"), &[], Some(b"hi")).status == 200
    });
}

/// Slowloris: connections that send part of a head and then nothing are closed after
/// `header_timeout_ms` (the default, 10 s), and their file descriptors are given back.
#[test]
fn slow_heads_are_cut_off_and_their_descriptors_freed() {
    let server = Server::start(&manifest(64));
    let baseline = fds(&server);
    let mut slow: Vec<TcpStream> = (0..40)
        .map(|_| {
            let mut s = connect(&server);
            s.write_all(b"GET /chaos/echo HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            s
        })
        .collect();
    for s in &mut slow {
        let (_, closed) = read_until_closed(s, Duration::from_secs(25));
        assert!(closed, "a connection with half a head stayed open");
    }
    wait_for(
        "the descriptors to be freed",
        Duration::from_secs(10),
        || fds(&server) <= baseline + 2,
    );
    // An idle kept-alive connection is closed the same way.
    let mut idle = connect(&server);
    idle.write_all(b"GET /chaos/echo HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (answer, closed) = read_until_closed(&mut idle, Duration::from_secs(25));
    assert_eq!(status_of(&answer), 200);
    assert!(closed, "an idle kept-alive connection stayed open");
}

/// Over `max_connections`, a new connection is closed as soon as it is accepted; the ones
/// already open keep working, and a slot freed is usable again.
#[test]
fn connections_are_capped() {
    let server = Server::start_with_server("max_connections = 4", &manifest(64));
    // A connection that answers; retried while the readiness check's connection still holds
    // a slot.
    let served = || {
        let mut s = connect(&server);
        s.write_all(b"GET /chaos/echo HTTP/1.1\r\nHost: x\r\n\r\n")
            .ok()?;
        let mut head = [0u8; 12];
        s.read_exact(&mut head).ok()?;
        (status_of(&head) == 200).then_some(s)
    };
    let mut held = Vec::new();
    while held.len() < 4 {
        let mut next = None;
        wait_for("a connection slot", Duration::from_secs(20), || {
            next = served();
            next.is_some()
        });
        held.extend(next);
    }
    let mut extra = connect(&server);
    let _ = extra.write_all(b"GET /chaos/echo HTTP/1.1\r\nHost: x\r\n\r\n");
    let (answer, closed) = read_until_closed(&mut extra, Duration::from_secs(10));
    assert!(
        closed && answer.is_empty(),
        "a fifth connection was served: {}",
        String::from_utf8_lossy(&answer)
    );
    held.pop();
    wait_for(
        "a freed slot to serve again",
        Duration::from_secs(10),
        || {
            let mut s = connect(&server);
            let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let (answer, _) = read_until_closed(&mut s, Duration::from_secs(5));
            !answer.is_empty() && status_of(&answer) == 200
        },
    );
}

/// A head over `max_header_bytes` is answered 431; a body that does not arrive within
/// `body_timeout_ms` is answered 408.
#[test]
fn oversized_heads_and_stalled_bodies_are_refused() {
    let server = Server::start_with_server(
        "max_header_bytes = 4096\nbody_timeout_ms = 1000",
        &manifest(64),
    );
    let mut big = connect(&server);
    write!(
        big,
        "GET /chaos/echo HTTP/1.1\r\nHost: x\r\nX-Filler: {}\r\n\r\n",
        "a".repeat(8192)
    )
    .unwrap();
    let (answer, _) = read_until_closed(&mut big, Duration::from_secs(10));
    assert_eq!(status_of(&answer), 431);

    let mut stalled = connect(&server);
    stalled
        .write_all(
            b"POST /chaos/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789",
        )
        .unwrap();
    let (answer, _) = read_until_closed(&mut stalled, Duration::from_secs(15));
    assert_eq!(
        status_of(&answer),
        408,
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert!(String::from_utf8_lossy(&answer).contains("body_timeout"));
}

/// Two requests in one write (HTTP/1.1 pipelining) get two answers in order; a client that
/// disconnects mid-body costs nothing lasting (the function serves the next request).
#[test]
fn pipelined_requests_and_abrupt_disconnects() {
    let server = Server::start(&manifest(1));
    let mut s = connect(&server);
    s.write_all(b"POST /chaos/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nfirstPOST /chaos/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsecond")
        .unwrap();
    let (answer, closed) = read_until_closed(&mut s, Duration::from_secs(20));
    let text = String::from_utf8_lossy(&answer);
    assert!(closed);
    let (first, second) = (text.find("first"), text.find("second"));
    assert!(
        text.matches("HTTP/1.1 200").count() == 2 && first < second && first.is_some(),
        "{text}"
    );
    for _ in 0..5 {
        let mut gone = connect(&server);
        gone.write_all(b"POST /chaos/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nhalf")
            .unwrap();
        drop(gone);
    }
    wait_for(
        "the function to serve again",
        Duration::from_secs(30),
        || call("POST", &server.url("/chaos/echo"), &[], Some(b"ok")).status == 200,
    );
}

/// Who a guest sees calling: no credentials (the manifest's functions lose `Authorization`
/// by default, a tenant's always), the caller in `x-atelier-caller`, a client's own
/// `x-atelier-caller` dropped.
#[test]
fn credentials_never_reach_guests() {
    let server = Server::start(&manifest(64));
    let seen = |host: &str, path: &str, headers: &[(&str, &str)]| {
        let mut all = vec![("host", host)];
        all.extend_from_slice(headers);
        let reply = call("GET", &server.url(path), &all, None);
        assert_eq!(reply.status, 200, "{}", reply.text());
        reply.json()["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p[0].as_str().unwrap().to_ascii_lowercase(),
                    p[1].as_str().unwrap().to_string(),
                )
            })
            .collect::<Vec<_>>()
    };
    let get = |headers: &[(String, String)], name: &str| {
        headers
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>()
    };

    let operator = seen(
        "x",
        "/chaos/headers",
        &[
            ("authorization", "Bearer operator-token"),
            ("x-atelier-caller", "tenant:b"),
        ],
    );
    assert!(get(&operator, "authorization").is_empty(), "{operator:?}");
    assert_eq!(get(&operator, "x-atelier-caller"), ["operator"]);

    let anonymous = seen("x", "/chaos/headers", &[("x-atelier-caller", "operator")]);
    assert!(
        get(&anonymous, "x-atelier-caller").is_empty(),
        "{anonymous:?}"
    );

    let wasm = std::fs::read(component("chaos")).unwrap();
    let deployed = call(
        "PUT",
        &server.url("/admin/v1/tenants/a/functions/spy?route=/spy"),
        &[("authorization", "Bearer key-a"), ("host", "a.test")],
        Some(&wasm),
    );
    assert_eq!(deployed.status, 200, "{}", deployed.text());
    let tenant = seen(
        "a.test",
        "/spy/headers",
        &[("authorization", "Bearer key-a")],
    );
    assert!(get(&tenant, "authorization").is_empty(), "{tenant:?}");
    assert_eq!(get(&tenant, "x-atelier-caller"), ["tenant:a"]);
}

/// `/metrics` lists every tenant's functions: with keys configured it needs the operator's
/// token (a tenant's key is not enough).
#[test]
fn metrics_need_the_operator_token() {
    let server = Server::start(&manifest(64));
    let url = server.url("/metrics");
    assert_eq!(call("GET", &url, &[], None).status, 401);
    let tenant = call("GET", &url, &[("authorization", "Bearer key-a")], None);
    assert_eq!(tenant.status, 401);
    let operator = call(
        "GET",
        &url,
        &[("authorization", "Bearer operator-token")],
        None,
    );
    assert_eq!(operator.status, 200);
    assert!(operator
        .text()
        .contains("atelier_connections_refused_total"));
}

/// One key given to two principals (here the operator and a tenant) would let one stand for
/// the other; a short operator token in the environment is guessable. Both stop startup.
#[test]
fn duplicate_keys_and_short_tokens_stop_startup() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.toml");
    let shared = manifest(64).replace(&hashed(KEY_A), &hashed(OPERATOR));
    std::fs::write(&path, &shared).unwrap();
    let failed = Server::start_expecting_failure(&path);
    assert_ne!(failed.code, Some(0));
    assert!(failed.stderr.contains("distinct"), "{}", failed.stderr);

    std::fs::write(&path, manifest(64)).unwrap();
    let out = std::process::Command::new(atelier_e2e::binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&path)
        .env("ATELIER_ADMIN_TOKEN", "short")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("at least 16 characters"), "{stderr}");
}
