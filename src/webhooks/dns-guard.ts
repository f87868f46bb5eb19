/**
 * The SSRF guard's second half: a host name that resolves to a private, loopback, link-local or
 * metadata address is refused like the address itself. Workers have no DNS API, so the name is looked
 * up over DNS-over-HTTPS (Cloudflare's JSON API), for A and AAAA, at registration and again before
 * each group of sends (a name can be repointed after registration). It runs outside development,
 * test and bench, whose receivers are local. What it cannot stop: a name repointed between this
 * look-up and the connection (DNS rebinding); Workers' fetch does not reach private networks anyway.
 */
import { ipv4, ipv6Groups, LOCAL_ENVIRONMENTS, privateV4, privateV6 } from "./url-guard";

export const DOH_URL = "https://cloudflare-dns.com/dns-query";
const DOH_TIMEOUT_MS = 3_000;
const A = 1;
const AAAA = 28;

export type DnsVerdict = { ok: true } | { ok: false; reason: string; unavailable?: boolean };

interface DohAnswer {
  Status: number;
  Answer?: { type: number; data: string }[];
}

async function lookUp(host: string, type: "A" | "AAAA", f: typeof fetch): Promise<DohAnswer> {
  const res = await f(`${DOH_URL}?name=${encodeURIComponent(host)}&type=${type}`, {
    headers: { accept: "application/dns-json" },
    signal: AbortSignal.timeout(DOH_TIMEOUT_MS),
  });
  if (!res.ok) throw new Error(`DNS-over-HTTPS answered ${res.status}`);
  return (await res.json()) as DohAnswer;
}

function privateAnswer(a: { type: number; data: string }): boolean {
  if (a.type === A) {
    const v4 = ipv4(a.data);
    return !v4 || privateV4(v4);
  }
  if (a.type === AAAA) {
    const g = ipv6Groups(a.data.toLowerCase());
    return !g || privateV6(g);
  }
  return false; // CNAMEs: their targets' addresses are in the same answer
}

/** Whether `url`'s host name resolves only to public addresses. IP literals were checked by checkEndpointUrl. */
export async function checkResolvedHost(url: URL, environment: string, f: typeof fetch = fetch): Promise<DnsVerdict> {
  const host = url.hostname.replace(/\.$/, "");
  if (LOCAL_ENVIRONMENTS.has(environment) || ipv4(host) || host.startsWith("[")) return { ok: true };
  let answers: DohAnswer[];
  try {
    answers = await Promise.all([lookUp(host, "A", f), lookUp(host, "AAAA", f)]);
  } catch (err) {
    return { ok: false, unavailable: true, reason: `could not resolve ${host}: ${String((err as Error)?.message ?? err).slice(0, 100)}` };
  }
  const records = answers.flatMap((a) => a.Answer ?? []).filter((a) => a.type === A || a.type === AAAA);
  if (answers.every((a) => a.Status === 3) || records.length === 0) return { ok: false, reason: `the host ${host} does not resolve` };
  const bad = records.find(privateAnswer);
  if (bad) return { ok: false, reason: `the host ${host} resolves to ${bad.data}, which is private, loopback, link-local or reserved` };
  return { ok: true };
}
