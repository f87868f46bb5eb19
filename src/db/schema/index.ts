/**
 * D1 tables (drizzle-orm), one file per part of the domain. One source for SQL, types and zod
 * schemas; `npm run db:generate` writes the migration SQL into migrations/. Times are ISO 8601 UTC
 * strings; money is integer minor units.
 */
export * from "./core";
export * from "./pools";
export * from "./catalog";
export * from "./batches";
export * from "./delivery";
export * from "./approvals";
export * from "./reconciliation";
export * from "./approvers";
export * from "./cards";
export * from "./webhooks";
export * from "./campaigns";
export * from "./customers";
export * from "./referrals";
export * from "./schedules";
