// Sentinel dashboard: live refresh over server-sent events, operator sign-in, reviews (one
// or many at once), verify. Loaded as a file: the Content-Security-Policy allows no inline script.
"use strict";

const TOKEN_KEY = "sentinel.operatorToken";
const $ = (sel, root = document) => root.querySelector(sel);

function token() { return localStorage.getItem(TOKEN_KEY) || ""; }

function flash(message, kind = "error") {
  const box = $("#flash");
  box.textContent = message;
  box.className = "flash " + kind;
  box.hidden = !message;
}

async function api(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (token()) headers.Authorization = "Bearer " + token();
  const response = await fetch(path, { method, headers, body: body && JSON.stringify(body) });
  let data = {};
  try { data = await response.json(); } catch (_) { /* empty body */ }
  return { ok: response.ok, status: response.status, data };
}

// -- live refresh: re-render every [data-live] region from a fresh copy of this page --------
let refreshing = false;
let pending = false;

async function refresh() {
  if (refreshing) { pending = true; return; }
  refreshing = true;
  try {
    const response = await fetch(location.href, { headers: { Accept: "text/html" } });
    if (!response.ok) return;
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    for (const region of document.querySelectorAll("[data-live][id]")) {
      if (region.contains(document.activeElement) && document.activeElement !== document.body) continue;
      const fresh = doc.getElementById(region.id);
      if (!fresh || fresh.innerHTML === region.innerHTML) continue;
      const checked = new Set(selectedIds(region));  // a selection survives the refresh
      region.innerHTML = fresh.innerHTML;
      for (const box of region.querySelectorAll("input.select")) box.checked = checked.has(box.value);
    }
    countSelected();
    document.body.dataset.refreshed = String(Date.now());
  } finally {
    refreshing = false;
    if (pending) { pending = false; setTimeout(refresh, 500); }
  }
}

function listen() {
  const live = $("#live");
  if (!window.EventSource) { live.textContent = "static"; return; }
  const source = new EventSource("/api/v1/events");
  let timer = null;
  source.addEventListener("open", () => { live.textContent = "live"; live.className = "live on"; });
  source.addEventListener("error", () => { live.textContent = "reconnecting…"; live.className = "live off"; });
  source.addEventListener("change", () => {
    live.textContent = "live · " + new Date().toLocaleTimeString();
    clearTimeout(timer);
    timer = setTimeout(refresh, 300);
  });
}

// -- sign-in ---------------------------------------------------------------------------------
function showIdentity(name) {
  $("#operator").hidden = !name;
  $("#operator").textContent = name ? "operator: " + name : "";
  $("#token").hidden = !!name;
  $("#signin-button").hidden = !!name;
  $("#signout").hidden = !name;
}

async function checkIdentity() {
  if (!token()) { showIdentity(""); return; }
  const r = await api("GET", "/api/v1/whoami");
  if (r.ok) { showIdentity(r.data.name); return; }
  localStorage.removeItem(TOKEN_KEY);
  showIdentity("");
  flash("Sign-in failed: " + (r.data.error || r.status));
}

function setupSignIn() {
  $("#signin").addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = $("#token").value.trim();
    if (!value) { flash("Paste an operator token (sentinel up prints one) to sign in."); return; }
    localStorage.setItem(TOKEN_KEY, value);
    $("#token").value = "";
    flash("");
    await checkIdentity();
  });
  $("#signout").addEventListener("click", () => {
    localStorage.removeItem(TOKEN_KEY);
    showIdentity("");
  });
  checkIdentity();
}

// -- directive reviews and chain verification ------------------------------------------------
function selectedIds(root = document) {
  return [...root.querySelectorAll("input.select:checked")].map((box) => box.value);
}

function countSelected() {
  const count = $("#selected-count");
  if (!count) return;
  const n = selectedIds().length;
  count.textContent = n ? `${n} selected` : "none selected";
  const all = $("#select-all");
  const boxes = document.querySelectorAll("input.select");
  if (all) all.checked = boxes.length > 0 && n === boxes.length;
}

async function reviewSelected(action) {
  const status = $("#review-status");
  const ids = selectedIds();
  if (!ids.length) {
    status.className = "review-status error";
    status.textContent = "Select the directives to review first (the boxes on the left).";
    return;
  }
  const comment = ($("#bulk-comment") || {}).value || "";
  const r = await api("POST", "/api/v1/directives/review", { directive_ids: ids, approve: action === "approve", comment });
  if (!r.ok) {
    status.className = "review-status error";
    status.textContent = `${r.status}: ${r.data.error || "refused"}`;
    return;
  }
  const verb = action === "approve" ? "Approved" : "Rejected";
  const refused = r.data.results.filter((o) => o.status !== 200);
  status.className = "review-status " + (refused.length ? "error" : "ok");
  status.textContent = `${verb} ${r.data.reviewed} of ${ids.length}.` + refused.map((o) => ` ${o.directive_id}: ${o.error}`).join("");
  refresh();
}

function setupActions() {
  document.addEventListener("change", (event) => {
    if (event.target.id === "select-all") {
      for (const box of document.querySelectorAll("input.select")) box.checked = event.target.checked;
    }
    if (event.target.matches("input.select, #select-all")) countSelected();
  });
  document.addEventListener("click", async (event) => {
    const change = event.target.closest("[data-issue-status]");
    if (change) {
      const status = $("#review-status");
      change.disabled = true;
      const r = await api("POST", `/api/v1/capture/issues/${change.dataset.id}/status`, { status: change.dataset.issueStatus });
      change.disabled = false;
      status.className = "review-status " + (r.ok ? "ok" : "error");
      status.textContent = r.ok ? `Marked ${r.data.status}.` : `${r.status}: ${r.data.error || "refused"}`;
      if (r.ok) location.reload();
      return;
    }
    const bulk = event.target.closest("[data-bulk]");
    if (bulk) {
      bulk.disabled = true;
      try { await reviewSelected(bulk.dataset.bulk); } finally { bulk.disabled = false; }
      return;
    }
    const button = event.target.closest("[data-review]");
    if (button) {
      const row = button.closest("tr");
      const comment = row ? ($(".comment", row) || {}).value || "" : "";
      const status = $("#review-status");
      button.disabled = true;
      const r = await api("POST", `/api/v1/directives/${button.dataset.id}/${button.dataset.review}`, { comment });
      button.disabled = false;
      if (r.ok) {
        const d = r.data;
        status.className = "review-status ok";
        status.textContent = d.accepted
          ? `${button.dataset.review === "approve" ? "Approved" : "Rejected"}: the GPU is now ${d.resulting_state}.`
          : `Not applied: ${d.rejection_reason}`;
        refresh();
      } else {
        status.className = "review-status error";
        status.textContent = `${r.status}: ${r.data.error || "refused"}`;
      }
      return;
    }
    if (event.target.id === "verify") {
      const out = $("#verify-result");
      out.className = "verify-result";
      out.textContent = "Verifying…";
      const r = await api("POST", "/api/v1/audit/verify");
      if (!r.ok) { out.className = "verify-result broken"; out.textContent = r.data.error || r.status; return; }
      const v = r.data;
      out.className = "verify-result " + (v.valid ? "valid" : "broken");
      out.textContent = v.valid
        ? `Chain intact: ${v.entries_verified.toLocaleString()} entries and ${v.batches_verified} Merkle batches verified in ${v.verification_time_ms.toFixed(1)} ms.`
        : `Chain BROKEN at entry ${v.first_invalid_entry_id}: ${v.failure_description} (checked in ${v.verification_time_ms.toFixed(1)} ms).`;
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setupSignIn();
  setupActions();
  listen();
});
