//! The command line besides `serve`: `atelier run` (one function on a local file, no server) and
//! `atelier deploy` (the admin API's deploy).

use std::process::Command;

use atelier_e2e::admin::{hashed, OPERATOR};
use atelier_e2e::{binary, call, component, repo_root, shared, Server};

#[test]
fn run_makes_an_id_photo_from_a_local_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jpg");
    let photo = shared().join("testdata/portraits/fr_obama.jpg");
    let status = Command::new(binary())
        .current_dir(repo_root())
        .args(["run", "idphoto"])
        .arg(&photo)
        .args(["--size", "cn-1inch", "--bg", "white", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let img = image::open(&out).unwrap();
    assert_eq!((img.width(), img.height()), (295, 413));

    // A refusal is an error exit with the function's JSON.
    let failed = Command::new(binary())
        .current_dir(repo_root())
        .args(["run", "idphoto"])
        .arg(shared().join("testdata/portraits/fr_two_people.jpg"))
        .output()
        .unwrap();
    assert!(!failed.status.success());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(
        stderr.contains("422") && stderr.contains("several_faces"),
        "{stderr}"
    );
}

#[test]
fn deploy_uploads_through_the_admin_api() {
    let server = Server::start(&format!(
        "[admin]\ntoken = \"{}\"\ndata_dir = \"data\"\n\n[[tenant]]\nid = \"acme\"\nhosts = [\"acme.test\"]\n",
        hashed(OPERATOR)
    ));
    let out = Command::new(binary())
        .args(["deploy"])
        .arg(component("hello"))
        .args([
            "--tenant", "acme", "--name", "hi", "--route", "/hi", "--public", "--url",
        ])
        .arg(&server.base)
        .env("ATELIER_TOKEN", OPERATOR)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["version"], 1);
    let r = call(
        "GET",
        &server.url("/hi?name=cli"),
        &[("host", "acme.test")],
        None,
    );
    assert_eq!(r.text(), "Hello, cli!\n");
    // A wrong token fails with the server's reason.
    let out = Command::new(binary())
        .args(["deploy"])
        .arg(component("hello"))
        .args([
            "--tenant", "acme", "--name", "hi", "--route", "/hi", "--url",
        ])
        .arg(&server.base)
        .env("ATELIER_TOKEN", "wrong")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));
}
