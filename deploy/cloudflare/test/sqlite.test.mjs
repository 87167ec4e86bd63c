// The D1-backed `fermyon:spin/sqlite` import (src/sqlite.js) against a real local D1 (workerd
// through wrangler's platform proxy): every value type round-trips exactly, placeholders inside
// literals are left alone, and errors come back as the interface's error variants.
// Run: npm test (from deploy/cloudflare).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getPlatformProxy } from "wrangler";
import { bindParameters, D1Stats, sqliteInterface, TICKET_QUERY } from "../src/sqlite.js";
import { variablesInterface } from "../src/variables.js";

let proxy;
let state;
let Connection;

before(async () => {
  state = mkdtempSync(join(tmpdir(), "gempool-d1-test-"));
  proxy = await getPlatformProxy({ configPath: "wrangler.toml", persist: { path: state }, remoteBindings: false });
  ({ Connection } = sqliteInterface(proxy.env.DB));
});

after(async () => {
  await proxy?.dispose();
  rmSync(state, { recursive: true, force: true });
});

const I64_MAX = 9223372036854775807n;
const I64_MIN = -9223372036854775808n;
const VALUES = [
  { tag: "integer", val: 0n },
  { tag: "integer", val: -1n },
  { tag: "integer", val: 1796240349001n },
  { tag: "integer", val: 9007199254740993n },
  { tag: "integer", val: I64_MAX },
  { tag: "integer", val: I64_MIN },
  { tag: "real", val: 1.5 },
  { tag: "real", val: 2.0 },
  { tag: "real", val: -0.25 },
  { tag: "real", val: 1e300 },
  { tag: "text", val: "" },
  { tag: "text", val: "héllo ✓ 'quoted' ?1 \u0000 end" },
  { tag: "text", val: "42" },
  { tag: "blob", val: new Uint8Array([]) },
  { tag: "blob", val: new Uint8Array([0, 1, 127, 128, 255]) },
  { tag: "null" },
];

test("every value type round-trips exactly through an untyped column", async () => {
  const db = Connection.open("default");
  await db.execute("CREATE TABLE IF NOT EXISTS roundtrip (id INTEGER PRIMARY KEY, v)", []);
  await db.execute("DELETE FROM roundtrip", []);
  for (const [i, value] of VALUES.entries()) {
    await db.execute("INSERT INTO roundtrip (id, v) VALUES (?, ?)", [{ tag: "integer", val: BigInt(i) }, value]);
  }
  const result = await db.execute("SELECT id, v, typeof(v) AS t FROM roundtrip ORDER BY id", []);
  assert.deepEqual(result.columns, ["id", "v", "t"]);
  assert.equal(result.rows.length, VALUES.length);
  for (const [i, value] of VALUES.entries()) {
    const [id, got, type] = result.rows[i].values;
    assert.deepEqual(id, { tag: "integer", val: BigInt(i) });
    assert.deepEqual(got, value, `value #${i}`);
    // SQLite itself stored the guest's type, not what JSON made of it.
    assert.deepEqual(type, { tag: "text", val: value.tag }, `stored type of #${i}`);
  }
});

test("parameters are values in expressions too, and comparisons see exact integers", async () => {
  const db = Connection.open("default");
  const result = await db.execute("SELECT ?1 + 1, ?2, ?1 = 9223372036854775806, '?1', ?3 -- ?9", [
    { tag: "integer", val: I64_MAX - 1n },
    { tag: "real", val: 3.0 },
    { tag: "text", val: "x" },
  ]);
  assert.deepEqual(result.rows[0].values, [
    { tag: "integer", val: I64_MAX },
    { tag: "real", val: 3.0 },
    { tag: "integer", val: 1n },
    { tag: "text", val: "?1" },
    { tag: "text", val: "x" },
  ]);
});

test("RETURNING statements and statements without rows", async () => {
  const db = Connection.open("default");
  await db.execute("CREATE TABLE IF NOT EXISTS counters_t (name TEXT PRIMARY KEY, value INTEGER NOT NULL)", []);
  await db.execute("INSERT OR REPLACE INTO counters_t VALUES ('c', 41)", []);
  const bumped = await db.execute("UPDATE counters_t SET value = value + 1 WHERE name = ? RETURNING value", [
    { tag: "text", val: "c" },
  ]);
  assert.deepEqual(bumped, { columns: ["value"], rows: [{ values: [{ tag: "integer", val: 42n }] }] });
  const none = await db.execute("SELECT value FROM counters_t WHERE name = 'missing'", []);
  assert.deepEqual(none, { columns: ["value"], rows: [] });
  const written = await db.execute("DELETE FROM counters_t WHERE name = 'missing'", []);
  assert.deepEqual(written.rows, []);
});

test("errors are the interface's error variants", async () => {
  assert.throws(() => Connection.open("other"), { tag: "no-such-database" });
  const db = Connection.open("default");
  await assert.rejects(db.execute("SELEC nonsense", []), (e) => e.tag === "io" && /syntax/i.test(e.val));
  await assert.rejects(db.execute("SELECT * FROM no_such_table", []), (e) => e.tag === "io" && /no such table/.test(e.val));
  await db.execute("CREATE TABLE IF NOT EXISTS uniq (k TEXT UNIQUE)", []);
  await db.execute("INSERT OR IGNORE INTO uniq VALUES ('a')", []);
  await assert.rejects(db.execute("INSERT INTO uniq VALUES ('a')", []), (e) => e.tag === "io" && /UNIQUE/.test(e.val));
  const { Connection: Unbound } = sqliteInterface(undefined);
  assert.throws(() => Unbound.open("default"), (e) => e.tag === "io");
});

test("benchmark accounting reads D1's meta", async () => {
  const stats = new D1Stats();
  const { Connection: Counted } = sqliteInterface(proxy.env.DB, stats);
  const db = Counted.open("default");
  await db.execute("CREATE TABLE IF NOT EXISTS counted (x INTEGER)", []);
  await db.execute("INSERT INTO counted VALUES (1), (2)", []);
  const rows = await db.execute("SELECT x FROM counted ORDER BY x", []);
  assert.deepEqual(rows.rows.map((r) => r.values[0].val), [1n, 2n]);
  assert.ok(stats.rowsWritten >= 2, `rows written ${stats.rowsWritten}`);
  assert.ok(stats.rowsRead >= 2, `rows read ${stats.rowsRead}`);
});

test("round-robin tickets come from the isolate, not D1, and the component is told so", async () => {
  const stats = new D1Stats();
  const { Connection: Counted } = sqliteInterface(proxy.env.DB, stats);
  const db = Counted.open("default");
  const take = async () => {
    const result = await db.execute(TICKET_QUERY, []);
    assert.equal(result.rows.length, 1);
    assert.equal(result.rows[0].values[0].tag, "integer");
    return result.rows[0].values[0].val;
  };
  const first = await take();
  assert.equal(await take(), first + 1n);
  assert.equal(await take(), first + 2n);
  assert.equal(stats.queries, 0, "no D1 statement");
  // Anything else naming the function still goes to D1, which has no such function.
  await assert.rejects(db.execute("SELECT gempool_next_ticket() + 1", []), (e) => e.tag === "io");
  const variables = variablesInterface({ sql_ticket_function: "false", open_access: "true" });
  assert.equal(variables.get("sql_ticket_function"), "true");
  assert.equal(variables.get("open_access"), "true");
  assert.throws(() => variables.get("constructor"), (e) => e.tag === "undefined");
});

test("placeholders are rewritten only outside literals, quoted names and comments", () => {
  const big = { tag: "integer", val: I64_MAX };
  const { text, values } = bindParameters(`SELECT '?', "a?", [b?], ? /* ? */, ?2 -- ?\n, ?`, [
    big,
    { tag: "real", val: 1.0 },
    { tag: "text", val: "t" },
  ]);
  assert.equal(text, `SELECT '?', "a?", [b?], CAST(? AS INTEGER) /* ? */, CAST(?2 AS REAL) -- ?\n, ?`);
  // Every integer is cast: D1 would bind the number as a REAL.
  assert.equal(bindParameters("SELECT ?", [{ tag: "integer", val: 5n }]).text, "SELECT CAST(? AS INTEGER)");
  assert.deepEqual(values, ["9223372036854775807", 1, "t"]);
});
