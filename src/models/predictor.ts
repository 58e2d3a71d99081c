import { preprocessImage } from "../backbones/preprocess.js";
import type { Context } from "../context.js";
import { ImageError } from "../errors.js";
import { modelCache } from "../ops/metrics.js";
import type { PredictPayload, PredictResult } from "../queues.js";
import { type HeadPredictor, HeadTrainer } from "../training/head.js";
import { topK } from "../training/metrics.js";
import { type ClassGaussians, mahalanobisScores } from "../training/open-set.js";
import { decodeClassGaussians } from "../training/open-set-file.js";
import { MicroBatcher } from "./batcher.js";
import type { ModelManifest } from "./schemas.js";

interface LoadedModel {
  manifest: ModelManifest;
  head: HeadPredictor;
  batcher: MicroBatcher;
  /** The unknown rule: class statistics and the threshold on their score. */
  openSet?: { gaussians: ClassGaussians; threshold: number };
}

/** Options of {@link Predictor}. */
export interface PredictorOptions {
  /** Models kept loaded (least recently used ones are dropped). */
  cacheSize: number;
  maxBatch: number;
  waitMs: number;
  maxPixels: number;
}

/**
 * Online prediction: loads models on demand into a bounded LRU cache, decodes each image, sends it
 * through a per-backbone micro-batcher, and applies the model's head.
 */
export class Predictor {
  private readonly models = new Map<string, Promise<LoadedModel>>();
  private readonly batchers = new Map<string, Promise<MicroBatcher>>();

  constructor(
    private readonly ctx: Context,
    private readonly options: PredictorOptions,
  ) {}

  /** Predicts every image of a request; an image that cannot be decoded gets an error entry. */
  async predict(payload: PredictPayload): Promise<PredictResult> {
    const model = await this.load(payload.modelId);
    const p = model.manifest.preprocessing;
    const results = await Promise.all(
      payload.images.map(async (b64) => {
        try {
          const bytes = Buffer.from(b64, "base64");
          if (bytes.length === 0) throw new ImageError("empty image");
          const input = await preprocessImage(bytes, p, { maxPixels: this.options.maxPixels });
          const features = await model.batcher.run(input);
          const probs = model.head.predictProba(features, 1);
          const predictions = topK(probs, model.manifest.classes, payload.topK);
          if (payload.unknown === false) return { predictions };
          return { predictions, unknown: isUnknown(model, features) };
        } catch (err) {
          if (err instanceof ImageError) return { error: { code: err.code, message: err.reason } };
          throw err;
        }
      }),
    );
    return { results };
  }

  /** Loads a model (once; concurrent callers share the load) and keeps it in the LRU cache. */
  load(modelId: string): Promise<LoadedModel> {
    let entry = this.models.get(modelId);
    modelCache.inc({ result: entry ? "hit" : "miss" });
    if (entry) {
      this.models.delete(modelId);
      this.models.set(modelId, entry);
      return entry;
    }
    entry = (async () => {
      const manifest = await this.ctx.models.get(modelId);
      const dir = this.ctx.models.dir(modelId);
      const head = await HeadTrainer.loadForInference(dir);
      const openSet = manifest.openSet
        ? {
            gaussians: decodeClassGaussians(await this.ctx.models.readOpenSet(modelId)),
            threshold: manifest.openSet.threshold,
          }
        : undefined;
      return { manifest, head, openSet, batcher: await this.batcher(manifest) };
    })();
    this.models.set(modelId, entry);
    entry.catch(() => this.models.delete(modelId));
    while (this.models.size > this.options.cacheSize) {
      const oldest = this.models.keys().next().value as string;
      const dropped = this.models.get(oldest);
      this.models.delete(oldest);
      dropped?.then((m) => m.head.dispose()).catch(() => undefined);
    }
    return entry;
  }

  private batcher(manifest: ModelManifest): Promise<MicroBatcher> {
    let b = this.batchers.get(manifest.backbone);
    if (!b) {
      b = this.ctx.registry.load(manifest.backbone).then((bb) => {
        if (bb.hash !== manifest.backboneHash) {
          this.ctx.logger.warn(
            { modelId: manifest.id, backbone: manifest.backbone },
            "backbone weights differ from training",
          );
        }
        const s = bb.manifest.preprocessing.inputSize;
        return new MicroBatcher(
          bb.session,
          3 * s * s,
          bb.manifest.featureDim,
          this.options.maxBatch,
          this.options.waitMs,
        );
      });
      this.batchers.set(manifest.backbone, b);
      b.catch(() => this.batchers.delete(manifest.backbone));
    }
    return b;
  }
}

/** True when the model has an unknown rule and the features score above its threshold. */
function isUnknown(model: LoadedModel, features: Float32Array): boolean {
  if (!model.openSet) return false;
  return mahalanobisScores(model.openSet.gaussians, features, 1)[0] > model.openSet.threshold;
}
