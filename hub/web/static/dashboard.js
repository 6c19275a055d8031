// The operator dashboard's few behaviours: live regions (server-sent events), search,
// disconnect buttons, the language switcher. Served by the hub; no library, no build step.
"use strict";
document.documentElement.classList.add("js");

function applySearch(input) {
  const needle = input.value.trim().toLowerCase();
  for (const row of document.querySelectorAll(input.dataset.search)) {
    row.hidden = needle !== "" && !row.textContent.toLowerCase().includes(needle);
  }
}

function refilter() {
  for (const input of document.querySelectorAll("input[data-search]")) applySearch(input);
}

function live(region) {
  const dot = document.querySelector(".live-dot");
  const source = new EventSource(region.dataset.live);
  source.onopen = () => dot && dot.classList.add("on");
  source.onerror = () => dot && dot.classList.remove("on");
  source.onmessage = (event) => {
    region.innerHTML = event.data;
    refilter();
  };
  window.addEventListener("pagehide", () => source.close());
}

function showResult(text, ok) {
  const box = document.querySelector("[data-result]");
  if (!box) return;
  box.textContent = text;
  box.classList.toggle("failed", !ok);
}

async function post(url, body) {
  const failed = (document.querySelector("[data-fail]") || {dataset: {}}).dataset.fail || "Failed";
  try {
    const answer = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json"},
      body: JSON.stringify(body || {}),
    });
    const data = await answer.json().catch(() => ({}));
    if (answer.ok) showResult(data.message || "", data.ok !== false);
    else showResult(failed + ": " + (data.error || data.message || answer.status), false);
  } catch (error) {
    showResult(failed + ": " + error, false);
  }
}

document.addEventListener("click", (event) => {
  const one = event.target.closest("button[data-disconnect]");
  if (one) {
    one.disabled = true;
    const body = {username: one.dataset.user};
    if (one.dataset.mac) body.mac_address = one.dataset.mac;
    post(one.dataset.disconnect, body).finally(() => { one.disabled = false; });
    return;
  }
  const all = event.target.closest("button[data-disconnect-expired]");
  if (all) {
    all.disabled = true;
    post(all.dataset.disconnectExpired).finally(() => { all.disabled = false; });
  }
});

document.addEventListener("submit", (event) => {
  const question = event.target.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});

document.addEventListener("DOMContentLoaded", () => {
  for (const region of document.querySelectorAll("[data-live]")) live(region);
  for (const input of document.querySelectorAll("input[data-search]")) {
    input.addEventListener("input", () => applySearch(input));
  }
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.submit());
  }
  for (const select of document.querySelectorAll("select[data-navigate]")) {
    select.addEventListener("change", () => { window.location.href = select.value; });
  }
});
