/**
 * GET /v1/reports/liability: what stored-value cards still owe, from the cards' D1 mirror, by
 * currency, product, pool, batch and campaign (a campaign's id for its rewards, a batch's campaign label otherwise), with each card's whole story:
 * issued + credited = redeemed + pending + available + expired + reversed. Outstanding (the
 * liability) is available + pending. Expired value is breakage: it stays spent from its pool and
 * is never owed again. Ageing splits outstanding value by the card's age. A card replaced by a
 * reissue before its ledger began (`void`, never touched) owes nothing and is left out.
 */
import { csvCell } from "../batches/recipients.list";
import { cardIdSql } from "../delivery/rewards";

const DIMENSIONS = {
  currency: "'all'",
  product: "c.product_id",
  pool: "d.pool_id",
  batch: "d.batch_id",
  campaign: "COALESCE(d.campaign_id, b.campaign)",
} as const;
export const AGEING = [
  { bucket: "0-30d", max: 30 },
  { bucket: "31-90d", max: 90 },
  { bucket: "91-180d", max: 180 },
  { bucket: "181-365d", max: 365 },
  { bucket: "over-365d", max: null },
] as const;

export interface LiabilityLine {
  key: string | null;
  currency: string;
  cards: number;
  issued: number;
  credited: number;
  redeemed: number;
  pending: number;
  available: number;
  expired: number;
  reversed: number;
  outstanding: number;
}
export type LiabilityReport = {
  as_of: string;
  by_currency: LiabilityLine[];
  by_product: LiabilityLine[];
  by_pool: LiabilityLine[];
  by_batch: LiabilityLine[];
  by_campaign: LiabilityLine[];
  ageing: { bucket: string; currency: string; cards: number; outstanding: number }[];
};

// From the org's deliveries (index deliveries(org, id)) to their cards: cards have no org index of their own.
const FROM = `FROM deliveries d JOIN cards c ON c.id = ${cardIdSql("d.id")} LEFT JOIN batches b ON b.id = d.batch_id
  WHERE d.org = ?1 AND d.card_id IS NOT NULL AND NOT (c.status = 'void' AND c.txn_seq = 0)`;

export async function liabilityReport(d1: D1Database, org: string, now = new Date()): Promise<LiabilityReport> {
  const line = (key: string) =>
    d1
      .prepare(
        `SELECT ${key} AS key, c.currency, COUNT(*) AS cards, SUM(c.initial_amount) AS issued, SUM(c.credited) AS credited, SUM(c.redeemed) AS redeemed,
              SUM(c.pending) AS pending, SUM(c.available) AS available, SUM(c.expired) AS expired, SUM(c.reversed) AS reversed,
              SUM(c.available + c.pending) AS outstanding
       ${FROM} GROUP BY 1, 2 ORDER BY 1, 2`,
      )
      .bind(org);
  const ageCase = `CASE ${AGEING.filter((a) => a.max !== null)
    .map((a) => `WHEN julianday(?2) - julianday(c.created_at) <= ${a.max} THEN '${a.bucket}'`)
    .join(" ")} ELSE 'over-365d' END`;
  const results = await d1.batch<Record<string, unknown>>([
    ...Object.values(DIMENSIONS).map(line),
    d1
      .prepare(
        `SELECT ${ageCase} AS bucket, c.currency, COUNT(*) AS cards, SUM(c.available + c.pending) AS outstanding ${FROM} AND c.available + c.pending > 0 GROUP BY 1, 2`,
      )
      .bind(org, now.toISOString()),
  ]);
  const lines = (i: number) => results[i]!.results as unknown as LiabilityLine[];
  const order = new Map<string, number>(AGEING.map((a, i) => [a.bucket, i]));
  const ageing = (results[5]!.results as unknown as LiabilityReport["ageing"]).sort(
    (a, b) => order.get(a.bucket)! - order.get(b.bucket)! || a.currency.localeCompare(b.currency),
  );
  return {
    as_of: now.toISOString(),
    by_currency: lines(0).map(({ key: _k, ...rest }) => ({ key: null, ...rest })),
    by_product: lines(1),
    by_pool: lines(2),
    by_batch: lines(3),
    by_campaign: lines(4),
    ageing,
  };
}

export const LIABILITY_CSV_HEADER = "dimension,key,currency,cards,issued,credited,redeemed,pending,available,expired,reversed,outstanding";

/** One line per dimension and key, then the ageing lines (only cards and outstanding); formula-safe cells. */
export function liabilityCsv(r: LiabilityReport): string {
  const out = [LIABILITY_CSV_HEADER];
  const dims: [string, LiabilityLine[]][] = [
    ["currency", r.by_currency],
    ["product", r.by_product],
    ["pool", r.by_pool],
    ["batch", r.by_batch],
    ["campaign", r.by_campaign],
  ];
  for (const [dim, rows] of dims) {
    for (const l of rows) {
      out.push(
        [
          dim,
          l.key ?? (dim === "currency" ? "all" : ""),
          l.currency,
          l.cards,
          l.issued,
          l.credited,
          l.redeemed,
          l.pending,
          l.available,
          l.expired,
          l.reversed,
          l.outstanding,
        ]
          .map((v) => csvCell(v === null ? "" : String(v)))
          .join(","),
      );
    }
  }
  for (const a of r.ageing)
    out.push(["ageing", a.bucket, a.currency, a.cards, "", "", "", "", "", "", "", a.outstanding].map((v) => csvCell(String(v))).join(","));
  return `${out.join("\r\n")}\r\n`;
}
