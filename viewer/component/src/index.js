// ModelLensGraph: the public entry points of the bundle (see ../CONTRACT.md).
import "./polyfill.js";
import { streamlitComponent } from "./component.js";
import { renderDot } from "./dot.js";
import { layoutGraph } from "./layout.js";
import { mountStandalone } from "./standalone.js";
import { renderSvg } from "./svg.js";
import { visibleGraph } from "./visible.js";
import { GraphCanvas, SHORTCUTS, groupPath, payloadIdentity, searchNodes } from "./canvas.js";

export const version = "0.1.0";

/** JSON-in, JSON-out wrappers for hosts that pass strings (the Python mini-racer bridge). */
export const json = {
  visibleGraph: (p, o) => JSON.stringify(visibleGraph(JSON.parse(p), JSON.parse(o))),
  renderSvg: (p, o) => renderSvg(JSON.parse(p), JSON.parse(o)),
  renderDot: (p, o) => renderDot(JSON.parse(p), JSON.parse(o)),
  layout: (p, o) => {
    const opts = JSON.parse(o);
    return JSON.stringify(layoutGraph(visibleGraph(JSON.parse(p), opts), opts));
  },
};

export {
  GraphCanvas, SHORTCUTS, groupPath, layoutGraph, mountStandalone, payloadIdentity, renderDot, renderSvg, searchNodes,
  streamlitComponent as component, visibleGraph,
};
