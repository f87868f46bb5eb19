import { defineConfig } from "drizzle-kit";

// `npm run db:generate` turns src/db/schema/*.ts into SQL migrations that wrangler applies.
export default defineConfig({
  dialect: "sqlite",
  schema: "./src/db/schema/*.ts",
  out: "./migrations",
});
