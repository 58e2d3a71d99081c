import { photoVariants, zipOf } from "../../scripts/lib/photos.js";

/**
 * Photos of cats and coffee; the test split has coffee photos filed as cat and a cat photo filed as
 * coffee, so the confusion matrix has errors to click; one training photo is stored twice (a duplicate
 * for the report).
 */
export async function mislabelledZip(): Promise<Buffer> {
  const [cats, coffees] = await Promise.all([photoVariants("cat", 9, 71), photoVariants("coffee", 9, 72)]);
  const entries: Record<string, Buffer> = {};
  cats.slice(0, 6).forEach((data, i) => {
    entries[`train/cat/c${i}.jpg`] = data;
  });
  coffees.slice(0, 6).forEach((data, i) => {
    entries[`train/coffee/k${i}.jpg`] = data;
  });
  entries["train/cat/c0-copy.jpg"] = cats[0];
  entries["test/cat/c6.jpg"] = cats[6];
  entries["test/cat/wrong-k7.jpg"] = coffees[7];
  entries["test/cat/wrong-k8.jpg"] = coffees[8];
  entries["test/coffee/k6.jpg"] = coffees[6];
  entries["test/coffee/wrong-c7.jpg"] = cats[7];
  return zipOf(entries);
}
