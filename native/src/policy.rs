//! The selector's input, read from JSON and checked: the policy (app classes
//! in match order, each with its SLA and how its flows choose a path, then the
//! built-in `default` class, and the flow table limits) and the path list.
//!
//! daemons/steerd/validate.ts checks the same documents with the same rules
//! and the same messages (`<key path>: expected <what>; got <value>`); the
//! differential tests feed both random and malformed documents and compare.
//! Objects are closed: an unknown key is reported before anything else in
//! that object, since it is usually a misspelling of a key then missing.

use crate::json::{self, Value};

pub const MAX_CLASSES: usize = 1000;
pub const MAX_PREFIXES: usize = 65536;
pub const MAX_PORT_RANGES: usize = 1024;
pub const MAX_WAN_NAMES: usize = 256;
pub const MAX_PATHS: usize = 4096;
pub const MAX_FLOWS: f64 = 16_777_216.0;
pub const DAY_MS: f64 = 86_400_000.0;
/// Upper bound of latency and jitter, and of the SLA limits on them.
pub const MAX_DELAY_MS: f64 = 1_000_000.0;
pub const DEFAULT_CLASS: &str = "default";

/// The SLA of an app class; `None` means no limit on that metric.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sla {
    pub max_loss_pct: Option<f64>,
    pub max_latency_ms: Option<f64>,
    pub max_jitter_ms: Option<f64>,
    pub min_mos: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Best,
    Weighted,
    Affinity,
    Spray,
}

/// One prefix: the network and mask as integers of the family's width
/// (IPv4 in the low 32 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    pub family: u8,
    pub network: u128,
    pub mask: u128,
}

impl Prefix {
    pub fn contains(&self, family: u8, address: u128) -> bool {
        self.family == family && address & self.mask == self.network
    }
}

/// What a flow must look like to be in a class: every criterion given, and
/// any value within one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Match {
    pub dst: Option<Vec<Prefix>>,
    pub src: Option<Vec<Prefix>>,
    /// Bit n of word n/64 set when IP protocol n matches.
    pub protocols: Option<[u64; 4]>,
    pub ports: Option<Vec<(u16, u16)>>,
    /// Bit n set when DSCP n matches.
    pub dscp: Option<u64>,
}

/// An app class and its policy; the `default` class has no `matcher`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassRule {
    pub name: String,
    pub matcher: Option<Match>,
    /// Matches only packets carrying this domain hint (1-255); None: any.
    pub domain_hint: Option<u8>,
    pub sla: Sla,
    pub mode: Mode,
    pub prefer_wans: Vec<String>,
    /// Mode weights by WAN name; `None` uses each path's own weight.
    pub weights: Option<Vec<(String, u32)>>,
    pub hysteresis_pct: f64,
    pub hold_ms: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// The configured classes in match order, then `default`.
    pub classes: Vec<ClassRule>,
    pub max_flows: usize,
    pub idle_timeout_ms: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathState {
    Up,
    Degraded,
    Down,
}

/// One path as probing last saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    pub id: u32,
    pub wan: String,
    pub weight: u32,
    pub cost: u32,
    pub metered: bool,
    pub state: PathState,
    pub loss_pct: f64,
    pub latency_ms: f64,
    pub jitter_ms: f64,
    pub mos: f64,
}

type Checked<T> = Result<T, String>;

/// `parent.key`, with the document's root name left out.
fn child(parent: &str, key: &str) -> String {
    if parent == "policy" {
        key.to_string()
    } else {
        format!("{}.{}", parent, key)
    }
}

fn index(parent: &str, i: usize) -> String {
    format!("{}[{}]", parent, i)
}

fn expected(path: &str, what: &str, got: &Value) -> String {
    let got = match got {
        Value::Array(items) if items.len() == 1 => "an array of 1 item".to_string(),
        Value::Array(items) => format!("an array of {} items", items.len()),
        other => other.describe(),
    };
    format!("{}: expected {}; got {}", path, what, got)
}

fn missing(path: &str, what: &str) -> String {
    format!("{}: missing; expected {}", path, what)
}

/// The members of an object with only `known` keys.
fn object<'a>(v: &'a Value, path: &str, what: &str, known: &[&str]) -> Checked<&'a Value> {
    let Value::Object(members) = v else {
        return Err(expected(path, what, v));
    };
    let mut unknown: Vec<&str> = members
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !known.contains(k))
        .collect();
    if !unknown.is_empty() {
        // Code point order: the same in JS (see validate.ts) whatever order
        // the keys were written in.
        unknown.sort_unstable();
        unknown.dedup();
        let names: Vec<String> = unknown.iter().map(|k| json::quote(k)).collect();
        return Err(format!(
            "{}: unknown key{} {}; expected only {}",
            path,
            if names.len() == 1 { "" } else { "s" },
            names.join(", "),
            known.join(", ")
        ));
    }
    Ok(v)
}

fn array<'a>(v: &'a Value, path: &str, what: &str, min: usize, max: usize) -> Checked<&'a [Value]> {
    match v {
        Value::Array(items) if items.len() >= min && items.len() <= max => Ok(items),
        _ => Err(expected(path, what, v)),
    }
}

fn required<'a>(obj: &'a Value, parent: &str, key: &str, what: &str) -> Checked<&'a Value> {
    obj.get(key)
        .ok_or_else(|| missing(&child(parent, key), what))
}

fn integer(v: &Value, path: &str, lo: f64, hi: f64) -> Checked<f64> {
    match v {
        Value::Number(n) if n.is_finite() && n.fract() == 0.0 && *n >= lo && *n <= hi => Ok(*n),
        _ => Err(expected(
            path,
            &format!("an integer {}-{}", json::js_number(lo), json::js_number(hi)),
            v,
        )),
    }
}

fn number(v: &Value, path: &str, lo: f64, hi: f64) -> Checked<f64> {
    match v {
        Value::Number(n) if n.is_finite() && *n >= lo && *n <= hi => Ok(*n),
        _ => Err(expected(
            path,
            &format!("a number {}-{}", json::js_number(lo), json::js_number(hi)),
            v,
        )),
    }
}

fn boolean(v: &Value, path: &str) -> Checked<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        _ => Err(expected(path, "true or false", v)),
    }
}

const NAME_WHAT: &str = "a name of 1-31 characters a-z, 0-9 and '-', starting with a letter";

/// The config's id pattern, `^[a-z][a-z0-9-]*$`, at most 31 characters.
fn is_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 31
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

fn name(v: &Value, path: &str) -> Checked<String> {
    match v {
        Value::String(s) if is_name(s) => Ok(s.clone()),
        _ => Err(expected(path, NAME_WHAT, v)),
    }
}

/// Reads a whole policy document.
pub fn parse_policy(text: &str) -> Checked<Policy> {
    let doc = json::parse(text).map_err(|e| format!("policy: not valid JSON: {}", e))?;
    check_policy(&doc)
}

pub fn check_policy(doc: &Value) -> Checked<Policy> {
    let root = "policy";
    object(doc, root, "an object", &["classes", "default", "flows"])?;
    let classes_v = required(doc, root, "classes", "an array of app classes")?;
    let items = array(
        classes_v,
        "classes",
        &format!("an array of at most {} app classes", MAX_CLASSES),
        0,
        MAX_CLASSES,
    )?;
    let mut classes = Vec::with_capacity(items.len() + 1);
    for (i, item) in items.iter().enumerate() {
        let path = index("classes", i);
        let rule = class_rule(item, &path, true)?;
        if classes.iter().any(|c: &ClassRule| c.name == rule.name) {
            return Err(format!(
                "{}: expected a unique app class name; got {} again",
                child(&path, "name"),
                json::quote(&rule.name)
            ));
        }
        if let Some(h) = rule.domain_hint {
            if let Some(other) = classes
                .iter()
                .find(|c: &&ClassRule| c.domain_hint == Some(h))
            {
                return Err(format!(
                    "{}: expected a domain hint no other class has; got {}, already {}'s",
                    child(&path, "domainHint"),
                    h,
                    json::quote(&other.name)
                ));
            }
        }
        classes.push(rule);
    }
    let default_v = required(doc, root, "default", "the policy of the default class")?;
    classes.push(class_rule(default_v, "default", false)?);

    let flows_v = required(doc, root, "flows", "the flow table limits")?;
    object(flows_v, "flows", "an object", &["max", "idleTimeoutMs"])?;
    let max = integer(
        required(flows_v, "flows", "max", "the most flows to track")?,
        "flows.max",
        1.0,
        MAX_FLOWS,
    )?;
    let idle = integer(
        required(
            flows_v,
            "flows",
            "idleTimeoutMs",
            "how long an idle flow is kept",
        )?,
        "flows.idleTimeoutMs",
        1000.0,
        DAY_MS,
    )?;
    Ok(Policy {
        classes,
        max_flows: max as usize,
        idle_timeout_ms: idle,
    })
}

const CLASS_KEYS: [&str; 9] = [
    "name",
    "match",
    "domainHint",
    "sla",
    "mode",
    "preferWans",
    "weights",
    "hysteresisPct",
    "holdMs",
];

fn class_rule(v: &Value, path: &str, matched: bool) -> Checked<ClassRule> {
    let known: &[&str] = if matched {
        &CLASS_KEYS
    } else {
        &CLASS_KEYS[3..]
    };
    object(v, path, "an object", known)?;
    let (class_name, matcher, domain_hint) = if matched {
        let n = name(required(v, path, "name", NAME_WHAT)?, &child(path, "name"))?;
        if n == DEFAULT_CLASS {
            return Err(format!(
                "{}: expected a name other than \"default\" (reserved for traffic no class matches); got \"default\"",
                child(path, "name")
            ));
        }
        let hint = match v.get("domainHint") {
            None => None,
            Some(h) => Some(integer(h, &child(path, "domainHint"), 1.0, 255.0)? as u8),
        };
        // A domain class may have no other criterion: its hint is one.
        let m = match_rule(
            required(v, path, "match", "what flows of this class look like")?,
            &child(path, "match"),
            hint.is_some(),
        )?;
        (n, Some(m), hint)
    } else {
        (DEFAULT_CLASS.to_string(), None, None)
    };
    let sla = sla(
        required(v, path, "sla", "an SLA object ({} for none)")?,
        &child(path, "sla"),
    )?;
    let mode_path = child(path, "mode");
    let mode_what = "one of best, weighted, affinity, spray";
    let mode = match required(v, path, "mode", mode_what)? {
        Value::String(s) if s == "best" => Mode::Best,
        Value::String(s) if s == "weighted" => Mode::Weighted,
        Value::String(s) if s == "affinity" => Mode::Affinity,
        Value::String(s) if s == "spray" => Mode::Spray,
        other => return Err(expected(&mode_path, mode_what, other)),
    };
    let prefer_path = child(path, "preferWans");
    let prefer_what = format!("an array of at most {} WAN names", MAX_WAN_NAMES);
    let prefer_items = array(
        required(v, path, "preferWans", &prefer_what)?,
        &prefer_path,
        &prefer_what,
        0,
        MAX_WAN_NAMES,
    )?;
    let mut prefer_wans: Vec<String> = Vec::with_capacity(prefer_items.len());
    for (j, item) in prefer_items.iter().enumerate() {
        let p = index(&prefer_path, j);
        let n = name(item, &p)?;
        if prefer_wans.contains(&n) {
            return Err(format!(
                "{}: expected each WAN once; got {} again",
                p,
                json::quote(&n)
            ));
        }
        prefer_wans.push(n);
    }
    let weights = match v.get("weights") {
        None => None,
        Some(w) => Some(weights(w, &child(path, "weights"))?),
    };
    let hysteresis_pct = number(
        required(v, path, "hysteresisPct", "a number 0-100")?,
        &child(path, "hysteresisPct"),
        0.0,
        100.0,
    )?;
    let hold_ms = integer(
        required(v, path, "holdMs", "an integer 0-86400000")?,
        &child(path, "holdMs"),
        0.0,
        DAY_MS,
    )?;
    Ok(ClassRule {
        name: class_name,
        matcher,
        domain_hint,
        sla,
        mode,
        prefer_wans,
        weights,
        hysteresis_pct,
        hold_ms,
    })
}

fn weights(v: &Value, path: &str) -> Checked<Vec<(String, u32)>> {
    let what = format!(
        "an object of at most {} WAN names to weights",
        MAX_WAN_NAMES
    );
    let members = match v {
        Value::Object(m) => m,
        _ => return Err(expected(path, &what, v)),
    };
    // Distinct keys in code point order (the last repeat's value wins, as
    // with JSON.parse), so the first error is the same on both sides.
    let mut keys: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    if keys.len() > MAX_WAN_NAMES {
        return Err(expected(path, &what, v));
    }
    let mut out = Vec::with_capacity(keys.len());
    for k in keys {
        if !is_name(k) {
            return Err(format!(
                "{}: expected WAN names as keys ({}); got {}",
                path,
                NAME_WHAT,
                json::quote(k)
            ));
        }
        let value = v.get(k).unwrap_or(&Value::Null);
        let w = integer(value, &child(path, k), 1.0, 1000.0)?;
        out.push((k.to_string(), w as u32));
    }
    Ok(out)
}

fn sla(v: &Value, path: &str) -> Checked<Sla> {
    object(
        v,
        path,
        "an object",
        &["maxLossPct", "maxLatencyMs", "maxJitterMs", "minMos"],
    )?;
    let opt = |key: &str, hi: f64| -> Checked<Option<f64>> {
        match v.get(key) {
            None => Ok(None),
            Some(x) => number(x, &child(path, key), 0.0, hi).map(Some),
        }
    };
    Ok(Sla {
        max_loss_pct: opt("maxLossPct", 100.0)?,
        max_latency_ms: opt("maxLatencyMs", MAX_DELAY_MS)?,
        max_jitter_ms: opt("maxJitterMs", MAX_DELAY_MS)?,
        min_mos: opt("minMos", 5.0)?,
    })
}

fn match_rule(v: &Value, path: &str, may_be_empty: bool) -> Checked<Match> {
    let keys = ["dst", "src", "protocols", "ports", "dscp"];
    object(v, path, "an object", &keys)?;
    let mut m = Match::default();
    let prefix_what = format!("an array of 1-{} prefixes", MAX_PREFIXES);
    for (key, slot) in [("dst", &mut m.dst), ("src", &mut m.src)] {
        if let Some(list) = v.get(key) {
            let p = child(path, key);
            let items = array(list, &p, &prefix_what, 1, MAX_PREFIXES)?;
            let mut out = Vec::with_capacity(items.len());
            for (j, item) in items.iter().enumerate() {
                out.push(prefix_value(item, &index(&p, j))?);
            }
            *slot = Some(out);
        }
    }
    if let Some(list) = v.get("protocols") {
        let p = child(path, "protocols");
        let items = array(list, &p, "an array of 1-256 IP protocol numbers", 1, 256)?;
        let mut set = [0u64; 4];
        for (j, item) in items.iter().enumerate() {
            let n = integer(item, &index(&p, j), 0.0, 255.0)? as usize;
            set[n / 64] |= 1 << (n % 64);
        }
        m.protocols = Some(set);
    }
    if let Some(list) = v.get("ports") {
        let p = child(path, "ports");
        let items = array(
            list,
            &p,
            &format!("an array of 1-{} port ranges", MAX_PORT_RANGES),
            1,
            MAX_PORT_RANGES,
        )?;
        let mut out = Vec::with_capacity(items.len());
        for (j, item) in items.iter().enumerate() {
            out.push(port_range(item, &index(&p, j))?);
        }
        m.ports = Some(out);
    }
    if let Some(list) = v.get("dscp") {
        let p = child(path, "dscp");
        let items = array(list, &p, "an array of 1-64 DSCP values", 1, 64)?;
        let mut set = 0u64;
        for (j, item) in items.iter().enumerate() {
            let n = integer(item, &index(&p, j), 0.0, 63.0)? as u32;
            set |= 1 << n;
        }
        m.dscp = Some(set);
    }
    if !may_be_empty
        && m.dst.is_none()
        && m.src.is_none()
        && m.protocols.is_none()
        && m.ports.is_none()
        && m.dscp.is_none()
    {
        return Err(format!(
            "{}: expected at least one of dst, src, protocols, ports, dscp; got none",
            path
        ));
    }
    Ok(m)
}

fn port_range(v: &Value, path: &str) -> Checked<(u16, u16)> {
    let what = "[low, high] with 1 <= low <= high <= 65535";
    if let Value::Array(pair) = v {
        if let [Value::Number(lo), Value::Number(hi)] = pair.as_slice() {
            let ok = |n: f64| n.is_finite() && n.fract() == 0.0 && (1.0..=65535.0).contains(&n);
            if ok(*lo) && ok(*hi) && lo <= hi {
                return Ok((*lo as u16, *hi as u16));
            }
        }
    }
    Err(expected(path, what, v))
}

const PREFIX_WHAT: &str = "an IPv4 or IPv6 network prefix (address/length, no host bits set)";

fn prefix_value(v: &Value, path: &str) -> Checked<Prefix> {
    match v {
        Value::String(s) => parse_prefix(s).ok_or_else(|| expected(path, PREFIX_WHAT, v)),
        _ => Err(expected(path, PREFIX_WHAT, v)),
    }
}

/// `address/length` with no bits set past the length. The grammar is the
/// config's (daemons/lib/config/cidr.ts): dotted quads without leading
/// zeros, IPv6 groups of 1-4 hex digits with at most one `::` and an
/// optional dotted-quad tail, no zone, a length of 1-3 digits.
pub fn parse_prefix(text: &str) -> Option<Prefix> {
    let (addr, len_text) = text.split_once('/')?;
    let (family, value) = parse_address(addr)?;
    if len_text.is_empty() || len_text.len() > 3 || !len_text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let len: u32 = len_text.parse().ok()?;
    let width = if family == 4 { 32 } else { 128 };
    if len > width {
        return None;
    }
    let all: u128 = if width == 32 { 0xffff_ffff } else { u128::MAX };
    let mask = if len == 0 {
        0
    } else {
        all & (all << (width - len))
    };
    if value & !mask != 0 {
        return None;
    }
    Some(Prefix {
        family,
        network: value,
        mask,
    })
}

/// An address as (family, value); IPv4 in the low 32 bits.
pub fn parse_address(text: &str) -> Option<(u8, u128)> {
    if text.contains(':') {
        return parse_ipv6(text).map(|v| (6, v));
    }
    // Digits then a dot: IPv4 (cidr.ts tells the two apart the same way).
    let digits = text.bytes().take_while(|b| b.is_ascii_digit()).count();
    if digits > 0 && text.as_bytes().get(digits) == Some(&b'.') {
        return parse_ipv4(text).map(|v| (4, v as u128));
    }
    None
}

fn parse_ipv4(text: &str) -> Option<u32> {
    let mut value = 0u32;
    let mut parts = 0;
    for part in text.split('.') {
        parts += 1;
        if parts > 4
            || part.is_empty()
            || part.len() > 3
            || !part.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        if part.len() > 1 && part.starts_with('0') {
            return None;
        }
        let n: u32 = part.parse().ok()?;
        if n > 255 {
            return None;
        }
        value = (value << 8) | n;
    }
    if parts == 4 {
        Some(value)
    } else {
        None
    }
}

fn parse_groups(text: &str, allow_v4: bool, out: &mut Vec<u16>) -> Option<()> {
    if text.is_empty() {
        return Some(());
    }
    let parts: Vec<&str> = text.split(':').collect();
    for (i, part) in parts.iter().enumerate() {
        if allow_v4 && i == parts.len() - 1 && part.contains('.') {
            let v4 = parse_ipv4(part)?;
            out.push((v4 >> 16) as u16);
            out.push(v4 as u16);
            continue;
        }
        if part.is_empty() || part.len() > 4 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        out.push(u16::from_str_radix(part, 16).ok()?);
    }
    Some(())
}

fn parse_ipv6(text: &str) -> Option<u128> {
    if text.contains('%') {
        return None;
    }
    let halves: Vec<&str> = text.split("::").collect();
    if halves.len() > 2 {
        return None;
    }
    let mut head = Vec::new();
    parse_groups(halves[0], halves.len() == 1, &mut head)?;
    let groups = if halves.len() == 2 {
        let mut tail = Vec::new();
        parse_groups(halves[1], true, &mut tail)?;
        if head.len() + tail.len() > 7 {
            return None;
        }
        let fill = 8 - head.len() - tail.len();
        head.extend(std::iter::repeat_n(0, fill));
        head.extend(tail);
        head
    } else {
        if head.len() != 8 {
            return None;
        }
        head
    };
    Some(groups.iter().fold(0u128, |acc, g| (acc << 16) | *g as u128))
}

/// Reads a path list document (`selectorSetPaths`), sorted by path id.
pub fn parse_paths(text: &str) -> Checked<Vec<Path>> {
    let doc = json::parse(text).map_err(|e| format!("paths: not valid JSON: {}", e))?;
    check_paths(&doc)
}

const PATH_KEYS: [&str; 10] = [
    "id",
    "wan",
    "weight",
    "cost",
    "metered",
    "state",
    "lossPct",
    "latencyMs",
    "jitterMs",
    "mos",
];

pub fn check_paths(doc: &Value) -> Checked<Vec<Path>> {
    let items = array(
        doc,
        "paths",
        &format!("an array of at most {} paths", MAX_PATHS),
        0,
        MAX_PATHS,
    )?;
    let mut out: Vec<Path> = Vec::with_capacity(items.len());
    for (i, v) in items.iter().enumerate() {
        let path = index("paths", i);
        object(v, &path, "an object", &PATH_KEYS)?;
        let id = integer(
            required(v, &path, "id", "an integer 1-4294967295")?,
            &child(&path, "id"),
            1.0,
            4294967295.0,
        )? as u32;
        if out.iter().any(|p| p.id == id) {
            return Err(format!(
                "{}: expected a unique path id; got {} again",
                child(&path, "id"),
                id
            ));
        }
        let wan = name(required(v, &path, "wan", NAME_WHAT)?, &child(&path, "wan"))?;
        let weight = integer(
            required(v, &path, "weight", "an integer 0-1000")?,
            &child(&path, "weight"),
            0.0,
            1000.0,
        )? as u32;
        let cost = integer(
            required(v, &path, "cost", "an integer 0-1000")?,
            &child(&path, "cost"),
            0.0,
            1000.0,
        )? as u32;
        let metered = boolean(
            required(v, &path, "metered", "true or false")?,
            &child(&path, "metered"),
        )?;
        let state_what = "one of up, degraded, down";
        let state = match required(v, &path, "state", state_what)? {
            Value::String(s) if s == "up" => PathState::Up,
            Value::String(s) if s == "degraded" => PathState::Degraded,
            Value::String(s) if s == "down" => PathState::Down,
            other => return Err(expected(&child(&path, "state"), state_what, other)),
        };
        let loss_pct = number(
            required(v, &path, "lossPct", "a number 0-100")?,
            &child(&path, "lossPct"),
            0.0,
            100.0,
        )?;
        let latency_ms = number(
            required(v, &path, "latencyMs", "a number 0-1000000")?,
            &child(&path, "latencyMs"),
            0.0,
            MAX_DELAY_MS,
        )?;
        let jitter_ms = number(
            required(v, &path, "jitterMs", "a number 0-1000000")?,
            &child(&path, "jitterMs"),
            0.0,
            MAX_DELAY_MS,
        )?;
        let mos = number(
            required(v, &path, "mos", "a number 0-5")?,
            &child(&path, "mos"),
            0.0,
            5.0,
        )?;
        out.push(Path {
            id,
            wan,
            weight,
            cost,
            metered,
            state,
            loss_pct,
            latency_ms,
            jitter_ms,
            mos,
        });
    }
    out.sort_by_key(|p| p.id);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy_with(class: &str) -> String {
        format!(
            r#"{{"classes":[{}],"default":{{"sla":{{}},"mode":"best","preferWans":[],"hysteresisPct":20,"holdMs":30000}},"flows":{{"max":1000,"idleTimeoutMs":60000}}}}"#,
            class
        )
    }

    const VOICE: &str = r#"{"name":"voice","match":{"dst":["10.0.0.0/8","2001:db8::/32"],"protocols":[17],"ports":[[5060,5060],[10000,20000]],"dscp":[46]},"sla":{"maxLossPct":1,"maxLatencyMs":150,"maxJitterMs":30,"minMos":3.8},"mode":"best","preferWans":["isp-a","isp-b"],"hysteresisPct":20,"holdMs":30000}"#;

    #[test]
    fn policy_reads_a_full_document() {
        let p = parse_policy(&policy_with(VOICE)).expect("valid policy");
        assert_eq!(
            p.classes.len(),
            2,
            "classes: got {}; want voice and default",
            p.classes.len()
        );
        let voice = &p.classes[0];
        assert_eq!(voice.name, "voice");
        assert_eq!(p.classes[1].name, "default");
        let m = voice.matcher.as_ref().expect("voice has a match");
        assert_eq!(
            m.ports.as_deref(),
            Some(&[(5060, 5060), (10000, 20000)][..])
        );
        assert_eq!(m.dscp, Some(1u64 << 46));
        assert_eq!(voice.sla.min_mos, Some(3.8));
        assert_eq!(p.max_flows, 1000);
        let dst = m.dst.as_ref().unwrap();
        assert!(
            dst[0].contains(4, 0x0a01_0203),
            "10.0.0.0/8 should contain 10.1.2.3"
        );
        assert!(
            !dst[0].contains(4, 0x0b01_0203),
            "10.0.0.0/8 should not contain 11.1.2.3"
        );
        assert!(
            !dst[0].contains(6, 0x0a01_0203),
            "an IPv4 prefix never contains an IPv6 address"
        );
        assert!(
            dst[1].contains(6, 0x2001_0db8_0000_0000_0000_0000_0000_0001),
            "2001:db8::/32 contains 2001:db8::1"
        );
    }

    #[test]
    fn policy_errors_name_the_key() {
        let cases: Vec<(String, &str)> = vec![
            ("[]".into(), "policy: expected an object; got an array of 0 items"),
            ("{}".into(), "classes: missing; expected an array of app classes"),
            (r#"{"classes":[],"x":1,"a":2}"#.into(), r#"policy: unknown keys "a", "x"; expected only classes, default, flows"#),
            (policy_with(&VOICE.replace("\"best\"", "\"fast\"")), r#"classes[0].mode: expected one of best, weighted, affinity, spray; got "fast""#),
            (policy_with(&VOICE.replace("[5060,5060]", "[5061,5060]")), "classes[0].match.ports[0]: expected [low, high] with 1 <= low <= high <= 65535; got an array of 2 items"),
            (policy_with(&VOICE.replace("10.0.0.0/8", "10.0.0.1/8")), "classes[0].match.dst[0]: expected an IPv4 or IPv6 network prefix (address/length, no host bits set); got \"10.0.0.1/8\""),
            (policy_with(&VOICE.replace("\"voice\"", "\"default\"")), "classes[0].name: expected a name other than \"default\" (reserved for traffic no class matches); got \"default\""),
            (policy_with(&format!("{},{}", VOICE, VOICE)), "classes[1].name: expected a unique app class name; got \"voice\" again"),
            (policy_with(&VOICE.replace("\"minMos\":3.8", "\"minMos\":5.5")), "classes[0].sla.minMos: expected a number 0-5; got 5.5"),
            (policy_with(&VOICE.replace("\"isp-b\"", "\"isp-a\"")), "classes[0].preferWans[1]: expected each WAN once; got \"isp-a\" again"),
            (policy_with(&VOICE.replace("\"holdMs\":30000", "\"holdMs\":1.5")), "classes[0].holdMs: expected an integer 0-86400000; got 1.5"),
            (policy_with(&VOICE.replace("\"holdMs\":30000", "\"holdMs\":30000,\"weights\":{\"isp-a\":0}")), "classes[0].weights.isp-a: expected an integer 1-1000; got 0"),
            (policy_with(&VOICE.replace("\"holdMs\":30000", "\"holdMs\":30000,\"weights\":{\"B\":1}")), "classes[0].weights: expected WAN names as keys (a name of 1-31 characters a-z, 0-9 and '-', starting with a letter); got \"B\""),
            (policy_with(r#"{"name":"x","match":{},"sla":{},"mode":"best","preferWans":[],"hysteresisPct":20,"holdMs":0}"#), "classes[0].match: expected at least one of dst, src, protocols, ports, dscp; got none"),
            (policy_with("").replace("\"max\":1000", "\"max\":0"), "flows.max: expected an integer 1-16777216; got 0"),
            (policy_with(&VOICE.replace("\"match\"", "\"domainHint\":0,\"match\"")), "classes[0].domainHint: expected an integer 1-255; got 0"),
            (policy_with(&VOICE.replace("\"match\"", "\"domainHint\":256,\"match\"")), "classes[0].domainHint: expected an integer 1-255; got 256"),
            (policy_with(&VOICE.replace("\"match\"", "\"domainHint\":\"1\",\"match\"")), "classes[0].domainHint: expected an integer 1-255; got \"1\""),
            (policy_with(&format!("{},{}", VOICE.replace("\"match\"", "\"domainHint\":7,\"match\""), r#"{"name":"saas","domainHint":7,"match":{},"sla":{},"mode":"best","preferWans":[],"hysteresisPct":20,"holdMs":0}"#)), "classes[1].domainHint: expected a domain hint no other class has; got 7, already \"voice\"'s"),
            ("{\"classes\":[],\"default\":{\"domainHint\":1,\"sla\":{},\"mode\":\"best\",\"preferWans\":[],\"hysteresisPct\":20,\"holdMs\":0},\"flows\":{\"max\":1,\"idleTimeoutMs\":60000}}".into(), "default: unknown key \"domainHint\"; expected only sla, mode, preferWans, weights, hysteresisPct, holdMs"),
            ("{\"classes\":[".into(), "policy: not valid JSON: unexpected end of text at byte 12"),
        ];
        for (text, want) in cases {
            match parse_policy(&text) {
                Ok(_) => panic!("parse_policy({}): got Ok; want error {}", text, want),
                Err(got) => assert_eq!(
                    got, want,
                    "parse_policy({}): got {}; want {}",
                    text, got, want
                ),
            }
        }
    }

    #[test]
    fn a_domain_class_may_match_by_its_hint_alone() {
        let saas = r#"{"name":"saas","domainHint":255,"match":{},"sla":{},"mode":"best","preferWans":[],"hysteresisPct":20,"holdMs":0}"#;
        let p =
            parse_policy(&policy_with(saas)).unwrap_or_else(|e| panic!("got {}; want a policy", e));
        assert_eq!(p.classes[0].domain_hint, Some(255));
        assert_eq!(p.classes[1].domain_hint, None, "default has no hint");
        let voice = parse_policy(&policy_with(VOICE)).unwrap();
        assert_eq!(voice.classes[0].domain_hint, None, "no hint unless given");
    }

    #[test]
    fn prefixes_follow_the_config_grammar() {
        let good = [
            "0.0.0.0/0",
            "10.0.0.0/8",
            "192.168.1.0/24",
            "1.2.3.4/32",
            "::/0",
            "2001:db8::/32",
            "::1/128",
            "fe80::/10",
            "::ffff:1.2.3.4/128",
            "1:2:3:4:5:6:7:8/128",
            "1::/016",
            "1:2:3:4:5:6:1.2.3.4/128",
        ];
        for text in good {
            assert!(
                parse_prefix(text).is_some(),
                "parse_prefix({}): got None; want a prefix",
                text
            );
        }
        let bad = [
            "10.0.0.0",
            "10.0.0.0/33",
            "10.0.0/8",
            "010.0.0.0/8",
            "256.0.0.0/8",
            "10.0.0.1/8",
            "10.0.0.0/-1",
            "10.0.0.0/",
            "10.0.0.0/0008",
            "a.b.c.d/8",
            "::/129",
            "1::2::3/128",
            ":1::/16",
            "1:2:3:4:5:6:7::8/128",
            "1:2:3:4:5:6:7/128",
            "fe80::1%eth0/128",
            "12345::/16",
            "1.2.3.4::/128",
            "::1.2.3/128",
            "2001:db8::1/32",
            "/8",
            "",
            "1:::2/128",
            "x::/8",
            " 10.0.0.0/8",
        ];
        for text in bad {
            assert!(
                parse_prefix(text).is_none(),
                "parse_prefix({}): got a prefix; want None",
                text
            );
        }
    }

    /// Mutated policy texts (bytes cut, inserted, replaced; deep nesting):
    /// the loader answers Ok or Err for every one and never panics.
    #[test]
    fn fuzz_the_policy_loader() {
        const SEED: u64 = 0x5eed_0001;
        const ROUNDS: usize = 100_000;
        let base = policy_with(VOICE);
        let alphabet = b"{}[]\",:0123456789.-+eE /ut\\nfalsx";
        let mut rng = crate::testkit::Rng::new(SEED);
        let (mut ok, mut refused) = (0usize, 0usize);
        for round in 0..ROUNDS {
            let mut text: Vec<u8> = base.clone().into_bytes();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(text.len() + 1);
                match rng.below(4) {
                    0 => {
                        let end = (at + 1 + rng.below(16)).min(text.len());
                        text.drain(at.min(end)..end);
                    }
                    1 => text.insert(at, alphabet[rng.below(alphabet.len())]),
                    2 => text.truncate(at),
                    _ => {
                        let deep = vec![b'['; 1 + rng.below(200)];
                        text.splice(at..at, deep);
                    }
                }
            }
            // Only ASCII was inserted, but a cut may split a multi-byte character.
            let text = String::from_utf8_lossy(&text).into_owned();
            let got = std::panic::catch_unwind(|| parse_policy(&text));
            match got {
                Ok(Ok(_)) => ok += 1,
                Ok(Err(_)) => refused += 1,
                Err(_) => panic!(
                    "seed {:#x} round {}: parse_policy panicked on {:?}",
                    SEED, round, text
                ),
            }
        }
        assert!(
            refused > ROUNDS / 2 && ok > 0,
            "accepted {}, refused {}: the mutations should produce both",
            ok,
            refused
        );
    }

    #[test]
    fn paths_read_and_sort() {
        let text = r#"[{"id":7,"wan":"isp-b","weight":1,"cost":10,"metered":false,"state":"up","lossPct":0,"latencyMs":20,"jitterMs":1,"mos":4.3},{"id":3,"wan":"lte","weight":2,"cost":50,"metered":true,"state":"degraded","lossPct":1.5,"latencyMs":60,"jitterMs":8,"mos":3.9}]"#;
        let paths = parse_paths(text).expect("valid paths");
        let ids: Vec<u32> = paths.iter().map(|p| p.id).collect();
        assert_eq!(
            ids,
            vec![3, 7],
            "path ids: got {:?}; want [3, 7] (sorted)",
            ids
        );
        assert_eq!(paths[0].state, PathState::Degraded);
        let dup = text.replace("\"id\":3", "\"id\":7");
        assert_eq!(
            parse_paths(&dup).unwrap_err(),
            "paths[1].id: expected a unique path id; got 7 again"
        );
        let bad_state = text.replace("\"up\"", "\"sideways\"");
        assert_eq!(
            parse_paths(&bad_state).unwrap_err(),
            "paths[0].state: expected one of up, degraded, down; got \"sideways\""
        );
        let extra = text.replace("\"mos\":4.3", "\"mos\":4.3,\"rtt\":1");
        assert_eq!(parse_paths(&extra).unwrap_err(), "paths[0]: unknown key \"rtt\"; expected only id, wan, weight, cost, metered, state, lossPct, latencyMs, jitterMs, mos");
        assert_eq!(
            parse_paths("{}").unwrap_err(),
            "paths: expected an array of at most 4096 paths; got an object"
        );
    }
}
