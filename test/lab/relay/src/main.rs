//! tern-lab-relay: the lab's delay line. The sandbox kernel has no netem, so
//! the lab routes an impaired link's packets into a TUN interface; this
//! process reads each packet, holds it for delay ± uniform jitter (in order
//! within a flow) and writes it back, where the kernel routes it on.
//!
//! Usage: tern-lab-relay --dev NAME [--delay-us N] [--jitter-us N]
//!          [--config FILE] [--stats FILE] [--owner-pid PID]
//!          [--die-with-parent] [--limit PACKETS] [--seed N] [--rt-priority N]
//!
//! Prints `ready <dev>` on stdout once the interface exists. SIGHUP re-reads
//! --config (`delay_us=`/`jitter_us=` lines) without dropping held packets;
//! SIGUSR1 writes the counters to --stats (and stderr); they are also
//! written every second while they change and at exit. Exits on SIGTERM or
//! SIGINT, when the parent exits (--die-with-parent) or when --owner-pid is
//! gone, so a crashed lab never leaves a relay behind.

mod flow;
mod sched;
mod sys;

use sched::{Pushed, Scheduler};
use std::io::{self, Read, Write};
use std::process::ExitCode;
use std::time::Instant;

/// How long the loop may sleep without looking at signals and the owner.
const MAX_WAIT_NS: u64 = 250_000_000;
/// Packets read per wakeup before due packets get a chance to leave.
const READ_BATCH: usize = 256;

struct Options {
    dev: String,
    delay_us: u64,
    jitter_us: u64,
    config: Option<String>,
    stats: Option<String>,
    owner_pid: Option<i32>,
    die_with_parent: bool,
    limit: usize,
    seed: u64,
    rt_priority: i32,
}

fn usage(msg: &str) -> String {
    format!(
        "relay: args: {msg}; usage: tern-lab-relay --dev NAME [--delay-us N] [--jitter-us N] \
         [--config FILE] [--stats FILE] [--owner-pid PID] [--die-with-parent] [--limit PACKETS] [--seed N] [--rt-priority N]"
    )
}

fn parse_num<T: std::str::FromStr>(flag: &str, v: Option<String>) -> Result<T, String> {
    let v = v.ok_or_else(|| usage(&format!("{flag} needs a value")))?;
    v.parse().map_err(|_| usage(&format!("{flag} {v:?} is not a non-negative integer")))
}

fn parse_args(args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut o = Options {
        dev: String::new(),
        delay_us: 0,
        jitter_us: 0,
        config: None,
        stats: None,
        owner_pid: None,
        die_with_parent: false,
        limit: 50_000,
        seed: 0,
        rt_priority: 0,
    };
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--dev" => o.dev = it.next().ok_or_else(|| usage("--dev needs a value"))?,
            "--delay-us" => o.delay_us = parse_num("--delay-us", it.next())?,
            "--jitter-us" => o.jitter_us = parse_num("--jitter-us", it.next())?,
            "--config" => o.config = Some(it.next().ok_or_else(|| usage("--config needs a value"))?),
            "--stats" => o.stats = Some(it.next().ok_or_else(|| usage("--stats needs a value"))?),
            "--owner-pid" => o.owner_pid = Some(parse_num("--owner-pid", it.next())?),
            "--die-with-parent" => o.die_with_parent = true,
            "--limit" => o.limit = parse_num("--limit", it.next())?,
            "--seed" => o.seed = parse_num("--seed", it.next())?,
            "--rt-priority" => o.rt_priority = parse_num("--rt-priority", it.next())?,
            other => return Err(usage(&format!("unknown argument {other:?}"))),
        }
    }
    if o.dev.is_empty() {
        return Err(usage("--dev is required"));
    }
    if !(0..=99).contains(&o.rt_priority) {
        return Err(usage("--rt-priority must be 0 (off) to 99"));
    }
    if o.limit == 0 {
        return Err(usage("--limit must be at least 1"));
    }
    Ok(o)
}

/// Parse `delay_us=N` / `jitter_us=N` lines; other keys are an error so a
/// typo never silently leaves the old delay in place.
fn parse_config(text: &str, mut delay_us: u64, mut jitter_us: u64) -> Result<(u64, u64), String> {
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| format!("relay: config: line {}: expected key=value, got {line:?}", i + 1))?;
        let n: u64 = v
            .trim()
            .parse()
            .map_err(|_| format!("relay: config: line {}: {} must be a non-negative integer", i + 1, k.trim()))?;
        match k.trim() {
            "delay_us" => delay_us = n,
            "jitter_us" => jitter_us = n,
            other => return Err(format!("relay: config: line {}: unknown key {other:?}; want delay_us or jitter_us", i + 1)),
        }
    }
    Ok((delay_us, jitter_us))
}

fn read_config(path: &str, delay_us: u64, jitter_us: u64) -> Result<(u64, u64), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("relay: config: read {path}: {e}"))?;
    parse_config(&text, delay_us, jitter_us)
}

#[derive(Default, Clone, PartialEq)]
struct Counters {
    rx_packets: u64,
    rx_bytes: u64,
    tx_packets: u64,
    tx_bytes: u64,
    dropped: u64,
    write_errors: u64,
    max_queued: u64,
    /// How late packets left relative to their release time (scheduling
    /// accuracy of this process), total and worst.
    late_total_ns: u64,
    late_max_ns: u64,
}

fn stats_json(dev: &str, c: &Counters, s: &Scheduler) -> String {
    let (delay_ns, jitter_ns) = s.params();
    let late_mean_ns = c.late_total_ns.checked_div(c.tx_packets).unwrap_or(0);
    format!(
        "{{\"pid\":{},\"dev\":\"{}\",\"delay_us\":{},\"jitter_us\":{},\"rx_packets\":{},\"rx_bytes\":{},\
         \"tx_packets\":{},\"tx_bytes\":{},\"dropped\":{},\"write_errors\":{},\"queued\":{},\"max_queued\":{},\
         \"late_mean_us\":{},\"late_max_us\":{}}}",
        std::process::id(),
        dev,
        delay_ns / 1000,
        jitter_ns / 1000,
        c.rx_packets,
        c.rx_bytes,
        c.tx_packets,
        c.tx_bytes,
        c.dropped,
        c.write_errors,
        s.len(),
        c.max_queued,
        late_mean_ns / 1000,
        c.late_max_ns / 1000,
    )
}

/// Write atomically (temp file + rename) so readers never see half a line.
fn write_stats(path: &str, json: &str) {
    let tmp = format!("{path}.tmp");
    let ok = std::fs::write(&tmp, format!("{json}\n")).and_then(|_| std::fs::rename(&tmp, path));
    if let Err(e) = ok {
        eprintln!("relay: stats: write {path}: {e}");
    }
}

fn run(o: Options) -> Result<(), String> {
    sys::install_signal_handlers().map_err(|e| format!("relay: signals: {e}"))?;
    if o.die_with_parent {
        sys::die_with_parent().map_err(|e| format!("relay: die-with-parent: {e}"))?;
    }
    sys::tight_timer_slack();
    if o.rt_priority > 0 {
        // Accuracy degrades without it, but the relay still works: warn.
        if let Err(e) = sys::realtime(o.rt_priority) {
            eprintln!("relay: realtime priority {}: {e}; running with normal scheduling", o.rt_priority);
        }
    }

    let (mut delay_us, mut jitter_us) = (o.delay_us, o.jitter_us);
    if let Some(path) = &o.config {
        (delay_us, jitter_us) = read_config(path, delay_us, jitter_us)?;
    }
    let seed = if o.seed != 0 {
        o.seed
    } else {
        // Different runs get different jitter; tests that need a fixed
        // sequence pass --seed.
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1);
        t ^ ((std::process::id() as u64) << 32)
    };
    let mut sched = Scheduler::new(delay_us * 1000, jitter_us * 1000, o.limit, seed);

    let (mut tun, dev) = sys::open_tun(&o.dev).map_err(|e| format!("relay: open tun {}: {e}", o.dev))?;
    {
        let mut out = io::stdout().lock();
        let _ = writeln!(out, "ready {dev}");
        let _ = out.flush();
    }

    let epoch = Instant::now();
    let now_ns = || epoch.elapsed().as_nanos() as u64;
    let mut c = Counters::default();
    let mut last_written = Counters::default();
    let mut last_stats_ns = 0u64;
    let mut last_owner_check_ns = 0u64;
    let mut buf = vec![0u8; 65536];

    if let Some(path) = &o.stats {
        write_stats(path, &stats_json(&dev, &c, &sched));
    }

    loop {
        let flags = sys::take_signal_flags();
        if flags & sys::FLAG_TERM != 0 {
            break;
        }
        if flags & sys::FLAG_RELOAD != 0 {
            if let Some(path) = &o.config {
                let (d, j) = sched.params();
                match read_config(path, d / 1000, j / 1000) {
                    Ok((d, j)) => sched.set_params(d * 1000, j * 1000),
                    // A bad file keeps the running parameters: the lab
                    // validated them before writing, so this is a bug to see.
                    Err(e) => eprintln!("{e}; keeping delay_us={} jitter_us={}", d / 1000, j / 1000),
                }
            }
        }
        let now = now_ns();
        if flags & sys::FLAG_STATS != 0 || (now - last_stats_ns >= 1_000_000_000 && c != last_written) {
            let json = stats_json(&dev, &c, &sched);
            if flags & sys::FLAG_STATS != 0 {
                eprintln!("{json}");
            }
            if let Some(path) = &o.stats {
                write_stats(path, &json);
            }
            last_written = c.clone();
            last_stats_ns = now;
        }
        if let Some(pid) = o.owner_pid {
            if now - last_owner_check_ns >= MAX_WAIT_NS {
                last_owner_check_ns = now;
                if !sys::process_alive(pid) {
                    eprintln!("relay: owner {pid} is gone; exiting");
                    break;
                }
            }
        }

        // Release everything due, then sleep until the next release.
        let now = now_ns();
        while let Some((release_ns, pkt)) = sched.pop_due(now) {
            match tun.write(&pkt) {
                Ok(n) => {
                    c.tx_packets += 1;
                    c.tx_bytes += n as u64;
                    let late = now.saturating_sub(release_ns);
                    c.late_total_ns += late;
                    c.late_max_ns = c.late_max_ns.max(late);
                }
                Err(_) => c.write_errors += 1,
            }
        }
        let wait_ns = match sched.next_release() {
            Some(at) => at.saturating_sub(now_ns()).min(MAX_WAIT_NS),
            None => MAX_WAIT_NS,
        };
        let readable = if wait_ns == 0 {
            true
        } else {
            sys::wait_readable(&tun, wait_ns).map_err(|e| format!("relay: poll {dev}: {e}"))?
        };
        if !readable {
            continue;
        }
        for _ in 0..READ_BATCH {
            match tun.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    c.rx_packets += 1;
                    c.rx_bytes += n as u64;
                    let pkt = buf[..n].to_vec();
                    match sched.push(now_ns(), flow::flow_hash(&pkt), pkt) {
                        Pushed::Held { .. } => c.max_queued = c.max_queued.max(sched.len() as u64),
                        Pushed::Dropped => c.dropped += 1,
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => break,
                Err(e) => return Err(format!("relay: read {dev}: {e}")),
            }
        }
    }

    if let Some(path) = &o.stats {
        write_stats(path, &stats_json(&dev, &c, &sched));
    }
    drop(tun);
    Ok(())
}

fn main() -> ExitCode {
    let opts = match parse_args(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> impl Iterator<Item = String> {
        list.iter().map(|s| s.to_string()).collect::<Vec<_>>().into_iter()
    }

    #[test]
    fn parses_all_flags() {
        let o = parse_args(args(&[
            "--dev", "dly0", "--delay-us", "40000", "--jitter-us", "5000", "--config", "/c", "--stats", "/s",
            "--owner-pid", "42", "--die-with-parent", "--limit", "10", "--seed", "7", "--rt-priority", "10",
        ]))
        .expect("valid args");
        assert_eq!((o.dev.as_str(), o.delay_us, o.jitter_us), ("dly0", 40000, 5000));
        assert_eq!((o.config.as_deref(), o.stats.as_deref(), o.owner_pid), (Some("/c"), Some("/s"), Some(42)));
        assert!(o.die_with_parent);
        assert_eq!((o.limit, o.seed, o.rt_priority), (10, 7, 10));
    }

    #[test]
    fn rejects_bad_args() {
        for bad in [&[][..], &["--dev"][..], &["--dev", "x", "--delay-us", "-1"][..], &["--dev", "x", "--bogus"][..], &["--dev", "x", "--limit", "0"][..], &["--dev", "x", "--rt-priority", "100"][..]] {
            assert!(parse_args(args(bad)).is_err(), "got Ok for {bad:?}; want an error");
        }
    }

    #[test]
    fn config_file_overrides_and_rejects_unknown_keys() {
        assert_eq!(parse_config("delay_us=100\n# c\n\njitter_us = 7\n", 1, 2), Ok((100, 7)));
        assert_eq!(parse_config("jitter_us=3", 1, 2), Ok((1, 3)));
        assert!(parse_config("delay=5", 1, 2).is_err());
        assert!(parse_config("delay_us=-5", 1, 2).is_err());
        assert!(parse_config("delay_us", 1, 2).is_err());
    }
}
