//! Linux network-namespace test harness (under construction).
