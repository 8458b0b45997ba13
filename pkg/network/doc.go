// Package network gives pods their network through CNI: it writes the node's default
// configuration list (a Linux bridge with host-local IPAM and portmap) when the CNI conf dir
// holds none, and runs the plugins' ADD, CHECK and DEL for each pod sandbox through
// github.com/containernetworking/cni/libcni, the loopback plugin on lo apart.
//
// libcni's cache (Config.CacheDir) is the only state: it records, per sandbox, the network
// configuration, CNI_ARGS, port mappings and result of the last ADD, so that IPs, DEL and the
// host-port conflict check work the same after the agent restarts. A sandbox's netns is given
// as a pinned path (PinNetNS), since the cache keeps it until DEL.
//
// The plugins run as children of the calling OS thread and so act in its network namespace (the
// node's); Config.Exec can change how they are run.
package network
