//! One refresh of steerd's selectors in one call (`steerRefresh`): every
//! site's selector takes its new path set and moves the flows that must
//! leave; every path is judged against every class's SLA (here, and only
//! here); the moved flows get their new conntrack marks; and a path that now
//! fails classes it did not fail before is swept: flows still marked for it
//! whose class it fails — also those steered before a restart, which no
//! selector saw — get mark 0 and are decided again at their next packet.
//!
//! steerd keeps the classes each path failed last time and hands them back
//! with the next request, so the sweep only fires when the set grows.
//! daemons/steerd/README.md ("Facts in, moves out") is the daemon's side;
//! reference.fixture.ts does the same steps in TypeScript for the tests.

use std::io;
use std::rc::Rc;
use std::sync::Mutex;

use crate::conntrack::{self, Entry, MarkReport, RemarkReport, ENTRY_SIZE};
use crate::flow::{has_port_header, Flow, FlowKey};
use crate::json::{self, Value};
use crate::napi::{napi_value, Call, JsError, CODE_PANIC};
use crate::policy::{check_paths, Path, PathState, Policy, MAX_PATHS};
use crate::select::{class_of_tuple, meets, Move, Selector};

/// The failed classes of a path that is down: every class must leave it.
pub const EVERY_CLASS: &str = "*";
/// Most flows one sweep reads from conntrack for a path.
const SWEEP_MAX: usize = 1_000_000;
/// Most selectors (remote sites) one refresh takes.
const MAX_SITES: u32 = 4096;

/// The conntrack operations a refresh needs: the kernel's (ctnetlink), or
/// an in-memory table for tests and `debugSteerRefresh`.
pub trait Conntrack {
    fn set_marks(&mut self, moves: &[(FlowKey, u32)]) -> io::Result<MarkReport>;
    fn remark(&mut self, mark: u32, new_mark: u32) -> io::Result<RemarkReport>;
    fn dump(&mut self, mark: u32, mask: u32, max: usize) -> io::Result<Vec<Entry>>;
}

/// The kernel's conntrack table of this network namespace.
pub struct Kernel;

impl Conntrack for Kernel {
    fn set_marks(&mut self, moves: &[(FlowKey, u32)]) -> io::Result<MarkReport> {
        conntrack::set_marks(moves)
    }

    fn remark(&mut self, mark: u32, new_mark: u32) -> io::Result<RemarkReport> {
        conntrack::remark(mark, new_mark)
    }

    fn dump(&mut self, mark: u32, mask: u32, max: usize) -> io::Result<Vec<Entry>> {
        conntrack::dump(mark, mask, max)
    }
}

/// A conntrack table in memory that answers as the kernel's does: flows
/// without ports are skipped by `set_marks`, an unknown tuple is missing.
#[derive(Debug, Default, Clone)]
pub struct Table {
    pub entries: Vec<Entry>,
}

impl Conntrack for Table {
    fn set_marks(&mut self, moves: &[(FlowKey, u32)]) -> io::Result<MarkReport> {
        let mut report = MarkReport::default();
        for (key, mark) in moves {
            if !has_port_header(key[1]) {
                report.skipped += 1;
                continue;
            }
            match self.entries.iter_mut().find(|e| e.key == *key) {
                Some(e) => {
                    e.mark = *mark;
                    report.updated += 1;
                }
                None => report.missing += 1,
            }
        }
        Ok(report)
    }

    fn remark(&mut self, mark: u32, new_mark: u32) -> io::Result<RemarkReport> {
        let mut report = RemarkReport::default();
        for e in self.entries.iter_mut().filter(|e| e.mark == mark) {
            e.mark = new_mark;
            report.matched += 1;
            report.updated += 1;
        }
        Ok(report)
    }

    fn dump(&mut self, mark: u32, mask: u32, max: usize) -> io::Result<Vec<Entry>> {
        Ok(self
            .entries
            .iter()
            .filter(|e| e.mark & mask == mark & mask)
            .take(max)
            .cloned()
            .collect())
    }
}

/// What steerd asks of one refresh.
#[derive(Debug, Clone)]
pub struct Request {
    /// Per selector, in the order given: its whole path set (sorted by id)
    /// and the path ids in the order steerd listed them (sweeps go in it).
    pub paths: Vec<(Vec<Path>, Vec<u32>)>,
    /// Per path id: the classes it failed at the previous refresh.
    pub broken: Vec<(u32, Vec<String>)>,
    /// Whether a path whose failed classes grew is swept (steerd knows the
    /// tunnel states; before that, a restart must not sweep).
    pub sweep: bool,
}

const REQUEST_KEYS: [&str; 3] = ["paths", "broken", "sweep"];

fn expected(path: &str, what: &str, got: &Value) -> String {
    format!("{}: expected {}; got {}", path, what, got.describe())
}

/// Reads a refresh request for `sites` selectors; every problem names its key.
pub fn parse_request(text: &str, sites: usize) -> Result<Request, String> {
    let doc = json::parse(text).map_err(|e| format!("request: not valid JSON: {}", e))?;
    let Value::Object(members) = &doc else {
        return Err(expected("request", "an object", &doc));
    };
    if let Some((k, _)) = members
        .iter()
        .find(|(k, _)| !REQUEST_KEYS.contains(&k.as_str()))
    {
        return Err(format!(
            "request: unknown key {}; expected only {}",
            json::quote(k),
            REQUEST_KEYS.join(", ")
        ));
    }
    let get = |key: &str, what: &str| {
        doc.get(key)
            .ok_or_else(|| format!("{}: missing; expected {}", key, what))
    };
    let lists_what = format!("an array of {} path lists, one per selector", sites);
    let lists = match get("paths", &lists_what)? {
        Value::Array(items) if items.len() == sites => items,
        other => return Err(expected("paths", &lists_what, other)),
    };
    let mut paths = Vec::with_capacity(sites);
    for (i, list) in lists.iter().enumerate() {
        // check_paths names keys from its own root, "paths[0].id".
        let checked = check_paths(list)
            .map_err(|e| format!("paths[{}]{}", i, e.strip_prefix("paths").unwrap_or(&e)))?;
        let Value::Array(items) = list else {
            unreachable!("check_paths accepted a non-array")
        };
        let order = items
            .iter()
            .map(|p| match p.get("id") {
                Some(Value::Number(n)) => *n as u32,
                _ => unreachable!("check_paths accepted a path without an integer id"),
            })
            .collect();
        paths.push((checked, order));
    }
    let broken_what = "an array of [path id, [class, ...]]";
    let entries = match get("broken", broken_what)? {
        Value::Array(items) if items.len() <= MAX_PATHS * sites.max(1) => items,
        other => return Err(expected("broken", broken_what, other)),
    };
    let mut broken = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        let at = format!("broken[{}]", i);
        let (id, classes) = match e {
            Value::Array(pair) if pair.len() == 2 => (&pair[0], &pair[1]),
            other => return Err(expected(&at, broken_what, other)),
        };
        let id = match id {
            Value::Number(n) if n.fract() == 0.0 && *n >= 1.0 && *n <= u32::MAX as f64 => *n as u32,
            other => {
                return Err(expected(
                    &format!("{}[0]", at),
                    "an integer 1-4294967295",
                    other,
                ))
            }
        };
        let names = match classes {
            Value::Array(names) => names,
            other => {
                return Err(expected(
                    &format!("{}[1]", at),
                    "an array of class names",
                    other,
                ))
            }
        };
        let mut out = Vec::with_capacity(names.len());
        for (j, n) in names.iter().enumerate() {
            match n {
                Value::String(s) => out.push(s.clone()),
                other => {
                    return Err(expected(
                        &format!("{}[1][{}]", at, j),
                        "a class name",
                        other,
                    ))
                }
            }
        }
        broken.push((id, out));
    }
    let sweep = match get("sweep", "true or false")? {
        Value::Bool(b) => *b,
        other => return Err(expected("sweep", "true or false", other)),
    };
    Ok(Request {
        paths,
        broken,
        sweep,
    })
}

/// What sweeping one path did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sweep {
    pub id: u32,
    /// Flows found on the path whose class it fails ("*": every flow on it).
    pub matched: u64,
    pub updated: u64,
    /// The classes of the flows found, in the order first found; ["*"] for a down path.
    pub classes: Vec<String>,
    /// The classes the path newly fails, which it was swept for; ["*"] when down.
    pub failed: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Report {
    /// Per selector, in the order given: the flows `resteer` moved.
    pub moves: Vec<Vec<Move>>,
    /// The moved flows' conntrack updates; None when they failed (see `error`).
    pub marks: Option<MarkReport>,
    /// Every path of every selector with the classes it fails now ("*": down).
    pub broken: Vec<(u32, Vec<String>)>,
    /// The sweeps done, in order.
    pub sweeps: Vec<Sweep>,
    /// A conntrack failure: what came after it in the order above was not done.
    pub error: Option<String>,
}

/// The classes `p` fails, in policy order (`default` last); a down path fails every class.
fn failed_classes(policy: &Policy, p: &Path) -> Vec<String> {
    if p.state == PathState::Down {
        return vec![EVERY_CLASS.to_string()];
    }
    policy
        .classes
        .iter()
        .filter(|c| !meets(p, &c.sla))
        .map(|c| c.name.clone())
        .collect()
}

struct SweepTask {
    id: u32,
    classes: Vec<String>,
    /// The policy to classify conntrack's flows by (set for sweeps by class).
    policy: Option<Rc<Policy>>,
}

/// Runs one refresh (see the module's doc). Err(i) when selector i is
/// unusable after a panic inside it; the selectors before it were refreshed.
pub fn refresh(
    selectors: &[&Mutex<Selector>],
    req: Request,
    now: f64,
    ct: &mut dyn Conntrack,
) -> Result<Report, usize> {
    let mut report = Report {
        moves: Vec::with_capacity(selectors.len()),
        marks: None,
        broken: Vec::new(),
        sweeps: Vec::new(),
        error: None,
    };
    let mut tasks: Vec<SweepTask> = Vec::new();
    for (i, (cell, (paths, order))) in selectors.iter().zip(req.paths).enumerate() {
        let mut sel = cell.lock().map_err(|_| i)?;
        let mut policy: Option<Rc<Policy>> = None;
        for id in &order {
            let index = paths
                .binary_search_by_key(id, |p| p.id)
                .expect("every listed id is in the checked paths");
            let failed = failed_classes(sel.policy(), &paths[index]);
            let before = req
                .broken
                .iter()
                .find(|(b, _)| b == id)
                .map(|(_, c)| c.as_slice())
                .unwrap_or(&[]);
            let added: Vec<String> = failed
                .iter()
                .filter(|c| !before.contains(c))
                .cloned()
                .collect();
            if req.sweep && !added.is_empty() {
                let down = failed.iter().any(|c| c == EVERY_CLASS);
                if !down && policy.is_none() {
                    policy = Some(Rc::new(sel.policy().clone()));
                }
                tasks.push(SweepTask {
                    id: *id,
                    classes: if down { failed.clone() } else { added },
                    policy: if down { None } else { policy.clone() },
                });
            }
            report.broken.push((*id, failed));
        }
        sel.set_paths(paths);
        report.moves.push(sel.resteer(now));
    }
    // Conntrack is written with no selector locked: the workers keep deciding.
    let keys: Vec<(FlowKey, u32)> = report
        .moves
        .iter()
        .flatten()
        .map(|m| (m.key, m.to))
        .collect();
    if keys.is_empty() {
        report.marks = Some(MarkReport::default());
    } else {
        match ct.set_marks(&keys) {
            Ok(r) => report.marks = Some(r),
            Err(e) => {
                report.error = Some(format!("conntrack: set the marks of moved flows: {}", e));
                return Ok(report);
            }
        }
    }
    for task in tasks {
        match sweep(ct, &task) {
            Ok(s) => report.sweeps.push(s),
            Err(e) => {
                report.error = Some(format!("conntrack: sweep path 0x{:x}: {}", task.id, e));
                break;
            }
        }
    }
    Ok(report)
}

/// Hands the flows on `task.id` whose class it fails back to be decided again (mark 0).
fn sweep(ct: &mut dyn Conntrack, task: &SweepTask) -> io::Result<Sweep> {
    let Some(policy) = &task.policy else {
        let r = ct.remark(task.id, 0)?;
        return Ok(Sweep {
            id: task.id,
            matched: r.matched,
            updated: r.updated,
            classes: vec![EVERY_CLASS.to_string()],
            failed: task.classes.clone(),
        });
    };
    let mut hits: Vec<(FlowKey, u32)> = Vec::new();
    let mut classes: Vec<String> = Vec::new();
    for e in ct.dump(task.id, u32::MAX, SWEEP_MAX)? {
        let name = &policy.classes[class_of_tuple(policy, &Flow::from_key(&e.key))].name;
        if task.classes.contains(name) {
            hits.push((e.key, 0));
            if !classes.contains(name) {
                classes.push(name.clone());
            }
        }
    }
    if hits.is_empty() {
        return Ok(Sweep {
            id: task.id,
            matched: 0,
            updated: 0,
            classes,
            failed: task.classes.clone(),
        });
    }
    let r = ct.set_marks(&hits)?;
    Ok(Sweep {
        id: task.id,
        matched: hits.len() as u64,
        updated: r.updated,
        classes,
        failed: task.classes.clone(),
    })
}

// ---- N-API -----------------------------------------------------------------

fn selectors(call: &Call) -> Result<Vec<&Mutex<Selector>>, JsError> {
    let cells: Vec<&crate::SelectorCell> = call.externals_arg(
        0,
        "selectors",
        crate::SELECTOR_WHAT,
        MAX_SITES,
        &crate::SELECTOR_TAG,
    )?;
    Ok(cells.into_iter().map(|c| &*c.inner).collect())
}

fn run(
    call: &Call,
    sels: &[&Mutex<Selector>],
    text: &str,
    now: f64,
    ct: &mut dyn Conntrack,
) -> Result<Vec<(&'static str, napi_value)>, JsError> {
    let req = parse_request(text, sels.len()).map_err(|e| call.input_error(&e))?;
    let report = refresh(sels, req, now, ct).map_err(|i| {
        JsError::new(
            CODE_PANIC,
            format!(
                "native: {}: selectors[{}]: unusable since a panic inside it; create a new one",
                call.function(),
                i
            ),
        )
    })?;
    let n = |v: u64| call.number(v as f64);
    let strings = |names: &[String]| -> Result<napi_value, JsError> {
        let items = names
            .iter()
            .map(|s| call.string(s))
            .collect::<Result<Vec<_>, _>>()?;
        call.array(&items)
    };
    let moves = report
        .moves
        .iter()
        .map(|m| call.buffer(&crate::move_records(m)))
        .collect::<Result<Vec<_>, _>>()?;
    let marks = match &report.marks {
        Some(r) => r.to_js(call)?,
        None => call.null()?,
    };
    let mut broken = Vec::with_capacity(report.broken.len());
    for (id, classes) in &report.broken {
        broken.push(call.object(&[("id", n(*id as u64)?), ("classes", strings(classes)?)])?);
    }
    let mut sweeps = Vec::with_capacity(report.sweeps.len());
    for s in &report.sweeps {
        sweeps.push(call.object(&[
            ("id", n(s.id as u64)?),
            ("matched", n(s.matched)?),
            ("updated", n(s.updated)?),
            ("classes", strings(&s.classes)?),
            ("failed", strings(&s.failed)?),
        ])?);
    }
    let error = match &report.error {
        Some(e) => call.string(&format!("native: {}: {}", call.function(), e))?,
        None => call.null()?,
    };
    Ok(vec![
        ("moves", call.array(&moves)?),
        ("marks", marks),
        ("broken", call.array(&broken)?),
        ("sweeps", call.array(&sweeps)?),
        ("error", error),
    ])
}

/// `steerRefresh(selectors: Selector[], requestJson: string): SteerRefreshReport`,
/// at the workers' clock and on the kernel's conntrack table.
pub fn steer_refresh(call: &Call) -> Result<napi_value, JsError> {
    let sels = selectors(call)?;
    let text = call.string_arg(1, "requestJson")?;
    let props = run(call, &sels, &text, crate::nfq::now_ms(), &mut Kernel)?;
    call.object(&props)
}

/// `debugSteerRefresh(selectors, requestJson, nowMs, conntrack: Buffer)`:
/// the same refresh at a given time on an in-memory conntrack table of
/// ctDump records; answers the report and the table afterwards.
pub fn debug_steer_refresh(call: &Call) -> Result<napi_value, JsError> {
    let sels = selectors(call)?;
    let text = call.string_arg(1, "requestJson")?;
    let now = crate::now_arg(call, 2)?;
    let records = call.buffer_arg(3, "conntrack")?;
    if records.len() % ENTRY_SIZE != 0 {
        return Err(call.input_error(&format!(
            "conntrack: expected a multiple of {} bytes; got {}",
            ENTRY_SIZE,
            records.len()
        )));
    }
    let mut table = Table::default();
    for (i, r) in records.chunks_exact(ENTRY_SIZE).enumerate() {
        let e = Entry::from_record(r)
            .map_err(|e| call.input_error(&format!("conntrack: record {}: {}", i, e)))?;
        table.entries.push(e);
    }
    let mut props = run(call, &sels, &text, now, &mut table)?;
    let mut out = Vec::with_capacity(table.entries.len() * ENTRY_SIZE);
    for e in &table.entries {
        out.extend_from_slice(&e.to_record());
    }
    props.push(("conntrack", call.buffer(&out)?));
    call.object(&props)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::parse_policy;
    use crate::testkit::{flow_v4, path_json};

    const POLICY: &str = r#"{"classes":[
        {"name":"voice","match":{"protocols":[17],"ports":[[5000,5099]]},"sla":{"maxLossPct":1,"maxLatencyMs":150},"mode":"best","preferWans":[],"hysteresisPct":20,"holdMs":0},
        {"name":"video","match":{"dscp":[34]},"sla":{"maxLossPct":4},"mode":"best","preferWans":[],"hysteresisPct":20,"holdMs":0}],
        "default":{"sla":{"maxLossPct":5},"mode":"best","preferWans":[],"hysteresisPct":20,"holdMs":0},
        "flows":{"max":100,"idleTimeoutMs":60000}}"#;

    /// Path `id` on WAN `w<id>`.
    fn path(id: u32, state: &str, loss: f64, latency: f64) -> String {
        path_json(id, &format!("w{}", id), state, loss, latency)
    }

    fn request(paths: &[String], broken: &str, sweep: bool) -> String {
        format!(
            r#"{{"paths":[[{}]],"broken":{},"sweep":{}}}"#,
            paths.join(","),
            broken,
            sweep
        )
    }

    fn flow(proto: u8, sport: u16, dport: u16) -> Flow {
        flow_v4(proto, [10, 20, 0, 5], sport, [10, 10, 0, 9], dport)
    }

    fn entry(f: &Flow, mark: u32) -> Entry {
        Entry {
            key: f.key(),
            mark,
            orig_packets: 1,
            orig_bytes: 1,
            repl_packets: 0,
            repl_bytes: 0,
        }
    }

    /// The sweep of path `id` for `class` that remarked one flow.
    fn one_swept(id: u32, class: &str) -> Vec<Sweep> {
        vec![Sweep {
            id,
            matched: 1,
            updated: 1,
            classes: vec![class.to_string()],
            failed: vec![class.to_string()],
        }]
    }

    fn run_once(sel: &Mutex<Selector>, text: &str, now: f64, ct: &mut Table) -> Report {
        let req = parse_request(text, 1).unwrap_or_else(|e| panic!("request {}: {}", text, e));
        refresh(&[sel], req, now, ct).expect("selector usable")
    }

    #[test]
    fn judges_moves_marks_and_sweeps_in_one_refresh() {
        let sel = Mutex::new(Selector::new(parse_policy(POLICY).unwrap()));
        let (a, b) = (0x10_0010u32, 0x10_0011u32);
        let mut ct = Table::default();
        let clean = [path(a, "up", 0.0, 40.0), path(b, "up", 0.0, 10.0)];
        let r = run_once(&sel, &request(&clean, "[]", true), 1000.0, &mut ct);
        assert_eq!(
            r.broken,
            vec![(a, vec![]), (b, vec![])],
            "clean paths fail nothing"
        );
        let voice = flow(17, 40000, 5004);
        let web = flow(6, 40001, 443);
        for f in [&voice, &web] {
            let d = sel.lock().unwrap().decide(f, 1000.0);
            assert_eq!(d.path, b, "new flow on the lower latency path: got {:?}", d);
        }
        let unknown = flow(6, 50000, 22);
        let voice_unknown = flow(17, 50001, 5010);
        ct.entries = vec![
            entry(&voice, b),
            entry(&web, b),
            entry(&unknown, b),
            entry(&voice_unknown, b),
        ];

        // 3 % loss on b: voice fails it; the known voice flow moves, the
        // unknown one is swept; the default flows stay.
        let lossy = [path(a, "up", 0.0, 40.0), path(b, "up", 3.0, 10.0)];
        let r = run_once(
            &sel,
            &request(&lossy, r#"[[1048592,[]],[1048593,[]]]"#, true),
            2000.0,
            &mut ct,
        );
        assert_eq!(r.broken, vec![(a, vec![]), (b, vec!["voice".to_string()])]);
        let moved: Vec<(u16, u32, u32)> =
            r.moves[0].iter().map(|m| (m.class, m.from, m.to)).collect();
        assert_eq!(moved, vec![(0, b, a)], "voice moved by resteer");
        assert_eq!(
            r.marks,
            Some(MarkReport {
                updated: 1,
                ..MarkReport::default()
            })
        );
        assert_eq!(
            r.sweeps,
            one_swept(b, "voice"),
            "the voice flow the selector never saw is swept"
        );
        let marks: Vec<u32> = ct.entries.iter().map(|e| e.mark).collect();
        assert_eq!(marks, vec![a, b, b, 0], "conntrack marks: got {:x?}", marks);

        // The same failure again: nothing new to sweep.
        let r = run_once(
            &sel,
            &request(&lossy, r#"[[1048593,["voice"]]]"#, true),
            3000.0,
            &mut ct,
        );
        assert!(
            r.sweeps.is_empty() && r.moves[0].is_empty(),
            "repeat: got {:?}",
            r
        );

        // b goes down: the default flow moves, the rest on b is remarked.
        let down = [path(a, "up", 0.0, 40.0), path(b, "down", 3.0, 10.0)];
        let r = run_once(
            &sel,
            &request(&down, r#"[[1048593,["voice"]]]"#, true),
            4000.0,
            &mut ct,
        );
        assert_eq!(r.broken[1], (b, vec![EVERY_CLASS.to_string()]));
        assert_eq!(
            r.moves[0].len(),
            1,
            "the known default flow moved: got {:?}",
            r.moves
        );
        assert_eq!(r.sweeps, one_swept(b, "*"));
        let marks: Vec<u32> = ct.entries.iter().map(|e| e.mark).collect();
        assert_eq!(marks, vec![a, a, 0, 0], "conntrack marks: got {:x?}", marks);
    }

    #[test]
    fn no_sweep_before_the_tunnel_states_are_known() {
        let sel = Mutex::new(Selector::new(parse_policy(POLICY).unwrap()));
        let mut ct = Table {
            entries: vec![entry(&flow(6, 50000, 22), 7)],
        };
        let r = run_once(
            &sel,
            &request(&[path(7, "down", 0.0, 10.0)], "[]", false),
            0.0,
            &mut ct,
        );
        assert!(r.sweeps.is_empty(), "sweeps: got {:?}", r.sweeps);
        assert_eq!(ct.entries[0].mark, 7, "the flow keeps its path");
        assert_eq!(r.broken, vec![(7, vec!["*".to_string()])], "still judged");
    }

    #[test]
    fn sweeps_follow_the_listed_order_and_dscp_classes_match_on_the_tuple() {
        let sel = Mutex::new(Selector::new(parse_policy(POLICY).unwrap()));
        let mut ct = Table {
            entries: vec![entry(&flow(6, 1, 80), 9), entry(&flow(6, 2, 80), 3)],
        };
        // Listed 9 before 3; both lose 4.5 %: video (DSCP, so every tuple) and voice fail.
        let paths = [path(9, "up", 4.5, 10.0), path(3, "up", 4.5, 10.0)];
        let r = run_once(&sel, &request(&paths, "[]", true), 0.0, &mut ct);
        let order: Vec<u32> = r.sweeps.iter().map(|s| s.id).collect();
        assert_eq!(order, vec![9, 3], "sweep order: got {:?}", order);
        assert_eq!(
            r.sweeps[0].classes,
            vec!["video".to_string()],
            "a TCP/80 flow is taken for video"
        );
        assert_eq!(
            r.broken[0],
            (9, vec!["voice".to_string(), "video".to_string()])
        );
    }

    #[test]
    fn bad_requests_name_the_key() {
        let cases = [
            ("[]", "request: expected an object; got an array"),
            (
                r#"{"paths":[[]],"broken":[],"sweep":true,"x":1}"#,
                "request: unknown key \"x\"",
            ),
            (
                r#"{"paths":[],"broken":[],"sweep":true}"#,
                "paths: expected an array of 1 path lists",
            ),
            (
                r#"{"paths":[[{"id":0}]],"broken":[],"sweep":true}"#,
                "paths[0][0].id: expected an integer 1-4294967295; got 0",
            ),
            (
                r#"{"paths":[[]],"broken":[[0,[]]],"sweep":true}"#,
                "broken[0][0]: expected an integer",
            ),
            (
                r#"{"paths":[[]],"broken":[[1,[2]]],"sweep":true}"#,
                "broken[0][1][0]: expected a class name",
            ),
            (
                r#"{"paths":[[]],"broken":[],"sweep":1}"#,
                "sweep: expected true or false; got 1",
            ),
            (r#"{"paths":[[]],"broken":[]}"#, "sweep: missing"),
        ];
        for (text, want) in cases {
            match parse_request(text, 1) {
                Ok(_) => panic!("{}: accepted; want an error starting {:?}", text, want),
                Err(e) => assert!(
                    e.starts_with(want),
                    "{}: got {:?}; want it to start with {:?}",
                    text,
                    e,
                    want
                ),
            }
        }
    }

    #[test]
    fn the_table_answers_like_the_kernel() {
        let mut t = Table {
            entries: vec![entry(&flow(6, 1, 80), 5)],
        };
        let mut icmp = flow(1, 0, 0).key();
        icmp[2..6].fill(0);
        let r = t
            .set_marks(&[
                (flow(6, 1, 80).key(), 6),
                (flow(6, 2, 80).key(), 6),
                (icmp, 6),
            ])
            .unwrap();
        assert_eq!(
            r,
            MarkReport {
                updated: 1,
                missing: 1,
                failed: 0,
                skipped: 1
            }
        );
        assert_eq!(t.dump(6, u32::MAX, 10).unwrap().len(), 1);
        assert_eq!(
            t.remark(6, 0).unwrap(),
            RemarkReport {
                matched: 1,
                updated: 1,
                failed: 0
            }
        );
    }
}
