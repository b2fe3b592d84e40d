# Build a static binary, then ship it alone on distroless, as a non-root user.
FROM golang:1.26 AS build
WORKDIR /src
ENV GOTOOLCHAIN=local CGO_ENABLED=0
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY cmd/ cmd/
COPY internal/ internal/
ARG VERSION=dev
RUN go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/anycast-operator ./cmd/anycast-operator

FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/anycast-operator /anycast-operator
USER 65532:65532
ENTRYPOINT ["/anycast-operator"]
