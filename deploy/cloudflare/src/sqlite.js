// `fermyon:spin/sqlite@2.0.0` over a Cloudflare D1 binding.
//
// This module owns the component's SQL: each `connection.execute` becomes one D1 statement
// (`prepare(sql).bind(..).raw({columnNames: true})`), awaited under JSPI, so the guest sees a
// synchronous call. D1 carries values as JSON, which cannot tell an integer from a real of the
// same value and rounds integers past 2^53, so values cross typed:
// - parameters: D1 binds every number as a REAL, so an integer's placeholder is wrapped in
//   `CAST(.. AS INTEGER)` (beyond JavaScript's safe range it is bound as its decimal text), a
//   real with an integral value (2.0) in `CAST(.. AS REAL)`; a blob is bound as bytes, so
//   SQLite receives exactly the value the guest sent;
// - results of a query (`SELECT`, `WITH`, `VALUES`): the statement is wrapped so each column
//   comes with its SQLite type, and integers beyond the safe range come back as text; the
//   column count is learned once per statement text (`LIMIT 0`) and cached;
// - results of a statement with `RETURNING`: a number is an integer when it is integral (the
//   guest's `RETURNING` columns are integers), else a real.
// A D1 or SQLite error becomes the interface's `error` (`io` with D1's message, or
// `database-full`), never a trap.
// One statement never reaches D1: `SELECT gempool_next_ticket()`, the round-robin ticket, is
// answered from a counter of this isolate (see `nextTicket`), so taking a ticket writes nothing.

const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Column counts of read statements, by statement text (an isolate serves many requests). */
const columnCounts = new Map();
const COLUMN_CACHE_LIMIT = 512;

/**
 * The guest's round-robin ticket query; the guest sends it because variables.js tells it this
 * host has the function (`sql_ticket_function`), as the bundled host's SQLite has.
 */
export const TICKET_QUERY = "SELECT gempool_next_ticket()";

/**
 * The next round-robin ticket: a counter of this isolate, starting at a random point. Requests an
 * isolate serves rotate over the keys one by one; several isolates (one per Cloudflare location
 * or more under load) each rotate from their own random start, so the spread stays even. D1
 * would have to write a row per request for a counter shared by all of them, and writes are what
 * its free plan meters.
 */
let ticket = Math.floor(Math.random() * 2 ** 32);
export function nextTicket() {
  ticket = (ticket + 1) % Number.MAX_SAFE_INTEGER;
  return ticket;
}

/** Per-request D1 accounting, when the `D1_STATS` variable is set (benchmarks only). */
export class D1Stats {
  queries = 0;
  rowsRead = 0;
  rowsWritten = 0;
  writeStatements = 0;
  add(meta) {
    this.queries += 1;
    this.rowsRead += meta?.rows_read ?? 0;
    this.rowsWritten += meta?.rows_written ?? 0;
    if ((meta?.rows_written ?? 0) > 0) {
      this.writeStatements += 1;
    }
  }
}

/** The `fermyon:spin/sqlite` interface for one request, over `db` (a D1 binding or undefined). */
export function sqliteInterface(db, stats) {
  class Connection {
    static open(name) {
      if (name !== "default") {
        throw { tag: "no-such-database" };
      }
      if (!db) {
        // wrangler.toml has no D1 binding named DB.
        throw { tag: "io", val: "no D1 database is bound to this Worker (binding DB)" };
      }
      return new Connection();
    }

    async execute(sql, parameters) {
      try {
        return await execute(db, sql, parameters, stats);
      } catch (error) {
        throw sqliteError(error);
      }
    }

    [Symbol.dispose || Symbol.for("dispose")]() {}
  }
  return { Connection };
}

function sqliteError(error) {
  if (error && typeof error === "object" && "tag" in error) {
    return error;
  }
  const message = String(error?.message ?? error).replace(/^D1_ERROR:\s*/, "");
  if (/SQLITE_FULL|database or disk is full|exceeded.*(size|storage)/i.test(message)) {
    return { tag: "database-full" };
  }
  return { tag: "io", val: message };
}

async function execute(db, sql, parameters, stats) {
  if (sql === TICKET_QUERY && parameters.length === 0) {
    return { columns: ["gempool_next_ticket()"], rows: [{ values: [{ tag: "integer", val: BigInt(nextTicket()) }] }] };
  }
  const { text, values } = bindParameters(sql, parameters);
  if (isQuery(text)) {
    return await typedQuery(db, text, values, stats);
  }
  const rows = await run(db, text, values, stats);
  const columns = rows.shift() ?? [];
  return { columns, rows: rows.map((row) => ({ values: row.map(untypedValue) })) };
}

/** Runs one statement; the first row is the column names. */
async function run(db, sql, values, stats) {
  const statement = db.prepare(sql).bind(...values);
  if (!stats) {
    return await statement.raw({ columnNames: true });
  }
  // `raw()` drops D1's `meta`; `all()` keeps it, with rows as objects. Only benchmarks take
  // this path, and only for the row counts.
  const result = await statement.all();
  stats.add(result.meta);
  const objects = result.results ?? [];
  const columns = objects.length > 0 ? Object.keys(objects[0]) : [];
  return [columns, ...objects.map((o) => columns.map((c) => o[c]))];
}

function isQuery(sql) {
  const head = sql.replace(/^(\s|--[^\n]*\n|\/\*[\s\S]*?\*\/)+/, "").slice(0, 8).toUpperCase();
  return (head.startsWith("SELECT") || head.startsWith("WITH") || head.startsWith("VALUES")) && !/\bRETURNING\b/i.test(sql);
}

/**
 * A query with each column's type: `WITH q(c0, ..) AS (<sql>) SELECT typeof(c0), <c0>, ..`,
 * where an integer beyond the safe range travels as text.
 */
async function typedQuery(db, sql, values, stats) {
  let columns = columnCounts.get(sql);
  if (columns === undefined) {
    const probe = await run(db, `SELECT * FROM (${sql}\n) LIMIT 0`, values, null);
    columns = probe[0] ?? [];
    if (columnCounts.size >= COLUMN_CACHE_LIMIT) {
      columnCounts.clear();
    }
    columnCounts.set(sql, columns);
  }
  if (columns.length === 0) {
    await run(db, sql, values, stats);
    return { columns: [], rows: [] };
  }
  const names = columns.map((_, i) => `c${i}`);
  const select = names
    .map(
      (c) =>
        `typeof(${c}), CASE WHEN typeof(${c}) = 'integer' AND (${c} > ${SAFE} OR ${c} < -${SAFE}) THEN CAST(${c} AS TEXT) ELSE ${c} END`,
    )
    .join(", ");
  const rows = await run(db, `WITH q(${names.join(", ")}) AS (${sql}\n) SELECT ${select} FROM q`, values, stats);
  rows.shift();
  return {
    columns,
    rows: rows.map((row) => ({
      values: columns.map((_, i) => typedValue(row[2 * i], row[2 * i + 1])),
    })),
  };
}

function typedValue(type, value) {
  switch (type) {
    case "integer":
      return { tag: "integer", val: BigInt(value) };
    case "real":
      return { tag: "real", val: Number(value) };
    case "text":
      return { tag: "text", val: String(value) };
    case "blob":
      return { tag: "blob", val: new Uint8Array(value) };
    default:
      return { tag: "null" };
  }
}

function untypedValue(value) {
  if (value === null || value === undefined) {
    return { tag: "null" };
  }
  if (typeof value === "number") {
    return Number.isInteger(value) ? { tag: "integer", val: BigInt(value) } : { tag: "real", val: value };
  }
  if (typeof value === "string") {
    return { tag: "text", val: value };
  }
  if (Array.isArray(value) || value instanceof ArrayBuffer || ArrayBuffer.isView(value)) {
    return { tag: "blob", val: new Uint8Array(value) };
  }
  return { tag: "text", val: String(value) };
}

/**
 * D1 values for the guest's parameters, and the statement with the placeholders of values
 * JSON would change wrapped in a `CAST`. Placeholders are `?`, `?N`, `:name`, `@name` and
 * `$name` outside string literals, quoted names and comments.
 */
export function bindParameters(sql, parameters) {
  const values = parameters.map(d1Value);
  const casts = parameters.map(castOf);
  if (!casts.some(Boolean)) {
    return { text: sql, values };
  }
  let next = 0;
  const text = sql.replace(SQL_TOKENS, (token, digits) => {
    if (token[0] !== "?") {
      return token;
    }
    const index = digits ? Number(digits) - 1 : next;
    next = index + 1;
    return casts[index] ? `CAST(${token} AS ${casts[index]})` : token;
  });
  return { text, values };
}

/** What `bindParameters` steps over (literals, quoted names, comments) or rewrites (`?N`). */
const SQL_TOKENS = /'(?:[^']|'')*'|"(?:[^"]|"")*"|`(?:[^`]|``)*`|\[[^\]]*\]|--[^\n]*|\/\*[\s\S]*?(?:\*\/|$)|\?(\d*)/g;

function d1Value(value) {
  switch (value.tag) {
    case "integer":
      return value.val > SAFE || value.val < -SAFE ? value.val.toString() : Number(value.val);
    case "real":
      return value.val;
    case "text":
      return value.val;
    case "blob":
      return value.val;
    default:
      return null;
  }
}

function castOf(value) {
  // D1 binds every JSON number as a REAL (local D1 does; an integer-affinity column would turn
  // it back, an expression or an untyped column would not).
  if (value.tag === "integer") {
    return "INTEGER";
  }
  if (value.tag === "real" && Number.isInteger(value.val)) {
    return "REAL";
  }
  return null;
}
