//! Flow identity of a raw IP packet, used only to keep packets of one flow
//! in order when jitter would otherwise reorder them.

const FNV_OFFSET: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 0x0100_0193;

fn fnv(mut h: u32, bytes: &[u8]) -> u32 {
    for &b in bytes {
        h ^= b as u32;
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// The transport bytes that tell flows apart: ports for TCP/UDP/SCTP/UDP-Lite,
/// the echo identifier for ICMP echo, nothing otherwise.
fn transport_key(proto: u8, l4: &[u8]) -> &[u8] {
    match proto {
        6 | 17 | 132 | 136 if l4.len() >= 4 => &l4[..4],
        // ICMP echo request/reply and ICMPv6 echo request/reply: the identifier.
        1 if l4.len() >= 6 && (l4[0] == 8 || l4[0] == 0) => &l4[4..6],
        58 if l4.len() >= 6 && (l4[0] == 128 || l4[0] == 129) => &l4[4..6],
        _ => &[],
    }
}

/// A 32-bit hash of (source, destination, protocol, ports or echo id).
/// Packets that are not IP, or are truncated, all hash to one bucket.
pub fn flow_hash(pkt: &[u8]) -> u32 {
    if pkt.is_empty() {
        return 0;
    }
    match pkt[0] >> 4 {
        4 if pkt.len() >= 20 => {
            let ihl = ((pkt[0] & 0x0f) as usize) * 4;
            let proto = pkt[9];
            let mut h = fnv(FNV_OFFSET, &pkt[12..20]);
            h = fnv(h, &[proto]);
            // Only the first fragment carries the transport header.
            let frag_offset = u16::from_be_bytes([pkt[6], pkt[7]]) & 0x1fff;
            if frag_offset == 0 && ihl >= 20 && pkt.len() > ihl {
                h = fnv(h, transport_key(proto, &pkt[ihl..]));
            }
            h
        }
        6 if pkt.len() >= 40 => {
            let next = pkt[6];
            let mut h = fnv(FNV_OFFSET, &pkt[8..40]);
            h = fnv(h, &[next]);
            // Extension headers are not walked: such packets fall back to
            // address-pair order, which is stricter, never looser.
            fnv(h, transport_key(next, &pkt[40..]))
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4(proto: u8, src: [u8; 4], dst: [u8; 4], l4: &[u8]) -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, proto, 0, 0];
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        p.extend_from_slice(l4);
        p
    }

    #[test]
    fn same_tuple_same_hash_and_ports_tell_flows_apart() {
        let a = ipv4(17, [198, 18, 0, 2], [198, 18, 0, 6], &[0x30, 0x39, 0x00, 0x35, 0, 8, 0, 0]);
        let b = ipv4(17, [198, 18, 0, 2], [198, 18, 0, 6], &[0x30, 0x39, 0x00, 0x35, 0, 9, 9, 9]);
        let c = ipv4(17, [198, 18, 0, 2], [198, 18, 0, 6], &[0x30, 0x3a, 0x00, 0x35, 0, 8, 0, 0]);
        assert_eq!(flow_hash(&a), flow_hash(&b), "got different hashes for one UDP flow; want equal");
        assert_ne!(flow_hash(&a), flow_hash(&c), "got equal hashes for different source ports; want different");
    }

    #[test]
    fn icmp_echo_id_is_part_of_the_flow() {
        let a = ipv4(1, [10, 1, 0, 2], [10, 1, 0, 3], &[8, 0, 0, 0, 0, 1, 0, 1]);
        let b = ipv4(1, [10, 1, 0, 2], [10, 1, 0, 3], &[8, 0, 0, 0, 0, 1, 0, 2]);
        let c = ipv4(1, [10, 1, 0, 2], [10, 1, 0, 3], &[8, 0, 0, 0, 0, 2, 0, 1]);
        assert_eq!(flow_hash(&a), flow_hash(&b), "got different hashes for one echo id; want equal");
        assert_ne!(flow_hash(&a), flow_hash(&c), "got equal hashes for two echo ids; want different");
    }

    #[test]
    fn truncated_and_non_ip_packets_do_not_panic() {
        for p in [&[][..], &[0x45][..], &[0x60, 0, 0][..], &[0x10; 64][..]] {
            let _ = flow_hash(p);
        }
        let v6 = [0x60u8; 40];
        let _ = flow_hash(&v6);
    }
}
