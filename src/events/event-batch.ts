/**
 * POST /v1/events/batch answers per event (API.md: "up to 1,000 → per-event answers"): each event
 * of the body is checked on its own, the valid ones are received together (profiles touched,
 * evaluated: src/customers/event-profiles.ts), and an invalid one answers
 * `{ id?, error: { code: "validation_failed", detail, errors: [{ pointer: "/events/3/…" }] } }` in
 * its place, the shape of the batch's other per-event errors (`conflict`). Only a body that is not
 * `{ events: [...] }` of 1 to 1,000 items is refused whole (the route's schema).
 */
import type { FieldError } from "../core/errors";
import { fieldErrors } from "../core/router";
import { receiveEvents } from "../customers/event-profiles";
import type { Auth, Env } from "../env";
import { EventInput } from "../routes/events/events.schemas";
import type { EventInput as EventInputType } from "./events.service";

export type BatchError = { id?: string; error: { code: string; detail: string; errors?: FieldError[] } };

/** One event of a batch as given: its id when it has a usable one (to find it in the answer), and its problems. */
function invalid(raw: unknown, index: number, errors: FieldError[]): BatchError {
  const id = typeof raw === "object" && raw !== null && "id" in raw && typeof raw.id === "string" && raw.id.length <= 200 ? raw.id : undefined;
  return {
    ...(id !== undefined ? { id } : {}),
    error: { code: "validation_failed", detail: `Event ${index} is not valid: ${errors.map((e) => `${e.pointer}: ${e.detail}`).join("; ")}`, errors },
  };
}

export async function receiveEventBatch(env: Env, auth: Auth, raws: unknown[], requestId?: string) {
  const answers: (Awaited<ReturnType<typeof receiveEvents>>["data"][number] | BatchError | undefined)[] = new Array(raws.length);
  const valid: { index: number; event: EventInputType }[] = [];
  raws.forEach((raw, index) => {
    const parsed = EventInput.safeParse(raw);
    if (parsed.success) valid.push({ index, event: parsed.data });
    else
      answers[index] = invalid(
        raw,
        index,
        fieldErrors("json", parsed.error).map((e) => ({ ...e, pointer: `/events/${index}${e.pointer ?? ""}` })),
      );
  });
  if (valid.length > 0) {
    const { data } = await receiveEvents(
      env,
      auth,
      valid.map((v) => v.event),
      requestId,
    );
    valid.forEach((v, i) => {
      answers[v.index] = data[i];
    });
  }
  return { data: answers.map((a) => a!) };
}
