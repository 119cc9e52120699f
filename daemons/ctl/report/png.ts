// Reading a PNG back, to check a rendered report: size, and which colours
// its pixels have. 8-bit RGB and RGBA only (what rsvg-convert writes).
import zlib from 'node:zlib';

export interface Png {
  width: number;
  height: number;
  /** RGBA, 4 bytes per pixel, row by row. */
  rgba: Buffer;
}

const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Decode a PNG (non-interlaced, 8-bit RGB or RGBA). Throws on anything else. */
export function decodePng(buf: Buffer): Png {
  if (buf.length < 8 || !buf.subarray(0, 8).equals(signature)) throw new Error('png: not a PNG (bad signature)');
  let off = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  while (off + 8 <= buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.toString('ascii', off + 4, off + 8);
    const data = buf.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      const depth = data[8];
      const colour = data[9];
      if (depth !== 8 || (colour !== 2 && colour !== 6) || data[12] !== 0) throw new Error(`png: unsupported form: depth ${depth}, colour type ${colour}, interlace ${data[12]}`);
      channels = colour === 6 ? 4 : 3;
    } else if (type === 'IDAT') {
      idat.push(data);
    } else if (type === 'IEND') {
      break;
    }
    off += 12 + len;
  }
  if (!width || !height) throw new Error('png: no IHDR');
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const out = Buffer.alloc(width * height * 4);
  let prev = Buffer.alloc(stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = Buffer.from(raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1)));
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? line[i - channels]! : 0;
      const b = prev[i]!;
      const c = i >= channels ? prev[i - channels]! : 0;
      const add = filter === 0 ? 0 : filter === 1 ? a : filter === 2 ? b : filter === 3 ? (a + b) >> 1 : paeth(a, b, c);
      line[i] = (line[i]! + add) & 0xff;
    }
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 4;
      out[o] = line[x * channels]!;
      out[o + 1] = line[x * channels + 1]!;
      out[o + 2] = line[x * channels + 2]!;
      out[o + 3] = channels === 4 ? line[x * channels + 3]! : 255;
    }
    prev = line;
  }
  return { width, height, rgba: out };
}

/** Pixels whose colour is within tolerance (per channel) of hex (#rrggbb). */
export function countColour(png: Png, hex: string, tolerance = 24): number {
  const r = parseInt(hex.slice(1, 3), 16);
  const g = parseInt(hex.slice(3, 5), 16);
  const b = parseInt(hex.slice(5, 7), 16);
  let n = 0;
  for (let o = 0; o < png.rgba.length; o += 4) {
    if (Math.abs(png.rgba[o]! - r) <= tolerance && Math.abs(png.rgba[o + 1]! - g) <= tolerance && Math.abs(png.rgba[o + 2]! - b) <= tolerance) n++;
  }
  return n;
}

/** Pixels that are not (near) white: how much was drawn. */
export function inkedPixels(png: Png): number {
  let n = 0;
  for (let o = 0; o < png.rgba.length; o += 4) {
    if (png.rgba[o + 3]! > 0 && (png.rgba[o]! < 235 || png.rgba[o + 1]! < 235 || png.rgba[o + 2]! < 235)) n++;
  }
  return n;
}

/** The bounding box of the pixels near hex inside region (default all), or undefined when there are none. */
export function colourBox(png: Png, hex: string, tolerance = 24, region: { x: number; y: number; width: number; height: number } = { x: 0, y: 0, width: png.width, height: png.height }): { x0: number; y0: number; x1: number; y1: number; count: number } | undefined {
  const r = parseInt(hex.slice(1, 3), 16);
  const g = parseInt(hex.slice(3, 5), 16);
  const b = parseInt(hex.slice(5, 7), 16);
  let box: { x0: number; y0: number; x1: number; y1: number; count: number } | undefined;
  for (let y = Math.max(0, region.y); y < Math.min(png.height, region.y + region.height); y++) {
    for (let x = Math.max(0, region.x); x < Math.min(png.width, region.x + region.width); x++) {
      const o = (y * png.width + x) * 4;
      if (Math.abs(png.rgba[o]! - r) > tolerance || Math.abs(png.rgba[o + 1]! - g) > tolerance || Math.abs(png.rgba[o + 2]! - b) > tolerance) continue;
      if (!box) box = { x0: x, y0: y, x1: x, y1: y, count: 0 };
      box.x0 = Math.min(box.x0, x);
      box.x1 = Math.max(box.x1, x);
      box.y0 = Math.min(box.y0, y);
      box.y1 = Math.max(box.y1, y);
      box.count++;
    }
  }
  return box;
}

/** The colour hex drawn with opacity alpha over background bg (both #rrggbb). */
export function blend(hex: string, alpha: number, bg = '#fafafa'): string {
  const ch = (h: string, i: number): number => parseInt(h.slice(1 + 2 * i, 3 + 2 * i), 16);
  return `#${[0, 1, 2].map((i) => Math.round(alpha * ch(hex, i) + (1 - alpha) * ch(bg, i)).toString(16).padStart(2, '0')).join('')}`;
}
