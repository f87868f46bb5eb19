/**
 * One error type for the whole API. Every failure leaves as RFC 9457 problem+json with a stable
 * machine `code`; the HTTP status follows from the code so handlers never pick statuses by hand.
 */
export const ERROR_CODES = {
  validation_failed: { status: 400, title: "The request is not valid" },
  invalid_json: { status: 400, title: "The request body is not valid JSON" },
  invalid_idempotency_key: { status: 400, title: "The Idempotency-Key header is not valid" },
  invalid_amount: { status: 400, title: "The amount is not valid" },
  // 400, like any amount the API refuses: also when it is the sum (a pool's funded total, a batch's valid total) that would pass the bound.
  amount_too_large: { status: 400, title: "The amount would pass 2^53−1 minor units" },
  invalid_csv: { status: 400, title: "The CSV body cannot be read" },
  currency_mismatch: { status: 400, title: "The currency differs from the card's (or pool's)" },
  unauthorized: { status: 401, title: "Authentication is required" },
  forbidden: { status: 403, title: "The caller lacks the role this action needs" },
  self_approval_forbidden: { status: 403, title: "Whoever shaped or requested it cannot approve it (four-eyes)" },
  not_an_approver: { status: 403, title: "The caller is not an approver of this step" },
  not_found: { status: 404, title: "Not found" },
  approval_link_invalid: { status: 404, title: "The approval link is not valid" },
  verification_link_invalid: { status: 404, title: "The verification link is not valid" },
  method_not_allowed: { status: 405, title: "Method not allowed" },
  conflict: { status: 409, title: "Conflict" },
  invalid_state_transition: { status: 409, title: "The resource is not in a state that allows this" },
  insufficient_funds: { status: 409, title: "The pool cannot cover this amount" },
  limit_exceeded: { status: 409, title: "A spend limit of the pool would be exceeded" },
  idempotency_key_in_flight: { status: 409, title: "A request with this Idempotency-Key is still in progress" },
  duplicate: { status: 409, title: "Duplicate" },
  already_resolved: { status: 409, title: "The exception has already been resolved" },
  nothing_to_reissue: { status: 409, title: "The card has no unspent value left to reissue" },
  inventory_exhausted: { status: 409, title: "No inventory code of this product and amount is left" },
  insufficient_balance: { status: 409, title: "The card's available balance cannot cover this amount" },
  card_frozen: { status: 409, title: "The card is frozen" },
  card_expired: { status: 409, title: "The card has expired" },
  card_reversed: { status: 409, title: "The card has been reversed" },
  duplicate_reference: { status: 409, title: "This reference was already used on the card" },
  redemption_not_pending: { status: 409, title: "The redemption is not pending" },
  redemption_not_captured: { status: 409, title: "The redemption is not captured" },
  already_decided: { status: 409, title: "This approver has already decided on this request" },
  batch_changed: { status: 409, title: "The batch changed after approval was requested" },
  rewards_changed: { status: 409, title: "The campaign day's pending rewards changed since they were shown" },
  approval_link_used: { status: 409, title: "The approval link has already been used" },
  approval_link_superseded: { status: 409, title: "The approval link is no longer needed" },
  approval_link_active: { status: 409, title: "The approval link still works" },
  verification_link_used: { status: 409, title: "The verification link has already been used" },
  verification_link_superseded: { status: 409, title: "The verification link was replaced by a newer enrolment" },
  approval_link_expired: { status: 410, title: "The approval link has expired" },
  verification_link_expired: { status: 410, title: "The verification link has expired" },
  payload_too_large: { status: 413, title: "The request body is too large" },
  unsupported_media_type: { status: 415, title: "Unsupported media type" },
  idempotency_key_reused: { status: 422, title: "The Idempotency-Key was used with another request" },
  operation_id_reused: { status: 422, title: "The operation id was used with other arguments" },
  unprocessable: { status: 422, title: "The request cannot be processed" },
  row_limit_exceeded: { status: 422, title: "The batch would exceed its row limit" },
  rate_limited: { status: 429, title: "Too many requests" },
  internal_error: { status: 500, title: "Internal error" },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** One field-level problem: `pointer` for the JSON body (RFC 6901), `parameter` for path/query, `header`. */
export interface FieldError {
  pointer?: string;
  parameter?: string;
  header?: string;
  code: string;
  detail: string;
}

/**
 * The body of an upload route (CSV or JSON `{ <field>: [...] }`) was missing: the error names the
 * Content-Type header when none was sent, else the JSON field.
 */
export function missingUpload(contentType: string | undefined, field: string): AppError {
  const detail = `Send text/csv, or application/json { "${field}": [...] }`;
  return new AppError("validation_failed", detail, {
    errors: [contentType ? { pointer: `/${field}`, code: "required", detail } : { header: "Content-Type", code: "required", detail }],
  });
}

export class AppError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    detail?: string,
    readonly extra: { errors?: FieldError[]; [key: string]: unknown } = {},
  ) {
    super(detail ?? ERROR_CODES[code].title);
    this.name = "AppError";
    this.status = ERROR_CODES[code].status;
  }
}

export function notFound(entity: string, id: string): AppError {
  return new AppError("not_found", `No ${entity} with id ${id}`);
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  instance?: string;
  request_id?: string;
  errors?: FieldError[];
  [key: string]: unknown;
}

export function toProblem(err: AppError, instance?: string, requestId?: string): Problem {
  // Extras first: they may add members but never overwrite the standard ones.
  return {
    ...err.extra,
    type: `https://rewardrail.dev/problems/${err.code.replaceAll("_", "-")}`,
    title: ERROR_CODES[err.code].title,
    status: err.status,
    detail: err.message,
    code: err.code,
    ...(instance ? { instance } : {}),
    ...(requestId ? { request_id: requestId } : {}),
  };
}

/** The problem as a response; a throttle's wait (`retry_after_seconds`) also travels as Retry-After. */
export function problemResponse(err: AppError, instance?: string, requestId?: string, headers: HeadersInit = {}): Response {
  const h = new Headers(headers);
  h.set("content-type", "application/problem+json");
  if (typeof err.extra.retry_after_seconds === "number") h.set("retry-after", String(err.extra.retry_after_seconds));
  // RFC 6750 §3: a 401 names the scheme the client should use.
  if (err.status === 401) h.set("www-authenticate", 'Bearer realm="rewardrail"');
  if (requestId) h.set("x-request-id", requestId);
  return new Response(JSON.stringify(toProblem(err, instance, requestId)), { status: err.status, headers: h });
}
