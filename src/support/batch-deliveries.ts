/** GET /v1/batches/{id}/deliveries: a JSON page, or every selected delivery as a streamed CSV export. */
import { requireBatch } from "../batches/batches.service";
import { csvCell } from "../batches/recipients.list";
import { deliveryPage, deliveryRows, type DeliveryFilter } from "./deliveries.query";
import type { DeliveryStatus } from "./delivery-store";
import { CSV_COLUMNS, csvValues, deliveryView } from "./delivery-views";

const CSV_PAGE = 2000;

export async function batchDeliveries(
  d1: D1Database,
  org: string,
  batchId: string,
  q: { status?: DeliveryStatus; limit: number; cursor?: string },
  csv: boolean,
) {
  const batch = await requireBatch(d1, org, batchId);
  const filter: DeliveryFilter = { batch_id: batch.id, status: q.status };
  if (csv) return { csv: deliveriesCsv(d1, org, filter), filename: `${batch.id}-deliveries-${q.status ?? "all"}.csv` };
  const page = await deliveryPage(d1, org, filter, q.limit, q.cursor);
  return { page: { data: page.rows.map(deliveryView), next_cursor: page.next_cursor } };
}

/** Pages through D1 as the client reads; cells are neutralised against formula injection. */
function deliveriesCsv(d1: D1Database, org: string, filter: DeliveryFilter): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let before: string | undefined;
  let headerSent = false;
  let done = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!headerSent) {
        headerSent = true;
        controller.enqueue(encoder.encode(`${CSV_COLUMNS.join(",")}\r\n`));
        return;
      }
      if (done) return controller.close();
      const rows = await deliveryRows(d1, org, filter, CSV_PAGE, before);
      if (rows.length < CSV_PAGE) done = true;
      if (rows.length === 0) return controller.close();
      before = rows.at(-1)!.id;
      controller.enqueue(encoder.encode(rows.map((r) => `${csvValues(r).map(csvCell).join(",")}\r\n`).join("")));
    },
  });
}
