// Forms that destroy or end something ask first (no inline handlers: CSP-friendly).
document.addEventListener("submit", (e) => {
  const form = e.target;
  if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) e.preventDefault();
});
// A rate-limit notice (swapped into #notices on a 429) is cleared by the next action.
document.addEventListener("htmx:beforeRequest", (e) => {
  const notices = document.getElementById("notices");
  if (notices && e.detail.requestConfig && e.detail.requestConfig.verb !== "get") notices.replaceChildren();
});
