// The Streamlit custom component (v2): the bundle's default export is called on every rerun with
// {data, parentElement, setStateValue, setTriggerValue}; one canvas lives per parent element.
import { GraphCanvas } from "./canvas.js";

const instances = new WeakMap();

export function streamlitComponent(component) {
  const { data, parentElement, key } = component;
  const { payload, options = {}, key: userKey, height = 640 } = data || {};
  let inst = instances.get(parentElement);
  if (!inst) {
    const host = document.createElement("div");
    host.className = "ml-host";
    parentElement.appendChild(host);
    inst = { host, api: component };
    inst.canvas = new GraphCanvas(host, {
      onSelect: (sel) => sel && inst.api.setTriggerValue("select", sel),
      onExpanded: (ids) => inst.api.setStateValue("expanded", ids),
      onView: (view) => inst.api.setStateValue("view", view),
    });
    instances.set(parentElement, inst);
  }
  inst.api = component;
  inst.host.style.height = `${Number(height) || 640}px`;
  inst.host.style.display = "flex";
  if (!payload) return () => {};
  inst.canvas.followStreamlitTheme();
  if (options.theme && !getComputedStyle(inst.host).getPropertyValue("--st-background-color").trim()) {
    inst.canvas.setTheme(options.theme);
  }
  inst.canvas.update(payload, options, String(userKey || key || ""));
  return () => {
    inst.canvas.destroy();
    inst.host.remove();
    instances.delete(parentElement);
  };
}
