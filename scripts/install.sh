#!/usr/bin/env bash
# Installs everything deepfake-rl needs on a Debian machine (root): the Debian packages that the
# embedded corpus is built from, then the Python package with the CPU build of torch.
# Idempotent: packages already present are not fetched again. Runs in the active Python
# environment (use a virtualenv if you prefer; `python3 -m venv .venv && . .venv/bin/activate`).
#   bash scripts/install.sh           # everything for the workflow
#   bash scripts/install.sh --test    # the same plus pytest, SLURM and munge (tests/test_slurm.py)
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  ffmpeg sox espeak-ng flite festival festvox-kallpc16k festvox-us-slt-hts codec2 codec2-examples
  asterisk-core-sounds-en asterisk-core-sounds-en-g722 asterisk-core-sounds-fr asterisk-core-sounds-fr-g722
  asterisk-core-sounds-es asterisk-core-sounds-es-g722 asterisk-core-sounds-it asterisk-core-sounds-it-g722
  asterisk-core-sounds-ru-g722
)
# --test: a single-node SLURM (controller, node daemon, clients) and munge, for tests/test_slurm.py
if [ "${1:-}" = "--test" ]; then APT_PACKAGES+=(slurm-wlm munge); fi

missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "[install] Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

extras=""
[ "${1:-}" = "--test" ] && extras="[test]"
# torch first and pinned: the CPU wheel here; an unpinned torch would pull several GB of CUDA packages.
# torchaudio is never installed (its wheels are CUDA-linked and break `import transformers`).
echo "[install] Python packages (torch==2.13.0 CPU, deepfake_rl${extras})"
python3 -m pip install -q --disable-pip-version-check "torch==2.13.0"
python3 -m pip install -q --disable-pip-version-check -e ".${extras}"
echo "[install] done"
