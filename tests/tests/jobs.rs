//! Asynchronous jobs (`Prefer: respond-async`) and the result cache, through the real binary:
//! in process on one node, and in a real `redis-server` shared by three nodes, one of which is
//! killed while it runs jobs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use atelier_e2e::admin::{bearer, deploy, hashed, KEY_A, KEY_B, OPERATOR};
use atelier_e2e::redis::Redis;
use atelier_e2e::{call, component, get, get_with, post, shared, wait_for, Reply, Server};
use sha2::{Digest, Sha256};

const SECRET: &str = "tenant-a-callback-secret";

fn manifest(cluster: &str, jobs: &str, hook_port: u16) -> String {
    let limits =
        "limits = { memory_mb = 1024, cpu_ms = 20000, timeout_ms = 120000, max_body_kb = 20480 }";
    format!(
        r#"
[admin]
token = "{}"
data_dir = "data"
{cluster}

[jobs]
{jobs}

[[function]]
name = "idphoto"
component = {:?}
routes = [{{ path = "/idphoto" }}]
grants = ["atelier:vision"]
{limits}

[[function]]
name = "segment"
component = {:?}
routes = [{{ path = "/segment" }}]
grants = ["atelier:vision"]
cache = {{ ttl_s = 600 }}
{limits}

[[function]]
name = "chaos"
component = {:?}
routes = [{{ path = "/chaos" }}]

[vision]
models = {:?}
device = "cpu"

[[tenant]]
id = "a"
path_prefix = "/a"
api_keys = ["{}"]
outbound = ["127.0.0.1:{hook_port}"]
callback_secret = "{SECRET}"

[[tenant]]
id = "b"
path_prefix = "/b"
api_keys = ["{}"]
"#,
        hashed(OPERATOR),
        component("idphoto"),
        component("segment"),
        component("chaos"),
        atelier_e2e::repo_root().join("models/models.toml"),
        hashed(KEY_A),
        hashed(KEY_B),
    )
}

fn portraits() -> Vec<Vec<u8>> {
    let dir = shared().join("testdata/portraits");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg" || e == "jpeg"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect()
}

fn submit(server: &Server, path: &str, body: Option<&[u8]>, headers: &[(&str, &str)]) -> Reply {
    let mut all = vec![("prefer", "respond-async")];
    all.extend_from_slice(headers);
    let method = if body.is_some() { "POST" } else { "GET" };
    call(method, &server.url(path), &all, body)
}

fn job_id(r: &Reply) -> String {
    assert_eq!(r.status, 202, "{}", r.text());
    let id = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(r.header("location"), Some(format!("/jobs/{id}").as_str()));
    assert_eq!(r.json()["status"], "queued");
    id
}

fn status(server: &Server, id: &str, key: Option<&str>) -> Reply {
    let auth = key.map(bearer);
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
    get_with(&server.url(&format!("/jobs/{id}")), &headers)
}

fn wait_done(server: &Server, id: &str, key: Option<&str>, limit: Duration) -> serde_json::Value {
    let mut last = serde_json::Value::Null;
    wait_for(&format!("job {id} done"), limit, || {
        last = status(server, id, key).json();
        last["status"] == "done" || last["status"] == "failed"
    });
    assert_eq!(last["status"], "done", "{last}");
    last
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    block[..key.len()].copy_from_slice(key);
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<_>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

/// Accepts one HTTP request on `listener` and returns its head and body (answers 200).
fn receive_one(listener: &TcpListener) -> (String, Vec<u8>) {
    let (stream, _) = listener.accept().unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        head.push_str(&line);
    }
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let mut stream = reader.into_inner();
    stream
        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        .unwrap();
    (head, body)
}

#[test]
fn jobs_on_one_node_without_redis() {
    let hook = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = hook.local_addr().unwrap().port();
    let node = Server::start(&manifest(
        "",
        "workers = 1\nmax_queued_per_tenant = 3",
        port,
    ));
    let hello = std::fs::read(component("hello")).unwrap();
    let r = deploy(
        &node,
        KEY_A,
        "a",
        "hi",
        "route=/a/hi&cache_ttl_s=60",
        &hello,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["cache"]["ttl_s"], 60);

    // Submitted with tenant a's key: a reads it, b and anonymous callers do not.
    let id = job_id(&submit(
        &node,
        "/a/hi?name=job",
        None,
        &[("authorization", &bearer(KEY_A))],
    ));
    let done = wait_done(&node, &id, Some(KEY_A), Duration::from_secs(30));
    assert_eq!(done["attempts"], 1);
    assert!(done["finished"].as_u64() >= done["started"].as_u64());
    let result = get_with(
        &node.url(&format!("/jobs/{id}/result")),
        &[("authorization", &bearer(KEY_A))],
    );
    assert_eq!(
        (result.status, result.text().as_str()),
        (200, "Hello, job!\n")
    );
    for other in [Some(KEY_B), None] {
        let r = status(&node, &id, other);
        assert_eq!(r.status, 404, "{}", r.text());
        assert_eq!(r.json()["error"]["code"], "not_found");
    }
    let r = get(&node.url("/jobs/j1000000000000000000000000000000000000"));
    assert_eq!(r.json()["error"]["code"], "job_expired", "{}", r.text());

    // A job waiting behind a slow one can be cancelled; a full queue refuses (429).
    let slow = job_id(&submit(&node, "/chaos/sleep?ms=1500", None, &[]));
    let waiting = job_id(&submit(&node, "/chaos/sleep?ms=1", None, &[]));
    let third = job_id(&submit(&node, "/chaos/sleep?ms=1", None, &[]));
    let r = submit(&node, "/chaos/sleep?ms=1", None, &[]);
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "queue_full");
    let r = call("DELETE", &node.url(&format!("/jobs/{waiting}")), &[], None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "cancelled");
    let r = get(&node.url(&format!("/jobs/{waiting}/result")));
    assert_eq!(r.status, 409, "{}", r.text());
    wait_done(&node, &slow, None, Duration::from_secs(30));
    wait_done(&node, &third, None, Duration::from_secs(30));
    let r = call("DELETE", &node.url(&format!("/jobs/{slow}")), &[], None);
    assert_eq!(r.json()["error"]["code"], "job_not_queued", "{}", r.text());

    // The result cache: the second call is a hit with the same bytes.
    let first = get_with(
        &node.url("/a/hi?name=c"),
        &[("authorization", &bearer(KEY_A))],
    );
    let second = get_with(
        &node.url("/a/hi?name=c"),
        &[("authorization", &bearer(KEY_A))],
    );
    assert_eq!(first.header("x-atelier-cache"), Some("miss"));
    assert_eq!(second.header("x-atelier-cache"), Some("hit"));
    assert_eq!(first.body, second.body);
    // An async request that hits answers at once.
    let r = submit(
        &node,
        "/a/hi?name=c",
        None,
        &[("authorization", &bearer(KEY_A))],
    );
    assert_eq!((r.status, r.header("x-atelier-cache")), (200, Some("hit")));
    // Tenant b's own copy of the function never sees a's entries.
    let r = deploy(
        &node,
        KEY_B,
        "b",
        "hi",
        "route=/b/hi&cache_ttl_s=60",
        &hello,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = get_with(
        &node.url("/b/hi?name=c"),
        &[("authorization", &bearer(KEY_B))],
    );
    assert_eq!(r.header("x-atelier-cache"), Some("miss"));

    // A callback: delivered to an allowed destination, signed with the tenant's secret.
    let url = format!("http://127.0.0.1:{port}/hook");
    let r = submit(
        &node,
        "/a/hi?name=hooked",
        None,
        &[
            ("authorization", &bearer(KEY_A)),
            ("atelier-callback", &url),
        ],
    );
    let id = job_id(&r);
    let (head, body) = receive_one(&hook);
    let summary: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(summary["id"], id.as_str());
    assert_eq!(summary["status"], "done");
    assert_eq!(summary["result"], format!("/jobs/{id}/result"));
    let signature = head
        .lines()
        .find_map(|l| l.strip_prefix("atelier-signature: "))
        .unwrap_or_else(|| panic!("no signature in {head}"))
        .trim();
    let t = signature
        .split(',')
        .next()
        .unwrap()
        .strip_prefix("t=")
        .unwrap();
    let expected = hmac_sha256(
        SECRET.as_bytes(),
        format!("{t}.")
            .as_bytes()
            .iter()
            .chain(&body)
            .copied()
            .collect::<Vec<_>>()
            .as_slice(),
    );
    assert_eq!(signature, format!("t={t},v1={}", hex::encode(expected)));
    // Not on the allow-list, or an owner without a secret: refused at submission.
    let r = submit(
        &node,
        "/a/hi?name=x",
        None,
        &[
            ("authorization", &bearer(KEY_A)),
            ("atelier-callback", "http://127.0.0.2:9/x"),
        ],
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "callback_not_allowed");
    let r = submit(
        &node,
        "/chaos/sleep?ms=1",
        None,
        &[("atelier-callback", &url)],
    );
    assert_eq!(
        r.json()["error"]["code"],
        "callback_not_allowed",
        "{}",
        r.text()
    );
}

fn metric_sum(nodes: &[&Server], name: &str) -> f64 {
    nodes
        .iter()
        .map(|n| {
            let text = get_with(&n.url("/metrics"), &[("authorization", &bearer(OPERATOR))]).text();
            text.lines()
                .filter(|l| l.starts_with(name))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum::<f64>()
        })
        .sum()
}

#[test]
fn jobs_across_three_nodes_survive_a_killed_node() {
    let redis = Redis::start();
    let node = |i: usize| {
        let cluster = format!(
            "[cluster]\nredis = \"{}\"\nnode_id = \"node-{i}\"\nheartbeat_ms = 200\nnode_ttl_ms = 2000\n",
            redis.url()
        );
        Server::start(&manifest(&cluster, "workers = 2\nvisibility_ms = 2000", 9))
    };
    let (n1, n2, n3) = (node(1), node(2), node(3));
    let photos = portraits();
    assert!(!photos.is_empty());

    // The same photo twice through the cached /segment: the second is a hit, same bytes.
    let first = post(&n1.url("/segment"), "image/jpeg", &photos[0], &[]);
    let second = post(&n2.url("/segment"), "image/jpeg", &photos[0], &[]);
    assert_eq!(
        (first.status, first.header("x-atelier-cache")),
        (200, Some("miss"))
    );
    assert_eq!(
        (second.status, second.header("x-atelier-cache")),
        (200, Some("hit"))
    );
    assert_eq!(first.body, second.body);

    // 200 ID photos submitted to node 1; every node's workers take them.
    let started = Instant::now();
    let ids: Vec<String> = (0..200)
        .map(|i| {
            let r = submit(
                &n1,
                "/idphoto?size=cn-1inch",
                Some(&photos[i % photos.len()]),
                &[],
            );
            job_id(&r)
        })
        .collect();
    // Node 2 dies while it runs jobs.
    wait_for("a quarter done", Duration::from_secs(300), || {
        metric_sum(&[&n1, &n2, &n3], "atelier_jobs_done_total") >= 50.0
    });
    let done_by_2 = metric_sum(&[&n2], "atelier_jobs_done_total");
    let _ = n2.kill_hard();
    for id in &ids {
        let done = wait_done(&n3, id, None, Duration::from_secs(300));
        assert!(done["attempts"].as_u64().unwrap() >= 1);
    }
    let elapsed = started.elapsed();
    for id in ids.iter().step_by(40) {
        let r = get(&n1.url(&format!("/jobs/{id}/result")));
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(
            image::load_from_memory(&r.body).is_ok(),
            "job {id}: not an image"
        );
    }
    let reclaimed = metric_sum(&[&n1, &n3], "atelier_jobs_reclaimed_total");
    eprintln!(
        "200 jobs in {elapsed:?}; node 2 finished {done_by_2} before it was killed; {reclaimed} reclaimed"
    );
    assert!(
        reclaimed >= 1.0,
        "no job was reclaimed from the killed node"
    );
    assert!(done_by_2 >= 1.0, "node 2 ran no job before it was killed");
}

#[test]
fn submissions_are_refused_while_redis_does_not_answer_and_none_is_lost() {
    let redis = Redis::start();
    let cluster = format!(
        "[cluster]\nredis = \"{}\"\nnode_id = \"solo\"\ncommand_timeout_ms = 500\n",
        redis.url()
    );
    let node = Server::start(&manifest(&cluster, "workers = 2", 9));
    let mut ids: Vec<String> = (0..10)
        .map(|i| {
            job_id(&submit(
                &node,
                &format!("/chaos/sleep?ms={}", 50 + i),
                None,
                &[],
            ))
        })
        .collect();
    redis.pause();
    let r = submit(&node, "/chaos/sleep?ms=1", None, &[]);
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "jobs_unavailable");
    redis.resume();
    ids.push(job_id(&submit(&node, "/chaos/sleep?ms=1", None, &[])));
    for id in &ids {
        wait_done(&node, id, None, Duration::from_secs(60));
    }
    assert_eq!(metric_sum(&[&node], "atelier_jobs_failed_total"), 0.0);
}

/// SIGTERM while a job runs: the node finishes it before it exits, and a restarted node
/// reports it done.
#[test]
fn a_stopping_node_finishes_its_running_job() {
    let redis = Redis::start();
    let cluster = format!(
        "[cluster]\nredis = \"{}\"\nnode_id = \"drain\"\n",
        redis.url()
    );
    let text = manifest(&cluster, "workers = 1", 9);
    let mut node = Server::start(&text);
    let id = job_id(&submit(&node, "/chaos/sleep?ms=1500", None, &[]));
    wait_for("the job running", Duration::from_secs(30), || {
        status(&node, &id, None).json()["status"] == "running"
    });
    assert_eq!(node.terminate(), Some(0), "{}", node.log());
    drop(node);
    let again = Server::start(&text);
    let done = status(&again, &id, None).json();
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["attempts"], 1, "it was not run twice: {done}");
}
