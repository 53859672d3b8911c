"""Lambda's deployment-size limits, the artifact's verdict against each, and the packaging choice.

Lambda quotes the limits in MB but enforces binary megabytes: the API refuses an unzipped
package of 262,144,000 bytes or more (250 x 1024 x 1024).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from k2.packaging.artifact_sizes import MIB, mib
from k2.packaging.lambda_target import Glibc, glibc_text

ZIP_DIRECT_UPLOAD_LIMIT = 50 * MIB  # zipped, uploaded with the API call itself (S3 lifts it)
ZIP_UNZIPPED_LIMIT = 250 * MIB  # the function's files plus all its layers, extracted
CONTAINER_IMAGE_LIMIT = 10 * 1024 * MIB  # uncompressed, every layer including the base image

# A zip that already fills this much of the unzipped limit has no room for the API to grow.
ZIP_HEADROOM_FRACTION = 0.8


class Packaging(Enum):
    ZIP = "zip archive"
    CONTAINER_IMAGE = "container image"


@dataclass(frozen=True)
class Verdict:
    limit_name: str
    measured: int
    limit: int

    @property
    def fits(self) -> bool:
        return self.measured < self.limit

    @property
    def used(self) -> float:
        return self.measured / self.limit

    def __str__(self) -> str:
        state = "fits" if self.fits else "EXCEEDS"
        share = f"{self.used:.0%}"
        return f"{self.limit_name}: {mib(self.measured)} of {mib(self.limit)} ({share}), {state}"


def verdicts(unzipped: int, zipped: int) -> list[Verdict]:
    """The artifact against each limit; for the image, `unzipped` is what it adds to the base."""
    return [
        Verdict("zip, direct upload (zipped)", zipped, ZIP_DIRECT_UPLOAD_LIMIT),
        Verdict("zip, unzipped incl. layers", unzipped, ZIP_UNZIPPED_LIMIT),
        Verdict("container image (uncompressed)", unzipped, CONTAINER_IMAGE_LIMIT),
    ]


@dataclass(frozen=True)
class Choice:
    packaging: Packaging
    reasons: tuple[str, ...]


def choose_packaging(unzipped: int, required: Glibc | None, zip_runtime_glibc: Glibc) -> Choice:
    """A zip when it fits with room to grow on the managed runtime's OS, else a container image.

    A direct upload over 50 MiB is not a reason by itself: CDK uploads zips through S3.
    """
    reasons: list[str] = []
    if unzipped >= ZIP_UNZIPPED_LIMIT:
        reasons.append(
            f"unzipped {mib(unzipped)} exceeds the zip limit of {mib(ZIP_UNZIPPED_LIMIT)}"
        )
    elif unzipped >= ZIP_HEADROOM_FRACTION * ZIP_UNZIPPED_LIMIT:
        reasons.append(
            f"unzipped {mib(unzipped)} is {unzipped / ZIP_UNZIPPED_LIMIT:.0%} of the zip limit: "
            "no room to grow"
        )
    if required is not None and required > zip_runtime_glibc:
        reasons.append(
            f"the wheels need glibc {glibc_text(required)}, the zip runtime's OS has "
            f"{glibc_text(zip_runtime_glibc)}"
        )
    if reasons:
        return Choice(Packaging.CONTAINER_IMAGE, tuple(reasons))
    return Choice(
        Packaging.ZIP, (f"unzipped {mib(unzipped)} leaves room under {mib(ZIP_UNZIPPED_LIMIT)}",)
    )
