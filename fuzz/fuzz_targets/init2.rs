#![no_main]
//! Fuzz target: arbitrary bytes into `tcpcrypt::fuzz_init2`; any panic is a bug.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tcpcrypt::fuzz_init2(data);
});
