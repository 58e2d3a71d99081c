import { useEffect, useState } from "preact/hooks";
import { api } from "../../api/client";
import type { Dataset } from "../../api/types";
import { type UploadProgress, uploadDataset } from "../../api/upload";
import { DropZone } from "../../components/drop-zone";
import { ErrorNotice, StateBadge } from "../../components/notice";
import { ProgressBar } from "../../components/progress-bar";
import { bytes } from "../../lib/format";
import { href } from "../../lib/router";

type Upload =
  | { phase: "idle" }
  | { phase: "uploading"; file: File; progress: UploadProgress }
  | { phase: "ingesting" | "ready" | "failed"; file: File; dataset: Dataset }
  | { phase: "error"; file: File; error: unknown };

/**
 * Upload of a dataset archive by drag and drop or file picker: the upload's bytes, then the ingestion's
 * progress (polled), then a link to the dataset. `onChange` tells the list to reload.
 */
export function UploadPanel({ onChange }: { onChange: () => void }) {
  const [name, setName] = useState("");
  const [upload, setUpload] = useState<Upload>({ phase: "idle" });

  const start = async (file: File) => {
    setUpload({ phase: "uploading", file, progress: { loaded: 0, total: file.size } });
    try {
      const dataset = await uploadDataset(file, name.trim(), (progress) =>
        setUpload({ phase: "uploading", file, progress }),
      );
      setUpload({ phase: "ingesting", file, dataset });
      onChange();
    } catch (error) {
      setUpload({ phase: "error", file, error });
    }
  };

  const ingestingId = upload.phase === "ingesting" ? upload.dataset.id : undefined;
  useEffect(() => {
    if (!ingestingId || upload.phase !== "ingesting") return;
    const { file } = upload;
    let stop = false;
    let timer: number | undefined;
    const poll = async () => {
      try {
        const dataset = await api<Dataset>(`/v1/datasets/${ingestingId}`);
        if (stop) return;
        setUpload({ phase: dataset.state, file, dataset });
        if (dataset.state === "ingesting") timer = window.setTimeout(poll, 500);
        else onChange();
      } catch (error) {
        if (!stop) setUpload({ phase: "error", file, error });
      }
    };
    timer = window.setTimeout(poll, 300);
    return () => {
      stop = true;
      window.clearTimeout(timer);
    };
  }, [ingestingId]);

  const busy = upload.phase === "uploading" || upload.phase === "ingesting";
  return (
    <section class="card" aria-labelledby="upload-title">
      <h2 id="upload-title">Upload a dataset</h2>
      <div class="field">
        <label for="dataset-name">Name (optional)</label>
        <input
          id="dataset-name"
          value={name}
          placeholder="the archive's file name"
          onInput={(e) => setName(e.currentTarget.value)}
        />
      </div>
      <DropZone
        id="dataset-file"
        label="Choose an archive"
        hint="Drop a .zip, .tar, .tar.gz or .tgz of train/<class>/*.jpg (optional val/ and test/) or <class>/*.jpg here, or"
        accept=".zip,.tar,.tgz,.gz,application/zip,application/x-tar,application/gzip"
        disabled={busy}
        onFile={start}
      />
      <UploadStatus upload={upload} />
    </section>
  );
}

function UploadStatus({ upload }: { upload: Upload }) {
  if (upload.phase === "idle") return null;
  const title = `${upload.file.name} (${bytes(upload.file.size)})`;
  return (
    <div class="upload-status" aria-live="polite" data-testid="upload-status" data-phase={upload.phase}>
      <p>
        <strong>{title}</strong>
        {"dataset" in upload && (
          <>
            {" "}
            <StateBadge state={upload.dataset.state} />
          </>
        )}
      </p>
      {upload.phase === "uploading" && (
        <>
          <p class="muted">Uploading… {bytes(upload.progress.loaded)}</p>
          <ProgressBar
            label="Upload"
            value={upload.progress.total ? (upload.progress.loaded / upload.progress.total) * 100 : undefined}
          />
        </>
      )}
      {upload.phase === "ingesting" && (
        <>
          <p class="muted">
            Ingesting: {upload.dataset.progress?.done ?? 0} images checked
            {upload.dataset.progress?.imagesPerSec
              ? `, ${upload.dataset.progress.imagesPerSec.toFixed(0)} images/s`
              : ""}
          </p>
          <ProgressBar label="Ingestion" value={upload.dataset.progress?.percent ?? 0} />
        </>
      )}
      {upload.phase === "ready" && (
        <p>
          Ready: {upload.dataset.classes.length} classes, {upload.dataset.splits.train.images} training
          images. <a href={href("datasets", upload.dataset.id)}>Open the dataset</a> or{" "}
          <a href={`${href("jobs", "new")}?datasetId=${encodeURIComponent(upload.dataset.id)}`}>
            train a model
          </a>
          .
        </p>
      )}
      {upload.phase === "failed" && (
        <ErrorNotice error={upload.dataset.error?.message} prefix="Ingestion failed" />
      )}
      {upload.phase === "error" && <ErrorNotice error={upload.error} prefix="Upload failed" />}
    </div>
  );
}
