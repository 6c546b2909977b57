// Which training points drive a weight: click a link of the diagram (or choose l, j, k in the
// form under it) and the server answers glassnet.per_sample.weight_drivers for dW^l[j, k] at
// the current weights (web/drivers.py). The panel lists the largest terms of
// dW^l[j, k] = sum_i delta_ij a_prev_ik; the data plot rings those points, solid for a positive
// term and dashed for a negative one, larger for a larger share. This file only draws. It uses
// app.js's globals: state, $, api, sessionPath, drawBoundary, explain, fmt, table, and
// stepper.js's superscripts.
"use strict";

const driving = { data: null, asked: null, ticket: 0, rings: [] };
const RING = { positive: "#183d4e", negative: "#d62728" };

async function showDrivers(layer, j, k) {
  const generation = state.generation, ticket = ++driving.ticket, panel = $("drivers");
  driving.asked = { layer, j, k };
  $("drivers-layer").value = String(layer); $("drivers-j").value = String(j); $("drivers-k").value = String(k);
  panel.hidden = false;
  if (!driving.data) panel.textContent = "working...";
  let data = null, error = null;
  try { data = await api("POST", sessionPath("/drivers"), { layer, j, k }); } catch (err) { error = err; }
  window.glassnet.toolAnswers += 1;
  if (ticket !== driving.ticket || generation !== state.generation || driving.asked === null) return;
  driving.data = data;
  panel.textContent = "";
  if (error) {
    const box = document.createElement("div");
    box.className = "error";
    box.textContent = error.message;
    panel.appendChild(box);
  } else {
    panel.appendChild(renderDrivers(data));
  }
  markWeight();
  drawBoundary();
}

function closeDrivers() {
  driving.data = null;
  driving.asked = null;
  driving.ticket += 1;  // an answer still on its way is dropped
  $("drivers").hidden = true;
  $("drivers").textContent = "";
  markWeight();
  drawBoundary();
}

function labelOf(y) {
  const classes = state.snapshot.classes;
  return classes ? `class ${classes[y]}` : fmt(y);
}

// A small ring like the one drawn on the data plot, for the table's first column.
function ringIcon(term) {
  const icon = document.createElement("span");
  icon.className = `ring ${term >= 0 ? "positive" : "negative"}`;
  icon.setAttribute("aria-hidden", "true");
  return icon;
}

function renderDrivers(d) {
  const box = document.createElement("div");
  const head = document.createElement("div");
  head.className = "drivers-head";
  const title = document.createElement("span");
  title.innerHTML = `<b>W<sup>${d.layer}</sup>[${d.j}, ${d.k}]</b> = ${fmt(d.weight)} at epoch ${d.epoch}: ` +
    `the ${d.drivers.length} largest of the ${d.n} training points' terms of its gradient`;
  const close = document.createElement("button");
  close.type = "button"; close.id = "drivers-close"; close.textContent = "\u00d7";
  close.setAttribute("aria-label", "Close the drivers of the weight"); close.title = "Close (Esc)";
  close.onclick = closeDrivers;
  head.append(title, close);
  const eq = document.createElement("div");
  eq.className = "eq drivers-eq";
  eq.dataset.equation = d.equation;
  eq.innerHTML = superscripts(d.equation).replace("sum_i", "&Sigma;<sub>i</sub>")
    .replace("delta_ij", "&delta;<sub>ij</sub>").replace("a_prev_ik", "a<sub>prev,ik</sub>") +
    ` = ${d.penalised ? `${fmt(d.total)} + penalty = ${fmt(d.grad)}` : fmt(d.total)}`;
  const rows = table(["", "point", "x1, x2", "label", "n\u00b7\u03b4_ij", "a_prev_ik",
    "\u03b4_ij a_prev_ik", "share"], d.drivers.map((r) => [
    String(r.rank), String(r.index), r.point.map((v) => v.toFixed(2)).join(", "), labelOf(r.y),
    r.delta, r.a_prev, r.contribution, `${(100 * r.share).toFixed(1)}%`]));
  rows.classList.add("drivers-table");
  [...rows.rows].slice(1).forEach((tr, i) => {
    const r = d.drivers[i];
    tr.dataset.index = r.index;
    tr.cells[0].prepend(ringIcon(r.contribution));
    for (const [cell, key] of [[4, "delta"], [5, "a_prev"], [6, "contribution"], [7, "share"]]) {
      tr.cells[cell].dataset.value = String(r[key]);  // the exact number behind the text
    }
    const point = document.createElement("button");  // the derivation for that point alone
    point.type = "button"; point.className = "link"; point.textContent = String(r.index);
    point.setAttribute("aria-label", `Explain training point ${r.index}`);
    point.title = "Explain this point's own gradient (explain works on one sample)";
    point.onclick = () => {
      state.selected = r.index;
      if (!window.glassnet.stepper?.pick(r.index)) explain();
    };
    tr.cells[1].textContent = "";
    tr.cells[1].appendChild(point);
  });
  const note = document.createElement("p");
  note.className = "step-note";
  note.textContent = "Each term \u03b4_ij a_prev_ik is the point's own gradient over n " +
    "(n\u00b7\u03b4_ij is its own delta, as explain shows it for that point alone). On the data: " +
    "solid rings for positive terms, dashed for negative ones, larger for a larger share of " +
    `\u03a3|terms| = ${fmt(d.abs_total)}.` + (d.penalised ? " The L1/L2 penalty's gradient " +
    "belongs to no point and comes on top." : "");
  const call = document.createElement("code");
  call.className = "drivers-call";
  call.textContent = `glassnet.per_sample.${d.call}`;
  box.append(head, eq, rows, note, call);
  return box;
}

// The chosen weight's link on the diagram.
function markWeight() {
  for (const p of document.querySelectorAll("#links path.driven")) p.classList.remove("driven");
  const asked = driving.data && driving.asked;
  if (!asked || !state.layout) return;
  for (const p of state.layout.links) {
    if (Number(p.dataset.layer) === asked.layer - 1 && Number(p.dataset.row) === asked.j &&
        Number(p.dataset.col) === asked.k) p.classList.add("driven");
  }
}

// Rings on the data plot, called by app.js's drawBoundary after the points.
function drawRings(ctx, scale) {
  driving.rings = [];
  const d = driving.data, domain = state.snapshot.domain;
  if (!d || !d.drivers) return;
  const largest = Math.max(...d.drivers.map((r) => r.share)) || 1;
  for (const r of d.drivers) {
    const x = (r.point[0] + domain) * scale, y = (domain - r.point[1]) * scale;
    const radius = 6 + 8 * Math.sqrt(r.share / largest), sign = r.contribution >= 0 ? "positive" : "negative";
    ctx.save();
    ctx.beginPath();
    ctx.arc(x, y, radius, 0, 2 * Math.PI);
    ctx.setLineDash(sign === "positive" ? [] : [4, 3]);
    ctx.strokeStyle = RING[sign]; ctx.lineWidth = 2.5; ctx.stroke();
    ctx.setLineDash([]);
    ctx.font = "bold 11px system-ui, sans-serif";
    ctx.fillStyle = RING[sign];
    ctx.fillText(String(r.rank), x + radius * 0.75 + 1, y - radius * 0.75 - 1);
    ctx.restore();
    driving.rings.push({ index: r.index, rank: r.rank, x, y, radius, sign });
  }
}

window.glassnet.drivers = {
  show: showDrivers,
  close: closeDrivers,
  draw: drawRings,
  // a new snapshot: the weights changed; ask again for the same weight while it exists
  snapshot() {
    const asked = driving.asked;
    if (!asked) return;
    driving.data = null;  // the answer was for the weights before this snapshot
    markWeight();
    drawBoundary();
    const sizes = state.snapshot.sizes;
    if (asked.layer < sizes.length && asked.j < sizes[asked.layer] && asked.k < sizes[asked.layer - 1]) {
      showDrivers(asked.layer, asked.j, asked.k);
    } else {
      closeDrivers();
    }
  },
  // the diagram was rebuilt (a resize): mark the weight's link again
  layout: markWeight,
  get data() { return driving.data; },    // the server's answer on screen (read by the tests)
  get rings() { return driving.rings; },  // where the rings are drawn, in canvas pixels
};

$("links").addEventListener("click", (e) => {
  const d = e.target.dataset;
  if (e.target.tagName !== "path" || d.w === undefined) return;  // an identity skip
  showDrivers(Number(d.layer) + 1, Number(d.row), Number(d.col));
  $("drivers").focus({ preventScroll: true });
});
$("drivers-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const read = (id) => Math.round(Number($(id).value));
  showDrivers(read("drivers-layer"), read("drivers-j"), read("drivers-k"));
});
$("drivers").addEventListener("keydown", (e) => {
  if (e.key === "Escape") { e.preventDefault(); closeDrivers(); }
});
