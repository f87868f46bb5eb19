// The D1 migrations under SQLite's strict reading of double quotes (node:sqlite builds SQLite without
// the legacy "double-quoted string literal" fallback): D1 would silently turn a misspelt or missing
// "column" into the text 'column', which is how 0019 once wrote 'campaign_id' into every existing
// delivery. Also an upgrade with data: a batch delivery written before 0019 keeps no campaign.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { describe, expect, it } from "vitest";

const dir = path.join(import.meta.dirname, "../../migrations");
const files = readdirSync(dir)
  .filter((f) => f.endsWith(".sql"))
  .sort();

function apply(db: DatabaseSync, file: string) {
  for (const statement of readFileSync(path.join(dir, file), "utf8").split("--> statement-breakpoint")) {
    if (statement.trim()) db.exec(statement);
  }
}

describe("D1 migrations", () => {
  it("apply in order with every double-quoted name a real column", () => {
    const db = new DatabaseSync(":memory:");
    for (const file of files) expect(() => apply(db, file), file).not.toThrow();
  });

  it("keep a batch delivery written before the campaigns migration free of a campaign", () => {
    const db = new DatabaseSync(":memory:");
    const campaigns = files.findIndex((f) => f.includes("_campaigns"));
    for (const file of files.slice(0, campaigns)) apply(db, file);
    const columns = (db.prepare("PRAGMA table_info(deliveries)").all() as { name: string; notnull: number; dflt_value: unknown }[]).filter(
      (c) => c.notnull && c.dflt_value === null,
    );
    const values = columns.map((c) => (c.name === "amount" || c.name === "attempts" || c.name === "committed" ? 1 : `x-${c.name}`));
    db.prepare(`INSERT INTO deliveries (${columns.map((c) => c.name).join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`).run(...values);
    for (const file of files.slice(campaigns)) apply(db, file);
    const row = db.prepare("SELECT batch_id, campaign_id, event_id FROM deliveries").get();
    expect(row).toEqual({ batch_id: "x-batch_id", campaign_id: null, event_id: null });

    // A database that applied 0019 before its fix holds the literal text; the repair clears it.
    db.exec("UPDATE deliveries SET campaign_id = 'campaign_id', event_id = 'event_id'");
    apply(db, files.find((f) => f.includes("_delivery_sources_fix")) ?? "missing repair migration");
    expect(db.prepare("SELECT campaign_id, event_id FROM deliveries").get()).toEqual({ campaign_id: null, event_id: null });
  });
});
