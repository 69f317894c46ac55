// The console's browser for the end-to-end tests: one headless Chromium (Debian's, through
// playwright-core's executablePath) for a whole test run. It reads one JSON request per
// line on stdin, {"scenario": NAME, "args": {...}}, runs scenarios/NAME.js in a fresh browser
// context (its own cookies), and answers one JSON line on stdout: {"ok": true, "result": ...}
// or {"ok": false, "error": "...", "screenshot": PATH}.
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const readline = require("readline");
const { chromium } = require("playwright-core");

const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const SCENARIOS = path.join(__dirname, "scenarios");

async function main() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "codex32-console-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const browser = context.browser();
  const answer = (value) => process.stdout.write(JSON.stringify(value) + "\n");
  answer({ ok: true, ready: true, version: browser ? browser.version() : "persistent" });
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const request = JSON.parse(line);
    answer(await run(context, request));
  }
  await context.close();
  fs.rmSync(profile, { recursive: true, force: true });
}

async function run(context, request) {
  const { scenario, args } = request;
  const file = path.join(SCENARIOS, `${scenario}.js`);
  if (!/^[a-z0-9_]+$/.test(scenario) || !fs.existsSync(file)) {
    return { ok: false, error: `no scenario ${scenario}` };
  }
  await context.clearCookies();
  const page = await context.newPage();
  page.setDefaultTimeout(args.timeout || 10000);
  const problems = [];
  page.on("pageerror", (error) => problems.push(String(error)));
  // Script errors and refusals (CSP) count; a status a scenario provokes on purpose does not.
  page.on("console", (message) => {
    if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) problems.push(message.text());
  });
  try {
    const result = await require(file)(page, args);
    return { ok: true, result: result === undefined ? null : result, problems };
  } catch (error) {
    let screenshot = null;
    if (args.failures) {
      screenshot = path.join(args.failures, `${scenario}-failure.png`);
      await page.screenshot({ path: screenshot, fullPage: true }).catch(() => { screenshot = null; });
    }
    const html = await page.content().catch(() => "");
    return { ok: false, error: String(error && error.stack || error), url: page.url(),
             screenshot, problems, html: html.slice(0, 4000) };
  } finally {
    await page.close();
  }
}

main().catch((error) => {
  process.stdout.write(JSON.stringify({ ok: false, error: String(error && error.stack || error) }) + "\n");
  process.exit(1);
});
