import { env } from "cloudflare:workers";
import { newId } from "../../src/core/ids";
import { insertMessages } from "../../src/webhooks/dispatch";
import { outboxRows, outboxStatement } from "../../src/webhooks/outbox";

/** One outbox event of `entityId` (a batch), written as the change's batch would, not dispatched yet. */
export async function outboxEvent(org: string, entityId = `bat_${crypto.randomUUID().slice(0, 8)}`, action = "batch.approved") {
  const rows = outboxRows([{ actor: "t", action, entityType: "batch", entityId, after: { status: action.split(".")[1] } }], new Date().toISOString());
  await outboxStatement(env.DB, org, rows)!.run();
  return (await env.DB.prepare("SELECT seq, id FROM webhook_events WHERE id = ?").bind(rows[0]!.id).first<{ seq: number; id: string }>())!;
}

/**
 * An event of `entityId` and its message to `endpointId`, written directly (no queue, due since 2000),
 * for sends a test drives itself. Returns the message id.
 */
export async function dueMessage(org: string, endpointId: string, entityId = `bat_${crypto.randomUUID().slice(0, 8)}`, action = "batch.approved") {
  const ev = await outboxEvent(org, entityId, action);
  // Time-ordered like the fan-out's ids: recover reads a message from its id's time on.
  const id = newId("whd");
  await insertMessages(
    env.DB,
    org,
    [{ id, endpoint_id: endpointId, event_id: ev.id, event_seq: ev.seq, entity_id: entityId }],
    "2000-01-01T00:00:00.000Z",
  ).run();
  return id;
}
