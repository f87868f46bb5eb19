/**
 * Attempt ids name their message: `wha_` + the attempt's time (10 characters, as in every id) + the
 * message id without its `whd_` prefix. Attempts are keyed by (message_id, id) (a WITHOUT ROWID
 * table, no other index), so `POST /v1/webhook-deliveries/wha_…/retry` finds its attempt by the whole
 * key, and an attempt costs no random bytes. One message has at most one attempt at a time (its lease,
 * src/webhooks/send.ts), so the time keeps two attempts of one message apart.
 */
import { ID_ALPHABET } from "../core/ids";

const TIME_CHARS = 10;

/** The id's time part, as newId writes it (milliseconds, Crockford base32), without newId's random bytes. */
function timePart(ms: number): string {
  let time = "";
  for (let i = 0, t = ms; i < TIME_CHARS; i++, t = Math.floor(t / 32)) time = ID_ALPHABET[t % 32] + time;
  return time;
}

export function attemptId(messageId: string, at: Date): string {
  return `wha_${timePart(at.getTime())}${messageId.slice("whd_".length)}`;
}

/** The message an attempt id names, or null when it is not one of ours. */
export function messageOfAttempt(id: string): string | null {
  if (!id.startsWith("wha_") || id.length <= 4 + TIME_CHARS) return null;
  return `whd_${id.slice(4 + TIME_CHARS)}`;
}
