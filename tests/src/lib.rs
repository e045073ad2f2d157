//! Harness for the end-to-end tests: start the real `atelier` binary on a manifest, wait until it
//! is ready, talk HTTP to it, stop it (SIGTERM) when the handle drops.
//!
//! The binary is `target/release/atelier` (built by `scripts/test.sh`) unless `ATELIER_BIN` says
//! otherwise; components come from `target/wasm32-wasip2/release/`; shared test data from
//! `../shared/testdata` (or `ATELIER_SHARED`).

pub mod admin;
pub mod redis;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

/// Servers started by one test binary share the machine; a test that measures time takes this
/// lock exclusively so that no other server of its binary competes for the cores meanwhile.
static QUIET: RwLock<()> = RwLock::new(());

/// How a server holds [`QUIET`] for its lifetime.
enum Share {
    Shared(#[allow(dead_code)] RwLockReadGuard<'static, ()>),
    Alone(#[allow(dead_code)] RwLockWriteGuard<'static, ()>),
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The `atelier` binary under test.
pub fn binary() -> PathBuf {
    std::env::var_os("ATELIER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/release/atelier"))
}

/// A built component, by crate name.
pub fn component(name: &str) -> PathBuf {
    let path = repo_root().join(format!("target/wasm32-wasip2/release/{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run scripts/test.sh (it builds the components)",
        path.display()
    );
    path
}

/// The shared folder beside the repository (test data and models).
pub fn shared() -> PathBuf {
    std::env::var_os("ATELIER_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared"))
}

/// Waits until `done` holds, checking every 10 ms, for at most `limit` (then fails the test
/// naming `what`).
pub fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "waited {limit:?} for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Which compile cache a server uses.
enum Cache {
    /// One for every server of every test run ([`shared_cache`]), unless `ATELIER_E2E_OWN_CACHES`
    /// is set (to measure what sharing saves).
    Shared,
    /// The server's own, in its folder: for tests of the cache and of restarts.
    Own,
}

/// The compile cache servers share: `target/e2e-cache`. Artifacts are named by component hash
/// and engine, written atomically and bounded in total size by the host, so servers running
/// side by side, and later runs, can share it safely; each built-in component is compiled
/// once instead of once per server.
pub fn shared_cache() -> PathBuf {
    repo_root().join("target/e2e-cache")
}

/// A running server; stopped with SIGTERM (then killed) on drop.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub dir: tempfile::TempDir,
    log: PathBuf,
    /// From spawning the process to `/readyz` answering 200 (excludes waiting for [`QUIET`]).
    pub ready_after: Duration,
    /// The listener speaks TLS: readiness is read from the log, not asked over plain HTTP.
    tls: bool,
    _share: Share,
}

/// Outcome of starting a server that was expected to fail.
pub struct Failed {
    pub code: Option<i32>,
    pub stderr: String,
}

impl Server {
    /// Starts `atelier serve` on a manifest body (the `[server]` listen address is added) and
    /// waits until `/readyz` says ready.
    pub fn start(manifest: &str) -> Server {
        Self::start_with(manifest, &[])
    }

    /// Like [`Server::start`], for a test that measures time: no other server of this test
    /// binary runs while it lives.
    pub fn start_alone(manifest: &str) -> Server {
        let share = Share::Alone(QUIET.write().unwrap_or_else(|e| e.into_inner()));
        Self::launch(
            tempfile::tempdir().unwrap(),
            "",
            manifest,
            &[],
            share,
            Cache::Shared,
        )
    }

    /// Like [`Server::start`] with more `[server]` settings (`key = value` lines).
    pub fn start_with_server(server: &str, manifest: &str) -> Server {
        let share = Share::Shared(QUIET.read().unwrap_or_else(|e| e.into_inner()));
        Self::launch(
            tempfile::tempdir().unwrap(),
            server,
            manifest,
            &[],
            share,
            Cache::Shared,
        )
    }

    /// Like [`Server::start`] with extra environment variables.
    pub fn start_with(manifest: &str, env: &[(&str, &str)]) -> Server {
        let share = Share::Shared(QUIET.read().unwrap_or_else(|e| e.into_inner()));
        Self::launch(
            tempfile::tempdir().unwrap(),
            "",
            manifest,
            env,
            share,
            Cache::Shared,
        )
    }

    /// Starts in a given folder, with a compile cache of its own (`cache/`) that persists
    /// between starts of the same folder.
    pub fn start_in(dir: tempfile::TempDir, manifest: &str, env: &[(&str, &str)]) -> Server {
        let share = Share::Shared(QUIET.read().unwrap_or_else(|e| e.into_inner()));
        Self::launch(dir, "", manifest, env, share, Cache::Own)
    }

    /// [`Server::start_in`] for a test that measures time (see [`Server::start_alone`]).
    pub fn start_in_alone(dir: tempfile::TempDir, manifest: &str) -> Server {
        let share = Share::Alone(QUIET.write().unwrap_or_else(|e| e.into_inner()));
        Self::launch(dir, "", manifest, &[], share, Cache::Own)
    }

    fn launch(
        dir: tempfile::TempDir,
        server: &str,
        manifest: &str,
        env: &[(&str, &str)],
        share: Share,
        cache: Cache,
    ) -> Server {
        let path = dir.path().join("atelier.toml");
        let cache = match cache {
            Cache::Shared if std::env::var_os("ATELIER_E2E_OWN_CACHES").is_none() => shared_cache(),
            _ => dir.path().join("cache"),
        };
        let text = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\ndrain_timeout_ms = 5000\n{server}\n\n[runtime]\ncache_dir = {cache:?}\n\n{manifest}"
        );
        std::fs::write(&path, text).unwrap();
        let log = dir.path().join("server.log");
        let mut cmd = Command::new(binary());
        cmd.arg("serve")
            .arg("--config")
            .arg(&path)
            .current_dir(repo_root())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let spawned = Instant::now();
        let child = cmd.spawn().expect("starting atelier");
        let mut server = Server {
            child,
            base: String::new(),
            dir,
            log,
            ready_after: Duration::ZERO,
            tls: server.contains("tls"),
            _share: share,
        };
        server.wait_ready(Duration::from_secs(120));
        server.ready_after = spawned.elapsed();
        server
    }

    /// Runs `atelier serve` on a manifest that must make it exit with an error.
    pub fn start_expecting_failure(manifest_file: &Path) -> Failed {
        let out = Command::new(binary())
            .arg("serve")
            .arg("--config")
            .arg(manifest_file)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .current_dir(repo_root())
            .output()
            .expect("starting atelier");
        Failed {
            code: out.status.code(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The port the server bound (it is given port 0, so no two servers race for one), from
    /// its `listening addr=…` log line.
    fn bound_port(&self) -> Option<u16> {
        let log = self.log();
        let line = log.lines().find(|l| l.contains("listening"))?;
        let at = line.find("127.0.0.1:")? + "127.0.0.1:".len();
        line[at..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .ok()
    }

    fn wait_ready(&mut self, limit: Duration) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("atelier exited early ({status}):\n{}", self.log());
            }
            if self.base.is_empty() {
                if let Some(port) = self.bound_port() {
                    self.base = format!("http://127.0.0.1:{port}");
                }
            } else if self.tls {
                if self.log().lines().any(|l| l.contains(" ready ")) {
                    return;
                }
            } else if let Ok(r) = ureq::get(&self.url("/readyz"))
                .timeout(Duration::from_secs(2))
                .call()
            {
                if r.status() == 200 {
                    return;
                }
            }
            assert!(
                started.elapsed() < limit,
                "atelier not ready after {limit:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.base
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// Resident memory of the server process, KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap()
    }

    /// Kills the process with SIGKILL (no chance to clean up) and gives back its folder, to
    /// start again in.
    pub fn kill_hard(mut self) -> tempfile::TempDir {
        // SIGKILL, unlike the SIGTERM of `Drop`.
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap())
    }

    /// Process ids of the server's child processes (its compilers).
    pub fn children(&self) -> Vec<u32> {
        let pid = self.child.id().to_string();
        let parent_of = |stat: &str| {
            // `pid (comm) state ppid …`; comm may hold spaces, so read after the last ')'.
            let rest = &stat[stat.rfind(')')? + 1..];
            rest.split_whitespace().nth(1).map(str::to_string)
        };
        std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let id: u32 = e.file_name().to_str()?.parse().ok()?;
                let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
                (parent_of(&stat)? == pid).then_some(id)
            })
            .collect()
    }

    /// Sends SIGTERM and waits for the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.terminate();
        }
    }
}

/// A response read whole: status, headers, body.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header that may come more than once, in order.
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// Asserts a 405 `method_not_allowed` JSON error with `Allow: allow`; `what` names the
    /// request in a failure.
    pub fn assert_not_allowed(&self, allow: &str, what: &str) {
        assert_eq!(self.status, 405, "{what}: {}", self.text());
        assert_eq!(self.header("allow"), Some(allow), "{what}");
        assert_eq!(self.json()["error"]["code"], "method_not_allowed", "{what}");
    }
}

fn read(result: Result<ureq::Response, ureq::Error>) -> Reply {
    let response = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("HTTP request failed: {e}"),
    };
    let status = response.status();
    let mut names = response.headers_names();
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.to_ascii_lowercase()));
    let headers = names
        .into_iter()
        .flat_map(|n| {
            response
                .all(&n)
                .into_iter()
                .map(|v| (n.clone(), v.to_string()))
                .collect::<Vec<_>>()
        })
        .collect();
    let mut body = Vec::new();
    response
        .into_reader()
        .take(256 << 20)
        .read_to_end(&mut body)
        .unwrap();
    Reply {
        status,
        headers,
        body,
    }
}

/// GET a URL.
pub fn get(url: &str) -> Reply {
    read(ureq::get(url).timeout(Duration::from_secs(120)).call())
}

/// GET with extra headers.
pub fn get_with(url: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = ureq::get(url).timeout(Duration::from_secs(120));
    for (k, v) in headers {
        req = req.set(k, v);
    }
    read(req.call())
}

/// POST bytes with a content type and extra headers.
pub fn post(url: &str, content_type: &str, body: &[u8], headers: &[(&str, &str)]) -> Reply {
    let mut req = ureq::post(url)
        .timeout(Duration::from_secs(120))
        .set("content-type", content_type);
    for (k, v) in headers {
        req = req.set(k, v);
    }
    read(req.send_bytes(body))
}

/// Sends only the head of a POST declaring `content_length` bytes and returns the status code
/// the server answers with (servers refuse oversized bodies before reading them).
pub fn post_declaring_length(url: &str, content_length: u64) -> u16 {
    use std::io::Write;
    let rest = url.trim_start_matches("http://");
    let (addr, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(stream, "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/octet-stream\r\nContent-Length: {content_length}\r\n\r\n").unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).unwrap();
    String::from_utf8_lossy(&head[9..12]).parse().unwrap()
}

/// Any method, with headers and an optional body.
pub fn call(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Reply {
    let mut req = ureq::request(method, url).timeout(Duration::from_secs(120));
    for (k, v) in headers {
        req = req.set(k, v);
    }
    read(match body {
        Some(b) => req.send_bytes(b),
        None => req.call(),
    })
}
