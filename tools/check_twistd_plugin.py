"""
Checks that C{twistd --help} lists C{roomkit-sip} after both C{pip install .}
and C{pip install -e .}: editable installs and a root-level C{twisted/plugins}
are a known trap (see tools/build_backend.py).

Each install goes into a fresh virtualenv that also sees this interpreter's
packages (so Twisted is not downloaded again); twistd runs from a neutral directory so the
checkout itself is not on C{sys.path}.
"""

import os
import subprocess
import sys
import tempfile
import venv

_TWISTD_HELP = (
    "import sys; sys.argv = ['twistd', '--help']; from twisted.scripts.twistd import run; run()"
)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _check(mode_args: list[str], label: str, workdir: str) -> bool:
    env_dir = os.path.join(workdir, label)
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = os.path.join(env_dir, "bin", "python")
    # Let the new environment import this interpreter's packages (Twisted),
    # after its own site-packages, so nothing is downloaded again.
    own_site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    with open(os.path.join(own_site, "_parent_site.pth"), "w") as pth:
        pth.write("\n".join(p for p in sys.path if p.endswith("site-packages")) + "\n")
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "--no-deps", *mode_args, ROOT],
        check=True,
        cwd=workdir,
    )
    out = subprocess.run(
        [python, "-c", _TWISTD_HELP],
        check=True,
        capture_output=True,
        text=True,
        cwd=workdir,
    ).stdout
    ok = "roomkit-sip" in out
    sys.stdout.write(f"{label}: twistd --help {'lists' if ok else 'DOES NOT list'} roomkit-sip\n")
    return ok


def main() -> int:
    with tempfile.TemporaryDirectory() as workdir:
        results = [_check([], "regular", workdir), _check(["-e"], "editable", workdir)]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
