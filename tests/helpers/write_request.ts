// Test helper: decodes a remote-write 1.0 `WriteRequest` (prompb/remote.proto), written apart
// from the encoder so that the tests check it against the schema, not against itself.

import { snappyUncompress } from "../../lib/expose/snappy.ts";

/** One decoded sample: its labels as an object, value, timestamp and whether it is StaleNaN. */
export interface DecodedSample {
  labels: Record<string, string>;
  /** The label names in the order they were written. */
  order: string[];
  value: number;
  timestamp: number;
  stale: boolean;
}

class Reader {
  pos = 0;
  constructor(readonly bytes: Uint8Array, readonly end = bytes.length) {}
  varint(): number {
    let value = 0;
    let scale = 1;
    for (;;) {
      const b = this.bytes[this.pos++];
      if (b === undefined) throw new Error("truncated varint");
      value += (b & 0x7f) * scale;
      if (b < 128) return value;
      scale *= 128;
    }
  }
  sub(): Reader {
    const length = this.varint();
    const reader = new Reader(this.bytes, this.pos + length);
    reader.pos = this.pos;
    this.pos += length;
    if (this.pos > this.end) throw new Error("truncated message");
    return reader;
  }
  done(): boolean {
    return this.pos >= this.end;
  }
}

const decoder = new TextDecoder();

/** Decodes an uncompressed WriteRequest into its samples (one per TimeSeries sample). */
export function decodeWriteRequest(bytes: Uint8Array): DecodedSample[] {
  const samples: DecodedSample[] = [];
  const top = new Reader(bytes);
  while (!top.done()) {
    const tag = top.varint();
    if (tag !== 0x0a) throw new Error(`unexpected WriteRequest tag ${tag}`);
    const series = top.sub();
    const labels: Record<string, string> = {};
    const order: string[] = [];
    const values: Omit<DecodedSample, "labels" | "order">[] = [];
    while (!series.done()) {
      const field = series.varint();
      const message = series.sub();
      if (field === 0x0a) {
        let name = "";
        let value = "";
        while (!message.done()) {
          const t = message.varint();
          const sub = message.sub();
          const text = decoder.decode(bytes.subarray(sub.pos, sub.end));
          if (t === 0x0a) name = text;
          else if (t === 0x12) value = text;
          else throw new Error(`unexpected Label tag ${t}`);
        }
        labels[name] = value;
        order.push(name);
      } else if (field === 0x12) {
        let value = NaN;
        let stale = false;
        let timestamp = 0;
        while (!message.done()) {
          const t = message.varint();
          if (t === 0x09) {
            const view = new DataView(bytes.buffer, bytes.byteOffset + message.pos, 8);
            stale = view.getUint32(0, true) === 2 && view.getUint32(4, true) === 0x7ff00000;
            value = view.getFloat64(0, true);
            message.pos += 8;
          } else if (t === 0x10) {
            timestamp = message.varint();
          } else {
            throw new Error(`unexpected Sample tag ${t}`);
          }
        }
        values.push({ value, timestamp, stale });
      } else {
        throw new Error(`unexpected TimeSeries tag ${field}`);
      }
    }
    for (const v of values) samples.push({ labels, order, ...v });
  }
  return samples;
}

/** Decodes a snappy-compressed WriteRequest body, as a receiver would. */
export function decodeSnappyWriteRequest(body: Uint8Array): DecodedSample[] {
  return decodeWriteRequest(snappyUncompress(body, 64 * 1024 * 1024));
}
