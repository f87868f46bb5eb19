#!/usr/bin/env node
// Prints a dev JWT signed with the local JWT_SECRET from .dev.vars:
//   npm run token -- --org acme --sub alice --roles operator,finance [--ttl 1h]
import { parseArgs } from "node:util";
import { SignJWT } from "jose";
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
  console.log("roles: admin operator finance owner support integrator auditor");
  process.exit(0);
}
const vars = { ...readWranglerVars(), ...readDevVars() };
if (!vars.JWT_SECRET) {
  console.error(".dev.vars has no JWT_SECRET; delete .dev.vars and run again to regenerate it");
  process.exit(1);
}
const jwt = await new SignJWT({ org: values.org, roles: values.roles.split(",").map((r) => r.trim()).filter(Boolean) })
  .setProtectedHeader({ alg: "HS256", typ: "JWT" })
  .setSubject(values.sub)
  .setIssuer(vars.JWT_ISSUER)
  .setAudience(vars.JWT_AUDIENCE)
  .setIssuedAt()
  .setExpirationTime(values.ttl)
  .sign(new TextEncoder().encode(vars.JWT_SECRET));
console.log(jwt);
