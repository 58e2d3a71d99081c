import type { ComponentChildren } from "preact";
import type { DatasetReport } from "../../api/types";
import { AuthImage } from "../../components/auth-image";
import { num } from "../../lib/format";

const SHOWN = 24;

/** The image of a dataset path, as a captioned thumbnail. */
function Thumb({ datasetId, path, caption }: { datasetId: string; path: string; caption?: string }) {
  const url = `/v1/datasets/${encodeURIComponent(datasetId)}/images/${path.split("/").map(encodeURIComponent).join("/")}`;
  return (
    <figure class="thumb-figure">
      <AuthImage src={url} alt={path} />
      <figcaption>
        {path}
        {caption ? ` (${caption})` : ""}
      </figcaption>
    </figure>
  );
}

/** One finding of the report: a heading with its count and, when there are some, its groups of images. */
function Finding({
  title,
  count,
  children,
  description,
}: {
  title: string;
  count: number;
  description: string;
  children: ComponentChildren;
}) {
  return (
    <section class="finding" aria-label={title}>
      <h3>
        {title} <span class={`count${count > 0 ? " warn" : ""}`}>{count}</span>
      </h3>
      <p class="muted">{description}</p>
      {count > 0 && children}
      {count > SHOWN && (
        <p class="muted">
          The first {SHOWN} of {count} are shown.
        </p>
      )}
    </section>
  );
}

/**
 * The dataset report: exact and near duplicates, leaks of training images into val/test, conflicts (one
 * image under two labels), class imbalance and rejected files, each group with its thumbnails.
 */
export function ReportView({ datasetId, report }: { datasetId: string; report: DatasetReport }) {
  return (
    <div class="report" data-testid="dataset-report">
      <Finding
        title="Leaks"
        count={report.leaks.length}
        description="val/test images that also stand in train: they inflate the held-out score."
      >
        <ul class="groups">
          {report.leaks.slice(0, SHOWN).map((l) => (
            <li key={l.other} class="group">
              <Thumb datasetId={datasetId} path={l.train} />
              <Thumb datasetId={datasetId} path={l.other} caption={l.kind} />
            </li>
          ))}
        </ul>
      </Finding>
      <Finding
        title="Conflicts"
        count={report.conflicts.length}
        description="The same image under more than one label."
      >
        <ul class="groups">
          {report.conflicts.slice(0, SHOWN).map((c) => (
            <li key={c.paths.join("|")} class="group">
              {c.paths.map((p, i) => (
                <Thumb key={p} datasetId={datasetId} path={p} caption={c.labels[i]} />
              ))}
            </li>
          ))}
        </ul>
      </Finding>
      <Finding
        title="Exact duplicates"
        count={report.exactDuplicates.length}
        description="Groups of images with the same pixels, whatever their encoding."
      >
        <ul class="groups">
          {report.exactDuplicates.slice(0, SHOWN).map((g) => (
            <li key={g.paths.join("|")} class="group">
              {g.paths.map((p) => (
                <Thumb key={p} datasetId={datasetId} path={p} />
              ))}
            </li>
          ))}
        </ul>
      </Finding>
      <Finding
        title="Near duplicates"
        count={report.nearDuplicates.length}
        description="The same picture re-encoded, resized or lightly cropped (distance: RMS of 16x16 thumbnails)."
      >
        <ul class="groups">
          {report.nearDuplicates.slice(0, SHOWN).map((g) => (
            <li key={g.paths.join("|")} class="group">
              {g.paths.map((p) => (
                <Thumb key={p} datasetId={datasetId} path={p} caption={`distance ${num(g.distance, 1)}`} />
              ))}
            </li>
          ))}
        </ul>
      </Finding>
      <section class="finding" aria-label="Imbalance">
        <h3>Imbalance</h3>
        <p>
          Largest class <strong>{report.imbalance.largest}</strong>, smallest{" "}
          <strong>{report.imbalance.smallest}</strong>: ratio {num(report.imbalance.ratio, 2)}
          {report.imbalance.ratio >= 3 ? " (consider classWeights: balanced)" : ""}.
        </p>
        {report.classNameCollisions.length > 0 && (
          <p class="notice warn">
            Class names that differ only in case:{" "}
            {report.classNameCollisions.map((c) => c.join(" / ")).join("; ")}
          </p>
        )}
      </section>
      <Finding
        title="Rejected files"
        count={report.rejected.length}
        description="Files that did not decode as images."
      >
        <ul>
          {report.rejected.slice(0, SHOWN).map((r) => (
            <li key={r.path}>
              <code>{r.path}</code>: {r.reason}
            </li>
          ))}
        </ul>
      </Finding>
    </div>
  );
}
