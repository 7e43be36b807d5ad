//! The shim never panics and always answers one JSON line per case, whatever the input:
//! arbitrary bytes and samples with random mutations (the same body as the `shim_input`
//! fuzz target, run briefly on every test run).

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use serde_json::Value;

const SAMPLES: &str = include_str!("data/sample.jsonl");

fn answers_with_json_object(line: &[u8]) {
    let out = tcpcrypt_shim::handle_line(line);
    assert!(!out.contains('\n'));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(v.is_object());
    assert!(v.get("id").is_some());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_get_one_json_answer(line in proptest::collection::vec(any::<u8>(), 0..512)) {
        answers_with_json_object(&line);
    }

    #[test]
    fn mutated_samples_get_one_json_answer(
        which in 0usize..12,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let lines: Vec<&str> = SAMPLES.lines().collect();
        let mut line = lines[which % lines.len()].as_bytes().to_vec();
        for (i, b) in flips {
            let at = i.index(line.len());
            line[at] = b;
        }
        answers_with_json_object(&line);
    }

    #[test]
    fn mutated_hex_fields_get_one_json_answer(
        which in 0usize..12,
        at in any::<prop::sample::Index>(),
        digit in prop::sample::select(b"0123456789abcdef".to_vec()),
    ) {
        // Keep the JSON valid and change one hex digit inside a value: the shim must answer
        // a result or an error, never panic.
        let lines: Vec<&str> = SAMPLES.lines().collect();
        let line = lines[which % lines.len()];
        let positions: Vec<usize> = line
            .char_indices()
            .filter(|(_, c)| c.is_ascii_hexdigit())
            .map(|(i, _)| i)
            .collect();
        let mut bytes = line.as_bytes().to_vec();
        bytes[positions[at.index(positions.len())]] = digit;
        answers_with_json_object(&bytes);
    }
}

#[test]
fn fuzz_input_handles_many_lines() {
    tcpcrypt_shim::fuzz_input(SAMPLES.as_bytes());
    tcpcrypt_shim::fuzz_input(b"\n\n{}\n\xff\xfe\n");
}
