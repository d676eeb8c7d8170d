# kube-csr-approver image.
#   docker build -t kube-csr-approver:0.1.0 .
# Build stage: the project's own install script, so the image builds exactly what CI tests.
FROM debian:bookworm AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN bash scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKCA_BUILD_TESTS=OFF -DKCA_BUILD_BENCHMARKS=OFF \
 && cmake --build /build --target kube-csr-approver --parallel "$(nproc)" \
 && strip --strip-debug -o /kube-csr-approver /build/src/app/kube-csr-approver

# Runtime stage: only the Debian packages holding the shared libraries `ldd` reports for the
# binary (tests/deploy/check_dockerfile.sh keeps this list honest). The shell that slim ships is
# never used at run time: the entrypoint is exec-form.
FROM debian:bookworm-slim AS runtime
# KCA_RUNTIME_PACKAGES_BEGIN
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libbrotli1 \
      libc6 \
      libcivetweb1 \
      libcpprest2.10 \
      libfmt9 \
      libgcc-s1 \
      libprometheus-cpp-core1.0 \
      libprometheus-cpp-pull1.0 \
      libre2-9 \
      libspdlog1.10 \
      libssl3 \
      libstdc++6 \
      libyaml-cpp0.7 \
      zlib1g \
 && rm -rf /var/lib/apt/lists/*
# KCA_RUNTIME_PACKAGES_END
COPY --from=build /kube-csr-approver /usr/local/bin/kube-csr-approver
COPY examples/policies/cluster.yaml /etc/kube-csr-approver/policy.yaml
# Numeric UID:GID so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 65532:65532
EXPOSE 8081 9090
ENV KUBE_CSR_APPROVER_POLICY=/etc/kube-csr-approver/policy.yaml
ENTRYPOINT ["/usr/local/bin/kube-csr-approver", "run"]
