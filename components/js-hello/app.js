// A wasi:http function written in JavaScript, built into a component by the Bytecode
// Alliance's ComponentizeJS (SpiderMonkey through StarlingMonkey, from npm).
//
// Any method, any path: answers JSON naming the caller's `name` (query), the method, where
// Atelier mounted it (the `x-atelier-route` header), the `content-type` it was sent, and the
// body's length and SHA-256. It shows that Atelier runs components from JavaScript unchanged.

addEventListener("fetch", (event) => event.respondWith(handle(event.request)));

async function handle(request) {
  const url = new URL(request.url);
  const body = new Uint8Array(await request.arrayBuffer());
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", body));
  const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
  const answer = {
    greeting: `Hello from JavaScript, ${url.searchParams.get("name") ?? "world"}!`,
    method: request.method,
    route: request.headers.get("x-atelier-route"),
    content_type: request.headers.get("content-type"),
    body_bytes: body.length,
    body_sha256: hex,
  };
  return new Response(JSON.stringify(answer) + "\n", {
    headers: { "content-type": "application/json" },
  });
}
