// Package server serves the kubelet API that the apiserver reaches on port
// 10250 over TLS: /containerLogs/{namespace}/{pod}/{container} for
// `kubectl logs` (follow, tailLines, sinceSeconds, sinceTime, timestamps,
// limitBytes, previous), the streaming /exec, /attach, /portForward and the
// one-shot /run, /stats/summary and /metrics/resource (pkg/stats, for the
// pods the caller lists), /metrics (the agent's own), /pods (the agent's
// pods as a v1 PodList) and /healthz; and the plain-HTTP /healthz on the
// healthz address.
//
// Streams are served by the upstream kubelet's handlers from
// k8s.io/cri-streaming (SPDY, and WebSocket up to the v4 channel protocol;
// the apiserver translates kubectl's v5 WebSockets to SPDY for a node that
// does not declare them). A Streamer runs exec and port-forward; attach
// follows the container's CRI log from its end, stdout and stderr apart.
// A hijacked connection is watched, so that a client that goes ends its
// exec.
//
// Every request on the TLS port is authenticated and authorized as the
// upstream kubelet does it, with k8s.io/apiserver's delegating parts: x509
// client certificates verified against the client CA and bearer tokens
// checked with TokenReviews (anonymous requests refused, 401), then a
// SubjectAccessReview of the node's subresource the path maps to (403).
//
// Container logs are the CRI-format files the container's PID 1 writes
// (see pkg/crilog); a follower keeps reading across the copy-then-truncate
// rotations of pkg/logrotate.
package server
