// Axis arithmetic shared by the SVG and terminal charts: nice value ticks,
// time ticks on local-time boundaries, labels.

/** Ticks 0..max at a 1/2/5×10^k step, about `target` of them; max rounded up to the last tick. */
export function niceTicks(maxValue: number, target = 5, floor = 1): { max: number; ticks: number[] } {
  const max = Math.max(floor, maxValue);
  const raw = max / target;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * pow).find((s) => s >= raw)!;
  const top = Math.ceil(max / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let v = 0; v <= top + step / 2; v += step) ticks.push(Math.round(v * 1e9) / 1e9);
  return { max: top, ticks };
}

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;
const timeSteps = [S, 2 * S, 5 * S, 10 * S, 15 * S, 30 * S, M, 2 * M, 5 * M, 10 * M, 15 * M, 30 * M, H, 2 * H, 3 * H, 6 * H, 12 * H, D, 2 * D, 7 * D, 14 * D, 30 * D];

/** The box's UTC offset at t, in ms (east positive). */
export const tzOffsetMs = (t: number): number => -new Date(t).getTimezoneOffset() * 60_000;

/** "UTC+01:00". */
export function tzName(t: number): string {
  const off = tzOffsetMs(t) / 60_000;
  const sign = off < 0 ? '-' : '+';
  const a = Math.abs(off);
  return `UTC${sign}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}

/** Time ticks in [from, to], at most `most`, on local-time boundaries of the step. */
export function timeTicks(from: number, to: number, most = 8): { step: number; ticks: number[] } {
  const span = to - from;
  const step = timeSteps.find((s) => span / s <= most) ?? Math.ceil(span / most / D) * D;
  const off = tzOffsetMs(from);
  const ticks: number[] = [];
  for (let t = Math.ceil((from + off) / step) * step - off; t <= to; t += step) ticks.push(t);
  return { step, ticks };
}

const p2 = (n: number): string => String(n).padStart(2, '0');

/** A tick label: HH:MM(:SS), with the date when the range crosses days. */
export function timeLabel(t: number, step: number, from: number, to: number): string {
  const d = new Date(t);
  const hm = `${p2(d.getHours())}:${p2(d.getMinutes())}${step < M ? `:${p2(d.getSeconds())}` : ''}`;
  const sameDay = new Date(from).toDateString() === new Date(to - 1).toDateString();
  if (step >= D) return `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())}`;
  return sameDay ? hm : `${p2(d.getMonth() + 1)}-${p2(d.getDate())} ${hm}`;
}

/** Local date and time, "2025-11-26 08:00:00". */
export function localTime(t: number): string {
  const d = new Date(t);
  return `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}`;
}

/** "1 s", "1 min", "1 h". */
export function bucketName(ms: number): string {
  return ms >= H ? `${ms / H} h` : ms >= M ? `${ms / M} min` : `${ms / S} s`;
}

/** A number without needless digits: 2 → "2", 2.5 → "2.5", 0.25 → "0.25". */
export function fmt(v: number): string {
  return String(Math.round(v * 1000) / 1000);
}
