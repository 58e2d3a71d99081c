import type { BackboneManifest } from "./manifest.js";
import { NSFWJS_FEATURE_LAYERS } from "./nsfwjs.js";

/** Backbones that ship with the server: pretrained Keras models from the nsfwjs package, compiled to ONNX. */
export const BUILTIN_BACKBONES: BackboneManifest[] = [
  {
    id: "mobilenet_v2",
    format: "tfjs-layers",
    model: "nsfwjs:mobilenet_v2",
    preprocessing: {
      inputSize: 224,
      resizeShorter: 255,
      layout: "NHWC",
      scale: 1 / 255,
      mean: [0, 0, 0],
      std: [1, 1, 1],
    },
    featureOutput: NSFWJS_FEATURE_LAYERS.mobilenet_v2,
    featureDim: 1280,
    description:
      "MobileNetV2 224 (nsfwjs weights: ImageNet-pretrained, retrained on content classes), 1280 features",
  },
  {
    id: "inception_v3",
    format: "tfjs-layers",
    model: "nsfwjs:inception_v3",
    preprocessing: {
      inputSize: 299,
      resizeShorter: 340,
      layout: "NHWC",
      scale: 1 / 255,
      mean: [0, 0, 0],
      std: [1, 1, 1],
    },
    featureOutput: NSFWJS_FEATURE_LAYERS.inception_v3,
    featureDim: 2048,
    description: "InceptionV3 299 (nsfwjs weights), 2048 pooled features",
  },
];
