/**
 * Amounts are integer minor units everywhere; these turn them into text for people. Intl's
 * formatters are costly to build (about 40 µs each), so there is one per currency, kept for the
 * isolate's life: the delivery consumer formats an amount for every email it sends.
 */
const formatters = new Map<string, { format: Intl.NumberFormat | null; digits: number }>();

function formatter(currency: string): { format: Intl.NumberFormat | null; digits: number } {
  let f = formatters.get(currency);
  if (f === undefined) {
    try {
      const format = new Intl.NumberFormat("en-US", { style: "currency", currency });
      f = { format, digits: format.resolvedOptions().maximumFractionDigits ?? 2 };
    } catch {
      f = { format: null, digits: 2 }; // not an ISO 4217 code Intl knows
    }
    formatters.set(currency, f);
  }
  return f;
}

/** For recipients: "$25.00", "¥2,500", "€10.00". */
export function formatMoney(amount: number, currency: string): string {
  const { format, digits } = formatter(currency);
  return format ? format.format(amount / 10 ** digits) : `${(amount / 10 ** digits).toFixed(digits)} ${currency}`;
}

/** For finance and approvers, exact and unambiguous: "USD 1,234.50", computed without floating point. */
export function formatMoneyCode(amount: number, currency: string): string {
  const { digits } = formatter(currency); // the currency's minor unit: JPY 0, USD 2, KWD 3
  const unit = 10 ** digits;
  const major = Math.floor(Math.abs(amount) / unit)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const minor = digits ? `.${String(Math.abs(amount) % unit).padStart(digits, "0")}` : "";
  return `${amount < 0 ? "-" : ""}${currency} ${major}${minor}`;
}
