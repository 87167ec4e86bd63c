// The gempool Worker: hosts the gateway component (jco's transpile of dist/gempool.wasm) on
// Cloudflare Workers, one component instance per request.
//
// This module owns the wiring: which JS implements each of the component's imports and how a
// request reaches it. `wasi:http` is ./http.js (Fetch, streaming both ways), Spin's sqlite is
// ./sqlite.js (the D1 binding `DB`), Spin's variables are ./variables.js (Worker vars and
// secrets); the rest of WASI (io, clocks, random, cli) is preview2-shim's browser build.
// A fresh instance per request is not a choice but a must: jco's async runtime holds a lock per
// instance, and workerd refuses to resume one request on a promise another request settles, so
// a shared instance hangs as soon as two requests overlap.
import { instantiate } from "../gen/gempool.js";
import { coreModules } from "../gen/modules.js";
import * as shim from "@bytecodealliance/preview2-shim";
import { serve, types as httpTypes, outgoingHandler } from "./http.js";
import { D1Stats, sqliteInterface } from "./sqlite.js";
import { variablesInterface } from "./variables.js";

/** The WASI interfaces that do not depend on the request, by name without version. */
const wasi = {
  "wasi:cli/environment": {
    // The component's configuration comes from variables, not the environment.
    getEnvironment: () => [],
    getArguments: () => [],
    initialCwd: () => undefined,
  },
  "wasi:cli/exit": {
    exit(status) {
      throw new Error(`the component exited (${status.tag === "ok" ? "ok" : "error"})`);
    },
  },
  "wasi:cli/stdin": shim.cli.stdin,
  "wasi:cli/stdout": shim.cli.stdout,
  "wasi:cli/stderr": shim.cli.stderr,
  "wasi:cli/terminal-input": shim.cli.terminalInput,
  "wasi:cli/terminal-output": shim.cli.terminalOutput,
  "wasi:cli/terminal-stdin": shim.cli.terminalStdin,
  "wasi:cli/terminal-stdout": shim.cli.terminalStdout,
  "wasi:cli/terminal-stderr": shim.cli.terminalStderr,
  "wasi:clocks/monotonic-clock": shim.clocks.monotonicClock,
  "wasi:clocks/wall-clock": shim.clocks.wallClock,
  "wasi:io/error": shim.io.error,
  "wasi:io/poll": shim.io.poll,
  "wasi:io/streams": shim.io.streams,
  "wasi:random/random": shim.random.random,
  "wasi:random/insecure": shim.random.insecure,
  "wasi:random/insecure-seed": shim.random.insecureSeed,
  "wasi:http/types": httpTypes,
  "wasi:http/outgoing-handler": outgoingHandler,
};

/** jco asks for imports by the component's own (versioned) names; serve any version. */
function importObject(perRequest) {
  const all = { ...wasi, ...perRequest };
  return new Proxy(all, {
    get(target, name) {
      if (typeof name !== "string") {
        return undefined;
      }
      return target[name] ?? target[name.replace(/@[^@/]*$/, "")];
    },
  });
}

const getCoreModule = (name) => {
  const module = coreModules[name];
  if (!module) {
    throw new Error(`core module ${name} is missing from the bundle (rerun npm run build)`);
  }
  return module;
};

export default {
  async fetch(request, env, ctx) {
    const stats = env.D1_STATS ? new D1Stats() : null;
    const started = Date.now();
    try {
      const instance = await instantiate(
        getCoreModule,
        importObject({
          "fermyon:spin/sqlite": sqliteInterface(env.DB, stats),
          "fermyon:spin/variables": variablesInterface(env),
        }),
      );
      const handler = instance.incomingHandler ?? instance["wasi:http/incoming-handler@0.2.6"] ?? instance["wasi:http/incoming-handler"];
      const { response, done } = serve(request, handler.handle, (p) => ctx.waitUntil(p));
      if (stats) {
        ctx.waitUntil(
          done.finally(() => {
            const { pathname } = new URL(request.url);
            console.log(
              `gempool-d1 ${request.method} ${pathname} queries=${stats.queries} rows_read=${stats.rowsRead} rows_written=${stats.rowsWritten} write_statements=${stats.writeStatements} wall_ms=${Date.now() - started}`,
            );
          }),
        );
      }
      return await response;
    } catch (error) {
      console.error(`gempool: the component failed: ${error?.stack ?? error}`);
      return failure(request, "the gateway component failed; see the Worker's logs");
    }
  },
};

/**
 * A 500 made up by the Worker itself, in the caller's protocol shape, chosen as the bundled
 * host chooses it: Anthropic for `/v1/messages*` or an `anthropic-version` header; Gemini for
 * `/v1beta/..` (not `/v1beta/openai/..`), a `model:method` path, `x-goog-api-key`, `?key=` and
 * the admin API; OpenAI otherwise.
 */
function failure(request, message) {
  const url = new URL(request.url);
  const path = url.pathname;
  let body;
  if (path.startsWith("/v1/messages") || request.headers.has("anthropic-version")) {
    body = { type: "error", error: { type: "api_error", message } };
  } else if (
    (path.startsWith("/v1beta/") && !path.startsWith("/v1beta/openai/")) ||
    /\/models\/[^/]+:[A-Za-z]+$/.test(path) ||
    request.headers.has("x-goog-api-key") ||
    url.searchParams.has("key") ||
    path.startsWith("/admin")
  ) {
    body = { error: { code: 500, message, status: "INTERNAL" } };
  } else {
    body = { error: { message, type: "server_error", param: null, code: null } };
  }
  return new Response(JSON.stringify(body), { status: 500, headers: { "content-type": "application/json" } });
}
