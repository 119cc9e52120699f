//! Tern's native Node.js module: the parts of the appliance that Node cannot
//! do itself. This file lists the exports and turns their arguments and
//! results into Rust values; each feature has its own module. The JS-facing
//! types are in `../index.d.ts`, and a test checks that they match what is
//! registered here.

// The test build leaves out the registration, so most of the N-API glue is
// unreferenced there; it is exercised through Node by the tap tests.
#![cfg_attr(test, allow(dead_code))]

mod clear;
mod conntrack;
mod flow;
mod handle;
mod icmp;
mod json;
mod memory;
mod napi;
mod nfq;
mod packet;
mod policy;
mod sdnotify;
mod select;
mod sock;
mod steer;
mod sys;
#[cfg(test)]
mod testkit;
mod udp;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard};

use flow::{Flow, FLOW_RECORD_SIZE, KEY_SIZE};
use napi::{napi_type_tag, napi_value, Call, Export, JsError, CODE_IO, CODE_PANIC};
use select::Selector;

/// Every function the module exports, in `index.d.ts` order.
static EXPORTS: &[Export] = &[
    Export {
        name: "version",
        body: version,
    },
    Export {
        name: "sdNotify",
        body: sd_notify,
    },
    Export {
        name: "mallocTrim",
        body: malloc_trim,
    },
    Export {
        name: "debugPanic",
        body: debug_panic,
    },
    Export {
        name: "selectorCreate",
        body: selector_create,
    },
    Export {
        name: "selectorSetPaths",
        body: selector_set_paths,
    },
    Export {
        name: "selectorDecide",
        body: selector_decide,
    },
    Export {
        name: "selectorDecideBatch",
        body: selector_decide_batch,
    },
    Export {
        name: "selectorDecidePacket",
        body: selector_decide_packet,
    },
    Export {
        name: "selectorResteer",
        body: selector_resteer,
    },
    Export {
        name: "selectorExpire",
        body: selector_expire,
    },
    Export {
        name: "selectorStats",
        body: selector_stats,
    },
    Export {
        name: "steerRefresh",
        body: steer::steer_refresh,
    },
    Export {
        name: "debugSteerRefresh",
        body: steer::debug_steer_refresh,
    },
    Export {
        name: "debugParsePacket",
        body: debug_parse_packet,
    },
    Export {
        name: "debugHash",
        body: debug_hash,
    },
    Export {
        name: "icmpOpen",
        body: icmp::icmp_open,
    },
    Export {
        name: "icmpSend",
        body: icmp::icmp_send,
    },
    Export {
        name: "icmpReceive",
        body: icmp::icmp_receive,
    },
    Export {
        name: "icmpStats",
        body: icmp::icmp_stats,
    },
    Export {
        name: "icmpClose",
        body: icmp::icmp_close,
    },
    Export {
        name: "udpSetCreate",
        body: udp::udp_set_create,
    },
    Export {
        name: "udpOpen",
        body: udp::udp_open,
    },
    Export {
        name: "udpConnect",
        body: udp::udp_connect,
    },
    Export {
        name: "udpLocalPort",
        body: udp::udp_local_port,
    },
    Export {
        name: "udpSend",
        body: udp::udp_send,
    },
    Export {
        name: "udpSendTo",
        body: udp::udp_send_to,
    },
    Export {
        name: "udpSendFrom",
        body: udp::udp_send_from,
    },
    Export {
        name: "udpPoll",
        body: udp::udp_poll,
    },
    Export {
        name: "udpClose",
        body: udp::udp_close,
    },
    Export {
        name: "udpStats",
        body: udp::udp_stats,
    },
    Export {
        name: "udpSetClose",
        body: udp::udp_set_close,
    },
    Export {
        name: "nfqOpen",
        body: nfq::nfq_open,
    },
    Export {
        name: "nfqRoute",
        body: nfq::nfq_route,
    },
    Export {
        name: "nfqStats",
        body: nfq::nfq_stats,
    },
    Export {
        name: "nfqClose",
        body: nfq::nfq_close,
    },
    Export {
        name: "nfqNowMs",
        body: nfq::nfq_now_ms,
    },
    Export {
        name: "ctSetMarks",
        body: conntrack::ct_set_marks,
    },
    Export {
        name: "ctRemark",
        body: conntrack::ct_remark,
    },
    Export {
        name: "ctDump",
        body: conntrack::ct_dump,
    },
    Export {
        name: "ctClear",
        body: clear::ct_clear,
    },
    Export {
        name: "debugCtClear",
        body: clear::debug_ct_clear,
    },
    Export {
        name: "vrrpOpen",
        body: sock::vrrp_open,
    },
    Export {
        name: "vrrpSend",
        body: sock::vrrp_send,
    },
    Export {
        name: "vrrpStats",
        body: sock::vrrp_stats,
    },
    Export {
        name: "vrrpBeacon",
        body: sock::vrrp_beacon,
    },
    Export {
        name: "vrrpClose",
        body: sock::vrrp_close,
    },
    Export {
        name: "etherOpen",
        body: sock::ether_open,
    },
    Export {
        name: "etherSend",
        body: sock::ether_send,
    },
    Export {
        name: "etherClose",
        body: sock::ether_close,
    },
];

/// `version(): string`: the crate version, so the loader can tell a stale build.
fn version(call: &Call) -> Result<napi::napi_value, JsError> {
    call.string(env!("CARGO_PKG_VERSION"))
}

/// `sdNotify(state: string): boolean`: reads `$NOTIFY_SOCKET` at every call,
/// like sd_notify(3), so a daemon needs no setup.
fn sd_notify(call: &Call) -> Result<napi::napi_value, JsError> {
    let state = call.string_arg(0, "state")?;
    let socket = std::env::var_os("NOTIFY_SOCKET");
    match sdnotify::notify(socket.as_deref(), state.as_bytes()) {
        Ok(sent) => call.boolean(sent),
        Err(err) => Err(JsError::new(CODE_IO, format!("native: sdNotify: {}", err))),
    }
}

/// `mallocTrim(): boolean`: gives the C heap's free pages back to the kernel
/// (glibc malloc_trim(3)); true when some memory was released.
fn malloc_trim(call: &Call) -> Result<napi::napi_value, JsError> {
    call.boolean(memory::trim())
}

/// `debugPanic(message: string): never`: panics on purpose so tests can prove
/// a panic reaches JS as an exception instead of aborting Node.
fn debug_panic(call: &Call) -> Result<napi::napi_value, JsError> {
    let message = call.string_arg(0, "message")?;
    panic!("{}", message);
}

/// The tag on every selector handle ("tern_sel", "ector_v1").
static SELECTOR_TAG: napi_type_tag = napi_type_tag {
    lower: 0x7465_726e_5f73_656c,
    upper: 0x6563_746f_725f_7631,
};

/// What a selector handle owns. The NFQUEUE workers share the selector
/// (`nfqRoute` clones the Arc); a panic inside poisons the mutex, and the
/// handle then refuses further use rather than run on half-updated state.
struct SelectorCell {
    inner: Arc<Mutex<Selector>>,
}

const SELECTOR_WHAT: &str = "a selector from selectorCreate";

/// Bytes of one decision in `selectorDecideBatch`'s answer.
const DECISION_SIZE: usize = 8;
/// Bytes of one move in `selectorResteer`'s answer.
const MOVE_SIZE: usize = 48;

fn selector<'a>(call: &'a Call) -> Result<MutexGuard<'a, Selector>, JsError> {
    let cell: &SelectorCell = call.external_arg(0, "selector", SELECTOR_WHAT, &SELECTOR_TAG)?;
    cell.inner.lock().map_err(|_| {
        JsError::new(
            CODE_PANIC,
            format!(
                "native: {}: selector: unusable since a panic inside it; create a new one",
                call.function()
            ),
        )
    })
}

/// Argument `index` as a time in milliseconds: finite and not negative.
fn now_arg(call: &Call, index: usize) -> Result<f64, JsError> {
    let n = call.number_arg(index, "nowMs")?;
    if !n.is_finite() || n < 0.0 {
        return Err(call.arg_error("nowMs", "a finite number >= 0", &json::js_number(n)));
    }
    Ok(n)
}

/// `selectorCreate(policyJson: string): Selector`
fn selector_create(call: &Call) -> Result<napi_value, JsError> {
    let text = call.string_arg(0, "policyJson")?;
    let policy = policy::parse_policy(&text).map_err(|e| call.input_error(&e))?;
    call.external(
        SelectorCell {
            inner: Arc::new(Mutex::new(Selector::new(policy))),
        },
        &SELECTOR_TAG,
    )
}

/// `selectorSetPaths(selector: Selector, pathsJson: string): void`; on an
/// error the previous paths stay.
fn selector_set_paths(call: &Call) -> Result<napi_value, JsError> {
    let mut sel = selector(call)?;
    let text = call.string_arg(1, "pathsJson")?;
    let paths = policy::parse_paths(&text).map_err(|e| call.input_error(&e))?;
    sel.set_paths(paths);
    call.undefined()
}

fn decision_object(
    call: &Call,
    sel: &Selector,
    d: select::Decision,
) -> Result<Vec<(&'static str, napi_value)>, JsError> {
    let class = &sel.policy().classes[d.class as usize].name;
    Ok(vec![
        ("pathId", call.number(d.path as f64)?),
        ("class", call.string(class)?),
        ("moved", call.boolean(d.moved)?),
    ])
}

/// `selectorDecide(selector: Selector, flow: Buffer, nowMs: number): Decision`
fn selector_decide(call: &Call) -> Result<napi_value, JsError> {
    let mut sel = selector(call)?;
    let record = call.buffer_arg(1, "flow")?;
    let flow = Flow::from_record(record).map_err(|e| call.input_error(&format!("flow: {}", e)))?;
    let now = now_arg(call, 2)?;
    let d = sel.decide(&flow, now);
    let props = decision_object(call, &sel, d)?;
    call.object(&props)
}

/// `selectorDecideBatch(selector: Selector, flows: Buffer, nowMs: number): Buffer`
fn selector_decide_batch(call: &Call) -> Result<napi_value, JsError> {
    let mut sel = selector(call)?;
    let records = call.buffer_arg(1, "flows")?;
    let now = now_arg(call, 2)?;
    if records.len() % FLOW_RECORD_SIZE != 0 {
        return Err(call.input_error(&format!(
            "flows: expected a multiple of {} bytes; got {}",
            FLOW_RECORD_SIZE,
            records.len()
        )));
    }
    // Read every record before deciding any, so a bad batch changes nothing.
    let mut flows = Vec::with_capacity(records.len() / FLOW_RECORD_SIZE);
    for (i, r) in records.chunks_exact(FLOW_RECORD_SIZE).enumerate() {
        match Flow::from_record(r) {
            Ok(flow) => flows.push(flow),
            Err(e) => return Err(call.input_error(&format!("flows: record {}: {}", i, e))),
        }
    }
    let mut out = vec![0u8; flows.len() * DECISION_SIZE];
    for (flow, o) in flows.iter().zip(out.chunks_exact_mut(DECISION_SIZE)) {
        let d = sel.decide(flow, now);
        o[0..4].copy_from_slice(&d.path.to_le_bytes());
        o[4..6].copy_from_slice(&d.class.to_le_bytes());
        o[6] = d.moved as u8;
    }
    call.buffer(&out)
}

/// `selectorDecidePacket(selector: Selector, packet: Buffer, nowMs: number, domainHint?: number): PacketDecision`
fn selector_decide_packet(call: &Call) -> Result<napi_value, JsError> {
    let mut sel = selector(call)?;
    let packet = call.buffer_arg(1, "packet")?;
    let now = now_arg(call, 2)?;
    let hint = if call.is_undefined(3) {
        0
    } else {
        let n = call.number_arg(3, "domainHint")?;
        if n.fract() != 0.0 || !(0.0..=255.0).contains(&n) {
            return Err(call.arg_error("domainHint", "an integer 0-255", &json::js_number(n)));
        }
        n as u8
    };
    let (d, reason) = match sel.decide_packet(packet, now, hint) {
        Ok(d) => (d, None),
        Err((reason, d)) => (d, Some(reason)),
    };
    let mut props = decision_object(call, &sel, d)?;
    let reason = match reason {
        Some(r) => call.string(r.name())?,
        None => call.null()?,
    };
    props.push(("parseError", reason));
    call.object(&props)
}

/// `selectorResteer(selector: Selector, nowMs: number): Buffer`
fn selector_resteer(call: &Call) -> Result<napi_value, JsError> {
    let mut sel = selector(call)?;
    let now = now_arg(call, 1)?;
    let moves = sel.resteer(now);
    call.buffer(&move_records(&moves))
}

/// Moves as 48-byte records: flow key, class u16, from u32, to u32.
fn move_records(moves: &[select::Move]) -> Vec<u8> {
    let mut out = vec![0u8; moves.len() * MOVE_SIZE];
    for (m, o) in moves.iter().zip(out.chunks_exact_mut(MOVE_SIZE)) {
        o[..KEY_SIZE].copy_from_slice(&m.key);
        o[38..40].copy_from_slice(&m.class.to_le_bytes());
        o[40..44].copy_from_slice(&m.from.to_le_bytes());
        o[44..48].copy_from_slice(&m.to.to_le_bytes());
    }
    out
}

/// `selectorExpire(selector: Selector, nowMs: number): number`
fn selector_expire(call: &Call) -> Result<napi_value, JsError> {
    let mut sel = selector(call)?;
    let now = now_arg(call, 1)?;
    let removed = sel.expire(now);
    call.number(removed as f64)
}

/// `selectorStats(selector: Selector): SelectorStats`
fn selector_stats(call: &Call) -> Result<napi_value, JsError> {
    let sel = selector(call)?;
    let st = sel.stats();
    drop(sel);
    let n = |v: u64| call.number(v as f64);
    let mut parse_errors = Vec::new();
    for reason in packet::ParseError::ALL {
        parse_errors.push((reason.name(), n(st.parse_errors[reason.index()])?));
    }
    let mut classes = Vec::with_capacity(st.classes.len());
    for (name, flows, c) in &st.classes {
        classes.push(call.object(&[
            ("name", call.string(name)?),
            ("flows", n(*flows)?),
            ("newFlows", n(c.new_flows)?),
            ("packets", n(c.packets)?),
            ("bytes", n(c.bytes)?),
            ("moves", n(c.moves)?),
        ])?);
    }
    let mut paths = Vec::with_capacity(st.paths.len());
    for (id, wan, flows, c) in &st.paths {
        paths.push(call.object(&[
            ("id", n(*id as u64)?),
            ("wan", call.string(wan)?),
            ("flows", n(*flows)?),
            ("newFlows", n(c.new_flows)?),
            ("packets", n(c.packets)?),
            ("bytes", n(c.bytes)?),
        ])?);
    }
    call.object(&[
        ("flows", n(st.flows)?),
        ("maxFlows", n(st.max_flows)?),
        ("decisions", n(st.decisions)?),
        ("newFlows", n(st.new_flows)?),
        ("moves", n(st.moves)?),
        ("evictions", n(st.evictions)?),
        ("expirations", n(st.expirations)?),
        ("parseErrors", call.object(&parse_errors)?),
        ("classes", call.array(&classes)?),
        ("paths", call.array(&paths)?),
    ])
}

/// `debugParsePacket(packet: Buffer): ParsedPacket`: what the fast path
/// reads from one raw packet, for tests.
fn debug_parse_packet(call: &Call) -> Result<napi_value, JsError> {
    let packet = call.buffer_arg(0, "packet")?;
    match packet::parse(packet) {
        Err(reason) => call.object(&[
            ("ok", call.boolean(false)?),
            ("reason", call.string(reason.name())?),
        ]),
        Ok(p) => {
            let f = &p.flow;
            let address = |a: &[u8; 16]| -> String {
                if f.family == 4 {
                    Ipv4Addr::new(a[0], a[1], a[2], a[3]).to_string()
                } else {
                    Ipv6Addr::from(*a).to_string()
                }
            };
            call.object(&[
                ("ok", call.boolean(true)?),
                ("family", call.number(f.family as f64)?),
                ("protocol", call.number(f.protocol as f64)?),
                ("src", call.string(&address(&f.src))?),
                ("dst", call.string(&address(&f.dst))?),
                ("srcPort", call.number(f.src_port as f64)?),
                ("dstPort", call.number(f.dst_port as f64)?),
                ("hasPorts", call.boolean(f.has_ports)?),
                ("dscp", call.number(f.dscp as f64)?),
                ("fragment", call.boolean(p.fragment)?),
                ("bytes", call.number(f.bytes as f64)?),
                ("flow", call.buffer(&f.to_record())?),
            ])
        }
    }
}

/// `debugHash(bytes: Buffer): number`: the hash `weighted` and `affinity`
/// spread flows by, so tests can pin the TypeScript copy to it.
fn debug_hash(call: &Call) -> Result<napi_value, JsError> {
    let bytes = call.buffer_arg(0, "bytes")?;
    call.number(flow::mix_hash(bytes) as f64)
}

/// Node's entry point for N-API modules (what `NAPI_MODULE_INIT` expands to).
/// Left out of `cargo test` builds: the test binary is not loaded by Node, so
/// the napi_* symbols it would pull in could not be resolved.
///
/// # Safety
/// Called by Node only, with a live environment and exports object.
#[cfg(not(test))]
#[no_mangle]
pub unsafe extern "C" fn napi_register_module_v1(
    env: napi::napi_env,
    exports: napi::napi_value,
) -> napi::napi_value {
    napi::register(env, exports, EXPORTS)
}
