/** GET /v1/batches/{id}/recipients: a JSON page, or the CSV export of every selected row. */
import { decodeCursor, encodeCursor } from "../core/pagination";
import { requireBatch } from "./batches.service";
import { recipientRows, recipientsCsv, recipientView } from "./recipients.list";
import type { RecipientStatus } from "./recipients.validate";

export async function recipientPage(
  d1: D1Database,
  org: string,
  batchId: string,
  q: { status?: RecipientStatus; limit: number; cursor?: string },
  csv: boolean,
) {
  const batch = await requireBatch(d1, org, batchId);
  if (csv) return { csv: recipientsCsv(d1, batch.id, q.status), filename: `${batch.id}-${q.status ?? "all"}.csv` };
  const afterRow = q.cursor ? Number(decodeCursor(q.cursor, "row")) : 0;
  const rows = await recipientRows(d1, batch.id, { status: q.status, afterRow, limit: q.limit + 1 });
  const page = rows.slice(0, q.limit);
  return { page: { data: page.map(recipientView), next_cursor: rows.length > q.limit ? encodeCursor("row", page.at(-1)!.row_no) : null } };
}
