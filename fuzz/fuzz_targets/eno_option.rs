#![no_main]
//! Fuzz target: arbitrary bytes into `eno::fuzz_parse`; any panic is a bug.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    eno::fuzz_parse(data);
});
