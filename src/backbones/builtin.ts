import type { BackboneManifest } from "./manifest.js";
import { NSFWJS_FEATURE_LAYERS, NSFWJS_INPUT_SIZE, type NsfwjsModelName } from "./nsfwjs.js";

/**
 * A backbone from the nsfwjs package: NHWC input scaled to [0, 1], the recipe's evaluation transform
 * (shorter side resized to 255/224 of the input size, then center-cropped), features at the pooled layer.
 */
function nsfwjsBackbone(
  name: NsfwjsModelName,
  featureDim: number,
  description: string,
  extra: Partial<BackboneManifest> = {},
): BackboneManifest {
  const inputSize = NSFWJS_INPUT_SIZE[name];
  return {
    id: name,
    format: "tfjs-layers",
    model: `nsfwjs:${name}`,
    preprocessing: {
      inputSize,
      resizeShorter: Math.floor((inputSize * 255) / 224),
      layout: "NHWC",
      scale: 1 / 255,
      mean: [0, 0, 0],
      std: [1, 1, 1],
      smallImages: "fit",
    },
    featureOutput: NSFWJS_FEATURE_LAYERS[name],
    featureDim,
    description,
    ...extra,
  };
}

/**
 * Depths of MobileNetV2 whose global-average-pooled outputs are appended to the final 1280 features
 * (3,856 values in all): on data far from ImageNet photos, such as Fashion-MNIST, they carry the texture
 * and shape cues the last layer has specialised away (docs/benchmarks.md, "Quality").
 */
export const MOBILENET_V2_POOLED_LAYERS = [
  "block_3_expand_relu",
  "block_6_expand_relu",
  "block_10_expand_relu",
  "block_13_expand_relu",
  "block_16_expand_relu",
  "block_16_project_BN",
];
const MOBILENET_V2_FEATURES = 1280 + 144 + 192 + 384 + 576 + 960 + 320;

/** Backbones that ship with the server: pretrained Keras models from the nsfwjs package, compiled to ONNX. */
export const BUILTIN_BACKBONES: BackboneManifest[] = [
  nsfwjsBackbone(
    "mobilenet_v2",
    MOBILENET_V2_FEATURES,
    "MobileNetV2 224 (nsfwjs weights: ImageNet-pretrained, retrained on content classes): the final 1280 features plus 6 pooled depths, 3856 values",
    { pooledLayers: MOBILENET_V2_POOLED_LAYERS },
  ),
  nsfwjsBackbone(
    "mobilenet_v2",
    MOBILENET_V2_FEATURES,
    "MobileNetV2 224 (nsfwjs weights) quantized to int8 for CPUs (static, calibrated on the shipped photos): the same 3856 multi-depth features",
    { id: "mobilenet_v2_int8", quantize: "int8", pooledLayers: MOBILENET_V2_POOLED_LAYERS },
  ),
  nsfwjsBackbone("inception_v3", 2048, "InceptionV3 299 (nsfwjs weights), 2048 pooled features"),
];
