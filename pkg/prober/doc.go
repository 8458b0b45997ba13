// Package prober runs a pod's liveness, readiness and startup probes and
// its postStart and preStop hooks, as the upstream kubelet does.
//
// A Manager runs one worker per probe of each container attempt it is told
// about (Add when the container started, Remove when it stopped). A worker
// probes once per periodSeconds after initialDelaySeconds, within
// timeoutSeconds, and reports a result only after successThreshold
// successes or failureThreshold failures in a row. Liveness and readiness
// wait until the startup probe succeeded; a liveness or startup failure is
// reported once, with the grace period for the kill, and the worker stops
// until the next attempt. Before any report a container with a readiness
// probe is not ready, one with a startup probe not started, and liveness is
// a success.
//
// Handlers: exec runs through an Execer (sandbox.Runtime.Exec); httpGet,
// tcpSocket, grpc (the gRPC Health Checking Protocol, without TLS) and
// hooks' httpGet dial from inside the pod's network namespace through a
// Dialer (NetnsDialer), to the pod's IP or, without one, to 127.0.0.1. A
// probe that cannot run errors, which keeps its result at the initial value
// and is logged and recorded as an event, as upstream does.
package prober
