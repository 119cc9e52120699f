// Netlink attributes (TLVs) and the C structs inside them, in the host byte
// order the kernel reads them in: the pieces every tc message is built of.
import os from 'node:os';

const le = os.endianness() === 'LE';

/** NLA_ALIGN: attributes start on 4-byte boundaries. */
export const align4 = (n: number): number => (n + 3) & ~3;

/** A buffer of n zero bytes with host-order writers, for packing C structs. */
export class Struct {
  readonly buf: Buffer;

  constructor(size: number) {
    this.buf = Buffer.alloc(size);
  }

  u8(off: number, v: number): this { this.buf.writeUInt8(v, off); return this; }
  u16(off: number, v: number): this { if (le) this.buf.writeUInt16LE(v, off); else this.buf.writeUInt16BE(v, off); return this; }
  s16(off: number, v: number): this { if (le) this.buf.writeInt16LE(v, off); else this.buf.writeInt16BE(v, off); return this; }
  u32(off: number, v: number): this { if (le) this.buf.writeUInt32LE(v >>> 0, off); else this.buf.writeUInt32BE(v >>> 0, off); return this; }
  s32(off: number, v: number): this { if (le) this.buf.writeInt32LE(v, off); else this.buf.writeInt32BE(v, off); return this; }
  /** A big-endian (network order) u32, as in u32 filter keys. */
  be32(off: number, v: number): this { this.buf.writeUInt32BE(v >>> 0, off); return this; }
}

/** Host-order readers over a received struct; each checks the struct is long enough. */
export const read = {
  u8: (b: Buffer, off: number): number => b.readUInt8(off),
  u16: (b: Buffer, off: number): number => (le ? b.readUInt16LE(off) : b.readUInt16BE(off)),
  s16: (b: Buffer, off: number): number => (le ? b.readInt16LE(off) : b.readInt16BE(off)),
  u32: (b: Buffer, off: number): number => (le ? b.readUInt32LE(off) : b.readUInt32BE(off)),
  s32: (b: Buffer, off: number): number => (le ? b.readInt32LE(off) : b.readInt32BE(off)),
  /** A u64 as a JS number: counters and rates stay far below 2^53 in practice. */
  u64: (b: Buffer, off: number): number => Number(le ? b.readBigUInt64LE(off) : b.readBigUInt64BE(off)),
  be32: (b: Buffer, off: number): number => b.readUInt32BE(off),
};

/** One attribute: 4-byte header (length, type) then the payload, padded to 4 bytes. */
export function attr(type: number, payload: Buffer): Buffer {
  const len = 4 + payload.length;
  if (len > 0xffff) throw new RangeError(`netlink attribute ${type}: payload of ${payload.length} bytes does not fit`);
  const out = Buffer.alloc(align4(len));
  const h = new Struct(4).u16(0, len).u16(2, type);
  h.buf.copy(out, 0);
  payload.copy(out, 4);
  return out;
}

/** A nested attribute holding other attributes (no NLA_F_NESTED: tc parses its options without it). */
export const nest = (type: number, children: Buffer[]): Buffer => attr(type, Buffer.concat(children));

export const u8Attr = (type: number, v: number): Buffer => attr(type, new Struct(1).u8(0, v).buf);
export const u16Attr = (type: number, v: number): Buffer => attr(type, new Struct(2).u16(0, v).buf);
export const u32Attr = (type: number, v: number): Buffer => attr(type, new Struct(4).u32(0, v).buf);
export const s32Attr = (type: number, v: number): Buffer => attr(type, new Struct(4).s32(0, v).buf);
export function u64Attr(type: number, v: number): Buffer {
  const b = Buffer.alloc(8);
  if (le) b.writeBigUInt64LE(BigInt(v)); else b.writeBigUInt64BE(BigInt(v));
  return attr(type, b);
}
export const flagAttr = (type: number): Buffer => attr(type, Buffer.alloc(0));
export const stringAttr = (type: number, s: string): Buffer => attr(type, Buffer.from(`${s}\0`, 'latin1'));

/**
 * The attributes in buf by type (the low 14 bits; NLA_F_NESTED and
 * NLA_F_NET_BYTEORDER masked off). A later attribute of the same type wins,
 * as in the kernel's nla_parse. Throws on a truncated or overlong header.
 */
export function parseAttrs(buf: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let off = 0;
  while (off + 4 <= buf.length) {
    const len = read.u16(buf, off);
    const type = read.u16(buf, off + 2) & 0x3fff;
    if (len < 4 || off + len > buf.length) throw new RangeError(`netlink attribute at byte ${off}: length ${len} runs past the ${buf.length}-byte buffer`);
    out.set(type, buf.subarray(off + 4, off + len));
    off += align4(len);
  }
  return out;
}

/** The NUL-terminated string payload of an attribute. */
export const attrString = (b: Buffer): string => b.toString('latin1').replace(/\0.*$/s, '');
