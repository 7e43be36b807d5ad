#![no_main]
//! Fuzz target: arbitrary bytes into `tcpcrypt_shim::fuzz_input`; any panic is a bug.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    tcpcrypt_shim::fuzz_input(data);
});
