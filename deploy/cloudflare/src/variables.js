// `fermyon:spin/variables@2.0.0` over the Worker's environment.
//
// This module owns the component's configuration: a variable is a Worker var (`[vars]` in
// wrangler.toml, or `--var` with wrangler dev) or secret (`wrangler secret put admin_key`) of the
// same name. Names follow Spin's rule (lowercase letters, digits, `_`); bindings that are not
// strings (the D1 database) are never variables.

const NAME = /^[a-z][a-z0-9_]*$/;

/**
 * What this glue itself tells the component, whatever the environment says:
 * `sql_ticket_function`, its SQL has `gempool_next_ticket()` (./sqlite.js answers it without D1).
 */
const PROVIDED = { sql_ticket_function: "true" };

export function variablesInterface(env) {
  return {
    get(name) {
      if (!NAME.test(name)) {
        throw { tag: "invalid-name", val: `${name} is not a valid variable name` };
      }
      const value = Object.hasOwn(PROVIDED, name) ? PROVIDED[name] : env?.[name];
      if (typeof value !== "string") {
        throw { tag: "undefined", val: `no Worker variable or secret named ${name}` };
      }
      return value;
    },
  };
}
