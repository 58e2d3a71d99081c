import assert from "node:assert/strict";
import { test } from "node:test";
import sharp from "sharp";
import { assertPixelBudget, decodeCost } from "../../src/models/pixel-budget.js";
import { claimedPng } from "../helpers/images.js";

const flat = (width: number, height: number) =>
  sharp({ create: { width, height, channels: 3, background: { r: 90, g: 140, b: 200 } } });

test("decode cost: PNG at full size, 16-bit twice, JPEG and WebP at their shrink-on-load size", async () => {
  assert.equal(await decodeCost(await flat(1500, 1000).png().toBuffer()), 1500 * 1000);
  assert.equal(
    await decodeCost(await flat(1500, 1000).png().toColourspace("rgb16").toBuffer()),
    2 * 1500 * 1000,
  );
  // 4000x3000: shrink 4 keeps the shorter side at 750 >= 512.
  assert.equal(await decodeCost(await flat(4000, 3000).jpeg().toBuffer()), 1000 * 750);
  assert.equal(await decodeCost(await flat(9000, 9000).webp().toBuffer()), 1125 * 1125);
  assert.equal(await decodeCost(await flat(600, 400).jpeg().toBuffer()), 600 * 400);
  assert.equal(await decodeCost(claimedPng(7000, 7000)), 49_000_000, "read from the header, not decoded");
  assert.equal(await decodeCost(Buffer.from("not an image")), 0);
});

test("a request over the budget is refused with 413 and the figures", async () => {
  const png = await flat(1000, 1000).png().toBuffer();
  await assertPixelBudget([png, png], 2_000_000);
  await assert.rejects(
    assertPixelBudget([png, png, png], 2_000_000),
    (err: Error & { statusCode?: number }) => {
      assert.equal(err.statusCode, 413);
      assert.match(
        err.message,
        /decode to 3\.0 M pixels, more than the limit of 2\.0 M \(PREDICT_MAX_REQUEST_PIXELS\)/,
      );
      return true;
    },
  );
});
