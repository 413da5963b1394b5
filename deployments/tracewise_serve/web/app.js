// The Tracewise page: one form, one call to POST /v1/vectorize/stream (server-sent events:
// progress, then the result or an error), the original and the SVG side by side, the report.
// No framework, no build step, nothing fetched from anywhere but this service.
"use strict";

const config = JSON.parse(document.getElementById("config").textContent);
const $ = (id) => document.getElementById(id);
const KEY_STORE = "tracewise.api_key";
const state = { file: null, originalUrl: null, svgUrl: null, abort: null };

function enumName(value, prefix) {
  return typeof value === "string" ? value.replace(prefix, "").toLowerCase() : String(value);
}

function option(select, value, text) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = text;
  select.appendChild(o);
  return o;
}

function setUp() {
  for (const m of config.methods) {
    option($("method"), m.name, `${m.name} (about ${m.default_budget_seconds} s)`);
  }
  for (const s of config.styles) option($("style"), s, s);
  $("key-row").hidden = !config.needs_key;
  $("api_key").value = sessionStorage.getItem(KEY_STORE) || "";
  $("api_key").addEventListener("change", () => {
    sessionStorage.setItem(KEY_STORE, $("api_key").value);
    markReadiness();
  });
  $("file").addEventListener("change", () => pick($("file").files[0]));
  const drop = $("drop");
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  for (const type of ["dragleave", "drop"]) {
    drop.addEventListener(type, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    if (e.dataTransfer.files.length) pick(e.dataTransfer.files[0]);
  });
  // a file dropped beside the zone must not navigate away from the page
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());
  $("form").addEventListener("submit", (e) => { e.preventDefault(); run(); });
  $("zoom").addEventListener("input", () => zoom(Number($("zoom").value)));
  $("fit").addEventListener("click", fit);
  $("actual").addEventListener("click", () => zoom(1));
  syncScroll($("pane-original"), $("pane-svg"));
  syncScroll($("pane-svg"), $("pane-original"));
  markReadiness();
}

async function markReadiness() {
  // which methods can answer now (GetServiceInfo); without a key the list stays as it is
  if (config.needs_key && !$("api_key").value.trim()) return;
  try {
    const r = await fetch("/v1/info", { headers: authHeaders() });
    if (!r.ok) return;
    const info = await r.json();
    for (const m of info.methods || []) {
      const name = enumName(m.method, "METHOD_");
      const o = [...$("method").options].find((x) => x.value === name);
      if (o) o.textContent = o.textContent.replace(" (not ready)", "") + (m.ready ? "" : " (not ready)");
    }
  } catch (err) { /* the form works without it */ }
}

function authHeaders() {
  const key = $("api_key").value.trim();
  return key ? { authorization: `Bearer ${key}` } : {};
}

function pick(file) {
  if (!file) return;
  state.file = file;
  $("picked").textContent = `${file.name}, ${(file.size / 1024).toFixed(1)} KiB`;
  if (file.size > config.max_request_bytes) {
    showError({ message: `The file is ${file.size} bytes; the service takes at most ${config.max_request_bytes}.` });
  } else {
    clearError();
  }
}

function options() {
  const out = {};
  const method = $("method").value;
  if (method !== "auto") out.method = method;
  out.style = $("style").value;
  const colours = $("max_colors").value.trim();
  if (colours) out.max_colors = Number(colours);
  const palette = $("palette").value.split(/[\s,]+/).filter(Boolean);
  if (palette.length) out.palette = palette;
  const budget = $("budget_seconds").value.trim();
  if (budget) out.budget_seconds = Number(budget);
  return out;
}

async function run() {
  if (!state.file) {
    showError({ message: "Pick a logo file first." });
    $("file").focus();
    return;
  }
  if (state.abort) state.abort.abort();
  state.abort = new AbortController();
  clearError();
  busy(true);
  status("Sending…", 0);
  const body = new FormData();
  body.append("image", state.file, state.file.name);
  body.append("options", JSON.stringify(options()));
  let answered = false;
  try {
    const r = await fetch("/v1/vectorize/stream", {
      method: "POST", body, headers: { accept: "text/event-stream", ...authHeaders() },
      signal: state.abort.signal,
    });
    if (!r.ok) {
      showError(await errorBody(r));
      answered = true;
      if (r.status === 401) { $("key-row").hidden = false; $("api_key").focus(); }
      return;
    }
    status("Working…", 0);
    for await (const event of events(r.body)) {
      if (event.type === "progress") {
        const p = event.data;
        status(`${p.stage}: best score so far ${Number(p.best_score).toFixed(4)}`, p.fraction);
      } else if (event.type === "result") {
        answered = true;
        show(event.data);
      } else if (event.type === "error") {
        answered = true;
        showError(event.data);
      }
    }
    if (!answered) showError({ message: "The connection ended before an answer came." });
  } catch (err) {
    if (err.name !== "AbortError") showError({ message: `The request failed: ${err.message}` });
  } finally {
    busy(false);
  }
}

async function errorBody(r) {
  try { return await r.json(); } catch (err) { return { message: `HTTP ${r.status}` }; }
}

// Server-sent events from a fetch body: blocks split by a blank line, "event:" and "data:" lines
async function* events(stream) {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let type = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) type = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      if (data.length) yield { type, data: JSON.parse(data.join("\n")) };
    }
  }
}

function busy(on) {
  $("go").disabled = on;
  $("go").textContent = on ? "Working…" : "Vectorise";
  $("progress").hidden = !on;
}

function status(text, fraction) {
  $("status").textContent = text;
  if (fraction !== undefined) $("progress").value = Math.max(0, Math.min(1, fraction));
}

function clearError() {
  $("error").hidden = true;
  $("error").replaceChildren();
}

function showError(err) {
  status("");
  const box = $("error");
  box.replaceChildren();
  const p = document.createElement("p");
  p.textContent = err.message || "Something went wrong.";
  box.appendChild(p);
  const facts = [];
  if (err.reason) facts.push(`reason ${err.reason}`);
  if (err.retry_after_seconds) facts.push(`retry after ${Math.ceil(err.retry_after_seconds)} s`);
  if (err.request_id) facts.push(`request ${err.request_id}`);
  if (facts.length) {
    const small = document.createElement("p");
    small.className = "hint";
    small.textContent = facts.join(" · ");
    box.appendChild(small);
  }
  if (err.field_violations && err.field_violations.length) {
    const ul = document.createElement("ul");
    for (const v of err.field_violations) {
      const li = document.createElement("li");
      li.textContent = `${v.field}: ${v.description}`;
      ul.appendChild(li);
    }
    box.appendChild(ul);
  }
  box.hidden = false;
}

function show(answer) {
  const report = answer.report;
  if (state.originalUrl) URL.revokeObjectURL(state.originalUrl);
  if (state.svgUrl) URL.revokeObjectURL(state.svgUrl);
  state.originalUrl = URL.createObjectURL(state.file);
  state.svgUrl = URL.createObjectURL(new Blob([answer.svg], { type: "image/svg+xml" }));
  $("original").src = state.originalUrl;
  $("svg").src = state.svgUrl;
  $("download").href = state.svgUrl;
  $("download").download = state.file.name.replace(/\.[^.]+$/, "") + ".svg";
  $("result").hidden = false;
  status(`Done: ${enumName(report.method_used, "METHOD_")}, SSIM ${report.ssim.toFixed(4)}, ${report.svg_bytes} bytes.`, 1);
  fillReport(report);
  Promise.all([loaded($("original")), loaded($("svg"))]).then(fit);
}

function loaded(img) {
  return img.complete && img.naturalWidth ? Promise.resolve() : new Promise((ok) => { img.onload = ok; img.onerror = ok; });
}

function row(dl, term, value) {
  const dt = document.createElement("dt");
  dt.textContent = term;
  const dd = document.createElement("dd");
  if (Array.isArray(value)) {
    const ul = document.createElement("ul");
    for (const item of value) {
      const li = document.createElement("li");
      li.textContent = item;
      ul.appendChild(li);
    }
    dd.appendChild(ul);
  } else {
    dd.textContent = value;
  }
  dl.append(dt, dd);
}

function fillReport(r) {
  const dl = $("report");
  dl.replaceChildren();
  const used = enumName(r.method_used, "METHOD_");
  const asked = enumName(r.method_requested, "METHOD_");
  row(dl, "Method", asked === "unspecified" ? `${used} (chosen by the service)` : used);
  const why = [];
  if (r.confidence !== undefined && r.logo_type) {
    why.push(`the router saw a ${r.logo_type} logo and chose ${used}, ${(100 * r.confidence).toFixed(0)}% confident`);
  }
  if (r.degraded) why.push("a cheaper method: the better one was busy");
  if (r.cached) why.push("the same picture and options were answered before (from the cache)");
  for (const f of r.fallbacks || []) why.push(`${enumName(f.from_method, "METHOD_")} was not used: ${f.reason}`);
  if (r.cut_short) why.push("the time budget ended the search: this is its best so far");
  for (const note of r.notes || []) why.push(note);
  if (why.length) row(dl, "Why", why);
  const floor = r.defaults_ssim !== undefined ? ` (VTracer's defaults: ${r.defaults_ssim.toFixed(4)})` : "";
  row(dl, "SSIM", `${r.ssim.toFixed(4)}${floor}`);
  if (r.alpha_ssim !== undefined) row(dl, "Alpha SSIM", r.alpha_ssim.toFixed(4));
  const vs = r.defaults_svg_bytes
    ? `, ${((100 * r.svg_bytes) / r.defaults_svg_bytes).toFixed(0)}% of VTracer's defaults (${r.defaults_svg_bytes} bytes)`
    : "";
  row(dl, "Size", `${r.svg_bytes} bytes${vs}`);
  row(dl, "Paths", String(r.paths));
  row(dl, "Time", `${r.seconds.toFixed(2)} s, ${r.evaluations} candidate${r.evaluations === 1 ? "" : "s"} measured`);
  if (r.params && Object.keys(r.params).length) {
    row(dl, "Parameters", Object.entries(r.params)
      .filter(([k, v]) => v !== "" && !(Array.isArray(v) && !v.length) && !(k === "max_colors" && !v))
      .map(([k, v]) => `${k} = ${Array.isArray(v) ? v.join(", ") : v}`).join("; "));
  }
  if (r.regions && r.regions.length) row(dl, "Regions", `${r.regions.length} traced with their own parameters`);
  row(dl, "Request id", r.request_id);
}

function zoom(factor) {
  $("zoom").value = factor;
  $("zoom-value").textContent = `${Math.round(factor * 100)}%`;
  for (const img of [$("original"), $("svg")]) {
    if (img.naturalWidth) img.style.width = `${img.naturalWidth * factor}px`;
  }
}

function fit() {
  const img = $("original");
  const pane = $("pane-original");
  if (!img.naturalWidth) return;
  const factor = Math.min(pane.clientWidth / img.naturalWidth, pane.clientHeight / img.naturalHeight);
  zoom(Math.max(0.05, factor * 0.98));
}

function syncScroll(from, to) {
  from.addEventListener("scroll", () => {
    if (to.scrollTop !== from.scrollTop) to.scrollTop = from.scrollTop;
    if (to.scrollLeft !== from.scrollLeft) to.scrollLeft = from.scrollLeft;
  });
}

setUp();
