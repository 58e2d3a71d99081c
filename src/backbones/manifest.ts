import Type, { type Static } from "typebox";

const Triple = Type.Array(Type.Number(), { minItems: 3, maxItems: 3 });

/** How images are turned into the backbone's input tensor. */
export const PreprocessingSchema = Type.Object({
  /** Side of the square input, e.g. 224. */
  inputSize: Type.Integer({ minimum: 8, maximum: 2048 }),
  /** Evaluation transform: the shorter side is resized to this, then center-cropped to inputSize. */
  resizeShorter: Type.Integer({ minimum: 8, maximum: 4096 }),
  layout: Type.Enum(["NCHW", "NHWC"]),
  /** Pixels in 0..255 are multiplied by this (1/255 to get [0,1]). */
  scale: Type.Number(),
  mean: Triple,
  std: Triple,
  /**
   * Images no larger than the input on both sides (thumbnails such as 28x28 or 32x32 data sets): "crop"
   * (default) treats them like photos (resize the shorter side to resizeShorter, center-crop), "fit"
   * resizes the whole image so its longer side is inputSize (padded to a square), cutting none of its edges.
   */
  smallImages: Type.Optional(Type.Enum(["crop", "fit"])),
});
export type Preprocessing = Static<typeof PreprocessingSchema>;

/** A backbone manifest (manifest.json in a backbone folder). */
export const BackboneManifestSchema = Type.Object({
  id: Type.String({ pattern: "^[A-Za-z0-9_.-]{1,64}$" }),
  format: Type.Enum(["onnx", "tfjs-layers", "tfjs-graph"]),
  /** Model file (onnx) or model.json (tfjs), relative to the manifest's folder, absolute, or a URL. */
  model: Type.String({ minLength: 1 }),
  preprocessing: PreprocessingSchema,
  /** Output name (onnx, tfjs-graph) or layer name (tfjs-layers) whose value is the feature vector. */
  featureOutput: Type.String({ minLength: 1 }),
  featureDim: Type.Integer({ minimum: 1 }),
  /**
   * tfjs-layers compiled to ONNX: layers whose outputs are global-average-pooled and appended after the
   * feature output's values (featureDim counts them all). Multi-depth features transfer better to data
   * far from the backbone's training set.
   */
  pooledLayers: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { maxItems: 32 })),
  /** Input name for onnx / tfjs-graph models; the first input when absent. */
  inputName: Type.Optional(Type.String()),
  /** For tfjs-layers: run on ONNX Runtime through the Keras-to-ONNX compiler (default true). */
  compileToOnnx: Type.Optional(Type.Boolean()),
  /**
   * "int8": run a statically quantized copy on ONNX Runtime (int8 weights, uint8 activations calibrated
   * on the shipped photos). Faster on CPUs, features slightly different from the float model.
   */
  quantize: Type.Optional(Type.Enum(["int8"])),
  description: Type.Optional(Type.String()),
});
export type BackboneManifest = Static<typeof BackboneManifestSchema>;

/** ImageNet preprocessing of the transfer-learning recipe (resize 255, crop 224, ImageNet mean/std). */
export const IMAGENET_224: Preprocessing = {
  inputSize: 224,
  resizeShorter: 255,
  layout: "NCHW",
  scale: 1 / 255,
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
};
