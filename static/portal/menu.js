// The account menu (<details class="account-menu">) closes as a menu does: on a click elsewhere
// and on Escape, which gives the focus back to the person's name. Without script it still opens
// and closes on its own summary.
(() => {
  const menus = () => document.querySelectorAll("details.account-menu[open]");
  document.addEventListener("click", (event) => {
    for (const menu of menus()) if (!menu.contains(event.target)) menu.open = false;
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    for (const menu of menus()) {
      menu.open = false;
      menu.querySelector("summary").focus();
    }
  });
})();
