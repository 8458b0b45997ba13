// Command bench measures kubelet-lite's pod start latency and node overhead
// against a running agent; hack/bench-start.sh builds everything, starts a
// fresh agent per run and calls it. It is run by hand, not by CI.
//
//	bench start --bin B --root R --manifests M --staging S --agent-pid P -n 10 --run 1 --out results.jsonl
//	bench table results.jsonl
//
// start writes N busybox `sleep 3600` manifests into the staging directory,
// renames them into the manifest directory in one tight loop, polls
// `kubelet-lite ps -o json` until every container runs, samples the memory of
// the agent and of every pod process, removes the manifests and polls until
// ps is empty. It appends one JSON result line to --out. table prints the
// results of every run and the median of each column per pod count.
package main
