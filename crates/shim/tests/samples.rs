//! Runs the built `tcpcrypt-shim` binary over the conformance samples (copied from
//! `shared/conformance/` so the repository tests itself) and compares with the expected
//! answers, field by field.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

fn run_shim(input: &[u8]) -> Vec<Value> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tcpcrypt-shim"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn shim");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "shim exited with {}", out.status);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("shim output is JSON"))
        .collect()
}

#[test]
fn shim_answers_every_sample_as_expected() {
    let input = include_bytes!("data/sample.jsonl");
    let expected: Vec<Value> = include_str!("data/sample-expected.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got = run_shim(input);
    assert_eq!(got.len(), expected.len(), "one answer per case");
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!(g, e, "case {}", e["id"]);
    }
}

#[test]
fn shim_answers_malformed_cases_with_error() {
    let cases = [
        "not json",
        "[1,2]",
        r#"{"id":1}"#,
        r#"{"id":2,"op":"eno_parse"}"#,
        r#"{"id":3,"op":"eno_parse","option":"zz"}"#,
        r#"{"id":4,"op":"eno_parse","option":"4581"}"#,
        r#"{"id":6,"op":"handshake","tep":35}"#,
        r#"{"id":7,"op":"open","tep":35,"dir":"a2b","stream":"00"}"#,
        r#"{"id":8,"op":"frames","tep":35,"send":"x"}"#,
    ];
    let input = cases.join("\n") + "\n";
    let got = run_shim(input.as_bytes());
    assert_eq!(got.len(), cases.len());
    for (g, c) in got.iter().zip(cases) {
        assert!(
            g.get("error").is_some_and(Value::is_string),
            "case {c} answered {g}"
        );
    }
}

#[test]
fn shim_ill_formed_option_in_outcome_means_not_negotiated() {
    // RFC 8547 §4.6 rule 1: an ill-formed SYN option turns encryption off; that is an
    // outcome, not a malformed case.
    let got =
        run_shim(b"{\"id\":1,\"op\":\"eno_outcome\",\"a_syn\":\"45\",\"b_synack\":\"45040123\"}\n");
    assert_eq!(got[0]["negotiated"], Value::Bool(false));
    assert_eq!(got[0]["transcript"], Value::Null);
}

#[test]
fn shim_answers_unknown_op_and_tep_as_unsupported() {
    let got =
        run_shim(b"{\"id\":1,\"op\":\"teleport\"}\n{\"id\":2,\"op\":\"handshake\",\"tep\":32}\n");
    assert_eq!(got.len(), 2);
    for g in got {
        assert_eq!(g["unsupported"], Value::Bool(true), "{g}");
    }
}
