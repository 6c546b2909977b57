// glassnet playground page. It only draws: every forward and backward pass runs in glassnet on
// the server. The settings live in the URL (after #), so a link restores an experiment.
"use strict";

const LEARNING_RATES = [0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10];
const REG_RATES = [0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1];
const DATASET_LABELS = {
  circles: "Circle", xor: "Exclusive or", gauss: "Gaussian", spiral: "Spiral", moons: "Moons",
  plane: "Plane", multi_gauss: "Multi Gaussian", spiral3: "Three arms (3 classes)",
  gauss3: "Three blobs (3 classes)", custom: "Uploaded CSV",
};
const DROPOUTS = [0, 0.1, 0.2, 0.3, 0.4, 0.5];
const NEURON = 30;       // px, a neuron's square
const ROW = 40;          // px between neurons of a column
const MIN_SPACING = 76;  // px between columns at least: a layer's controls fit above it
const MAX_DRAWN = 16;    // the server sends maps and weights of at most this many units a layer

const $ = (id) => document.getElementById(id);
const state = {
  options: null, settings: null, snapshot: null, session: null, playing: false, ws: null,
  view: { showTest: false, discretize: false }, selected: null, layout: null,
  generation: 0,  // counts snapshots: a tool's answer for an older network is dropped
};
// Counters read by the tests and by bench/playground_updates.py.
window.glassnet = { frames: 0, toolAnswers: 0, errors: [], ready: false, state };
const isClassifier = () => state.settings.problem === "classification";

// ---------------------------------------------------------------- colours
function lerp(a, b, t) { return Math.round(a + (b - a) * t); }
const NEG = [245, 147, 34], MID = [232, 234, 235], POS = [8, 119, 189];
// LUT[byte] -> [r, g, b] for v = byte / 127.5 - 1 in [-1, 1]: orange, white, blue.
const LUT = Array.from({ length: 256 }, (_, i) => {
  const v = i / 127.5 - 1, from = v < 0 ? NEG : POS, t = Math.abs(v);
  return [lerp(MID[0], from[0], t), lerp(MID[1], from[1], t), lerp(MID[2], from[2], t)];
});
const colour = (v) => {
  const c = LUT[Math.max(0, Math.min(255, Math.round((v + 1) * 127.5)))];
  return `rgb(${c[0]},${c[1]},${c[2]})`;
};
function decode(b64) {
  const s = atob(b64), out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
function paint(canvas, bytes, res, discretize, lut = LUT) {
  const ctx = canvas.getContext("2d"), img = ctx.createImageData(res, res);
  for (let i = 0; i < res * res; i++) {
    let b = bytes[i];
    if (discretize) b = b >= 128 ? 255 : 0;
    const c = lut[b];
    img.data[4 * i] = c[0]; img.data[4 * i + 1] = c[1]; img.data[4 * i + 2] = c[2];
    img.data[4 * i + 3] = 255;
  }
  return img;
}
// One colour per class: the first two are the two-class orange and blue.
const PALETTE = [NEG, POS, [46, 160, 67], [148, 103, 189], [214, 39, 40], [140, 86, 75],
  [227, 119, 194], [23, 190, 207]];
const classColour = (k) => `rgb(${PALETTE[k % PALETTE.length].join(",")})`;
// CLASS_LUT[k][byte] -> white to class k's colour, for byte = 255 p (p a probability).
const CLASS_LUT = PALETTE.map((to) => Array.from({ length: 256 }, (_, i) => {
  const t = i / 255;
  return [lerp(MID[0], to[0], t), lerp(MID[1], to[1], t), lerp(MID[2], to[2], t)];
}));
// The regions of a classifier of 3+ classes: each cell in its class's colour, as strong as
// its probability is above chance (the server's confidence bytes).
function paintRegions(canvas, classes, confidence, res, discretize) {
  const ctx = canvas.getContext("2d"), img = ctx.createImageData(res, res);
  for (let i = 0; i < res * res; i++) {
    // at most 60 % of the colour: the points, in full colour, stay visible on their region
    const to = PALETTE[classes[i] % PALETTE.length], t = 0.6 * (discretize ? 1 : confidence[i] / 255);
    img.data[4 * i] = lerp(MID[0], to[0], t); img.data[4 * i + 1] = lerp(MID[1], to[1], t);
    img.data[4 * i + 2] = lerp(MID[2], to[2], t); img.data[4 * i + 3] = 255;
  }
  return img;
}

// ---------------------------------------------------------------- the URL
const URL_KEYS = {  // setting -> short URL key
  dataset: "dataset", n_samples: "n", noise: "noise", train_ratio: "ratio", seed: "seed",
  problem: "problem", features: "features", layers: "layers", residual: "residual",
  learning_rate: "lr", batch_size: "batch", optimizer: "optimizer", regularization: "reg",
  regularization_rate: "regRate", grid: "grid",
};
function settingsToHash(s) {
  const p = new URLSearchParams();
  for (const [key, short] of Object.entries(URL_KEYS)) {
    let v = s[key];
    if (key === "features") v = v.join(",");
    else if (key === "layers") {
      v = v.map((l) => `${l.units}:${l.activation}${l.dropout ? `:${l.dropout}` : ""}`).join(",");
    }
    else if (key === "residual") v = v ? 1 : 0;
    p.set(short, v);
  }
  p.set("showTest", state.view.showTest ? 1 : 0);
  p.set("discretize", state.view.discretize ? 1 : 0);
  return "#" + p.toString();
}
function hashToSettings(hash) {
  const p = new URLSearchParams(hash.replace(/^#/, "")), s = {};
  const num = (v) => (v === null || v === "" || isNaN(Number(v)) ? v : Number(v));
  for (const [key, short] of Object.entries(URL_KEYS)) {
    if (!p.has(short)) continue;
    const v = p.get(short);
    if (key === "features") s.features = v ? v.split(",") : [];
    else if (key === "layers") {
      s.layers = v ? v.split(",").map((l) => {
        const [units, activation, dropout] = l.split(":");
        return { units: num(units), activation: activation || "tanh", dropout: num(dropout || "0") };
      }) : [];
    } else if (key === "residual") s.residual = v === "1" || v === "true";
    else if (["dataset", "problem", "optimizer", "regularization"].includes(key)) s[key] = v;
    else s[key] = num(v);
  }
  if (s.dataset === "custom") delete s.dataset;  // uploaded data cannot travel in a link
  state.view.showTest = p.get("showTest") === "1";
  state.view.discretize = p.get("discretize") === "1";
  return s;
}
function writeUrl() { history.replaceState(null, "", settingsToHash(state.settings)); }

// ---------------------------------------------------------------- talking to the server
// Every request that changes state is JSON: the server refuses any other Content-Type there.
async function api(method, path, body) {
  const init = { method, headers: {} };
  if (method !== "GET") init.headers["Content-Type"] = "application/json";
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(path, init);
  const data = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (!response.ok) {
    const err = new Error(data.error || `HTTP ${response.status}`);
    err.field = data.field; err.status = response.status;
    throw err;
  }
  return data;
}
const sessionPath = (tail = "") => `/api/sessions/${state.session}${tail}`;

function showError(id, message) {
  const box = $(id);
  box.textContent = message || "";
  box.hidden = !message;
}

async function start() {
  state.options = await api("GET", "/api/options");
  fillSelects();
  const wanted = { ...state.options.defaults, ...hashToSettings(location.hash) };
  let snap;
  try {
    snap = await api("POST", "/api/sessions", wanted);
  } catch (err) {  // a bad link: say so, and start from the defaults
    showError("data-error", `The link's settings were not accepted: ${err.message}`);
    snap = await api("POST", "/api/sessions", {});
  }
  state.session = snap.session;
  $("export").href = sessionPath("/export");
  $("export-py").href = sessionPath("/export.py");
  openStream();
  applySnapshot(snap);
  window.glassnet.ready = true;
  setInterval(() => { if (!state.playing) api("GET", sessionPath()).catch(sessionLost); }, 120000);
}

function openStream() {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${sessionPath("/stream")}`);
  ws.onmessage = (event) => {
    const frame = JSON.parse(event.data);
    applyFrame(frame);
    window.glassnet.frames += 1;
    requestAnimationFrame(() => { if (ws.readyState === WebSocket.OPEN) ws.send("ack"); });
    if (frame.error) setPlaying(false);
  };
  ws.onclose = (event) => { if (event.code === 4404) sessionLost(); };
  state.ws = ws;
}
function sessionLost() {
  setPlaying(false);
  showError("train-error", "This session has expired. Reload the page to start a new one.");
}

// Changes go to the server one at a time, in order: sent together, their answers could come
// back out of order and an older snapshot would overwrite a newer one (controls and URL).
let pendingChanges = Promise.resolve();
function change(patch) {
  pendingChanges = pendingChanges.then(() => sendChange(patch));
  return pendingChanges;
}
async function sendChange(patch) {
  try {
    const snap = await api("PUT", sessionPath("/settings"), patch);
    showError("data-error", "");
    applySnapshot(snap);
  } catch (err) {
    showError("data-error", err.message);
    applySettings(state.settings);  // put the controls back
  }
}

async function command(name) {
  try {
    const result = await api("POST", sessionPath(`/${name}`));
    if (name === "play") setPlaying(true);
    else applySnapshot(result);
  } catch (err) {
    showError("train-error", err.message);
  }
}
function setPlaying(playing) {
  state.playing = playing;
  const button = $("play");
  button.innerHTML = playing ? "&#x2016;" : "&#x25B6;";
  button.title = playing ? "Pause" : "Train";
  button.setAttribute("aria-label", playing ? "Pause training" : "Start training");
}

// ---------------------------------------------------------------- applying server state
function applySnapshot(snap) {
  state.snapshot = snap;
  state.settings = snap.settings;
  state.generation += 1;
  clearTools();  // their results were for the network before this snapshot
  if (snap.playing !== undefined) setPlaying(snap.playing);
  applySettings(snap.settings);
  writeUrl();
  $("step-index").max = String(snap.train.length + snap.test.length - 1);
  buildNetwork(snap);
  drawLegend(snap);
  applyFrame(snap);
  window.glassnet.stepper?.snapshot();
  window.glassnet.drivers?.snapshot();
}

function applySettings(s) {
  selectValue("learning_rate", s.learning_rate);
  selectValue("regularization_rate", s.regularization_rate);
  $("regularization").value = s.regularization;
  $("problem").value = s.problem;
  $("optimizer").value = s.optimizer;
  const acts = new Set(s.layers.map((l) => l.activation));
  $("activation").value = acts.size === 1 ? [...acts][0] : "";
  const drops = new Set(s.layers.map((l) => l.dropout));
  if (drops.size === 1) selectValue("dropout", [...drops][0]);
  else $("dropout").value = "";
  for (const [id, value, shown] of [
    ["train_ratio", s.train_ratio * 100, `${Math.round(s.train_ratio * 100)}%`],
    ["noise", s.noise * 100, `${Math.round(s.noise * 100)}`],
    ["batch_size", s.batch_size, `${s.batch_size}`],
    ["n_samples", s.n_samples, `${s.n_samples}`],
  ]) {
    $(id).value = value;
    $(`${id}-out`).textContent = shown;
  }
  $("residual").checked = s.residual;
  $("n-layers").textContent = s.layers.length;
  $("layers-word").textContent = s.layers.length === 1 ? "hidden layer" : "hidden layers";
  $("show-test").checked = state.view.showTest;
  $("discretize").checked = state.view.discretize;
  for (const button of $("datasets").children) {
    const task = state.options.datasets[button.dataset.name];
    button.classList.toggle("selected", button.dataset.name === s.dataset);
    button.disabled = (task !== "any" && task !== s.problem) ||
      (button.dataset.name === "custom" && !(state.snapshot && state.snapshot.custom_rows));
  }
}
function selectValue(id, value) {
  const select = typeof id === "string" ? $(id) : id;
  const matches = (o) => o.value !== "" && Number(o.value) === value;
  if (![...select.options].some(matches)) select.add(new Option(String(value), String(value)));
  select.value = [...select.options].find(matches).value;
}

function applyFrame(frame) {
  const snap = state.snapshot;
  if (!snap || !state.layout) return;
  if (frame.neurons.length !== state.layout.columns.length - 1) return;  // from before a change
  $("epoch").textContent = String(frame.epoch).padStart(6, "0").replace(/(\d{3})$/, ",$1");
  $("loss-test").textContent = frame.loss_test === null ? "nan" : frame.loss_test.toFixed(3);
  $("loss-train").textContent = frame.loss_train === null ? "nan" : frame.loss_train.toFixed(3);
  if (frame !== snap) {
    const last = snap.history[snap.history.length - 1];
    if (!last || last[0] !== frame.epoch) snap.history.push([frame.epoch, frame.loss_train, frame.loss_test]);
    if (snap.history.length > 2000) snap.history = snap.history.filter((_, i) => i % 2 === 0);
  }
  state.frame = frame;
  drawBoundary();
  drawLossCurve(snap.history);
  drawNeurons(frame);
  drawLinks(frame);
  drawGradients(frame.delta_norms);
  showError("train-error", frame.error);
}

// ---------------------------------------------------------------- drawing
const offscreen = document.createElement("canvas");
function drawBoundary() {
  const snap = state.snapshot, frame = state.frame, canvas = $("boundary");
  const ctx = canvas.getContext("2d"), res = snap.grid;
  offscreen.width = res; offscreen.height = res;
  const image = frame.regions
    ? paintRegions(offscreen, decode(frame.regions.class), decode(frame.regions.confidence), res, state.view.discretize)
    : paint(offscreen, decode(frame.boundary), res, state.view.discretize);
  offscreen.getContext("2d").putImageData(image, 0, 0);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(offscreen, 0, 0, canvas.width, canvas.height);
  const scale = canvas.width / (2 * snap.domain);
  const drawPoints = (points, stroke) => {
    for (const [x1, x2, y] of points) {
      ctx.beginPath();
      ctx.arc((x1 + snap.domain) * scale, (snap.domain - x2) * scale, 3, 0, 2 * Math.PI);
      ctx.fillStyle = isClassifier() ? classColour(y) : colour(Math.max(-1, Math.min(1, y)));
      ctx.fill();
      ctx.strokeStyle = stroke;
      ctx.lineWidth = 1;
      ctx.stroke();
    }
  };
  drawPoints(snap.train, "#fff");
  if (state.view.showTest) drawPoints(snap.test, "#000");
  if (state.selected !== null) {
    const p = state.selected < snap.train.length ? snap.train[state.selected] : snap.test[state.selected - snap.train.length];
    if (p) {
      ctx.beginPath();
      ctx.arc((p[0] + snap.domain) * scale, (snap.domain - p[1]) * scale, 7, 0, 2 * Math.PI);
      ctx.strokeStyle = "#000"; ctx.lineWidth = 2; ctx.stroke();
    }
  }
  window.glassnet.drivers?.draw(ctx, scale);  // the points that drive a chosen weight
}

function drawLossCurve(history) {
  const canvas = $("loss-curve"), ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (history.length < 2) return;
  const maxEpoch = Math.max(1, history[history.length - 1][0]);
  const maxLoss = Math.max(1e-9, ...history.flatMap((h) => [h[1] || 0, h[2] || 0]));
  for (const [column, style] of [[1, "#333"], [2, "#aaa"]]) {
    ctx.beginPath();
    history.forEach((h, i) => {
      const x = (h[0] / maxEpoch) * canvas.width, y = canvas.height - ((h[column] || 0) / maxLoss) * (canvas.height - 2);
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.strokeStyle = style; ctx.lineWidth = 1.5; ctx.stroke();
  }
}

// Input features' maps are computed here: the functions are fixed and known.
const FEATURE_FUNCTIONS = {
  "x1": (a, b, d) => a / d, "x2": (a, b, d) => b / d, "x1^2": (a, b, d) => (a * a) / (d * d),
  "x2^2": (a, b, d) => (b * b) / (d * d), "x1*x2": (a, b, d) => (a * b) / (d * d),
  "sin(x1)": (a) => Math.sin(a), "sin(x2)": (a, b) => Math.sin(b),
};
function featureBytes(name, res, domain) {
  const out = new Uint8Array(res * res), step = (2 * domain) / res;
  for (let r = 0; r < res; r++) {
    for (let c = 0; c < res; c++) {
      const x1 = -domain + step * (c + 0.5), x2 = domain - step * (r + 0.5);
      const v = Math.max(-1, Math.min(1, FEATURE_FUNCTIONS[name](x1, x2, domain)));
      out[r * res + c] = Math.round((v + 1) * 127.5);
    }
  }
  return out;
}

function buildNetwork(snap) {
  const s = snap.settings, container = $("neurons"), svg = $("links");
  container.innerHTML = ""; svg.innerHTML = "";
  const hidden = s.layers.map((l) => l.units);
  const columns = [state.options.features.length, ...hidden, snap.sizes[snap.sizes.length - 1]];
  // at least MIN_SPACING between columns; past the panel's width, #network scrolls sideways
  const left = 60, right = 76;  // room for the step-through's numbers beside the outputs
  const width = Math.max($("network").clientWidth || 600,
    left + right + NEURON + MIN_SPACING * (columns.length - 1));
  const spacing = (width - left - right - NEURON) / (columns.length - 1);
  const xs = columns.map((_, i) => left + spacing * i);
  const top = snap.residual.some((r) => r) ? 106 : 90;  // a "+skip" line under some headers
  const drawn = columns.map((n, i) => (i === 0 ? n : Math.min(n, MAX_DRAWN)));
  const height = top + Math.max(...drawn) * ROW + 30;
  $("network").style.height = `${height}px`;
  svg.setAttribute("width", width); svg.setAttribute("height", height);
  const layout = { columns, xs, top, neurons: [], links: [], ctlWidth: Math.min(90, spacing - 6) };

  // the inputs: every feature, the unused ones dimmed; click to toggle
  layout.inputs = state.options.features.map((name, j) => {
    const canvas = neuronCanvas(xs[0], top + j * ROW, snap.neuron_grid);
    canvas.classList.add("input");
    canvas.dataset.feature = name;
    const active = s.features.includes(name);
    canvas.classList.toggle("inactive", !active);
    canvas.title = active ? `${name} (click to remove)` : `${name} (click to add)`;
    canvas.getContext("2d").putImageData(paint(canvas, featureBytes(name, snap.neuron_grid, snap.domain), snap.neuron_grid), 0, 0);
    canvas.onclick = () => {
      const features = active ? s.features.filter((f) => f !== name) : [...s.features, name];
      change({ features });
    };
    container.appendChild(canvas);
    const label = document.createElement("div");
    label.className = "input-label"; label.textContent = name;
    label.style.left = `${xs[0] - 56}px`; label.style.top = `${top + j * ROW + 8}px`;
    container.appendChild(label);
    return { active, y: top + j * ROW, canvas };
  });

  // hidden and output neurons, with each hidden layer's controls above it
  for (let l = 1; l < columns.length; l++) {
    const units = [];
    const output = l === columns.length - 1;
    for (let j = 0; j < drawn[l]; j++) {
      const canvas = neuronCanvas(xs[l], top + j * ROW, snap.neuron_grid);
      canvas.dataset.layer = l; canvas.dataset.unit = j;
      if (!output && s.layers[l - 1].dropout > 0) {
        canvas.classList.add("dropout");
        canvas.title = `dropout ${s.layers[l - 1].dropout}: dropped with this probability while training`;
      }
      if (output && columns[l] > 1) {
        canvas.style.borderColor = classColour(j);
        canvas.title = `p(class ${snap.classes[j]})`;
      }
      container.appendChild(canvas);
      units.push(canvas);
    }
    layout.neurons.push(units);
    if (columns[l] > drawn[l]) {
      const more = document.createElement("div");
      more.className = "more-label"; more.textContent = `+${columns[l] - drawn[l]} more`;
      more.style.left = `${xs[l]}px`; more.style.top = `${top + drawn[l] * ROW}px`;
      container.appendChild(more);
    }
    if (l < columns.length - 1) {
      container.appendChild(layerControls(l - 1, xs[l], layout.ctlWidth, s, snap.residual[l - 1]));
    }
  }

  // links: geometry now, colour and width per frame
  const sources = (l) => (l === 0 ? layout.inputs.map((inp, j) => ({ j, y: inp.y, active: inp.active }))
    : layout.neurons[l - 1].map((_, j) => ({ j, y: top + j * ROW, active: true })));
  for (let l = 1; l < columns.length; l++) {
    let k = 0;  // index among the layer's actual inputs
    for (const src of sources(l - 1)) {
      if (!src.active) continue;
      const inputIndex = k++;
      if (inputIndex >= MAX_DRAWN) break;
      for (let j = 0; j < drawn[l]; j++) {
        const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
        const x0 = xs[l - 1] + NEURON, y0 = src.y + NEURON / 2, x1 = xs[l], y1 = top + j * ROW + NEURON / 2;
        const mid = (x0 + x1) / 2;
        path.setAttribute("d", `M${x0},${y0} C${mid},${y0} ${mid},${y1} ${x1},${y1}`);
        path.dataset.layer = l - 1; path.dataset.row = j; path.dataset.col = inputIndex;
        svg.appendChild(path);
        layout.links.push(path);
      }
    }
  }
  state.layout = layout;
}

function neuronCanvas(x, y, res) {
  const canvas = document.createElement("canvas");
  canvas.width = res; canvas.height = res;
  canvas.className = "neuron";
  canvas.style.left = `${x}px`; canvas.style.top = `${y}px`;
  return canvas;
}

function layerControls(index, x, width, s, isResidual) {
  const box = document.createElement("div");
  box.className = "layer-ctl";
  box.style.left = `${x + NEURON / 2 - width / 2}px`; box.style.top = "0px";
  box.style.width = `${width}px`;
  const buttons = document.createElement("div");
  for (const [text, delta, title] of [["+", 1, "Add a neuron"], ["\u2212", -1, "Remove a neuron"]]) {
    const b = document.createElement("button");
    b.textContent = text; b.title = title; b.className = delta > 0 ? "add-neuron" : "remove-neuron";
    b.setAttribute("aria-label", `${title} ${delta > 0 ? "to" : "from"} layer ${index + 1}`);
    b.onclick = () => {
      const layers = s.layers.map((l) => ({ ...l }));
      layers[index].units = Math.max(1, Math.min(state.options.limits.max_units, layers[index].units + delta));
      change({ layers });
    };
    buttons.appendChild(b);
  }
  box.appendChild(buttons);
  const label = document.createElement("div");
  label.textContent = `${s.layers[index].units} neuron${s.layers[index].units === 1 ? "" : "s"}`;
  box.appendChild(label);
  if (isResidual) {
    const skip = document.createElement("div");
    skip.className = "skip"; skip.textContent = "+skip"; skip.dataset.layer = index + 1;
    skip.title = "residual block: a = a_prev + f(W a_prev + b)";
    box.appendChild(skip);
  }
  const select = document.createElement("select");
  select.className = "layer-activation";
  select.setAttribute("aria-label", `Activation of layer ${index + 1}`);
  for (const act of state.options.activations) select.add(new Option(act, act));
  select.value = s.layers[index].activation;
  select.onchange = () => {
    const layers = s.layers.map((l) => ({ ...l }));
    layers[index].activation = select.value;
    change({ layers });
  };
  box.appendChild(select);
  const dropout = document.createElement("select");
  dropout.className = "layer-dropout";
  dropout.setAttribute("aria-label", `Dropout of layer ${index + 1}`);
  dropout.title = "Dropout: the probability that a unit is dropped while training (none when drawing)";
  for (const p of DROPOUTS) dropout.add(new Option(p ? `drop ${p}` : "no drop", String(p)));
  selectValue(dropout, s.layers[index].dropout);
  dropout.onchange = () => {
    const layers = s.layers.map((l) => ({ ...l }));
    layers[index].dropout = Number(dropout.value);
    change({ layers });
  };
  box.appendChild(dropout);
  return box;
}

function drawNeurons(frame) {
  const res = state.snapshot.neuron_grid, last = state.layout.neurons.length - 1;
  state.layout.neurons.forEach((units, l) => {
    const perClass = l === last && units.length > 1 && isClassifier();  // softmax: p per class
    units.forEach((canvas, j) => {
      const b64 = frame.neurons[l][j];
      const lut = perClass ? CLASS_LUT[j % CLASS_LUT.length] : LUT;
      if (b64) canvas.getContext("2d").putImageData(paint(canvas, decode(b64), res, false, lut), 0, 0);
    });
  });
}

function drawLegend(snap) {
  const legend = $("legend");
  legend.textContent = "";
  if (!snap.classes) return;
  snap.classes.forEach((label, k) => {
    const item = document.createElement("span");
    item.className = "legend-item";
    const swatch = document.createElement("i");
    swatch.style.background = classColour(k);
    item.append(swatch, `class ${label}`);
    legend.appendChild(item);
  });
}

function drawLinks(frame) {
  for (const path of state.layout.links) {
    const W = frame.weights[path.dataset.layer].W, row = W[path.dataset.row];
    const w = row ? row[path.dataset.col] : undefined;
    if (w === undefined || w === null) continue;
    path.dataset.w = w;
    path.setAttribute("stroke", colour(Math.max(-1, Math.min(1, w))));
    path.setAttribute("stroke-width", Math.min(8, 0.5 + 2 * Math.abs(w)).toFixed(2));
  }
}

const GRAD_LOW = -8, GRAD_HIGH = 2;  // log10 range of the gradient bars
function drawGradients(norms) {
  const panel = $("grad-panel");
  if (panel.children.length !== norms.length) {
    panel.innerHTML = "";
    norms.forEach((_, l) => {
      const row = document.createElement("div");
      row.className = "grad-row";
      row.innerHTML = `<span>${l === norms.length - 1 ? "output" : `layer ${l + 1}`}</span>` +
        '<div class="grad-track"><div class="grad-bar"></div></div><span class="grad-value"></span>';
      panel.appendChild(row);
    });
  }
  norms.forEach((v, l) => {
    const row = panel.children[l];
    const log = v > 0 ? Math.log10(v) : GRAD_LOW;
    const t = Math.max(0, Math.min(1, (log - GRAD_LOW) / (GRAD_HIGH - GRAD_LOW)));
    row.querySelector(".grad-bar").style.width = `${(100 * t).toFixed(1)}%`;
    row.querySelector(".grad-value").textContent = v === null ? "nan" : v.toExponential(2);
  });
}

// ---------------------------------------------------------------- tools
function clearTools() {
  for (const id of ["explain", "gradcheck"]) {
    $(id).hidden = true;
    $(id).textContent = "";
  }
}

// Runs a tool and shows its answer in its panel, unless the network changed meanwhile.
async function runTool(id, path, body, render) {
  const panel = $(id), generation = state.generation;
  panel.hidden = false;
  panel.textContent = "working...";
  let content;
  try {
    content = render(await api("POST", sessionPath(path), body));
  } catch (err) {
    content = document.createElement("div");
    content.className = "error";
    content.textContent = err.message;
  }
  window.glassnet.toolAnswers += 1;
  if (generation !== state.generation) return;  // cleared by a newer snapshot
  panel.textContent = "";
  panel.appendChild(content);
}

function explain() {
  if (state.selected === null) state.selected = 0;
  drawBoundary();
  return runTool("explain", "/explain", { index: state.selected }, (e) => {
    const box = document.createElement("div"), head = document.createElement("div");
    head.innerHTML = `<b>${e.part} point ${e.index}</b> at epoch ${e.epoch}: x = (` +
      `${e.x.map((v) => v.toFixed(3)).join(", ")}) [${e.features.join(", ")}], y = ${e.y}`;
    const pre = document.createElement("pre");
    pre.textContent = e.text;
    box.append(head, pre);
    return box;
  });
}
function fmt(v) { return v === null ? "nan" : (Math.abs(v) >= 1e-3 || v === 0 ? v.toFixed(4) : v.toExponential(2)); }
function table(header, rows) {
  const t = document.createElement("table");
  const tr = t.insertRow();
  for (const h of header) { const th = document.createElement("th"); th.textContent = h; tr.appendChild(th); }
  for (const row of rows) {
    const r = t.insertRow();
    row.forEach((v, i) => { r.insertCell().textContent = i === 0 || typeof v === "string" ? String(v) : fmt(v); });
  }
  return t;
}

function runGradcheck() {
  return runTool("gradcheck", "/gradcheck", undefined, (g) => {
    const box = document.createElement("div"), head = document.createElement("div");
    head.innerHTML = `gradcheck <b class="${g.passed ? "" : "fail"}">${g.verdict}</b> on ${g.n_samples} training points, ` +
      (g.fast ? "random directions" : "every entry");
    box.append(head, table(["layer", "tensor", "shape", "max abs err", "max rel err", "ok"],
      g.rows.map((r) => [r.layer, r.tensor, r.shape.join("×"), r.max_abs_error, r.max_rel_error, r.passed ? "yes" : r.verdict === "FAILED" ? "NO" : "n/a"])));
    return box;
  });
}

async function upload(file) {
  const limit = state.options.limits.max_csv_bytes;
  if (file.size > limit) {
    showError("data-error", `The file is ${file.size} bytes; the limit is ${limit}.`);
    return;
  }
  try {
    const snap = await api("POST", sessionPath("/data"), { csv: await file.text() });
    showError("data-error", "");
    applySnapshot(snap);
  } catch (err) {
    showError("data-error", err.message);
  }
  $("csv").value = "";
}

function pickPoint(event) {
  const snap = state.snapshot, canvas = $("boundary"), rect = canvas.getBoundingClientRect();
  const scale = canvas.width / (2 * snap.domain);
  const px = ((event.clientX - rect.left) * canvas.width) / rect.width;
  const py = ((event.clientY - rect.top) * canvas.height) / rect.height;
  let best = null, bestDist = 100;  // within 10 px
  const points = state.view.showTest ? [...snap.train, ...snap.test] : snap.train;
  points.forEach(([x1, x2], i) => {
    const d = ((x1 + snap.domain) * scale - px) ** 2 + ((snap.domain - x2) * scale - py) ** 2;
    if (d < bestDist) { best = i; bestDist = d; }
  });
  if (best === null) return;
  state.selected = best;
  if (!window.glassnet.stepper?.pick(best)) explain();
}

// ---------------------------------------------------------------- wiring the controls
function fillSelects() {
  for (const lr of LEARNING_RATES) $("learning_rate").add(new Option(String(lr), String(lr)));
  for (const r of REG_RATES) $("regularization_rate").add(new Option(String(r), String(r)));
  $("activation").add(new Option("(per layer)", ""));
  for (const act of state.options.activations) $("activation").add(new Option(act, act));
  $("dropout").add(new Option("(per layer)", ""));
  for (const p of DROPOUTS) $("dropout").add(new Option(p ? String(p) : "none", String(p)));
  for (const name of Object.keys(state.options.datasets)) {
    const b = document.createElement("button");
    b.textContent = DATASET_LABELS[name] || name;
    b.dataset.name = name;
    b.onclick = () => change({ dataset: name });
    $("datasets").appendChild(b);
  }
}

function wire() {
  $("play").onclick = () => command(state.playing ? "pause" : "play");
  $("step").onclick = () => command("step");
  $("reset").onclick = () => command("reset");
  $("learning_rate").onchange = (e) => change({ learning_rate: Number(e.target.value) });
  $("regularization").onchange = (e) => change({ regularization: e.target.value });
  $("regularization_rate").onchange = (e) => change({ regularization_rate: Number(e.target.value) });
  $("optimizer").onchange = (e) => change({ optimizer: e.target.value });
  $("problem").onchange = (e) => change({
    problem: e.target.value, dataset: e.target.value === "regression" ? "plane" : "circles",
  });
  $("activation").onchange = (e) => {
    if (e.target.value) change({ layers: state.settings.layers.map((l) => ({ ...l, activation: e.target.value })) });
  };
  $("dropout").onchange = (e) => {
    if (e.target.value !== "") change({ layers: state.settings.layers.map((l) => ({ ...l, dropout: Number(e.target.value) })) });
  };
  $("train_ratio").onchange = (e) => change({ train_ratio: Number(e.target.value) / 100 });
  $("noise").onchange = (e) => change({ noise: Number(e.target.value) / 100 });
  $("batch_size").onchange = (e) => change({ batch_size: Number(e.target.value) });
  $("n_samples").onchange = (e) => change({ n_samples: Number(e.target.value) });
  for (const id of ["train_ratio", "noise", "batch_size", "n_samples"]) {
    $(id).oninput = (e) => {
      const v = Number(e.target.value);
      $(`${id}-out`).textContent = id === "train_ratio" ? `${v}%` : `${v}`;
    };
  }
  $("regenerate").onclick = () => change({ seed: (state.settings.seed + 1) % 2147483647 });
  $("residual").onchange = (e) => change({ residual: e.target.checked });
  $("add-layer").onclick = () => {
    const layers = state.settings.layers;
    if (layers.length >= state.options.limits.max_hidden_layers) {
      showError("data-error", `At most ${state.options.limits.max_hidden_layers} hidden layers.`);
      return;
    }
    const last = layers[layers.length - 1] ||
      { units: 2, activation: $("activation").value || "tanh", dropout: Number($("dropout").value) || 0 };
    change({ layers: [...layers, { ...last }] });
  };
  $("remove-layer").onclick = () => change({ layers: state.settings.layers.slice(0, -1) });
  $("show-test").onchange = (e) => { state.view.showTest = e.target.checked; writeUrl(); drawBoundary(); };
  $("discretize").onchange = (e) => { state.view.discretize = e.target.checked; writeUrl(); drawBoundary(); };
  $("csv").onchange = (e) => { if (e.target.files[0]) upload(e.target.files[0]); };
  $("explain-btn").onclick = explain;
  $("gradcheck-btn").onclick = runGradcheck;
  $("boundary").onclick = pickPoint;
  $("links").addEventListener("mousemove", (e) => {
    const tip = $("link-tip");
    if (e.target.tagName !== "path") { tip.hidden = true; return; }
    const network = $("network"), box = network.getBoundingClientRect();
    const d = e.target.dataset;
    if (d.w === undefined) { tip.hidden = true; return; }  // an identity skip
    tip.textContent = `weight ${Number(d.w).toFixed(4)}` + (d.stepValue === undefined ? ""
      : `; this step: ${Number(d.stepValue).toPrecision(6)}`);
    tip.style.left = `${e.clientX - box.left + network.scrollLeft + 10}px`;
    tip.style.top = `${e.clientY - box.top + 10}px`;
    tip.hidden = false;
  });
  $("links").addEventListener("mouseleave", () => { $("link-tip").hidden = true; });
  window.addEventListener("resize", () => {
    if (!state.snapshot) return;
    buildNetwork(state.snapshot);
    applyFrame(state.frame || state.snapshot);
    window.glassnet.stepper?.layout();
    window.glassnet.drivers?.layout();
  });
}

window.addEventListener("error", (e) => window.glassnet.errors.push(String(e.message)));
wire();
start().catch((err) => showError("train-error", `Could not start: ${err.message}`));
