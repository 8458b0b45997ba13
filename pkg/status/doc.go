// Package status keeps what the node reports about each pod: the upstream
// v1.PodStatus the pod workers compute. Files stores it beside the agent's
// state, so `kubelet-lite ps` shows phases and waiting reasons in
// standalone mode.
//
// With an apiserver, Manager reports it: Set and Delete (the pod workers'
// Statuses) only record the newest wanted state; Run patches pods/status
// (a strategic merge patch with the pod's UID as precondition) in batches,
// retries failed pods with backoff until they succeed — newer statuses
// replace unsent ones, nothing is dropped across an apiserver outage — and
// checks every pod again every 10 s. It adds the conditions the kubelet owns
// (Conditions, a pure function: PodReadyToStartContainers, Initialized,
// ContainersReady, Ready with readiness gates) and the host and pod IPs,
// sends a static pod's status to its mirror pod, and once the node has
// cleaned up a pod being deleted, deletes it with grace period 0.
package status
