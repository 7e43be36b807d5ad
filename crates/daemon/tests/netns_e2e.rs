//! End to end through two daemons in network namespaces: a client host whose daemon routes
//! the server's subnet through `tcpc0`, a server host whose daemon fronts the HTTP port,
//! and the fallback to a server without the daemon. Smoke tests of the whole I/O shell with
//! the relay engine; the acceptance suite of issue 4 is `netns_acceptance.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use netns_tests::{
    http_transfer, mark_ran, netns_gate, Child, Daemon, Netns, TempDir, Veth, HTTP_PORT,
};

const DAEMON: &str = env!("CARGO_BIN_EXE_tcpcryptd");
const CLI: &str = env!("CARGO_BIN_EXE_tcpcrypt");
const TOOLS: &[&str] = &["nft", "curl", "python3"];

fn start(ns: &Netns, control: &Path, extra: &[&str]) -> Daemon {
    Daemon::start(DAEMON, CLI, ns, control, extra).unwrap()
}

fn stop(d: Daemon) {
    let st = d.stop().unwrap();
    assert_eq!(st.code(), Some(0));
}

fn subnet(veth: &Veth) -> String {
    let a = veth.addr_a().v4.octets();
    format!("{}.{}.{}.0/24", a[0], a[1], a[2])
}

fn sock(dir: &TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

#[test]
fn daemon_e2e_plain_fallback_http() {
    netns_gate!("daemon_e2e_plain_fallback_http", TOOLS);
    let client = Netns::new().unwrap();
    let server = Netns::new().unwrap();
    let veth = Veth::new(&client, &server).unwrap();
    let dir = TempDir::new().unwrap();
    let ctl = sock(&dir, "client.sock");
    let d = start(&client, &ctl, &["--route", &subnet(&veth)]);
    let t = http_transfer(
        &server,
        &client,
        veth.addr_b().get(false),
        1 << 20,
        7,
        Duration::from_secs(60),
    )
    .unwrap();
    assert_eq!(t.sent_sha256, t.received_sha256);
    stop(d);
    mark_ran("daemon_e2e_plain_fallback_http").unwrap();
}

const HOLD_SERVER: &str = r#"
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(4)
c, peer = s.accept()
print("peer %s:%d" % peer, flush=True)
c.sendall(b"hello")
time.sleep(30)
"#;

const HOLD_CLIENT: &str = r#"
import socket, sys, time
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20)
data = c.recv(5)
print("local %s:%d %s" % (c.getsockname() + (data.decode(),)), flush=True)
time.sleep(30)
"#;

/// Like `http_transfer`, with the server bound to the wildcard address.
fn wildcard_transfer(
    server: &Netns,
    client: &Netns,
    addr: std::net::IpAddr,
    len: usize,
    seed: u64,
) {
    let dir = TempDir::new().unwrap();
    let www = dir.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    let file = www.join("blob.bin");
    netns_tests::write_random_file(&file, len, seed).unwrap();
    let sent = netns_tests::sha256_file(&file).unwrap();
    let port = HTTP_PORT.to_string();
    let mut cmd = server.command(
        "python3",
        &[
            "-m",
            "http.server",
            "--bind",
            if addr.is_ipv6() { "::" } else { "0.0.0.0" },
            "--directory",
            www.to_str().unwrap(),
            &port,
        ],
    );
    cmd.stderr(Stdio::null());
    let _srv = Child::spawn(cmd).unwrap();
    server
        .wait_tcp_listen(HTTP_PORT, Duration::from_secs(20))
        .unwrap();
    let out = dir.path().join("fetched.bin");
    client
        .exec(
            "curl",
            &[
                "-sS",
                "--fail",
                "--noproxy",
                "*",
                "--max-time",
                "60",
                "-o",
                out.to_str().unwrap(),
                &netns_tests::url(addr, HTTP_PORT, "blob.bin"),
            ],
        )
        .unwrap();
    assert_eq!(netns_tests::sha256_file(&out).unwrap(), sent);
}

#[test]
fn daemon_e2e_encrypted_http_and_equal_sessid() {
    netns_gate!("daemon_e2e_encrypted_http_and_equal_sessid", TOOLS);
    let client = Netns::new().unwrap();
    let server = Netns::new().unwrap();
    let veth = Veth::new(&client, &server).unwrap();
    let dir = TempDir::new().unwrap();
    let (cctl, sctl) = (sock(&dir, "client.sock"), sock(&dir, "server.sock"));
    let port = HTTP_PORT.to_string();
    let sd = start(&server, &sctl, &["--front", &port]);
    let cd = start(&client, &cctl, &["--route", &subnet(&veth)]);
    let server_addr = veth.addr_b().get(false);
    // A fronted service is reached at the kernel side of tcpc0, so it must listen on the
    // wildcard address (or on 10.77.0.1), not only on the host's external address.
    wildcard_transfer(&server, &client, server_addr, 1 << 20, 9);

    // A connection held open: both hosts report the same session ID, X25519 first.
    let srv = Child::spawn(server.command("python3", &["-c", HOLD_SERVER, &port])).unwrap();
    server
        .wait_tcp_listen(HTTP_PORT, Duration::from_secs(20))
        .unwrap();
    let addr = server_addr.to_string();
    let cl = Child::spawn(client.command("python3", &["-c", HOLD_CLIENT, &addr, &port])).unwrap();
    let line = cl.wait_line("local ", Duration::from_secs(30)).unwrap();
    let mut words = line.split_whitespace().skip(1);
    let local = words.next().unwrap().to_owned();
    assert_eq!(words.next(), Some("hello"));
    let remote = format!("{addr}:{port}");
    let out = cd.cli(&["sessid", &local, &remote]).unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "client sessid failed: {err}");
    let client_id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(client_id.len(), 66, "{client_id}");
    assert!(client_id.starts_with("23"), "{client_id}");
    // Fronting: the service sees the client host's real address (and, masquerade keeping
    // ports in a fresh namespace, the application's port), not the stack's.
    let peer = srv.wait_line("peer ", Duration::from_secs(10)).unwrap();
    let app_port = local.rsplit(':').next().unwrap();
    assert_eq!(
        peer,
        format!("peer {}:{app_port}", veth.addr_a().v4),
        "service saw {peer}, app is {local}"
    );
    let st = sd.cli(&["status", "--json"]).unwrap();
    assert!(st.status.success());
    let v: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    let ids: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["session_id"].as_str())
        .collect();
    assert!(
        ids.contains(&client_id.as_str()),
        "server ids {ids:?} vs {client_id}"
    );
    let cst = cd.cli(&["status", "--json"]).unwrap();
    let cv: serde_json::Value = serde_json::from_slice(&cst.stdout).unwrap();
    let row = cv
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["local"] == local.as_str())
        .cloned()
        .unwrap();
    assert_eq!(row["encrypted"], true);
    assert_eq!(row["tep"], "x25519");
    assert_eq!(row["cipher"], "aes-128-gcm");
    drop(cl);
    drop(srv);
    stop(cd);
    stop(sd);
    mark_ran("daemon_e2e_encrypted_http_and_equal_sessid").unwrap();
}

fn subnet6(veth: &Veth) -> String {
    let seg = veth.addr_a().v6.segments();
    format!("{:x}:{:x}:{:x}:{:x}::/64", seg[0], seg[1], seg[2], seg[3])
}

#[test]
fn daemon_e2e_require_refuses_plain_host() {
    netns_gate!("daemon_e2e_require_refuses_plain_host", TOOLS);
    let client = Netns::new().unwrap();
    let server = Netns::new().unwrap();
    let veth = Veth::new(&client, &server).unwrap();
    let dir = TempDir::new().unwrap();
    let ctl = sock(&dir, "client.sock");
    let d = start(&client, &ctl, &["--require", &subnet(&veth)]);
    let r = http_transfer(
        &server,
        &client,
        veth.addr_b().get(false),
        64 << 10,
        3,
        Duration::from_secs(20),
    );
    assert!(
        r.is_err(),
        "transfer to a plain host succeeded despite --require"
    );
    stop(d);
    mark_ran("daemon_e2e_require_refuses_plain_host").unwrap();
}

#[test]
fn daemon_e2e_encrypted_http_ipv6() {
    netns_gate!("daemon_e2e_encrypted_http_ipv6", TOOLS);
    let client = Netns::new().unwrap();
    let server = Netns::new().unwrap();
    let veth = Veth::new(&client, &server).unwrap();
    let dir = TempDir::new().unwrap();
    let (cctl, sctl) = (sock(&dir, "client.sock"), sock(&dir, "server.sock"));
    let port = HTTP_PORT.to_string();
    let sd = start(&server, &sctl, &["--front", &port]);
    let cd = start(&client, &cctl, &["--route", &subnet6(&veth)]);
    wildcard_transfer(&server, &client, veth.addr_b().get(true), 1 << 20, 11);
    stop(cd);
    stop(sd);
    mark_ran("daemon_e2e_encrypted_http_ipv6").unwrap();
}
