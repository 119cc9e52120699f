//! Flows: the 5-tuple a decision is about, its fixed-size record (how flows
//! cross the N-API boundary in batches), and the flow table the selector
//! keeps them in.
//!
//! A flow is keyed by its 5-tuple as seen in the direction of its first
//! packet (address family, protocol, ports, source, destination); the key is
//! not direction-agnostic because only the original direction reaches the
//! selector (replies follow the conntrack mark in the kernel), and a class
//! matches on the destination. DSCP is not part of the key: it is read from
//! the first packet, when the flow is classified.
//!
//! The table is bounded: when it is full, the least recently used flow makes
//! room. Every use moves a flow to the most recent end, and time only moves
//! forward (the selector keeps the latest `nowMs` it was given), so the least
//! recently used end is also the longest idle one and expiry stops at the
//! first flow that is still fresh.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// Bytes of one flow record (see `Flow::from_record`).
pub const FLOW_RECORD_SIZE: usize = 48;
/// The key is the record's first 38 bytes.
pub const KEY_SIZE: usize = 38;
pub type FlowKey = [u8; KEY_SIZE];

pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const PROTO_SCTP: u8 = 132;
pub const PROTO_UDPLITE: u8 = 136;

/// Protocols whose header starts with 16-bit source and destination ports,
/// the ones `match.ports` applies to (the same set the config check accepts).
pub fn has_port_header(protocol: u8) -> bool {
    matches!(protocol, PROTO_TCP | PROTO_UDP | PROTO_SCTP | PROTO_UDPLITE)
}

/// One flow as its first (or current) packet shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    /// 4 or 6.
    pub family: u8,
    pub protocol: u8,
    /// Zero unless `has_ports`.
    pub src_port: u16,
    pub dst_port: u16,
    /// IPv4 in the first 4 bytes, the rest zero.
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub dscp: u8,
    /// False for protocols without ports and for non-first fragments.
    pub has_ports: bool,
    /// Length of the packet, for the byte counters.
    pub bytes: u32,
    /// The domain hint the packet's mark carried (0: none): its destination
    /// is in the domain sets of the class with this hint. Like DSCP, read
    /// when the flow is classified, not part of the key.
    pub domain_hint: u8,
}

impl Flow {
    /// Decodes a 48-byte flow record, little-endian:
    ///
    /// | offset | size | field |
    /// |---|---|---|
    /// | 0 | 1 | family: 4 or 6 |
    /// | 1 | 1 | IP protocol |
    /// | 2 | 2 | source port (0 when no ports) |
    /// | 4 | 2 | destination port (0 when no ports) |
    /// | 6 | 16 | source address (IPv4: 4 bytes, then 12 zero bytes) |
    /// | 22 | 16 | destination address |
    /// | 38 | 1 | DSCP 0-63 |
    /// | 39 | 1 | flags: bit 0 = ports present; other bits zero |
    /// | 40 | 4 | packet length in bytes |
    /// | 44 | 1 | domain hint (0: none) |
    /// | 45 | 3 | reserved, zero |
    ///
    /// Bytes 0-37 are the flow key. Anything outside the table is refused,
    /// so one flow has exactly one encoding.
    pub fn from_record(r: &[u8]) -> Result<Flow, String> {
        if r.len() != FLOW_RECORD_SIZE {
            return Err(format!(
                "expected {} bytes; got {}",
                FLOW_RECORD_SIZE,
                r.len()
            ));
        }
        let family = r[0];
        if family != 4 && family != 6 {
            return Err(format!("family: expected 4 or 6; got {}", family));
        }
        let protocol = r[1];
        let src_port = u16::from_le_bytes([r[2], r[3]]);
        let dst_port = u16::from_le_bytes([r[4], r[5]]);
        let mut src = [0u8; 16];
        let mut dst = [0u8; 16];
        src.copy_from_slice(&r[6..22]);
        dst.copy_from_slice(&r[22..38]);
        if family == 4 && (src[4..].iter().any(|b| *b != 0) || dst[4..].iter().any(|b| *b != 0)) {
            return Err("address: expected 12 zero bytes after an IPv4 address".to_string());
        }
        let dscp = r[38];
        if dscp > 63 {
            return Err(format!("dscp: expected 0-63; got {}", dscp));
        }
        let flags = r[39];
        if flags > 1 {
            return Err(format!("flags: expected 0 or 1; got {}", flags));
        }
        let has_ports = flags == 1;
        if has_ports && !has_port_header(protocol) {
            return Err(format!(
                "flags: ports present, but protocol {} has no ports (expected 6, 17, 132 or 136)",
                protocol
            ));
        }
        if !has_ports && (src_port != 0 || dst_port != 0) {
            return Err("ports: expected 0 when the ports-present flag is clear".to_string());
        }
        let bytes = u32::from_le_bytes([r[40], r[41], r[42], r[43]]);
        if r[45..48].iter().any(|b| *b != 0) {
            return Err("reserved: expected bytes 45-47 to be zero".to_string());
        }
        Ok(Flow {
            family,
            protocol,
            src_port,
            dst_port,
            src,
            dst,
            dscp,
            has_ports,
            bytes,
            domain_hint: r[44],
        })
    }

    /// The record `from_record` reads.
    pub fn to_record(&self) -> [u8; FLOW_RECORD_SIZE] {
        let mut r = [0u8; FLOW_RECORD_SIZE];
        r[..KEY_SIZE].copy_from_slice(&self.key());
        r[38] = self.dscp;
        r[39] = self.has_ports as u8;
        r[40..44].copy_from_slice(&self.bytes.to_le_bytes());
        r[44] = self.domain_hint;
        r
    }

    /// A flow known only by its key (a conntrack entry's original tuple):
    /// ports present for the protocols that have them, DSCP 0, no bytes.
    pub fn from_key(k: &FlowKey) -> Flow {
        let mut src = [0u8; 16];
        let mut dst = [0u8; 16];
        src.copy_from_slice(&k[6..22]);
        dst.copy_from_slice(&k[22..38]);
        Flow {
            family: k[0],
            protocol: k[1],
            src_port: u16::from_le_bytes([k[2], k[3]]),
            dst_port: u16::from_le_bytes([k[4], k[5]]),
            src,
            dst,
            dscp: 0,
            has_ports: has_port_header(k[1]),
            bytes: 0,
            domain_hint: 0,
        }
    }

    pub fn key(&self) -> FlowKey {
        let mut k = [0u8; KEY_SIZE];
        k[0] = self.family;
        k[1] = self.protocol;
        k[2..4].copy_from_slice(&self.src_port.to_le_bytes());
        k[4..6].copy_from_slice(&self.dst_port.to_le_bytes());
        k[6..22].copy_from_slice(&self.src);
        k[22..38].copy_from_slice(&self.dst);
        k
    }

    /// An address as an integer of its family's width (IPv4 in the low 32 bits).
    pub fn address_value(family: u8, a: &[u8; 16]) -> u128 {
        if family == 4 {
            u32::from_be_bytes([a[0], a[1], a[2], a[3]]) as u128
        } else {
            u128::from_be_bytes(*a)
        }
    }
}

const FNV_OFFSET: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 0x0100_0193;

/// FNV-1a over `bytes`, then murmur3's finalizer so that every output bit
/// depends on every input bit (FNV alone spreads poorly into `hash % total`).
/// reference.fixture.ts computes the same with Math.imul.
pub fn mix_hash(bytes: &[u8]) -> u32 {
    let mut h = FNV_OFFSET;
    for b in bytes {
        h ^= *b as u32;
        h = h.wrapping_mul(FNV_PRIME);
    }
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

/// The hash mode `weighted` spreads flows by: the whole key.
pub fn flow_hash(key: &FlowKey) -> u32 {
    mix_hash(key)
}

/// The hash mode `affinity` uses: family, source and destination only, so
/// every flow between two hosts gets the same answer.
pub fn pair_hash(key: &FlowKey) -> u32 {
    let mut b = [0u8; 33];
    b[0] = key[0];
    b[1..33].copy_from_slice(&key[6..38]);
    mix_hash(&b)
}

/// One tracked flow.
#[derive(Debug, Clone)]
pub struct Entry {
    pub key: FlowKey,
    /// Index of its app class in the policy.
    pub class: u16,
    /// Its path id; 0 when there was no path to give it.
    pub path: u32,
    pub last_seen: f64,
    pub packets: u64,
    pub bytes: u64,
    /// The index tag of `key` (see `Index`), kept so removal need not hash again.
    tag: u32,
    /// When the flow was last used, as a count of uses of the table: the
    /// least recently used flow has the lowest. 0 marks a free slot.
    seq: u64,
    prev: u32,
    next: u32,
}

impl Entry {
    pub fn new(key: FlowKey, class: u16, path: u32, now: f64) -> Entry {
        Entry {
            key,
            class,
            path,
            last_seen: now,
            packets: 0,
            bytes: 0,
            tag: 0,
            seq: 0,
            prev: NIL,
            next: NIL,
        }
    }
}

const NIL: u32 = u32::MAX;

/// The table's index: open addressing with linear probing over 8-byte
/// buckets (a key's tag and its slot), at most half full, with
/// backward-shift deletion, so there are no tombstones and probes stay short.
/// The tag is the upper half of the key's SipHash; its low bits pick the home
/// bucket, so a bucket can be moved without reading the slab, and the slab
/// entry is read only to confirm a matching tag. Compared with std's HashMap
/// holding whole keys, the index is a sixth of the size and a lookup touches
/// one cache line, which is most of the cost of a decision in a large table.
struct Index {
    buckets: Vec<Bucket>,
    mask: usize,
    len: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Bucket {
    tag: u32,
    slot: u32,
}

const EMPTY: Bucket = Bucket { tag: 0, slot: NIL };
const MIN_BUCKETS: usize = 1024;

impl Index {
    fn new(capacity: usize) -> Index {
        let n = (capacity * 2).next_power_of_two().max(MIN_BUCKETS);
        Index {
            buckets: vec![EMPTY; n],
            mask: n - 1,
            len: 0,
        }
    }

    /// The slot whose tag is `tag` and whose entry `is_key` accepts.
    fn find(&self, tag: u32, mut is_key: impl FnMut(u32) -> bool) -> Option<u32> {
        let mut i = tag as usize & self.mask;
        loop {
            let b = self.buckets[i];
            if b.slot == NIL {
                return None;
            }
            if b.tag == tag && is_key(b.slot) {
                return Some(b.slot);
            }
            i = (i + 1) & self.mask;
        }
    }

    fn insert(&mut self, tag: u32, slot: u32) {
        if (self.len + 1) * 2 > self.buckets.len() {
            self.grow();
        }
        self.place(Bucket { tag, slot });
        self.len += 1;
    }

    fn place(&mut self, b: Bucket) {
        let mut i = b.tag as usize & self.mask;
        while self.buckets[i].slot != NIL {
            i = (i + 1) & self.mask;
        }
        self.buckets[i] = b;
    }

    fn grow(&mut self) {
        let doubled = vec![EMPTY; self.buckets.len() * 2];
        let old = std::mem::replace(&mut self.buckets, doubled);
        self.mask = self.buckets.len() - 1;
        for b in old.into_iter().filter(|b| b.slot != NIL) {
            self.place(b);
        }
    }

    /// Removes the bucket of `slot` (whose tag is `tag`; it must be present).
    fn remove(&mut self, tag: u32, slot: u32) {
        let mut i = tag as usize & self.mask;
        while self.buckets[i].slot != slot {
            i = (i + 1) & self.mask;
        }
        // Knuth's algorithm R: pull later members of the cluster back into
        // the hole unless their home lies cyclically in (hole, position].
        let mut j = i;
        loop {
            j = (j + 1) & self.mask;
            let b = self.buckets[j];
            if b.slot == NIL {
                break;
            }
            let home = b.tag as usize & self.mask;
            let stays = if i <= j {
                i < home && home <= j
            } else {
                i < home || home <= j
            };
            if !stays {
                self.buckets[i] = b;
                i = j;
            }
        }
        self.buckets[i] = EMPTY;
        self.len -= 1;
    }
}

/// Flows by key, in a slab with an intrusive doubly linked list from the
/// least to the most recently used. Slot numbers stay valid until the flow
/// is removed.
pub struct FlowTable {
    // Keys come from the network: they are hashed with std's SipHash under a
    // random key, so a sender cannot pick keys that all collide.
    keys: RandomState,
    index: Index,
    slots: Vec<Entry>,
    free: Vec<u32>,
    oldest: u32,
    newest: u32,
    max: usize,
    /// The `seq` of the most recent use.
    uses: u64,
}

/// A key looked up once, to insert after a miss without hashing again.
pub struct Lookup {
    tag: u32,
}

impl FlowTable {
    pub fn new(max: usize) -> FlowTable {
        // Grow on demand: most tables stay far below their bound.
        let initial = max.min(4096);
        FlowTable {
            keys: RandomState::new(),
            index: Index::new(initial),
            slots: Vec::with_capacity(initial),
            free: Vec::new(),
            oldest: NIL,
            newest: NIL,
            max,
            uses: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.index.len
    }

    pub fn is_full(&self) -> bool {
        self.index.len >= self.max
    }

    /// The index tag of a key: the upper half of its SipHash over the key's
    /// meaningful bytes. An IPv4 key is hashed without the 24 zero bytes
    /// that pad its addresses, which halves the work for most flows and
    /// keeps the encoding one-to-one (the family comes first).
    fn tag(&self, key: &FlowKey) -> u32 {
        let mut h = self.keys.build_hasher();
        if key[0] == 4 {
            let mut short = [0u8; 14];
            short[..10].copy_from_slice(&key[..10]);
            short[10..].copy_from_slice(&key[22..26]);
            h.write(&short);
        } else {
            h.write(key);
        }
        (h.finish() >> 32) as u32
    }

    /// The slot of `key`, and the lookup to `insert` it with when absent.
    pub fn find(&self, key: &FlowKey) -> (Option<u32>, Lookup) {
        let tag = self.tag(key);
        let found = self
            .index
            .find(tag, |slot| self.slots[slot as usize].key == *key);
        (found, Lookup { tag })
    }

    pub fn get(&self, slot: u32) -> &Entry {
        &self.slots[slot as usize]
    }

    pub fn get_mut(&mut self, slot: u32) -> &mut Entry {
        &mut self.slots[slot as usize]
    }

    pub fn oldest(&self) -> Option<u32> {
        (self.oldest != NIL).then_some(self.oldest)
    }

    /// Adds a flow at the most recent end; `lookup` is `find`'s for its key.
    /// The caller makes room first (the table never holds more than its
    /// bound) and never adds a key twice.
    pub fn insert(&mut self, lookup: Lookup, mut entry: Entry) -> u32 {
        entry.tag = lookup.tag;
        self.uses += 1;
        entry.seq = self.uses;
        entry.prev = self.newest;
        entry.next = NIL;
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = entry;
                s
            }
            None => {
                self.slots.push(entry);
                (self.slots.len() - 1) as u32
            }
        };
        if self.newest != NIL {
            self.slots[self.newest as usize].next = slot;
        } else {
            self.oldest = slot;
        }
        self.newest = slot;
        self.index.insert(lookup.tag, slot);
        slot
    }

    pub fn remove(&mut self, slot: u32) {
        self.unlink(slot);
        self.index.remove(self.slots[slot as usize].tag, slot);
        self.slots[slot as usize].seq = 0;
        self.free.push(slot);
    }

    /// Moves a flow to the most recent end.
    pub fn touch(&mut self, slot: u32) {
        self.uses += 1;
        self.slots[slot as usize].seq = self.uses;
        if self.newest == slot {
            return;
        }
        self.unlink(slot);
        let e = &mut self.slots[slot as usize];
        e.prev = self.newest;
        e.next = NIL;
        self.slots[self.newest as usize].next = slot;
        self.newest = slot;
    }

    fn unlink(&mut self, slot: u32) {
        let (prev, next) = {
            let e = &self.slots[slot as usize];
            (e.prev, e.next)
        };
        if prev != NIL {
            self.slots[prev as usize].next = next;
        } else {
            self.oldest = next;
        }
        if next != NIL {
            self.slots[next as usize].prev = prev;
        } else {
            self.newest = prev;
        }
    }

    /// The live slots whose entry `keep` accepts, least recently used
    /// first. The slab is read in memory order and the few kept sorted by
    /// age, which is far quicker over a large table than following the list
    /// through memory.
    pub fn select_oldest_first(&self, mut keep: impl FnMut(&Entry) -> bool) -> Vec<u32> {
        let mut kept: Vec<(u64, u32)> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, e)| e.seq != 0 && keep(e))
            .map(|(i, e)| (e.seq, i as u32))
            .collect();
        kept.sort_unstable();
        kept.into_iter().map(|(_, slot)| slot).collect()
    }

    /// Every live slot, least recently used first.
    #[cfg(test)]
    pub fn slots_oldest_first(&self) -> Vec<u32> {
        let mut out = Vec::with_capacity(self.len());
        let mut cur = self.oldest;
        while cur != NIL {
            out.push(cur);
            cur = self.slots[cur as usize].next;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> FlowKey {
        let mut k = [0u8; KEY_SIZE];
        k[0] = 4;
        k[1] = PROTO_TCP;
        k[6] = n;
        k
    }

    fn add(t: &mut FlowTable, n: u8) -> u32 {
        let (found, lookup) = t.find(&key(n));
        assert_eq!(found, None, "key {} added twice", n);
        t.insert(lookup, Entry::new(key(n), 0, 1, n as f64))
    }

    fn order(t: &FlowTable) -> Vec<u8> {
        t.slots_oldest_first()
            .iter()
            .map(|s| t.get(*s).key[6])
            .collect()
    }

    #[test]
    fn lru_order_follows_use() {
        let mut t = FlowTable::new(8);
        let mut slots = Vec::new();
        for n in 1..=4 {
            slots.push(add(&mut t, n));
        }
        assert_eq!(order(&t), vec![1, 2, 3, 4]);
        t.touch(slots[1]);
        assert_eq!(order(&t), vec![1, 3, 4, 2], "after touching 2");
        t.touch(slots[0]);
        assert_eq!(order(&t), vec![3, 4, 2, 1], "after touching 1");
        t.remove(slots[3]);
        assert_eq!(order(&t), vec![3, 2, 1], "after removing 4");
        let s5 = add(&mut t, 5);
        assert_eq!(
            s5, slots[3],
            "a freed slot is reused: got {}; want {}",
            s5, slots[3]
        );
        assert_eq!(order(&t), vec![3, 2, 1, 5]);
        let by_age: Vec<u8> = t
            .select_oldest_first(|_| true)
            .iter()
            .map(|s| t.get(*s).key[6])
            .collect();
        assert_eq!(
            by_age,
            vec![3, 2, 1, 5],
            "select_oldest_first: got {:?}; want the list order",
            by_age
        );
        let odd: Vec<u8> = t
            .select_oldest_first(|e| e.key[6] % 2 == 1)
            .iter()
            .map(|s| t.get(*s).key[6])
            .collect();
        assert_eq!(
            odd,
            vec![3, 1, 5],
            "select_oldest_first(odd): got {:?}",
            odd
        );
        assert_eq!(t.find(&key(4)).0, None, "removed key still found");
        assert_eq!(t.find(&key(5)).0, Some(s5));
        for s in t.slots_oldest_first() {
            t.remove(s);
        }
        assert_eq!(t.len(), 0);
        assert_eq!(t.oldest(), None);
        add(&mut t, 9);
        assert_eq!(order(&t), vec![9], "table reused after emptying");
    }

    /// The index against a plain model, with tags drawn from a few home
    /// buckets so that clusters are long and wrap around the end.
    #[test]
    fn index_matches_a_model() {
        let mut rng = crate::testkit::Rng::new(0x1de7);
        let mut index = Index::new(8);
        let mut model: Vec<(u32, u32)> = Vec::new();
        let mut next_slot = 0u32;
        for round in 0..200_000 {
            let buckets = index.buckets.len() as u32;
            let tag =
                ((buckets - 3 + rng.below(6) as u32) % buckets) | ((rng.below(4) as u32) << 20);
            if model.len() < 700 && (model.is_empty() || rng.below(2) == 0) {
                index.insert(tag, next_slot);
                model.push((tag, next_slot));
                next_slot += 1;
            } else {
                let (tag, slot) = model.swap_remove(rng.below(model.len()));
                index.remove(tag, slot);
            }
            assert_eq!(index.len, model.len(), "round {}: len", round);
            if round % 97 == 0 {
                for (tag, slot) in &model {
                    let got = index.find(*tag, |s| s == *slot);
                    assert_eq!(
                        got,
                        Some(*slot),
                        "round {}: slot {} (tag {:#x}) not found",
                        round,
                        slot,
                        tag
                    );
                }
                let got = index.find(tag, |s| s == NIL - 1);
                assert_eq!(got, None, "round {}: found a slot never inserted", round);
            }
        }
    }

    #[test]
    fn record_round_trips_and_rejects() {
        let f = Flow {
            family: 6,
            protocol: PROTO_UDP,
            src_port: 5060,
            dst_port: 40000,
            src: [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            dst: [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
            dscp: 46,
            has_ports: true,
            bytes: 1400,
            domain_hint: 7,
        };
        let r = f.to_record();
        assert_eq!(r[44], 7, "domain hint at byte 44");
        assert_eq!(Flow::from_record(&r), Ok(f.clone()));
        let mutate = |at: usize, v: u8| {
            let mut m = r;
            m[at] = v;
            Flow::from_record(&m)
        };
        assert!(mutate(0, 5).is_err(), "family 5 accepted");
        assert!(mutate(38, 64).is_err(), "dscp 64 accepted");
        assert!(mutate(39, 2).is_err(), "flag bit 1 accepted");
        assert!(mutate(45, 1).is_err(), "reserved byte accepted");
        assert!(mutate(1, 1).is_err(), "ports for ICMP accepted");
        assert!(
            Flow::from_record(&r[..47]).is_err(),
            "short record accepted"
        );
        let mut v4 = r;
        v4[0] = 4;
        assert!(
            Flow::from_record(&v4).is_err(),
            "IPv4 with non-zero padding accepted"
        );
    }

    #[test]
    fn hashes_are_the_documented_ones() {
        // The same values are pinned in daemons/steerd/reference.test.ts, so
        // both sides spread flows alike.
        let cases: [(&[u8], u32); 3] = [
            (b"", 0xab3e_7c0b),
            (b"a", 0x1a80_b1b3),
            (b"tern", 0x9601_d6fa),
        ];
        for (input, want) in cases {
            let got = mix_hash(input);
            assert_eq!(
                got, want,
                "mix_hash({:?}): got {:#x}; want {:#x}",
                input, got, want
            );
        }
    }
}
