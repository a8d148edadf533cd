"""Networks: backbones cut by named block (:mod:`.backbones`), the input transform, the patch
classifier (:mod:`.patch_classifier`), the whole-image classifier with its new top layers
(:mod:`.whole_image`, :mod:`.top_layers`; their torch-free description is
:mod:`e2e_mammo.plan.tops`), the dense patch heatmap (:mod:`.heatmap`), loading local ImageNet
weights (:mod:`.pretrained`; finding the file is :mod:`e2e_mammo.plan.weights`), ``model.pt``
(:mod:`.saved`) and model bundles (:mod:`.bundle`). Import from the submodules."""
