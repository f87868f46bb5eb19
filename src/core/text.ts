/**
 * Text that people read in approval pages, emails and SMS: batch and pool names, recipient names,
 * template fields. One definition of what such text may not hold, for the request schemas
 * (`PlainText`), recipient validation and the message templates alike.
 *
 * Refused: controls (Cc: C0, DEL, C1 including U+0085 NEL), format characters (Cf: bidirectional
 * overrides and isolates U+202A–202E and U+2066–2069, zero-width spaces and joiners, soft hyphens)
 * that make a name read differently from what it is (U+202E turns "gpj.exe" around), line and
 * paragraph separators (Zl, Zp) that break a subject or an SMS in two, and lone surrogates (Cs),
 * which UTF-8 cannot encode and storage would turn into U+FFFD.
 */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u;
const UNSAFE_RUNS = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]+/gu;

/** True when `s` holds a character that readable one-line text may not hold (see above). */
export const hasUnsafeText = (s: string): boolean => UNSAFE.test(s);

/** `s` with every run of such characters replaced by one space: for text that must go out anyway. */
export const stripUnsafeText = (s: string): string => s.replace(UNSAFE_RUNS, " ");
