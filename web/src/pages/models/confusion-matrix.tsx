/** A selected cell of the confusion matrix. */
export interface Cell {
  trueLabel: string;
  predicted: string;
}

/**
 * The confusion matrix as a heat map: rows are true classes, columns predictions; a cell's shade is its
 * share of its row. Each error cell is a button that opens its images; `aria-pressed` marks the open one.
 */
export function ConfusionMatrix({
  classes,
  matrix,
  selected,
  onSelect,
}: {
  classes: string[];
  matrix: number[][];
  selected: Cell | undefined;
  onSelect: (cell: Cell) => void;
}) {
  return (
    <div class="table-wrap">
      <p class="muted small" id="confusion-help">
        Rows: true class; columns: predicted. Shade: share of the row. Choose an error cell to see its images.
      </p>
      <table class="confusion" data-testid="confusion-matrix" aria-describedby="confusion-help">
        <caption>Confusion matrix</caption>
        <thead>
          <tr>
            <th scope="col">
              <span class="visually-hidden">True class</span>
            </th>
            {classes.map((c) => (
              <th key={c} scope="col">
                {c}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {classes.map((t, i) => {
            const row = matrix[i] ?? [];
            const total = row.reduce((a, b) => a + b, 0) || 1;
            return (
              <tr key={t}>
                <th scope="row">{t}</th>
                {classes.map((p, j) => {
                  const count = row[j] ?? 0;
                  const share = count / total;
                  const shade = `cell-${Math.min(10, Math.round(share * 10))}${i === j ? " diagonal" : " error"}`;
                  const label = `true ${t}, predicted ${p}: ${count} image${count === 1 ? "" : "s"}`;
                  const isSelected = selected?.trueLabel === t && selected.predicted === p;
                  return (
                    <td key={p} class={shade}>
                      {i !== j && count > 0 ? (
                        <button
                          type="button"
                          aria-label={label}
                          aria-pressed={isSelected}
                          data-true={t}
                          data-predicted={p}
                          onClick={() => onSelect({ trueLabel: t, predicted: p })}
                        >
                          {count}
                        </button>
                      ) : (
                        <span title={label}>
                          <span aria-hidden="true">{count}</span>
                          <span class="visually-hidden">{label}</span>
                        </span>
                      )}
                    </td>
                  );
                })}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
