/**
 * Events keep profiles current. Before the events of a request are evaluated, their customers are
 * applied to the stored profiles as touches (customer-store.ts `touchStatement`: given fields
 * update, attributes merge, `last_seen_at` only moves forward, and an event that arrives late never
 * moves it back and only fills gaps), in one pass and one upsert statement for the whole request. Each event is then evaluated with its customer
 * as the profile now stands: a rule sees `customer.attributes` from the CRM merged with the event's
 * own, and a reward can reach the stored email when the event names only the external id.
 * Segment entries the touches cause are evaluated after the events (segment-entries.ts).
 */
import type { Auth, Env } from "../env";
import { ingestEvent, ingestEvents, type EventInput } from "../events/events.service";
import type { CustomerInput } from "../events/customer";
import { isStorableAttribute } from "./customer-validate";
import { applyProfileChanges, type ProfileChange } from "./profile-changes";
import { fireEntries } from "./segment-entries";

/** The touch an event's customer makes: the attributes a profile can hold (nulls remove a key). */
function touchOf(input: EventInput): ProfileChange {
  const c = input.customer;
  const attributes = Object.fromEntries(Object.entries(c.attributes ?? {}).filter(([k, v]) => isStorableAttribute(k, v)));
  return {
    kind: "touch",
    profile: { external_id: c.external_id, email: c.email, phone: c.phone, name: c.name, country: c.country, attributes },
    seenAt: new Date(input.occurred_at).toISOString(),
  };
}

/** The events with their customers as the stored profiles now stand (the event's own attributes on top). */
async function touchCustomers(env: Env, org: string, inputs: EventInput[]) {
  const { results, entries } = await applyProfileChanges(env, org, inputs.map(touchOf));
  const merged = inputs.map((input, i): EventInput => {
    const row = results[i]!.row;
    const own = Object.fromEntries(Object.entries(input.customer.attributes ?? {}).filter(([, v]) => v !== null));
    const customer: CustomerInput = {
      external_id: row.external_id,
      ...(row.email ? { email: input.customer.email && row.email === input.customer.email.trim() ? input.customer.email : row.email } : {}),
      ...(row.phone ? { phone: row.phone } : input.customer.phone ? { phone: input.customer.phone } : {}),
      ...(row.name ? { name: row.name } : {}),
      ...(row.country ? { country: row.country } : {}),
      attributes: { ...(JSON.parse(row.attributes) as Record<string, unknown>), ...own },
    };
    return { ...input, customer };
  });
  return { merged, entries };
}

export async function receiveEvent(env: Env, auth: Auth, input: EventInput, requestId?: string) {
  const { merged, entries } = await touchCustomers(env, auth.org, [input]);
  const answer = await ingestEvent(env, auth, merged[0]!, requestId);
  await fireEntries(env, auth.org, entries);
  return answer;
}

export async function receiveEvents(env: Env, auth: Auth, inputs: EventInput[], requestId?: string) {
  const { merged, entries } = await touchCustomers(env, auth.org, inputs);
  const answer = await ingestEvents(env, auth, merged, requestId);
  await fireEntries(env, auth.org, entries);
  return answer;
}
