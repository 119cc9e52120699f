//! The delay line: each packet is held until its release time, arrival +
//! delay + uniform jitter in [-jitter, +jitter]. Packets of one flow leave in
//! the order they came (a later packet never leaves before an earlier one of
//! its flow), so jitter never reorders a TCP stream; flows share buckets by
//! hash, which can only make ordering stricter. Time is plain nanoseconds
//! from the caller, so tests drive it without sleeping.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

const FLOW_BUCKETS: usize = 4096;

struct Held {
    release_ns: u64,
    seq: u64,
    pkt: Vec<u8>,
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        self.release_ns == other.release_ns && self.seq == other.seq
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Held {
    // BinaryHeap is a max-heap: reverse so the earliest release (then the
    // earliest arrival) is on top.
    fn cmp(&self, other: &Self) -> Ordering {
        other.release_ns.cmp(&self.release_ns).then_with(|| other.seq.cmp(&self.seq))
    }
}

/// xorshift64*: plenty for jitter, and no crate needed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(if seed == 0 { 0x9e37_79b9_7f4a_7c15 } else { seed })
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

pub struct Scheduler {
    heap: BinaryHeap<Held>,
    last_release: Vec<u64>,
    seq: u64,
    rng: Rng,
    delay_ns: u64,
    jitter_ns: u64,
    limit: usize,
}

/// What push did with a packet.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    Held { release_ns: u64 },
    /// The queue was at its limit; the packet was dropped.
    Dropped,
}

impl Scheduler {
    pub fn new(delay_ns: u64, jitter_ns: u64, limit: usize, seed: u64) -> Self {
        Scheduler {
            heap: BinaryHeap::new(),
            last_release: vec![0; FLOW_BUCKETS],
            seq: 0,
            rng: Rng::new(seed),
            delay_ns,
            jitter_ns,
            limit,
        }
    }

    /// Change delay and jitter; packets already held keep their release time.
    pub fn set_params(&mut self, delay_ns: u64, jitter_ns: u64) {
        self.delay_ns = delay_ns;
        self.jitter_ns = jitter_ns;
    }

    pub fn params(&self) -> (u64, u64) {
        (self.delay_ns, self.jitter_ns)
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    fn sample_hold_ns(&mut self) -> u64 {
        if self.jitter_ns == 0 {
            return self.delay_ns;
        }
        let span = 2 * self.jitter_ns + 1;
        let offset = self.rng.next_u64() % span;
        // delay - jitter + offset, never below zero.
        (self.delay_ns + offset).saturating_sub(self.jitter_ns)
    }

    pub fn push(&mut self, now_ns: u64, flow: u32, pkt: Vec<u8>) -> Pushed {
        if self.heap.len() >= self.limit {
            return Pushed::Dropped;
        }
        let bucket = (flow as usize) % FLOW_BUCKETS;
        let hold = self.sample_hold_ns();
        let release_ns = (now_ns + hold).max(self.last_release[bucket]);
        self.last_release[bucket] = release_ns;
        self.seq += 1;
        self.heap.push(Held { release_ns, seq: self.seq, pkt });
        Pushed::Held { release_ns }
    }

    /// The release time of the next packet, if any is held.
    pub fn next_release(&self) -> Option<u64> {
        self.heap.peek().map(|h| h.release_ns)
    }

    /// The next packet due at `now_ns`, with its release time.
    pub fn pop_due(&mut self, now_ns: u64) -> Option<(u64, Vec<u8>)> {
        match self.heap.peek() {
            Some(h) if h.release_ns <= now_ns => self.heap.pop().map(|h| (h.release_ns, h.pkt)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn fixed_delay_releases_exactly_after_delay() {
        let mut s = Scheduler::new(40 * MS, 0, 100, 1);
        assert_eq!(s.push(1000, 7, vec![1]), Pushed::Held { release_ns: 1000 + 40 * MS });
        assert!(s.pop_due(1000 + 40 * MS - 1).is_none(), "got a packet 1 ns early; want none");
        let (at, pkt) = s.pop_due(1000 + 40 * MS).expect("got nothing at release time; want the packet");
        assert_eq!((at, pkt), (1000 + 40 * MS, vec![1]));
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn jitter_stays_in_range_and_spreads() {
        let mut s = Scheduler::new(40 * MS, 10 * MS, 100_000, 42);
        let (mut lo, mut hi) = (u64::MAX, 0);
        for i in 0..10_000u64 {
            // A different flow each time, so per-flow order does not clamp.
            let now = i * MS;
            match s.push(now, i as u32, vec![]) {
                Pushed::Held { release_ns } => {
                    let hold = release_ns - now;
                    lo = lo.min(hold);
                    hi = hi.max(hold);
                }
                Pushed::Dropped => panic!("got a drop below the limit; want held"),
            }
        }
        assert!(lo >= 30 * MS && hi <= 50 * MS, "got hold range {lo}..{hi} ns; want within 30..50 ms");
        assert!(hi - lo > 15 * MS, "got spread {} ns; want most of the 20 ms window", hi - lo);
    }

    #[test]
    fn one_flow_never_reorders() {
        let mut s = Scheduler::new(20 * MS, 15 * MS, 100_000, 3);
        for i in 0..1000u64 {
            s.push(i * MS / 10, 5, (i as u32).to_be_bytes().to_vec());
        }
        let mut prev = None;
        while let Some((_, pkt)) = s.pop_due(u64::MAX) {
            let n = u32::from_be_bytes([pkt[0], pkt[1], pkt[2], pkt[3]]);
            if let Some(p) = prev {
                assert!(n == p + 1, "got packet {n} after {p}; want {}", p + 1);
            }
            prev = Some(n);
        }
        assert_eq!(prev, Some(999));
    }

    #[test]
    fn hold_never_goes_negative_when_jitter_exceeds_delay() {
        let mut s = Scheduler::new(MS, 5 * MS, 100_000, 9);
        for i in 0..1000u64 {
            if let Pushed::Held { release_ns } = s.push(10 * MS + i, i as u32, vec![]) {
                assert!(release_ns >= 10 * MS + i, "got release before arrival; want at or after");
            }
        }
    }

    #[test]
    fn full_queue_drops() {
        let mut s = Scheduler::new(MS, 0, 2, 1);
        assert!(matches!(s.push(0, 1, vec![]), Pushed::Held { .. }));
        assert!(matches!(s.push(0, 2, vec![]), Pushed::Held { .. }));
        assert_eq!(s.push(0, 3, vec![]), Pushed::Dropped);
    }

    #[test]
    fn new_params_apply_to_new_packets_only() {
        let mut s = Scheduler::new(10 * MS, 0, 10, 1);
        s.push(0, 1, vec![1]);
        s.set_params(50 * MS, 0);
        s.push(0, 2, vec![2]);
        assert_eq!(s.pop_due(10 * MS).map(|p| p.1), Some(vec![1]));
        assert!(s.pop_due(49 * MS).is_none());
        assert_eq!(s.pop_due(50 * MS).map(|p| p.1), Some(vec![2]));
    }
}
