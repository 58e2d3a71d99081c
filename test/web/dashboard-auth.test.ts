/**
 * The dashboard with API keys on, in Chromium: the browser logs in to the page with Basic (the key as the
 * password); a key the API refuses makes the page ask for one in its dialog, keep it in sessionStorage and
 * send it as Bearer; uploads go through with it, and dataset images are fetched with the key and shown
 * from blob: URLs (allowed by the dashboard's CSP).
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, it } from "node:test";
import type { Browser, Page } from "playwright-core";
import { type Stack, startStack } from "../helpers/stack.js";
import { launchChromium, watchConsole } from "./browser.js";
import { mislabelledZip } from "./dataset-zip.js";
import { ensureWebBuild } from "./web-build.js";

/** What the check of the thumbnails reads in the page (it runs in the browser, not in Node). */
declare const document: {
  querySelectorAll(selector: string): ArrayLike<{ src: string; complete: boolean; naturalWidth: number }>;
};
declare const sessionStorage: { getItem(k: string): string | null; setItem(k: string, v: string): void };

const ADMIN = "dashboard-admin-key-0123456789";
const STORAGE_KEY = "transfer-server.api-key";

let stack: Stack;
let browser: Browser;
let page: Page;
let base: string;
let tmp: string;
let errors: string[] = [];

before(async () => {
  await ensureWebBuild();
  tmp = await mkdtemp(path.join(os.tmpdir(), "tls-web-auth-"));
  stack = await startStack({ AUTH: "on", ADMIN_API_KEY: ADMIN });
  await stack.app.listen({ port: 0, host: "127.0.0.1" });
  base = `http://127.0.0.1:${(stack.app.server.address() as AddressInfo).port}`;
  browser = await launchChromium();
  const context = await browser.newContext({
    viewport: { width: 1280, height: 800 },
    httpCredentials: { username: "dashboard", password: ADMIN },
  });
  // A stale key in this tab's storage: the API refuses it, so the page must ask for the right one.
  await context.addInitScript(
    ([k, v]) => {
      if (!sessionStorage.getItem(k)) sessionStorage.setItem(k, v);
    },
    [STORAGE_KEY, "tls_key_revoked"],
  );
  page = await context.newPage();
  page.setDefaultTimeout(30_000);
  errors = watchConsole(page);
});

after(async () => {
  await browser?.close();
  await stack?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

it("asks for the key on a 401, then uploads with it and shows the images from blob: URLs", {
  timeout: 120_000,
}, async () => {
  await page.goto(`${base}/#/datasets`);
  const dialog = page.getByRole("dialog", { name: "API key needed" });
  await dialog.waitFor();
  await dialog.getByLabel("API key").fill(ADMIN);
  await dialog.getByRole("button", { name: "Use key" }).click();
  await page.getByText("No dataset yet").waitFor();
  assert.equal(await page.evaluate((k) => sessionStorage.getItem(k), STORAGE_KEY), ADMIN);

  const zipPath = path.join(tmp, "cats-coffee.zip");
  await writeFile(zipPath, await mislabelledZip());
  await page.setInputFiles("#dataset-file", zipPath);
  const status = page.locator('[data-testid="upload-status"][data-phase="ready"]');
  await status.waitFor({ timeout: 60_000 });
  await status.getByRole("link", { name: "Open the dataset" }).click();
  const thumbs = await page.waitForFunction(
    () => {
      const imgs = Array.from(document.querySelectorAll('[data-testid="dataset-report"] img'));
      return (
        imgs.length >= 2 && imgs.every((i) => i.complete && i.naturalWidth > 0) && imgs.map((i) => i.src)
      );
    },
    undefined,
    { timeout: 30_000 },
  );
  const srcs = (await thumbs.jsonValue()) as string[];
  assert.ok(
    srcs.every((s) => s.startsWith("blob:")),
    srcs.join(", "),
  );
  // The only errors: the browser's report of the stale key's 401 answers.
  assert.deepEqual(
    errors.filter((e) => !/status of 401/.test(e)),
    [],
  );
});
