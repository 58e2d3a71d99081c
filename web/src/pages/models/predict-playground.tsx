import { useEffect, useState } from "preact/hooks";
import { authFetch, errorOf } from "../../api/client";
import type { PredictOne } from "../../api/types";
import { DropZone } from "../../components/drop-zone";
import { ErrorNotice } from "../../components/notice";
import { percent } from "../../lib/format";

const TYPES = new Set(["image/jpeg", "image/png", "image/webp", "image/gif", "image/tiff"]);

/** POST /v1/models/:id/predict with the file as the raw body. */
async function predict(modelId: string, file: File, topK: number): Promise<PredictOne> {
  const res = await authFetch(`/v1/models/${modelId}/predict?topK=${topK}`, {
    method: "POST",
    headers: { "content-type": TYPES.has(file.type) ? file.type : "application/octet-stream" },
    body: file,
  });
  if (!res.ok) throw await errorOf(res);
  return (await res.json()) as PredictOne;
}

/** The predict playground: drop or pick an image, see the top-k calibrated probabilities and `unknown`. */
export function PredictPlayground({ modelId, classes }: { modelId: string; classes: number }) {
  const [file, setFile] = useState<File | undefined>(undefined);
  const [preview, setPreview] = useState<string | undefined>(undefined);
  const [result, setResult] = useState<PredictOne | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const topK = Math.min(5, classes);

  useEffect(() => {
    if (!file) return;
    const url = URL.createObjectURL(file);
    setPreview(url);
    return () => URL.revokeObjectURL(url);
  }, [file]);

  const run = async (f: File) => {
    setFile(f);
    setResult(undefined);
    setError(undefined);
    setBusy(true);
    try {
      setResult(await predict(modelId, f, topK));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="card" aria-labelledby="predict-title">
      <h2 id="predict-title">Predict</h2>
      <DropZone
        id="predict-file"
        label="Choose an image"
        hint="Drop a JPEG, PNG, WebP, GIF or TIFF image here, or"
        accept="image/*"
        disabled={busy}
        onFile={run}
      />
      <div
        class="predict-result"
        aria-live="polite"
        data-testid="predict-result"
        data-state={busy ? "busy" : result ? "done" : "idle"}
      >
        {preview && <img class="preview" src={preview} alt={`To classify: ${file?.name ?? ""}`} />}
        {busy && <p aria-busy="true">Classifying {file?.name}…</p>}
        <ErrorNotice error={error} prefix="Prediction failed" />
        {result && (
          <div>
            <p>
              {result.unknown ? (
                <strong class="badge state-failed" data-testid="unknown">
                  unknown: looks like none of the classes
                </strong>
              ) : (
                <strong>
                  {result.predictions[0]?.label} ({percent(result.predictions[0]?.probability)})
                </strong>
              )}
            </p>
            <ol class="bars" aria-label="Top classes">
              {result.predictions.map((p) => (
                <li key={p.label}>
                  <span class="bar-label">{p.label}</span>
                  <span class="bar-track" aria-hidden="true">
                    <span class="bar-fill" style={{ width: `${(p.probability * 100).toFixed(1)}%` }} />
                  </span>
                  <span class="bar-value">{percent(p.probability)}</span>
                </li>
              ))}
            </ol>
          </div>
        )}
      </div>
    </section>
  );
}
