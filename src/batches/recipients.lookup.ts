/**
 * What D1 knows about a set of identity keys, in one round trip: keys already used by rows of
 * this batch (earlier uploads; the upload's own rows are tracked in memory), suppressed keys, and
 * keys paid by another of the org's batches that was released within the prior-payout window.
 * Each lookup runs only when it can find something (see `orgFacts`).
 */
import { batchRef } from "../db/batch-ref";
import { emptyKeySets, type CheckedRecipient, type KeyFacts, type KeySets, type ValidationContext } from "./recipients.validate";

/** Batches whose recipients count as paid: released to delivery or beyond. */
export const PAID_STATUSES = ["releasing", "delivering", "completed", "completed_with_errors"] as const;

export interface OrgFacts {
  /** False when the org has no suppressions at all. */
  orgHasSuppressions: boolean;
  /** False when no other batch of the org was released within the prior-payout window. */
  orgHasRecentPayouts: boolean;
}

export interface LookupOptions extends OrgFacts {
  /** False when the batch had no rows before this upload (the upload tracks its own keys in memory). */
  batchHasRows: boolean;
}

const paidSince = (ctx: ValidationContext) => new Date(Date.now() - ctx.priorPayoutWindowDays * 86_400_000).toISOString();
const PAID_IN = `(${PAID_STATUSES.map((s) => `'${s}'`).join(", ")})`;

/** What the org's data says about which lookups an upload needs at all, read once per upload. */
export async function orgFacts(d1: D1Database, ctx: ValidationContext): Promise<OrgFacts> {
  const [suppression, paid] = await d1.batch<{ one: number }>([
    d1.prepare("SELECT 1 AS one FROM suppressions WHERE org = ? LIMIT 1").bind(ctx.org),
    d1
      .prepare(`SELECT 1 AS one FROM batches WHERE org = ?1 AND id <> ?2 AND status IN ${PAID_IN} AND released_at >= ?3 LIMIT 1`)
      .bind(ctx.org, ctx.batchId, paidSince(ctx)),
  ]);
  return { orgHasSuppressions: suppression!.results.length > 0, orgHasRecentPayouts: ctx.priorPayoutWindowDays > 0 && paid!.results.length > 0 };
}

export async function lookupKeyFacts(d1: D1Database, ctx: ValidationContext, rows: CheckedRecipient[], opts: LookupOptions): Promise<KeyFacts> {
  const facts: KeyFacts = { inBatch: emptyKeySets(), suppressed: emptyKeySets(), paidRecently: emptyKeySets() };
  if (!(opts.batchHasRows || opts.orgHasSuppressions || opts.orgHasRecentPayouts)) return facts;
  // Plain arrays, not Sets: a key repeated within the chunk is merely looked up twice, while
  // building three Sets per chunk showed up in profiles.
  const emailKeys: string[] = [];
  const phoneKeys: string[] = [];
  const externalIds: string[] = [];
  for (const r of rows) {
    if (r.status === "invalid") continue;
    if (r.emailKey) emailKeys.push(r.emailKey);
    if (r.phoneKey) phoneKeys.push(r.phoneKey);
    if (r.externalId) externalIds.push(r.externalId);
  }
  if (emailKeys.length + phoneKeys.length + externalIds.length === 0) return facts;
  const emails = JSON.stringify(emailKeys);
  const phones = JSON.stringify(phoneKeys);
  const externals = JSON.stringify(externalIds);
  const statements: [keyof KeyFacts, keyof KeySets, D1PreparedStatement][] = [];
  if (opts.batchHasRows) {
    const inBatch = (col: string, json: string) =>
      d1
        .prepare(
          `SELECT j.value AS k FROM json_each(?2) j
           WHERE EXISTS (SELECT 1 FROM batch_recipients WHERE ${col} = j.value AND batch_ref = ${batchRef("?1")} AND status <> 'invalid')`,
        )
        .bind(ctx.batchId, json);
    statements.push(
      ["inBatch", "email", inBatch("email_key", emails)],
      ["inBatch", "phone", inBatch("phone_key", phones)],
      ["inBatch", "external", inBatch("external_id", externals)],
    );
  }
  if (opts.orgHasSuppressions) {
    const suppressed = (kind: string, json: string) =>
      d1.prepare(`SELECT value AS k FROM suppressions WHERE org = ?1 AND kind = ?2 AND value IN (SELECT value FROM json_each(?3))`).bind(ctx.org, kind, json);
    statements.push(["suppressed", "email", suppressed("email", emails)], ["suppressed", "phone", suppressed("phone", phones)]);
  }
  if (opts.orgHasRecentPayouts) {
    const since = paidSince(ctx);
    const paid = (col: string, json: string) =>
      d1
        .prepare(
          `SELECT j.value AS k FROM json_each(?2) j WHERE EXISTS (
             SELECT 1 FROM batch_recipients r JOIN batches b ON b.id = r.batch_id
             WHERE r.${col} = j.value AND r.status = 'valid' AND b.org = ?1 AND b.id <> ?3
               AND b.status IN ${PAID_IN} AND b.released_at >= ?4)`,
        )
        .bind(ctx.org, json, ctx.batchId, since);
    statements.push(["paidRecently", "email", paid("email_key", emails)], ["paidRecently", "phone", paid("phone_key", phones)]);
  }
  const results = await d1.batch<{ k: string }>(statements.map(([, , s]) => s));
  statements.forEach(([fact, kind], i) => {
    for (const { k } of results[i]!.results) facts[fact][kind].add(k);
  });
  return facts;
}
