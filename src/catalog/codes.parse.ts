/** Turns a CSV (header `code,amount`) or JSON upload of inventory codes into batches of RawCode. */
import { readCsv } from "../core/csv-stream";
import { AppError } from "../core/errors";
import type { RawCode } from "./codes.service";

export async function* csvCodes(body: ReadableStream<Uint8Array> | null, maxBytes: number): AsyncGenerator<RawCode[]> {
  let columns: { code: number; amount: number } | undefined;
  let dataRow = 0;
  for await (const batch of readCsv(body, { maxBytes, batchRows: 2000 })) {
    let rows = batch.rows;
    if (!columns) {
      const header = (rows[0] ?? []).map((h) => h.trim().toLowerCase());
      const code = header.indexOf("code");
      const amount = header.indexOf("amount");
      if (code === -1 || amount === -1) {
        throw new AppError("invalid_csv", "The first line must be a header with the columns code and amount");
      }
      columns = { code, amount };
      rows = rows.slice(1);
    }
    const { code, amount } = columns;
    yield rows.map((r) => ({ code: r[code], amount: r[amount], at: `/rows/${++dataRow}` }));
  }
  if (!columns) throw new AppError("invalid_csv", "The CSV file is empty; send a header line code,amount and one code per line");
}

export async function* jsonCodes(codes: { code: string; amount: number }[]): AsyncGenerator<RawCode[]> {
  for (let i = 0; i < codes.length; i += 2000) {
    yield codes.slice(i, i + 2000).map((c, j) => ({ code: c.code, amount: c.amount, at: `/codes/${i + j}` }));
  }
}
