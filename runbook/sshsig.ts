// SSH signatures (`ssh-keygen -Y sign`, OpenSSH's PROTOCOL.sshsig) verified in pure JavaScript, so that
// workflow code can check a signed human decision inside the deterministic sandbox: no Buffer, atob,
// TextEncoder, crypto or Node built-ins, and no `instanceof Uint8Array` (the sandbox has its own realm).
// Only ssh-ed25519 keys are supported; other key types and SSH certificates are refused with a reason.
//
// The armored signature decodes to: "SSHSIG" || uint32 1 || string publickey || string namespace ||
// string reserved || string hash_algorithm || string signature, where signature = string "ssh-ed25519" ||
// string(64 bytes). The Ed25519 signature covers: "SSHSIG" || string namespace || string "" ||
// string hash_algorithm || string H(message). A string is a 4-byte big-endian length, then its bytes.
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';

export const ED25519 = 'ssh-ed25519';
const MAGIC = 'SSHSIG';
const BEGIN = '-----BEGIN SSH SIGNATURE-----';
const END = '-----END SSH SIGNATURE-----';
/** A real signature is about 300 characters; anything far bigger is not one. */
const MAX_ARMOR = 16 * 1024;

/** A malformed input (base64, armor, allowed_signers line): the message says what was expected. */
export class SshSigError extends Error {
  constructor(
    message: string,
    /** Every problem, one a line (several for an allowed_signers file). */
    readonly problems: string[] = [message],
  ) {
    super(message);
    this.name = 'SshSigError';
  }
}

// ---------------------------------------------------------------------------------------------------
// Bytes: UTF-8, base64, comparison.

/** UTF-8 bytes of text (lone surrogates as U+FFFD, like TextEncoder). */
export function utf8(text: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const lo = text.charCodeAt(i + 1);
      if (lo >= 0xdc00 && lo <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
        i++;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 0x3f));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 0x3f), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
  }
  return Uint8Array.from(out);
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
// Frozen: the workflows share this module (worker/bundle-options.ts preloads it).
const VALUE: Readonly<Record<string, number>> = Object.freeze(Object.fromEntries([...ALPHABET].map((ch, i) => [ch, i])));

/**
 * Strict standard base64 (RFC 4648 section 4): the alphabet A-Z a-z 0-9 + /, padded to a multiple of 4
 * with at most two '=', nothing else (no whitespace, no URL-safe characters), and unused bits zero, so
 * that every byte string has exactly one accepted encoding. Throws an SshSigError saying what is wrong.
 */
export function decodeBase64(text: string): Uint8Array {
  if (text.length % 4 !== 0) throw new SshSigError(`invalid base64: length ${text.length} is not a multiple of 4`);
  const pad = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const body = text.length - pad;
  const out = new Uint8Array((text.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    const v = [0, 0, 0, 0];
    for (let j = 0; j < 4; j++) {
      const at = i + j;
      if (at >= body) continue;
      const x = VALUE[text[at]];
      if (x === undefined) throw new SshSigError(`invalid base64: unexpected ${JSON.stringify(text[at])} at offset ${at}`);
      v[j] = x;
    }
    const n = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out[o++] = n >> 16;
    if (o < out.length) out[o++] = (n >> 8) & 0xff;
    if (o < out.length) out[o++] = n & 0xff;
  }
  const last = body > 0 ? VALUE[text[body - 1]] : 0;
  if ((pad === 1 && (last & 0x03) !== 0) || (pad === 2 && (last & 0x0f) !== 0)) {
    throw new SshSigError('invalid base64: non-zero bits before the padding (not a canonical encoding)');
  }
  return out;
}

/** Standard base64, padded unless `pad` is false (SHA256 fingerprints are printed without padding). */
export function encodeBase64(bytes: Uint8Array, pad = true): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    const left = bytes.length - i;
    s += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63];
    s += left > 1 ? ALPHABET[(n >> 6) & 63] : pad ? '=' : '';
    s += left > 2 ? ALPHABET[n & 63] : pad ? '=' : '';
  }
  return s;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** An SSH wire string: uint32 big-endian length, then the bytes. */
function sshString(bytes: Uint8Array): Uint8Array {
  const n = bytes.length;
  return concat(Uint8Array.from([(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]), bytes);
}

/** Bytes as text for messages: printable ASCII as is, anything else as \xNN. */
function printable(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  return s;
}

/** Reads SSH wire data; every read is bounds-checked and names the field it was reading. */
class Reader {
  private at = 0;
  constructor(
    private readonly bytes: Uint8Array,
    private readonly what: string,
  ) {}

  u32(field: string): number {
    if (this.at + 4 > this.bytes.length) throw new SshSigError(`${this.what} is truncated (reading ${field})`);
    const b = this.bytes;
    const n = ((b[this.at] << 24) >>> 0) + (b[this.at + 1] << 16) + (b[this.at + 2] << 8) + b[this.at + 3];
    this.at += 4;
    return n;
  }

  raw(n: number, field: string): Uint8Array {
    if (n > this.bytes.length - this.at) throw new SshSigError(`${this.what} is truncated (reading ${field})`);
    const out = this.bytes.slice(this.at, this.at + n);
    this.at += n;
    return out;
  }

  string(field: string): Uint8Array {
    return this.raw(this.u32(field), field);
  }

  end(): void {
    if (this.at !== this.bytes.length) throw new SshSigError(`${this.what} has ${this.bytes.length - this.at} unexpected trailing bytes`);
  }
}

// ---------------------------------------------------------------------------------------------------
// Keys and fingerprints.

/** `SHA256:<base64 without padding>` of a public key blob (the wire encoding), as `ssh-keygen -l` prints it. */
export function sshFingerprint(publicKey: Uint8Array): string {
  return `SHA256:${encodeBase64(sha256(publicKey), false)}`;
}

/** The key type named inside a public key blob, and for ssh-ed25519 the 32-byte key (checked exactly). */
function readKeyBlob(blob: Uint8Array, what: string): { keyType: string; ed25519?: Uint8Array } {
  const r = new Reader(blob, what);
  const keyType = printable(r.string('key type'));
  if (keyType !== ED25519) return { keyType };
  const key = r.string('ed25519 key');
  if (key.length !== 32) throw new SshSigError(`${what}: an ssh-ed25519 key has 32 bytes, this one ${key.length}`);
  r.end();
  return { keyType, ed25519: key };
}

// ---------------------------------------------------------------------------------------------------
// The armored signature.

export interface SshSignature {
  /** The signer's public key blob (wire encoding) and its type. */
  publicKey: Uint8Array;
  keyType: string;
  /** The namespace as printable text (non-ASCII bytes as \xNN), and its exact bytes. */
  namespace: string;
  namespaceBytes: Uint8Array;
  hashAlgorithm: string;
  /** The signature's algorithm (ssh-ed25519 for ed25519 keys) and its raw bytes. */
  signatureType: string;
  signature: Uint8Array;
}

/**
 * Parses the output of `ssh-keygen -Y sign`: the BEGIN/END SSH SIGNATURE lines around base64 (any line
 * length; CRLF and surrounding blank lines accepted), then the binary structure of PROTOCOL.sshsig. Key
 * types and hash algorithms are not judged here (verifySshSignature does). Throws an SshSigError.
 */
export function parseSshSignature(armored: string): SshSignature {
  if (typeof armored !== 'string') throw new SshSigError('malformed signature: expected the text printed by ssh-keygen -Y sign');
  if (armored.length > MAX_ARMOR) throw new SshSigError(`malformed signature: ${armored.length} characters, an SSH signature has far fewer`);
  const lines = armored.split('\n').map((l) => l.trim());
  while (lines.length && lines[0] === '') lines.shift();
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  if (lines[0] !== BEGIN) throw new SshSigError(`malformed signature: expected ${JSON.stringify(BEGIN)} on the first line (the output of ssh-keygen -Y sign)`);
  if (lines[lines.length - 1] !== END || lines.length < 3) throw new SshSigError(`malformed signature: expected base64 lines, then ${JSON.stringify(END)}`);
  const body = lines.slice(1, -1);
  if (body.some((l) => l === '')) throw new SshSigError('malformed signature: a blank line inside the armor');
  let bytes: Uint8Array;
  try {
    bytes = decodeBase64(body.join(''));
  } catch (err) {
    throw new SshSigError(`malformed signature: ${(err as Error).message}`);
  }
  const r = new Reader(bytes, 'malformed signature: the SSHSIG blob');
  if (printable(r.raw(6, 'magic')) !== MAGIC) throw new SshSigError('malformed signature: it does not start with the SSHSIG magic');
  const version = r.u32('version');
  if (version !== 1) throw new SshSigError(`malformed signature: SSHSIG version ${version}, only version 1 is known`);
  const publicKey = r.string('public key');
  const namespaceBytes = r.string('namespace');
  r.string('reserved'); // PROTOCOL.sshsig: ignored when verifying; the signed data always has an empty one
  const hashAlgorithm = printable(r.string('hash algorithm'));
  const sigBlob = r.string('signature');
  r.end();
  const { keyType } = readKeyBlob(publicKey, 'malformed signature: the public key');
  const s = new Reader(sigBlob, 'malformed signature: the signature blob');
  const signatureType = printable(s.string('signature type'));
  const signature = s.string('signature bytes');
  s.end();
  return { publicKey, keyType, namespace: printable(namespaceBytes), namespaceBytes, hashAlgorithm, signatureType, signature };
}

/** The bytes the signer's key signed: "SSHSIG" || string namespace || string "" || string hash_alg || string H(message). */
export function signedData(namespace: Uint8Array, hashAlgorithm: 'sha256' | 'sha512', message: Uint8Array): Uint8Array {
  const digest = hashAlgorithm === 'sha512' ? sha512(message) : sha256(message);
  return concat(utf8(MAGIC), sshString(namespace), sshString(new Uint8Array(0)), sshString(utf8(hashAlgorithm)), sshString(digest));
}

// ---------------------------------------------------------------------------------------------------
// allowed_signers (ssh-keygen(1), "ALLOWED SIGNERS").

/** One line of an allowed_signers file; plain JSON (the key as base64), so it can cross into a workflow. */
export interface AllowedSigner {
  /** Line number in the file, for messages. */
  line: number;
  /** Comma-separated pattern-list of principals, split: `*` and `?` wildcards, `!` negation. */
  principals: string[];
  /** `namespaces="..."`, split (patterns as above); absent: any namespace. */
  namespaces?: string[];
  /** `valid-after` / `valid-before` as epoch milliseconds (UTC). */
  validAfterMs?: number;
  validBeforeMs?: number;
  keyType: string;
  /** The public key blob, standard base64 as written in the file. */
  publicKey: string;
  comment?: string;
}

/** OpenSSH's key type names (a certificate's is the key's with -cert-v01@openssh.com). */
const KEY_TYPES = [
  'ssh-ed25519',
  'ssh-rsa',
  'ssh-dss',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
  'ssh-xmss@openssh.com',
];
const isKeyType = (name: string): boolean => KEY_TYPES.includes(name) || KEY_TYPES.includes(name.replace('-cert-v01@openssh.com', ''));
const OPTION_NAMES = ['cert-authority', 'namespaces', 'valid-after', 'valid-before'];

/** A token up to unquoted whitespace; double quotes group (no escapes inside, as in OpenSSH). */
function token(text: string, from: number): { value: string; next: number } {
  let i = from;
  let quoted = false;
  for (; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') quoted = !quoted;
    else if (!quoted && (ch === ' ' || ch === '\t')) break;
  }
  if (quoted) throw new SshSigError('an unterminated double quote');
  return { value: text.slice(from, i), next: i };
}

const skipBlank = (text: string, i: number): number => {
  while (i < text.length && (text[i] === ' ' || text[i] === '\t')) i++;
  return i;
};

/** Splits on commas outside double quotes. */
function splitOutsideQuotes(text: string): string[] {
  const parts: string[] = [];
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '"') quoted = !quoted;
    else if (text[i] === ',' && !quoted) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

/** `YYYYMMDD[Z]` or `YYYYMMDDHHMM[SS][Z]` with the Z (a local time zone would differ between machines). */
function parseTimestamp(name: string, value: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?)?(Z?)$/.exec(value);
  if (!m) throw new SshSigError(`${name}="${value}": expected YYYYMMDDZ or YYYYMMDDHHMM[SS]Z`);
  if (m[7] !== 'Z') {
    throw new SshSigError(`${name}="${value}": add the Z suffix (UTC); a time in the local time zone means different instants on different machines`);
  }
  const [y, mo, d, h, mi, s] = [m[1], m[2], m[3], m[4] ?? '0', m[5] ?? '0', m[6] ?? '0'].map(Number);
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  const back = new Date(ms);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) {
    throw new SshSigError(`${name}="${value}": not a valid date and time`);
  }
  return ms;
}

function quotedValue(name: string, raw: string): string {
  if (!/^"[^"]*"$/.test(raw))
    throw new SshSigError(`${name}: expected a double-quoted value, e.g. ${name}="${name === 'namespaces' ? 'rearguard' : '20300101Z'}"`);
  return raw.slice(1, -1);
}

type Options = Pick<AllowedSigner, 'namespaces' | 'validAfterMs' | 'validBeforeMs'>;

function parseOptions(text: string): Options {
  const out: Options = {};
  const seen = new Set<string>();
  for (const opt of splitOutsideQuotes(text)) {
    const eq = opt.indexOf('=');
    const name = (eq < 0 ? opt : opt.slice(0, eq)).toLowerCase();
    if (!OPTION_NAMES.includes(name)) {
      throw new SshSigError(
        `unknown option ${JSON.stringify(opt)}: expected namespaces="...", valid-after="...", valid-before="..." (comma-separated, no spaces)`,
      );
    }
    if (seen.has(name)) throw new SshSigError(`option ${name} given twice`);
    seen.add(name);
    if (name === 'cert-authority') {
      throw new SshSigError(
        'cert-authority is not supported: Rearguard verifies plain ssh-ed25519 keys, not SSH certificates; list each signer with their own key',
      );
    }
    if (eq < 0) throw new SshSigError(`${name}: expected ${name}="..."`);
    const value = quotedValue(name, opt.slice(eq + 1));
    if (name === 'namespaces') {
      const list = value.split(',');
      if (list.some((n) => n === '')) throw new SshSigError(`namespaces="${value}": expected a comma-separated list of namespaces`);
      out.namespaces = list;
    } else if (name === 'valid-after') out.validAfterMs = parseTimestamp(name, value);
    else out.validBeforeMs = parseTimestamp(name, value);
  }
  if (out.validAfterMs !== undefined && out.validBeforeMs !== undefined && out.validBeforeMs <= out.validAfterMs) {
    throw new SshSigError('valid-before must be later than valid-after');
  }
  return out;
}

function parseSignerLine(text: string, line: number): AllowedSigner {
  let i = skipBlank(text, 0);
  const p = token(text, i);
  const principalsText = p.value.startsWith('"') && p.value.endsWith('"') && p.value.length >= 2 ? p.value.slice(1, -1) : p.value;
  if (principalsText.includes('"')) throw new SshSigError('principals: a double quote inside the principals field');
  const principals = principalsText.split(',');
  if (principals.some((x) => x === ''))
    throw new SshSigError(`principals "${principalsText}": expected a comma-separated list such as alice@example.com,bob@example.com`);
  i = skipBlank(text, p.next);
  let next = token(text, i);
  let options: Options = {};
  if (next.value && !isKeyType(next.value)) {
    options = parseOptions(next.value);
    i = skipBlank(text, next.next);
    next = token(text, i);
  }
  const keyType = next.value;
  if (!keyType) throw new SshSigError('expected a key type (ssh-ed25519) and a base64 key after the principals');
  if (!isKeyType(keyType)) throw new SshSigError(`expected a key type such as ssh-ed25519, got ${JSON.stringify(keyType)}`);
  i = skipBlank(text, next.next);
  const b64 = token(text, i);
  if (!b64.value) throw new SshSigError(`expected the base64 key after ${keyType}`);
  let blob: Uint8Array;
  try {
    blob = decodeBase64(b64.value);
  } catch (err) {
    throw new SshSigError(`the ${keyType} key: ${(err as Error).message}`);
  }
  const inner = readKeyBlob(blob, `the ${keyType} key`);
  if (inner.keyType !== keyType) throw new SshSigError(`the key says it is ${inner.keyType}, the line says ${keyType}`);
  const comment = text.slice(skipBlank(text, b64.next)).trim();
  return { line, principals, ...options, keyType, publicKey: b64.value, ...(comment ? { comment } : {}) };
}

/**
 * Parses an OpenSSH allowed_signers file: `principals [options] keytype base64 [comment]` per line, `#`
 * comments and blank lines ignored. Options: namespaces="a,b", valid-after="YYYYMMDD[HHMM[SS]]Z",
 * valid-before="..." (case-insensitive names, quoted values, comma-separated without spaces). Refused with a
 * reason: cert-authority (certificates are not supported), timestamps without Z, unknown options. Lines with
 * other key types than ssh-ed25519 are kept (the file may serve other tools too); verification refuses them.
 * Throws one SshSigError listing every bad line as `<source>:<line>: <problem>`.
 */
export function parseAllowedSigners(text: string, source = 'allowed_signers'): AllowedSigner[] {
  const signers: AllowedSigner[] = [];
  const problems: string[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.replace(/\r$/, '');
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    try {
      signers.push(parseSignerLine(line, index + 1));
    } catch (err) {
      if (!(err instanceof SshSigError)) throw err;
      problems.push(`${source}:${index + 1}: ${err.message}`);
    }
  });
  if (problems.length) throw new SshSigError(problems.join('\n'), problems);
  return signers;
}

/** OpenSSH's match_pattern: `*` any run of characters, `?` any one character, case-sensitive. */
export function matchPattern(text: string, pattern: string): boolean {
  let t = 0;
  let p = 0;
  let star = -1;
  let mark = 0;
  while (t < text.length) {
    if (p < pattern.length && (pattern[p] === '?' || pattern[p] === text[t])) {
      t++;
      p++;
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      mark = t;
    } else if (star >= 0) {
      p = star + 1;
      t = ++mark;
    } else return false;
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}

/** OpenSSH's match_pattern_list: true if a pattern matches and no `!pattern` does. */
export function matchPatternList(text: string, patterns: readonly string[]): boolean {
  let positive = false;
  for (const pattern of patterns) {
    const negated = pattern.startsWith('!');
    if (matchPattern(text, negated ? pattern.slice(1) : pattern)) {
      if (negated) return false;
      positive = true;
    }
  }
  return positive;
}

// ---------------------------------------------------------------------------------------------------
// Verification.

export type VerifyFailure =
  | 'bad-input'
  | 'malformed-signature'
  | 'unsupported-key-type'
  | 'unsupported-hash'
  | 'namespace-mismatch'
  | 'bad-signature'
  | 'key-not-listed'
  | 'namespace-not-allowed'
  | 'key-not-yet-valid'
  | 'key-expired';

export type VerifyResult =
  { ok: true; fingerprint: string; /** the allowed_signers line that admitted the key */ line: number } | { ok: false; code: VerifyFailure; reason: string };

export interface VerifyRequest {
  /** The exact text that was signed (its UTF-8 bytes). */
  message: string;
  /** The output of `ssh-keygen -Y sign`. */
  armored: string;
  /** The namespace the signature must carry (`-n`), e.g. "rearguard". */
  namespace: string;
  allowedSigners: readonly AllowedSigner[];
  /** Who claims to have signed: must match a principals pattern of a line listing the signature's key. */
  principal: string;
  /** The time key validity is judged at (default Date.now(), which is workflow time inside a workflow). */
  nowMs?: number;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * Verifies an SSH signature the way `ssh-keygen -Y verify -f allowed_signers -I principal -n namespace`
 * does, for ssh-ed25519 keys: the armor parses, the hash is sha512 or sha256, the namespace is the expected
 * one, the Ed25519 signature (RFC 8032, strict encodings) covers this message, and a line of allowed_signers
 * lists this exact key blob for the principal, permits the namespace, and is valid at `nowMs` (valid-after
 * and valid-before inclusive, to the second, like ssh-keygen). Never throws: failures carry a code and a reason.
 */
export function verifySshSignature(req: VerifyRequest): VerifyResult {
  const fail = (code: VerifyFailure, reason: string): VerifyResult => ({ ok: false, code, reason });
  if (typeof req.message !== 'string') return fail('bad-input', 'the message must be a string');
  if (typeof req.namespace !== 'string' || req.namespace === '') return fail('bad-input', 'the expected namespace must be a non-empty string');
  if (typeof req.principal !== 'string' || req.principal === '')
    return fail('bad-input', 'the principal (who claims to have signed) must be a non-empty string');
  let sig: SshSignature;
  try {
    sig = parseSshSignature(req.armored);
  } catch (err) {
    if (err instanceof SshSigError) return fail('malformed-signature', err.message);
    throw err;
  }
  const fingerprint = sshFingerprint(sig.publicKey);
  if (sig.keyType !== ED25519) {
    return fail(
      'unsupported-key-type',
      `unsupported key type ${sig.keyType} (key ${fingerprint}): Rearguard verifies ssh-ed25519 signatures only (ssh-keygen -t ed25519)`,
    );
  }
  if (sig.signatureType !== ED25519 || sig.signature.length !== 64) {
    return fail(
      'malformed-signature',
      `malformed signature: an ssh-ed25519 key made a "${sig.signatureType}" signature of ${sig.signature.length} bytes (expected ssh-ed25519, 64 bytes)`,
    );
  }
  if (sig.hashAlgorithm !== 'sha512' && sig.hashAlgorithm !== 'sha256') {
    return fail('unsupported-hash', `unsupported hash algorithm "${sig.hashAlgorithm}": expected sha512 or sha256`);
  }
  if (!bytesEqual(sig.namespaceBytes, utf8(req.namespace))) {
    return fail(
      'namespace-mismatch',
      `signature namespace is "${sig.namespace}", expected "${req.namespace}" (sign with ssh-keygen -Y sign -n ${req.namespace})`,
    );
  }
  const data = signedData(sig.namespaceBytes, sig.hashAlgorithm, utf8(req.message));
  const publicKey = readKeyBlob(sig.publicKey, 'the public key').ed25519!;
  let valid = false;
  try {
    valid = ed25519.verify(sig.signature, data, publicKey, { zip215: false });
  } catch {
    valid = false;
  }
  if (!valid) {
    return fail('bad-signature', `bad signature: the signature by key ${fingerprint} does not match this message (changed after signing?)`);
  }
  return authorize(req, sig.publicKey, fingerprint);
}

function authorize(req: VerifyRequest, keyBlob: Uint8Array, fingerprint: string): VerifyResult {
  const nowMs = req.nowMs ?? Date.now();
  const nowSec = Math.floor(nowMs / 1000) * 1000;
  const forPrincipal = req.allowedSigners.filter((s) => matchPatternList(req.principal, s.principals));
  const candidates = forPrincipal.filter((s) => {
    try {
      return bytesEqual(decodeBase64(s.publicKey), keyBlob);
    } catch {
      return false;
    }
  });
  let refusal: VerifyResult | undefined;
  for (const s of candidates) {
    if (s.namespaces && !matchPatternList(req.namespace, s.namespaces)) {
      refusal ??= {
        ok: false,
        code: 'namespace-not-allowed',
        reason: `allowed_signers line ${s.line} permits key ${fingerprint} only for namespaces="${s.namespaces.join(',')}", not "${req.namespace}"`,
      };
    } else if (s.validAfterMs !== undefined && nowSec < s.validAfterMs) {
      refusal ??= {
        ok: false,
        code: 'key-not-yet-valid',
        reason: `key ${fingerprint} of "${req.principal}" is not valid before ${iso(s.validAfterMs)} (valid-after, allowed_signers line ${s.line}); now is ${iso(nowMs)}`,
      };
    } else if (s.validBeforeMs !== undefined && nowSec > s.validBeforeMs) {
      refusal ??= {
        ok: false,
        code: 'key-expired',
        reason: `key ${fingerprint} of "${req.principal}" expired at ${iso(s.validBeforeMs)} (valid-before, allowed_signers line ${s.line}); now is ${iso(nowMs)}`,
      };
    } else return { ok: true, fingerprint, line: s.line };
  }
  if (refusal) return refusal;
  const others = forPrincipal.filter((s) => s.keyType !== ED25519).map((s) => s.keyType);
  const why = !forPrincipal.length
    ? `no line lists principal "${req.principal}"`
    : others.length === forPrincipal.length
      ? `its lines list only ${[...new Set(others)].join(', ')} keys, which Rearguard does not verify (ssh-ed25519 only)`
      : `its ${forPrincipal.length === 1 ? 'line lists another key' : `${forPrincipal.length} lines list other keys`}`;
  return { ok: false, code: 'key-not-listed', reason: `key ${fingerprint} is not listed for principal "${req.principal}" in allowed_signers: ${why}` };
}
