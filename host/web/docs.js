// The interactive API docs: Swagger UI (embedded, from npm's swagger-ui-dist) over
// /openapi.json, "Try it out" against this server.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  if (typeof SwaggerUIBundle !== "function") {
    document.getElementById("docs").textContent =
      "Swagger UI is not in this build (run scripts/setup.sh and rebuild); the description is at /openapi.json.";
    return;
  }
  SwaggerUIBundle({ url: "/openapi.json", dom_id: "#docs", deepLinking: true, tryItOutEnabled: true });
});
