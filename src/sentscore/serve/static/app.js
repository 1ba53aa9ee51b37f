"use strict";
// The page talks to the same server's JSON API; no framework, no network beyond this server.

const $ = (id) => document.getElementById(id);

async function readError(response) {
  try {
    const body = await response.json();
    return body.error + (body.hint ? " " + body.hint : "");
  } catch (e) {
    return "HTTP " + response.status;
  }
}

let modelHasSets = false;

async function loadModel() {
  try {
    const response = await fetch("/v1/model");
    const info = await response.json();
    modelHasSets = Boolean(info.score_sets);
    const accuracy = info.metrics && info.metrics.accuracy != null ? ", validation accuracy " + (100 * info.metrics.accuracy).toFixed(1) + "%" : "";
    $("model-line").textContent = "Model based on " + info.base_model + ", scores " + info.labels.join(", ") + " (" + info.backend + " backend" + accuracy + ")";
  } catch (e) {
    $("model-line").textContent = "Could not load model information.";
  }
}

// The sentence with each word tinted by its weight: green pushed the score up, red pulled it down. Tints are
// relative to the strongest word, but never to less than a quarter of a score level, so noise stays pale.
function highlightedSentence(sentence, words) {
  const strongest = Math.max(0.25, ...words.map((w) => Math.abs(w.weight)));
  const parts = [];
  let at = 0;
  for (const w of words) {
    parts.push(document.createTextNode(sentence.slice(at, w.start)));
    const span = document.createElement("span");
    span.className = "word " + (w.weight >= 0 ? "up" : "down");
    span.textContent = sentence.slice(w.start, w.end);
    span.style.setProperty("--strength", (Math.abs(w.weight) / strongest).toFixed(3));
    span.dataset.weight = w.weight.toFixed(3);
    span.title = (w.weight >= 0 ? "+" : "") + w.weight.toFixed(2) + " to the score";
    parts.push(span);
    at = w.end;
  }
  parts.push(document.createTextNode(sentence.slice(at)));
  return parts;
}

function renderResult(sentence, result, words) {
  const item = document.createElement("li");
  item.className = "result";
  const head = document.createElement("div");
  head.className = "sentence";
  const badge = document.createElement("span");
  badge.className = "score-badge";
  badge.textContent = result.score;
  head.append(badge, ...(words ? highlightedSentence(sentence, words) : [document.createTextNode(sentence)]));
  item.append(head);
  const meta = document.createElement("div");
  meta.className = "muted";
  const range = result.set_text || null;
  meta.textContent = "confidence " + (100 * result.confidence).toFixed(1) + "%" +
    (result.expected_score != null ? " · expected score " + result.expected_score.toFixed(2) : "") +
    (range ? " · 90% set: " + range : "");
  if (range) meta.dataset.set = range;
  item.append(meta);
  const bars = document.createElement("div");
  bars.className = "bars";
  for (const [label, p] of Object.entries(result.probs || {})) {
    const name = document.createElement("span");
    name.textContent = label;
    const bar = document.createElement("div");
    bar.className = "bar";
    const fill = document.createElement("span");
    fill.style.width = (100 * p).toFixed(1) + "%";
    bar.append(fill);
    const value = document.createElement("span");
    value.textContent = (100 * p).toFixed(1) + "%";
    bars.append(name, bar, value);
  }
  item.append(bars);
  return item;
}

async function scoreSentences() {
  const lines = $("sentences").value.replace(/\s+$/, "").split("\n").map((s) => s.trim());
  const sentences = lines.filter((s) => s.length > 0);
  const blank = lines.length - sentences.length;  // each result shows its sentence, so spacing lines just go
  const leftOut = blank ? "; " + blank + " blank line" + (blank > 1 ? "s" : "") + " left out" : "";
  const status = $("score-status");
  const results = $("results");
  status.className = "muted";
  if (sentences.length === 0) {
    status.textContent = "Type at least one sentence.";
    return;
  }
  $("score-button").disabled = true;
  status.textContent = "Scoring…";
  try {
    const response = await fetch("/v1/score", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ sentences: sentences, probs: true, set: modelHasSets ? 0.9 : null }),
    });
    if (!response.ok) throw new Error(await readError(response));
    const body = await response.json();
    let explained = null;
    if ($("explain").checked) {
      status.textContent = "Explaining…";
      const why = await fetch("/v1/explain", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ sentences: sentences }),
      });
      if (!why.ok) throw new Error(await readError(why));
      explained = (await why.json()).results.map((r) => r.words);
    }
    results.replaceChildren(...body.results.map((r, i) => renderResult(sentences[i], r, explained && explained[i])));
    status.textContent = body.results.length + " scored" + leftOut + (explained ? "; green words pushed the score up, red pulled it down" : "");
  } catch (e) {
    status.className = "error";
    status.textContent = e.message;
  } finally {
    $("score-button").disabled = false;
  }
}

async function scoreFile(event) {
  event.preventDefault();
  const file = $("file").files[0];
  const status = $("file-status");
  status.className = "muted";
  if (!file) return;
  const form = new FormData();
  form.append("file", file);
  form.append("text_column", $("text-column").value || "sentence");
  form.append("probs", $("file-probs").checked ? "true" : "false");
  form.append("spreadsheet_safe", "true");  // the download opens in a spreadsheet: no formula runs
  if (modelHasSets) form.append("set", "0.9");
  $("file-button").disabled = true;
  status.textContent = "Scoring " + file.name + "…";
  try {
    const response = await fetch("/v1/score-file", { method: "POST", body: form });
    if (!response.ok) throw new Error(await readError(response));
    const blob = await response.blob();
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = file.name.replace(/\.[^.]*$/, "") + "-scored.csv";
    document.body.append(link);
    link.click();
    link.remove();
    status.textContent = "Done: " + link.download + " downloaded.";
  } catch (e) {
    status.className = "error";
    status.textContent = e.message;
  } finally {
    $("file-button").disabled = false;
  }
}

$("score-button").addEventListener("click", scoreSentences);
$("sentences").addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) scoreSentences(); });
$("file-form").addEventListener("submit", scoreFile);
loadModel();
