// The dashboard in a real browser: headless Debian chromium driven by
// playwright-core. Run by crates/cli/tests/dashboard.rs against `qualify
// serve` on a demo database:
//
//   node tests/e2e/dashboard.mjs URL ADMIN_KEY SCREENSHOT_DIR
//
// Signs in, works the queue (accepts one lead with the keyboard, rejects
// one with a reason) and sees the KPIs change, opens a lead, edits the
// model into an invalid state and sees the error at its line, backtests a
// change and activates it, looks at a phone-sized queue, signs out. Saves a
// screenshot of each page in SCREENSHOT_DIR. Any failed check, page error
// or Content-Security-Policy violation exits non-zero.

import { chromium } from "playwright-core";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";

const [url, adminKey, screenshots] = process.argv.slice(2);
if (!url || !adminKey || !screenshots) {
  console.error("usage: node dashboard.mjs URL ADMIN_KEY SCREENSHOT_DIR");
  process.exit(2);
}
mkdirSync(screenshots, { recursive: true });
const executablePath = process.env.QUALIFY_CHROMIUM || "/usr/bin/chromium";
const profile = mkdtempSync(join(tmpdir(), "qualify-e2e-"));
// The demo's data spans 2026-08 to 2026-12; outcomes recorded now count for
// the leads created in it whatever today is.
const KPI_PERIOD = "from=2026-07-01&to=2026-12-02";

const problems = [];
function step(name) {
  console.log(`-- ${name}`);
}

const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
  ],
  viewport: { width: 1280, height: 900 },
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(30_000);
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console error: ${message.text()}`);
  });
  const shot = async (name, options = {}) => {
    await page.screenshot({ path: join(screenshots, `${name}.png`), fullPage: true, ...options });
  };

  step("signed out, the dashboard sends to the sign-in page");
  await page.goto(url + "/");
  assert.equal(new URL(page.url()).pathname, "/login");
  await page.fill("#key", "qk_not-a-key");
  await page.press("#key", "Enter");
  await page.waitForSelector(".error-message");
  assert.match(await page.textContent(".error-message"), /unknown or revoked/);
  await shot("01-login-refused");
  // The refused sign-in is a 401, which the browser logs as an error.
  problems.length = 0;

  step("sign in");
  await page.fill("#key", adminKey);
  await Promise.all([page.waitForURL(url + "/"), page.press("#key", "Enter")]);
  await page.waitForSelector("table.queue tbody tr");
  assert.equal(await page.textContent("h1"), "Sales queue");
  const rowCount = await page.locator("table.queue tbody tr").count();
  assert.ok(rowCount >= 2, `the demo queue has MQLs (${rowCount} rows)`);
  assert.ok((await page.locator("table.queue tbody tr").first().locator(".rule").count()) > 0, "rules carried the lead");
  await shot("02-queue");

  step("the KPIs before working the queue");
  await page.goto(`${url}/kpis?${KPI_PERIOD}`);
  const kpi = async (name) => Number(await page.textContent(`[data-kpi="${name}"]`));
  const acceptedBefore = await kpi("accepted");
  const mqlsBefore = await kpi("mqls");
  assert.ok(mqlsBefore > 0, "the demo has MQLs in the period");

  step("accept the first lead with the keyboard, reject the second with a reason");
  await page.goto(url + "/");
  const rows = page.locator("table.queue tbody tr");
  const first = await rows.nth(0).getAttribute("data-lead");
  const second = await rows.nth(1).getAttribute("data-lead");
  await rows.nth(0).locator("button.accept").focus();
  await page.keyboard.press("Enter");
  const firstRow = page.locator(`table.queue tbody tr[data-lead="${first}"]`);
  await firstRow.locator(".stage-cell", { hasText: "accepted" }).waitFor();
  // In place: still on the queue, the row updated, the others untouched.
  assert.equal(new URL(page.url()).pathname, "/");
  assert.equal(await firstRow.locator("button.accept", { hasText: "Won" }).count(), 1, "an accepted lead can be won");
  const secondRow = page.locator(`table.queue tbody tr[data-lead="${second}"]`);
  await secondRow.locator('select[name="reason"]').selectOption("student or researcher");
  await secondRow.locator("button.reject").click();
  await secondRow.locator(".stage-cell", { hasText: "rejected" }).waitFor();
  await shot("03-queue-worked");

  step("the KPIs changed");
  await page.goto(`${url}/kpis?${KPI_PERIOD}`);
  await page.waitForSelector("figure.chart svg");
  assert.equal(await kpi("accepted"), acceptedBefore + 1, "one more accepted lead in the funnel");
  assert.ok((await page.locator("table.numbers tbody tr").count()) > 0, "a row per channel");
  await shot("04-kpis");

  step("the criteria report counts the rejection reason");
  await page.goto(url + "/criteria");
  await page.waitForSelector("figure.chart svg");
  assert.match(await page.textContent("main"), /student or researcher/);
  await shot("05-criteria");

  step("open a lead");
  await page.goto(url + "/");
  await page.locator("table.queue tbody tr td.lead a").first().click();
  await page.waitForURL(/\/leads\//);
  await page.waitForSelector("figure.chart svg polyline");
  assert.ok((await page.locator("table.timeline tbody tr").count()) > 0, "the lead has a timeline");
  assert.ok((await page.locator("ul.rules li").count()) > 0, "fit rules are listed");
  await shot("06-lead");

  step("the accepted lead's page shows its stage history");
  await page.goto(`${url}/leads/${encodeURIComponent(first)}`);
  assert.match(await page.textContent("ol.history"), /accepted/);

  step("the model editor: an invalid model shows its error at its line");
  await page.goto(url + "/model");
  await page.waitForSelector("#toml");
  await shot("07-model");
  const original = await page.inputValue("#toml");
  const lines = original.split("\n");
  const thresholdIndex = lines.findIndex((line) => /^\s*engagement_threshold\s*=/.test(line));
  assert.ok(thresholdIndex >= 0, "the model has an engagement threshold");
  const thresholdLine = thresholdIndex + 1;
  const broken = [...lines];
  broken[thresholdIndex] = 'engagement_threshold = "lots"';
  await page.fill("#toml", broken.join("\n"));
  // Live validation marks the line in the gutter and lists the error.
  await page.waitForSelector(`#gutter .line-number.error[data-line="${thresholdLine}"]`);
  assert.match(await page.textContent("#model-errors"), new RegExp(`line ${thresholdLine}\\b`));
  await shot("08-model-invalid");
  // The server says the same without the script's help.
  await Promise.all([page.waitForURL(url + "/model"), page.click('button[value="check"]')]);
  await page.waitForSelector(`#gutter .line-number.error[data-line="${thresholdLine}"]`);
  assert.match(await page.textContent("#model-errors"), new RegExp(`line ${thresholdLine}\\b`));
  assert.equal(await page.locator("#activate").count(), 0, "no activation of an invalid model");

  step("backtest a lower threshold against the active model");
  const threshold = Number(/=\s*([0-9.]+)/.exec(lines[thresholdIndex])[1]);
  const changed = [...lines];
  changed[thresholdIndex] = `engagement_threshold = ${Math.max(1, Math.round(threshold * 0.7))}`;
  await page.fill("#toml", changed.join("\n"));
  await Promise.all([page.waitForURL(url + "/model"), page.click('button[value="backtest"]')]);
  await page.waitForSelector("#backtest figure.chart svg");
  const gained = Number(await page.textContent('[data-count="gained"]'));
  assert.ok(gained > 0, `a lower threshold gains leads (${gained})`);
  await shot("09-model-backtest");

  step("activate it");
  const versionsBefore = await page.locator("table.versions tbody th").count();
  await Promise.all([page.waitForURL(/\/model\?activated=\d+/), page.click("#activate")]);
  assert.match(await page.textContent(".notice"), /is active/);
  assert.equal(await page.locator("table.versions tbody th").count(), versionsBefore + 1);
  assert.equal((await page.inputValue("#toml")).split("\n")[thresholdIndex], changed[thresholdIndex]);
  await shot("10-model-activated");

  step("a phone-sized queue");
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(url + "/");
  await page.waitForSelector("table.queue");
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `the page fits a phone's width (overflows by ${overflow}px)`);
  await shot("11-queue-phone");
  await page.goto(`${url}/leads/${encodeURIComponent(first)}`);
  await shot("12-lead-phone");
  await page.setViewportSize({ width: 1280, height: 900 });

  step("keyboard only: the skip link leads to the content");
  await page.goto(url + "/");
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.className), "skip");

  step("sign out");
  await Promise.all([page.waitForURL(url + "/login"), page.click(".who button")]);
  await page.goto(url + "/kpis");
  assert.equal(new URL(page.url()).pathname, "/login");

  assert.deepEqual(problems, [], "no page errors, console errors or CSP violations");
  console.log("dashboard e2e: all checks passed");
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
