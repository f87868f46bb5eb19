import { AppError } from "./errors";

/** Opaque list cursors: base64url of the last row's sort key. */
export function encodeCursor(key: string): string {
  return btoa(key).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

export function decodeCursor(cursor: string): string {
  try {
    return atob(cursor.replaceAll("-", "+").replaceAll("_", "/"));
  } catch {
    throw new AppError("validation_failed", "The cursor is not valid", { errors: [{ parameter: "cursor", code: "invalid", detail: "Use next_cursor from the previous page" }] });
  }
}
