import { expect } from "vitest";
import { call, callJson } from "./api";

/** Verification links emailed to `to`, newest first, from the dev outbox. */
export async function verifyLinksTo(to: string): Promise<string[]> {
  const res = await callJson(`/dev/outbox?to=${encodeURIComponent(to)}`);
  expect(res.status).toBe(200);
  return (res.body.data as { links: string[] }[]).flatMap((m) => m.links).filter((l) => l.includes("/verify/"));
}

/** The path of the newest verification link sent to `to` (for `call`). */
export async function verifyPathTo(to: string): Promise<string> {
  const [link] = await verifyLinksTo(to);
  expect(link, `a verification link to ${to}`).toBeTruthy();
  return new URL(link!).pathname;
}

/** Enrols the token's holder with `email` through the API (202); the link is not confirmed. */
export async function enrol(personToken: string, email: string) {
  const res = await callJson("/v1/approvers/enrol", { token: personToken, body: { email } });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body;
}

/** Posts a verification page's Confirm form. */
export async function confirmLink(path: string) {
  const res = await call(path, { method: "POST", rawBody: "", headers: { "content-type": "application/x-www-form-urlencoded" } });
  return { status: res.status, html: await res.text() };
}

/** Enrols the token's holder and confirms the emailed link, as the person would: the approver ends `active`. */
export async function enrolAndConfirm(personToken: string, email: string) {
  await enrol(personToken, email);
  const confirmed = await confirmLink(await verifyPathTo(email));
  expect(confirmed.status, confirmed.html).toBe(200);
  const me = await callJson("/v1/approvers", { token: personToken });
  return me.body.data;
}
