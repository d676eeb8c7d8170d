# Placeholder until the shipping issue (#5): the multi-stage image (build on debian:bookworm with
# scripts/install-deps.sh, run as a non-root UID on a minimal bookworm runtime) is written there.
FROM debian:bookworm
RUN echo "kube-csr-approver image: not built yet, see issue #5" && false
