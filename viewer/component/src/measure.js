// Text widths without a DOM: Helvetica/Arial advance widths (1/1000 em) for ASCII 32..126.
// In a browser the canvas measures with the real font instead (see useBrowserMeasure).

const REGULAR = [
  278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
  556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
  1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
  667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
  333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
  556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
];
const BOLD = [
  278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278,
  556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611,
  975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778,
  667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556,
  333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611,
  611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584,
];

export const FONT_FAMILY =
  '-apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue", Helvetica, Arial, "Liberation Sans", sans-serif';
export const MONO_FAMILY = 'ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace';

function charWidth(code, table) {
  if (code >= 32 && code <= 126) return table[code - 32];
  if (code >= 0x2e80 && code <= 0xffef) return 1000; // CJK and full-width forms
  if (code === 0xd7) return 584; // multiplication sign
  return 600;
}

/** Width in px of `text` at `size` px; bold uses the bold table. */
export function tableWidth(text, size, bold = false) {
  const table = bold ? BOLD : REGULAR;
  let units = 0;
  for (let i = 0; i < text.length; i++) units += charWidth(text.charCodeAt(i), table);
  return (units * size) / 1000;
}

let measureImpl = tableWidth;

/** Switch to canvas measuring with the real font (browser only); falls back to the table. */
export function useBrowserMeasure() {
  if (typeof document === "undefined") return;
  try {
    const ctx = document.createElement("canvas").getContext("2d");
    if (!ctx) return;
    const cache = new Map();
    measureImpl = (text, size, bold = false) => {
      const key = `${bold ? "b" : "r"}${size}|${text}`;
      let w = cache.get(key);
      if (w === undefined) {
        ctx.font = `${bold ? "600 " : ""}${size}px ${FONT_FAMILY}`;
        w = ctx.measureText(text).width;
        if (cache.size > 20000) cache.clear();
        cache.set(key, w);
      }
      return w;
    };
  } catch (_) {
    measureImpl = tableWidth;
  }
}

export function textWidth(text, size, bold = false) {
  return measureImpl(String(text), size, bold);
}

/** Shorten long text in the middle so it fits `max` characters. */
export function ellipsize(text, max) {
  const s = String(text);
  if (s.length <= max) return s;
  const head = Math.ceil((max - 1) * 0.45);
  return `${s.slice(0, head)}…${s.slice(s.length - (max - 1 - head))}`;
}
