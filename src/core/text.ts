/**
 * Text that people read in approval pages, emails and SMS: batch and pool names, recipient names,
 * template fields. One definition of what such text may not hold, for the request schemas
 * (`PlainText`), recipient validation and the message templates alike.
 *
 * Refused: controls (Cc: C0, DEL, C1 including U+0085 NEL), format characters (Cf: bidirectional
 * overrides and isolates U+202A–202E and U+2066–2069, zero-width spaces, stray joiners, soft hyphens)
 * that make a name read differently from what it is (U+202E turns "gpj.exe" around), line and
 * paragraph separators (Zl, Zp) that break a subject or an SMS in two, and lone surrogates (Cs),
 * which UTF-8 cannot encode and storage would turn into U+FFFD.
 *
 * Except the two joiners where a script needs them: ZWNJ (U+200C) and ZWJ (U+200D) between two
 * letters, marks or emoji are part of the name — Persian "علی‌رضا", Indic conjuncts, "👩🏽‍💻" — and
 * neither reorders nor hides text. At either end, doubled, or beside a space they are refused.
 */
const JOINABLE = String.raw`\p{L}\p{M}\p{Extended_Pictographic}\p{Emoji_Modifier}`;
const OTHER_UNSAFE = String.raw`\p{Cc}\p{Cs}\p{Zl}\p{Zp}`;
/** A Cf character other than a joiner, or a joiner that is not between two joinable characters. */
const UNSAFE_CHAR = String.raw`[${OTHER_UNSAFE}]|(?![\u200C\u200D])\p{Cf}|(?<![${JOINABLE}])[\u200C\u200D]|[\u200C\u200D](?![${JOINABLE}])`;
const UNSAFE = new RegExp(UNSAFE_CHAR, "u");
const UNSAFE_RUNS = new RegExp(`(?:${UNSAFE_CHAR})+`, "gu");

/** True when `s` holds a character that readable one-line text may not hold (see above). */
export const hasUnsafeText = (s: string): boolean => UNSAFE.test(s);

/** `s` with every run of such characters replaced by one space: for text that must go out anyway. */
export const stripUnsafeText = (s: string): string => s.replace(UNSAFE_RUNS, " ");
