//! The QR function through the real server: generate, batch, decode, and every refusal.

use atelier_e2e::{call, component, get, post, post_declaring_length, shared, Server};

fn server() -> Server {
    Server::start(&format!(
        "[[function]]\nname = \"qr\"\ncomponent = {:?}\nroutes = [{{ path = \"/qr\" }}]\nlimits = {{ memory_mb = 512, cpu_ms = 10000, max_body_kb = 8192 }}\n",
        component("qr")
    ))
}

/// A `multipart/form-data` body: `bytes` as the file field `field`, then text fields.
fn multipart(field: &str, bytes: &[u8], texts: &[(&str, &str)]) -> (String, Vec<u8>) {
    let boundary = "atelier-test-boundary";
    let mut body = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"x.png\"\r\nContent-Type: image/png\r\n\r\n").into_bytes();
    body.extend_from_slice(bytes);
    for (name, value) in texts {
        body.extend_from_slice(
            format!("\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}").as_bytes(),
        );
    }
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// The metric names of a `Server-Timing` header whose durations are positive milliseconds.
fn timings(header: Option<&str>) -> Vec<String> {
    header
        .unwrap_or_default()
        .split(", ")
        .filter_map(|m| {
            let (name, dur) = m.split_once(";dur=")?;
            (dur.parse::<f64>().ok()? > 0.0).then(|| name.to_string())
        })
        .collect()
}

#[test]
fn generate_then_decode_round_trip() {
    let server = server();
    let r = get(&server.url("/qr?text=Hello%2C%20%E4%B8%96%E7%95%8C&ecc=H&scale=6"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("image/png"));
    assert!(
        timings(r.header("server-timing")) == ["matrix", "render"],
        "{:?}",
        r.header("server-timing")
    );
    let generated_version = r.header("x-qr-version").unwrap().to_string();
    let png = r.body;
    let decoded = post(&server.url("/qr/decode"), "image/png", &png, &[]);
    assert_eq!(decoded.status, 200, "{}", decoded.text());
    assert!(timings(decoded.header("server-timing")) == ["load", "decode"]);
    let codes = decoded.json()["codes"].clone();
    assert_eq!(codes.as_array().unwrap().len(), 1);
    assert_eq!(codes[0]["text"], "Hello, 世界");
    let version = codes[0]["version"].as_u64().unwrap();
    assert_eq!(generated_version, version.to_string());
    // The symbol spans pixels 24 (a border of 4 modules of 6 px) to 24 + 6 × its modules; the
    // reduced pass reads one pixel in 2 here, so corners are known to 1 px.
    let (lo, hi) = (24.0, 24.0 + 6.0 * (17.0 + 4.0 * version as f64));
    let corners = codes[0]["corners"].as_array().unwrap();
    for (corner, [x, y]) in corners.iter().zip([[lo, lo], [hi, lo], [hi, hi], [lo, hi]]) {
        let (cx, cy) = (corner[0].as_f64().unwrap(), corner[1].as_f64().unwrap());
        assert!(
            (cx - x).abs() <= 1.0 && (cy - y).abs() <= 1.0,
            "{corners:?}"
        );
    }

    let (ct, body) = multipart("file", &png, &[]);
    let decoded = post(&server.url("/qr/decode"), &ct, &body, &[]);
    assert_eq!(decoded.json()["codes"][0]["text"], "Hello, 世界");
    // Options may come as form fields; an unknown one is refused as in the query.
    let (ct, body) = multipart("file", &png, &[("effort", "thorough")]);
    let decoded = post(&server.url("/qr/decode"), &ct, &body, &[]);
    assert_eq!(decoded.json()["codes"][0]["text"], "Hello, 世界");
    for (name, value) in [("effort", "max"), ("bogus", "1")] {
        let (ct, body) = multipart("file", &png, &[(name, value)]);
        let r = post(&server.url("/qr/decode"), &ct, &body, &[]);
        assert_eq!(r.status, 400, "{name}: {}", r.text());
        assert_eq!(r.json()["error"]["param"], name);
    }
    let (ct, body) = multipart("image", &png, &[]);
    let r = post(&server.url("/qr/decode"), &ct, &body, &[]);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], "bad_upload");

    // Every stage asked for: the same code, listed once.
    let decoded = post(
        &server.url("/qr/decode?effort=thorough"),
        "image/png",
        &png,
        &[],
    );
    assert_eq!(decoded.status, 200, "{}", decoded.text());
    let codes = decoded.json()["codes"].clone();
    assert_eq!(codes.as_array().unwrap().len(), 1, "{codes}");
    assert_eq!(codes[0]["text"], "Hello, 世界");

    // Light modules on dark, as `fg`/`bg` can draw them, read back too.
    let png = get(&server.url("/qr?text=dark%20mode&fg=ffffff&bg=000000")).body;
    let decoded = post(&server.url("/qr/decode"), "image/png", &png, &[]);
    assert_eq!(
        decoded.json()["codes"][0]["text"],
        "dark mode",
        "{}",
        decoded.text()
    );
}

#[test]
fn post_json_svg_and_exact_size() {
    let server = server();
    let r = post(
        &server.url("/qr"),
        "application/json",
        br##"{"text":"svg please","format":"svg","fg":"#0a0b0c"}"##,
        &[],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("image/svg+xml"));
    assert!(r.text().contains("#0a0b0c"));
    let r = get(&server.url("/qr?text=sized&size=321"));
    let png = r.body;
    assert_eq!(
        &png[16..24],
        &[0, 0, 1, 65, 0, 0, 1, 65],
        "321 × 321 in the IHDR"
    );
}

#[test]
fn batch_zip_and_its_limit() {
    let server = server();
    let r = post(
        &server.url("/qr/batch"),
        "application/json",
        br#"{"items":[{"text":"one"},{"text":"two","format":"svg"},{"text":"three"}],"ecc":"Q"}"#,
        &[],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/zip"));
    assert_eq!(&r.body[..4], b"PK\x03\x04");
    let text = String::from_utf8_lossy(&r.body);
    for name in ["0001.png", "0002.svg", "0003.png"] {
        assert!(text.contains(name), "{name} missing");
    }
    let items: Vec<String> = (0..1001).map(|i| format!("{{\"text\":\"{i}\"}}")).collect();
    let body = format!("{{\"items\":[{}]}}", items.join(","));
    let r = post(
        &server.url("/qr/batch"),
        "application/json",
        body.as_bytes(),
        &[],
    );
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["error"]["param"], "items");
    let r = post(
        &server.url("/qr/batch"),
        "application/json",
        br#"{"items":[{"text":"ok"},{"text":"bad","ecc":"Z"}]}"#,
        &[],
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["param"], "items[1].ecc");
}

#[test]
fn bad_parameters_name_themselves() {
    let server = server();
    for (query, param) in [
        ("", "text"),
        ("text=a&ecc=X", "ecc"),
        ("text=a&scale=0", "scale"),
        ("text=a&size=5", "size"),
        ("text=a&fg=red", "fg"),
        ("text=a&bg=%23zzzzzz", "bg"),
        ("text=a&format=gif", "format"),
        ("text=a&border=x", "border"),
        ("text=a&bogus=1", "bogus"),
    ] {
        let r = get(&server.url(&format!("/qr?{query}")));
        assert_eq!(r.status, 400, "{query}: {}", r.text());
        assert_eq!(r.json()["error"]["param"], param, "{query}");
    }
    let r = post(&server.url("/qr"), "application/json", b"{not json", &[]);
    assert_eq!(r.status, 400);
    for (method, path, allow) in [
        ("PUT", "/qr", "GET, HEAD, POST"),
        ("GET", "/qr/decode", "POST"),
        ("DELETE", "/qr/batch", "POST"),
    ] {
        call(method, &server.url(path), &[], None)
            .assert_not_allowed(allow, &format!("{method} {path}"));
    }
    // HEAD answers GET's headers without the body.
    let head = call("HEAD", &server.url("/qr?text=hello"), &[], None);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-type"), Some("image/png"));
    assert_eq!(head.header("x-qr-version"), Some("1"));
    assert!(head.body.is_empty());
    let png = get(&server.url("/qr?text=a")).body;
    for (query, param) in [("effort=max", "effort"), ("bogus=1", "bogus")] {
        let r = post(
            &server.url(&format!("/qr/decode?{query}")),
            "image/png",
            &png,
            &[],
        );
        assert_eq!(r.status, 400, "{query}: {}", r.text());
        assert_eq!(r.json()["error"]["param"], param, "{query}");
    }
}

#[test]
fn hostile_images_get_clear_errors() {
    let server = server();
    let png = get(&server.url("/qr?text=truncated")).body;
    let r = post(
        &server.url("/qr/decode"),
        "image/png",
        &png[..png.len() / 2],
        &[],
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "corrupt_image");
    let r = post(
        &server.url("/qr/decode"),
        "application/octet-stream",
        b"definitely not an image",
        &[],
    );
    assert_eq!(r.status, 400);
    let r = post(&server.url("/qr/decode"), "image/png", b"", &[]);
    assert_eq!(r.status, 400);
    // A small GIF whose header claims 65535 × 65535 pixels: refused before decoding.
    let mut gif = b"GIF89a".to_vec();
    gif.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00]);
    gif.extend_from_slice(&[
        0x2c, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
    ]);
    let r = post(&server.url("/qr/decode"), "image/gif", &gif, &[]);
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(
        post_declaring_length(&server.url("/qr/decode"), 9 << 20),
        413
    );
    // The server is still fine.
    assert_eq!(get(&server.url("/qr?text=ok")).status, 200);
}

#[test]
fn zxing_images_through_the_server() {
    let server = server();
    let dir = shared().join("testdata/qr/zxing/qrcode-1");
    let (mut ok, mut total) = (0, 0);
    for i in 1..=20 {
        let png = std::fs::read(dir.join(format!("{i}.png"))).unwrap();
        let expected = std::fs::read_to_string(dir.join(format!("{i}.txt"))).unwrap();
        let r = post(&server.url("/qr/decode"), "image/png", &png, &[]);
        assert_eq!(r.status, 200, "{i}.png: {}", r.text());
        total += 1;
        if r.json()["codes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["text"] == expected.as_str())
        {
            ok += 1;
        }
    }
    assert!(ok * 100 >= total * 95, "{ok}/{total}");
    let r = post(
        &server.url("/qr/decode"),
        "image/jpeg",
        &std::fs::read(shared().join("testdata/portraits/fr_obama.jpg")).unwrap(),
        &[],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["codes"].as_array().unwrap().len(), 0);
}
