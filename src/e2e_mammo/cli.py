"""``e2e-mammo <verb>``: the pipeline's stages for people (the same functions Snakemake runs).

Verbs: ``synth`` (built-in synthetic datasets), ``index`` (real or synthetic downloads ->
images.csv/rois.csv/exclusions.csv), ``convert`` (DICOM -> 16-bit PNG), ``split`` (patient-level
splits), ``predict`` (score mammograms with a model bundle), ``export`` (a bundle as ONNX or
TorchScript).

Exit status (every verb): 0 done (``predict``: every input scored, or ignored as no image);
1 ``predict`` scored what it could but some inputs failed (listed in ``failures.csv``);
2 bad usage, bad input tables or an unusable model (``error: <file>[, row N]: <problem>``);
3 a crash (an internal error: the traceback is printed; please report it); 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from pathlib import Path

from e2e_mammo.errors import ConfigError, DatasetError
from e2e_mammo.preprocess.splits import MODES, OFFICIAL_SETS

DATASETS = ("cbis-ddsm", "inbreast")
#: Exit statuses (see the module docstring).
EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_CRASH, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def _size(text: str) -> tuple[int, int]:
    try:
        rows, cols = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected HEIGHTxWIDTH such as 1152x896, got {text!r}"
        ) from exc
    return rows, cols


def cmd_synth(args: argparse.Namespace) -> None:
    from e2e_mammo.datasets.cbis_ddsm.synthetic import synth_cbis_ddsm
    from e2e_mammo.datasets.inbreast.synthetic import synth_inbreast

    # options left out keep the generator's own defaults
    options = {"n_patients": args.patients, "image_size": args.size, "seed": args.seed}
    options = {k: v for k, v in options.items() if v is not None}
    if args.dataset == "cbis-ddsm":
        synth_cbis_ddsm(Path(args.out), layout=args.layout, **options)
    else:
        synth_inbreast(Path(args.out), **options)
    print(f"wrote synthetic {args.dataset} dataset to {args.out}")


def cmd_index(args: argparse.Namespace) -> None:
    if args.dataset == "cbis-ddsm":
        from e2e_mammo.datasets.cbis_ddsm.index import index_cbis_ddsm

        csv_dir = Path(args.csv_dir) if args.csv_dir else None
        result = index_cbis_ddsm(
            Path(args.root),
            Path(args.out),
            csv_dir=csv_dir,
            strict=args.strict,
            official_overlap=args.official_overlap,
        )
    else:
        from e2e_mammo.datasets.inbreast.index import index_inbreast

        result = index_inbreast(Path(args.root), Path(args.out), strict=args.strict)
    print(
        f"indexed {len(result.images)} images"
        + (f", {len(result.rois)} ROIs" if result.rois is not None else "")
        + f"; {len(result.exclusions)} exclusions -> {args.out}"
    )


def cmd_convert(args: argparse.Namespace) -> None:
    from e2e_mammo.preprocess.convert.stage import convert_dataset

    result = convert_dataset(
        Path(args.images),
        Path(args.out),
        size=args.size,
        threads=args.threads,
        rois_csv=Path(args.rois) if args.rois else None,
        intensity=args.intensity,
        strict=args.strict,
    )
    print(
        f"converted {len(result.manifest)} images, {len(result.masks)} masks; "
        f"{len(result.exclusions)} exclusions -> {args.out}"
    )


def cmd_split(args: argparse.Namespace) -> None:
    from e2e_mammo.preprocess.split_stage import run_split

    result = run_split(
        Path(args.images),
        Path(args.out),
        mode=args.mode,
        seed=args.seed,
        test_frac=args.test_frac,
        val_frac=args.val_frac,
        official_overlap=args.official_overlap,
    )
    print(result.summary.to_string(index=False))


def cmd_predict(args: argparse.Namespace) -> int:
    from e2e_mammo.predict.run import DEFAULT_BUNDLE, PredictOptions, predict

    if Path(args.model) == DEFAULT_BUNDLE and not DEFAULT_BUNDLE.is_file():
        raise ConfigError(
            f"no model: the default bundle {DEFAULT_BUNDLE} is made by `make run` (run it in "
            "this folder first), or pass --model BUNDLE"
        )

    options = PredictOptions(
        device=args.device,
        tta=not args.no_tta,
        batch_size=args.batch_size,
        min_scale=args.min_scale,
        max_pixels=args.max_pixels,
        allow_for_processing=args.allow_for_processing,
        allow_other_modalities=args.allow_other_modalities,
        hash_names=args.hash_names,
        retry_crashed=args.retry_crashed,
        progress=not args.quiet,
    )
    summary = predict(args.inputs, Path(args.out), Path(args.model), options)
    print(
        f"scored {summary['scored']} of {summary['inputs']} images"
        + (f" ({summary['resumed']} from an earlier run)" if summary["resumed"] else "")
        + f", {summary['failed']} failed"
        + (f", {summary['ignored']} ignored (no image)" if summary["ignored"] else "")
        + f" -> {args.out} ({summary['seconds']:.1f} s)"
    )
    return EXIT_SOME_FAILED if summary["failed"] else EXIT_OK


def cmd_export(args: argparse.Namespace) -> None:
    from e2e_mammo.predict.export import export_bundle

    out = export_bundle(args.bundle, args.format, args.out, tta=not args.no_tta)
    print(f"exported {args.bundle} as {args.format} -> {out}")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _share(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a share in (0, 1], got {text}")
    return value


def _add_predict(sub) -> None:
    from e2e_mammo.predict.names import NAME_KEY_ENV
    from e2e_mammo.predict.run import DEFAULT_BUNDLE
    from e2e_mammo.preprocess.dicom import MAX_PIXELS

    p = sub.add_parser(
        "predict",
        help="score mammograms (DICOM or PNG files, or folders of them) with a model bundle",
    )
    p.add_argument("inputs", nargs="+", help="DICOM/PNG files or folders (searched recursively)")
    p.add_argument("--out", required=True, help="output folder (created; a rerun resumes)")
    p.add_argument(
        "--model",
        default=str(DEFAULT_BUNDLE),
        help=f"model or ensemble bundle (default {DEFAULT_BUNDLE}, left by `make run`)",
    )
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    p.add_argument("--batch-size", type=_positive, default=1, help="images per forward pass")
    p.add_argument("--no-tta", action="store_true", help="no flip test-time augmentation")
    p.add_argument(
        "--min-scale",
        type=_share,
        default=0.5,
        help="refuse images with a side under this share of the model's input side",
    )
    p.add_argument(
        "--max-pixels",
        type=_positive,
        default=MAX_PIXELS,
        help=f"refuse, from its header, an image with more pixels (default {MAX_PIXELS:,})",
    )
    p.add_argument(
        "--allow-for-processing",
        action="store_true",
        help="score FOR PROCESSING (raw detector) DICOM images too (refused by default)",
    )
    p.add_argument(
        "--allow-other-modalities",
        action="store_true",
        help="score DICOM images whose Modality is not MG (refused by default)",
    )
    p.add_argument(
        "--hash-names",
        action="store_true",
        help=f"write every input name as a keyed hash (key in ${NAME_KEY_ENV}, never written)",
    )
    p.add_argument(
        "--retry-crashed",
        action="store_true",
        help="try again the inputs an earlier, killed run died on (skipped by default)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("export", help="write a bundle as ONNX or TorchScript")
    p.add_argument("bundle", help="a model or ensemble bundle (model.pt, bundle.pt)")
    p.add_argument("--format", choices=("onnx", "torchscript"), required=True)
    p.add_argument("--out", help="output file (default beside the bundle)")
    p.add_argument("--no-tta", action="store_true", help="export without flip TTA")
    p.set_defaults(func=cmd_export)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``e2e-mammo``."""
    parser = argparse.ArgumentParser(prog="e2e-mammo", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="verb", required=True)

    p = sub.add_parser("synth", help="write a built-in synthetic dataset in the real layout")
    p.add_argument("dataset", choices=DATASETS)
    p.add_argument("out", help="output folder (CBIS: download root; INbreast: release folder)")
    p.add_argument("--patients", type=int, help="number of patients (default 60 CBIS, 40 INbreast)")
    p.add_argument("--size", type=_size, help="approximate full-image size HEIGHTxWIDTH")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--layout",
        choices=("descriptive", "classic"),
        default="descriptive",
        help="CBIS-DDSM NBIA retriever layout (default descriptive)",
    )
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("index", help="index a CBIS-DDSM or INbreast download")
    p.add_argument("dataset", choices=DATASETS)
    p.add_argument("root", help="CBIS: folder holding CBIS-DDSM/; INbreast: the release folder")
    p.add_argument("--out", required=True, help="output folder (created if missing)")
    p.add_argument("--csv-dir", help="CBIS: folder of the four description CSVs (default ROOT)")
    p.add_argument(
        "--official-overlap",
        choices=OFFICIAL_SETS,
        default="test",
        help="CBIS: official set of a view listed in both (default test)",
    )
    p.add_argument("--strict", action="store_true", help="fail on the first bad row or file")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("convert", help="convert indexed DICOMs to 16-bit PNGs (+ 8-bit masks)")
    p.add_argument("images", help="images.csv written by `index`")
    p.add_argument("--out", required=True)
    p.add_argument("--rois", help="rois.csv written by `index` (CBIS-DDSM masks)")
    p.add_argument(
        "--size", type=_size, default=(1152, 896), help="HEIGHTxWIDTH (default 1152x896)"
    )
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--intensity", choices=("minmax", "stored"), default="minmax")
    p.add_argument("--strict", action="store_true")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("split", help="patient-level stratified splits")
    p.add_argument("images", help="manifest.csv of `convert` (or images.csv of `index`)")
    p.add_argument("--out", required=True)
    p.add_argument("--mode", choices=MODES, default="paper")
    p.add_argument("--seed", type=int, default=12345)
    p.add_argument("--test-frac", type=float, default=0.15)
    p.add_argument("--val-frac", type=float, default=0.10)
    p.add_argument("--official-overlap", choices=OFFICIAL_SETS, default="test")
    p.set_defaults(func=cmd_split)
    _add_predict(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``e2e-mammo`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        status = args.func(args)
    except (DatasetError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception:  # noqa: BLE001 - a crash gets its own status, with its traceback
        traceback.print_exc()
        print(f"error: e2e-mammo {args.verb} crashed (internal error)", file=sys.stderr)
        return EXIT_CRASH
    return int(status or EXIT_OK)


if __name__ == "__main__":
    sys.exit(main())
