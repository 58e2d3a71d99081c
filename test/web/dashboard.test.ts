/**
 * The web dashboard in a real browser (Debian's Chromium through playwright-core) against the real stack
 * (in-process API listening on a port, real Redis, real train and predict worker processes): upload a
 * dataset by the file picker, see its report with thumbnails, start a job from the form, watch its curve
 * grow while it trains, open the model, click a confusion-matrix cell and see its misclassified images
 * load, and classify an image dropped on the predict playground. Every page is photographed at 1280 and
 * 390 px into docs/screenshots, must not overflow sideways, and must log no console error.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { Browser, Page } from "playwright-core";
import { photo } from "../../scripts/lib/photos.js";
import { type Stack, startStack, type WorkerProcess } from "../helpers/stack.js";
import { launchChromium, screenshotWidths, watchConsole } from "./browser.js";
import { mislabelledZip } from "./dataset-zip.js";
import { ensureWebBuild, gzippedScripts } from "./web-build.js";

/** The few DOM globals that the functions run in the page use (they run in the browser, not in Node). */
declare const document: {
  querySelector(selector: string): { getAttribute(name: string): string | null } | null;
  querySelectorAll(selector: string): ArrayLike<{ complete: boolean; naturalWidth: number }>;
};
declare const DataTransfer: new () => { items: { add(file: File): void } };

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..", "..");
const SHOTS = path.join(ROOT, "docs", "screenshots");
const EPOCHS = 60;
const MAX_GZIPPED_JS = 300 * 1024;

/** The number in a `data-points` attribute. */
async function points(page: Page): Promise<number> {
  return Number(await page.getByTestId("curves").getAttribute("data-points"));
}

/** Waits until every image under `selector` has loaded (decoded, not broken); returns how many there are. */
async function imagesLoaded(page: Page, selector: string, atLeast = 1): Promise<number> {
  const handle = await page.waitForFunction(
    ({ selector, atLeast }) => {
      const imgs = Array.from(document.querySelectorAll(`${selector} img`));
      return imgs.length >= atLeast && imgs.every((i) => i.complete && i.naturalWidth > 0) && imgs.length;
    },
    { selector, atLeast },
    { timeout: 30_000 },
  );
  return (await handle.jsonValue()) as number;
}

describe("web dashboard", { timeout: 300_000 }, () => {
  let stack: Stack;
  let workers: WorkerProcess[] = [];
  let browser: Browser;
  let page: Page;
  let base: string;
  let tmp: string;
  let errors: string[] = [];

  before(async () => {
    await ensureWebBuild();
    tmp = await mkdtemp(path.join(os.tmpdir(), "tls-web-"));
    stack = await startStack();
    await stack.app.listen({ port: 0, host: "127.0.0.1" });
    base = `http://127.0.0.1:${(stack.app.server.address() as AddressInfo).port}`;
    workers = [stack.spawnWorker("train"), stack.spawnWorker("predict")];
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.setDefaultTimeout(30_000);
    errors = watchConsole(page);
  });

  after(async () => {
    await browser?.close();
    await stack?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  /** Fails with the workers' log tails when a step timed out. */
  function explain(err: unknown): never {
    const logs = workers.map((w) => w.output().slice(-2000)).join("\n---\n");
    throw new Error(`${(err as Error).message}\nworker logs:\n${logs}`, { cause: err });
  }

  it("serves the built dashboard at / with its CSP; its JavaScript is under 300 KB gzipped", async (t) => {
    const res = await fetch(`${base}/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /text\/html/);
    assert.match(res.headers.get("content-security-policy") ?? "", /img-src 'self' data: blob:/);
    const html = await res.text();
    const script = /<script type="module" crossorigin src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    assert.ok(script, html);
    const js = await fetch(`${base}${script}`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get("cache-control") ?? "", /immutable/);
    const scripts = gzippedScripts();
    assert.ok(scripts.length > 0);
    for (const s of scripts) {
      t.diagnostic(`${s.file}: ${s.bytes} bytes, ${s.gzipped} gzipped`);
      assert.ok(s.gzipped < MAX_GZIPPED_JS, `${s.file} is ${s.gzipped} bytes gzipped`);
    }
    const all = scripts.reduce((n, s) => n + s.gzipped, 0);
    assert.ok(all < MAX_GZIPPED_JS, `all scripts: ${all} bytes gzipped`);
  });

  let datasetId: string;
  it("uploads a dataset with the file picker, then shows its classes, splits and report thumbnails", async () => {
    const zipPath = path.join(tmp, "cats-coffee.zip");
    await writeFile(zipPath, await mislabelledZip());
    await page.goto(`${base}/#/datasets`);
    await page.getByRole("heading", { level: 1, name: "Datasets" }).waitFor();
    await page.getByLabel("Name (optional)").fill("cats and coffee");
    await page.setInputFiles("#dataset-file", zipPath);
    const status = page.locator('[data-testid="upload-status"][data-phase="ready"]');
    await status.waitFor({ timeout: 60_000 }).catch(explain);
    await page.locator('[data-testid="datasets-table"] tr[data-state="ready"]').first().waitFor();
    await screenshotWidths(page, SHOTS, "datasets");

    await status.getByRole("link", { name: "Open the dataset" }).click();
    datasetId = decodeURIComponent(new URL(page.url()).hash.split("/")[2]);
    assert.match(datasetId, /^ds_/);
    const splits = page.getByTestId("split-table");
    await splits.waitFor();
    assert.deepEqual(await splits.locator("tbody th").allTextContents(), ["cat", "coffee"]);
    assert.deepEqual(await splits.locator("tfoot td").allTextContents(), ["13", "5"]);
    const thumbs = await imagesLoaded(page, '[data-testid="dataset-report"]', 2);
    assert.ok(thumbs >= 2, "the duplicate pair's thumbnails");
    await screenshotWidths(page, SHOTS, "dataset");
    assert.deepEqual(errors, []);
  });

  let jobId: string;
  it("starts a job from the form and draws its curve as it grows, with phase and progress", async () => {
    await page.getByRole("link", { name: "Train a model on it" }).click();
    await page.getByRole("heading", { level: 1, name: "New training job" }).waitFor();
    await page.locator(`#job-dataset option[value="${datasetId}"]`).waitFor({ state: "attached" });
    assert.equal(await page.getByLabel("Dataset").inputValue(), datasetId);
    await page.locator('#job-backbone option[value="mobilenet_v2"]').waitFor({ state: "attached" });
    await page.getByLabel("Epochs").fill(String(EPOCHS));
    await page.getByLabel("Batch size").fill("2");
    await page.getByLabel(/Early stopping/).uncheck();
    await screenshotWidths(page, SHOTS, "new-job");
    await page.getByRole("button", { name: "Start training" }).click();
    await page.waitForURL(/#\/jobs\/job_/);
    jobId = decodeURIComponent(new URL(page.url()).hash.split("/")[2]);

    // The curve grows while the job runs: a first count of epochs below the total, then a larger one.
    const grown = (n: number) =>
      page.waitForFunction(
        (n) => Number(document.querySelector('[data-testid="curves"]')?.getAttribute("data-points")) > n,
        n,
        { timeout: 120_000 },
      );
    await grown(0).catch(explain);
    const first = await points(page);
    const state = await page.getByTestId("job-status").getAttribute("data-state");
    assert.ok(first < EPOCHS, `the page saw ${first} of ${EPOCHS} epochs first (state ${state})`);
    assert.equal(state, "running");
    assert.match((await page.getByTestId("job-phase").textContent()) ?? "", /training|extracting/);
    await grown(first).catch(explain);
    const second = await points(page);
    assert.ok(second > first, `the curve grew from ${first} to ${second} points`);
    await screenshotWidths(page, SHOTS, "job");

    await page
      .locator('[data-testid="job-status"][data-state="completed"]')
      .waitFor({ timeout: 120_000 })
      .catch(explain);
    const final = await points(page);
    assert.ok(final >= second, `${final} epochs at the end`);
    assert.equal(await page.locator('[data-testid="epoch-table"] tbody tr').count(), final);
    assert.equal(await page.locator(".chart").first().getAttribute("data-points"), String(final));

    await page.goto(`${base}/#/jobs`);
    await page.locator(`[data-testid="jobs-table"] tr[data-id="${jobId}"][data-state="completed"]`).waitFor();
    await screenshotWidths(page, SHOTS, "jobs");
    assert.deepEqual(errors, []);
  });

  it("opens the model; a confusion-matrix cell (keyboard) shows its misclassified images", async () => {
    await page.goto(`${base}/#/jobs/${jobId}`);
    await page.getByRole("link", { name: "Open the model" }).click();
    await page.waitForURL(/#\/models\/mdl_/);
    const matrix = page.getByTestId("confusion-matrix");
    await matrix.waitFor();
    assert.equal(await page.locator('[data-testid="per-class"] tbody tr').count(), 2);
    const cell = matrix.getByRole("button").first();
    const count = Number(await cell.textContent());
    assert.ok(count >= 1, "an error cell");
    const label = (await cell.getAttribute("aria-label")) ?? "";
    assert.match(label, /^true (cat|coffee), predicted (cat|coffee): \d+ images?$/);
    await cell.focus();
    await page.keyboard.press("Enter");
    assert.equal(await cell.getAttribute("aria-pressed"), "true");
    const shown = await imagesLoaded(page, '[data-testid="misclassified"]', count);
    assert.equal(shown, count, "one image per error of the cell");
    const captions = await page.locator('[data-testid="misclassified"] figcaption').allInnerTexts();
    assert.ok(
      captions.every((c) => c.includes("wrong-")),
      captions.join(" | "),
    );
    assert.deepEqual(errors, []);
  });

  it("classifies an image dropped on the predict playground", async () => {
    const bytes = photo("cat").toString("base64");
    const dataTransfer = await page.evaluateHandle((b64) => {
      const data = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([data], "chelsea.jpg", { type: "image/jpeg" }));
      return dt;
    }, bytes);
    await page.getByTestId("predict-file-zone").dispatchEvent("drop", { dataTransfer });
    const result = page.locator('[data-testid="predict-result"][data-state="done"]');
    await result.waitFor({ timeout: 60_000 }).catch(explain);
    const rows = await result.locator("ol.bars li").allInnerTexts();
    assert.equal(rows.length, 2, rows.join(" | "));
    assert.match(rows[0], /^cat/, "the cat photo's top class");
    await imagesLoaded(page, '[data-testid="predict-result"]');
    await screenshotWidths(page, SHOTS, "model");

    await page.goto(`${base}/#/models`);
    await page.locator('[data-testid="models-table"] tbody tr').first().waitFor();
    await screenshotWidths(page, SHOTS, "models");
    assert.deepEqual(errors, []);
  });

  it("downloads the model as one ONNX file, and as TF.js, from its page", async () => {
    const job = (await (await fetch(`${base}/v1/jobs/${jobId}`)).json()) as { modelId: string };
    await page.goto(`${base}/#/models/${job.modelId}`);
    const downloaded = page.waitForEvent("download", { timeout: 120_000 });
    await page.getByTestId("export-onnx").click();
    const download = await downloaded;
    assert.equal(download.suggestedFilename(), `${job.modelId}.onnx`);
    const file = path.join(tmp, "export.onnx");
    await download.saveAs(file);
    const bytes = await readFile(file);
    assert.ok(bytes.length > 1_000_000, `${bytes.length} bytes`);
    assert.ok(bytes.includes(Buffer.from("probabilities")), "the fused graph's output");
    await page.locator('[data-testid="export-state"][data-state="done"]').waitFor();

    const tfjsDownload = page.waitForEvent("download", { timeout: 120_000 });
    await page.getByTestId("export-tfjs").click();
    const tfjs = await tfjsDownload;
    assert.equal(tfjs.suggestedFilename(), `${job.modelId}-tfjs.tar.gz`);
    const archive = path.join(tmp, "export-tfjs.tar.gz");
    await tfjs.saveAs(archive);
    assert.deepEqual([...(await readFile(archive)).subarray(0, 2)], [0x1f, 0x8b], "a gzip file");
    await page.getByText(`Downloaded ${job.modelId}-tfjs.tar.gz`).waitFor();
    assert.deepEqual(errors, []);
  });

  it("cancels a running job from its page", async () => {
    await page.goto(`${base}/#/jobs/new?datasetId=${encodeURIComponent(datasetId)}`);
    await page.locator(`#job-dataset option[value="${datasetId}"]`).waitFor({ state: "attached" });
    await page.getByLabel("Epochs").fill("1000");
    await page.getByLabel("Batch size").fill("1");
    await page.getByLabel(/Early stopping/).uncheck();
    await page.getByRole("button", { name: "Start training" }).click();
    await page.waitForURL(/#\/jobs\/job_/);
    await page.locator('[data-testid="job-status"][data-state="running"]').waitFor({ timeout: 60_000 });
    await page.getByRole("button", { name: "Cancel job" }).click();
    await page
      .locator('[data-testid="job-status"][data-state="cancelled"]')
      .waitFor({ timeout: 60_000 })
      .catch(explain);
    assert.equal(await page.getByRole("button", { name: "Cancel job" }).count(), 0);
    assert.deepEqual(errors, []);
  });
});
