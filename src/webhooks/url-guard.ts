/**
 * SSRF guard for endpoint URLs, checked on create/PATCH and again before every send: https only, no
 * credentials, and no host that names a private, loopback, link-local, shared, multicast or metadata
 * address. The WHATWG URL parser has already turned numeric tricks into dotted quads (`0x7f.1`,
 * `2130706433` → 127.0.0.1) and IPv6 into its canonical form (`[::ffff:127.0.0.1]` → `[::ffff:7f00:1]`),
 * so the checks below read the canonical host. A name is resolved by `checkResolvedHost` (Workers have
 * no DNS API, so over DNS-over-HTTPS) in production only; redirects are never followed (post.ts).
 * In development, test and bench, http://localhost and http://127.0.0.1 are allowed for a local receiver.
 */

export type UrlVerdict = { ok: true; url: URL } | { ok: false; reason: string };

const BLOCKED_NAMES = new Set(["localhost", "metadata.google.internal", "metadata", "instance-data", "metadata.azure.com"]);
const LOCAL_DEV_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);
/** Where a local receiver is allowed, and where names are not resolved (the bench's receiver is on 127.0.0.1). */
export const LOCAL_ENVIRONMENTS = new Set(["development", "test", "bench"]);

export function ipv4(host: string): number[] | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  return m ? m.slice(1).map(Number) : null;
}

export function privateV4([a, b]: number[]): boolean {
  return (
    a === 0 ||
    a === 10 ||
    a === 127 ||
    a! >= 224 || // this network, private, loopback, multicast and reserved
    (a === 100 && b! >= 64 && b! <= 127) || // shared address space (CGNAT)
    (a === 169 && b === 254) || // link-local, cloud metadata (169.254.169.254)
    (a === 172 && b! >= 16 && b! <= 31) ||
    (a === 192 && (b === 168 || b === 0)) ||
    (a === 198 && (b === 18 || b === 19)) // benchmarking
  );
}

/** Expands a canonical IPv6 literal (no brackets) into 8 groups. */
export function ipv6Groups(host: string): number[] | null {
  if (!host.includes(":")) return null;
  const [head, tail] = host.split("::") as [string, string | undefined];
  const parse = (s: string | undefined) => (s ? s.split(":").map((g) => parseInt(g, 16)) : []);
  const h = parse(head);
  const t = parse(tail);
  const groups = tail === undefined ? h : [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : null;
}

export function privateV6(g: number[]): boolean {
  const allZeroUpTo = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (allZeroUpTo(7) && (g[7] === 0 || g[7] === 1)) return true; // :: and ::1
  if (allZeroUpTo(5) && g[5] === 0xffff) return privateV4([g[6]! >> 8, g[6]! & 255, g[7]! >> 8, g[7]! & 255]); // IPv4-mapped
  if (allZeroUpTo(6)) return true; // IPv4-compatible (deprecated)
  if (g[0] === 0x64 && g[1] === 0xff9b) return privateV4([g[6]! >> 8, g[6]! & 255]); // NAT64
  if (g[0] === 0x2002) return privateV4([g[1]! >> 8, g[1]! & 255]); // 6to4 carries an IPv4 address
  if (g[0] === 0x2001 && g[1] === 0) return true; // Teredo: the IPv4 address inside is obfuscated
  const first = g[0]!;
  // unique local fc00::/7, link-local fe80::/10, site-local fec0::/10 (deprecated), multicast, documentation
  return (
    (first & 0xfe00) === 0xfc00 ||
    (first & 0xffc0) === 0xfe80 ||
    (first & 0xffc0) === 0xfec0 ||
    (first & 0xff00) === 0xff00 ||
    (first === 0x2001 && g[1] === 0xdb8)
  );
}

export function checkEndpointUrl(raw: string, environment: string): UrlVerdict {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: "not a valid absolute URL" };
  }
  const host = url.hostname.toLowerCase().replace(/\.$/, "");
  const local = LOCAL_ENVIRONMENTS.has(environment);
  if (local && url.protocol === "http:" && LOCAL_DEV_HOSTS.has(host)) return { ok: true, url };
  if (url.protocol !== "https:") return { ok: false, reason: "only https URLs are allowed" };
  if (url.username || url.password) return { ok: false, reason: "credentials in the URL are not allowed" };
  if (!host) return { ok: false, reason: "the URL has no host" };
  if (BLOCKED_NAMES.has(host) || host.endsWith(".localhost") || host.endsWith(".internal") || host.endsWith(".local")) {
    return { ok: false, reason: `the host ${host} is not reachable from the internet` };
  }
  const v4 = ipv4(host);
  if (v4 && privateV4(v4)) return { ok: false, reason: `the address ${host} is private, loopback, link-local or reserved` };
  if (host.startsWith("[")) {
    const g = ipv6Groups(host.slice(1, -1));
    if (!g || privateV6(g)) return { ok: false, reason: `the address ${host} is private, loopback, link-local or reserved` };
  }
  return { ok: true, url };
}
