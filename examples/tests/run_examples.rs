//! Runs the built examples (`cargo test` builds them before the tests) and checks what they
//! print, so an example that stops working fails the test suite.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Command;

/// `target/<profile>/examples/<name>`, next to this test's `deps` directory.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap();
    profile_dir.join("examples").join(name)
}

#[test]
fn echo_round_trips_encrypted_with_equal_session_ids() {
    let out = Command::new(example("echo"))
        .arg("ping through tcpcrypt")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let ids: Vec<&str> = text
        .lines()
        .filter_map(|l| l.rsplit_once("session ID ").map(|(_, id)| id))
        .collect();
    assert_eq!(ids.len(), 2, "{text}");
    assert_eq!(ids[0], ids[1]);
    // 33 bytes (RFC 8548 §3.4) starting with the X25519 TEP byte 0x23.
    assert_eq!(ids[0].len(), 66);
    assert!(ids[0].starts_with("23"));
    assert!(text.contains("echoed: ping through tcpcrypt"), "{text}");
}

#[test]
fn sessid_without_arguments_is_a_usage_error() {
    let out = Command::new(example("sessid")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage"));
}
