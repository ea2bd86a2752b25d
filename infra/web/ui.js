// Small DOM helpers: every text goes in as a text node, never as HTML.

/** Builds an element: h("button", { class: "x", onclick: f }, "text", child). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** A problem+json answer (or any failure) as a block that names each field and rule. */
export function problemView(error) {
  const p = error && error.problem ? error.problem : null;
  if (!p) {
    return h("div", { class: "problem", role: "alert" },
      h("strong", {}, "Request failed: "), String(error && error.message ? error.message : error));
  }
  return h("div", { class: "problem", role: "alert" },
    h("strong", {}, `${p.title || "Refused"} (${p.status || "?"}): `), p.detail || "",
    p.errors && p.errors.length
      ? h("ul", {}, p.errors.map((e) => h("li", {}, h("code", {}, e.field), ": ", e.rule)))
      : null);
}

/** A success line. */
export function okView(text) {
  return h("div", { class: "ok", role: "status" }, text);
}

/** Replaces an element's children. */
export function show(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));
}

/** A status badge. */
export function badge(status) {
  return h("span", { class: `status ${status}` }, status);
}

/** A table from headers and rows; numeric columns are right-aligned. */
export function table(caption, headers, rows, numeric = []) {
  return h("div", { class: "table-wrap" },
    h("table", {},
      caption ? h("caption", { class: "muted" }, caption) : null,
      h("thead", {}, h("tr", {}, headers.map((x, i) =>
        h("th", { scope: "col", class: numeric.includes(i) ? "num" : null }, x)))),
      h("tbody", {}, rows.map((row) => h("tr", {}, row.map((cell, i) =>
        h("td", { class: numeric.includes(i) ? "num" : null }, cell)))))));
}

/** "3 d 4 h" from seconds. */
export function age(seconds) {
  const s = Math.max(0, Number(seconds) || 0);
  const d = Math.floor(s / 86400);
  const hrs = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d} d ${hrs} h`;
  if (hrs > 0) return `${hrs} h ${m} min`;
  return `${m} min`;
}

/** A money object { amount, currency } as text; amounts are decimal strings, never floats. */
export function money(m) {
  return m ? `${m.amount} ${m.currency}` : "—";
}

/** A labelled form control. */
export function field(labelText, control) {
  return h("label", {}, labelText, control);
}
