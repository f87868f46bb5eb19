/**
 * Queue message bodies of the deliveries queue. Ids only: never codes, emails or names
 * (DESIGN.md "Delivery"). The same zod schema validates what is sent and what is received.
 */
import { z } from "zod";

export const ReleaseMessage = z.strictObject({ type: z.literal("release"), org: z.string(), batchId: z.string() });
export const ChunkMessage = z.strictObject({
  type: z.literal("chunk"),
  org: z.string(),
  batchId: z.string(),
  /** Recipients with id greater than this (exclusive), up to `size` of them. */
  after: z.string(),
  size: z.number().int().positive(),
});
export const DeliverMessage = z.strictObject({ type: z.literal("deliver"), org: z.string(), batchId: z.string(), deliveryId: z.string() });

export const QueueMessage = z.discriminatedUnion("type", [ReleaseMessage, ChunkMessage, DeliverMessage]);
export type QueueMessage = z.infer<typeof QueueMessage>;
