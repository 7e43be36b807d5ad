#![no_main]
//! Fuzz target: arbitrary and mutated packets into a stack with a live ENO connection
//! (`stack::fuzz::fuzz_packets`); any panic is a bug.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    stack::fuzz::fuzz_packets(data);
});
