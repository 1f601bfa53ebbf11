'use strict';
// One Signal device backed by Signal's own libsignal (@signalapp/libsignal-client),
// driven by the Go interop test (e2e/interop) over stdin/stdout.
//
// Protocol: one JSON object per line on stdin, one JSON reply per line on stdout,
// replies in request order. Every request may carry "id", echoed in the reply.
// Replies are {"id", "ok": true, ...} or {"id", "ok": false, "error": "..."}.
// All binary fields are standard base64. Addresses are {"name": "...", "device": N}.
// Nothing but replies is ever written to stdout; diagnostics go to stderr.

const readline = require('node:readline');
const crypto = require('node:crypto');

// Which libsignal: "--legacy" selects the pinned pre-SPQR release that still
// accepts sessions without KEM (package.json alias libsignal-client-0.72);
// LIBSIGNAL_MODULE points at any other installed copy for comparison runs.
const moduleName = process.env.LIBSIGNAL_MODULE
  || (process.argv.includes('--legacy') ? 'libsignal-client-0.72' : '@signalapp/libsignal-client');
const SignalClient = require(moduleName);

const {
  ProtocolAddress, PrivateKey, PublicKey, IdentityKeyPair, KEMKeyPair, KEMPublicKey,
  PreKeyRecord, SignedPreKeyRecord, KyberPreKeyRecord, PreKeyBundle,
  SessionRecord, SenderKeyRecord, PreKeySignalMessage, SignalMessage,
  SenderKeyDistributionMessage, Fingerprint, Direction, IdentityChange,
} = SignalClient;

// Releases 0.74-0.82 take a UsePQRatchet argument; older and newer ones do not.
const hasUsePQRatchet = SignalClient.UsePQRatchet !== undefined;
const usePQRatchet = hasUsePQRatchet
  ? (process.env.LIBSIGNAL_USE_PQ_RATCHET === 'yes' ? SignalClient.UsePQRatchet.Yes : SignalClient.UsePQRatchet.No)
  : undefined;

// Releases from 0.92 on also take the local address after the remote one.
const takesLocalAddress = SignalClient.signalEncrypt.length >= 5;

const b64 = (bytes) => Buffer.from(bytes).toString('base64');
const unb64 = (s) => {
  if (typeof s !== 'string') throw new Error('expected a base64 string');
  return Buffer.from(s, 'base64');
};
const addrKey = (a) => `${a.name}.${a.device}`;
const toAddress = (a) => {
  if (!a || typeof a.name !== 'string' || !Number.isInteger(a.device)) {
    throw new Error('address must be {"name": string, "device": integer}');
  }
  return ProtocolAddress.new(a.name, a.device);
};

class Sessions extends SignalClient.SessionStore {
  constructor() { super(); this.m = new Map(); }
  async saveSession(addr, rec) { this.m.set(`${addr.name()}.${addr.deviceId()}`, rec.serialize()); }
  async getSession(addr) {
    const s = this.m.get(`${addr.name()}.${addr.deviceId()}`);
    return s ? SessionRecord.deserialize(s) : null;
  }
  async getExistingSessions(addrs) {
    return Promise.all(addrs.map(async (a) => {
      const s = await this.getSession(a);
      if (!s) throw new Error(`no session for ${a.name()}.${a.deviceId()}`);
      return s;
    }));
  }
}

class Identities extends SignalClient.IdentityKeyStore {
  constructor(pair, regID) { super(); this.pair = pair; this.regID = regID; this.m = new Map(); }
  async getIdentityKey() { return this.pair.privateKey; }
  async getLocalRegistrationId() { return this.regID; }
  async saveIdentity(addr, key) {
    const k = `${addr.name()}.${addr.deviceId()}`;
    const old = this.m.get(k);
    this.m.set(k, key.serialize());
    const replaced = old !== undefined && !Buffer.from(old).equals(Buffer.from(key.serialize()));
    if (IdentityChange !== undefined) {
      return replaced ? IdentityChange.ReplacedExisting : IdentityChange.NewOrUnchanged;
    }
    return replaced;
  }
  // Trust on first use, like the Go package's default.
  async isTrustedIdentity(addr, key) {
    const old = this.m.get(`${addr.name()}.${addr.deviceId()}`);
    return old === undefined || Buffer.from(old).equals(Buffer.from(key.serialize()));
  }
  async getIdentity(addr) {
    const old = this.m.get(`${addr.name()}.${addr.deviceId()}`);
    return old === undefined ? null : PublicKey.deserialize(Buffer.from(old));
  }
}

class PreKeys extends SignalClient.PreKeyStore {
  constructor() { super(); this.m = new Map(); }
  async savePreKey(id, rec) { this.m.set(id, rec.serialize()); }
  async getPreKey(id) {
    const r = this.m.get(id);
    if (!r) throw new Error(`no prekey ${id}`);
    return PreKeyRecord.deserialize(r);
  }
  async removePreKey(id) { this.m.delete(id); }
}

class SignedPreKeys extends SignalClient.SignedPreKeyStore {
  constructor() { super(); this.m = new Map(); }
  async saveSignedPreKey(id, rec) { this.m.set(id, rec.serialize()); }
  async getSignedPreKey(id) {
    const r = this.m.get(id);
    if (!r) throw new Error(`no signed prekey ${id}`);
    return SignedPreKeyRecord.deserialize(r);
  }
}

class KyberPreKeys extends SignalClient.KyberPreKeyStore {
  constructor() { super(); this.m = new Map(); this.lastResort = new Set(); }
  async saveKyberPreKey(id, rec) { this.m.set(id, rec.serialize()); }
  async getKyberPreKey(id) {
    const r = this.m.get(id);
    if (!r) throw new Error(`no kyber prekey ${id}`);
    return KyberPreKeyRecord.deserialize(r);
  }
  // One-time KEM prekeys are deleted on use, last-resort ones kept (as Signal does).
  async markKyberPreKeyUsed(id) { if (!this.lastResort.has(id)) this.m.delete(id); }
}

class SenderKeys extends SignalClient.SenderKeyStore {
  constructor() { super(); this.m = new Map(); }
  async saveSenderKey(sender, distributionId, rec) {
    this.m.set(`${sender.name()}.${sender.deviceId()}/${distributionId}`, rec.serialize());
  }
  async getSenderKey(sender, distributionId) {
    const r = this.m.get(`${sender.name()}.${sender.deviceId()}/${distributionId}`);
    return r ? SenderKeyRecord.deserialize(r) : null;
  }
}

class Device {
  constructor() {
    this.identity = null;
    this.nextID = 1;
  }

  init(req) {
    const regID = req.registrationId ?? (crypto.randomInt(1, 16380));
    this.identity = req.identityPrivateKey
      ? (() => { const p = PrivateKey.deserialize(unb64(req.identityPrivateKey)); return new IdentityKeyPair(p.getPublicKey(), p); })()
      : IdentityKeyPair.generate();
    this.registrationId = regID;
    this.deviceId = req.device ?? 1;
    this.name = req.name ?? 'libsignal';
    this.sessions = new Sessions();
    this.identities = new Identities(this.identity, regID);
    this.preKeys = new PreKeys();
    this.signedPreKeys = new SignedPreKeys();
    this.kyberPreKeys = new KyberPreKeys();
    this.senderKeys = new SenderKeys();
    return { registrationId: regID, identityKey: b64(this.identity.publicKey.serialize()) };
  }

  need() { if (!this.identity) throw new Error('send {"op":"init"} first'); }

  // addressArgs returns the remote address, followed by our own where this release wants it.
  addressArgs(remote) {
    const r = toAddress(remote);
    return takesLocalAddress ? [r, ProtocolAddress.new(this.name, this.deviceId)] : [r];
  }

  // Fresh prekeys for one bundle, as a server would hand out.
  bundle(req) {
    this.need();
    const out = { registrationId: this.registrationId, deviceId: this.deviceId,
      identityKey: b64(this.identity.publicKey.serialize()) };
    const now = Date.now();
    const spkID = this.nextID++;
    const spk = PrivateKey.generate();
    const spkSig = this.identity.privateKey.sign(spk.getPublicKey().serialize());
    this.signedPreKeys.saveSignedPreKey(spkID, SignedPreKeyRecord.new(spkID, now, spk.getPublicKey(), spk, spkSig));
    out.signedPreKeyId = spkID;
    out.signedPreKey = b64(spk.getPublicKey().serialize());
    out.signedPreKeySignature = b64(spkSig);
    let pkID = null; let pk = null;
    if (req.preKey !== false) {
      pkID = this.nextID++;
      const p = PrivateKey.generate();
      this.preKeys.savePreKey(pkID, PreKeyRecord.new(pkID, p.getPublicKey(), p));
      pk = p.getPublicKey();
      out.preKeyId = pkID;
      out.preKey = b64(pk.serialize());
    }
    let kID = null; let kPub = null; let kSig = null;
    if (req.kem !== false) {
      kID = this.nextID++;
      const kp = KEMKeyPair.generate();
      kSig = this.identity.privateKey.sign(kp.getPublicKey().serialize());
      this.kyberPreKeys.saveKyberPreKey(kID, KyberPreKeyRecord.new(kID, now, kp, kSig));
      if (req.lastResort) this.kyberPreKeys.lastResort.add(kID);
      kPub = kp.getPublicKey();
      out.kemPreKeyId = kID;
      out.kemPreKey = b64(kPub.serialize());
      out.kemPreKeySignature = b64(kSig);
    }
    return out;
  }

  async processBundle(req) {
    this.need();
    const b = req.bundle;
    const pre = b.preKey ? PublicKey.deserialize(unb64(b.preKey)) : null;
    const bundleArgs = [b.registrationId, b.deviceId, b.preKey ? b.preKeyId : null, pre,
      b.signedPreKeyId, PublicKey.deserialize(unb64(b.signedPreKey)), unb64(b.signedPreKeySignature),
      PublicKey.deserialize(unb64(b.identityKey))];
    if (b.kemPreKey) {
      bundleArgs.push(b.kemPreKeyId, KEMPublicKey.deserialize(unb64(b.kemPreKey)), unb64(b.kemPreKeySignature));
    } else {
      bundleArgs.push(null, null, null);
    }
    const bundle = PreKeyBundle.new(...bundleArgs);
    const args = [bundle, ...this.addressArgs(req.address), this.sessions, this.identities];
    if (hasUsePQRatchet) args.push(usePQRatchet);
    await SignalClient.processPreKeyBundle(...args);
    return {};
  }

  async encrypt(req) {
    this.need();
    const ct = await SignalClient.signalEncrypt(unb64(req.plaintext), ...this.addressArgs(req.address), this.sessions, this.identities);
    return { type: ct.type(), body: b64(ct.serialize()) };
  }

  async decrypt(req) {
    this.need();
    const addr = this.addressArgs(req.address);
    const body = unb64(req.body);
    let pt;
    if (req.type === 3) {
      const m = PreKeySignalMessage.deserialize(body);
      const args = [m, ...addr, this.sessions, this.identities, this.preKeys, this.signedPreKeys, this.kyberPreKeys];
      if (hasUsePQRatchet) args.push(usePQRatchet);
      pt = await SignalClient.signalDecryptPreKey(...args);
    } else if (req.type === 2) {
      pt = await SignalClient.signalDecrypt(SignalMessage.deserialize(body), ...addr, this.sessions, this.identities);
    } else {
      throw new Error(`unknown message type ${req.type}`);
    }
    return { plaintext: b64(pt) };
  }

  async sessionInfo(req) {
    this.need();
    const rec = await this.sessions.getSession(toAddress(req.address));
    if (!rec) return { exists: false };
    return { exists: true, current: rec.hasCurrentState(), remoteRegistrationId: rec.remoteRegistrationId() };
  }

  async skdmCreate(req) {
    this.need();
    const self = ProtocolAddress.new(this.name, this.deviceId);
    const m = await SenderKeyDistributionMessage.create(self, req.distributionId, this.senderKeys);
    return { skdm: b64(m.serialize()) };
  }

  async skdmProcess(req) {
    this.need();
    const m = SenderKeyDistributionMessage.deserialize(unb64(req.skdm));
    await SignalClient.processSenderKeyDistributionMessage(toAddress(req.sender), m, this.senderKeys);
    return { distributionId: m.distributionId() };
  }

  async groupEncrypt(req) {
    this.need();
    const self = ProtocolAddress.new(this.name, this.deviceId);
    const ct = await SignalClient.groupEncrypt(self, req.distributionId, this.senderKeys, unb64(req.plaintext));
    return { type: ct.type(), body: b64(ct.serialize()) };
  }

  async groupDecrypt(req) {
    this.need();
    const pt = await SignalClient.groupDecrypt(toAddress(req.sender), this.senderKeys, unb64(req.body));
    return { plaintext: b64(pt) };
  }

  fingerprint(req) {
    const f = Fingerprint.new(req.iterations ?? 5200, req.version ?? 2,
      unb64(req.localId), PublicKey.deserialize(unb64(req.localKey)),
      unb64(req.remoteId), PublicKey.deserialize(unb64(req.remoteKey)));
    return { displayable: f.displayableFingerprint().toString(), scannable: b64(f.scannableFingerprint().toBuffer()) };
  }

  // Signature checks in both directions: libsignal verifies Go's XEdDSA and signs for Go.
  verify(req) {
    return { valid: PublicKey.deserialize(unb64(req.key)).verify(unb64(req.message), unb64(req.signature)) };
  }

  sign(req) {
    this.need();
    return { signature: b64(this.identity.privateKey.sign(unb64(req.message))) };
  }

  info() {
    const pkg = require(`${moduleName}/package.json`);
    return { package: pkg.name, version: pkg.version, usePQRatchetArgument: hasUsePQRatchet, node: process.version };
  }
}

const OPS = new Set(['info', 'init', 'bundle', 'processBundle', 'encrypt', 'decrypt', 'sessionInfo',
  'skdmCreate', 'skdmProcess', 'groupEncrypt', 'groupDecrypt', 'fingerprint', 'verify', 'sign']);

async function main() {
  const dev = new Device();
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of rl) {
    if (line.trim() === '') continue;
    let req;
    let reply;
    try {
      req = JSON.parse(line);
      const fn = OPS.has(req.op) ? dev[req.op] : undefined;
      if (typeof fn !== 'function') {
        throw new Error(`unknown op ${JSON.stringify(req.op)}`);
      }
      reply = { ...(await fn.call(dev, req)), ok: true };
    } catch (e) {
      reply = { ok: false, error: String(e && e.message ? e.message : e), code: e && e.code !== undefined ? String(e.code) : undefined };
    }
    if (req && req.id !== undefined) reply.id = req.id;
    process.stdout.write(JSON.stringify(reply) + '\n');
  }
}

main().catch((e) => { process.stderr.write(`device.js: ${e.stack || e}\n`); process.exit(1); });
