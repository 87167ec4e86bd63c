// Resolve hook for test/browser-shim.mjs: `@bytecodealliance/preview2-shim/X` -> dist/browser/X.js.
const PREFIX = "@bytecodealliance/preview2-shim";

export async function resolve(specifier, context, next) {
  if (specifier === PREFIX || specifier.startsWith(`${PREFIX}/`)) {
    const rest = specifier === PREFIX ? "index" : specifier.slice(PREFIX.length + 1);
    const url = new URL(`../node_modules/${PREFIX}/dist/browser/${rest}.js`, import.meta.url);
    return { url: url.href, shortCircuit: true };
  }
  return next(specifier, context);
}
