//! Property tests of the RFC 8547 §4.1–§4.4 codec: round trip and no panics.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use eno::{GlobalSuboption, Suboption, SynOption, MAX_OPTION_LEN};
use proptest::prelude::*;

fn suboption(last: bool) -> impl Strategy<Value = Suboption> {
    let max = if last { 36 } else { 32 };
    (
        0x20u8..=0x7f,
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..=max),
    )
        .prop_map(move |(tep, v, mut data)| {
            if !v {
                data.clear();
            } else if !last && data.is_empty() {
                data.push(0);
            }
            Suboption { tep, v, data }
        })
}

fn syn_option() -> impl Strategy<Value = SynOption> {
    (
        prop::option::of(
            (any::<bool>(), any::<bool>()).prop_map(|(a, b)| GlobalSuboption { a, b }),
        ),
        prop::collection::vec(suboption(false), 0..5),
        prop::option::of(suboption(true)),
    )
        .prop_map(|(global, mut suboptions, last)| {
            suboptions.extend(last);
            SynOption { global, suboptions }
        })
        .prop_filter("fits in 40 bytes", |o| o.buffer_len() <= MAX_OPTION_LEN)
}

proptest! {
    #[test]
    fn parse_of_emit_is_identity(x in syn_option()) {
        let bytes = x.to_bytes().unwrap();
        prop_assert_eq!(bytes.len(), x.buffer_len());
        prop_assert_eq!(SynOption::parse_option(&bytes).unwrap(), x.clone());
        prop_assert_eq!(SynOption::parse(&bytes[2..]).unwrap(), x);
    }

    #[test]
    fn arbitrary_contents_never_panic_and_reemit_parses(c in prop::collection::vec(any::<u8>(), 0..=38)) {
        if let Ok(x) = SynOption::parse(&c) {
            let bytes = x.to_bytes().unwrap();
            prop_assert!(bytes.len() <= c.len() + 2, "emit is never longer than the input");
            prop_assert_eq!(SynOption::parse_option(&bytes).unwrap(), x);
        }
    }

    #[test]
    fn arbitrary_options_never_panic(o in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = SynOption::parse_option(&o);
        eno::fuzz_parse(&o);
    }

    #[test]
    fn error_offsets_point_inside_the_input(c in prop::collection::vec(any::<u8>(), 0..=38)) {
        if let Err(e) = SynOption::parse(&c) {
            prop_assert!(e.offset() < c.len());
        }
    }
}
