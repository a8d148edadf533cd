"""Training: staged fine-tuning (:mod:`.staged`), the epoch loop (:mod:`.loop`), the monitor,
``fit`` (:mod:`.fit`: resumable, extendable, accumulating), checkpoints, the tracked-job runner
(:mod:`.job`) and one file-handling module per training stage (:mod:`.patch_stage`,
:mod:`.whole_stage`, :mod:`.transfer_stage`; rows that do not train: :mod:`.not_run`). What
each row or cell trains with is planned, torch-free, in :mod:`e2e_mammo.plan`. Import from the
submodules."""
