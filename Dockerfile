# syntax=docker/dockerfile:1
# Build a static binary, then ship it alone on distroless, as a non-root user.
# The build is the one `make build` runs (CGO_ENABLED=0, -trimpath, -ldflags "-s -w"), plus
# the version; test/packaging checks that the sources copied here are all the binary needs.
# Multi-arch: docker buildx build --platform linux/amd64,linux/arm64 -t $IMG .
ARG GO_IMAGE=golang:1.26

FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
ARG TARGETOS=linux
ARG TARGETARCH
WORKDIR /src
ENV GOTOOLCHAIN=local CGO_ENABLED=0
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY api/ api/
COPY cmd/ cmd/
COPY internal/ internal/
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/anycast-operator ./cmd/anycast-operator

FROM gcr.io/distroless/static:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="anycast-operator" \
      org.opencontainers.image.description="Multi-cluster BGP anycast ingress: MetalLB, Gateway API and Skupper from two objects" \
      org.opencontainers.image.source="https://github.com/anycast-operator/anycast-operator" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/anycast-operator /anycast-operator
USER 65532:65532
ENTRYPOINT ["/anycast-operator"]
