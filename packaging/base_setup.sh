#!/bin/sh
# Runs inside the base image build (buildah run, chroot isolation): Python venv with the pinned runtime stack,
# the non-root user and the MAP folders. Changing this file (or requirements.txt) rebuilds the base.
# Inputs: /tmp/msk-build/requirements.txt, optional /tmp/msk-build/wheels/*.whl (e.g. the CPU torch wheel),
#         optional /tmp/msk-build/pip-ca.crt,
#         MAP_UID/MAP_GID (default 1000).
set -eu
export DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

# Build-time only: the host's CA bundle when its pip goes through a TLS-inspecting proxy (deleted below).
[ -f /tmp/msk-build/pip-ca.crt ] && export PIP_CERT=/tmp/msk-build/pip-ca.crt

python3 -m venv /opt/venv
/opt/venv/bin/pip install --quiet --upgrade pip

# A local wheel named on the same command line satisfies requirements.txt's torch==X pin, so pip keeps the
# host's build (the CPU one here) instead of fetching PyPI's default CUDA build.
set --
for whl in /tmp/msk-build/wheels/*.whl; do [ -e "$whl" ] && set -- "$@" "$whl"; done
/opt/venv/bin/pip install --quiet "$@" -r /tmp/msk-build/requirements.txt

# holoscan-cu13 links libcudart.so.13 without depending on a wheel that ships it (the build hosts have it in
# /usr/local/cuda-13.0 from the nvidia-cuda-runtime wheel): install that wheel and tell the loader where it is.
/opt/venv/bin/pip install --quiet "nvidia-cuda-runtime==${CUDA_RUNTIME_VERSION:-13.0.96}"
site=$(/opt/venv/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
for lib in "$site"/nvidia/cu13/lib "$site"/nvidia/cuda_runtime/lib; do
    [ -d "$lib" ] && echo "$lib" >> /etc/ld.so.conf.d/msk-maps-cuda.conf
done
ldconfig

# Byte-compile once at build time: the runtime user cannot write __pycache__ under /opt.
/opt/venv/bin/python -m compileall -q /opt/venv/lib >/dev/null 2>&1 || true

groupadd --gid "${MAP_GID:-1000}" holoscan
useradd --uid "${MAP_UID:-1000}" --gid "${MAP_GID:-1000}" --home-dir /var/holoscan --no-create-home \
    --shell /usr/sbin/nologin holoscan
mkdir -p /opt/holoscan/app /opt/holoscan/models /opt/holoscan/docs /etc/holoscan \
    /var/holoscan/input /var/holoscan/output /var/holoscan/logs /var/run/holoscan/export
chown -R holoscan:holoscan /var/holoscan
chmod 0755 /var/run/holoscan /var/run/holoscan/export

# Smoke-check the stack imports inside the image (fails the build, not the first run).
ulimit -s 32768
/opt/venv/bin/python -c "import torch, holoscan, monai, highdicom, pydicom, nvidia.dali, monai.deploy.core; \
print('torch', torch.__version__, 'holoscan', holoscan.__version__)"

rm -rf /tmp/msk-build /root/.cache /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* /usr/share/locale/*
