//! Conntrack marks through Debian's libnetfilter_conntrack (ctnetlink),
//! declared by hand: how a flow's path is moved at once, and how steered
//! flows are listed.
//!
//! A steered flow's path is its conntrack mark; nftables copies it onto
//! every packet. So moving a flow is rewriting that mark:
//! - `set_marks`: flows the selector moved, by their original tuple
//!   (protocols with ports; the others are left to `remark`);
//! - `remark`: every flow carrying one mark gets another (0: decide again
//!   at the next packet) — for a path that went down, including flows
//!   steered before a restart, which the selector never saw;
//! - `dump`: the flows whose mark matches, with their counters;
//! - `delete_marked`: the flows whose mark matches are deleted (clear.rs,
//!   for the flows of a WAN that went down).
//!
//! Updates carry only the tuple and the mark: conntrack's own state
//! (timeouts, TCP state) is never written back from a possibly stale dump.

use std::ffi::{c_int, c_uint, c_void};
use std::io;

use crate::flow::{has_port_header, FlowKey, KEY_SIZE};
use crate::napi::{napi_value, Call, JsError};

/// ctnetlink's subsystem (NFNL_SUBSYS_CTNETLINK), what nfct_open calls CONNTRACK.
const CONNTRACK: u8 = 1;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
const ENOENT: i32 = 2;

// enum nf_conntrack_attr
const ATTR_ORIG_IPV4_SRC: c_int = 0;
const ATTR_ORIG_IPV4_DST: c_int = 1;
const ATTR_ORIG_IPV6_SRC: c_int = 4;
const ATTR_ORIG_IPV6_DST: c_int = 5;
const ATTR_ORIG_PORT_SRC: c_int = 8;
const ATTR_ORIG_PORT_DST: c_int = 9;
const ATTR_ORIG_L3PROTO: c_int = 15;
const ATTR_ORIG_L4PROTO: c_int = 17;
const ATTR_TCP_STATE: c_int = 19;
const ATTR_MARK: c_int = 25;
const ATTR_ORIG_COUNTER_PACKETS: c_int = 26;
const ATTR_REPL_COUNTER_PACKETS: c_int = 27;
const ATTR_ORIG_COUNTER_BYTES: c_int = 28;
const ATTR_REPL_COUNTER_BYTES: c_int = 29;
// enum nf_conntrack_query
const NFCT_Q_UPDATE: c_int = 1;
const NFCT_Q_DESTROY: c_int = 2;
const NFCT_Q_DUMP_FILTER: c_int = 8;
// enum nf_conntrack_msg_type, callback answers, copy flags, dump filters
const NFCT_T_ALL: c_int = 7;
const NFCT_CB_CONTINUE: c_int = 1;
const NFCT_CB_STOLEN: c_int = 2;
const NFCT_CP_ORIG: c_uint = 1;
const NFCT_FILTER_DUMP_MARK: c_int = 0;

enum NfctHandle {}
enum NfConntrack {}
enum NfctFilterDump {}

#[repr(C)]
struct FilterDumpMark {
    val: u32,
    mask: u32,
}

type NfctCb = unsafe extern "C" fn(kind: c_int, ct: *mut NfConntrack, data: *mut c_void) -> c_int;

extern "C" {
    fn nfct_open(subsys_id: u8, subscriptions: c_uint) -> *mut NfctHandle;
    fn nfct_close(h: *mut NfctHandle) -> c_int;
    fn nfct_new() -> *mut NfConntrack;
    fn nfct_destroy(ct: *mut NfConntrack);
    fn nfct_copy(dest: *mut NfConntrack, source: *const NfConntrack, flags: c_uint);
    fn nfct_set_attr(ct: *mut NfConntrack, kind: c_int, value: *const c_void);
    fn nfct_set_attr_u8(ct: *mut NfConntrack, kind: c_int, value: u8);
    fn nfct_set_attr_u16(ct: *mut NfConntrack, kind: c_int, value: u16);
    fn nfct_set_attr_u32(ct: *mut NfConntrack, kind: c_int, value: u32);
    fn nfct_get_attr(ct: *const NfConntrack, kind: c_int) -> *const c_void;
    fn nfct_get_attr_u8(ct: *const NfConntrack, kind: c_int) -> u8;
    fn nfct_get_attr_u16(ct: *const NfConntrack, kind: c_int) -> u16;
    fn nfct_get_attr_u32(ct: *const NfConntrack, kind: c_int) -> u32;
    fn nfct_get_attr_u64(ct: *const NfConntrack, kind: c_int) -> u64;
    fn nfct_attr_is_set(ct: *const NfConntrack, kind: c_int) -> c_int;
    fn nfct_query(h: *mut NfctHandle, kind: c_int, data: *const c_void) -> c_int;
    fn nfct_callback_register(
        h: *mut NfctHandle,
        kind: c_int,
        cb: NfctCb,
        data: *mut c_void,
    ) -> c_int;
    fn nfct_callback_unregister(h: *mut NfctHandle);
    fn nfct_filter_dump_create() -> *mut NfctFilterDump;
    fn nfct_filter_dump_destroy(f: *mut NfctFilterDump);
    fn nfct_filter_dump_set_attr(f: *mut NfctFilterDump, kind: c_int, data: *const c_void);
}

/// A ctnetlink handle, closed on drop.
struct Handle(*mut NfctHandle);

impl Handle {
    fn open() -> io::Result<Handle> {
        // SAFETY: plain call; null is checked.
        let h = unsafe { nfct_open(CONNTRACK, 0) };
        if h.is_null() {
            return Err(io::Error::last_os_error());
        }
        Ok(Handle(h))
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: opened by nfct_open, closed once.
        unsafe { nfct_close(self.0) };
    }
}

/// A conntrack object, destroyed on drop.
struct Ct(*mut NfConntrack);

impl Ct {
    fn new() -> Ct {
        // SAFETY: plain allocation; null only when out of memory.
        let ct = unsafe { nfct_new() };
        assert!(!ct.is_null(), "nfct_new: out of memory");
        Ct(ct)
    }
}

impl Drop for Ct {
    fn drop(&mut self) {
        // SAFETY: from nfct_new (or handed over by a dump callback), destroyed once.
        unsafe { nfct_destroy(self.0) };
    }
}

/// One steered flow as conntrack holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The original direction's tuple, as a flow key (flow.rs).
    pub key: FlowKey,
    pub mark: u32,
    pub orig_packets: u64,
    pub orig_bytes: u64,
    pub repl_packets: u64,
    pub repl_bytes: u64,
}

/// Bytes of one `ctDump` record: key, 2 zero bytes, mark u32, 4 zero
/// bytes, then four u64 counters (original packets, bytes, reply packets,
/// bytes), all little-endian.
pub const ENTRY_SIZE: usize = 80;

impl Entry {
    /// Reads a record `to_record` wrote (family 4 or 6, zero padding).
    pub fn from_record(r: &[u8]) -> Result<Entry, String> {
        if r.len() != ENTRY_SIZE {
            return Err(format!("expected {} bytes; got {}", ENTRY_SIZE, r.len()));
        }
        if r[0] != 4 && r[0] != 6 {
            return Err(format!("family: expected 4 or 6; got {}", r[0]));
        }
        if r[38..40].iter().chain(&r[44..48]).any(|b| *b != 0) {
            return Err("padding: expected bytes 38-39 and 44-47 to be zero".to_string());
        }
        let u64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&r[at..at + 8]);
            u64::from_le_bytes(b)
        };
        let mut key = [0u8; KEY_SIZE];
        key.copy_from_slice(&r[..KEY_SIZE]);
        Ok(Entry {
            key,
            mark: u32::from_le_bytes([r[40], r[41], r[42], r[43]]),
            orig_packets: u64_at(48),
            orig_bytes: u64_at(56),
            repl_packets: u64_at(64),
            repl_bytes: u64_at(72),
        })
    }

    pub fn to_record(&self) -> [u8; ENTRY_SIZE] {
        let mut r = [0u8; ENTRY_SIZE];
        r[..KEY_SIZE].copy_from_slice(&self.key);
        r[40..44].copy_from_slice(&self.mark.to_le_bytes());
        r[48..56].copy_from_slice(&self.orig_packets.to_le_bytes());
        r[56..64].copy_from_slice(&self.orig_bytes.to_le_bytes());
        r[64..72].copy_from_slice(&self.repl_packets.to_le_bytes());
        r[72..80].copy_from_slice(&self.repl_bytes.to_le_bytes());
        r
    }
}

/// The flow key of a conntrack object's original tuple; None for families
/// other than IPv4 and IPv6.
///
/// # Safety
/// `ct` must be a live conntrack object.
unsafe fn key_of(ct: *const NfConntrack) -> Option<FlowKey> {
    let mut k = [0u8; KEY_SIZE];
    let l3 = nfct_get_attr_u8(ct, ATTR_ORIG_L3PROTO);
    let (family, width, src_attr, dst_attr) = match l3 {
        AF_INET => (4u8, 4usize, ATTR_ORIG_IPV4_SRC, ATTR_ORIG_IPV4_DST),
        AF_INET6 => (6u8, 16usize, ATTR_ORIG_IPV6_SRC, ATTR_ORIG_IPV6_DST),
        _ => return None,
    };
    k[0] = family;
    k[1] = nfct_get_attr_u8(ct, ATTR_ORIG_L4PROTO);
    if has_port_header(k[1]) {
        // Ports are stored in network order; the key holds them little-endian.
        let sp = u16::from_be(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_SRC));
        let dp = u16::from_be(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST));
        k[2..4].copy_from_slice(&sp.to_le_bytes());
        k[4..6].copy_from_slice(&dp.to_le_bytes());
    }
    for (attr, at) in [(src_attr, 6usize), (dst_attr, 22usize)] {
        let p = nfct_get_attr(ct, attr) as *const u8;
        if p.is_null() {
            return None;
        }
        k[at..at + width].copy_from_slice(std::slice::from_raw_parts(p, width));
    }
    Some(k)
}

/// A conntrack object holding only the original tuple of `key`.
fn tuple_of(key: &FlowKey) -> Ct {
    let ct = Ct::new();
    // SAFETY: ct is live; the address pointers point at 16 bytes inside key,
    // which libnetfilter_conntrack copies.
    unsafe {
        if key[0] == 4 {
            nfct_set_attr_u8(ct.0, ATTR_ORIG_L3PROTO, AF_INET);
            // The address bytes are already in network order.
            let src = u32::from_ne_bytes([key[6], key[7], key[8], key[9]]);
            let dst = u32::from_ne_bytes([key[22], key[23], key[24], key[25]]);
            nfct_set_attr_u32(ct.0, ATTR_ORIG_IPV4_SRC, src);
            nfct_set_attr_u32(ct.0, ATTR_ORIG_IPV4_DST, dst);
        } else {
            nfct_set_attr_u8(ct.0, ATTR_ORIG_L3PROTO, AF_INET6);
            nfct_set_attr(ct.0, ATTR_ORIG_IPV6_SRC, key[6..22].as_ptr().cast());
            nfct_set_attr(ct.0, ATTR_ORIG_IPV6_DST, key[22..38].as_ptr().cast());
        }
        nfct_set_attr_u8(ct.0, ATTR_ORIG_L4PROTO, key[1]);
        let sp = u16::from_le_bytes([key[2], key[3]]);
        let dp = u16::from_le_bytes([key[4], key[5]]);
        nfct_set_attr_u16(ct.0, ATTR_ORIG_PORT_SRC, sp.to_be());
        nfct_set_attr_u16(ct.0, ATTR_ORIG_PORT_DST, dp.to_be());
    }
    ct
}

/// What `set_marks` did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MarkReport {
    pub updated: u64,
    /// No such flow in conntrack (it ended, or was never confirmed).
    pub missing: u64,
    pub failed: u64,
    /// Flows without ports: no tuple to address them by; `remark` moves them.
    pub skipped: u64,
}

/// Sets the conntrack mark of each flow (key, mark).
pub fn set_marks(moves: &[(FlowKey, u32)]) -> io::Result<MarkReport> {
    let h = Handle::open()?;
    let mut report = MarkReport::default();
    for (key, mark) in moves {
        if !has_port_header(key[1]) {
            report.skipped += 1;
            continue;
        }
        let ct = tuple_of(key);
        // SAFETY: ct and h are live.
        let rc = unsafe {
            nfct_set_attr_u32(ct.0, ATTR_MARK, *mark);
            nfct_query(h.0, NFCT_Q_UPDATE, ct.0 as *const c_void)
        };
        if rc == 0 {
            report.updated += 1;
        } else if io::Error::last_os_error().raw_os_error() == Some(ENOENT) {
            report.missing += 1;
        } else {
            report.failed += 1;
        }
    }
    Ok(report)
}

/// Collects the objects a dump hands to its callback.
struct Collected {
    items: Vec<Ct>,
    max: usize,
}

unsafe extern "C" fn collect(_kind: c_int, ct: *mut NfConntrack, data: *mut c_void) -> c_int {
    // No panic can start here: a push into a Vec with room checked first.
    let out = &mut *(data as *mut Collected);
    if out.items.len() >= out.max {
        return NFCT_CB_CONTINUE;
    }
    out.items.push(Ct(ct));
    // Stolen: the object is ours now (freed by Ct's drop).
    NFCT_CB_STOLEN
}

/// The objects whose mark & mask == mark & mask, at most `max`.
fn dump_objects(h: &Handle, mark: u32, mask: u32, max: usize) -> io::Result<Vec<Ct>> {
    let mut out = Collected {
        items: Vec::new(),
        max,
    };
    // SAFETY: the filter lives across the query; `out` outlives the
    // callback's registration, which is removed before returning.
    unsafe {
        let filter = nfct_filter_dump_create();
        if filter.is_null() {
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                "nfct_filter_dump_create",
            ));
        }
        let m = FilterDumpMark {
            val: mark & mask,
            mask,
        };
        nfct_filter_dump_set_attr(
            filter,
            NFCT_FILTER_DUMP_MARK,
            &m as *const FilterDumpMark as *const c_void,
        );
        nfct_callback_register(
            h.0,
            NFCT_T_ALL,
            collect,
            &mut out as *mut Collected as *mut c_void,
        );
        let rc = nfct_query(h.0, NFCT_Q_DUMP_FILTER, filter as *const c_void);
        let err = io::Error::last_os_error();
        nfct_callback_unregister(h.0);
        nfct_filter_dump_destroy(filter);
        if rc < 0 {
            return Err(err);
        }
    }
    Ok(out.items)
}

/// The flows whose conntrack mark & mask equals mark & mask, at most `max`.
pub fn dump(mark: u32, mask: u32, max: usize) -> io::Result<Vec<Entry>> {
    let h = Handle::open()?;
    let items = dump_objects(&h, mark, mask, max)?;
    let mut out = Vec::with_capacity(items.len());
    for ct in &items {
        // SAFETY: ct is a live object from the dump.
        unsafe {
            let key = match key_of(ct.0) {
                Some(k) => k,
                None => continue,
            };
            let counter = |attr| {
                if nfct_attr_is_set(ct.0, attr) > 0 {
                    nfct_get_attr_u64(ct.0, attr)
                } else {
                    0
                }
            };
            out.push(Entry {
                key,
                mark: nfct_get_attr_u32(ct.0, ATTR_MARK),
                orig_packets: counter(ATTR_ORIG_COUNTER_PACKETS),
                orig_bytes: counter(ATTR_ORIG_COUNTER_BYTES),
                repl_packets: counter(ATTR_REPL_COUNTER_PACKETS),
                repl_bytes: counter(ATTR_REPL_COUNTER_BYTES),
            });
        }
    }
    Ok(out)
}

/// What `remark` did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RemarkReport {
    pub matched: u64,
    pub updated: u64,
    /// Gone between the dump and the update, or refused.
    pub failed: u64,
}

/// Gives every flow marked `mark` the mark `new_mark`.
pub fn remark(mark: u32, new_mark: u32) -> io::Result<RemarkReport> {
    let h = Handle::open()?;
    let items = dump_objects(&h, mark, u32::MAX, usize::MAX)?;
    let mut report = RemarkReport {
        matched: items.len() as u64,
        ..RemarkReport::default()
    };
    for old in &items {
        let ct = Ct::new();
        // SAFETY: both objects are live; only the original tuple is copied.
        let rc = unsafe {
            nfct_copy(ct.0, old.0, NFCT_CP_ORIG);
            nfct_set_attr_u32(ct.0, ATTR_MARK, new_mark);
            nfct_query(h.0, NFCT_Q_UPDATE, ct.0 as *const c_void)
        };
        if rc == 0 {
            report.updated += 1;
        } else {
            report.failed += 1;
        }
    }
    Ok(report)
}

/// Deletes every flow whose mark & mask equals mark & mask, IPv4 and IPv6.
/// Each is deleted as the dump gave it, so its conntrack id comes along and
/// a new flow that took the same tuple meanwhile is not the one deleted.
pub fn delete_marked(mark: u32, mask: u32) -> io::Result<crate::clear::Deleted> {
    use crate::clear::{Deleted, Found, TCP_ESTABLISHED};
    let h = Handle::open()?;
    let items = dump_objects(&h, mark, mask, usize::MAX)?;
    let mut out = Deleted {
        matched: items.len() as u64,
        ..Deleted::default()
    };
    for ct in &items {
        // SAFETY: ct is a live object from the dump; h is live.
        let (rc, key, state) = unsafe {
            let rc = nfct_query(h.0, NFCT_Q_DESTROY, ct.0 as *const c_void);
            let state = if nfct_attr_is_set(ct.0, ATTR_TCP_STATE) > 0 {
                nfct_get_attr_u8(ct.0, ATTR_TCP_STATE)
            } else {
                0
            };
            (rc, key_of(ct.0), state)
        };
        if rc != 0 {
            let err = io::Error::last_os_error();
            // Ended between the dump and now: nothing to delete, nothing wrong.
            if err.raw_os_error() != Some(ENOENT) {
                out.fail(format!("conntrack: delete: {}", err));
            }
            continue;
        }
        // A family other than IPv4/IPv6 has no key: deleted, never provoked.
        let key = key.unwrap_or([0; KEY_SIZE]);
        out.deleted.push(Found {
            key,
            established: key[0] != 0 && key[1] == crate::flow::PROTO_TCP && state == TCP_ESTABLISHED,
        });
    }
    Ok(out)
}

// ---- N-API -----------------------------------------------------------------

/// Bytes of one move record (lib.rs `selectorResteer`): key, class u16, from u32, to u32.
const MOVE_SIZE: usize = 48;

impl MarkReport {
    /// As JS gets it: a `CtMarkReport` (ctSetMarks, and steerRefresh's `marks`).
    pub fn to_js(&self, call: &Call) -> Result<napi_value, JsError> {
        call.counts(&[
            ("updated", self.updated),
            ("missing", self.missing),
            ("failed", self.failed),
            ("skipped", self.skipped),
        ])
    }
}

impl RemarkReport {
    /// As JS gets it: a `CtRemarkReport` (ctRemark).
    pub fn to_js(&self, call: &Call) -> Result<napi_value, JsError> {
        call.counts(&[("matched", self.matched), ("updated", self.updated), ("failed", self.failed)])
    }
}

fn io_error(call: &Call, e: io::Error) -> JsError {
    call.io_error(&format!("conntrack: {}", e))
}

pub(crate) fn u32_arg(call: &Call, index: usize, name: &str) -> Result<u32, JsError> {
    let n = call.number_arg(index, name)?;
    if n.fract() != 0.0 || !(0.0..=u32::MAX as f64).contains(&n) {
        return Err(call.arg_error(name, "an integer 0-4294967295", &crate::json::js_number(n)));
    }
    Ok(n as u32)
}

/// `ctSetMarks(moves: Buffer): CtMarkReport`: each 48-byte move record's
/// flow gets its `to` path as conntrack mark.
pub fn ct_set_marks(call: &Call) -> Result<napi_value, JsError> {
    let records = call.buffer_arg(0, "moves")?;
    if records.len() % MOVE_SIZE != 0 {
        return Err(call.input_error(&format!(
            "moves: expected a multiple of {} bytes; got {}",
            MOVE_SIZE,
            records.len()
        )));
    }
    let mut moves = Vec::with_capacity(records.len() / MOVE_SIZE);
    for (i, r) in records.chunks_exact(MOVE_SIZE).enumerate() {
        if r[0] != 4 && r[0] != 6 {
            return Err(call.input_error(&format!(
                "moves: record {}: family: expected 4 or 6; got {}",
                i, r[0]
            )));
        }
        let mut key = [0u8; KEY_SIZE];
        key.copy_from_slice(&r[..KEY_SIZE]);
        moves.push((key, u32::from_le_bytes([r[44], r[45], r[46], r[47]])));
    }
    let report = set_marks(&moves).map_err(|e| io_error(call, e))?;
    report.to_js(call)
}

/// `ctRemark(mark: number, newMark: number): CtRemarkReport`
pub fn ct_remark(call: &Call) -> Result<napi_value, JsError> {
    let mark = u32_arg(call, 0, "mark")?;
    let new_mark = u32_arg(call, 1, "newMark")?;
    let report = remark(mark, new_mark).map_err(|e| io_error(call, e))?;
    report.to_js(call)
}

/// `ctDump(mark: number, mask: number, max: number): Buffer` of 80-byte records.
pub fn ct_dump(call: &Call) -> Result<napi_value, JsError> {
    let mark = u32_arg(call, 0, "mark")?;
    let mask = u32_arg(call, 1, "mask")?;
    let max = u32_arg(call, 2, "max")? as usize;
    let entries = dump(mark, mask, max).map_err(|e| io_error(call, e))?;
    let mut out = Vec::with_capacity(entries.len() * ENTRY_SIZE);
    for e in &entries {
        out.extend_from_slice(&e.to_record());
    }
    call.buffer(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuple_round_trips_through_libnetfilter_conntrack() {
        let mut v4 = [0u8; KEY_SIZE];
        v4[0] = 4;
        v4[1] = 17;
        v4[2..4].copy_from_slice(&40000u16.to_le_bytes());
        v4[4..6].copy_from_slice(&5004u16.to_le_bytes());
        v4[6..10].copy_from_slice(&[10, 2, 0, 10]);
        v4[22..26].copy_from_slice(&[10, 1, 0, 10]);
        let mut v6 = [0u8; KEY_SIZE];
        v6[0] = 6;
        v6[1] = 6;
        v6[2..4].copy_from_slice(&443u16.to_le_bytes());
        v6[4..6].copy_from_slice(&80u16.to_le_bytes());
        v6[6] = 0x20;
        v6[21] = 1;
        v6[22] = 0xfd;
        v6[37] = 2;
        for key in [v4, v6] {
            let ct = tuple_of(&key);
            // SAFETY: ct is live.
            let got = unsafe { key_of(ct.0) };
            assert_eq!(got, Some(key), "got {:?}; want {:?}", got, key);
        }
    }

    #[test]
    fn record_layout() {
        let e = Entry {
            key: [7; KEY_SIZE],
            mark: 0x0010_0011,
            orig_packets: 1,
            orig_bytes: 2,
            repl_packets: 3,
            repl_bytes: 4,
        };
        let r = e.to_record();
        assert_eq!(&r[..KEY_SIZE], &[7; KEY_SIZE]);
        assert_eq!(&r[38..48], &[0, 0, 0x11, 0, 0x10, 0, 0, 0, 0, 0]);
        assert_eq!(r[48], 1);
        assert_eq!(r[56], 2);
        assert_eq!(r[64], 3);
        assert_eq!(r[72], 4);
    }
}
