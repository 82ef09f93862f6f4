// Forms that destroy or end something ask first (no inline handlers: CSP-friendly).
document.addEventListener("submit", (e) => {
  const form = e.target;
  if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) e.preventDefault();
});
