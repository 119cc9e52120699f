// Bench helper, loaded with `node --import` into a measured process: keeps
// an event-loop delay histogram (perf_hooks) and writes it, as JSON, to
// $BENCH_LOOP_DELAY_FILE every second. SIGUSR2 starts the histogram afresh
// (the bench sends it when its measured interval begins). Node built-ins
// only, so it adds next to nothing to the RSS being measured.
import fs from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const file = process.env.BENCH_LOOP_DELAY_FILE;
if (file) {
  const h = monitorEventLoopDelay({ resolution: 10 });
  h.enable();
  process.on('SIGUSR2', () => h.reset());
  const write = (): void => {
    const ms = (ns: number): number => Math.round(ns / 1e4) / 100;
    const out = h.count ? { count: h.count, meanMs: ms(h.mean), p99Ms: ms(h.percentile(99)), maxMs: ms(h.max) } : { count: 0 };
    fs.writeFileSync(file, JSON.stringify(out));
  };
  setInterval(write, 1000).unref();
}
