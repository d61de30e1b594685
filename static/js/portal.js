// The portal's small behaviours on every page (no inline script under the CSP; pages work without it).
document.addEventListener("DOMContentLoaded", () => {
  // The main menu folds behind a "Menu" button on narrow screens. Without this script the menu stays open
  // (the button is hidden), so every page remains reachable.
  const button = document.querySelector(".menu-button");
  const menu = button && document.getElementById(button.getAttribute("aria-controls"));
  if (menu) {
    document.documentElement.classList.add("menu-folds");
    button.hidden = false;
    button.addEventListener("click", () => {
      const open = button.getAttribute("aria-expanded") !== "true";
      button.setAttribute("aria-expanded", String(open));
      menu.classList.toggle("open", open);
    });
  }

  // A table that scrolls sideways (on a phone) must be reachable by keyboard to scroll it. Templates put
  // tables in a focusable <div class="table-wrap" tabindex="0" role="region">; a wrapper without tabindex,
  // or a bare table, that ends up scrolling is made so here, named after the heading above it.
  const reachable = () => {
    const name = (element) => {
      const section = element.closest("section, .card, fieldset, main");
      const heading = section && section.querySelector("h1, h2, h3, legend");
      return heading ? heading.textContent.trim() : "Table";
    };
    for (const wrap of document.querySelectorAll("main .table-wrap:not([tabindex])")) {
      if (wrap.scrollWidth <= wrap.clientWidth + 1) continue;
      wrap.tabIndex = 0;
      wrap.setAttribute("role", "region");
      wrap.setAttribute("aria-label", name(wrap));
    }
    for (const table of document.querySelectorAll("main table")) {
      if (table.closest(".table-wrap") || table.scrollWidth <= table.clientWidth + 1) continue;
      const wrap = document.createElement("div");
      wrap.className = "table-wrap";
      wrap.tabIndex = 0;
      wrap.setAttribute("role", "region");
      wrap.setAttribute("aria-label", name(table));
      table.replaceWith(wrap);
      wrap.appendChild(table);
    }
  };
  reachable();
  window.addEventListener("resize", reachable);
});
