// Loads preview2-shim's browser build (the one wrangler bundles into the Worker) when the
// tests import src/http.js under Node, whose own "node" export condition would pick the
// Node.js build. Used by `npm test` (--import).
import { register } from "node:module";

register("./browser-shim-resolve.mjs", import.meta.url);
