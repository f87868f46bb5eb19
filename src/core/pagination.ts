import { AppError } from "./errors";

/**
 * Opaque list cursors: base64url of the last row's sort key, which is an id (`pool_…`) or a
 * sequence number. Decoding checks that shape, so a cursor that was cut short, mistyped or made up
 * gets 400 instead of quietly ending or restarting a client's page loop.
 */
export function encodeCursor(key: string): string {
  return btoa(key).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

const SHAPES = { id: /^[a-z]{2,8}_[0-9a-z_-]{6,80}$/, seq: /^\d{1,16}$/ } as const;

export function decodeCursor(cursor: string, shape: keyof typeof SHAPES = "id"): string {
  let key: string | undefined;
  try {
    key = atob(cursor.replaceAll("-", "+").replaceAll("_", "/"));
  } catch {
    key = undefined;
  }
  if (key === undefined || !SHAPES[shape].test(key)) {
    throw new AppError("validation_failed", "The cursor is not valid", { errors: [{ parameter: "cursor", code: "invalid", detail: "Use next_cursor from the previous page" }] });
  }
  return key;
}
