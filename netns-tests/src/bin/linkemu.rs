//! TUN link emulator (under construction).
fn main() {}
