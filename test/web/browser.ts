/**
 * Headless Chromium for the dashboard tests: Debian's `chromium` driven by playwright-core (no browser
 * download), a collector of console errors, and screenshots at the two widths the dashboard supports.
 */
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";

/** Debian's Chromium (`apt-get install chromium`; .ci/run installs it). */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** The widths every page is checked and photographed at. */
export const WIDTHS = [1280, 390] as const;

/** What the overflow check reads in the page (it runs in the browser, not in Node). */
declare const document: { documentElement: { scrollWidth: number } };
declare const window: { innerWidth: number };

const HEIGHT: Record<number, number> = { 1280: 800, 390: 844 };

/** Whether the browser is installed. */
export function chromiumInstalled(): boolean {
  return existsSync(CHROMIUM);
}

/** Starts headless Chromium with no network activity of its own (no updates, sync, QUIC, first run). */
export function launchChromium(): Promise<Browser> {
  if (!chromiumInstalled()) {
    throw new Error(
      "chromium is not installed: apt-get install -y --no-install-recommends chromium (.ci/run does)",
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** Collects console errors and uncaught exceptions of a page, each with the page's URL at the time. */
export function watchConsole(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (msg) => {
    if (msg.type() === "error") errors.push(`${page.url()}: console error: ${msg.text()}`);
  });
  page.on("pageerror", (err) => errors.push(`${page.url()}: uncaught: ${err.message}`));
  return errors;
}

/**
 * Screenshots of the page at 1280 and 390 px into `dir/<name>-<width>.png` (the whole page), checking at
 * each width that nothing overflows the viewport sideways; leaves the page at 1280 px.
 */
export async function screenshotWidths(page: Page, dir: string, name: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: HEIGHT[width] });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 0)
      throw new Error(`${name} at ${width} px: the page is ${overflow} px wider than the viewport`);
    await page.screenshot({ path: path.join(dir, `${name}-${width}.png`), fullPage: true });
  }
  await page.setViewportSize({ width: 1280, height: HEIGHT[1280] });
}
