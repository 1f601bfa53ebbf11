// Independent decoder for the Parley media stream (docs/crypto.md, "Media
// encryption"), used by TestVectorsIndependentDecrypt. Written from the
// format description, not from the Go code.
'use strict';
const crypto = require('crypto');
const fs = require('fs');

function decrypt(key, stream) {
  if (stream[0] !== 1) throw new Error('version');
  const chunkSize = stream.readUInt32BE(1);
  const salt = stream.subarray(5, 37);
  const header = stream.subarray(0, 37);
  const aesKey = Buffer.from(crypto.hkdfSync('sha256', key, salt, Buffer.from('Parley media v1'), 32));
  const sealed = chunkSize + 16;
  const parts = [];
  let off = 37;
  for (let i = 0; ; i++) {
    const rest = stream.length - off;
    const final = rest <= sealed;
    const chunk = stream.subarray(off, off + Math.min(rest, sealed));
    const nonce = Buffer.alloc(12);
    nonce.writeBigUInt64BE(BigInt(i), 3);
    nonce[11] = final ? 1 : 0;
    const d = crypto.createDecipheriv('aes-256-gcm', aesKey, nonce);
    d.setAAD(header);
    d.setAuthTag(chunk.subarray(chunk.length - 16));
    parts.push(d.update(chunk.subarray(0, chunk.length - 16)));
    d.final();
    off += chunk.length;
    if (final) break;
  }
  return Buffer.concat(parts);
}

const vectors = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
for (const v of vectors) {
  const pt = decrypt(Buffer.from(v.key, 'hex'), Buffer.from(v.ciphertext, 'hex'));
  if (pt.toString('hex') !== v.plaintext) throw new Error('mismatch in ' + v.name);
}
console.log('ok ' + vectors.length);
