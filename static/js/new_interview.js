// Quick picks fill the job role field.
document.querySelectorAll("[data-role]").forEach((chip) => {
  chip.addEventListener("click", () => {
    const input = document.getElementById("id_job_role");
    input.value = chip.dataset.role;
    input.focus();
  });
});
