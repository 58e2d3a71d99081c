import { createHash } from "node:crypto";
import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import Value from "typebox/value";
import { UnprocessableError } from "../errors.js";
import { writeFileAtomic } from "../lib/atomic.js";
import { int8WeightBits } from "../lib/cpu.js";
import { initTfjs, tf } from "../lib/tfjs.js";
import { BUILTIN_BACKBONES } from "./builtin.js";
import { compileKerasToOnnx } from "./keras-onnx/compile.js";
import { type BackboneManifest, BackboneManifestSchema } from "./manifest.js";
import { type NsfwjsModelName, nsfwjsArtifacts } from "./nsfwjs.js";
import { QUANTIZER_VERSION, quantizeBackbone } from "./quantize/quantize.js";
import { cudaInstalled, type OnnxInputSpec, openOnnxSession } from "./runtime/onnx.js";
import { loadTfjsArtifacts, openTfjsSession } from "./runtime/tfjs.js";
import type { BackboneSession, RuntimeName, RuntimeOptions } from "./runtime/types.js";

const COMPILER_VERSION = "keras-onnx-1";

/** What GET /v1/backbones shows of a backbone. */
export interface BackboneInfo {
  id: string;
  format: BackboneManifest["format"];
  inputSize: number;
  featureDim: number;
  runtime: RuntimeName;
  default: boolean;
  description?: string;
}

/** A backbone ready to run: its manifest, a hash of its weights and output, and an open session. */
export interface LoadedBackbone {
  manifest: BackboneManifest;
  /** Identifies weights + feature output: part of every feature-cache key. */
  hash: string;
  session: BackboneSession;
}

/** The ONNX file a backbone's session runs (see {@link BackboneRegistry.onnxFile}). */
export interface BackboneOnnxFile {
  file: string;
  /** The backbone's hash, as {@link LoadedBackbone.hash}. */
  hash: string;
  /** The image input; the model's first input when absent. */
  inputName?: string;
  /** The output holding the features. */
  outputName: string;
}

/** Options of {@link BackboneRegistry}. */
export interface RegistryOptions {
  /** Folder of user backbones: one subfolder each, holding manifest.json and usually the model file. */
  backbonesDir?: string;
  /** Where compiled ONNX files and downloaded models are cached. */
  cacheDir: string;
  defaultId: string;
  runtime: RuntimeOptions;
  /**
   * Bits of int8 convolution weights for `"quantize": "int8"` backbones: 8 or 7. By default what this CPU
   * multiplies exactly ({@link int8WeightBits}). Part of the backbone's hash, so machines that differ
   * cache and tag their models apart; set it to 7 everywhere for identical features on a mixed fleet.
   */
  int8WeightBits?: 7 | 8;
  log?: (level: "info" | "warn", msg: string) => void;
}

/** How a backbone runs: an ONNX file, or TF.js artifacts. */
type Resolved = { manifest: BackboneManifest; hash: string; spec: OnnxInputSpec } & (
  | { file: string }
  | { artifacts: tf.io.ModelArtifacts; format: "tfjs-layers" | "tfjs-graph" }
);

interface Entry {
  manifest: BackboneManifest;
  dir?: string;
}

const isUrl = (s: string) => /^https?:\/\//.test(s);
const sha256 = (...parts: (string | Uint8Array)[]) => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest("hex");
};

/** Built-in plus user backbones; loads each one once per process on first use. */
export class BackboneRegistry {
  private entries?: Promise<Map<string, Entry>>;
  private readonly loaded = new Map<string, Promise<LoadedBackbone>>();
  private readonly files = new Map<string, Promise<BackboneOnnxFile>>();

  constructor(private readonly options: RegistryOptions) {}

  /** All backbones, default first. */
  async list(): Promise<BackboneInfo[]> {
    const entries = await this.scan();
    const onnxRuntime: RuntimeName =
      this.options.runtime.executionProvider !== "cpu" && cudaInstalled()
        ? "onnxruntime-cuda"
        : "onnxruntime-cpu";
    const infos = [...entries.values()].map(({ manifest: m }) => ({
      id: m.id,
      format: m.format,
      inputSize: m.preprocessing.inputSize,
      featureDim: m.featureDim,
      runtime: runsOnOnnx(m) ? onnxRuntime : ("tfjs-wasm" as RuntimeName),
      default: m.id === this.options.defaultId,
      description: m.description,
    }));
    return infos.sort((a, b) => Number(b.default) - Number(a.default) || (a.id < b.id ? -1 : 1));
  }

  /** The manifest of a backbone, or a 422 error naming the known ids. */
  async manifest(id: string): Promise<BackboneManifest> {
    const entries = await this.scan();
    const entry = entries.get(id);
    if (!entry) {
      throw new UnprocessableError(
        `unknown backbone '${id}' (known: ${[...entries.keys()].join(", ")})`,
        "UNKNOWN_BACKBONE",
      );
    }
    return entry.manifest;
  }

  /** Loads (once) and returns a backbone ready to run. */
  load(id: string): Promise<LoadedBackbone> {
    let p = this.loaded.get(id);
    if (!p) {
      p = this.open(id);
      this.loaded.set(id, p);
      p.catch(() => this.loaded.delete(id));
    }
    return p;
  }

  /**
   * The exact ONNX file the session of backbone `id` runs (the user's file, the compiled float file or its
   * int8 copy), built and cached when missing, with the names of its image input and feature output; undefined
   * for backbones that run on TF.js (format tfjs-graph, or compileToOnnx false). Resolved once per process
   * (again when the cached file has gone).
   */
  async onnxFile(id: string): Promise<BackboneOnnxFile | undefined> {
    if (!runsOnOnnx(await this.manifest(id))) return undefined;
    const cached = this.files.get(id);
    if (cached) {
      const found = await cached.catch(() => undefined);
      if (found && (await exists(found.file))) return found;
    }
    const p = this.resolve(id).then((r) => {
      if ("artifacts" in r) throw new Error(`backbone ${id} runs on TF.js`);
      return { file: r.file, hash: r.hash, inputName: r.spec.inputName, outputName: r.spec.outputName };
    });
    this.files.set(id, p);
    p.catch(() => this.files.delete(id));
    return p;
  }

  /**
   * The TF.js artifacts of a `tfjs-layers` backbone and their hash: the float weights' (an int8 backbone's
   * session hash also covers its quantization). A 422 for an unknown id; an error for other formats.
   */
  async tfjsArtifacts(
    id: string,
  ): Promise<{ manifest: BackboneManifest; artifacts: tf.io.ModelArtifacts; hash: string }> {
    const manifest = await this.manifest(id);
    if (manifest.format !== "tfjs-layers") throw new Error(`backbone ${id} is not a tfjs-layers model`);
    const { dir } = (await this.scan()).get(id)!;
    return { manifest, ...(await this.artifactsOf(manifest, dir)) };
  }

  /** Releases every open session. */
  async close(): Promise<void> {
    const all = [...this.loaded.values()];
    this.loaded.clear();
    await Promise.allSettled(all.map(async (p) => (await p).session.release()));
  }

  private scan(): Promise<Map<string, Entry>> {
    this.entries ??= (async () => {
      const map = new Map<string, Entry>();
      for (const m of BUILTIN_BACKBONES) map.set(m.id, { manifest: m });
      const dir = this.options.backbonesDir;
      if (!dir) return map;
      const names = await readdir(dir).catch(() => [] as string[]);
      for (const name of names.sort()) {
        const file = path.join(dir, name, "manifest.json");
        try {
          const raw = JSON.parse(await readFile(file, "utf8"));
          if (!Value.Check(BackboneManifestSchema, raw)) {
            const first = [...Value.Errors(BackboneManifestSchema, raw)][0];
            throw new Error(`${first?.instancePath || "/"} ${first?.message}`);
          }
          if (map.has(raw.id)) throw new Error(`id '${raw.id}' is already taken`);
          map.set(raw.id, { manifest: raw, dir: path.join(dir, name) });
        } catch (err) {
          if (
            (err as NodeJS.ErrnoException).code === "ENOTDIR" ||
            (err as NodeJS.ErrnoException).code === "ENOENT"
          )
            continue;
          this.options.log?.("warn", `skipping backbone ${file}: ${(err as Error).message}`);
        }
      }
      return map;
    })();
    return this.entries;
  }

  private async open(id: string): Promise<LoadedBackbone> {
    const r = await this.resolve(id);
    const session =
      "artifacts" in r
        ? await openTfjsSession(r.artifacts, r.format, r.spec)
        : await openOnnxSession(r.file, r.spec, this.options.runtime);
    return { manifest: r.manifest, hash: r.hash, session };
  }

  /** What a backbone's session runs: its ONNX file (compiled and/or quantized first when needed) or TF.js artifacts. */
  private async resolve(id: string): Promise<Resolved> {
    const entries = await this.scan();
    const entry = entries.get(id);
    if (!entry) await this.manifest(id);
    const { manifest: m, dir } = entry!;
    const spec = {
      layout: m.preprocessing.layout,
      inputSize: m.preprocessing.inputSize,
      inputName: m.inputName,
      outputName: m.featureOutput,
      featureDim: m.featureDim,
    };
    if (m.quantize && !runsOnOnnx(m)) {
      throw new Error(`backbone ${m.id}: quantize needs an onnx or compiled tfjs-layers model`);
    }
    if (m.format === "onnx") {
      if (m.pooledLayers?.length) throw new Error(`backbone ${m.id}: pooledLayers needs a tfjs-layers model`);
      const file = await this.localFile(m.model, dir, ".onnx");
      const hash = sha256(await readFile(file), m.featureOutput);
      return this.onnxRun(m, file, hash, spec);
    }
    const { artifacts, hash } = await this.artifactsOf(m, dir);
    if (m.format === "tfjs-graph" || m.compileToOnnx === false) {
      if (m.pooledLayers?.length)
        throw new Error(`backbone ${m.id}: pooledLayers needs a tfjs-layers model compiled to ONNX`);
      return { manifest: m, hash, artifacts, format: m.format, spec };
    }
    const onnxFile = await this.compiled(m, artifacts, hash);
    return this.onnxRun(m, onnxFile, hash, { ...spec, inputName: "input", outputName: "features" });
  }

  /** A TF.js backbone's artifacts (built in, a file beside its manifest, or a URL) and their hash. */
  private async artifactsOf(
    m: BackboneManifest,
    dir: string | undefined,
  ): Promise<{ artifacts: tf.io.ModelArtifacts; hash: string }> {
    const artifacts = m.model.startsWith("nsfwjs:")
      ? nsfwjsArtifacts(m.model.slice("nsfwjs:".length) as NsfwjsModelName)
      : await loadTfjsArtifacts(isUrl(m.model) ? m.model : path.resolve(dir ?? ".", m.model));
    const weights = new Uint8Array(artifacts.weightData as ArrayBuffer);
    const pooled = m.pooledLayers?.length ? `+pool:${m.pooledLayers.join(",")}` : "";
    const hash = sha256(JSON.stringify(artifacts.modelTopology), weights, m.featureOutput + pooled, m.format);
    return { artifacts, hash };
  }

  private async onnxRun(
    m: BackboneManifest,
    file: string,
    hash: string,
    spec: OnnxInputSpec,
  ): Promise<Resolved> {
    if (m.quantize === "int8") {
      const bits = this.options.int8WeightBits ?? int8WeightBits();
      hash = sha256(hash, QUANTIZER_VERSION, `w${bits}`);
      file = await this.quantized(m, file, hash, spec.inputName, bits);
    }
    return { manifest: m, hash, file, spec };
  }

  private quantized(
    m: BackboneManifest,
    floatFile: string,
    hash: string,
    inputName: string | undefined,
    bits: 7 | 8,
  ): Promise<string> {
    const options = { inputName, weightMax: 2 ** (bits - 1) - 1 };
    return this.cachedModel(
      `${m.id}-${hash.slice(0, 16)}-int8.onnx`,
      `quantized backbone ${m.id} to int8 (${bits}-bit weights)`,
      async () => quantizeBackbone(new Uint8Array(await readFile(floatFile)), m.preprocessing, options),
    );
  }

  private compiled(m: BackboneManifest, artifacts: tf.io.ModelArtifacts, hash: string): Promise<string> {
    const name = `${m.id}-${sha256(hash, COMPILER_VERSION).slice(0, 16)}.onnx`;
    return this.cachedModel(name, `compiled backbone ${m.id} to ONNX`, async () => {
      await initTfjs();
      const model = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
      try {
        const compiled = compileKerasToOnnx(model, {
          outputLayer: m.featureOutput,
          pooledLayers: m.pooledLayers,
        });
        if (compiled.featureDim !== m.featureDim) {
          throw new Error(
            `backbone ${m.id}: compiled features have ${compiled.featureDim} values, manifest says ${m.featureDim}`,
          );
        }
        return compiled.onnx;
      } finally {
        model.dispose();
      }
    });
  }

  /** `cacheDir/backbones/<name>`, built once by `build`, written atomically, with one log line. */
  private async cachedModel(name: string, what: string, build: () => Promise<Uint8Array>): Promise<string> {
    const file = path.join(this.options.cacheDir, "backbones", name);
    if (await exists(file)) return file;
    const started = Date.now();
    await writeFileAtomic(file, await build());
    this.options.log?.("info", `${what} in ${Date.now() - started} ms: ${file}`);
    return file;
  }

  private async localFile(model: string, dir: string | undefined, ext: string): Promise<string> {
    if (!isUrl(model)) return path.resolve(dir ?? ".", model);
    const file = path.join(this.options.cacheDir, "downloads", `${sha256(model).slice(0, 16)}${ext}`);
    if (await exists(file)) return file;
    const res = await fetch(model);
    if (!res.ok) throw new Error(`GET ${model}: HTTP ${res.status}`);
    await writeFileAtomic(file, new Uint8Array(await res.arrayBuffer()));
    return file;
  }
}

function runsOnOnnx(m: BackboneManifest): boolean {
  return m.format === "onnx" || (m.format === "tfjs-layers" && m.compileToOnnx !== false);
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}
