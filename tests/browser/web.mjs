// The web page in a real browser: Debian's Chromium, headless, driven by Playwright
// (playwright-core, no browser download). Run by tests/tests/web.rs against a started server:
//   node tests/browser/web.mjs BASE_URL OPERATOR_TOKEN SHARED_DIR HELLO_WASM SCREENSHOT_DIR
// Every step checks what a person would see; any failure exits non-zero with the reason.
import { chromium } from "playwright-core";
import { readFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";

const [base, token, shared, helloWasm, shots] = process.argv.slice(2);
if (!shots) {
  console.error("usage: web.mjs BASE_URL OPERATOR_TOKEN SHARED_DIR HELLO_WASM SCREENSHOT_DIR");
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const portraits = join(shared, "testdata/portraits");
const LONG = 120_000; // generous: a 2-core machine running other tests

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
const problems = [];
let step = "start";
// A step that expects the server to refuse (a 422 for two people) lets Chromium's own log line
// for that status through; every other console error fails the test.
let expectedStatus = null;

function check(condition, message) {
  if (!condition) throw new Error(`${step}: ${message}`);
}

async function page(options = {}) {
  const context = await browser.newContext(Object.assign({ acceptDownloads: true, viewport: { width: 1200, height: 860 } }, options));
  const p = await context.newPage();
  p.setDefaultTimeout(LONG);
  p.on("console", (m) => {
    if (m.type() !== "error") return;
    if (expectedStatus && m.text().includes(`status of ${expectedStatus} `)) return;
    problems.push(`console error during ${step}: ${m.text()}`);
  });
  p.on("pageerror", (e) => problems.push(`page error during ${step}: ${e.message}`));
  return p;
}

async function shot(p, name) {
  await p.screenshot({ path: join(shots, `${name}.png`) });
}

/** The JPEG's pixel size from its SOF segment. */
function jpegSize(bytes) {
  check(bytes[0] === 0xff && bytes[1] === 0xd8, "the download is not a JPEG (no SOI)");
  check(bytes[bytes.length - 2] === 0xff && bytes[bytes.length - 1] === 0xd9, "the JPEG is truncated (no EOI)");
  let i = 2;
  while (i < bytes.length) {
    const marker = bytes[i + 1], length = (bytes[i + 2] << 8) | bytes[i + 3];
    if (marker >= 0xc0 && marker <= 0xc3) return { height: (bytes[i + 5] << 8) | bytes[i + 6], width: (bytes[i + 7] << 8) | bytes[i + 8] };
    i += 2 + length;
  }
  throw new Error(`${step}: no SOF in the JPEG`);
}

try {
  const p = await page();

  step = "ID photo";
  await p.goto(`${base}/#idphoto`);
  await p.waitForSelector("#id-size option[value='cn-1inch']", { state: "attached" });
  const size = await p.evaluate(async () => {
    const sizes = (await (await fetch("/idphoto/sizes")).json()).sizes;
    return sizes.find((s) => s.id === "us-passport") || sizes[0];
  });
  await p.selectOption("#id-size", size.id);
  await p.setInputFiles("#id-file", join(portraits, "fr_obama.jpg"));
  await p.click("#id-swatches [data-bg='white']");
  await p.click("#id-make");
  await p.waitForSelector("#id-preview:not([hidden])");
  const preview = await p.$eval("#id-image", (img) => ({ w: img.naturalWidth, h: img.naturalHeight }));
  check(preview.w === size.px.width && preview.h === size.px.height,
    `preview is ${preview.w}×${preview.h}, ${size.id} is ${size.px.width}×${size.px.height}`);
  const guides = await p.$$eval("#id-guides > *", (n) => n.length);
  check(guides >= 4, `only ${guides} guide shapes drawn`);
  const [download] = await Promise.all([p.waitForEvent("download"), p.click("#id-download")]);
  const jpeg = readFileSync(await download.path());
  const dims = jpegSize(jpeg);
  check(dims.width === size.px.width && dims.height === size.px.height, `downloaded JPEG is ${dims.width}×${dims.height}`);
  check(download.suggestedFilename().endsWith(".jpg"), `download named ${download.suggestedFilename()}`);
  await shot(p, "idphoto");

  step = "ID photo refusal";
  expectedStatus = 422;
  await p.setInputFiles("#id-file", join(portraits, "fr_two_people.jpg"));
  await p.click("#id-make");
  await p.waitForSelector("#id-problem:not([hidden])");
  const refusal = await p.textContent("#id-problem");
  check(/More than one person/.test(refusal) && /Crop the photo/.test(refusal) && /2 faces/.test(refusal), `refusal says: ${refusal}`);
  await shot(p, "idphoto-refusal");
  expectedStatus = null;

  step = "QR generate and read back";
  await p.goto(`${base}/#qr`);
  const text = "Atelier in a browser — 二维码 ✓";
  await p.fill("#qr-text", text);
  await p.waitForFunction((t) => document.getElementById("qr-caption").textContent.startsWith(`${t.length} characters`), text);
  await p.waitForFunction(() => document.getElementById("qr-image").naturalWidth > 0);
  await p.click("#qr-check");
  await p.waitForSelector("#qr-codes li[data-text]");
  const read = await p.$$eval("#qr-codes li[data-text]", (items) => items.map((i) => i.dataset.text));
  check(read.length === 1 && read[0] === text, `read back ${JSON.stringify(read)}`);
  check(await p.isVisible("#qr-read-canvas"), "no outline canvas");
  await shot(p, "qr");

  step = "QR batch";
  await p.click("#qr .subtabs [data-sub='qr-batch']");
  await p.fill("#qr-batch-text", "one\ntwo\nthree");
  await p.click("#qr-batch-form button[type='submit']");
  await p.waitForSelector("#qr-batch-download:not([hidden])");
  const [zip] = await Promise.all([p.waitForEvent("download"), p.click("#qr-batch-download")]);
  const zipBytes = readFileSync(await zip.path());
  check(zipBytes[0] === 0x50 && zipBytes[1] === 0x4b, "the batch download is not a ZIP");

  step = "cut-out";
  await p.goto(`${base}/#cutout`);
  await p.waitForSelector("#cut-model option", { state: "attached" });
  await p.setInputFiles("#cut-file", join(portraits, "fr_biden.jpg"));
  await p.click("#cut-form button[type='submit']");
  await p.waitForSelector("#cut-download:not([hidden])");
  const transparent = await p.$eval("#cut-canvas", (c) => {
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let clear = 0, solid = 0;
    for (let i = 3; i < d.length; i += 4 * 97) { if (d[i] < 16) clear++; else if (d[i] > 240) solid++; }
    return { clear, solid };
  });
  check(transparent.clear > 50 && transparent.solid > 50, `cut-out alpha: ${JSON.stringify(transparent)}`);
  await shot(p, "cutout");

  step = "console deploy and call";
  await p.goto(`${base}/#console`);
  await p.fill("#con-token", token);
  await p.click("#con-login button[type='submit']");
  await p.waitForSelector("[data-tenant='acme']");
  await p.selectOption("#con-deploy-tenant", "acme");
  await p.fill("#con-deploy-name", "hello-web");
  await p.fill("#con-deploy-route", "/t/acme/hello-web");
  await p.check("#con-deploy-public");
  await p.setInputFiles("#con-deploy-file", helloWasm);
  await p.click("#con-deploy button[type='submit']");
  await p.waitForFunction(() => /Deployed hello-web v1/.test(document.getElementById("con-deploy-result").textContent));
  await p.waitForSelector("[data-tenant='acme'] tr[data-function='hello-web']");
  await p.click("[data-tenant='acme'] tr[data-function='hello-web'] button:text('Call')");
  await p.waitForFunction(() => /^200 /.test(document.querySelector("[data-tenant='acme'] tr[data-function='hello-web'] pre").textContent));
  const called = await p.textContent("[data-tenant='acme'] tr[data-function='hello-web'] pre");
  check(/Hello/i.test(called), `the call answered: ${called}`);
  await p.waitForFunction(() => document.querySelectorAll("#con-metrics tbody tr").length > 0);
  await shot(p, "console");

  step = "API docs";
  await p.goto(`${base}/docs`);
  await p.waitForSelector(".swagger-ui .opblock");
  const operations = await p.$$eval(".swagger-ui .opblock", (n) => n.length);
  check(operations >= 15, `only ${operations} operations shown`);
  await shot(p, "docs");

  step = "phone viewport";
  const phone = await page({ viewport: { width: 375, height: 740 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
  for (const tab of ["idphoto", "qr", "cutout", "console"]) {
    await phone.goto(`${base}/#${tab}`);
    await phone.waitForLoadState("networkidle");
    const widths = await phone.evaluate(() => ({ scroll: document.documentElement.scrollWidth, view: window.innerWidth }));
    check(widths.scroll <= widths.view, `#${tab} scrolls sideways: ${widths.scroll} > ${widths.view}`);
  }
  await phone.goto(`${base}/#idphoto`);
  await phone.setInputFiles("#id-file", join(portraits, "fr_obama.jpg"));
  await phone.click("#id-make");
  await phone.waitForSelector("#id-preview:not([hidden])");
  const phoneWidths = await phone.evaluate(() => ({ scroll: document.documentElement.scrollWidth, view: window.innerWidth }));
  check(phoneWidths.scroll <= phoneWidths.view, `the result scrolls sideways: ${phoneWidths.scroll}`);
  await phone.$eval("#id-preview", (e) => e.scrollIntoView({ block: "center" }));
  await shot(phone, "phone");

  step = "keyboard";
  // Every control of the ID photo form is reached with Tab, and the photo is made with the
  // keyboard alone once a file is chosen.
  await p.goto(`${base}/#idphoto`);
  await p.waitForSelector("#id-size option[value='cn-1inch']", { state: "attached" });
  await p.setInputFiles("#id-file", join(portraits, "fr_biden.jpg"));
  const reached = new Set();
  for (let i = 0; i < 40 && !reached.has("id-make"); i++) {
    await p.keyboard.press("Tab");
    reached.add(await p.evaluate(() => document.activeElement.id || document.activeElement.dataset.bg || document.activeElement.tagName));
  }
  for (const id of ["id-size", "id-format", "id-max-kb", "id-layout", "id-make"]) check(reached.has(id), `Tab never reaches #${id}: ${[...reached]}`);
  await p.keyboard.press("Enter");
  await p.waitForSelector("#id-preview:not([hidden])");

  if (problems.length) throw new Error(problems.join("\n"));
  console.log("web page: every step passed; screenshots in " + shots);
} catch (e) {
  console.error(e.message);
  if (problems.length) console.error(problems.join("\n"));
  process.exitCode = 1;
} finally {
  await browser.close();
}
