"""Package names imported on first use; the workflow's parse stays free of torch."""

import subprocess
import sys

import pytest

import e2e_mammo.training as training


def test_exported_name_loads_from_its_submodule_on_first_use():
    from e2e_mammo.training.staged import Stage

    assert training.Stage is Stage and "Stage" in dir(training)


def test_unknown_name_raises_attribute_error():
    with pytest.raises(AttributeError, match="nope"):
        training.nope  # noqa: B018


def test_modules_the_workflow_parses_with_import_no_torch_or_sklearn():
    modules = [
        "e2e_mammo.training.patch_plan",
        "e2e_mammo.training.whole_plan",
        "e2e_mammo.training.transfer_plan",
        "e2e_mammo.models.pretrained",
        "e2e_mammo.evaluation.members",
        "e2e_mammo.output_times",
        "e2e_mammo.tracking",
    ]
    code = f"import sys; import {', '.join(modules)}; "
    code += "print(sorted(m for m in ('torch', 'torchvision', 'sklearn') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
