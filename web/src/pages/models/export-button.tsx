import { useState } from "preact/hooks";
import { authFetch, errorOf } from "../../api/client";
import { ErrorNotice } from "../../components/notice";

type Format = "onnx" | "tfjs";
const FILE_NAMES: Record<Format, (id: string) => string> = {
  onnx: (id) => `${id}.onnx`,
  tfjs: (id) => `${id}-tfjs.tar.gz`,
};

/** GET /v1/models/:id/export?format= with the key, handed to the browser as a file download. */
async function download(modelId: string, format: Format): Promise<number> {
  const res = await authFetch(`/v1/models/${modelId}/export?format=${format}`);
  if (!res.ok) throw await errorOf(res);
  const blob = await res.blob();
  const url = URL.createObjectURL(blob);
  try {
    const a = document.createElement("a");
    a.href = url;
    a.download = FILE_NAMES[format](modelId);
    document.body.append(a);
    a.click();
    a.remove();
  } finally {
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }
  return blob.size;
}

/**
 * Export: one ONNX file (backbone, head and calibrated softmax) that plain ONNX Runtime runs, or the same
 * as a TF.js layers model; fetched with the key (a plain link could not send it).
 */
export function ExportCard({ modelId }: { modelId: string }) {
  const [state, setState] = useState<"idle" | "busy" | "done">("idle");
  const [saved, setSaved] = useState({ name: "", size: 0 });
  const [error, setError] = useState<unknown>(undefined);
  const run = async (format: Format) => {
    setState("busy");
    setError(undefined);
    try {
      setSaved({ name: FILE_NAMES[format](modelId), size: await download(modelId, format) });
      setState("done");
    } catch (err) {
      setError(err);
      setState("idle");
    }
  };
  return (
    <section class="card" aria-labelledby="export-title">
      <h2 id="export-title">Export</h2>
      <p>
        One ONNX file with the backbone, the head and the calibrated softmax inside, or the same as a TF.js
        layers model (a .tar.gz of model.json and weights.bin); their metadata holds the classes and the
        preprocessing. The unknown rule is not part of them.
      </p>
      <p class="actions">
        <button
          type="button"
          onClick={() => run("onnx")}
          disabled={state === "busy"}
          data-testid="export-onnx"
        >
          {state === "busy" ? "Preparing…" : "Download ONNX"}
        </button>{" "}
        <button
          type="button"
          class="secondary"
          onClick={() => run("tfjs")}
          disabled={state === "busy"}
          data-testid="export-tfjs"
        >
          Download TF.js
        </button>
      </p>
      <p aria-live="polite" data-testid="export-state" data-state={state}>
        {state === "done" && `Downloaded ${saved.name} (${(saved.size / 1024 / 1024).toFixed(1)} MiB).`}
      </p>
      <ErrorNotice error={error} prefix="Export failed" />
    </section>
  );
}
