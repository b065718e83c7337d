// "Copy" buttons: <button data-copy="#selector"> copies the text of that element. Delegated,
// so it keeps working on fragments htmx swaps in; a file of its own, as the CSP allows no inline script.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  const text = source.value ?? source.textContent;
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // No clipboard API (plain HTTP, older browsers): select the text and copy it the old way.
    source.focus();
    if (source.select) source.select();
    document.execCommand("copy");
  }
  const label = button.dataset.label || button.textContent;
  button.dataset.label = label;
  button.textContent = "Copied";
  setTimeout(() => { button.textContent = label; }, 2000);
});
