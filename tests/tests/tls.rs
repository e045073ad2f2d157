//! TLS on the listener: HTTP/1.1 and HTTP/2 (by ALPN) on one port, many streams on one HTTP/2
//! connection, a reset flood (CVE-2023-44487) that closes its connection and leaves the server
//! serving, and a certificate swapped on SIGHUP without dropping open connections. Certificates
//! are made by the test (rcgen): a CA and a leaf for `localhost`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use atelier_e2e::{component, Server};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

/// A CA, and a leaf for `localhost` it signed, written as `cert.pem` and `key.pem` in `dir`.
/// Returns the CA's DER (for the client) and the leaf's (to recognise it).
fn certificates(dir: &Path) -> (Vec<u8>, Vec<u8>) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "atelier test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    std::fs::write(dir.join("cert.pem.new"), leaf.pem()).unwrap();
    std::fs::write(dir.join("key.pem.new"), leaf_key.serialize_pem()).unwrap();
    std::fs::rename(dir.join("cert.pem.new"), dir.join("cert.pem")).unwrap();
    std::fs::rename(dir.join("key.pem.new"), dir.join("key.pem")).unwrap();
    (ca.der().to_vec(), leaf.der().to_vec())
}

fn start(certs: &Path) -> Server {
    let server = format!(
        "tls = {{ cert = {:?}, key = {:?} }}\nhttp2_max_concurrent_streams = 64",
        certs.join("cert.pem"),
        certs.join("key.pem")
    );
    let manifest = format!(
        "[[function]]\nname = \"hello\"\ncomponent = {:?}\nroutes = [{{ path = \"/hello\" }}]\nlimits = {{ max_concurrency = 256 }}\n",
        component("hello")
    );
    Server::start_with_server(&server, &manifest)
}

/// A TLS connection trusting `cas`, offering `alpn`.
async fn connect(port: u16, cas: &[&[u8]], alpn: &[&[u8]]) -> TlsStream<TcpStream> {
    let mut roots = RootCertStore::empty();
    for ca in cas {
        roots.add(CertificateDer::from(ca.to_vec())).unwrap();
    }
    let mut config = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap()
}

fn peer_leaf(stream: &TlsStream<TcpStream>) -> Vec<u8> {
    stream.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

/// GET `path` on an HTTP/2 connection; the status and body.
async fn h2_get(client: &mut h2::client::SendRequest<Bytes>, path: &str) -> (u16, String) {
    let request = http::Request::get(format!("https://localhost{path}"))
        .body(())
        .unwrap();
    let ready = client.clone().ready().await.unwrap();
    *client = ready;
    let (response, _) = client.send_request(request, true).unwrap();
    let response = response.await.unwrap();
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let mut text = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
        text.extend_from_slice(&chunk);
    }
    (status, String::from_utf8(text).unwrap())
}

async fn h2_client(port: u16, ca: &[u8]) -> h2::client::SendRequest<Bytes> {
    let tls = connect(port, &[ca], &[b"h2", b"http/1.1"]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    // One stream until the server's SETTINGS arrive (h2 assumes no limit before them, and
    // a burst opened then meets the server's limit as REFUSED_STREAM).
    let (client, connection) = h2::client::Builder::new()
        .initial_max_send_streams(1)
        .handshake(tls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

#[test]
fn http1_and_http2_over_tls_on_one_port() {
    let certs = tempfile::tempdir().unwrap();
    let (ca, _) = certificates(certs.path());
    let server = start(certs.path());
    let port = server.port();
    runtime().block_on(async {
        // HTTP/1.1 when the client offers only it.
        let tls = connect(port, &[&ca], &[b"http/1.1"]).await;
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .unwrap();
        tokio::spawn(connection);
        let request = http::Request::get("/hello?name=tls")
            .header("host", "localhost")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), 200);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body.as_ref(), b"Hello, tls!\n");

        // HTTP/2: 300 requests at once on one connection (64 streams open at most).
        let client = h2_client(port, &ca).await;
        let calls = (0..300).map(|i| {
            let mut client = client.clone();
            async move { (i, h2_get(&mut client, &format!("/hello?name={i}")).await) }
        });
        for (i, (status, body)) in futures::future::join_all(calls).await {
            assert_eq!((status, body), (200, format!("Hello, {i}!\n")));
        }
    });
    // Plain HTTP on the TLS port gets no answer, only a closed connection.
    let plain = ureq::get(&server.url("/hello"))
        .timeout(Duration::from_secs(5))
        .call();
    assert!(plain.is_err());
}

/// A client that opens streams and resets them at once, as fast as it can: the server closes
/// that connection, and keeps serving everyone else.
#[test]
fn an_http2_reset_flood_closes_its_connection() {
    let certs = tempfile::tempdir().unwrap();
    let (ca, _) = certificates(certs.path());
    let server = start(certs.path());
    let port = server.port();
    runtime().block_on(async {
        let tls = connect(port, &[&ca], &[b"h2"]).await;
        let (mut client, connection) = h2::client::handshake(tls).await.unwrap();
        let connection = tokio::spawn(connection);
        let mut sent = 0;
        for _ in 0..100_000 {
            let Ok(ready) = client.ready().await else {
                break;
            };
            client = ready;
            let request = http::Request::get("https://localhost/hello")
                .body(())
                .unwrap();
            let Ok((_, mut stream)) = client.send_request(request, false) else {
                break;
            };
            stream.send_reset(h2::Reason::CANCEL);
            sent += 1;
        }
        let ended = tokio::time::timeout(Duration::from_secs(30), connection)
            .await
            .expect("the flooding connection was not closed");
        let error = ended
            .unwrap()
            .expect_err("the connection ended without an error");
        eprintln!("flood: {sent} streams reset before the server closed the connection: {error}");
        assert!(sent < 100_000, "the server let {sent} resets through");

        let mut fresh = h2_client(port, &ca).await;
        assert_eq!(
            h2_get(&mut fresh, "/hello?name=after").await,
            (200, "Hello, after!\n".into())
        );
    });
}

#[test]
fn sighup_swaps_the_certificate_without_dropping_connections() {
    let certs = tempfile::tempdir().unwrap();
    let (ca_one, leaf_one) = certificates(certs.path());
    let server = start(certs.path());
    let port = server.port();
    runtime().block_on(async {
        let tls = connect(port, &[&ca_one], &[b"h2"]).await;
        assert_eq!(peer_leaf(&tls), leaf_one);
        let (mut old, connection) = h2::client::handshake(tls).await.unwrap();
        tokio::spawn(connection);
        assert_eq!(h2_get(&mut old, "/hello?name=one").await.0, 200);

        let (ca_two, leaf_two) = certificates(certs.path());
        unsafe { libc::kill(server.child.id() as i32, libc::SIGHUP) };
        let started = std::time::Instant::now();
        loop {
            let tls = connect(port, &[&ca_one, &ca_two], &[]).await;
            if peer_leaf(&tls) == leaf_two {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "still the old certificate"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The connection opened before the swap still serves.
        assert_eq!(
            h2_get(&mut old, "/hello?name=two").await,
            (200, "Hello, two!\n".into())
        );
    });
    assert!(
        server.log().contains("certificate and key reloaded"),
        "{}",
        server.log()
    );
}
