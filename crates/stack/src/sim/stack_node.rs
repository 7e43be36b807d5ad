//! The engine's [`Stack`] as a simulation [`Node`]: the trait mirrors its sans-IO API.

use smoltcp::time::Instant;

use super::Node;
use crate::Stack;

impl Node for Stack {
    fn handle(&mut self, now: Instant, packet: &[u8]) {
        Stack::handle(self, now, packet);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        Stack::poll_transmit(self, now, buf)
    }

    fn next_deadline(&self) -> Option<Instant> {
        Stack::next_deadline(self)
    }

    fn handle_timeout(&mut self, now: Instant) {
        Stack::handle_timeout(self, now);
    }
}
