/**
 * Inventory codes at rest. AES-256-GCM with a random 96-bit IV per code and AAD = org + code id,
 * so a ciphertext copied onto another row (or org) fails to decrypt. An HMAC-SHA-256 of org + code
 * finds duplicates without storing the code. Both keys are derived (HKDF) from the secret
 * CODE_ENCRYPTION_KEY, so neither key is ever used for the other purpose.
 */
import { AppError } from "../core/errors";
import { toHex } from "../core/crypto";
import type { Env } from "../env";

/** Stored with every ciphertext; a key rotation adds version 2 and re-encrypts in the background. */
export const CODE_KEY_VERSION = 1;

export interface SealedCode {
  ciphertext: string;
  iv: string;
  keyVersion: number;
}

interface CodeKeys {
  aes: CryptoKey;
  hmac: CryptoKey;
}

const encoder = new TextEncoder();
const keyCache = new Map<string, Promise<CodeKeys>>();

function fromBase64(b64: string): Uint8Array {
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

function toBase64(bytes: ArrayBuffer | Uint8Array): string {
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let s = "";
  for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode(...u8.subarray(i, i + 0x8000));
  return btoa(s);
}

async function deriveKeys(secret: string): Promise<CodeKeys> {
  const raw = fromBase64(secret);
  if (raw.length !== 32) throw new AppError("internal_error", "CODE_ENCRYPTION_KEY must be 32 bytes, base64");
  const master = await crypto.subtle.importKey("raw", raw, "HKDF", false, ["deriveKey"]);
  const hkdf = (info: string) => ({ name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: encoder.encode(info) });
  const aes = await crypto.subtle.deriveKey(hkdf(`rewardrail/code-aes/v${CODE_KEY_VERSION}`), master, { name: "AES-GCM", length: 256 }, false, [
    "encrypt",
    "decrypt",
  ]);
  const hmac = await crypto.subtle.deriveKey(hkdf("rewardrail/code-hmac"), master, { name: "HMAC", hash: "SHA-256", length: 256 }, false, ["sign"]);
  return { aes, hmac };
}

function codeKeys(env: Env): Promise<CodeKeys> {
  const secret = env.CODE_ENCRYPTION_KEY;
  if (!secret) throw new AppError("internal_error", "CODE_ENCRYPTION_KEY is not configured");
  let keys = keyCache.get(secret);
  if (!keys) {
    keys = deriveKeys(secret);
    keyCache.set(secret, keys);
    keys.catch(() => keyCache.delete(secret));
  }
  return keys;
}

const aad = (org: string, codeId: string) => encoder.encode(`${org}\n${codeId}`);

export async function encryptCode(env: Env, org: string, codeId: string, code: string): Promise<SealedCode> {
  const { aes } = await codeKeys(env);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ct = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: aad(org, codeId) }, aes, encoder.encode(code));
  return { ciphertext: toBase64(ct), iv: toBase64(iv), keyVersion: CODE_KEY_VERSION };
}

/** The plain code; throws when the ciphertext does not belong to this org and code id. */
export async function decryptCode(env: Env, org: string, codeId: string, sealed: SealedCode): Promise<string> {
  if (sealed.keyVersion !== CODE_KEY_VERSION) throw new AppError("internal_error", `No key for code key version ${sealed.keyVersion}`);
  const { aes } = await codeKeys(env);
  const plain = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: fromBase64(sealed.iv), additionalData: aad(org, codeId) },
    aes,
    fromBase64(sealed.ciphertext),
  );
  return new TextDecoder().decode(plain);
}

/** Keyed fingerprint of a code within an org: equal codes give equal HMACs, nothing else leaks. */
export async function codeHmac(env: Env, org: string, code: string): Promise<string> {
  const { hmac } = await codeKeys(env);
  return toHex(await crypto.subtle.sign("HMAC", hmac, encoder.encode(`${org}\n${code}`)));
}

/** For display: never more than the last four characters. */
export function maskCode(code: string): string {
  return code.length <= 4 ? "••••" : `••••${code.slice(-4)}`;
}
