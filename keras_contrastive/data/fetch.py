"""Makes sure Fashion-MNIST's idx files are on this machine: ``make data``.

Usage::

    python -m keras_contrastive.data.fetch [--data-dir DIR] [--no-install] [--no-download]

1. If the files are found anywhere `find_fashion_mnist` looks, check that all
   four parse and print where they are (fast: no TensorFlow import).
2. Otherwise, when running as root on a machine with ``apt-get``, install
   Debian's ``dataset-fashion-mnist`` (running ``apt-get update`` first only if
   apt does not know the package yet).
3. Otherwise, or if that failed, let Keras download them into
   ``~/.keras/datasets/fashion-mnist``.

Exits with status 1 and a message listing every place searched and how to get
the files if all of that fails, or if the files found are corrupt.
"""
import argparse
import os
import shutil
import subprocess
import sys

from keras_contrastive.data import fashion_mnist

APT_PACKAGE = "dataset-fashion-mnist"


def _apt_knows_package(env):
    """Whether apt has an installation candidate for the package already."""
    if shutil.which("apt-cache") is None:
        return False
    result = subprocess.run(
        ["apt-cache", "policy", APT_PACKAGE], capture_output=True, text=True, env=env
    )
    return result.returncode == 0 and "Candidate:" in result.stdout and (
        "Candidate: (none)" not in result.stdout
    )


def _apt_install():
    """Installs the Debian package; returns None on success, else why not."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return f"skipped (not root; as root run `apt-get install {APT_PACKAGE}`)"
    if shutil.which("apt-get") is None:
        return "skipped (no apt-get on this machine)"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if not _apt_knows_package(env):
        print("fetch: apt-get update", flush=True)
        subprocess.run(["apt-get", "update"], env=env)  # a failure shows in the install
    print(f"fetch: apt-get install -y {APT_PACKAGE}", flush=True)
    result = subprocess.run(
        ["apt-get", "install", "-y", "--no-install-recommends", APT_PACKAGE], env=env
    )
    if result.returncode != 0:
        return f"failed (apt-get install exited with status {result.returncode})"
    return None


def _report(directory):
    """Parses both splits in `directory`; returns the exit status."""
    try:
        counts = {
            split: len(fashion_mnist.load_fashion_mnist_arrays(split, directory, download=False)[1])
            for split in fashion_mnist.SPLITS
        }
    except (ValueError, FileNotFoundError) as error:
        print(f"fetch: Fashion-MNIST files in {directory} are unusable:\n{error}", file=sys.stderr)
        return 1
    print(
        f"Fashion-MNIST: {counts['train']} train and {counts['test']} test images in {directory}"
    )
    return 0


def main(argv=None):
    """Runs the fetch; returns the process exit status (0 when the files are usable).

    Args:
        argv: command-line arguments (default ``sys.argv[1:]``).

    Example:

    >>> main(["--no-install", "--no-download"])  # doctest: +SKIP
    Fashion-MNIST: 60000 train and 10000 test images in /usr/share/datasets/fashion-mnist
    0
    """
    parser = argparse.ArgumentParser(
        prog="python -m keras_contrastive.data.fetch",
        description="Find, install or download Fashion-MNIST's idx files.",
    )
    parser.add_argument("--data-dir", help="directory to look in first")
    parser.add_argument(
        "--no-install", action="store_true", help=f"never run apt-get install {APT_PACKAGE}"
    )
    parser.add_argument(
        "--no-download", action="store_true", help="never download with Keras"
    )
    args = parser.parse_args(argv)

    def find(download):
        try:
            return fashion_mnist.find_fashion_mnist(args.data_dir, download=download), None
        except FileNotFoundError as error:
            return None, error

    directory, _ = find(download=False)
    if directory is not None:
        return _report(directory)

    apt_note = "skipped (--no-install)"
    if not args.no_install:
        apt_note = _apt_install()
        if apt_note is None:
            directory, _ = find(download=False)
            if directory is not None:
                return _report(directory)
            apt_note = "package installed but its files were not found"

    directory, error = find(download=not args.no_download)
    if directory is not None:
        return _report(directory)
    print(f"fetch: apt-get install {APT_PACKAGE}: {apt_note}\nfetch: {error}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
