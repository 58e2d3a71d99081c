import { useState } from "preact/hooks";
import { authFetch, errorOf } from "../../api/client";
import { ErrorNotice } from "../../components/notice";

/** GET /v1/models/:id/export?format=onnx with the key, handed to the browser as a file download. */
async function downloadOnnx(modelId: string): Promise<number> {
  const res = await authFetch(`/v1/models/${modelId}/export?format=onnx`);
  if (!res.ok) throw await errorOf(res);
  const blob = await res.blob();
  const url = URL.createObjectURL(blob);
  try {
    const a = document.createElement("a");
    a.href = url;
    a.download = `${modelId}.onnx`;
    document.body.append(a);
    a.click();
    a.remove();
  } finally {
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }
  return blob.size;
}

/**
 * Export: one ONNX file (backbone, head and calibrated softmax) that plain ONNX Runtime runs, fetched with
 * the key (a plain link could not send it).
 */
export function ExportCard({ modelId }: { modelId: string }) {
  const [state, setState] = useState<"idle" | "busy" | "done">("idle");
  const [size, setSize] = useState(0);
  const [error, setError] = useState<unknown>(undefined);
  const run = async () => {
    setState("busy");
    setError(undefined);
    try {
      setSize(await downloadOnnx(modelId));
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
        One ONNX file with the backbone, the head and the calibrated softmax inside; its metadata holds the
        classes and the preprocessing. The unknown rule is not part of it.
      </p>
      <button type="button" onClick={run} disabled={state === "busy"} data-testid="export-onnx">
        {state === "busy" ? "Preparing…" : "Download ONNX"}
      </button>
      <p aria-live="polite" data-testid="export-state" data-state={state}>
        {state === "done" && `Downloaded ${modelId}.onnx (${(size / 1024 / 1024).toFixed(1)} MiB).`}
      </p>
      <ErrorNotice error={error} prefix="Export failed" />
    </section>
  );
}
