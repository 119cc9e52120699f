//! The path selector: classifies each flow into an app class, gives it a path
//! by its class's policy, keeps it there while the path stays healthy, and
//! moves it at once when the path goes down or breaks the class's SLA.
//!
//! The rules are written out in daemons/steerd/SELECTION.md; reference.fixture.ts is
//! the same selector in plain TypeScript, and the differential test requires
//! identical answers from both. Everything that decides is integer arithmetic
//! or IEEE double `+ - * /` and comparisons, done in the same order as in the
//! TypeScript, so both sides round alike. What the Rust keeps besides (flow
//! counts per class and path, use sequence numbers in the flow table) only
//! makes answers quicker to find, never different.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::flow::{flow_hash, pair_hash, Entry, Flow, FlowKey, FlowTable};
use crate::packet::{self, ParseError};
use crate::policy::{ClassRule, Match, Mode, Path, PathState, Policy, Sla};

/// The path id that means "no path": there were no paths to choose from, and
/// the packet follows the main routing table.
pub const NO_PATH: u32 = 0;

/// The answer for one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub path: u32,
    /// Index of the app class in the policy (`default` is the last).
    pub class: u16,
    /// True when this packet's flow left its previous path.
    pub moved: bool,
}

/// A flow `resteer` moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub key: FlowKey,
    pub class: u16,
    pub from: u32,
    pub to: u32,
}

#[derive(Debug, Clone, Default)]
pub struct ClassCounters {
    pub new_flows: u64,
    pub packets: u64,
    pub bytes: u64,
    pub moves: u64,
}

#[derive(Debug, Clone, Default)]
pub struct PathCounters {
    pub new_flows: u64,
    pub packets: u64,
    pub bytes: u64,
}

/// Hashes the selector's own (class, path id) pairs: they do not come from
/// the network, so a plain multiplicative hash is safe and much quicker than
/// SipHash on a path every new flow takes.
#[derive(Default)]
struct PairHasher(u64);

impl Hasher for PairHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(*b as u64);
        }
    }

    fn write_u16(&mut self, n: u16) {
        self.write_u64(n as u64);
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(n as u64);
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

type Occupancy = HashMap<(u16, u32), u64, BuildHasherDefault<PairHasher>>;

/// What `stats` reports; `flows` counts are of the flows in the table now.
#[derive(Debug, Clone)]
pub struct Stats {
    pub flows: u64,
    pub max_flows: u64,
    pub decisions: u64,
    pub new_flows: u64,
    pub moves: u64,
    pub evictions: u64,
    pub expirations: u64,
    pub parse_errors: [u64; 4],
    /// (name, active flows, counters), in policy order.
    pub classes: Vec<(String, u64, ClassCounters)>,
    /// (id, wan, active flows, counters), by path id.
    pub paths: Vec<(u32, String, u64, PathCounters)>,
}

/// Per class: the path `best` gives new flows, and the paths recently left.
#[derive(Debug, Clone, Default)]
struct ClassState {
    preferred: u32,
    /// (path id, held until): flows of this class do not return before then.
    holds: Vec<(u32, f64)>,
}

/// One path as one class sees it at one moment.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    index: usize,
    id: u32,
    tier: u8,
    degraded: bool,
    rank: u32,
    cost: u32,
    score: f64,
    penalty: f64,
}

// Tiers, best first. A path's tier for a class decides before anything else.
const TIER_MEETS: u8 = 0;
const TIER_METERED: u8 = 1;
const TIER_HELD: u8 = 2;
const TIER_BREAKS_SLA: u8 = 3;
const TIER_DOWN: u8 = 4;
/// The tier of a path id that is not in the path set.
const TIER_GONE: u8 = 5;

/// Whether a path meets an SLA: every limit given holds.
pub(crate) fn meets(p: &Path, sla: &Sla) -> bool {
    if let Some(m) = sla.max_loss_pct {
        if p.loss_pct > m {
            return false;
        }
    }
    if let Some(m) = sla.max_latency_ms {
        if p.latency_ms > m {
            return false;
        }
    }
    if let Some(m) = sla.max_jitter_ms {
        if p.jitter_ms > m {
            return false;
        }
    }
    if let Some(m) = sla.min_mos {
        if p.mos < m {
            return false;
        }
    }
    true
}

/// Quality in milliseconds of delay, lower is better: 1 % loss costs as much
/// as 20 ms, 1 ms of jitter as 2 ms of latency.
fn score(p: &Path) -> f64 {
    p.latency_ms + 2.0 * p.jitter_ms + 20.0 * p.loss_pct
}

/// How far a path misses an SLA, in the same units as `score`; 0 when it meets it.
fn penalty(p: &Path, sla: &Sla) -> f64 {
    let mut s = 0.0;
    if let Some(m) = sla.max_loss_pct {
        s += 20.0 * (p.loss_pct - m).max(0.0);
    }
    if let Some(m) = sla.max_latency_ms {
        s += (p.latency_ms - m).max(0.0);
    }
    if let Some(m) = sla.max_jitter_ms {
        s += 2.0 * (p.jitter_ms - m).max(0.0);
    }
    if let Some(m) = sla.min_mos {
        s += 200.0 * (m - p.mos).max(0.0);
    }
    s
}

/// `threshold` lowered by `pct` percent: what a challenger must beat.
fn lowered(threshold: f64, pct: f64) -> f64 {
    threshold * (100.0 - pct) / 100.0
}

/// True when `a` ranks before `b` (see SELECTION.md, "Ranking").
fn better(a: &Candidate, b: &Candidate) -> bool {
    if a.tier != b.tier {
        return a.tier < b.tier;
    }
    if a.tier <= TIER_HELD {
        if a.degraded != b.degraded {
            return !a.degraded;
        }
        if a.rank != b.rank {
            return a.rank < b.rank;
        }
        if a.cost != b.cost {
            return a.cost < b.cost;
        }
        if a.score != b.score {
            return a.score < b.score;
        }
    } else {
        if a.penalty != b.penalty {
            return a.penalty < b.penalty;
        }
        if a.score != b.score {
            return a.score < b.score;
        }
    }
    a.id < b.id
}

fn matches(m: &Match, flow: &Flow) -> bool {
    if !matches_tuple(m, flow) {
        return false;
    }
    if let Some(set) = m.dscp {
        if set & (1 << flow.dscp) == 0 {
            return false;
        }
    }
    true
}

/// `matches` on the 5-tuple alone: a DSCP criterion is taken to match.
fn matches_tuple(m: &Match, flow: &Flow) -> bool {
    if let Some(dst) = &m.dst {
        let a = Flow::address_value(flow.family, &flow.dst);
        if !dst.iter().any(|p| p.contains(flow.family, a)) {
            return false;
        }
    }
    if let Some(src) = &m.src {
        let a = Flow::address_value(flow.family, &flow.src);
        if !src.iter().any(|p| p.contains(flow.family, a)) {
            return false;
        }
    }
    if let Some(set) = &m.protocols {
        let n = flow.protocol as usize;
        if set[n / 64] & (1 << (n % 64)) == 0 {
            return false;
        }
    }
    if let Some(ranges) = &m.ports {
        if !flow.has_ports
            || !ranges
                .iter()
                .any(|(lo, hi)| *lo <= flow.dst_port && flow.dst_port <= *hi)
        {
            return false;
        }
    }
    true
}

/// The class of a flow known only by its 5-tuple (a conntrack entry: it
/// keeps no DSCP and no domain hint, so a class matching on DSCP or by
/// domain hint is taken to match when its other criteria do); the index
/// into `policy.classes`, `default` last.
pub(crate) fn class_of_tuple(policy: &Policy, flow: &Flow) -> usize {
    let last = policy.classes.len() - 1;
    policy.classes[..last]
        .iter()
        .position(|rule| {
            rule.matcher
                .as_ref()
                .is_some_and(|m| matches_tuple(m, flow))
        })
        .unwrap_or(last)
}

pub struct Selector {
    policy: Policy,
    /// Sorted by id.
    paths: Vec<Path>,
    path_counters: Vec<PathCounters>,
    /// Per class, per path (same index as `paths`): position of the path's
    /// WAN in `preferWans` (its length when absent) and the path's weight.
    prefer_rank: Vec<Vec<u32>>,
    weight: Vec<Vec<u32>>,
    class_state: Vec<ClassState>,
    class_counters: Vec<ClassCounters>,
    table: FlowTable,
    /// How many flows of each (class, path id) the table holds: for the
    /// counters, and so `resteer` can tell at once that nothing needs moving.
    occupancy: Occupancy,
    /// The latest time given; earlier times count as this one.
    now: f64,
    decisions: u64,
    new_flows: u64,
    moves: u64,
    evictions: u64,
    expirations: u64,
    parse_errors: [u64; 4],
    candidates: Vec<Candidate>,
}

impl Selector {
    pub fn new(policy: Policy) -> Selector {
        let classes = policy.classes.len();
        Selector {
            table: FlowTable::new(policy.max_flows),
            occupancy: Occupancy::default(),
            policy,
            paths: Vec::new(),
            path_counters: Vec::new(),
            prefer_rank: vec![Vec::new(); classes],
            weight: vec![Vec::new(); classes],
            class_state: vec![ClassState::default(); classes],
            class_counters: vec![ClassCounters::default(); classes],
            now: 0.0,
            decisions: 0,
            new_flows: 0,
            moves: 0,
            evictions: 0,
            expirations: 0,
            parse_errors: [0; 4],
            candidates: Vec::new(),
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Replaces the path set (sorted by id, as `policy::check_paths` returns
    /// it). Counters of paths that stay are kept; flows on a path that left
    /// move at their next packet or `resteer`.
    pub fn set_paths(&mut self, paths: Vec<Path>) {
        let counters = paths
            .iter()
            .map(|p| match self.path_index(p.id) {
                Some(i) => self.path_counters[i].clone(),
                None => PathCounters::default(),
            })
            .collect();
        self.path_counters = counters;
        for (c, rule) in self.policy.classes.iter().enumerate() {
            self.prefer_rank[c] = paths
                .iter()
                .map(|p| {
                    rule.prefer_wans
                        .iter()
                        .position(|w| *w == p.wan)
                        .unwrap_or(rule.prefer_wans.len()) as u32
                })
                .collect();
            self.weight[c] = paths
                .iter()
                .map(|p| match &rule.weights {
                    Some(ws) => ws
                        .iter()
                        .find(|(w, _)| *w == p.wan)
                        .map(|(_, n)| *n)
                        .unwrap_or(0),
                    None => p.weight,
                })
                .collect();
        }
        for state in &mut self.class_state {
            if !paths.iter().any(|p| p.id == state.preferred) {
                state.preferred = NO_PATH;
            }
            state
                .holds
                .retain(|(id, _)| paths.iter().any(|p| p.id == *id));
        }
        self.paths = paths;
    }

    fn occupy(&mut self, class: u16, path: u32) {
        *self.occupancy.entry((class, path)).or_insert(0) += 1;
    }

    fn vacate(&mut self, class: u16, path: u32) {
        if let Some(n) = self.occupancy.get_mut(&(class, path)) {
            *n -= 1;
            if *n == 0 {
                self.occupancy.remove(&(class, path));
            }
        }
    }

    /// Removes a flow from the table and from the occupancy counts.
    fn forget(&mut self, slot: u32) {
        let (class, path) = {
            let e = self.table.get(slot);
            (e.class, e.path)
        };
        self.vacate(class, path);
        self.table.remove(slot);
    }

    /// Whether a flow of `class` on path `id` must be reconsidered: its
    /// path is gone, down or breaks the class's SLA (spray flows never).
    fn needs_move(&self, class: usize, id: u32) -> bool {
        let rule = &self.policy.classes[class];
        if rule.mode == Mode::Spray {
            return false;
        }
        match self.path_index(id) {
            None => true,
            Some(i) => self.paths[i].state == PathState::Down || !meets(&self.paths[i], &rule.sla),
        }
    }

    fn path_index(&self, id: u32) -> Option<usize> {
        self.paths.binary_search_by_key(&id, |p| p.id).ok()
    }

    /// Time only moves forward: an earlier `now` counts as the latest seen.
    fn advance(&mut self, now: f64) -> f64 {
        if now > self.now {
            self.now = now;
        }
        self.now
    }

    fn idle(&self, e: &Entry, now: f64) -> bool {
        now - e.last_seen >= self.policy.idle_timeout_ms
    }

    /// The first class that matches: a class with a domain hint only for a
    /// packet carrying that hint (one with a hint no class has is read as
    /// one without).
    fn classify(&self, flow: &Flow) -> u16 {
        let last = self.policy.classes.len() - 1;
        for (i, rule) in self.policy.classes[..last].iter().enumerate() {
            if rule.domain_hint.is_some_and(|h| h != flow.domain_hint) {
                continue;
            }
            if let Some(m) = &rule.matcher {
                if matches(m, flow) {
                    return i as u16;
                }
            }
        }
        last as u16
    }

    fn held(&self, class: usize, id: u32, now: f64) -> bool {
        self.class_state[class]
            .holds
            .iter()
            .any(|(h, until)| *h == id && *until > now)
    }

    fn tier(&self, class: usize, index: usize, now: f64) -> u8 {
        let p = &self.paths[index];
        let rule = &self.policy.classes[class];
        if p.state == PathState::Down {
            TIER_DOWN
        } else if !meets(p, &rule.sla) {
            TIER_BREAKS_SLA
        } else if self.held(class, p.id, now) {
            TIER_HELD
        } else if p.metered {
            TIER_METERED
        } else {
            TIER_MEETS
        }
    }

    /// Fills `self.candidates` with every path as `class` sees it now.
    fn rank_paths(&mut self, class: usize, now: f64) {
        let mut out = std::mem::take(&mut self.candidates);
        out.clear();
        let sla = &self.policy.classes[class].sla;
        for (i, p) in self.paths.iter().enumerate() {
            out.push(Candidate {
                index: i,
                id: p.id,
                tier: self.tier(class, i, now),
                degraded: p.state == PathState::Degraded,
                rank: self.prefer_rank[class][i],
                cost: p.cost,
                score: score(p),
                penalty: penalty(p, sla),
            });
        }
        self.candidates = out;
    }

    /// The best-ranked candidate; `rank_paths` must have run and found paths.
    fn top(&self) -> Candidate {
        let mut best = self.candidates[0];
        for c in &self.candidates[1..] {
            if better(c, &best) {
                best = *c;
            }
        }
        best
    }

    /// Mode `best`: the class's preferred path, which changes to a better one
    /// only when that one wins on tier, state, preference or cost, or on
    /// score by more than `hysteresisPct`.
    fn choose_best(&mut self, class: usize, now: f64) -> u32 {
        self.rank_paths(class, now);
        let best = self.top();
        let rule = &self.policy.classes[class];
        let preferred = self.class_state[class].preferred;
        if preferred != best.id {
            if let Some(cur) = self.candidates.iter().find(|c| c.id == preferred) {
                let same_standing = best.tier == cur.tier
                    && best.degraded == cur.degraded
                    && best.rank == cur.rank
                    && best.cost == cur.cost;
                if cur.tier <= TIER_HELD
                    && same_standing
                    && best.score >= lowered(cur.score, rule.hysteresis_pct)
                {
                    return cur.id;
                }
            }
        }
        self.class_state[class].preferred = best.id;
        best.id
    }

    /// Modes `weighted`, `affinity` and `spray`: the paths of the best tier
    /// (at most "held") that has any weight, chosen by `x` over their
    /// weights in path id order; without any, the best-ranked path.
    fn choose_weighted(&mut self, class: usize, x: u64, now: f64) -> u32 {
        self.rank_paths(class, now);
        let weights = &self.weight[class];
        for tier in TIER_MEETS..=TIER_HELD {
            let total: u64 = self
                .candidates
                .iter()
                .filter(|c| c.tier == tier)
                .map(|c| weights[c.index] as u64)
                .sum();
            if total == 0 {
                continue;
            }
            let mut r = x % total;
            for c in self.candidates.iter().filter(|c| c.tier == tier) {
                let w = weights[c.index] as u64;
                if r < w {
                    return c.id;
                }
                r -= w;
            }
        }
        self.top().id
    }

    /// The path a flow with `key` of `class` gets now; `packets` is how
    /// many packets the flow had before this one (mode `spray`).
    fn choose(&mut self, class: usize, key: &FlowKey, packets: u64, now: f64) -> u32 {
        if self.paths.is_empty() {
            return NO_PATH;
        }
        // The hashes are made only for the modes that use them.
        match self.policy.classes[class].mode {
            Mode::Best => self.choose_best(class, now),
            Mode::Weighted => self.choose_weighted(class, flow_hash(key) as u64, now),
            Mode::Affinity => self.choose_weighted(class, pair_hash(key) as u64, now),
            Mode::Spray => self.choose_weighted(class, packets, now),
        }
    }

    /// Moves the flow in `slot` if its path is gone, down or breaks its SLA
    /// and a better one exists; returns (from, to) when it moved.
    fn reconsider(&mut self, slot: u32, now: f64) -> Option<(u32, u32)> {
        let (class, from, key) = {
            let e = self.table.get(slot);
            (e.class as usize, e.path, e.key)
        };
        let rule: &ClassRule = &self.policy.classes[class];
        let from_index = self.path_index(from);
        let from_tier = match from_index {
            None => TIER_GONE,
            Some(i) if self.paths[i].state == PathState::Down => TIER_DOWN,
            Some(i) if !meets(&self.paths[i], &rule.sla) => TIER_BREAKS_SLA,
            Some(_) => return None,
        };
        let hysteresis = rule.hysteresis_pct;
        let hold = rule.hold_ms;
        let to = self.choose(class, &key, 0, now);
        if to == from {
            return None;
        }
        // SELECTION.md, "Stickiness and moves": a gone path is left for
        // anything; a down one for a path that is not down; one that breaks
        // the SLA for one that meets it, or misses it by clearly less.
        let should = match (from_index, self.path_index(to)) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(fi), Some(ti)) => {
                let to_tier = self.tier(class, ti, now);
                if from_tier == TIER_DOWN {
                    to_tier <= TIER_BREAKS_SLA
                } else {
                    let sla = &self.policy.classes[class].sla;
                    to_tier <= TIER_HELD
                        || (to_tier == TIER_BREAKS_SLA
                            && penalty(&self.paths[ti], sla)
                                < lowered(penalty(&self.paths[fi], sla), hysteresis))
                }
            }
        };
        if !should {
            return None;
        }
        if from_index.is_some() {
            let holds = &mut self.class_state[class].holds;
            match holds.iter_mut().find(|(id, _)| *id == from) {
                Some(h) => h.1 = now + hold,
                None => holds.push((from, now + hold)),
            }
        }
        self.table.get_mut(slot).path = to;
        self.vacate(class as u16, from);
        self.occupy(class as u16, to);
        self.moves += 1;
        self.class_counters[class].moves += 1;
        Some((from, to))
    }

    /// The path for one packet of `flow` at `now_ms`.
    pub fn decide(&mut self, flow: &Flow, now_ms: f64) -> Decision {
        let now = self.advance(now_ms);
        self.decisions += 1;
        let key = flow.key();
        let (mut found, lookup) = self.table.find(&key);
        if let Some(slot) = found {
            if self.idle(self.table.get(slot), now) {
                self.forget(slot);
                self.expirations += 1;
                found = None;
            }
        }
        let (slot, moved) = match found {
            Some(slot) => {
                self.table.touch(slot);
                self.table.get_mut(slot).last_seen = now;
                let class = self.table.get(slot).class as usize;
                if self.policy.classes[class].mode == Mode::Spray {
                    let packets = self.table.get(slot).packets;
                    let path = self.choose(class, &key, packets, now);
                    let before = std::mem::replace(&mut self.table.get_mut(slot).path, path);
                    self.vacate(class as u16, before);
                    self.occupy(class as u16, path);
                    (slot, false)
                } else {
                    (slot, self.reconsider(slot, now).is_some())
                }
            }
            None => {
                let class = self.classify(flow);
                if self.table.is_full() {
                    if let Some(oldest) = self.table.oldest() {
                        self.forget(oldest);
                        self.evictions += 1;
                    }
                }
                let path = self.choose(class as usize, &key, 0, now);
                let slot = self.table.insert(lookup, Entry::new(key, class, path, now));
                self.occupy(class, path);
                self.new_flows += 1;
                self.class_counters[class as usize].new_flows += 1;
                if let Some(i) = self.path_index(path) {
                    self.path_counters[i].new_flows += 1;
                }
                (slot, false)
            }
        };
        let e = self.table.get_mut(slot);
        e.packets += 1;
        e.bytes += flow.bytes as u64;
        let (class, path) = (e.class, e.path);
        let cc = &mut self.class_counters[class as usize];
        cc.packets += 1;
        cc.bytes += flow.bytes as u64;
        if let Some(i) = self.path_index(path) {
            self.path_counters[i].packets += 1;
            self.path_counters[i].bytes += flow.bytes as u64;
        }
        Decision { path, class, moved }
    }

    /// The path for one raw IP packet whose mark carried `domain_hint` (0:
    /// none). A packet that cannot be read counts its reason and gets the
    /// default class's best-ranked path, without entering the flow table.
    pub fn decide_packet(
        &mut self,
        bytes: &[u8],
        now_ms: f64,
        domain_hint: u8,
    ) -> Result<Decision, (ParseError, Decision)> {
        match packet::parse(bytes) {
            Ok(mut parsed) => {
                parsed.flow.domain_hint = domain_hint;
                Ok(self.decide(&parsed.flow, now_ms))
            }
            Err(reason) => {
                self.parse_errors[reason.index()] += 1;
                let now = self.advance(now_ms);
                let class = self.policy.classes.len() - 1;
                let path = if self.paths.is_empty() {
                    NO_PATH
                } else {
                    self.rank_paths(class, now);
                    self.top().id
                };
                Err((
                    reason,
                    Decision {
                        path,
                        class: class as u16,
                        moved: false,
                    },
                ))
            }
        }
    }

    /// Moves every flow whose path is gone, down or breaks its class's SLA,
    /// least recently used first; `spray` flows are left out (each of their
    /// packets is decided anew) and so are idle flows (they are new at their
    /// next packet).
    pub fn resteer(&mut self, now_ms: f64) -> Vec<Move> {
        let now = self.advance(now_ms);
        let mut moves = Vec::new();
        // Most probe rounds leave every occupied path healthy: then there is
        // nothing to walk.
        if !self
            .occupancy
            .keys()
            .any(|(c, p)| self.needs_move(*c as usize, *p))
        {
            return moves;
        }
        let idle_ms = self.policy.idle_timeout_ms;
        let slots = self.table.select_oldest_first(|e| {
            now - e.last_seen < idle_ms && self.needs_move(e.class as usize, e.path)
        });
        for slot in slots {
            if let Some((from, to)) = self.reconsider(slot, now) {
                let e = self.table.get(slot);
                moves.push(Move {
                    key: e.key,
                    class: e.class,
                    from,
                    to,
                });
            }
        }
        moves
    }

    /// Forgets flows idle for `idleTimeoutMs`; returns how many.
    pub fn expire(&mut self, now_ms: f64) -> u64 {
        let now = self.advance(now_ms);
        let mut removed = 0;
        while let Some(slot) = self.table.oldest() {
            if !self.idle(self.table.get(slot), now) {
                break;
            }
            self.forget(slot);
            removed += 1;
        }
        self.expirations += removed;
        removed
    }

    pub fn stats(&self) -> Stats {
        let mut class_flows = vec![0u64; self.policy.classes.len()];
        let mut path_flows = vec![0u64; self.paths.len()];
        for ((class, path), n) in &self.occupancy {
            class_flows[*class as usize] += n;
            if let Some(i) = self.path_index(*path) {
                path_flows[i] += n;
            }
        }
        Stats {
            flows: self.table.len() as u64,
            max_flows: self.policy.max_flows as u64,
            decisions: self.decisions,
            new_flows: self.new_flows,
            moves: self.moves,
            evictions: self.evictions,
            expirations: self.expirations,
            parse_errors: self.parse_errors,
            classes: self
                .policy
                .classes
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    (
                        c.name.clone(),
                        class_flows[i],
                        self.class_counters[i].clone(),
                    )
                })
                .collect(),
            paths: self
                .paths
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    (
                        p.id,
                        p.wan.clone(),
                        path_flows[i],
                        self.path_counters[i].clone(),
                    )
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{PROTO_TCP, PROTO_UDP};
    use crate::policy::{check_paths, parse_policy};
    use crate::testkit::{flow_v4, path_json as path};

    const DEFAULT: &str = r#""default":{"sla":{"maxLossPct":5},"mode":"best","preferWans":[],"hysteresisPct":20,"holdMs":30000},"flows":{"max":4,"idleTimeoutMs":60000}"#;

    fn selector(classes: &str) -> Selector {
        let text = format!(r#"{{"classes":[{}],{}}}"#, classes, DEFAULT);
        Selector::new(parse_policy(&text).unwrap_or_else(|e| panic!("policy {}: {}", text, e)))
    }

    fn set(s: &mut Selector, paths: &[String]) {
        let text = format!("[{}]", paths.join(","));
        s.set_paths(check_paths(&crate::json::parse(&text).unwrap()).unwrap());
    }

    /// A TCP flow from 10.10.0.<last>, port 40000 + last, to 192.0.2.1.
    fn flow(last: u8, dport: u16) -> Flow {
        flow_v4(PROTO_TCP, [10, 10, 0, last], 40000 + last as u16, [192, 0, 2, 1], dport)
    }

    #[test]
    fn sticky_until_sla_breaks_then_moves_and_holds() {
        let mut s = selector("");
        set(
            &mut s,
            &[path(1, "a", "up", 0.0, 20.0), path(2, "b", "up", 0.0, 30.0)],
        );
        let d = s.decide(&flow(1, 443), 1000.0);
        assert_eq!((d.path, d.moved), (1, false), "new flow: got {:?}", d);
        // b is now much better, but a still meets the SLA: the flow stays.
        set(
            &mut s,
            &[path(1, "a", "up", 0.0, 80.0), path(2, "b", "up", 0.0, 5.0)],
        );
        let d = s.decide(&flow(1, 443), 2000.0);
        assert_eq!(
            (d.path, d.moved),
            (1, false),
            "healthy path kept: got {:?}",
            d
        );
        assert!(s.resteer(2000.0).is_empty(), "resteer moved a healthy flow");
        // a breaks the 5 % loss SLA: resteer moves it at once.
        set(
            &mut s,
            &[path(1, "a", "up", 9.0, 80.0), path(2, "b", "up", 0.0, 5.0)],
        );
        let moves = s.resteer(3000.0);
        assert_eq!(moves.len(), 1, "moves: got {:?}", moves);
        assert_eq!((moves[0].from, moves[0].to), (1, 2));
        let d = s.decide(&flow(1, 443), 3100.0);
        assert_eq!((d.path, d.moved), (2, false), "after the move: got {:?}", d);
        // a recovers and is better, but held for holdMs: new flows avoid it.
        set(
            &mut s,
            &[path(1, "a", "up", 0.0, 1.0), path(2, "b", "up", 0.0, 5.0)],
        );
        let d = s.decide(&flow(2, 443), 4000.0);
        assert_eq!(d.path, 2, "held path chosen: got {:?}", d);
        let d = s.decide(&flow(3, 443), 3000.0 + 30000.0);
        assert_eq!(d.path, 1, "after the hold: got {:?}", d);
    }

    #[test]
    fn down_path_moves_on_next_packet_and_all_down_keeps_a_path() {
        let mut s = selector("");
        set(
            &mut s,
            &[path(1, "a", "up", 0.0, 20.0), path(2, "b", "up", 0.0, 30.0)],
        );
        s.decide(&flow(1, 443), 0.0);
        set(
            &mut s,
            &[
                path(1, "a", "down", 0.0, 20.0),
                path(2, "b", "up", 0.0, 30.0),
            ],
        );
        let d = s.decide(&flow(1, 443), 10.0);
        assert_eq!((d.path, d.moved), (2, true), "down: got {:?}", d);
        set(
            &mut s,
            &[
                path(1, "a", "down", 0.0, 20.0),
                path(2, "b", "down", 50.0, 30.0),
            ],
        );
        let d = s.decide(&flow(1, 443), 20.0);
        assert_eq!(
            (d.path, d.moved),
            (2, false),
            "all down: the flow stays; got {:?}",
            d
        );
        let d = s.decide(&flow(9, 443), 20.0);
        assert_eq!(
            d.path, 1,
            "all down: a new flow gets the least bad; got {:?}",
            d
        );
        set(&mut s, &[]);
        let d = s.decide(&flow(9, 443), 30.0);
        assert_eq!((d.path, d.moved), (NO_PATH, true), "no paths: got {:?}", d);
    }

    #[test]
    fn lru_eviction_and_idle_expiry() {
        let mut s = selector("");
        set(&mut s, &[path(1, "a", "up", 0.0, 20.0)]);
        for i in 0..4 {
            s.decide(&flow(i, 443), i as f64);
        }
        s.decide(&flow(0, 443), 10.0); // 0 is now the most recent
        s.decide(&flow(4, 443), 11.0); // evicts 1
        let st = s.stats();
        assert_eq!(
            (st.flows, st.evictions, st.new_flows),
            (4, 1, 5),
            "stats: got {:?}",
            st
        );
        // Flow 1 comes back as new and evicts 2; the table is 3, 0, 4, 1.
        let d = s.decide(&flow(1, 443), 12.0);
        assert!(!d.moved, "a new flow never counts as moved");
        let st = s.stats();
        assert_eq!((st.new_flows, st.evictions), (6, 2), "stats: got {:?}", st);
        // At 60011 ms, flows last seen at 3, 10 and 11 ms have been idle 60 s.
        let removed = s.expire(60_011.0);
        assert_eq!(removed, 3, "expired: got {}; want 3", removed);
        let st = s.stats();
        assert_eq!((st.flows, st.expirations), (1, 3), "stats: got {:?}", st);
    }

    #[test]
    fn a_domain_class_takes_only_flows_with_its_hint() {
        // saas: hint 2 and TCP 443; chat: hint 1 alone; web: TCP 443 by address.
        let saas = r#"{"name":"saas","domainHint":2,"match":{"ports":[[443,443]]},"sla":{},"mode":"best","preferWans":[],"hysteresisPct":20,"holdMs":0}"#;
        let chat = r#"{"name":"chat","domainHint":1,"match":{},"sla":{},"mode":"best","preferWans":[],"hysteresisPct":20,"holdMs":0}"#;
        let web = r#"{"name":"web","match":{"dst":["192.0.2.0/24"],"ports":[[443,443]]},"sla":{},"mode":"best","preferWans":[],"hysteresisPct":20,"holdMs":0}"#;
        let mut s = selector(&format!("{},{},{}", saas, chat, web));
        set(&mut s, &[path(1, "a", "up", 0.0, 20.0)]);
        let hinted = |last: u8, dport: u16, hint: u8| {
            let mut f = flow(last, dport);
            f.domain_hint = hint;
            f
        };
        let cases = [
            (hinted(1, 443, 2), 0u16, "hint 2, port 443: saas"),
            (hinted(2, 80, 2), 3, "hint 2, port 80: saas's other criterion fails; default"),
            (hinted(3, 80, 1), 1, "hint 1: chat, whatever else"),
            (hinted(4, 443, 0), 2, "no hint: web by address"),
            (hinted(5, 443, 9), 2, "a hint no class has: as if none"),
        ];
        for (f, want, what) in cases {
            let got = s.decide(&f, 0.0).class;
            assert_eq!(got, want, "{}: got class {}; want {}", what, got, want);
        }
        // By the tuple alone (a conntrack entry) the hint is unknown: taken to match.
        let got = class_of_tuple(s.policy(), &flow(6, 443));
        assert_eq!(got, 0, "tuple of a 443 flow: got class {}; want saas (0)", got);
    }

    #[test]
    fn classification_first_match_wins() {
        let voice = r#"{"name":"voice","match":{"protocols":[17],"ports":[[5060,5061]]},"sla":{},"mode":"best","preferWans":[],"hysteresisPct":20,"holdMs":0}"#;
        let web = r#"{"name":"web","match":{"dst":["192.0.2.0/24"],"ports":[[443,443]]},"sla":{},"mode":"best","preferWans":[],"hysteresisPct":20,"holdMs":0}"#;
        let mut s = selector(&format!("{},{}", voice, web));
        set(&mut s, &[path(1, "a", "up", 0.0, 20.0)]);
        let mut udp = flow(1, 5060);
        udp.protocol = PROTO_UDP;
        let cases = [(flow(1, 443), 1u16), (udp, 0), (flow(2, 80), 2)];
        for (f, want) in cases {
            let got = s.decide(&f, 0.0).class;
            assert_eq!(got, want, "class of {:?}: got {}; want {}", f, got, want);
        }
    }
}
