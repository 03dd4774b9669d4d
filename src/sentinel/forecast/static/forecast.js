// Forecast pages: the rollback button. Loaded as a file (the CSP allows no inline script);
// it uses the operator token the dashboard's sign-in keeps in localStorage.
"use strict";

document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-rollback]");
  if (!button) return;
  const out = document.getElementById("rollback-status");
  const token = localStorage.getItem("sentinel.operatorToken") || "";
  if (!token) {
    out.className = "review-status error";
    out.textContent = "Sign in as an operator (top right) to roll back.";
    return;
  }
  button.disabled = true;
  try {
    const response = await fetch("/api/v1/forecast/rollback", {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: "Bearer " + token },
      body: JSON.stringify({ metric: button.dataset.metric, labels: JSON.parse(button.dataset.labels) }),
    });
    const data = await response.json().catch(() => ({}));
    out.className = "review-status " + (response.ok ? "ok" : "error");
    out.textContent = response.ok
      ? "Rolled back: " + Object.entries(data.rolled_back).map(([k, v]) => `${k} → ${v}`).join(", ")
      : `${response.status}: ${data.error || "refused"}`;
    if (response.ok) setTimeout(() => location.reload(), 800);
  } finally {
    button.disabled = false;
  }
});
