//! Clearing the flows of a WAN that went down (`ctClear`), and provoking
//! their clients into noticing at once.
//!
//! A flow NATed through a WAN cannot move to another one: its packets would
//! leave with the other WAN's source address, which the server never heard
//! of. So when a WAN goes down its flows are deleted from conntrack, and
//! their next packet is a new flow, steered (and NATed) anew. For UDP and
//! the like that is all it takes. A TCP client, though, mostly waits: a
//! download's client only sends ACKs for data that no longer comes, and its
//! connection hangs until the application gives up.
//!
//! The provoke: for each deleted established TCP connection, the client
//! (the original source) gets one SYN-ACK that seems to come from the
//! server (original destination address and port). In a synchronized state
//! a SYN is never accepted: RFC 5961 §4.2 has the client answer any SYN with
//! a challenge ACK (Linux, BSDs, Windows); a stack with only RFC 793 answers
//! an out-of-window segment with an ACK and resets on an in-window SYN. That
//! ACK reaches the box as a new flow without SYN: tern-edged's forward rule
//! rejects it with a TCP reset whose sequence number is the ACK's
//! acknowledgment number, so the client accepts it; without the firewall
//! it is steered out another WAN, and the server, which has no connection
//! from that address, answers with a reset. Either way the client's socket
//! fails with ECONNRESET at once.
//!
//! Why a SYN-ACK and not a bare ACK: conntrack picks a bare ACK up as a new
//! connection (nf_conntrack_tcp_loose, on by default), server to client; the
//! client's answer would then be that connection's reply, neither new (the
//! firewall lets it through) nor NATed (it leaves with a LAN address). A
//! SYN-ACK with no SYN before it is invalid to conntrack and starts nothing.
//! The entries are deleted before the provokes leave, so the answers meet
//! no entry either.
//!
//! Limits: the client answers at most one such segment per
//! `tcp_invalid_ratelimit` (500 ms by default) per connection, so a
//! connection that just answered another one may stay quiet; a connection
//! idle in both directions is not provoked twice (one segment per clear);
//! flows other than TCP are only cleared.

use std::ffi::c_int;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, OwnedFd};

use crate::conntrack::{self, Entry, ENTRY_SIZE};
use crate::flow::{FlowKey, PROTO_TCP};
use crate::icmp::checksum;
use crate::napi::{napi_value, Call, JsError};
use crate::sys;

/// Conntrack's TCP state of an established connection (enum tcp_conntrack).
pub const TCP_ESTABLISHED: u8 = 3;
/// Number of TCP conntrack states (TCP_CONNTRACK_MAX).
const TCP_STATES: u8 = 10;
const IPPROTO_RAW: c_int = 255;
/// The provoke's sequence number ("tern"): any value does, a SYN is
/// answered in or out of the window; a fixed one is easy to spot in a capture.
pub const PROVOKE_SEQ: u32 = 0x7465_726e;
/// How long a provoke waits for room in a full send buffer, once.
const SEND_WAIT_MS: c_int = 100;
const POLLOUT: i16 = 0x4;
const TCP_SYN: u8 = 0x02;
const TCP_ACK: u8 = 0x10;

/// One entry a clear found: its original tuple and whether it was an
/// established TCP connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub key: FlowKey,
    pub established: bool,
}

/// What deleting the matching entries did.
#[derive(Debug, Default)]
pub struct Deleted {
    pub matched: u64,
    /// The entries deleted, in the order found.
    pub deleted: Vec<Found>,
    pub errors: u64,
    pub first_error: Option<String>,
}

impl Deleted {
    /// Counts a failure; the first one's message is kept.
    pub fn fail(&mut self, message: String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(message);
        }
    }
}

/// Where entries are deleted: the kernel's conntrack table or one in memory.
pub trait ClearTable {
    /// Deletes the entries whose mark & mask == mark & mask; Err only when
    /// they could not even be listed.
    fn delete_marked(&mut self, mark: u32, mask: u32) -> io::Result<Deleted>;
}

/// Where provoke packets go: raw sockets, or a list for tests.
pub trait Sender {
    /// Sends one whole IP packet to `to` (its destination).
    fn send(&mut self, packet: &[u8], to: IpAddr) -> io::Result<()>;
}

/// The kernel's conntrack table of this network namespace.
pub struct Kernel;

impl ClearTable for Kernel {
    fn delete_marked(&mut self, mark: u32, mask: u32) -> io::Result<Deleted> {
        conntrack::delete_marked(mark, mask)
    }
}

/// A table in memory: entries with their TCP state (0 when not TCP).
#[derive(Debug, Default, Clone)]
pub struct Table {
    pub entries: Vec<(Entry, u8)>,
}

impl ClearTable for Table {
    fn delete_marked(&mut self, mark: u32, mask: u32) -> io::Result<Deleted> {
        let mut out = Deleted::default();
        self.entries.retain(|(e, state)| {
            if e.mark & mask != mark & mask {
                return true;
            }
            out.matched += 1;
            out.deleted.push(Found {
                key: e.key,
                established: e.key[1] == PROTO_TCP && *state == TCP_ESTABLISHED,
            });
            false
        });
        Ok(out)
    }
}

/// Raw sockets (IP_HDRINCL; IPv6 with IPPROTO_RAW is header-included too),
/// opened at the first packet of their family.
#[derive(Default)]
pub struct RawSender {
    v4: Option<OwnedFd>,
    v6: Option<OwnedFd>,
}

impl Sender for RawSender {
    fn send(&mut self, packet: &[u8], to: IpAddr) -> io::Result<()> {
        let (slot, family) = match to {
            IpAddr::V4(_) => (&mut self.v4, sys::AF_INET),
            IpAddr::V6(_) => (&mut self.v6, sys::AF_INET6),
        };
        if slot.is_none() {
            *slot = Some(sys::open_socket(family, sys::SOCK_RAW, IPPROTO_RAW)?);
        }
        let fd = slot.as_ref().map(|s| s.as_raw_fd()).unwrap_or(-1);
        // Port 0: raw sockets take none (IPv6 would read it as the protocol).
        let (sa, len) = sys::sockaddr(to, 0, 0);
        let sent = match sys::send_to(fd, packet, &sa, len) {
            // A clear of thousands of flows can fill the send buffer: wait
            // for room once, briefly, rather than leave clients unprovoked.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let mut fds = [sys::Pollfd {
                    fd,
                    events: POLLOUT,
                    revents: 0,
                }];
                sys::poll_fds(&mut fds, SEND_WAIT_MS)?;
                sys::send_to(fd, packet, &sa, len)?
            }
            other => other?,
        };
        if sent != packet.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("sent {} of {} bytes", sent, packet.len()),
            ));
        }
        Ok(())
    }
}

/// Records the packets instead of sending them (`debugCtClear`).
#[derive(Default)]
pub struct Recorder {
    pub packets: Vec<Vec<u8>>,
}

impl Sender for Recorder {
    fn send(&mut self, packet: &[u8], _to: IpAddr) -> io::Result<()> {
        self.packets.push(packet.to_vec());
        Ok(())
    }
}

/// What `ctClear` did (see `CtClearReport` in index.d.ts).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub matched: u64,
    pub deleted: u64,
    pub tcp: u64,
    pub provoked: u64,
    pub errors: u64,
    pub error: Option<String>,
}

/// The client (original source) of a flow key, and the server (original destination).
fn ends(key: &FlowKey) -> (IpAddr, IpAddr) {
    if key[0] == 4 {
        let a = |at: usize| {
            IpAddr::V4(Ipv4Addr::new(
                key[at],
                key[at + 1],
                key[at + 2],
                key[at + 3],
            ))
        };
        (a(6), a(22))
    } else {
        let a = |at: usize| {
            let mut b = [0u8; 16];
            b.copy_from_slice(&key[at..at + 16]);
            IpAddr::V6(Ipv6Addr::from(b))
        };
        (a(6), a(22))
    }
}

/// The one's-complement sum of `bytes` before the final inversion, so
/// pseudo-header and segment can be summed in parts.
fn sum16(bytes: &[u8], mut sum: u32) -> u32 {
    let mut chunks = bytes.chunks_exact(2);
    for c in &mut chunks {
        sum += u16::from_be_bytes([c[0], c[1]]) as u32;
    }
    if let [last] = chunks.remainder() {
        sum += (*last as u32) << 8;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum
}

/// The provoke for a TCP flow key (original direction: client → server):
/// a whole IPv4 or IPv6 packet from the server's address and port to the
/// client's, carrying a 20-byte TCP header with SYN and ACK, sequence
/// number PROVOKE_SEQ, acknowledgment 0, window 0, checksums filled in.
pub fn provoke_packet(key: &FlowKey) -> Vec<u8> {
    let client_port = u16::from_le_bytes([key[2], key[3]]);
    let server_port = u16::from_le_bytes([key[4], key[5]]);
    let mut tcp = [0u8; 20];
    tcp[0..2].copy_from_slice(&server_port.to_be_bytes());
    tcp[2..4].copy_from_slice(&client_port.to_be_bytes());
    tcp[4..8].copy_from_slice(&PROVOKE_SEQ.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = TCP_SYN | TCP_ACK;
    let (client, server) = ends(key);
    let mut pseudo = Vec::with_capacity(40);
    let mut packet = Vec::with_capacity(60);
    match (server, client) {
        (IpAddr::V4(s), IpAddr::V4(c)) => {
            pseudo.extend_from_slice(&s.octets());
            pseudo.extend_from_slice(&c.octets());
            pseudo.extend_from_slice(&[0, PROTO_TCP, 0, 20]);
            let mut ip = [0u8; 20];
            ip[0] = 0x45;
            ip[2..4].copy_from_slice(&40u16.to_be_bytes());
            ip[6] = 0x40; // don't fragment
            ip[8] = 64;
            ip[9] = PROTO_TCP;
            ip[12..16].copy_from_slice(&s.octets());
            ip[16..20].copy_from_slice(&c.octets());
            let sum = checksum(&ip);
            ip[10..12].copy_from_slice(&sum.to_be_bytes());
            packet.extend_from_slice(&ip);
        }
        (IpAddr::V6(s), IpAddr::V6(c)) => {
            pseudo.extend_from_slice(&s.octets());
            pseudo.extend_from_slice(&c.octets());
            pseudo.extend_from_slice(&[0, 0, 0, 20, 0, 0, 0, PROTO_TCP]);
            let mut ip = [0u8; 40];
            ip[0] = 0x60;
            ip[4..6].copy_from_slice(&20u16.to_be_bytes());
            ip[6] = PROTO_TCP;
            ip[7] = 64;
            ip[8..24].copy_from_slice(&s.octets());
            ip[24..40].copy_from_slice(&c.octets());
            packet.extend_from_slice(&ip);
        }
        _ => unreachable!("both ends of a key are of its family"),
    }
    let sum = !(sum16(&tcp, sum16(&pseudo, 0)) as u16);
    tcp[16..18].copy_from_slice(&sum.to_be_bytes());
    packet.extend_from_slice(&tcp);
    packet
}

/// Deletes the flows marked mark & mask and, with `provoke`, sends each
/// deleted established TCP connection's client its provoke. Never fails as
/// a whole: failures are counted, the first one is in `error`.
pub fn clear(
    table: &mut dyn ClearTable,
    sender: &mut dyn Sender,
    mark: u32,
    mask: u32,
    provoke: bool,
) -> Report {
    let mut report = Report::default();
    let deleted = match table.delete_marked(mark, mask) {
        Ok(d) => d,
        Err(e) => {
            report.errors = 1;
            report.error = Some(format!("conntrack: list the flows to clear: {}", e));
            return report;
        }
    };
    report.matched = deleted.matched;
    report.deleted = deleted.deleted.len() as u64;
    report.errors = deleted.errors;
    report.error = deleted.first_error;
    for found in deleted.deleted.iter().filter(|f| f.established) {
        report.tcp += 1;
        if !provoke {
            continue;
        }
        let (client, _) = ends(&found.key);
        match sender.send(&provoke_packet(&found.key), client) {
            Ok(()) => report.provoked += 1,
            Err(e) => {
                report.errors += 1;
                if report.error.is_none() {
                    report.error = Some(format!("provoke: send to {}: {}", client, e));
                }
            }
        }
    }
    report
}

// ---- N-API -----------------------------------------------------------------

/// mark and mask as ctClear takes them: mark & mask must not be 0.
fn mark_args(call: &Call) -> Result<(u32, u32), JsError> {
    let mark = conntrack::u32_arg(call, 0, "mark")?;
    let mask = conntrack::u32_arg(call, 1, "mask")?;
    if mark & mask == 0 {
        return Err(call.input_error(&format!(
            "mark & mask: expected a value other than 0 (0 would clear every unsteered flow); got mark 0x{:x}, mask 0x{:x}",
            mark, mask
        )));
    }
    Ok((mark, mask))
}

fn report_object(call: &Call, r: &Report) -> Result<Vec<(&'static str, napi_value)>, JsError> {
    let n = |v: u64| call.number(v as f64);
    let error = match &r.error {
        Some(e) => call.string(&format!("native: {}: {}", call.function(), e))?,
        None => call.null()?,
    };
    Ok(vec![
        ("matched", n(r.matched)?),
        ("deleted", n(r.deleted)?),
        ("tcp", n(r.tcp)?),
        ("provoked", n(r.provoked)?),
        ("errors", n(r.errors)?),
        ("error", error),
    ])
}

/// `ctClear(mark: number, mask: number, provoke: boolean): CtClearReport`
pub fn ct_clear(call: &Call) -> Result<napi_value, JsError> {
    let (mark, mask) = mark_args(call)?;
    let provoke = call.boolean_arg(2, "provoke")?;
    let report = clear(&mut Kernel, &mut RawSender::default(), mark, mask, provoke);
    call.object(&report_object(call, &report)?)
}

/// Reads debugCtClear's table: ctDump records whose byte 38 is the TCP state.
pub fn read_table(records: &[u8]) -> Result<Table, String> {
    if records.len() % ENTRY_SIZE != 0 {
        return Err(format!(
            "conntrack: expected a multiple of {} bytes; got {}",
            ENTRY_SIZE,
            records.len()
        ));
    }
    let mut table = Table::default();
    for (i, r) in records.chunks_exact(ENTRY_SIZE).enumerate() {
        let state = r[38];
        if state >= TCP_STATES || (state != 0 && r[1] != PROTO_TCP) {
            return Err(format!(
                "conntrack: record {}: byte 38 (TCP state): expected 0-{} for TCP, 0 otherwise; got {} for protocol {}",
                i,
                TCP_STATES - 1,
                state,
                r[1]
            ));
        }
        let mut plain = [0u8; ENTRY_SIZE];
        plain.copy_from_slice(r);
        plain[38] = 0;
        let e =
            Entry::from_record(&plain).map_err(|e| format!("conntrack: record {}: {}", i, e))?;
        table.entries.push((e, state));
    }
    Ok(table)
}

/// `debugCtClear(mark, mask, provoke, conntrack: Buffer)`: ctClear on an
/// in-memory table; answers the report, the table afterwards and the
/// provoke packets it would have sent.
pub fn debug_ct_clear(call: &Call) -> Result<napi_value, JsError> {
    let (mark, mask) = mark_args(call)?;
    let provoke = call.boolean_arg(2, "provoke")?;
    let mut table =
        read_table(call.buffer_arg(3, "conntrack")?).map_err(|e| call.input_error(&e))?;
    let mut sent = Recorder::default();
    let report = clear(&mut table, &mut sent, mark, mask, provoke);
    let mut props = report_object(call, &report)?;
    let mut out = Vec::with_capacity(table.entries.len() * ENTRY_SIZE);
    for (e, state) in &table.entries {
        let mut r = e.to_record();
        r[38] = *state;
        out.extend_from_slice(&r);
    }
    props.push(("conntrack", call.buffer(&out)?));
    let packets = sent
        .packets
        .iter()
        .map(|p| call.buffer(p))
        .collect::<Result<Vec<_>, _>>()?;
    props.push(("packets", call.array(&packets)?));
    call.object(&props)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::flow_v4;

    /// The Internet checksum computed the slow way, word by word with
    /// explicit carries: independent of `checksum` and `sum16`.
    fn reference_sum(parts: &[&[u8]]) -> u16 {
        let bytes: Vec<u8> = parts.concat();
        let mut total: u64 = 0;
        for i in (0..bytes.len()).step_by(2) {
            let hi = bytes[i] as u64;
            let lo = if i + 1 < bytes.len() {
                bytes[i + 1] as u64
            } else {
                0
            };
            total += hi * 256 + lo;
        }
        while total > 0xffff {
            total = (total % 0x10000) + (total / 0x10000);
        }
        0xffff - total as u16
    }

    fn v6_key(client: [u8; 16], cport: u16, server: [u8; 16], sport: u16) -> FlowKey {
        let mut k = [0u8; crate::flow::KEY_SIZE];
        k[0] = 6;
        k[1] = PROTO_TCP;
        k[2..4].copy_from_slice(&cport.to_le_bytes());
        k[4..6].copy_from_slice(&sport.to_le_bytes());
        k[6..22].copy_from_slice(&client);
        k[22..38].copy_from_slice(&server);
        k
    }

    #[test]
    fn provoke_bytes_ipv4() {
        // Client 10.20.0.5:40000 downloading from 198.18.100.10:80.
        let key = flow_v4(PROTO_TCP, [10, 20, 0, 5], 40000, [198, 18, 100, 10], 80).key();
        let p = provoke_packet(&key);
        let want_ip: [u8; 20] = [
            0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 198, 18, 100, 10, 10, 20, 0, 5,
        ];
        assert_eq!(p.len(), 40, "length: got {}; want 40", p.len());
        let mut ip = p[..20].to_vec();
        ip[10] = 0;
        ip[11] = 0;
        assert_eq!(
            ip, want_ip,
            "IPv4 header (checksum zeroed): got {:02x?}",
            ip
        );
        let want_tcp: [u8; 20] = [
            0, 80, 0x9c, 0x40, 0x74, 0x65, 0x72, 0x6e, 0, 0, 0, 0, 0x50, 0x12, 0, 0, 0, 0, 0, 0,
        ];
        let mut tcp = p[20..].to_vec();
        tcp[16] = 0;
        tcp[17] = 0;
        assert_eq!(
            tcp, want_tcp,
            "TCP header (checksum zeroed): got {:02x?}",
            tcp
        );
        // Checksums: the header sums to 0 with its own; so does pseudo-header + segment.
        let ip_sum = u16::from_be_bytes([p[10], p[11]]);
        assert_eq!(
            ip_sum,
            reference_sum(&[&ip]),
            "IPv4 checksum: got {:#06x}",
            ip_sum
        );
        assert_eq!(
            reference_sum(&[&p[..20]]),
            0,
            "IPv4 header with checksum must sum to 0"
        );
        let pseudo = [&p[12..16], &p[16..20], &[0, 6, 0, 20][..]].concat();
        let tcp_sum = u16::from_be_bytes([p[36], p[37]]);
        assert_eq!(
            tcp_sum,
            reference_sum(&[&pseudo, &tcp]),
            "TCP checksum: got {:#06x}",
            tcp_sum
        );
        assert_eq!(
            reference_sum(&[&pseudo, &p[20..]]),
            0,
            "TCP segment with checksum must sum to 0"
        );
    }

    #[test]
    fn provoke_bytes_ipv6() {
        let client = [0x20, 1, 0xd, 0xb8, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5];
        let server = [0x20, 1, 0xd, 0xb8, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10];
        let p = provoke_packet(&v6_key(client, 51000, server, 443));
        assert_eq!(p.len(), 60, "length: got {}; want 60", p.len());
        assert_eq!(
            &p[..8],
            &[0x60, 0, 0, 0, 0, 20, 6, 64],
            "IPv6 fixed fields: got {:02x?}",
            &p[..8]
        );
        assert_eq!(&p[8..24], &server, "source is the server");
        assert_eq!(&p[24..40], &client, "destination is the client");
        assert_eq!(
            &p[40..44],
            &[1, 0xbb, 0xc7, 0x38],
            "ports 443 → 51000: got {:02x?}",
            &p[40..44]
        );
        assert_eq!(p[53], 0x12, "flags SYN|ACK: got {:#04x}", p[53]);
        let pseudo = [&server[..], &client[..], &[0, 0, 0, 20, 0, 0, 0, 6][..]].concat();
        assert_eq!(
            reference_sum(&[&pseudo, &p[40..]]),
            0,
            "TCP segment with checksum must sum to 0: {:02x?}",
            p
        );
        assert_ne!(
            u16::from_be_bytes([p[56], p[57]]),
            0,
            "IPv6 requires a TCP checksum"
        );
    }

    fn entry(key: FlowKey, mark: u32) -> Entry {
        Entry {
            key,
            mark,
            orig_packets: 1,
            orig_bytes: 60,
            repl_packets: 1,
            repl_bytes: 60,
        }
    }

    struct Failing;
    impl Sender for Failing {
        fn send(&mut self, _: &[u8], _: IpAddr) -> io::Result<()> {
            Err(io::Error::from_raw_os_error(105))
        }
    }

    #[test]
    fn clears_the_marked_flows_and_provokes_established_tcp_only() {
        let wan1 = 0x001f_0000;
        let wan2 = 0x001f_0001;
        let tcp =
            |sport: u16| flow_v4(PROTO_TCP, [10, 20, 0, 5], sport, [198, 18, 100, 10], 80).key();
        let udp = flow_v4(17, [10, 20, 0, 5], 5353, [198, 18, 100, 53], 53).key();
        let table = || Table {
            entries: vec![
                (entry(tcp(1), wan1), TCP_ESTABLISHED),
                (entry(tcp(2), wan1), 7), // time-wait: cleared, not provoked
                (entry(udp, wan1), 0),
                (entry(tcp(3), wan2), TCP_ESTABLISHED),
                (entry(tcp(4), wan1 | 0x8000_0000), TCP_ESTABLISHED), // other bits outside the mask
            ],
        };
        let mut t = table();
        let mut rec = Recorder::default();
        let r = clear(&mut t, &mut rec, wan1, 0x00ff_ffff, true);
        assert_eq!(
            r,
            Report {
                matched: 4,
                deleted: 4,
                tcp: 2,
                provoked: 2,
                errors: 0,
                error: None
            },
            "report"
        );
        let left: Vec<u32> = t.entries.iter().map(|(e, _)| e.mark).collect();
        assert_eq!(
            left,
            vec![wan2],
            "entries left: got {:x?}; want the other WAN's",
            left
        );
        assert_eq!(
            rec.packets,
            vec![provoke_packet(&tcp(1)), provoke_packet(&tcp(4))],
            "provokes"
        );

        let mut t = table();
        let mut rec = Recorder::default();
        let r = clear(&mut t, &mut rec, wan1, u32::MAX, false);
        assert_eq!(
            (r.deleted, r.tcp, r.provoked),
            (3, 1, 0),
            "without provoke: got {:?}",
            r
        );
        assert!(rec.packets.is_empty(), "nothing sent without provoke");

        // A send failure is counted and named; the clear goes on.
        let mut t = table();
        let r = clear(&mut t, &mut Failing, wan1, 0x00ff_ffff, true);
        assert_eq!(
            (r.deleted, r.provoked, r.errors),
            (4, 0, 2),
            "failing sender: got {:?}",
            r
        );
        let e = r.error.unwrap_or_default();
        assert!(
            e.starts_with("provoke: send to 10.20.0.5: "),
            "error: got {:?}",
            e
        );
    }

    #[test]
    fn the_debug_table_reads_the_tcp_state_from_byte_38() {
        let key = flow_v4(PROTO_TCP, [10, 20, 0, 5], 1, [198, 18, 100, 10], 80).key();
        let mut r = entry(key, 5).to_record();
        r[38] = TCP_ESTABLISHED;
        let t = read_table(&r).expect("a table");
        assert_eq!(t.entries[0].1, TCP_ESTABLISHED);
        r[38] = 10;
        let e = read_table(&r).unwrap_err();
        assert!(e.contains("byte 38 (TCP state): expected 0-9"), "got {}", e);
        let udp = flow_v4(17, [10, 20, 0, 5], 1, [198, 18, 100, 10], 53).key();
        let mut u = entry(udp, 5).to_record();
        u[38] = 3;
        assert!(
            read_table(&u).is_err(),
            "a TCP state on a UDP entry accepted"
        );
        assert!(read_table(&r[..79]).is_err(), "a short record accepted");
    }
}
