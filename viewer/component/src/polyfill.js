// V8 without a browser (mini-racer) has no structuredClone; dagre uses it for plain labels.
if (typeof globalThis.structuredClone !== "function") {
  globalThis.structuredClone = (value) => (value === undefined ? undefined : JSON.parse(JSON.stringify(value)));
}
