// Package status keeps what the node reports about each pod: the upstream
// v1.PodStatus the pod workers compute. Files stores it beside the agent's
// state, so `kubelet-lite ps` shows phases and waiting reasons in
// standalone mode.
package status
