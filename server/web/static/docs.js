// Renders openapi.json with no external asset: paths, parameters, responses.
(async function () {
  const el = (tag, text, cls) => { const e = document.createElement(tag); if (text) e.textContent = text; if (cls) e.className = cls; return e; };
  const doc = await (await fetch("openapi.json")).json();
  const resolve = (p) => p.$ref ? p.$ref.split("/").slice(1).reduce((o, k) => o[k], doc) : p;
  document.getElementById("desc").textContent = doc.info.description;
  const ops = document.getElementById("ops");
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const box = el("div", null, "op");
      const h = el("h3");
      h.append(el("span", method.toUpperCase(), "m " + method.toUpperCase()), el("code", path));
      box.append(h, el("p", op.summary));
      if (op.description) box.append(el("p", op.description));
      const params = (op.parameters || []).map(resolve);
      if (params.length) {
        const t = el("table");
        t.append(el("tr"));
        t.rows[0].append(el("th", "parameter"), el("th", "in"), el("th", "description"));
        for (const p of params) {
          const r = el("tr");
          const schema = p.schema || {};
          const extra = schema.enum ? " (" + schema.enum.join(", ") + ")" : "";
          r.append(el("td", p.name), el("td", p.in), el("td", (p.description || "") + extra));
          t.append(r);
        }
        box.append(t);
      }
      box.append(el("p", "Responses: " + Object.keys(op.responses).join(", ")));
      ops.append(box);
    }
  }
})();
