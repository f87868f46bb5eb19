import { drizzle } from "drizzle-orm/d1";
import * as schema from "./schema";

export type Database = ReturnType<typeof build>;

const build = (d1: D1Database) => drizzle(d1, { schema });

/**
 * One drizzle instance per D1 binding: drizzle() derives the relational config of the whole schema
 * on every call (about 1.5 ms of CPU here), and a request used to pay that for each query helper.
 */
const instances = new WeakMap<D1Database, Database>();

export function createDb(d1: D1Database): Database {
  let db = instances.get(d1);
  if (!db) {
    db = build(d1);
    instances.set(d1, db);
  }
  return db;
}
