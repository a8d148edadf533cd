"""The paper's experiment matrix, torch-free: which rows and cells exist, which train and with
which settings. The workflow's parse reads it for every job (so it imports neither torch nor
scikit-learn), and the stage modules run what it plans.

* :mod:`.schedules`: training schedules as data (:class:`~.schedules.Stage`), epoch scaling;
* :mod:`.tops`: the new top layers of a Table 2/3 row described, and the paper's families;
* :mod:`.weights`: where torchvision's ImageNet weight files are looked up;
* :mod:`.patch_rows`: a Table 1 row's settings and whether it can run here;
* :mod:`.whole_rows`: a Table 2/3 row's settings, its section and whether the demo trains it;
* :mod:`.transfer_cells`: the INbreast sweep's cells (model x size x seed) and their settings;
* :mod:`.members`: the ensemble's members, read back from its summary;
* :mod:`.settings`: typed settings and their plain form (a rule's params, a job's identity);
* :mod:`.sizes`: the patch side scaled with the image height;
* :mod:`.matrix`: :class:`~.matrix.ExperimentPlan`, all of the above for one config.
"""
