// The step-through mode: glassnet.explain's steps for one sample, one equation at a time, on
// the diagram. Every number comes from the server's explanation (Explanation.to_dict()); the
// server also says which columns and links each step touches (web/stepper.py). This file only
// draws them. It uses app.js's globals: state, $, api, sessionPath, NEURON, ROW, MAX_DRAWN.
"use strict";

const PHASES = {
  forward: "forward pass", loss: "loss", backward: "backward pass", gradient: "gradients",
  input: "input gradient", update: "gradient descent",
};
const stepping = { open: false, data: null, position: 0, index: 0, generation: -1, loading: null };

function shortNumber(v) {
  if (v === null || v === undefined) return "nan";
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e4) ? v.toExponential(2) : v.toPrecision(4).replace(/\.?0+$/, "");
}

// The rule with its exponents raised: "z^2 = W^2 a^1 + b^2", "(a^1)^T".
function superscripts(text) {
  const escaped = text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
  return escaped.replace(/\^([0-9.]+|T)/g, "<sup>$1</sup>");
}

// ---------------------------------------------------------------- loading
async function loadSteps(index) {
  const generation = state.generation;
  stepping.index = index;
  $("step-index").value = String(index);
  state.selected = index;
  drawBoundary();
  const body = $("stepper-body");
  if (!stepping.data) body.textContent = "working...";
  const request = api("POST", sessionPath("/explain"), { index });
  stepping.loading = request;
  let data = null, error = null;
  try { data = await request; } catch (err) { error = err; }
  if (stepping.loading !== request || generation !== state.generation || !stepping.open) return;
  stepping.loading = null;
  window.glassnet.toolAnswers += 1;
  if (error) {
    stepping.data = null;
    clearMarks();
    body.textContent = "";
    const box = document.createElement("div");
    box.className = "error";
    box.textContent = error.message;
    body.appendChild(box);
    $("stepper-pos").textContent = "";
    return;
  }
  stepping.data = data;
  stepping.generation = generation;
  showStep(Math.min(stepping.position, data.explanation.steps.length - 1));
}

function openStepper(index = state.selected === null ? 0 : state.selected) {
  stepping.open = true;
  $("stepper").hidden = false;
  $("network").classList.add("stepping");
  $("stepper").focus({ preventScroll: true });
  return loadSteps(index);
}

function closeStepper() {
  stepping.open = false;
  stepping.data = null;
  stepping.loading = null;
  $("stepper").hidden = true;
  $("network").classList.remove("stepping");
  clearMarks();
}

function move(to) {
  if (!stepping.data) return;
  const n = stepping.data.explanation.steps.length;
  showStep(Math.max(0, Math.min(n - 1, to)));
}

// ---------------------------------------------------------------- one step
function showStep(position) {
  const data = stepping.data, steps = data.explanation.steps, step = steps[position];
  stepping.position = position;
  window.glassnet.stepPosition = position;
  $("stepper-pos").textContent = `step ${position + 1} of ${steps.length}`;
  $("stepper-prev").disabled = $("stepper-first").disabled = position === 0;
  $("stepper-next").disabled = $("stepper-last").disabled = position === steps.length - 1;
  const body = $("stepper-body");
  body.textContent = "";
  const head = document.createElement("div");
  head.className = "step-head";
  head.textContent = `${PHASES[step.phase] || step.phase}${step.layer ? `, layer ${step.layer}` : ""}` +
    ` \u2014 ${data.part} point ${data.index}, epoch ${data.epoch}`;
  const rule = document.createElement("div");
  rule.className = "eq step-rule";
  rule.innerHTML = superscripts(step.rule);
  rule.dataset.rule = step.rule;
  body.append(head, rule);
  if (step.note) {
    const note = document.createElement("p");
    note.className = "step-note";
    note.textContent = step.note;
    body.appendChild(note);
  }
  const pre = document.createElement("pre");
  pre.textContent = step.text.join("\n");
  body.appendChild(pre);
  if (step.table.length) {
    body.appendChild(table(["entry", "back-propagation", "finite difference"],
      step.table.map((r) => [r.entry.replace(/[{}]/g, ""), r.backprop, r.finite_difference])));
  }
  markDiagram(step, data.diagram[position]);
}

// ---------------------------------------------------------------- the diagram
function clearMarks() {
  $("step-marks").textContent = "";
  for (const el of document.querySelectorAll("#network .hl-in, #network .hl-out")) {
    el.classList.remove("hl-in", "hl-out");
  }
  for (const path of document.querySelectorAll("#links path[data-step-value]")) delete path.dataset.stepValue;
  for (const path of document.querySelectorAll("#links path.skip-link")) path.remove();
}

// The drawn neurons of column c (the active inputs for c = 0), in the engine's order.
function columnNeurons(c) {
  if (c === 0) return state.layout.inputs.filter((inp) => inp.active).map((inp) => inp.canvas);
  return state.layout.neurons[c - 1] || [];
}
const columnLinks = (c) => state.layout.links.filter((p) => Number(p.dataset.layer) === c - 1);

function badge(x, y, text, value, where) {
  const mark = document.createElement("div");
  mark.className = "step-value";
  mark.textContent = text;
  mark.style.left = `${x}px`; mark.style.top = `${y}px`;
  if (value !== undefined) mark.dataset.value = String(value);
  Object.assign(mark.dataset, where);
  $("step-marks").appendChild(mark);
  return mark;
}

function markDiagram(step, place) {
  clearMarks();
  if (!state.layout) return;
  for (const c of place.neurons) for (const n of columnNeurons(c)) n.classList.add("hl-in");
  for (const c of place.links) for (const p of columnLinks(c)) p.classList.add("hl-in");
  const result = place.result, value = step.values[result.key];
  const values = value ? value.values : undefined;
  const symbol = result.key.replace(" (new)", "");
  if (result.on === "neurons") {
    columnNeurons(result.column).forEach((n, j) => {
      n.classList.add("hl-out");
      if (!values || values[j] === undefined) return;
      const x = parseFloat(n.style.left) + NEURON + 3, y = parseFloat(n.style.top) + 8;
      badge(x, y, shortNumber(values[j]), values[j], { column: result.column, unit: j, symbol });
    });
  } else if (result.on === "links") {
    const links = columnLinks(result.column), placed = [];
    for (const p of links) {
      p.classList.add("hl-out");
      const row = values && values[p.dataset.row];
      const v = row ? row[p.dataset.col] : undefined;
      if (v === undefined) continue;
      p.dataset.stepValue = String(v);
      if (links.length > 16) continue;
      const box = p.getBBox(), x = box.x + box.width / 2 - 18, y = box.y + box.height / 2 - 7;
      if (placed.some(([px, py]) => Math.abs(px - x) < 40 && Math.abs(py - y) < 13)) continue;
      placed.push([x, y]);
      badge(x, y, shortNumber(v), v, { column: result.column, row: p.dataset.row, col: p.dataset.col, symbol })
        .classList.add("on-link");
    }
  } else {  // the loss, a scalar, below the output column
    const out = columnNeurons(result.column), last = out[out.length - 1];
    const v = value && value.values;
    for (const n of out) n.classList.add("hl-out");
    if (last) badge(parseFloat(last.style.left) - 10, parseFloat(last.style.top) + NEURON + 6, `C = ${shortNumber(v)}`, v, { symbol });
  }
  if (place.skip !== null) drawSkip(place.skip);
}

// The identity skip of the residual block drawn as column c: neuron j of column c - 1 to
// neuron j of column c, dashed, above the weighted links.
function drawSkip(c) {
  const svg = $("links"), from = columnNeurons(c - 1), to = columnNeurons(c);
  to.forEach((n, j) => {
    if (!from[j]) return;
    const x0 = parseFloat(from[j].style.left) + NEURON, y0 = parseFloat(from[j].style.top) + NEURON / 2;
    const x1 = parseFloat(n.style.left), y1 = parseFloat(n.style.top) + NEURON / 2;
    const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
    const lift = 14;
    path.setAttribute("d", `M${x0},${y0} C${x0 + 20},${y0 - lift} ${x1 - 20},${y1 - lift} ${x1},${y1}`);
    path.setAttribute("class", "skip-link hl-out");
    path.dataset.column = c; path.dataset.unit = j;
    svg.appendChild(path);
  });
  for (const label of document.querySelectorAll(".layer-ctl .skip")) {
    if (Number(label.dataset.layer) === c) label.classList.add("hl-out");
  }
}

// ---------------------------------------------------------------- hooks app.js calls
window.glassnet.stepper = {
  // a new snapshot: the network changed; keep the mode open on the same point and step
  snapshot() {
    if (!stepping.open) return;
    clearMarks();
    const n = state.snapshot.train.length + state.snapshot.test.length;
    loadSteps(Math.min(stepping.index, n - 1));
  },
  // the diagram was rebuilt (a resize): draw the marks again
  layout() {
    if (stepping.open && stepping.data) markDiagram(stepping.data.explanation.steps[stepping.position], stepping.data.diagram[stepping.position]);
  },
  // a point was clicked on the output: step through it, if the mode is open
  pick(index) {
    if (!stepping.open) return false;
    loadSteps(index);
    return true;
  },
  get open() { return stepping.open; },
  get position() { return stepping.position; },
  get data() { return stepping.data; },  // the server's answer on screen (read by the tests)
};

function typing(target) {
  return target instanceof HTMLElement &&
    (["INPUT", "SELECT", "TEXTAREA"].includes(target.tagName) || target.isContentEditable);
}

$("stepper-open").onclick = () => (stepping.open ? loadSteps(Number($("step-index").value) || 0) : openStepper());
$("stepper-close").onclick = closeStepper;
$("stepper-first").onclick = () => move(0);
$("stepper-prev").onclick = () => move(stepping.position - 1);
$("stepper-next").onclick = () => move(stepping.position + 1);
$("stepper-last").onclick = () => move(Infinity);
$("step-index").onchange = (e) => {
  const n = state.snapshot.train.length + state.snapshot.test.length;
  const index = Math.max(0, Math.min(n - 1, Math.round(Number(e.target.value)) || 0));
  if (stepping.open) loadSteps(index); else openStepper(index);
};
document.addEventListener("keydown", (e) => {
  if (!stepping.open || typing(e.target) || e.altKey || e.ctrlKey || e.metaKey) return;
  const keys = {
    ArrowRight: () => move(stepping.position + 1), ArrowLeft: () => move(stepping.position - 1),
    Home: () => move(0), End: () => move(Infinity), Escape: closeStepper,
  };
  if (keys[e.key]) { e.preventDefault(); keys[e.key](); }
});
