/** Size limits of request bodies and batches; README "Limits" documents them. */

/** JSON bodies, everywhere (including JSON uploads of recipients or codes). */
export const DEFAULT_BODY_LIMIT = 1024 * 1024;
/** One CSV upload request (a chunk); bigger files are sent as several chunks. */
export const UPLOAD_BODY_LIMIT = 32 * 1024 * 1024;
/** Recipient rows one batch may hold across all its uploads. */
export const MAX_BATCH_ROWS = 1_000_000;

export function isCsv(contentType: string | undefined): boolean {
  return !!contentType && /^text\/csv\s*(;|$)/i.test(contentType.trim());
}
