//! Conformance shim (see `docs/SHIM.md`).
fn main() {}
