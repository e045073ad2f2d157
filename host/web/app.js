// Atelier's web page: the built-in functions (ID photo, QR codes, cut-out) and the operator
// console, over the same HTTP API as any client (/openapi.json). Plain JavaScript, no network
// beyond this origin.
"use strict";

const MAX_UPLOAD = 20 * 1024 * 1024; // the built-in functions' max_body_kb (20,480)
const SLOW_MS = 300; // progress is shown for anything slower

const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
};

// ---------- shared helpers ----------

/** Shows `progress` only when `work` takes longer than SLOW_MS; disables `buttons` meanwhile. */
async function withProgress(progress, buttons, work) {
  const timer = setTimeout(() => (progress.hidden = false), SLOW_MS);
  buttons.forEach((b) => (b.disabled = true));
  try {
    return await work();
  } finally {
    clearTimeout(timer);
    progress.hidden = true;
    buttons.forEach((b) => (b.disabled = false));
  }
}

/** A server's JSON error (or any failure) as {code, message}. */
async function errorOf(response) {
  try {
    const body = await response.json();
    if (body && body.error) return body.error;
  } catch (_) { /* not JSON */ }
  return { code: `http_${response.status}`, message: `The server answered ${response.status} ${response.statusText}.` };
}

function showProblem(box, title, detail) {
  box.replaceChildren(el("strong", {}, title), document.createTextNode(detail || ""));
  box.hidden = false;
}

function tooLarge(file) {
  return file.size > MAX_UPLOAD
    ? `This file is ${(file.size / 1048576).toFixed(1)} MB; the limit is 20 MB. Use a smaller photo or export it at a lower resolution.`
    : null;
}

const objectUrls = new Map();
/** A blob URL for `blob`, revoking the one `key` had before. */
function blobUrl(key, blob) {
  if (objectUrls.has(key)) URL.revokeObjectURL(objectUrls.get(key));
  const url = URL.createObjectURL(blob);
  objectUrls.set(key, url);
  return url;
}

function debounce(fn, ms) {
  let t;
  return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
}

// Drop zones: a file dropped on `[data-drop=ID]` goes to input #ID as if chosen.
function wireDrops() {
  document.querySelectorAll("[data-drop]").forEach((zone) => {
    const input = $(zone.dataset.drop);
    zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (e) => {
      e.preventDefault();
      zone.classList.remove("over");
      if (e.dataTransfer.files.length) {
        input.files = e.dataTransfer.files;
        input.dispatchEvent(new Event("change"));
      }
    });
    zone.querySelector(".drop-label").tabIndex = 0;
    zone.querySelector(".drop-label").addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); }
    });
  });
}

// Camera: where the browser allows it, a full-screen preview and a capture into input #ID.
function wireCamera() {
  const video = $("camera-video"), bar = $("camera-bar");
  let stream = null, target = null;
  const stop = () => {
    if (stream) stream.getTracks().forEach((t) => t.stop());
    stream = null; video.hidden = true; bar.hidden = true;
  };
  document.querySelectorAll("[data-camera]").forEach((button) => {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) { button.hidden = true; return; }
    button.addEventListener("click", async () => {
      target = $(button.dataset.camera);
      try {
        stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "user", width: { ideal: 1920 } } });
      } catch (e) {
        alert("The camera could not be opened: " + e.message);
        return;
      }
      video.srcObject = stream; video.hidden = false; bar.hidden = false;
      await video.play();
      $("camera-shoot").focus();
    });
  });
  $("camera-cancel").addEventListener("click", stop);
  $("camera-shoot").addEventListener("click", () => {
    const canvas = el("canvas");
    canvas.width = video.videoWidth; canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    canvas.toBlob((blob) => {
      const file = new File([blob], "camera.jpg", { type: "image/jpeg" });
      const list = new DataTransfer(); list.items.add(file);
      target.files = list.files;
      target.dispatchEvent(new Event("change"));
      stop();
    }, "image/jpeg", 0.92);
  });
  document.addEventListener("keydown", (e) => { if (e.key === "Escape" && stream) stop(); });
}

// ---------- tabs ----------

function showTab() {
  const name = (location.hash || "#idphoto").slice(1);
  const known = ["idphoto", "qr", "cutout", "console"];
  const tab = known.includes(name) ? name : "idphoto";
  document.querySelectorAll("section.tab").forEach((s) => (s.hidden = s.id !== tab));
  document.querySelectorAll("nav a[data-tab]").forEach((a) => {
    if (a.dataset.tab === tab) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  });
}

// ---------- ID photo ----------

const BACKGROUNDS = [
  ["white", "#ffffff", "White"], ["blue", "#438edb", "Blue"], ["light-blue", "#8ec5ee", "Light blue"],
  ["red", "#ff0000", "Red"], ["gray", "#d9d9d9", "Grey"], ["light-gray", "#f0f0f0", "Light grey"],
];

const REFUSALS = {
  no_face: ["No face was found", "Use a photo where the face is clearly visible and turned to the camera, in good light."],
  several_faces: ["More than one person is in the photo", "Crop the photo to just one face, or take a new one alone."],
  face_too_small: ["The face is too small in this photo", "Move closer to the camera, or use the original, larger photo."],
  head_cut_off: ["The head is cut off", "Leave some space around the head and hair when taking the photo."],
  no_person: ["The person could not be separated from the background", "Use a photo with a plainer background and good light."],
  body_too_large: ["The photo is too large", "The limit is 20 MB; export it at a lower resolution."],
  unsupported_image: ["This file is not a photo the service can read", "Use a JPEG, PNG or WebP image."],
};

const idState = { sizes: [], bg: null, lastUrl: null };

async function loadSizes() {
  const select = $("id-size");
  try {
    const response = await fetch("/idphoto/sizes");
    if (!response.ok) throw new Error((await errorOf(response)).message);
    const body = await response.json();
    idState.sizes = body.sizes;
    select.replaceChildren(...body.sizes.map((s) => el("option", { value: s.id },
      `${s.names.en} · ${s.names.zh} — ${s.mm.width}×${s.mm.height} mm · ${s.px.width}×${s.px.height} px`)));
    select.value = body.default;
  } catch (e) {
    showProblem($("id-problem"), "ID photo sizes are not available", ` ${e.message}`);
  }
  describeSize();
}

function currentSize() { return idState.sizes.find((s) => s.id === $("id-size").value); }

function describeSize() {
  const size = currentSize();
  if (!size) return;
  const pct = (r) => `${Math.round(r.min * 100)}–${Math.round(r.max * 100)}%`;
  $("id-size-detail").textContent =
    `${size.dpi} dpi · head ${pct(size.head.head)} of the height, ${pct(size.head.top)} above the hair. ${size.head.source || ""}`;
  const allowed = size.backgrounds;
  if (Array.isArray(allowed) && allowed.length) {
    if (!idState.bg || !allowed.includes(idState.bg)) pickBackground(size.default_bg || allowed[0]);
    $("id-bg-hint").textContent = `This standard accepts: ${allowed.join(", ")}.`;
  } else {
    $("id-bg-hint").textContent = "";
  }
  markSwatches();
}

function pickBackground(name) {
  idState.bg = name;
  markSwatches();
}

function markSwatches() {
  const allowed = (currentSize() || {}).backgrounds;
  document.querySelectorAll("#id-swatches .swatch").forEach((s) => {
    s.setAttribute("aria-checked", String(s.dataset.bg === idState.bg));
    s.tabIndex = s.dataset.bg === idState.bg ? 0 : -1;
    s.classList.toggle("warn", Array.isArray(allowed) && allowed.length > 0 && !allowed.includes(s.dataset.bg));
  });
}

function wireIdPhoto() {
  const swatches = $("id-swatches");
  for (const [name, hex, label] of BACKGROUNDS) {
    swatches.append(el("button", {
      type: "button", class: "swatch", role: "radio", "aria-label": label, title: label,
      "data-bg": name, style: `background:${hex}`, onclick: () => pickBackground(name),
    }));
  }
  swatches.addEventListener("keydown", (e) => {
    const all = [...swatches.querySelectorAll(".swatch")];
    const i = all.findIndex((s) => s.dataset.bg === idState.bg);
    const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[e.key];
    if (step) { e.preventDefault(); const next = all[(i + step + all.length) % all.length]; pickBackground(next.dataset.bg); next.focus(); }
  });
  $("id-bg-custom").addEventListener("input", (e) => pickBackground(e.target.value.slice(1)));
  pickBackground("white");
  $("id-size").addEventListener("change", describeSize);
  $("id-file").addEventListener("change", () => {
    const file = $("id-file").files[0];
    $("id-file-name").textContent = file ? `${file.name} · ${(file.size / 1048576).toFixed(1)} MB` : "";
    $("id-problem").hidden = true;
    if (file && tooLarge(file)) showProblem($("id-problem"), "The photo is too large", " " + tooLarge(file));
  });
  $("id-show-guides").addEventListener("change", (e) => ($("id-guides").style.display = e.target.checked ? "" : "none"));
  $("id-form").addEventListener("submit", (e) => { e.preventDefault(); makeIdPhoto(); });
  loadSizes();
}

async function makeIdPhoto() {
  const problem = $("id-problem");
  problem.hidden = true;
  const file = $("id-file").files[0];
  if (!file) { showProblem(problem, "Choose a photo first", " Pick one from your device, drop it here, or take one."); $("id-file").focus(); return; }
  if (tooLarge(file)) { showProblem(problem, "The photo is too large", " " + tooLarge(file)); return; }
  const params = new URLSearchParams({ size: $("id-size").value, format: $("id-format").value });
  if (idState.bg) params.set("bg", idState.bg);
  if ($("id-gradient").checked) params.set("render", "gradient");
  const maxKb = $("id-max-kb").value.trim();
  if (maxKb) params.set("max_kb", maxKb);
  const layout = $("id-layout").value;
  if (layout !== "none") params.set("layout", layout);
  await withProgress($("id-progress"), [$("id-make")], async () => {
    let response;
    try {
      response = await fetch(`/idphoto?${params}`, { method: "POST", body: file, headers: { Accept: "application/json" } });
    } catch (e) {
      showProblem(problem, "The server could not be reached", " " + e.message);
      return;
    }
    if (!response.ok) {
      const error = await errorOf(response);
      const [title, advice] = REFUSALS[error.code] || ["The photo could not be made", ""];
      showProblem(problem, title, advice ? ` ${advice} (${error.message})` : ` ${error.message}`);
      $("id-preview").hidden = true;
      $("id-empty").hidden = false;
      return;
    }
    showIdPhoto(await response.json(), layout);
  });
}

function showIdPhoto(answer, layout) {
  const type = answer.content_type || "image/jpeg";
  const bytes = Uint8Array.from(atob(answer.image), (c) => c.charCodeAt(0));
  const url = blobUrl("idphoto", new Blob([bytes], { type }));
  const image = $("id-image");
  image.src = url;
  image.width = answer.width; image.height = answer.height;
  const ext = type === "image/png" ? "png" : "jpg";
  const download = $("id-download");
  download.href = url;
  download.download = `idphoto-${$("id-size").value}${layout !== "none" ? "-" + layout : ""}.${ext}`;
  const g = answer.geometry || {};
  const parts = [`${answer.width}×${answer.height} px`, `${Math.round(answer.bytes / 102.4) / 10} KB`, `${answer.dpi} dpi`];
  if (g.head_ratio) parts.push(`head ${Math.round(g.head_ratio * 100)}%`);
  if (g.top_ratio) parts.push(`top ${Math.round(g.top_ratio * 100)}%`);
  if (g.tilt_corrected_deg) parts.push(`levelled ${g.tilt_corrected_deg.toFixed(1)}°`);
  if (answer.copies > 1) parts.push(`${answer.copies} copies`);
  const warnings = answer.warnings || [];
  $("id-caption").textContent = parts.join(" · ") + (warnings.length ? ` · warnings: ${warnings.join(", ")}` : "");
  drawGuides(answer, layout);
  $("id-empty").hidden = true;
  $("id-preview").hidden = false;
}

/** The chosen standard's bands (top margin, chin) and the measured crown and chin lines. */
function drawGuides(answer, layout) {
  const svg = $("id-guides");
  svg.replaceChildren();
  const size = currentSize();
  const g = answer.geometry;
  if (!size || !g || layout !== "none") return;
  const W = answer.width, H = answer.height;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("preserveAspectRatio", "none");
  const ns = "http://www.w3.org/2000/svg";
  const add = (tag, attrs) => { const n = document.createElementNS(ns, tag); for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v); svg.append(n); };
  const rules = size.head;
  // Where the top of the hair may be, and where the chin may be given the measured crown.
  add("rect", { x: 0, y: rules.top.min * H, width: W, height: (rules.top.max - rules.top.min) * H, fill: "rgba(36,87,214,.18)" });
  const crown = g.top_margin_px;
  add("rect", { x: 0, y: crown + rules.head.min * H, width: W, height: (rules.head.max - rules.head.min) * H, fill: "rgba(6,118,71,.18)" });
  add("line", { x1: 0, x2: W, y1: crown, y2: crown, stroke: "#2457d6", "stroke-width": 2, "stroke-dasharray": "6 4" });
  add("line", { x1: 0, x2: W, y1: crown + g.head_height_px, y2: crown + g.head_height_px, stroke: "#067647", "stroke-width": 2, "stroke-dasharray": "6 4" });
  add("line", { x1: W / 2, x2: W / 2, y1: 0, y2: H, stroke: "rgba(0,0,0,.25)", "stroke-width": 1 });
}

// ---------- QR ----------

function qrParams(format) {
  const params = new URLSearchParams({
    text: $("qr-text").value, ecc: $("qr-ecc").value, size: $("qr-size").value || "320",
    border: $("qr-border").value || "4", fg: $("qr-fg").value.slice(1), bg: $("qr-bg").value.slice(1),
  });
  if (format) params.set("format", format);
  return params;
}

async function drawQr() {
  const problem = $("qr-problem");
  problem.hidden = true;
  if (!$("qr-text").value) { $("qr-caption").textContent = "Type something to encode."; return; }
  await withProgress($("qr-progress"), [], async () => {
    const response = await fetch(`/qr?${qrParams("png")}`);
    if (!response.ok) {
      const error = await errorOf(response);
      showProblem(problem, "The code could not be made", ` ${error.message}`);
      return;
    }
    const url = blobUrl("qr", await response.blob());
    $("qr-image").src = url;
    $("qr-png").href = url;
    $("qr-svg").href = `/qr?${qrParams("svg")}`;
    $("qr-caption").textContent = `${$("qr-text").value.length} characters · level ${$("qr-ecc").value}`;
  });
}

function batchLines() {
  return $("qr-batch-text").value.split(/\r?\n/).map(csvFirstColumn).filter((l) => l.length);
}

/** The first column of a CSV line (quoted or not); a plain line as it is. */
function csvFirstColumn(line) {
  const t = line.trim();
  if (t.startsWith('"')) {
    const m = t.match(/^"((?:[^"]|"")*)"/);
    return m ? m[1].replace(/""/g, '"') : t;
  }
  return $("qr-batch-csv").dataset.csv === "1" ? t.split(",")[0].trim() : t;
}

async function makeBatch() {
  const problem = $("qr-batch-problem");
  problem.hidden = true;
  const lines = batchLines();
  if (!lines.length) { showProblem(problem, "Nothing to encode", " Paste one text per line, or choose a CSV file."); return; }
  if (lines.length > 1000) { showProblem(problem, "Too many codes", ` ${lines.length} lines; a batch holds at most 1,000.`); return; }
  await withProgress($("qr-batch-progress"), [...document.querySelectorAll("#qr-batch-form button")], async () => {
    const response = await fetch("/qr/batch", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ items: lines.map((text) => ({ text })), format: $("qr-batch-format").value, ecc: $("qr-ecc").value }),
    });
    if (!response.ok) {
      const error = await errorOf(response);
      showProblem(problem, "The batch could not be made", ` ${error.message}`);
      return;
    }
    const link = $("qr-batch-download");
    link.href = blobUrl("batch", await response.blob());
    link.hidden = false;
    $("qr-batch-done").textContent = `${lines.length} codes ready.`;
    link.focus();
  });
}

async function readCodes(blob) {
  const problem = $("qr-read-problem");
  problem.hidden = true;
  $("qr-codes").replaceChildren();
  if (blob.size > MAX_UPLOAD) { showProblem(problem, "The image is too large", " " + tooLarge(blob)); return; }
  const image = await createImageBitmap(blob).catch(() => null);
  await withProgress($("qr-read-progress"), [], async () => {
    const effort = $("qr-thorough").checked ? "?effort=thorough" : "";
    const response = await fetch(`/qr/decode${effort}`, { method: "POST", body: blob });
    if (!response.ok) {
      const error = await errorOf(response);
      showProblem(problem, "The image could not be read", ` ${error.message}`);
      return;
    }
    const answer = await response.json();
    const codes = answer.codes || [];
    if (image) outlineCodes(image, codes);
    if (!codes.length) {
      $("qr-codes").append(el("li", { class: "empty" }, "No QR code was found. Try a sharper photo, closer to the code, or “Look harder”."));
      return;
    }
    codes.forEach((code, i) => {
      const copy = el("button", { type: "button", class: "secondary", onclick: () => navigator.clipboard && navigator.clipboard.writeText(code.text) }, "Copy");
      $("qr-codes").append(el("li", { "data-text": code.text }, el("strong", {}, `#${i + 1} `), el("code", {}, code.text),
        document.createTextNode(code.version ? ` · version ${code.version} ` : " "), copy));
    });
  });
}

function outlineCodes(image, codes) {
  const canvas = $("qr-read-canvas");
  canvas.width = image.width; canvas.height = image.height;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(image, 0, 0);
  const line = Math.max(2, Math.round(Math.max(image.width, image.height) / 250));
  ctx.lineWidth = line;
  ctx.font = `bold ${line * 8}px system-ui, sans-serif`;
  codes.forEach((code, i) => {
    const c = code.corners;
    ctx.strokeStyle = "#00c853";
    ctx.beginPath();
    ctx.moveTo(c[0][0], c[0][1]);
    for (const p of c.slice(1)) ctx.lineTo(p[0], p[1]);
    ctx.closePath();
    ctx.stroke();
    ctx.fillStyle = "#00c853";
    ctx.fillText(`#${i + 1}`, c[0][0], Math.max(line * 8, c[0][1] - line * 2));
  });
  $("qr-read-stage").hidden = false;
}

function wireQr() {
  document.querySelectorAll("#qr .subtabs button").forEach((b) => b.addEventListener("click", () => {
    document.querySelectorAll("#qr .subtabs button").forEach((o) => o.setAttribute("aria-selected", String(o === b)));
    document.querySelectorAll("#qr .sub").forEach((s) => (s.hidden = s.id !== b.dataset.sub));
  }));
  const redraw = debounce(drawQr, 250);
  ["qr-text", "qr-ecc", "qr-size", "qr-border", "qr-fg", "qr-bg"].forEach((id) => $(id).addEventListener("input", redraw));
  $("qr-form").addEventListener("submit", (e) => e.preventDefault());
  $("qr-check").addEventListener("click", async () => {
    const blob = await (await fetch($("qr-png").href)).blob();
    document.querySelector('#qr .subtabs [data-sub="qr-read"]').click();
    readCodes(blob);
  });
  $("qr-batch-text").addEventListener("input", () => ($("qr-batch-count").textContent = `${batchLines().length} codes · at most 1,000`));
  $("qr-batch-csv").addEventListener("change", async (e) => {
    const file = e.target.files[0];
    if (!file) return;
    e.target.dataset.csv = "1";
    $("qr-batch-text").value = await file.text();
    $("qr-batch-text").dispatchEvent(new Event("input"));
  });
  $("qr-batch-form").addEventListener("submit", (e) => { e.preventDefault(); makeBatch(); });
  $("qr-file").addEventListener("change", () => { const f = $("qr-file").files[0]; if (f) readCodes(f); });
  $("qr-paste").addEventListener("click", async () => {
    try {
      for (const item of await navigator.clipboard.read()) {
        const type = item.types.find((t) => t.startsWith("image/"));
        if (type) { readCodes(await item.getType(type)); return; }
      }
      showProblem($("qr-read-problem"), "No image on the clipboard", " Copy an image first, or press Ctrl+V here.");
    } catch (e) {
      showProblem($("qr-read-problem"), "The clipboard could not be read", ` Press Ctrl+V instead (${e.message}).`);
    }
  });
  document.addEventListener("paste", (e) => {
    if ($("qr").hidden) return;
    const file = [...(e.clipboardData || {}).files || []].find((f) => f.type.startsWith("image/"));
    if (file) {
      e.preventDefault();
      document.querySelector('#qr .subtabs [data-sub="qr-read"]').click();
      readCodes(file);
    }
  });
  drawQr();
}

// ---------- Cut-out ----------

async function loadModels() {
  try {
    const response = await fetch("/segment/models");
    const body = await response.json();
    $("cut-model").replaceChildren(...body.models.map((m) => el("option", { value: m }, m)));
  } catch (_) { /* the select stays empty: the default model is used */ }
}

async function cutOut() {
  const problem = $("cut-problem");
  problem.hidden = true;
  const file = $("cut-file").files[0];
  if (!file) { showProblem(problem, "Choose a photo first", ""); return; }
  if (tooLarge(file)) { showProblem(problem, "The photo is too large", " " + tooLarge(file)); return; }
  await withProgress($("cut-progress"), [...document.querySelectorAll("#cut-form button")], async () => {
    const model = $("cut-model").value;
    const response = await fetch(`/segment${model ? "?model=" + encodeURIComponent(model) : ""}`, { method: "POST", body: file });
    if (!response.ok) {
      const error = await errorOf(response);
      showProblem(problem, "The photo could not be separated", ` ${error.message}`);
      return;
    }
    const [photo, matte] = await Promise.all([
      createImageBitmap(file, { imageOrientation: "from-image" }),
      createImageBitmap(await response.blob()),
    ]);
    const canvas = $("cut-canvas");
    canvas.width = photo.width; canvas.height = photo.height;
    const ctx = canvas.getContext("2d");
    ctx.drawImage(matte, 0, 0, photo.width, photo.height);
    const alpha = ctx.getImageData(0, 0, photo.width, photo.height);
    ctx.clearRect(0, 0, photo.width, photo.height);
    ctx.drawImage(photo, 0, 0);
    const pixels = ctx.getImageData(0, 0, photo.width, photo.height);
    for (let i = 3; i < pixels.data.length; i += 4) pixels.data[i] = alpha.data[i - 3];
    ctx.putImageData(pixels, 0, 0);
    $("cut-stage").hidden = false;
    canvas.toBlob((blob) => {
      const link = $("cut-download");
      link.href = blobUrl("cutout", blob);
      link.hidden = false;
    }, "image/png");
  });
}

function wireCutOut() {
  loadModels();
  $("cut-form").addEventListener("submit", (e) => { e.preventDefault(); cutOut(); });
}

// ---------- Operator console ----------

const con = { token: sessionStorage.getItem("atelier-token") || "", timer: null, last: null };

function adminFetch(path, options = {}) {
  const headers = Object.assign({}, options.headers || {}, { Authorization: `Bearer ${con.token}` });
  return fetch(path, Object.assign({}, options, { headers }));
}

async function connect() {
  const problem = $("con-problem");
  problem.hidden = true;
  const response = await adminFetch("/admin/v1/tenants").catch((e) => ({ ok: false, status: 0, statusText: e.message, json: async () => ({}) }));
  if (!response.ok) {
    const error = await errorOf(response);
    const hint = response.status === 401 ? " Check the token." : response.status === 404 ? " This server has no admin API ([admin] in its manifest)." : "";
    showProblem(problem, "Could not connect", ` ${error.message}${hint}`);
    $("con-body").hidden = true;
    return;
  }
  sessionStorage.setItem("atelier-token", con.token);
  const { tenants } = await response.json();
  $("con-body").hidden = false;
  $("con-deploy-tenant").replaceChildren(...tenants.map((t) => el("option", { value: t.id }, t.id)));
  await showTenants(tenants);
  watchMetrics();
}

async function showTenants(tenants) {
  const box = $("con-tenants");
  box.replaceChildren();
  if (!tenants.length) { box.append(el("p", { class: "empty panel" }, "No tenants: add [[tenant]] entries to the manifest.")); return; }
  for (const tenant of tenants) {
    const response = await adminFetch(`/admin/v1/tenants/${encodeURIComponent(tenant.id)}/functions`);
    const functions = response.ok ? (await response.json()).functions : [];
    const rows = functions.map((f) => {
      const out = el("pre", { class: "response", hidden: "" });
      const actions = el("div", { class: "actions" },
        el("button", { type: "button", class: "secondary", onclick: () => callFunction(f, out) }, "Call"),
        el("button", { type: "button", class: "secondary", onclick: () => act(tenant.id, f.name, "rollback") }, "Roll back"),
        el("button", { type: "button", class: "danger", onclick: () => act(tenant.id, f.name, "delete") }, "Delete"));
      return el("tr", { "data-function": f.name },
        el("td", {}, el("strong", {}, f.name), el("div", { class: "hint" }, f.public ? "public" : "needs a key")),
        el("td", {}, f.routes.join(", ") + (f.hosts.length ? ` on ${f.hosts.join(", ")}` : "")),
        el("td", {}, `v${f.version}`, el("div", { class: "hint" }, `kept: ${f.versions.map((v) => "v" + v).join(", ")}`)),
        el("td", {}, new Date(f.deployed_at_unix * 1000).toLocaleString()),
        el("td", {}, actions, out));
    });
    const table = el("table", { class: "data" },
      el("thead", {}, el("tr", {}, ...["Function", "Routes", "Version", "Deployed", ""].map((h) => el("th", {}, h)))),
      el("tbody", {}, ...(rows.length ? rows : [el("tr", {}, el("td", { colspan: "5", class: "hint" }, "No functions deployed yet."))])));
    const q = tenant.quotas || {};
    box.append(el("div", { class: "panel", "data-tenant": tenant.id },
      el("h2", {}, `Tenant ${tenant.id}`),
      el("p", { class: "hint" }, [
        tenant.hosts.length ? `hosts ${tenant.hosts.join(", ")}` : "any host",
        q.requests_per_minute ? `${q.requests_per_minute} req/min` : null,
        q.max_functions ? `up to ${q.max_functions} functions` : null,
        tenant.grants.length ? `grants ${tenant.grants.join(", ")}` : null,
      ].filter(Boolean).join(" · ")),
      el("div", { class: "table-scroll" }, table)));
  }
}

async function callFunction(f, out) {
  out.hidden = false;
  out.textContent = "Calling…";
  const route = f.routes[0] || "/";
  const started = performance.now();
  const response = await adminFetch(route).catch((e) => null);
  if (!response) { out.textContent = "The server could not be reached."; return; }
  const text = await response.text();
  out.textContent = `${response.status} ${response.statusText} · ${Math.round(performance.now() - started)} ms\n${text.slice(0, 2000)}`;
}

async function act(tenant, name, action) {
  const result = $("con-deploy-result");
  if (action === "delete" && !confirm(`Delete ${name} of ${tenant}? Its route stops answering at once.`)) return;
  const path = `/admin/v1/tenants/${encodeURIComponent(tenant)}/functions/${encodeURIComponent(name)}`;
  const response = action === "delete" ? await adminFetch(path, { method: "DELETE" }) : await adminFetch(`${path}/rollback`, { method: "POST" });
  if (!response.ok) {
    const error = await errorOf(response);
    result.className = "note"; result.textContent = `${action === "delete" ? "Delete" : "Rollback"} failed: ${error.message}`;
  } else {
    const info = await response.json();
    result.className = "note ok";
    result.textContent = action === "delete" ? `${name} deleted.` : `${name} rolled back to v${info.version}.`;
  }
  connect();
}

async function deploy() {
  const result = $("con-deploy-result");
  result.textContent = "";
  const tenant = $("con-deploy-tenant").value, name = $("con-deploy-name").value.trim();
  const route = $("con-deploy-route").value.trim(), file = $("con-deploy-file").files[0];
  if (!tenant || !name || !route || !file) { result.className = "note"; result.textContent = "Fill in the tenant, name, route and component."; return; }
  const params = new URLSearchParams({ route });
  if ($("con-deploy-public").checked) params.set("public", "true");
  await withProgress($("con-deploy-progress"), [...document.querySelectorAll("#con-deploy button")], async () => {
    const response = await adminFetch(`/admin/v1/tenants/${encodeURIComponent(tenant)}/functions/${encodeURIComponent(name)}?${params}`,
      { method: "PUT", body: file, headers: { "Content-Type": "application/wasm" } });
    if (!response.ok) {
      const error = await errorOf(response);
      result.className = "note"; result.textContent = `Deploy failed (${error.code}): ${error.message}`;
      return;
    }
    const info = await response.json();
    result.className = "note ok";
    result.textContent = `Deployed ${info.name} v${info.version} at ${info.routes.join(", ")}.`;
    await connect();
  });
}

/** Requests/s, errors/s and p99 per function from two readings of /metrics. */
function parseMetrics(text) {
  const functions = {};
  const entry = (f) => (functions[f] = functions[f] || { requests: 0, errors: 0, buckets: {} });
  for (const line of text.split("\n")) {
    let m = line.match(/^atelier_requests_total\{(.*)\} ([0-9.e+]+)$/);
    if (m) {
      const labels = Object.fromEntries([...m[1].matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
      const e = entry(labels.function);
      e.requests += Number(m[2]);
      if (/^5/.test(labels.status)) e.errors += Number(m[2]);
      continue;
    }
    m = line.match(/^atelier_request_duration_seconds_bucket\{(.*)\} ([0-9.e+]+)$/);
    if (m) {
      const labels = Object.fromEntries([...m[1].matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
      entry(labels.function).buckets[labels.le] = Number(m[2]);
    }
  }
  return functions;
}

function p99(now, before) {
  const les = Object.keys(now.buckets).sort((a, b) => (a === "+Inf") - (b === "+Inf") || Number(a) - Number(b));
  const count = (le) => now.buckets[le] - ((before && before.buckets[le]) || 0);
  const total = count("+Inf");
  if (!total) return null;
  const le = les.find((l) => count(l) >= total * 0.99);
  return le === "+Inf" ? "> " + les[les.length - 2] + " s" : `≤ ${Number(le) * 1000} ms`;
}

function watchMetrics() {
  clearInterval(con.timer);
  const tick = async () => {
    if ($("console").hidden) return;
    const response = await adminFetch("/metrics").catch(() => null);
    if (!response || !response.ok) { $("con-metrics-note").textContent = "metrics unavailable"; return; }
    const now = { at: performance.now(), functions: parseMetrics(await response.text()) };
    const last = con.last;
    con.last = now;
    const seconds = last ? (now.at - last.at) / 1000 : null;
    const rows = Object.entries(now.functions).sort().map(([name, f]) => {
      const before = last && last.functions[name];
      const rate = (v, b) => (seconds ? ((v - (b || 0)) / seconds).toFixed(1) : "…");
      return el("tr", {}, el("td", {}, name), el("td", {}, rate(f.requests, before && before.requests)),
        el("td", {}, rate(f.errors, before && before.errors)), el("td", {}, (last && p99(f, before)) || "–"));
    });
    $("con-metrics").tBodies[0].replaceChildren(...rows);
    $("con-metrics-note").textContent = "last 2 s, updated live";
  };
  tick();
  con.timer = setInterval(tick, 2000);
}

function wireConsole() {
  $("con-token").value = con.token;
  $("con-login").addEventListener("submit", (e) => { e.preventDefault(); con.token = $("con-token").value.trim(); connect(); });
  $("con-deploy").addEventListener("submit", (e) => { e.preventDefault(); deploy(); });
  if (con.token) connect();
}

// ---------- start ----------

window.addEventListener("hashchange", showTab);
document.addEventListener("DOMContentLoaded", () => {
  showTab();
  wireDrops();
  wireCamera();
  wireIdPhoto();
  wireQr();
  wireCutOut();
  wireConsole();
  $("cut-file").addEventListener("change", () => $("cut-problem").hidden = true);
});
