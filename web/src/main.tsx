import { render } from "preact";
import { AppShell } from "./components/app-shell";
import { useRoute } from "./lib/router";
import { DatasetPage } from "./pages/datasets/dataset-page";
import { DatasetsPage } from "./pages/datasets/datasets-page";
import { JobPage } from "./pages/jobs/job-page";
import { JobsPage } from "./pages/jobs/jobs-page";
import { NewJobPage } from "./pages/jobs/new-job-page";
import { ModelPage } from "./pages/models/model-page";
import { ModelsPage } from "./pages/models/models-page";
import "./styles.css";

/** Picks the page of the current hash route (`#/datasets`, `#/jobs/<id>`, `#/models/<id>`...). */
function App() {
  const { segments, query } = useRoute();
  const [section = "datasets", id] = segments;
  let page = <DatasetsPage />;
  if (section === "datasets" && id) page = <DatasetPage key={id} id={id} />;
  else if (section === "jobs" && id === "new") page = <NewJobPage datasetId={query.get("datasetId") ?? ""} />;
  else if (section === "jobs" && id) page = <JobPage key={id} id={id} />;
  else if (section === "jobs") page = <JobsPage />;
  else if (section === "models" && id) page = <ModelPage key={id} id={id} />;
  else if (section === "models") page = <ModelsPage />;
  return <AppShell section={section}>{page}</AppShell>;
}

const root = document.getElementById("app");
if (root) render(<App />, root);
