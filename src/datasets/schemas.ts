import Type, { type Static } from "typebox";

const SplitSummary = Type.Object({
  images: Type.Integer(),
  perClass: Type.Record(Type.String(), Type.Integer()),
});

/** A dataset as the API shows it. */
export const DatasetSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    createdAt: Type.String({ format: "date-time" }),
    classes: Type.Array(Type.String()),
    splits: Type.Object({
      train: SplitSummary,
      val: Type.Optional(SplitSummary),
      test: Type.Optional(SplitSummary),
    }),
    rejected: Type.Array(Type.Object({ path: Type.String(), reason: Type.String() })),
    ignored: Type.Integer({
      description: "Archive entries that are not images of the layout (junk, stray files)",
    }),
  },
  { title: "Dataset" },
);
export type Dataset = Static<typeof DatasetSchema>;

/** One image of a dataset: path relative to the dataset's files folder, and its class. */
export interface DatasetItem {
  path: string;
  label: string;
}

/** The items of each split, kept beside the dataset record. */
export interface DatasetItems {
  train: DatasetItem[];
  val?: DatasetItem[];
  test?: DatasetItem[];
}
