/**
 * Expiry of cards nobody touches. A card's Durable Object expires its own buckets and holds (its
 * alarm, and before every operation), but a card that was issued and never used has no Durable
 * Object yet. This cron job finds active cards past their expiry through the partial index
 * `cards_due` (no scan: expired and reversed cards leave the index) and asks each card's DO to
 * expire; the DO's mirror write then takes the card out of the index. Bounded per run, and safe
 * to repeat: expiry is state-guarded in the DO, so a card is expired exactly once.
 */
import type { Env } from "../env";
import { cardStub, seedOf, type CardRow } from "./cards.store";

const PAGE = 200;
const MAX_PAGES = 5;
const PARALLEL = 20;

type DueRow = Pick<CardRow, "id" | "org" | "currency" | "initial_amount" | "expires_at" | "created_at" | "status">;

export async function expireDueCards(env: Env, now: Date): Promise<{ expired: number; failed: number }> {
  let expired = 0;
  let failed = 0;
  let after = "";
  for (let page = 0; page < MAX_PAGES; page++) {
    const { results } = await env.DB.prepare(
      `SELECT id, org, currency, initial_amount, expires_at, created_at, status FROM cards
       WHERE status IN ('active', 'frozen', 'exhausted') AND expires_at IS NOT NULL AND expires_at <= ?1 AND expires_at >= ?2
       ORDER BY expires_at LIMIT ${PAGE}`,
    )
      .bind(now.toISOString(), after)
      .all<DueRow>();
    for (let i = 0; i < results.length; i += PARALLEL) {
      const settled = await Promise.allSettled(results.slice(i, i + PARALLEL).map((row) => cardStub(env, row.id).expire(seedOf(row))));
      for (const s of settled) {
        if (s.status === "fulfilled") expired++;
        else {
          failed++;
          console.error(JSON.stringify({ job: "cards.expire", error: String(s.reason) }));
        }
      }
    }
    if (results.length < PAGE) break;
    // Rows whose mirror write failed stay in the index; the next page starts after this one's last expiry.
    after = results.at(-1)!.expires_at!;
  }
  return { expired, failed };
}
