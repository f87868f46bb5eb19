#!/usr/bin/env node
// Prints a dev JWT signed with the local JWT_SECRET from .dev.vars:
//   npm run token -- --org acme --sub alice --roles operator,finance [--ttl 1h]
import { parseArgs } from "node:util";
import { SignJWT, decodeJwt } from "jose";
import { readDevVars, readWranglerVars } from "./dev-vars.mjs";

const { values } = parseArgs({
  options: {
    org: { type: "string", default: "acme" },
    sub: { type: "string", default: "dev-user" },
    roles: { type: "string", default: "admin" },
    ttl: { type: "string", default: "1h" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log("npm run token -- --org ORG --sub SUB --roles role1,role2 [--ttl 1h]");
  console.log("--ttl: 30m, 1h, 12h, 1d ... at most JWT_MAX_TTL_SECONDS (wrangler.toml, default 86400 s = 1 day)");
  console.log("roles: admin operator finance owner support integrator auditor");
  process.exit(0);
}
const vars = { ...readWranglerVars(), ...readDevVars() };
if (!vars.JWT_SECRET) {
  console.error(".dev.vars has no JWT_SECRET; delete .dev.vars and run again to regenerate it");
  process.exit(1);
}
let unsigned;
try {
  unsigned = new SignJWT({
    org: values.org,
    roles: values.roles
      .split(",")
      .map((r) => r.trim())
      .filter(Boolean),
  })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(values.sub)
    .setIssuer(vars.JWT_ISSUER)
    .setAudience(vars.JWT_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(values.ttl);
} catch {
  console.error(`--ttl ${values.ttl} is not a duration; use e.g. 30m, 1h, 12h or 1d`);
  process.exit(1);
}
const jwt = await unsigned.sign(new TextEncoder().encode(vars.JWT_SECRET));
// The API refuses tokens that live longer than JWT_MAX_TTL_SECONDS: say so here instead of minting one.
const maxTtl = Number(vars.JWT_MAX_TTL_SECONDS) > 0 ? Number(vars.JWT_MAX_TTL_SECONDS) : 86_400;
const { exp, iat } = decodeJwt(jwt);
if (exp - iat > maxTtl) {
  console.error(`--ttl ${values.ttl} is ${exp - iat} s; the API accepts tokens of at most ${maxTtl} s (JWT_MAX_TTL_SECONDS). Use e.g. --ttl 1h.`);
  process.exit(1);
}
if (exp <= iat) {
  console.error(`--ttl ${values.ttl} gives a token that has already expired`);
  process.exit(1);
}
console.log(jwt);
