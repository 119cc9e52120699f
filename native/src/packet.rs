//! Reads the flow of one raw IPv4 or IPv6 packet (as NFQUEUE hands it over):
//! addresses, protocol, ports, DSCP. Every read is bounds-checked against the
//! packet's own length field, and a packet that cannot be read has a reason
//! (the fast path then uses the default class and counts the reason); no input
//! panics or reads out of bounds.
//!
//! Defined outcomes besides a plain TCP/UDP packet:
//! - a non-first fragment has no ports (they are in the first fragment): the
//!   flow is read with `has_ports` false and `fragment` true;
//! - a protocol without ports (ICMP, ESP, GRE, unknown numbers) is read with
//!   `has_ports` false;
//! - IPv6 extension headers (hop-by-hop, routing, destination options,
//!   fragment, AH) are walked, at most `MAX_EXTENSION_HEADERS` of them;
//!   ESP and "no next header" end the walk as the flow's protocol;
//! - bytes past the IPv4 total length or IPv6 payload length (link padding)
//!   are ignored; a length field pointing past the buffer is `Truncated`.

use crate::flow::{has_port_header, Flow};

/// More IPv6 extension headers than this is refused: RFC 8200 allows each
/// kind once (destination options twice), so a longer chain is an attack on
/// the parser, not traffic.
pub const MAX_EXTENSION_HEADERS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Shorter than a header, a length field, or the ports it must carry.
    Truncated,
    /// The version nibble is neither 4 nor 6.
    BadVersion,
    /// IPv4 header length under 20 bytes, or total length under the header length.
    BadHeader,
    /// More than `MAX_EXTENSION_HEADERS` IPv6 extension headers.
    ExtensionChain,
}

impl ParseError {
    pub const ALL: [ParseError; 4] = [
        ParseError::Truncated,
        ParseError::BadVersion,
        ParseError::BadHeader,
        ParseError::ExtensionChain,
    ];

    /// The reason's name in stats and in `debugParsePacket`.
    pub fn name(self) -> &'static str {
        match self {
            ParseError::Truncated => "truncated",
            ParseError::BadVersion => "badVersion",
            ParseError::BadHeader => "badHeader",
            ParseError::ExtensionChain => "extensionChain",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// A packet's flow and whether the packet was a fragment (first or not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub flow: Flow,
    pub fragment: bool,
}

pub fn parse(packet: &[u8]) -> Result<Parsed, ParseError> {
    match packet.first() {
        None => Err(ParseError::Truncated),
        Some(b) if b >> 4 == 4 => parse_v4(packet),
        Some(b) if b >> 4 == 6 => parse_v6(packet),
        Some(_) => Err(ParseError::BadVersion),
    }
}

/// The 16-bit big-endian value at `at`, if the bytes are inside `end`.
fn be16(p: &[u8], at: usize, end: usize) -> Option<u16> {
    if at.checked_add(2)? > end {
        return None;
    }
    Some(u16::from_be_bytes([*p.get(at)?, *p.get(at + 1)?]))
}

/// Source and destination ports of a header starting at `at`.
fn ports(p: &[u8], at: usize, end: usize) -> Result<(u16, u16), ParseError> {
    let src = be16(p, at, end).ok_or(ParseError::Truncated)?;
    let dst = be16(p, at + 2, end).ok_or(ParseError::Truncated)?;
    Ok((src, dst))
}

fn parse_v4(p: &[u8]) -> Result<Parsed, ParseError> {
    if p.len() < 20 {
        return Err(ParseError::Truncated);
    }
    let header_len = ((p[0] & 0x0f) as usize) * 4;
    if header_len < 20 {
        return Err(ParseError::BadHeader);
    }
    let total = u16::from_be_bytes([p[2], p[3]]) as usize;
    if total < header_len {
        return Err(ParseError::BadHeader);
    }
    if total > p.len() {
        return Err(ParseError::Truncated);
    }
    let offset = u16::from_be_bytes([p[6], p[7]]) & 0x1fff;
    let more_fragments = p[6] & 0x20 != 0;
    let protocol = p[9];
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    src[..4].copy_from_slice(&p[12..16]);
    dst[..4].copy_from_slice(&p[16..20]);
    let has_ports = offset == 0 && has_port_header(protocol);
    let (src_port, dst_port) = if has_ports {
        ports(p, header_len, total)?
    } else {
        (0, 0)
    };
    Ok(Parsed {
        flow: Flow {
            family: 4,
            protocol,
            src_port,
            dst_port,
            src,
            dst,
            dscp: p[1] >> 2,
            has_ports,
            bytes: total as u32,
            domain_hint: 0,
        },
        fragment: offset != 0 || more_fragments,
    })
}

const HOP_BY_HOP: u8 = 0;
const ROUTING: u8 = 43;
const FRAGMENT: u8 = 44;
const AUTH: u8 = 51;
const DEST_OPTIONS: u8 = 60;

fn parse_v6(p: &[u8]) -> Result<Parsed, ParseError> {
    if p.len() < 40 {
        return Err(ParseError::Truncated);
    }
    let end = 40 + u16::from_be_bytes([p[4], p[5]]) as usize;
    if end > p.len() {
        return Err(ParseError::Truncated);
    }
    let traffic_class = ((p[0] & 0x0f) << 4) | (p[1] >> 4);
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    src.copy_from_slice(&p[8..24]);
    dst.copy_from_slice(&p[24..40]);

    let mut next = p[6];
    let mut at = 40usize;
    let mut fragment = false;
    let mut later_fragment = false;
    let mut seen = 0usize;
    loop {
        let header_len = match next {
            HOP_BY_HOP | ROUTING | DEST_OPTIONS => {
                // Length in 8-octet units, not counting the first 8.
                let len_byte = *p
                    .get(at + 1)
                    .filter(|_| at + 2 <= end)
                    .ok_or(ParseError::Truncated)?;
                (len_byte as usize + 1) * 8
            }
            AUTH => {
                // RFC 4302: length in 4-octet units, minus 2.
                let len_byte = *p
                    .get(at + 1)
                    .filter(|_| at + 2 <= end)
                    .ok_or(ParseError::Truncated)?;
                (len_byte as usize + 2) * 4
            }
            FRAGMENT => 8,
            _ => break,
        };
        seen += 1;
        if seen > MAX_EXTENSION_HEADERS {
            return Err(ParseError::ExtensionChain);
        }
        if at + header_len > end {
            return Err(ParseError::Truncated);
        }
        if next == FRAGMENT {
            fragment = true;
            let offset = u16::from_be_bytes([p[at + 2], p[at + 3]]) >> 3;
            if offset != 0 {
                // The rest is the middle of the original payload: no more
                // headers to read, and no ports.
                later_fragment = true;
            }
        }
        next = p[at];
        at += header_len;
        if later_fragment {
            break;
        }
    }
    let protocol = next;
    let has_ports = !later_fragment && has_port_header(protocol);
    let (src_port, dst_port) = if has_ports {
        ports(p, at, end)?
    } else {
        (0, 0)
    };
    Ok(Parsed {
        flow: Flow {
            family: 6,
            protocol,
            src_port,
            dst_port,
            src,
            dst,
            dscp: traffic_class >> 2,
            has_ports,
            bytes: end as u32,
            domain_hint: 0,
        },
        fragment,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{PROTO_TCP, PROTO_UDP};
    use crate::testkit::Rng;

    fn v4(protocol: u8, payload: &[u8], frag: u16, tos: u8) -> Vec<u8> {
        let total = 20 + payload.len();
        let mut p = vec![0x45, tos, (total >> 8) as u8, total as u8, 0, 1];
        p.extend_from_slice(&frag.to_be_bytes());
        p.extend_from_slice(&[64, protocol, 0, 0, 10, 0, 0, 1, 192, 0, 2, 7]);
        p.extend_from_slice(payload);
        p
    }

    fn v6(next: u8, payload: &[u8], tc: u8) -> Vec<u8> {
        let mut p = vec![0x60 | (tc >> 4), tc << 4, 0, 0];
        p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        p.extend_from_slice(&[next, 64]);
        p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        p.extend_from_slice(payload);
        p
    }

    const PORTS: [u8; 8] = [0x13, 0xc4, 0x01, 0xbb, 0, 0, 0, 0]; // 5060 -> 443

    #[test]
    fn reads_ipv4() {
        let got = parse(&v4(PROTO_TCP, &PORTS, 0, 46 << 2)).unwrap();
        assert_eq!(
            (got.flow.src_port, got.flow.dst_port, got.flow.dscp),
            (5060, 443, 46)
        );
        assert!(got.flow.has_ports && !got.fragment);
        assert_eq!(&got.flow.dst[..4], &[192, 0, 2, 7]);
        assert_eq!(got.flow.bytes, 28);

        // First fragment: ports read, flagged as a fragment.
        let first = parse(&v4(PROTO_UDP, &PORTS, 0x2000, 0)).unwrap();
        assert!(
            first.flow.has_ports && first.fragment,
            "first fragment: got {:?}",
            first
        );
        // Later fragment: no ports.
        let later = parse(&v4(PROTO_UDP, &PORTS, 0x0010, 0)).unwrap();
        assert!(
            !later.flow.has_ports && later.fragment && later.flow.dst_port == 0,
            "later fragment: got {:?}",
            later
        );
        // ICMP: no ports.
        let icmp = parse(&v4(1, &[8, 0, 0, 0], 0, 0)).unwrap();
        assert!(!icmp.flow.has_ports);
        // Link padding past the total length is ignored.
        let mut padded = v4(PROTO_TCP, &PORTS, 0, 0);
        padded.extend_from_slice(&[0xee; 18]);
        assert_eq!(parse(&padded).unwrap().flow.bytes, 28);
    }

    #[test]
    fn ipv4_errors() {
        let good = v4(PROTO_TCP, &PORTS, 0, 0);
        let mut short_ports = v4(PROTO_TCP, &PORTS[..3], 0, 0);
        short_ports.truncate(23);
        let mut ihl4 = good.clone();
        ihl4[0] = 0x44;
        let mut ihl15 = good.clone();
        ihl15[0] = 0x4f;
        let mut total_small = good.clone();
        total_small[3] = 10;
        let mut total_big = good.clone();
        total_big[3] = 200;
        let cases: Vec<(&str, Vec<u8>, ParseError)> = vec![
            ("empty", vec![], ParseError::Truncated),
            ("19 bytes", good[..19].to_vec(), ParseError::Truncated),
            (
                "version 5",
                {
                    let mut b = good.clone();
                    b[0] = 0x55;
                    b
                },
                ParseError::BadVersion,
            ),
            ("ihl 4", ihl4, ParseError::BadHeader),
            ("ihl past total", ihl15, ParseError::BadHeader),
            ("total under header", total_small, ParseError::BadHeader),
            ("total past buffer", total_big, ParseError::Truncated),
            ("ports cut", short_ports, ParseError::Truncated),
        ];
        for (name, packet, want) in cases {
            let got = parse(&packet);
            assert_eq!(got, Err(want), "{}: got {:?}; want {:?}", name, got, want);
        }
    }

    #[test]
    fn reads_ipv6_with_extension_headers() {
        let plain = parse(&v6(PROTO_UDP, &PORTS, 0xb8)).unwrap();
        assert_eq!(
            (plain.flow.protocol, plain.flow.dst_port, plain.flow.dscp),
            (PROTO_UDP, 443, 46)
        );

        // hop-by-hop (8) -> routing (24) -> AH (16) -> TCP
        let mut chain = vec![ROUTING, 0, 0, 0, 0, 0, 0, 0];
        chain.extend_from_slice(&[AUTH, 2]);
        chain.extend_from_slice(&[0; 22]);
        chain.extend_from_slice(&[PROTO_TCP, 2]);
        chain.extend_from_slice(&[0; 14]);
        chain.extend_from_slice(&PORTS);
        let got = parse(&v6(HOP_BY_HOP, &chain, 0)).unwrap();
        assert_eq!(
            (got.flow.protocol, got.flow.src_port, got.flow.dst_port),
            (PROTO_TCP, 5060, 443),
            "chain: got {:?}",
            got
        );

        // First fragment: ports; later fragment: none.
        let mut first = vec![PROTO_UDP, 0, 0, 1, 0, 0, 0, 7];
        first.extend_from_slice(&PORTS);
        let f = parse(&v6(FRAGMENT, &first, 0)).unwrap();
        assert!(
            f.fragment && f.flow.has_ports && f.flow.dst_port == 443,
            "first fragment: got {:?}",
            f
        );
        let mut later = vec![PROTO_UDP, 0, 0, 0x10, 0, 0, 0, 7];
        later.extend_from_slice(&[0xff; 8]);
        let l = parse(&v6(FRAGMENT, &later, 0)).unwrap();
        assert!(
            l.fragment && !l.flow.has_ports && l.flow.protocol == PROTO_UDP,
            "later fragment: got {:?}",
            l
        );

        // ESP ends the walk.
        let esp = parse(&v6(50, &[0; 16], 0)).unwrap();
        assert!(esp.flow.protocol == 50 && !esp.flow.has_ports);
    }

    #[test]
    fn ipv6_errors() {
        let mut long_chain = Vec::new();
        for _ in 0..=MAX_EXTENSION_HEADERS {
            long_chain.extend_from_slice(&[DEST_OPTIONS, 0, 0, 0, 0, 0, 0, 0]);
        }
        long_chain.extend_from_slice(&PORTS);
        let mut max_chain = Vec::new();
        for i in 0..MAX_EXTENSION_HEADERS {
            let next = if i + 1 == MAX_EXTENSION_HEADERS {
                PROTO_TCP
            } else {
                DEST_OPTIONS
            };
            max_chain.extend_from_slice(&[next, 0, 0, 0, 0, 0, 0, 0]);
        }
        max_chain.extend_from_slice(&PORTS);
        assert!(
            parse(&v6(DEST_OPTIONS, &max_chain, 0)).is_ok(),
            "{} extension headers refused",
            MAX_EXTENSION_HEADERS
        );

        let mut payload_past = v6(PROTO_UDP, &PORTS, 0);
        payload_past[5] = 100;
        let cases: Vec<(&str, Vec<u8>, ParseError)> = vec![
            (
                "39 bytes",
                v6(PROTO_UDP, &[], 0)[..39].to_vec(),
                ParseError::Truncated,
            ),
            ("payload past buffer", payload_past, ParseError::Truncated),
            (
                "chain too long",
                v6(DEST_OPTIONS, &long_chain, 0),
                ParseError::ExtensionChain,
            ),
            (
                "extension length past end",
                v6(ROUTING, &[PROTO_TCP, 4, 0, 0, 0, 0, 0, 0], 0),
                ParseError::Truncated,
            ),
            (
                "extension header cut",
                v6(HOP_BY_HOP, &[PROTO_TCP], 0),
                ParseError::Truncated,
            ),
            (
                "no ports after chain",
                v6(HOP_BY_HOP, &[PROTO_TCP, 0, 0, 0, 0, 0, 0, 0, 1], 0),
                ParseError::Truncated,
            ),
            (
                "fragment header cut",
                v6(FRAGMENT, &[PROTO_TCP, 0, 0, 0], 0),
                ParseError::Truncated,
            ),
        ];
        for (name, packet, want) in cases {
            let got = parse(&packet);
            assert_eq!(got, Err(want), "{}: got {:?}; want {:?}", name, got, want);
        }
    }

    /// A plausible packet: IPv4 or IPv6, maybe fragmented, maybe with a
    /// chain of extension headers, lengths mostly right.
    fn plausible(rng: &mut Rng) -> Vec<u8> {
        let protocols = [
            PROTO_TCP,
            PROTO_UDP,
            1,
            58,
            132,
            136,
            50,
            47,
            59,
            rng.next() as u8,
        ];
        let protocol = protocols[rng.below(protocols.len())];
        let mut payload: Vec<u8> = (0..rng.below(64)).map(|_| rng.next() as u8).collect();
        if rng.below(2) == 0 {
            let frag = match rng.below(4) {
                0 => 0x2000,
                1 => rng.next() as u16 & 0x3fff,
                _ => 0,
            };
            let mut p = v4(protocol, &payload, frag, rng.next() as u8);
            p[0] = 0x40 | (5 + rng.below(3) as u8);
            p
        } else {
            let kinds = [HOP_BY_HOP, ROUTING, DEST_OPTIONS, FRAGMENT, AUTH];
            let mut chain = Vec::new();
            let count = rng.below(MAX_EXTENSION_HEADERS + 3);
            let mut first_next = protocol;
            let mut headers: Vec<(u8, Vec<u8>)> = Vec::new();
            for _ in 0..count {
                let kind = kinds[rng.below(kinds.len())];
                let body_len = match kind {
                    FRAGMENT => 6,
                    AUTH => rng.below(3) * 4 + 6,
                    _ => rng.below(3) * 8 + 6,
                };
                headers.push((kind, (0..body_len).map(|_| rng.next() as u8).collect()));
            }
            for (i, (kind, body)) in headers.iter().enumerate() {
                if i == 0 {
                    first_next = *kind;
                }
                let next = headers.get(i + 1).map(|h| h.0).unwrap_or(protocol);
                let len_byte = match *kind {
                    FRAGMENT => body[0],
                    AUTH => ((body.len() + 2) / 4 - 2) as u8,
                    _ => ((body.len() + 2) / 8 - 1) as u8,
                };
                chain.push(next);
                chain.push(len_byte);
                chain.extend_from_slice(body);
            }
            chain.append(&mut payload);
            v6(first_next, &chain, rng.next() as u8)
        }
    }

    fn check_invariants(input: &[u8], got: &Result<Parsed, ParseError>) {
        if let Ok(p) = got {
            let f = &p.flow;
            assert!(
                f.family == 4 || f.family == 6,
                "family {} from {:?}",
                f.family,
                input
            );
            assert!(f.dscp <= 63, "dscp {} from {:?}", f.dscp, input);
            assert!(
                f.bytes as usize <= input.len(),
                "bytes {} past input {} from {:?}",
                f.bytes,
                input.len(),
                input
            );
            assert!(
                !f.has_ports || has_port_header(f.protocol),
                "ports for protocol {} from {:?}",
                f.protocol,
                input
            );
            assert!(
                f.has_ports || (f.src_port == 0 && f.dst_port == 0),
                "ports without flag from {:?}",
                input
            );
            // Every flow the parser reads must be one the record format accepts.
            let r = f.to_record();
            assert_eq!(
                Flow::from_record(&r).as_ref(),
                Ok(f),
                "record round trip from {:?}",
                input
            );
        }
    }

    /// One million inputs: plausible packets, the same with bytes flipped,
    /// cut or extended, and pure noise. The parser must return (never panic)
    /// and every flow it reads must be well-formed.
    #[test]
    fn fuzz_a_million_packets() {
        const SEED: u64 = 0x7e27_2024;
        const ROUNDS: usize = 1_000_000;
        let mut rng = Rng::new(SEED);
        let mut outcomes = [0usize; 5];
        for round in 0..ROUNDS {
            let mut p = plausible(&mut rng);
            match rng.below(6) {
                0 => {}
                1 | 2 => {
                    for _ in 0..1 + rng.below(4) {
                        if !p.is_empty() {
                            let at = rng.below(p.len());
                            p[at] = rng.next() as u8;
                        }
                    }
                }
                3 => {
                    let keep = rng.below(p.len() + 1);
                    p.truncate(keep);
                }
                4 => p.extend((0..rng.below(32)).map(|_| rng.next() as u8)),
                _ => {
                    p = (0..rng.below(128)).map(|_| rng.next() as u8).collect();
                    if !p.is_empty() && rng.below(2) == 0 {
                        p[0] = if rng.below(2) == 0 { 0x45 } else { 0x60 };
                    }
                }
            }
            let got = std::panic::catch_unwind(|| parse(&p));
            let got = got.unwrap_or_else(|_| {
                panic!(
                    "seed {:#x} round {}: parse panicked on {:?}",
                    SEED, round, p
                )
            });
            check_invariants(&p, &got);
            match got {
                Ok(_) => outcomes[4] += 1,
                Err(e) => outcomes[e.index()] += 1,
            }
        }
        // The generator must reach every outcome, or the fuzzing proves little.
        for (i, n) in outcomes.iter().enumerate() {
            assert!(
                *n > 1000,
                "outcome {} reached {} times in {} rounds; want > 1000 (outcomes {:?})",
                i,
                n,
                ROUNDS,
                outcomes
            );
        }
    }
}
