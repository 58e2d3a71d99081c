import type { Epoch } from "../../api/types";
import { LineChart } from "../../components/line-chart";
import { num, percent } from "../../lib/format";

/**
 * Loss and accuracy per epoch, train and validation, as two charts and one table (the same numbers, for
 * screen readers and for reading exact values).
 */
export function Curves({ history, epochs }: { history: Epoch[]; epochs?: number }) {
  const hasVal = history.some((h) => h.valLoss !== undefined);
  return (
    <div class="curves" data-testid="curves" data-points={history.length}>
      <div class="charts">
        <LineChart
          title="Loss"
          xMax={epochs}
          yLabel="cross-entropy"
          series={[
            { name: "train", class: "series-a", values: history.map((h) => h.loss) },
            ...(hasVal
              ? [{ name: "validation", class: "series-b", values: history.map((h) => h.valLoss) }]
              : []),
          ]}
          format={(v) => num(v, 2)}
        />
        <LineChart
          title="Accuracy"
          xMax={epochs}
          yLabel="accuracy"
          yDomain={[0, 1]}
          series={[
            { name: "train", class: "series-a", values: history.map((h) => h.accuracy) },
            ...(hasVal
              ? [{ name: "validation", class: "series-b", values: history.map((h) => h.valAccuracy) }]
              : []),
          ]}
          format={(v) => percent(v, 0)}
        />
      </div>
      <details class="epoch-details">
        <summary>Epochs as a table ({history.length})</summary>
        <div class="table-wrap">
          <table data-testid="epoch-table">
            <caption class="visually-hidden">Loss and accuracy per epoch</caption>
            <thead>
              <tr>
                <th scope="col">Epoch</th>
                <th scope="col" class="num">
                  Loss
                </th>
                <th scope="col" class="num">
                  Accuracy
                </th>
                <th scope="col" class="num">
                  Val loss
                </th>
                <th scope="col" class="num">
                  Val accuracy
                </th>
                <th scope="col" class="num">
                  Seconds
                </th>
              </tr>
            </thead>
            <tbody>
              {history.map((h) => (
                <tr key={h.epoch}>
                  <th scope="row">{h.epoch}</th>
                  <td class="num">{num(h.loss, 4)}</td>
                  <td class="num">{percent(h.accuracy)}</td>
                  <td class="num">{num(h.valLoss, 4)}</td>
                  <td class="num">{percent(h.valAccuracy)}</td>
                  <td class="num">{num(h.seconds, 2)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </div>
  );
}
