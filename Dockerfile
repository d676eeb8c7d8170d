# kube-csr-approver image.
#   podman build --runtime runc --network=host -t kube-csr-approver:0.1.0 \
#     --build-arg VERSION=0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" .
#   (docker build works the same; tests/deploy/container_test.sh builds and runs it with podman)
# Behind a TLS-intercepting proxy (https mirrors through a local CA), pass the machine's CA bundle
# as a build secret: --secret id=ca-bundle,src=/etc/ssl/certs/ca-certificates.crt
# (scripts/build-image.sh does). apt reads it from the secret mount only: it is in no layer.
# The image runs `kube-csr-approver ARGS...`: the chart and deploy/ pass `args: [run, --policy=...]`.
# No policy is baked in: mount one (a ConfigMap directory) at /etc/kube-csr-approver.
ARG VERSION=0.1.0
ARG REVISION=unknown

# Build stage: the project's own install script, so the image builds exactly what CI tests.
FROM debian:bookworm AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN --mount=type=secret,id=ca-bundle,required=false,mode=0444 \
    if [ -s /run/secrets/ca-bundle ]; then export KCA_APT_CA_BUNDLE=/run/secrets/ca-bundle; fi \
 && bash scripts/install-deps.sh --build-only && rm -rf /var/lib/apt/lists/*
COPY . .
# Declared after the package layers: a new revision must not re-run apt.
ARG REVISION
# ccache in a build cache mount: a rebuild after a small change compiles only what changed.
# content, not mtime: the compiler binary's timestamp says nothing across images.
# LTO: 0.4 MiB less resident code at idle (docs/benchmarks-analysis.md, idle footprint).
ENV CCACHE_DIR=/root/.cache/ccache CCACHE_BASEDIR=/src CCACHE_COMPILERCHECK=content CCACHE_NOHASHDIR=1
RUN --mount=type=cache,target=/root/.cache/ccache \
    cmake -S . -B /src/build/image -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
      -DCMAKE_INTERPROCEDURAL_OPTIMIZATION=ON \
      -DKCA_BUILD_TESTS=OFF -DKCA_BUILD_BENCHMARKS=OFF -DKCA_REVISION="${REVISION}" \
 && cmake --build /src/build/image --target kube-csr-approver --parallel "$(nproc)" \
 && strip --strip-debug -o /kube-csr-approver /src/build/image/src/app/kube-csr-approver \
 && ccache --show-stats | grep -E 'Hits|Misses' || true

# Runtime stage: only the Debian packages holding the shared libraries `ldd` reports for the
# binary (tests/deploy/check_dockerfile.sh keeps this list honest). The shell that slim ships is
# never used at run time: the entrypoint is exec-form.
FROM debian:bookworm-slim AS runtime
# KCA_RUNTIME_PACKAGES_BEGIN
RUN --mount=type=secret,id=ca-bundle,required=false,mode=0444 \
    set -- && if [ -s /run/secrets/ca-bundle ]; then set -- -o Acquire::https::CaInfo=/run/secrets/ca-bundle; fi \
 && apt-get "$@" update \
 && DEBIAN_FRONTEND=noninteractive apt-get "$@" install -y --no-install-recommends \
      libbrotli1 \
      libc6 \
      libcivetweb1 \
      libcpprest2.10 \
      libgcc-s1 \
      libprometheus-cpp-core1.0 \
      libprometheus-cpp-pull1.0 \
      libssl3 \
      libstdc++6 \
      zlib1g \
 && rm -rf /var/lib/apt/lists/*
# KCA_RUNTIME_PACKAGES_END
COPY --from=build /kube-csr-approver /usr/local/bin/kube-csr-approver
COPY LICENSE /usr/share/doc/kube-csr-approver/LICENSE
# After the package layer, so a new revision does not re-run apt.
ARG VERSION
ARG REVISION
LABEL org.opencontainers.image.title="kube-csr-approver" \
      org.opencontainers.image.description="Approves, denies or logs Kubernetes CertificateSigningRequests by policy" \
      org.opencontainers.image.source="https://github.com/kube-csr-approver/kube-csr-approver" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"
# Numeric UID:GID so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 65532:65532
EXPOSE 8081 9090
# Where deploy/ and the chart mount the policy ConfigMap; nothing is there unless one is mounted.
ENV KUBE_CSR_APPROVER_POLICY=/etc/kube-csr-approver/policy.yaml
ENTRYPOINT ["/usr/local/bin/kube-csr-approver"]
CMD ["run"]
