/**
 * Signing secrets: `whsec_` + base64 of 32 random bytes, shown once at creation or rotation and
 * stored AES-256-GCM encrypted (key derived by HKDF from CODE_ENCRYPTION_KEY under a label of its
 * own, so it is never the codes' key; AAD = org + endpoint id, so a ciphertext moved to another row fails).
 */
import { AppError } from "../core/errors";
import type { Env } from "../env";

export const SECRET_KEY_VERSION = 1;
const encoder = new TextEncoder();
const keyCache = new Map<string, Promise<CryptoKey>>();

const b64 = (u8: Uint8Array) => btoa(String.fromCharCode(...u8));
const unb64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

export function newSecret(): string {
  return `whsec_${b64(crypto.getRandomValues(new Uint8Array(32)))}`;
}

function secretKey(env: Env): Promise<CryptoKey> {
  const master = env.CODE_ENCRYPTION_KEY;
  if (!master) throw new AppError("internal_error", "CODE_ENCRYPTION_KEY is not configured");
  let key = keyCache.get(master);
  if (!key) {
    key = (async () => {
      const raw = await crypto.subtle.importKey("raw", unb64(master), "HKDF", false, ["deriveKey"]);
      const info = encoder.encode(`rewardrail/webhook-secret/v${SECRET_KEY_VERSION}`);
      return crypto.subtle.deriveKey({ name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info }, raw, { name: "AES-GCM", length: 256 }, false, [
        "encrypt",
        "decrypt",
      ]);
    })();
    keyCache.set(master, key);
    key.catch(() => keyCache.delete(master));
  }
  return key;
}

const aad = (org: string, endpointId: string) => encoder.encode(`${org}\n${endpointId}`);

export async function sealSecret(env: Env, org: string, endpointId: string, secret: string): Promise<{ ciphertext: string; iv: string }> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ct = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: aad(org, endpointId) }, await secretKey(env), encoder.encode(secret));
  return { ciphertext: b64(new Uint8Array(ct)), iv: b64(iv) };
}

export async function openSecret(env: Env, org: string, endpointId: string, sealed: { ciphertext: string; iv: string }): Promise<string> {
  const plain = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: unb64(sealed.iv), additionalData: aad(org, endpointId) },
    await secretKey(env),
    unb64(sealed.ciphertext),
  );
  return new TextDecoder().decode(plain);
}
