"""MLflow 3 logged models, the model registry and dataset inputs, without copying weights.

* :func:`log_model_reference`: a trained model becomes an *external* logged model of its run:
  MLflow records where the weights are (the DVC-tracked ``model.pt``, its content hash and the
  ``dvc pull`` that restores it) in the model's tags and in a small ``dvc_reference.json``
  artifact, never the weights themselves; the run's final metrics are linked to it.
* :func:`register_model`: the CBIS-DDSM ensemble bundle is registered under
  ``tracking.registered_model`` with an alias naming its context (``synthetic-demo``,
  ``real-paper``, ...), so ``models:/<name>@<alias>`` finds the current model of each context.
* :func:`log_dataset_inputs`: the split tables a training run read become its dataset inputs
  (MLflow keeps their name, path, digest, schema and row count, never their rows).

With tracking off (unit tests) each call only records what it would log on the run.
"""

from __future__ import annotations

import json
import re
import tempfile
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path

from e2e_mammo.io import unescape_cell
from e2e_mammo.tracking import Run, model_tags, retrying, store_client

REFERENCE_FILE = "dvc_reference.json"
#: What MLflow forbids in a logged model's name (a run name such as ``table1/r50-s10``).
_FORBIDDEN = re.compile(r"[/:.%\"']")


def model_name(run_name: str) -> str:
    """A logged model's name for a run name: ``table1/r50-s10`` -> ``table1-r50-s10``."""
    return _FORBIDDEN.sub("-", run_name)


def dvc_reference(model: str | Path) -> dict[str, str]:
    """Where a model's weights live: :func:`~e2e_mammo.tracking.model_tags` and the command
    that restores exactly that file."""
    tags = model_tags(model)
    return {**tags, "restore": f"dvc pull {tags['dvc_out'] or tags['model_path']}"}


def _create_external(run: Run, name: str, reference: Mapping[str, str], model_type: str) -> str:
    import mlflow
    from mlflow.entities import LoggedModelOutput

    logged = retrying(
        mlflow.create_external_model,
        name=model_name(name),
        source_run_id=run.run_id,
        tags={k: str(v) for k, v in reference.items()},
        model_type=model_type,
        experiment_id=run.experiment_id,
    )
    client = store_client(run.config.uri)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / REFERENCE_FILE
        path.write_text(json.dumps(dict(reference), indent=2, sort_keys=True))
        retrying(client.log_model_artifact, logged.model_id, str(path))
    retrying(client.log_outputs, run.run_id, [LoggedModelOutput(logged.model_id, 0)])
    return logged.model_id


def log_model_reference(
    run: Run,
    model: str | Path,
    metrics: Mapping[str, float],
    *,
    name: str | None = None,
    model_type: str = "pytorch",
) -> str | None:
    """Record ``model`` as an external logged model of ``run`` (named after the run), the
    run's final ``metrics`` logged once and linked to it; return its model id (``None`` with
    tracking off)."""
    reference = dvc_reference(model)
    run.models.append(reference)
    if not run.config.enabled:
        run.log_metrics(metrics)
        return None
    model_id = _create_external(run, name or run.name, reference, model_type)
    run.log_metrics(metrics, model_id=model_id)
    return model_id


def register_model(run: Run, model_id: str | None, registered_name: str, alias: str) -> str | None:
    """Register logged model ``model_id`` as a new version of ``registered_name`` and point
    ``alias`` at it; return the version (``None`` with tracking off)."""
    run.registered.append((registered_name, alias))
    if not run.config.enabled or model_id is None:
        return None
    client = store_client(run.config.uri)
    if retrying(client.search_registered_models, f"name = '{registered_name}'") == []:
        try:
            retrying(client.create_registered_model, registered_name)
        except Exception as exc:  # a concurrent job created it first
            if "already exists" not in str(exc).lower():
                raise
    version = retrying(
        client.create_model_version,
        registered_name,
        source=f"models:/{model_id}",
        run_id=run.run_id,
        model_id=model_id,
        tags={k: v for k, v in run.tags.items() if k.startswith("e2e.")},
    )
    retrying(client.set_registered_model_alias, registered_name, alias, version.version)
    return str(version.version)


def log_dataset_inputs(run: Run, tables: Iterable[tuple[str, str | Path]]) -> None:
    """Log each ``(context, csv)`` split table as a dataset input of ``run``, named
    ``<folder>/<file stem>`` (e.g. ``cbis-ddsm/splits``)."""
    tables = [(context, Path(csv)) for context, csv in tables]
    run.datasets.extend((context, str(csv)) for context, csv in tables)
    if not run.config.enabled:
        return
    import mlflow
    import pandas as pd
    from mlflow.data.sources import LocalArtifactDatasetSource

    for context, csv in tables:
        source = LocalArtifactDatasetSource(csv.resolve().as_uri())
        name = f"{csv.parent.name}/{csv.stem}"
        with warnings.catch_warnings():  # MLflow's hints on inferring a model's input schema
            warnings.simplefilter("ignore")
            frame = pd.read_csv(csv).map(unescape_cell)  # split tables are spreadsheet-safe
            dataset = mlflow.data.from_pandas(frame, source=source, name=name)
        retrying(mlflow.log_input, dataset, context=context)
