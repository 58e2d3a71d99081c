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
    },
    featureOutput: NSFWJS_FEATURE_LAYERS[name],
    featureDim,
    description,
    ...extra,
  };
}

/** Backbones that ship with the server: pretrained Keras models from the nsfwjs package, compiled to ONNX. */
export const BUILTIN_BACKBONES: BackboneManifest[] = [
  nsfwjsBackbone(
    "mobilenet_v2",
    1280,
    "MobileNetV2 224 (nsfwjs weights: ImageNet-pretrained, retrained on content classes), 1280 features",
  ),
  nsfwjsBackbone(
    "mobilenet_v2",
    1280,
    "MobileNetV2 224 (nsfwjs weights) quantized to int8 for CPUs (static, calibrated on the shipped photos), 1280 features",
    { id: "mobilenet_v2_int8", quantize: "int8" },
  ),
  nsfwjsBackbone("inception_v3", 2048, "InceptionV3 299 (nsfwjs weights), 2048 pooled features"),
];
