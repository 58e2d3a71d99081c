import Type, { type Static } from "typebox";
import type { PackSpan } from "./pack.js";
import { DatasetReportSummarySchema } from "./report.js";

const SplitSummary = Type.Object({
  images: Type.Integer(),
  perClass: Type.Record(Type.String(), Type.Integer()),
});

/** Ingestion progress: archive files seen, images decoded, percent of the archive read. */
export const IngestProgressSchema = Type.Object(
  {
    files: Type.Integer({ description: "Archive entries seen so far" }),
    done: Type.Integer({ description: "Images decoded and checked so far" }),
    percent: Type.Number(),
    imagesPerSec: Type.Number(),
  },
  { title: "IngestProgress" },
);
export type IngestProgress = Static<typeof IngestProgressSchema>;

/** Rejected files shown in a dataset record; the report lists them all. */
export const MAX_LISTED_REJECTED = 100;

const RejectedFile = Type.Object({ path: Type.String(), reason: Type.String() });

const datasetFields = {
  id: Type.String(),
  name: Type.String(),
  tenant: Type.Optional(Type.String({ description: "The tenant that owns it" })),
  bytes: Type.Optional(
    Type.Integer({ description: "Size of the uploaded archive (counts toward the storage quota)" }),
  ),
  createdAt: Type.String({ format: "date-time" }),
  state: Type.Union([Type.Literal("ingesting"), Type.Literal("ready"), Type.Literal("failed")]),
  progress: Type.Optional(IngestProgressSchema),
  classes: Type.Array(Type.String(), { description: "Empty until ready" }),
  splits: Type.Object({
    train: SplitSummary,
    val: Type.Optional(SplitSummary),
    test: Type.Optional(SplitSummary),
  }),
  rejectedCount: Type.Integer({ description: "Files that are not usable images" }),
  ignored: Type.Integer({
    description: "Archive entries that are not images of the layout (junk, stray files)",
  }),
  summary: Type.Optional(DatasetReportSummarySchema),
  error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() })),
  readyAt: Type.Optional(Type.String({ format: "date-time" })),
};

/** A dataset as the API shows it. */
export const DatasetSchema = Type.Object(
  {
    ...datasetFields,
    rejected: Type.Array(RejectedFile, {
      description: `The first ${MAX_LISTED_REJECTED} rejected files; the report lists them all`,
    }),
  },
  { title: "Dataset" },
);
export type Dataset = Static<typeof DatasetSchema>;

/** A dataset in a list: counts only. */
export const DatasetListItemSchema = Type.Object(datasetFields, { title: "DatasetListItem" });
export type DatasetListItem = Static<typeof DatasetListItemSchema>;

/** One image of a dataset: path relative to the dataset's files folder, and its class. */
export interface DatasetItem {
  path: string;
  label: string;
  /** Where the image lies in the dataset's `images.pack`; absent for datasets stored as files. */
  at?: PackSpan;
}

/** The items of each split, kept beside the dataset record. */
export interface DatasetItems {
  train: DatasetItem[];
  val?: DatasetItem[];
  test?: DatasetItem[];
}
