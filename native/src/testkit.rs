//! Helpers for the crate's own tests (built only under `cfg(test)`): a seeded
//! generator for fuzzing, and the flows and paths the selector tests of
//! select.rs and steer.rs are written with, so both build them one way.

use crate::flow::Flow;

/// xorshift64*: a seeded generator, so a failing fuzz case can be replayed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in [0, n).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// An IPv4 flow of `protocol` from `src`:`src_port` to `dst`:`dst_port`,
/// DSCP 0, 100 bytes.
pub fn flow_v4(protocol: u8, src: [u8; 4], src_port: u16, dst: [u8; 4], dst_port: u16) -> Flow {
    let mut s = [0u8; 16];
    s[..4].copy_from_slice(&src);
    let mut d = [0u8; 16];
    d[..4].copy_from_slice(&dst);
    Flow {
        family: 4,
        protocol,
        src_port,
        dst_port,
        src: s,
        dst: d,
        dscp: 0,
        has_ports: true,
        bytes: 100,
        domain_hint: 0,
    }
}

/// One path as `selectorSetPaths` and `steerRefresh` take it (JSON): weight
/// 1, cost 10, unmetered, jitter 1 ms, MOS 4.2.
pub fn path_json(id: u32, wan: &str, state: &str, loss: f64, latency: f64) -> String {
    format!(
        r#"{{"id":{},"wan":"{}","weight":1,"cost":10,"metered":false,"state":"{}","lossPct":{},"latencyMs":{},"jitterMs":1,"mos":4.2}}"#,
        id, wan, state, loss, latency
    )
}
