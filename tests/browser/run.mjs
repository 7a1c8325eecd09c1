// Drives headless Chromium through page.js against the proxy given as argv[2] (its origin).
// Prints one JSON object: every response the page got from the proxy (method, path, status),
// what the SDKs still hold in their retry queues, and any SDK error. tests/it/browser.rs
// asserts on it and on what the fake vendors behind the proxy received.
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const proxy = process.argv[2];
const settleMs = Number(process.env.BROWSER_SETTLE_MS || 3000);

const files = {
  "/": ["text/html", path.join(here, "index.html")],
  "/dist/bundle.js": ["text/javascript", path.join(here, "dist/bundle.js")],
};
const server = http.createServer((req, res) => {
  const file = files[new URL(req.url, "http://x").pathname];
  if (!file) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { "content-type": file[0] });
  fs.createReadStream(file[1]).pipe(res);
});
await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
const page_url = `http://127.0.0.1:${server.address().port}/?proxy=${encodeURIComponent(proxy)}&email=jane.doe%40example.com&utm_source=newsletter`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu"],
});
const responses = [];
const failed = [];
const consoleErrors = [];
try {
  // The UA of the same Chromium with a screen: SDKs drop events from "HeadlessChrome" as a bot
  // (posthog-js does), and real visitors are not headless.
  const major = browser.version().split(".")[0];
  const context = await browser.newContext({
    userAgent: `Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${major}.0.0.0 Safari/537.36`,
  });
  const page = await context.newPage();
  page.on("response", (r) => {
    if (r.url().startsWith(proxy)) {
      const u = new URL(r.url());
      responses.push({ method: r.request().method(), path: u.pathname, status: r.status() });
    }
  });
  const all = [];
  // Every request the page sent to the proxy (preflights aside), answered or not yet.
  const sent = [];
  page.on("request", (r) => {
    all.push(`${r.method()} ${r.url().slice(0, 120)}`);
    if (r.url().startsWith(proxy) && r.method() !== "OPTIONS") {
      sent.push({ method: r.method(), path: new URL(r.url()).pathname });
    }
  });
  page.on("requestfailed", (r) => {
    if (r.url().startsWith(proxy)) {
      failed.push({ method: r.method(), path: new URL(r.url()).pathname, error: r.failure()?.errorText });
    }
  });
  page.on("console", (m) => {
    if (m.type() === "error" || process.env.BROWSER_DEBUG) consoleErrors.push(`${m.type()} ${m.text().slice(0, 200)} ${m.location().url}`);
  });
  await page.goto(page_url);
  await page.waitForFunction(() => window.pageReady === true || window.sdkErrors.length > 0, null, { timeout: 20000 });
  await page.waitForTimeout(settleMs);
  const state = await page.evaluate(() => {
    const queues = {};
    for (let i = 0; i < localStorage.length; i++) {
      const key = localStorage.key(i);
      if (/queue|_ev$|unsent|OutQueue/i.test(key)) {
        try {
          const value = JSON.parse(localStorage.getItem(key));
          queues[key] = Array.isArray(value) ? value.length : value && typeof value === "object" ? Object.keys(value).length : 0;
        } catch {
          queues[key] = -1;
        }
      }
    }
    return { queues, sdkErrors: window.sdkErrors, plausibleDone: window.plausibleDone };
  });
  // Leaving the page fires the SDKs' unload paths (sendBeacon, keepalive fetch); the browser
  // reports those as aborted by the navigation even when they reach the server, so they are
  // judged by what the vendor received, not here.
  state.failedBeforeUnload = [...failed];
  state.responsesBeforeUnload = responses.length;
  await page.goto("about:blank");
  await page.waitForTimeout(1000);
  console.log(JSON.stringify({ responses, sent, failedAfterUnload: failed.slice(state.failedBeforeUnload.length), consoleErrors, ...state, ...(process.env.BROWSER_DEBUG ? { all } : {}) }));
} finally {
  await browser.close();
  server.close();
}
