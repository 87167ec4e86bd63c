// `fermyon:spin/variables@2.0.0` over the Worker's environment.
//
// This module owns the component's configuration: a variable is a Worker var (`[vars]` in
// wrangler.toml, or `--var` with wrangler dev) or secret (`wrangler secret put admin_key`) of the
// same name. Names follow Spin's rule (lowercase letters, digits, `_`); bindings that are not
// strings (the D1 database) are never variables.

const NAME = /^[a-z][a-z0-9_]*$/;

export function variablesInterface(env) {
  return {
    get(name) {
      if (!NAME.test(name)) {
        throw { tag: "invalid-name", val: `${name} is not a valid variable name` };
      }
      const value = env?.[name];
      if (typeof value !== "string") {
        throw { tag: "undefined", val: `no Worker variable or secret named ${name}` };
      }
      return value;
    },
  };
}
