"""Downloads the training and validation patches into ./data and ./val_data.

    python load_data.py --sevenzip=true --data_id=<drive id> --val_id=<drive id>
    python load_data.py --data_url=https://example.org/data.7z --val_url=... \\
        --data_sha256=<hex> --val_sha256=<hex>

Archives are cached in --cache_dir (a verified one is not fetched again), unpacked
safely into a temporary folder and validated patch by patch; only when both archives
are good are their patches (the *.pickle files; other members are skipped) moved into
place, so a failed run leaves existing data as it was.
"""

from __future__ import annotations

import argparse
import re
import sys

from koocr.cli import add_bool_argument
from koocr.download import (
    ArchiveError,
    DiskFullError,
    DownloadError,
    TargetError,
    download_datasets,
    format_summary,
)
from koocr.patches import PatchError


def _sha256(text: str) -> str:
    if not re.fullmatch(r"[0-9a-fA-F]{64}", text):
        raise argparse.ArgumentTypeError(f"expected 64 hex digits. Received: {text!r}")
    return text.lower()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_bool_argument(parser, "sevenzip", True, "download .7z archives (else .zip)")
    for name, default_path in (("data", "./data"), ("val", "./val_data")):
        parser.add_argument(f"--{name}_id", default=None, help=f"Google Drive file id of {name}")
        parser.add_argument(f"--{name}_url", default=None, help=f"any URL of the {name} archive")
        parser.add_argument(
            f"--{name}_sha256", type=_sha256, default=None, help="expected SHA-256 (64 hex digits)"
        )
        parser.add_argument(
            f"--{name}_path", default=default_path, help=f"patch folder (default: {default_path})"
        )
    parser.add_argument(
        "--cache_dir", default="./downloads", help="archive cache (default: ./downloads)"
    )
    add_bool_argument(parser, "force_download", False, "download even if a verified copy exists")
    add_bool_argument(parser, "quiet", False, "no progress output")
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="network timeout in seconds (default: 60)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    datasets = []
    for name in ("data", "val"):
        file_id, url = getattr(args, f"{name}_id"), getattr(args, f"{name}_url")
        if (file_id is None) == (url is None):
            parser.error(
                f"give exactly one of --{name}_id (a Google Drive file id) or --{name}_url "
                f"(any download URL) for the {name} archive. Received: "
                f"--{name}_id={file_id}, --{name}_url={url}"
            )
        datasets.append(
            {
                "target": getattr(args, f"{name}_path"),
                "url": url,
                "file_id": file_id,
                "sha256": getattr(args, f"{name}_sha256"),
            }
        )
    try:
        # Both archives are fetched and validated before either folder is replaced.
        summaries = download_datasets(
            datasets,
            sevenzip=args.sevenzip,
            cache_dir=args.cache_dir,
            force=args.force_download,
            quiet=args.quiet,
            timeout=args.timeout,
        )
    except (DownloadError, ArchiveError, PatchError, DiskFullError, TargetError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for summary in summaries:
        print(format_summary(summary))
    return 0


if __name__ == "__main__":
    from koocr.cli import run

    sys.exit(run(main))
