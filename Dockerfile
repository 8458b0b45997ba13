# The agent image: a static kubelet-lite binary on an empty base. It runs
# privileged with the host's PID namespace, /sys/fs/cgroup, /var/lib/kubelet-lite
# and /var/log/pods mounted, as a host agent would.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" \
      -o cmd/kubelet-lite/kubelet-lite-init ./cmd/kubelet-lite-init && \
    CGO_ENABLED=1 go build -trimpath -tags netgo,osusergo,embedinit \
      -ldflags "-s -w -extldflags -static" -o /out/kubelet-lite ./cmd/kubelet-lite

FROM scratch
COPY --from=build /out/kubelet-lite /usr/local/bin/kubelet-lite
ENTRYPOINT ["/usr/local/bin/kubelet-lite"]
CMD ["run", "--pod-manifest-path", "/etc/kubernetes/manifests"]
