//! A finished job's callback: `POST` of its summary (JSON: id, status, function, finished,
//! error, result path) to the URL given at submission, signed with HMAC-SHA256 under the
//! owner's `callback_secret`: `atelier-signature: t=<unix s>,v1=<hex of HMAC("<t>.<body>")>`.
//! Only to destinations on the owner's allow-list (a tenant's `outbound`, the operator's
//! `[jobs] callback_outbound`), resolved and checked at each attempt like a guest's request;
//! retried `callback_attempts` times with doubling waits from 1 s; a 2xx answer delivers.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use sha2::Sha256;
use tokio::net::TcpStream;

use super::{JobInfo, Jobs};
use crate::runtime::outbound::Outbound;

/// Where one owner's callbacks may go, and what signs them.
#[derive(Clone)]
pub struct CallbackRule {
    pub secret: String,
    pub outbound: Arc<Outbound>,
}

/// The signature header's value for `body` at `t` (Unix seconds).
pub fn signature(secret: &str, t: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Why a callback URL is refused at submission.
pub fn check_url(url: &str) -> Result<http::Uri, String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("{url:?}: {e}"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(format!("{url:?}: use an http:// or https:// URL")),
    }
    if uri.host().is_none() {
        return Err(format!("{url:?} has no host"));
    }
    Ok(uri)
}

/// Where `uri` may be reached under `outbound`, or why not.
pub async fn destination(
    outbound: &Outbound,
    uri: &http::Uri,
) -> Result<std::net::SocketAddr, String> {
    let https = uri.scheme_str() == Some("https");
    let host = uri.host().unwrap_or_default();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    outbound
        .destination(host, port, https)
        .await
        .map_err(|e| format!("callback to {host}:{port} is not allowed: {e:?}"))
}

/// Delivers `info`'s callback in the background.
pub(super) fn deliver(jobs: &Jobs, url: String, owner: Option<String>, info: JobInfo) {
    let Some(rule) = jobs.callback_rule(owner.as_deref()).cloned() else {
        tracing::warn!(job = %info.id, "callback dropped: its owner has no callback_secret any more");
        return;
    };
    let attempts = jobs.config().callback_attempts.max(1);
    tokio::spawn(async move {
        let body = serde_json::to_vec(&serde_json::json!({
            "id": info.id,
            "status": info.status,
            "function": info.function,
            "finished": info.finished,
            "error": info.error,
            "result": format!("/jobs/{}/result", info.id),
        }))
        .expect("JSON serialises");
        let mut wait = Duration::from_secs(1);
        for attempt in 1..=attempts {
            match post(&rule, &url, &info.id, &body).await {
                Ok(()) => {
                    tracing::info!(job = %info.id, attempt, "callback delivered");
                    return;
                }
                Err(e) => tracing::warn!(job = %info.id, attempt, error = %e, "callback failed"),
            }
            if attempt < attempts {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
        tracing::error!(job = %info.id, attempts, "callback given up");
    });
}

async fn post(rule: &CallbackRule, url: &str, id: &str, body: &[u8]) -> Result<(), String> {
    let uri = check_url(url)?;
    let address = destination(&rule.outbound, &uri).await?;
    let t = super::now_ms() / 1000;
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    let authority = uri.authority().map(|a| a.to_string()).unwrap_or_default();
    let request = http::Request::post(path)
        .header(http::header::HOST, authority)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header("atelier-job", id)
        .header("atelier-signature", signature(&rule.secret, t, body))
        .body(Full::new(Bytes::copy_from_slice(body)))
        .map_err(|e| e.to_string())?;
    let send = async {
        let tcp = TcpStream::connect(address)
            .await
            .map_err(|e| e.to_string())?;
        let status = if uri.scheme_str() == Some("https") {
            let mut roots = tokio_rustls::rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            let config = tokio_rustls::rustls::ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth();
            let name = tokio_rustls::rustls::pki_types::ServerName::try_from(
                uri.host().unwrap_or_default().to_string(),
            )
            .map_err(|e| e.to_string())?;
            let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(name, tcp)
                .await
                .map_err(|e| e.to_string())?;
            exchange(hyper_util::rt::TokioIo::new(tls), request).await?
        } else {
            exchange(hyper_util::rt::TokioIo::new(tcp), request).await?
        };
        match status.is_success() {
            true => Ok(()),
            false => Err(format!("answered {status}")),
        }
    };
    tokio::time::timeout(Duration::from_secs(10), send)
        .await
        .map_err(|_| "no answer within 10 s".to_string())?
}

async fn exchange<T>(io: T, request: http::Request<Full<Bytes>>) -> Result<http::StatusCode, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    // Read (and drop) at most 64 KiB of what it answers.
    let _ = http_body_util::Limited::new(response.into_body(), 64 << 10)
        .collect()
        .await;
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_cover_time_and_body() {
        let a = signature("secret", 1, b"{}");
        assert!(a.starts_with("t=1,v1="), "{a}");
        assert_ne!(a, signature("secret", 2, b"{}"));
        assert_ne!(a, signature("other", 1, b"{}"));
        assert_ne!(a, signature("secret", 1, b"{ }"));
        assert!(check_url("ftp://x").is_err());
        assert!(check_url("https://hooks.example.com/a?b=1").is_ok());
    }
}
