/** Crockford base32, lower case: the characters of every id. */
export const ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";

/**
 * Prefixed, time-ordered ids (`pool_…`, `bat_…`): 10 chars of millisecond time then 16 random chars,
 * so ids sort by creation and can serve as pagination cursors.
 */
export function newId(prefix: string, at = Date.now()): string {
  let time = "";
  let t = at;
  for (let i = 0; i < 10; i++) {
    time = ID_ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const rnd = crypto.getRandomValues(new Uint8Array(16));
  let tail = "";
  for (const b of rnd) tail += ID_ALPHABET[b % 32];
  return `${prefix}_${time}${tail}`;
}
