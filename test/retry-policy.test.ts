import { describe, expect, it } from "vitest";
import wranglerToml from "../wrangler.toml?raw";
import { backoffSeconds, classifyStatus, DEAD_LETTER_QUEUE, DELIVERY_QUEUE, MAX_RETRIES } from "../src/delivery/retry-policy";
import { CONSUMERS } from "../src/queues/consumers";
import { QUEUES } from "../src/queues/messages";

/** The `[[queues.consumers]]` and `[[queues.producers]]` tables of wrangler.toml, as flat key → value maps. */
function queueTables(kind: "consumers" | "producers"): Record<string, string | number>[] {
  return wranglerToml
    .split(/^\[/m)
    .filter((section) => section.startsWith(`[queues.${kind}]]`))
    .map((section) => {
      const table: Record<string, string | number> = {};
      for (const line of section.split("\n").slice(1)) {
        const m = /^\s*(\w+)\s*=\s*(?:"([^"]*)"|(\d+))\s*(?:#.*)?$/.exec(line);
        if (m) table[m[1]!] = m[2] ?? Number(m[3]);
      }
      return table;
    });
}

describe("delivery retry policy", () => {
  it("states the deliveries consumer's max_retries and dead-letter queue as wrangler.toml sets them", () => {
    const deliveries = queueTables("consumers").find((c) => c.queue === DELIVERY_QUEUE);
    expect(deliveries).toBeDefined();
    expect(deliveries!.max_retries).toBe(MAX_RETRIES);
    expect(deliveries!.dead_letter_queue).toBe(DEAD_LETTER_QUEUE);
  });

  it("has a consumer in src/queues for every queue wrangler.toml consumes, and a producer binding for every queue it names", () => {
    const consumed = queueTables("consumers").map((c) => c.queue);
    expect(consumed.sort()).toEqual(Object.keys(CONSUMERS).sort());
    expect(consumed.sort()).toEqual(Object.values(QUEUES).sort());
    expect(Object.fromEntries(queueTables("producers").map((p) => [p.binding, p.queue]))).toEqual({
      DELIVERY_QUEUE: QUEUES.deliveries,
      RECONCILE_QUEUE: QUEUES.reconciliations,
      SCHEDULE_QUEUE: QUEUES.schedules,
      WEBHOOK_QUEUE: QUEUES.webhooks,
      WEBHOOK_SLOW_QUEUE: QUEUES.webhooksSlow,
    });
  });

  it("classifies provider answers: transient retried, data failed, policy held", () => {
    for (const status of [null, 408, 429, 500, 503]) expect(classifyStatus(status)).toBe("transient");
    for (const status of [400, 404, 422]) expect(classifyStatus(status)).toBe("data");
    for (const status of [401, 403]) expect(classifyStatus(status)).toBe("policy");
  });

  it("backs off exponentially from 5 s and never beyond 10 minutes", () => {
    expect([1, 2, 3, 4, 8, 20].map(backoffSeconds)).toEqual([5, 10, 20, 40, 600, 600]);
    expect(backoffSeconds(0)).toBe(5);
  });
});
