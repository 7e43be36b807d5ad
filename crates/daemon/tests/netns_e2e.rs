//! End to end through two daemons in network namespaces: a client host whose daemon routes
//! the server's subnet through `tcpc0`, a server host whose daemon fronts the HTTP port,
//! and the fallback to a server without the daemon. Smoke tests of the whole I/O shell with
//! the relay engine; the acceptance suite of issue 4 is `netns_acceptance.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use netns_tests::{
    http_transfer, http_transfer_bound, mark_ran, netns_gate, Child, Daemon, Netns, HTTP_PORT,
};
use support::{v4_subnet, v6_subnet, Hosts};

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

/// The client's daemon alone, with `flag` (`--route`, `--require`) for the link's IPv4
/// subnet; the server runs no daemon.
fn client_daemon_only(h: &Hosts, flag: &str) -> Daemon {
    let subnet = v4_subnet(h.veth.addr_a().v4);
    start(&h.client, &h.path("client.sock"), &[flag, &subnet])
}

/// Both daemons: the server's fronts the HTTP port, the client's routes `route`.
fn both_daemons(h: &Hosts, route: &str) -> (Daemon, Daemon) {
    let port = HTTP_PORT.to_string();
    let sd = start(&h.server, &h.path("server.sock"), &["--front", &port]);
    let cd = start(&h.client, &h.path("client.sock"), &["--route", route]);
    (cd, sd)
}

#[test]
fn daemon_e2e_plain_fallback_http() {
    netns_gate!("daemon_e2e_plain_fallback_http", TOOLS);
    let h = Hosts::new();
    let d = client_daemon_only(&h, "--route");
    let t = http_transfer(
        &h.server,
        &h.client,
        h.veth.addr_b().get(false),
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

/// A fronted service is reached at the kernel side of tcpc0, so it must listen on the
/// wildcard address (or on 10.77.0.1), not only on the host's external address: HTTP from
/// a server bound to the wildcard address of `addr`'s family, fetched at `addr`, intact.
fn wildcard_transfer(server: &Netns, client: &Netns, addr: IpAddr, len: usize, seed: u64) {
    let any: IpAddr = if addr.is_ipv6() {
        std::net::Ipv6Addr::UNSPECIFIED.into()
    } else {
        std::net::Ipv4Addr::UNSPECIFIED.into()
    };
    let t = http_transfer_bound(
        server,
        client,
        any,
        addr,
        len,
        seed,
        Duration::from_secs(60),
    )
    .unwrap();
    assert_eq!(t.sent_sha256, t.received_sha256);
}

/// `tun.offload = false` (no virtio-net header: one packet per system call, every TCP
/// checksum computed and verified by the stack) on the client, offloads on the server:
/// an HTTP transfer through both daemons (fronted, so encrypted) is intact.
#[test]
fn daemon_e2e_http_through_a_daemon_without_offload() {
    netns_gate!("daemon_e2e_http_through_a_daemon_without_offload", TOOLS);
    let h = Hosts::new();
    let config = h.path("no-offload.toml");
    std::fs::write(&config, "[tun]\noffload = false\n").unwrap();
    let port = HTTP_PORT.to_string();
    let sd = start(&h.server, &h.path("server.sock"), &["--front", &port]);
    let route = v4_subnet(h.veth.addr_a().v4);
    let config = config.to_string_lossy().into_owned();
    let cd = start(
        &h.client,
        &h.path("client.sock"),
        &["--config", &config, "--route", &route],
    );
    let server_addr = h.veth.addr_b().get(false);
    wildcard_transfer(&h.server, &h.client, server_addr, 4 << 20, 11);
    stop(cd);
    stop(sd);
    mark_ran("daemon_e2e_http_through_a_daemon_without_offload").unwrap();
}

#[test]
fn daemon_e2e_encrypted_http_and_equal_sessid() {
    netns_gate!("daemon_e2e_encrypted_http_and_equal_sessid", TOOLS);
    let h = Hosts::new();
    let (client, server, veth) = (&h.client, &h.server, &h.veth);
    let (cd, sd) = both_daemons(&h, &v4_subnet(veth.addr_a().v4));
    let port = HTTP_PORT.to_string();
    let server_addr = veth.addr_b().get(false);
    wildcard_transfer(server, client, server_addr, 1 << 20, 9);

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

#[test]
fn daemon_e2e_require_refuses_plain_host() {
    netns_gate!("daemon_e2e_require_refuses_plain_host", TOOLS);
    let h = Hosts::new();
    let d = client_daemon_only(&h, "--require");
    let r = http_transfer(
        &h.server,
        &h.client,
        h.veth.addr_b().get(false),
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
    let h = Hosts::new();
    let (cd, sd) = both_daemons(&h, &v6_subnet(h.veth.addr_a().v6));
    wildcard_transfer(&h.server, &h.client, h.veth.addr_b().get(true), 1 << 20, 11);
    stop(cd);
    stop(sd);
    mark_ran("daemon_e2e_encrypted_http_ipv6").unwrap();
}
