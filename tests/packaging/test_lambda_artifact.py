"""The Lambda artifact (the query API and the custom resources): what goes in, what is stripped,
how it is judged, and (built for real, once per session) that it imports with nothing but itself
and the standard library."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path, PurePosixPath

import pytest

from k2.packaging.artifact_contents import plan_strip, strip_reason
from k2.packaging.artifact_sizes import (
    MIB,
    distribution_name,
    owners_from_records,
    sizes_by_package,
)
from k2.packaging.deterministic_zip import ZIP_EPOCH, write_zip
from k2.packaging.errors import PackagingError
from k2.packaging.lambda_artifact import (
    Artifact,
    build_artifact,
    copy_sources,
    last_lines,
    pip_install_command,
)
from k2.packaging.lambda_entry_points import (
    API,
    ENTRY_POINTS,
    FRESHNESS,
    KAFKA_TOPICS,
    LAKE_INIT,
)
from k2.packaging.lambda_limits import (
    ZIP_UNZIPPED_LIMIT,
    Packaging,
    choose_packaging,
    verdicts,
)
from k2.packaging.lambda_target import (
    AMAZON_LINUX_2_GLIBC,
    LambdaTarget,
    managed_runtime_glibc,
    pip_platforms,
    required_glibc,
    wheel_glibc,
    wheel_tags,
)
from k2.packaging.runtime_pins import (
    Pin,
    canonical_name,
    lock_violations,
    missing_requirements,
    parse_lock,
    requirement_name,
    resolved_pins,
    runtime_requirements,
)

# What only the local cloud, Spark and the tests use: none of it may reach the Lambda.
NOT_RUNTIME = (
    "pyspark",
    "py4j",
    "moto",
    "pytest",
    "hypothesis",
    "pandas",
    "avro",
    "psutil",
    "mypy",
    "ruff",
)


def _pip_report(*pins: tuple[str, str]) -> dict[str, object]:
    return {"version": "1", "install": [{"metadata": {"name": n, "version": v}} for n, v in pins]}


# --- what goes in ----------------------------------------------------------------------------


@pytest.mark.unit
def test_requirement_names_are_canonical_whatever_the_spelling() -> None:
    assert requirement_name("pyiceberg[glue,pyarrow]==0.12.0") == "pyiceberg"
    assert requirement_name("aws_lambda_powertools[tracer]==3.37.0") == "aws-lambda-powertools"
    assert requirement_name("Pygments>=2") == canonical_name("pygments")
    with pytest.raises(PackagingError):
        requirement_name("==1.0")


@pytest.mark.unit
def test_the_lock_parses_to_exact_pins_and_refuses_anything_looser() -> None:
    lock = parse_lock("# comment\nPygments==2.21.0\n\ntyping_extensions==4.16.0  # why\n")
    assert lock == {
        "pygments": Pin("pygments", "2.21.0"),
        "typing-extensions": Pin("typing-extensions", "4.16.0"),
    }
    with pytest.raises(PackagingError, match="line 1"):
        parse_lock("numpy>=2\n")


@pytest.mark.unit
def test_a_resolved_package_the_lock_does_not_pin_or_pins_otherwise_is_a_violation() -> None:
    lock = parse_lock("numpy==2.4.6\nsix==1.17.0\n")
    resolved = resolved_pins(_pip_report(("numpy", "2.4.6"), ("six", "1.16.0"), ("wrapt", "2.5.2")))
    assert lock_violations(resolved, lock) == [
        "six==1.16.0 but requirements.lock pins six==1.17.0",
        "wrapt==2.5.2 is not pinned by requirements.lock",
    ]
    assert lock_violations(resolved_pins(_pip_report(("NumPy", "2.4.6"))), lock) == []


@pytest.mark.unit
def test_a_runtime_requirement_pip_did_not_install_is_reported() -> None:
    resolved = resolved_pins(_pip_report(("aws_lambda_powertools", "3.37.0")))
    assert missing_requirements(
        ["aws-lambda-powertools[tracer]==3.37.0", "duckdb==2.0.1"], resolved
    ) == ["duckdb"]


@pytest.mark.unit
def test_the_runtime_set_is_pyprojects_dependencies_and_every_one_is_locked(
    repo_root: Path,
) -> None:
    pyproject = tomllib.loads((repo_root / "pyproject.toml").read_text())
    requirements = runtime_requirements(pyproject)
    names = {requirement_name(r) for r in requirements}
    lock = parse_lock((repo_root / "requirements.lock").read_text())

    assert {"fastapi", "mangum", "duckdb", "pyiceberg", "pyarrow", "aws-lambda-powertools"} <= names
    assert names.isdisjoint(NOT_RUNTIME)  # the extras stay out of the runtime set
    for requirement in requirements:
        name = requirement_name(requirement)
        assert name in lock, f"{name} is not in requirements.lock"
        assert f"=={lock[name].version}" in requirement, (requirement, lock[name])


@pytest.mark.unit
def test_pip_resolves_for_the_target_not_this_machine(tmp_path: Path) -> None:
    target = LambdaTarget(python_version="3.11", architecture="x86_64", glibc=(2, 28))
    command = pip_install_command(
        "python",
        tmp_path / "pkg",
        target,
        Path("requirements.lock"),
        ["duckdb==2.0.1"],
        tmp_path / "r.json",
    )
    assert command[:4] == ["python", "-m", "pip", "install"]
    assert command[command.index("--constraint") + 1] == "requirements.lock"
    assert command[command.index("--python-version") + 1] == "3.11"
    assert "--only-binary=:all:" in command and "--no-compile" in command
    platforms = [command[i + 1] for i, arg in enumerate(command) if arg == "--platform"]
    assert "manylinux_2_28_x86_64" in platforms and "manylinux2014_x86_64" in platforms
    assert "manylinux_2_29_x86_64" not in platforms
    assert command[-1] == "duckdb==2.0.1"


@pytest.mark.unit
def test_each_function_of_the_image_has_its_own_module_at_the_root() -> None:
    assert [entry_point.command for entry_point in ENTRY_POINTS] == [
        "handler.handler",
        "kafka_topics_handler.on_event",
        "lake_init_handler.on_event",
        "freshness_handler.handler",
    ]
    assert (API.file_name, KAFKA_TOPICS.file_name, LAKE_INIT.file_name, FRESHNESS.file_name) == (
        "handler.py",
        "kafka_topics_handler.py",
        "lake_init_handler.py",
        "freshness_handler.py",
    )


@pytest.mark.unit
def test_every_entry_point_names_a_function_its_handler_file_defines(repo_root: Path) -> None:
    for entry_point in ENTRY_POINTS:
        tree = ast.parse((repo_root / entry_point.source).read_text())
        functions = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        assert entry_point.function in functions, entry_point


@pytest.mark.unit
def test_k2_and_every_handler_are_copied_to_the_artifact_root(
    repo_root: Path, tmp_path: Path
) -> None:
    copied = copy_sources(repo_root, tmp_path)
    assert copied == ENTRY_POINTS
    for entry_point in ENTRY_POINTS:
        assert (tmp_path / entry_point.file_name).read_bytes() == (
            repo_root / entry_point.source
        ).read_bytes()
    assert (tmp_path / "k2" / "feeds" / "topic_admin.py").is_file()
    assert not list(tmp_path.rglob("__pycache__"))


@pytest.mark.unit
def test_the_platforms_span_every_glibc_up_to_the_targets_and_use_linux_arm_names() -> None:
    platforms = pip_platforms(LambdaTarget(architecture="arm64", glibc=(2, 26)))
    assert "manylinux_2_5_aarch64" in platforms and "manylinux_2_26_aarch64" in platforms
    assert "manylinux2014_aarch64" in platforms
    assert not any("2_27" in p or "x86_64" in p for p in platforms)


@pytest.mark.unit
def test_a_wheel_needs_the_oldest_glibc_any_of_its_tags_allows() -> None:
    assert wheel_glibc(
        ["cp311-cp311-manylinux_2_27_x86_64", "cp311-cp311-manylinux_2_28_x86_64"]
    ) == (2, 27)
    assert wheel_glibc(["cp311-cp311-manylinux2014_x86_64"]) == (2, 17)
    assert wheel_glibc(["cp311-cp311-manylinux1_x86_64.manylinux_2_5_x86_64"]) == (2, 5)
    assert wheel_glibc(["py3-none-any"]) is None
    assert wheel_tags("Wheel-Version: 1.0\nTag: py3-none-any\nTag: py2-none-any\n") == [
        "py3-none-any",
        "py2-none-any",
    ]
    assert required_glibc({"numpy": (2, 27), "pyarrow": (2, 28), "six": None}) == (
        (2, 28),
        ["pyarrow"],
    )
    assert required_glibc({"six": None}) == (None, [])


@pytest.mark.unit
def test_python_3_11_runs_on_amazon_linux_2_and_later_versions_on_2023() -> None:
    assert managed_runtime_glibc("3.11") == AMAZON_LINUX_2_GLIBC == (2, 26)
    assert managed_runtime_glibc("3.12") == (2, 34)


# --- what is stripped -----------------------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("fastapi/__pycache__/routing.cpython-311.pyc", "bytecode cache"),
        ("k2/api/app.pyc", "bytecode cache"),
        ("pyarrow/lib.pyx", "Cython source"),
        ("pyarrow/includes/libarrow.pxd", "Cython source"),
        ("numpy/__init__.pyi", "type stub"),
        ("pyarrow/include/arrow/api.h", "C/C++ headers and sources"),
        ("numpy/_core/include/numpy/ndarrayobject.h", "C/C++ headers and sources"),
        ("pyarrow/tests/test_array.py", "test suite"),
        ("numpy/_core/tests/test_umath.py", "test suite"),
        ("bin/fastapi", "console script"),
    ],
)
def test_what_python_never_imports_is_stripped(path: str, reason: str) -> None:
    assert strip_reason(PurePosixPath(path)) == reason


@pytest.mark.unit
@pytest.mark.parametrize(
    "path",
    [
        "pyarrow/libarrow.so.2600",
        "pyarrow/parquet/core.py",
        "numpy/testing/__init__.py",  # numpy.testing is a public module, not a test suite
        "fsspec/tests/abstract/__init__.py",  # not known to be import-isolated: kept
        "opentelemetry_api-1.45.2.dist-info/entry_points.txt",  # read at import
        "pydantic-2.14.4.dist-info/licenses/LICENSE",
        "aws_lambda_powertools/py.typed",
        "handler.py",
        "k2/api/app.py",
    ],
)
def test_what_imports_read_or_licences_need_is_kept(path: str) -> None:
    assert strip_reason(PurePosixPath(path)) is None


@pytest.mark.unit
def test_the_strip_plan_partitions_the_tree_in_a_stable_order() -> None:
    paths = [PurePosixPath(p) for p in ("b/__pycache__/x.pyc", "a/x.py", "pyarrow/tests/t.py")]
    plan = plan_strip(paths)
    assert plan.kept == (PurePosixPath("a/x.py"),)
    assert [p for p, _ in plan.stripped] == [
        PurePosixPath("b/__pycache__/x.pyc"),
        PurePosixPath("pyarrow/tests/t.py"),
    ]


# --- sizes, limits and the choice -----------------------------------------------------------


@pytest.mark.unit
def test_files_are_charged_to_the_distribution_whose_record_lists_them() -> None:
    info = PurePosixPath("pyarrow-26.0.1.dist-info")
    record = (
        "pyarrow/lib.so,sha256=x,100\npyarrow/__init__.py,,\npyarrow-26.0.1.dist-info/RECORD,,\n"
    )
    owners = owners_from_records([(info, record)])
    sizes = {
        PurePosixPath("pyarrow/lib.so"): 100,
        PurePosixPath("pyarrow/__init__.py"): 5,
        PurePosixPath("pyarrow-26.0.1.dist-info/RECORD"): 1,
        PurePosixPath("k2/api/app.py"): 30,
        PurePosixPath("k2/settings.py"): 20,
        PurePosixPath("handler.py"): 50,
    }
    assert distribution_name(PurePosixPath("pydantic_core-2.50.5.dist-info")) == "pydantic_core"
    assert [(p.name, p.bytes) for p in sizes_by_package(sizes, owners)] == [
        ("pyarrow", 106),
        ("handler.py", 50),
        ("k2", 50),
    ]


@pytest.mark.unit
def test_each_limit_is_judged_in_binary_megabytes() -> None:
    direct, unzipped, image = verdicts(unzipped=250 * MIB, zipped=50 * MIB - 1)
    assert direct.fits and not unzipped.fits and image.fits
    assert unzipped.limit == 262_144_000  # what the Lambda API's refusal quotes


@pytest.mark.unit
def test_a_zip_only_when_it_fits_with_room_and_the_runtime_can_load_its_wheels() -> None:
    al2 = AMAZON_LINUX_2_GLIBC
    assert choose_packaging(100 * MIB, (2, 17), al2).packaging is Packaging.ZIP
    too_big = choose_packaging(ZIP_UNZIPPED_LIMIT + 1, (2, 17), al2)
    assert too_big.packaging is Packaging.CONTAINER_IMAGE and "exceeds" in too_big.reasons[0]
    no_room = choose_packaging(int(0.9 * ZIP_UNZIPPED_LIMIT), (2, 17), al2)
    assert no_room.packaging is Packaging.CONTAINER_IMAGE and "room" in no_room.reasons[0]
    wrong_os = choose_packaging(100 * MIB, (2, 28), al2)
    assert wrong_os.packaging is Packaging.CONTAINER_IMAGE and "glibc 2.28" in wrong_os.reasons[0]


@pytest.mark.unit
def test_pip_failures_show_pips_last_lines() -> None:
    output = "\n".join(f"line {i}" for i in range(100))
    tail = last_lines(output, 3)
    assert tail == "line 97\nline 98\nline 99"


# --- the zip ---------------------------------------------------------------------------------


@pytest.mark.unit
def test_the_zip_depends_only_on_paths_and_contents(tmp_path: Path) -> None:
    def build(name: str, mtime: int) -> bytes:
        root = tmp_path / name
        (root / "pkg").mkdir(parents=True)
        for relative, content in {
            "pkg/b.py": b"b = 1\n",
            "pkg/a.py": b"a = 1\n",
            "lib.so": b"\x7fELF",
        }.items():
            (root / relative).write_bytes(content)
            os.utime(root / relative, (mtime, mtime))
        (root / "lib.so").chmod(0o775)
        files = [PurePosixPath("pkg/b.py"), PurePosixPath("lib.so"), PurePosixPath("pkg/a.py")]
        write_zip(root, files, tmp_path / f"{name}.zip")
        return (tmp_path / f"{name}.zip").read_bytes()

    first, second = build("one", 1_700_000_000), build("two", 1_800_000_000)
    assert hashlib.sha256(first).digest() == hashlib.sha256(second).digest()
    with zipfile.ZipFile(tmp_path / "one.zip") as archive:
        infos = archive.infolist()
        assert [i.filename for i in infos] == ["lib.so", "pkg/a.py", "pkg/b.py"]
        assert {i.date_time for i in infos} == {ZIP_EPOCH}
        assert [(i.external_attr >> 16) & 0o777 for i in infos] == [0o755, 0o644, 0o644]
        assert archive.read("pkg/a.py") == b"a = 1\n"


# --- the container image ---------------------------------------------------------------------


def _dockerfile_instructions(repo_root: Path) -> list[tuple[str, str]]:
    text = (repo_root / "functions/api/Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(maxsplit=1)[0].upper(), line.split(maxsplit=1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


@pytest.mark.unit
def test_the_image_runs_the_handler_from_the_artifact_on_a_glibc_its_wheels_load_on(
    repo_root: Path,
) -> None:
    instructions = _dockerfile_instructions(repo_root)
    bases = [argument.split()[0] for name, argument in instructions if name == "FROM"]
    assert len(bases) == 2  # a build stage, then the runtime image
    for base in bases:
        assert base.startswith("public.ecr.aws/") and ":3.11-" in base  # CPython 3.11, pinned tag
        assert "lambda/python:3.11" not in base  # Amazon Linux 2: glibc 2.26, too old for pyarrow
    runs = [argument for name, argument in instructions if name == "RUN"]
    assert any("python -m k2.packaging.lambda_artifact --out /build" in run for run in runs)
    # the runtime image adds the measured directory, whole, and nothing else of the build
    assert ("COPY", "--from=artifact /build/package ./") in instructions
    assert dict(instructions)["ENTRYPOINT"] == '["python", "-m", "awslambdaric"]'
    assert dict(instructions)["CMD"] == '["handler.handler"]'


@pytest.mark.unit
def test_the_build_context_lets_in_exactly_what_the_build_stage_copies(repo_root: Path) -> None:
    """The CDK asset hashes and stages the context through the same ignore file Docker reads."""
    ignore = (repo_root / "functions/api/Dockerfile.dockerignore").read_text().splitlines()
    allowed = {line.removeprefix("!").rstrip("/") for line in ignore if line.startswith("!")}
    sources = {
        source  # every COPY argument but the last (the destination) is a source
        for name, argument in _dockerfile_instructions(repo_root)
        if name == "COPY" and not argument.startswith("--from")
        for source in argument.split()[:-1]
    }
    assert sources == allowed
    assert ignore[[line.strip() for line in ignore].index("*")] == "*"  # everything else is out


# --- the artifact, built for real -----------------------------------------------------------

SMOKE_IMPORTS = (
    "k2",
    "k2.query.engine",
    "duckdb",
    "pyarrow",
    "pyarrow.parquet",
    "pyarrow.dataset",
    "pyarrow.fs",
    "pyiceberg",
    "pyiceberg.catalog.glue",
    "pyiceberg.io.pyarrow",
    "fastapi",
    "mangum",
    "aws_lambda_powertools",
)

# Runs with -I -S: no site-packages, no PYTHONPATH, no current directory; only the artifact and
# the interpreter's standard library. A `module.function` argument (an image CMD) must name a
# callable. Prints where every loaded module came from.
SMOKE_SCRIPT = """
import importlib, json, sys
root = sys.argv[1]
sys.path.insert(0, root)
for name in sys.argv[2:]:
    module, _, function = name.partition(":")
    loaded = importlib.import_module(module)
    assert not function or callable(getattr(loaded, function)), name
files = {n: m.__file__ for n, m in list(sys.modules.items()) if getattr(m, "__file__", None)}
print(json.dumps({"path": sys.path, "files": files}))
"""


@pytest.fixture(scope="session")
def built_artifact(tmp_path_factory: pytest.TempPathFactory) -> Artifact:
    """One real build per session (about 30 s with pip's cache warm), shared by the tests."""
    return build_artifact(tmp_path_factory.mktemp("lambda-api"), LambdaTarget())


@pytest.mark.integration
def test_the_artifact_holds_the_runtime_pins_only_at_their_locked_versions(
    built_artifact: Artifact, repo_root: Path
) -> None:
    lock = parse_lock((repo_root / "requirements.lock").read_text())
    pyproject = tomllib.loads((repo_root / "pyproject.toml").read_text())
    installed = {pin.name: pin for pin in built_artifact.pins}

    for requirement in runtime_requirements(pyproject):
        name = requirement_name(requirement)
        assert installed.get(name) == lock[name], name
    assert lock_violations(built_artifact.pins, lock) == []
    assert not set(installed) & set(NOT_RUNTIME)
    on_disk = {
        canonical_name(p.name.removesuffix(".dist-info").rsplit("-", 1)[0])
        for p in built_artifact.package_dir.glob("*.dist-info")
    }
    assert on_disk == set(installed)


@pytest.mark.integration
def test_the_artifact_is_measured_stripped_and_zipped(built_artifact: Artifact) -> None:
    package = built_artifact.package_dir
    assert not list(package.rglob("__pycache__")) and not list(package.rglob("*.pyc"))
    assert not (package / "pyarrow" / "include").exists()
    assert (package / "pyarrow" / "parquet").is_dir() and (package / "k2" / "api").is_dir()

    with zipfile.ZipFile(built_artifact.zip_path) as archive:
        infos = archive.infolist()
    assert len(infos) == built_artifact.files
    assert sum(i.file_size for i in infos) == built_artifact.unzipped
    assert built_artifact.zip_path.stat().st_size == built_artifact.zipped
    summary = json.loads((built_artifact.zip_path.parent / "artifact.json").read_text())
    assert summary["unzipped_bytes"] == built_artifact.unzipped
    assert built_artifact.packages[0].name == "pyarrow"


@pytest.mark.integration
def test_the_artifact_imports_with_nothing_but_itself_and_the_stdlib(
    built_artifact: Artifact,
) -> None:
    """Complete, and nothing needed was stripped; every handler too, each with the function its
    CMD names (the API's builds its app at import with no network and no AWS: local keys,
    instance metadata off)."""
    root = built_artifact.package_dir
    assert built_artifact.handler_included
    assert built_artifact.entry_points == tuple(e.command for e in ENTRY_POINTS)
    handlers = [command.rsplit(".", 1) for command in built_artifact.entry_points]
    modules = [*SMOKE_IMPORTS, *(module for module, _ in handlers)]
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "K2_API_KEYS": "smoke-test-key",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    result = subprocess.run(
        [
            *(sys.executable, "-I", "-S", "-B", "-c", SMOKE_SCRIPT, str(root)),
            *SMOKE_IMPORTS,
            *(f"{module}:{function}" for module, function in handlers),
        ],
        capture_output=True,
        text=True,
        env=environment,
        cwd=root.parent,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, last_lines(result.stderr)
    loaded = json.loads(result.stdout)
    stdlib = Path(sys.base_prefix).resolve()
    assert all(Path(entry).resolve().is_relative_to(stdlib) for entry in loaded["path"][1:])
    outside = {
        name: file
        for name, file in loaded["files"].items()
        if not Path(file).resolve().is_relative_to(root.resolve())
        and not Path(file).resolve().is_relative_to(stdlib)
    }
    assert outside == {}
    assert set(modules) <= set(loaded["files"])
