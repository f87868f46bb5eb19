/** Campaigns (standing reward rules), the events they evaluate, and one outcome per event and campaign. */
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/**
 * A campaign. `trigger_event` is the event type of an `{ event }` trigger, `segment_entered/<segment
 * id>` for a segment's entries (src/customers/segment-entries.ts), null for the scheduled kinds. The budget lives in the pool DO as one hold per
 * reservation (`hold_<id>`, then `hold_<id>_<n>` per top-up); `hold_count` says how many exist and
 * `budget_released` that `ended` gave the rest back (exactly once: the release op id is fixed).
 */
export const campaigns = sqliteTable(
  "campaigns",
  {
    id: text("id").primaryKey(),
    org: text("org").notNull(),
    name: text("name").notNull(),
    status: text("status", { enum: ["draft", "active", "paused", "ended"] }).notNull(),
    trigger: text("trigger").notNull(),
    triggerEvent: text("trigger_event"),
    rules: text("rules"),
    reward: text("reward").notNull(),
    productId: text("product_id").notNull(),
    channel: text("channel", { enum: ["email", "sms", "link"] }).notNull(),
    poolId: text("pool_id").notNull(),
    currency: text("currency").notNull(),
    budgetAmount: integer("budget_amount").notNull(),
    pauseAtPct: integer("pause_at_pct").notNull().default(100),
    limits: text("limits").notNull().default("{}"),
    approvalAtOrAbove: integer("approval_at_or_above"),
    startsAt: text("starts_at"),
    endsAt: text("ends_at"),
    ownerEmail: text("owner_email"),
    pausedReason: text("paused_reason"),
    holdCount: integer("hold_count").notNull().default(0),
    budgetReleased: integer("budget_released").notNull().default(0),
    stateVersion: integer("state_version").notNull().default(0),
    createdBy: text("created_by").notNull(),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [index("campaigns_org_id").on(t.org, t.id), index("campaigns_trigger").on(t.org, t.triggerEvent, t.status)],
);

/**
 * Events received, keyed by the source's own id per org: inserting this row is the claim, so two
 * copies of one event arriving at once evaluate once. `response` is the answer every copy gets.
 * Rows are kept (never deleted by the app), which covers the ≥ 90 days of dedupe.
 */
export const campaignEvents = sqliteTable(
  "campaign_events",
  {
    org: text("org").notNull(),
    id: text("id").notNull(),
    type: text("type").notNull(),
    occurredAt: text("occurred_at").notNull(),
    customerKey: text("customer_key"),
    status: text("status", { enum: ["evaluating", "done"] }).notNull(),
    claimedUntil: text("claimed_until"),
    bodyHash: text("body_hash").notNull(),
    /** The event as received, so an evaluation whose request died can be finished by the sweep. */
    payload: text("payload").notNull(),
    response: text("response"),
    /** Why each skipping campaign skipped, beyond its reason (JSON { campaign_id: detail }): skips have no outcome row. */
    skipDetails: text("skip_details"),
    createdBy: text("created_by").notNull(),
    createdAt: text("created_at").notNull(),
    completedAt: text("completed_at"),
  },
  (t) => [
    primaryKey({ columns: [t.org, t.id] }),
    // The sweep's look-up: evaluations still running, by lease.
    index("campaign_events_evaluating").on(t.claimedUntil).where(sql`status = 'evaluating'`),
    // Erasure (DELETE /v1/customers/{external_id}) finds a person's events by identity key.
    index("campaign_events_customer").on(t.org, t.customerKey),
  ],
);

/**
 * A campaign's reward of one event (rewarded or pending approval; a rejected approval turns it into
 * skipped / approval_rejected). Its id is derived from (org, event, campaign), so a re-run of a
 * crashed evaluation finds it; the delivery's id and pool item come from it too. Skips have no row:
 * they are in the event's answer (campaign_events.response, skip_details) and counted in
 * campaign_stats. Caps are counted in the pool DO. The contact columns feed the delivery, like a
 * batch recipient's.
 */
export const campaignOutcomes = sqliteTable(
  "campaign_outcomes",
  {
    id: text("id").primaryKey(),
    org: text("org").notNull(),
    campaignId: text("campaign_id").notNull(),
    eventId: text("event_id").notNull(),
    /** A referral campaign's outcomes come in pairs, one per side (src/events/referral.ts); null for any other campaign. */
    side: text("side", { enum: ["referee", "referrer"] }),
    customerKey: text("customer_key"),
    outcome: text("outcome", { enum: ["rewarded", "pending_approval", "skipped"] }).notNull(),
    reason: text("reason"),
    amount: integer("amount"),
    deliveryId: text("delivery_id"),
    committed: integer("committed").notNull().default(0),
    detail: text("detail"),
    name: text("name"),
    email: text("email"),
    phone: text("phone"),
    externalId: text("external_id"),
    approvalDay: text("approval_day"),
    occurredAt: text("occurred_at").notNull(),
    createdAt: text("created_at").notNull(),
    decidedAt: text("decided_at"),
    decidedBy: text("decided_by"),
    /** A `card_credit` reward (src/events/card-credits.ts): the customer's card it credits, the credit (its bonus bucket and pool item), its expiry. */
    cardId: text("card_id"),
    creditId: text("credit_id"),
    creditExpiresAt: text("credit_expires_at"),
  },
  (t) => [
    // One outcome per event, campaign and side (coalesced: a unique index counts NULLs as distinct).
    uniqueIndex("campaign_outcomes_event_side").on(t.org, t.eventId, t.campaignId, sql`coalesce(${t.side}, '')`),
    // A customer's history in the campaign (rules that read customer.rewards_received); its campaign
    // prefix also serves the campaign's counts and spend. Caps are counted in the pool DO, so no
    // (campaign, outcome) index is paid on every reward.
    index("campaign_outcomes_customer").on(t.campaignId, t.customerKey, t.occurredAt),
    // Support finds a customer's rewards by email, phone (the identity key) or external id, like a batch recipient's.
    index("campaign_outcomes_org_customer").on(t.org, t.customerKey),
    // By external id: support's search, a customer's rewards (GET /v1/customers/{external_id}) and their erasure.
    index("campaign_outcomes_external").on(t.org, t.externalId),
    // Rewards waiting for (or decided by) an approval: only those rows have an entry.
    index("campaign_outcomes_pending").on(t.campaignId, t.approvalDay, t.outcome).where(sql`approval_day IS NOT NULL`),
  ],
);

/**
 * Rewards at or above a campaign's approval threshold wait, gathered into one request per campaign
 * per UTC day; the final decision covers every reward of the day pending at that moment, and a
 * reward that arrives later the same day opens the request again. `round` counts the request's
 * openings: approvals, decisions and links belong to one round, and a new round starts when the
 * request reopens or when a reward arrives after someone approved (they approved a shorter list).
 * `policy` is the org's approval policy snapshot of the round (src/campaigns/approval-state.ts).
 */
export const campaignApprovals = sqliteTable(
  "campaign_approvals",
  {
    org: text("org").notNull(),
    campaignId: text("campaign_id").notNull(),
    day: text("day").notNull(),
    status: text("status", { enum: ["open", "approved", "rejected"] }).notNull(),
    decidedBy: text("decided_by"),
    decidedAt: text("decided_at"),
    comment: text("comment"),
    round: integer("round").notNull().default(1),
    policy: text("policy"),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.campaignId, t.day] })],
);

/**
 * Decisions on a campaign day's round, by API or link. `step` is the step's index in the round's
 * policy snapshot. UNIQUE(campaign, day, round, approver): a person decides once per round.
 */
export const campaignApprovalDecisions = sqliteTable(
  "campaign_approval_decisions",
  {
    id: text("id").primaryKey(),
    org: text("org").notNull(),
    campaignId: text("campaign_id").notNull(),
    day: text("day").notNull(),
    round: integer("round").notNull(),
    step: integer("step").notNull(),
    role: text("role").notNull(),
    approverSub: text("approver_sub").notNull(),
    decision: text("decision", { enum: ["approve", "reject"] }).notNull(),
    comment: text("comment"),
    via: text("via", { enum: ["link", "api"] }).notNull(),
    linkId: text("link_id"),
    /** The day's pending rewards the decider saw: `count:total:latest created_at`. */
    fingerprint: text("fingerprint").notNull(),
    createdAt: text("created_at").notNull(),
  },
  (t) => [
    uniqueIndex("campaign_approval_decisions_approver").on(t.campaignId, t.day, t.round, t.approverSub),
    index("campaign_approval_decisions_step").on(t.campaignId, t.day, t.round, t.step),
  ],
);

/**
 * One emailed approval link for a campaign day (the second subject of src/approvals/ links): the
 * approver, round and step it asks for. Only the SHA-256 of the signed token is stored; `status`
 * moves pending → used or pending → superseded, never back.
 */
export const campaignApprovalLinks = sqliteTable(
  "campaign_approval_links",
  {
    id: text("id").primaryKey(),
    org: text("org").notNull(),
    campaignId: text("campaign_id").notNull(),
    day: text("day").notNull(),
    round: integer("round").notNull(),
    step: integer("step").notNull(),
    role: text("role").notNull(),
    approverSub: text("approver_sub").notNull(),
    approverEmail: text("approver_email").notNull(),
    enrolmentId: text("enrolment_id"),
    tokenHash: text("token_hash").notNull(),
    /** The day's pending rewards when the link was sent (`count:total:latest created_at`); the page shows the list as it is when opened. */
    fingerprint: text("fingerprint").notNull(),
    status: text("status", { enum: ["pending", "used", "superseded"] }).notNull(),
    expiresAt: text("expires_at").notNull(),
    emailStatus: text("email_status", { enum: ["sending", "sent", "failed"] }).notNull(),
    emailMessageId: text("email_message_id"),
    emailError: text("email_error"),
    openedAt: text("opened_at"),
    usedAt: text("used_at"),
    createdAt: text("created_at").notNull(),
  },
  (t) => [
    // One live link per approver, round and step: two reward requests at once send one.
    uniqueIndex("campaign_approval_links_pending").on(t.campaignId, t.day, t.round, t.step, t.approverSub).where(sql`status = 'pending'`),
    uniqueIndex("campaign_approval_links_token").on(t.tokenHash),
    // A day's links by round (the page, issuing, renewal): the pending index above is partial.
    index("campaign_approval_links_day").on(t.campaignId, t.day, t.round),
  ],
);

/**
 * Running counts of a campaign's evaluations: `events` and `skipped:<reason>`, added to once per
 * request with the events' answers, so a campaign's counts never walk its events.
 */
export const campaignStats = sqliteTable(
  "campaign_stats",
  {
    campaignId: text("campaign_id").notNull(),
    key: text("key").notNull(),
    n: integer("n").notNull(),
  },
  (t) => [primaryKey({ columns: [t.campaignId, t.key] })],
);
