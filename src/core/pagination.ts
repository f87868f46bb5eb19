import { AppError } from "./errors";

/**
 * Opaque list cursors: base64url of the list's kind and the last row's sort key, an id (`pool_…`)
 * or a sequence number (`ledger:42`). Decoding checks both, so a cursor that was cut short,
 * mistyped, made up or taken from another list gets 400 instead of quietly ending or restarting a
 * client's page loop. The kind of an id list is its ids' prefix.
 */
export type CursorKind =
  | "pool"
  | "prd"
  | "sup"
  | "bat"
  | "dlv"
  | "exc"
  | "rec"
  | "fnd"
  | "row"
  | "ledger"
  | "sub"
  | "card"
  | "rdm"
  | "ctx"
  | "cmp"
  | "seg"
  | "whe"
  | "whd";

const SEQ_KINDS: ReadonlySet<CursorKind> = new Set(["row", "ledger", "ctx"]);
/** Lists keyed by a token `sub` (approvers): any text a token may carry. */
const TEXT_KINDS: ReadonlySet<CursorKind> = new Set(["sub"]);
const ID_KEY = /^[a-z]{2,8}_[0-9a-z_-]{6,80}$/;
const SEQ_KEY = /^[1-9]\d{0,15}$/;

export function encodeCursor(kind: CursorKind, key: string | number): string {
  return btoa(`${kind}:${key}`).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

/** The sort key of a cursor this list gave out; 400 (`parameter: cursor`) for anything else. */
export function decodeCursor(cursor: string, kind: CursorKind): string {
  let text = "";
  try {
    text = atob(cursor.replaceAll("-", "+").replaceAll("_", "/"));
  } catch {
    // refused below
  }
  const key = text.startsWith(`${kind}:`) ? text.slice(kind.length + 1) : "";
  const ok = TEXT_KINDS.has(kind)
    ? key.length > 0 && key.length <= 200
    : SEQ_KINDS.has(kind)
      ? SEQ_KEY.test(key)
      : ID_KEY.test(key) && key.startsWith(`${kind}_`);
  if (!ok) {
    throw new AppError("validation_failed", "The cursor is not valid", {
      errors: [{ parameter: "cursor", code: "invalid", detail: "Use next_cursor from the previous page of this list" }],
    });
  }
  return key;
}
