// Package dns makes a pod's /etc/resolv.conf and /etc/hosts as the upstream
// kubelet does, from the pod's dnsPolicy, dnsConfig, hostname, subdomain and
// hostAliases and the node's --cluster-dns and --cluster-domain. It is pure:
// the caller reads the host's files and writes the results.
package dns

import (
	"bufio"
	"bytes"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Upstream's limits on a pod's resolv.conf (the apiserver validates
// dnsConfig against the same numbers).
const (
	MaxNameservers     = 3
	MaxSearchPaths     = 32
	MaxSearchListChars = 2048
	// clusterNdots is the ndots option of a cluster-first resolv.conf.
	clusterNdots = "ndots:5"
)

// Config is the node's DNS setting.
type Config struct {
	// ClusterDNS are the cluster DNS servers' IPs (--cluster-dns).
	ClusterDNS []string
	// ClusterDomain is the cluster's domain (--cluster-domain), e.g.
	// cluster.local.
	ClusterDomain string
	// HostResolvConf is the content of the host's resolv.conf, the base of
	// dnsPolicy Default and of the search paths of ClusterFirst.
	HostResolvConf []byte
}

// ResolvConf is one resolv.conf.
type ResolvConf struct {
	Nameservers, Searches, Options []string
}

// Bytes renders r in resolv.conf syntax.
func (r ResolvConf) Bytes() []byte {
	var b bytes.Buffer
	if len(r.Searches) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(r.Searches, " "))
	}
	for _, ns := range r.Nameservers {
		fmt.Fprintf(&b, "nameserver %s\n", ns)
	}
	if len(r.Options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(r.Options, " "))
	}
	return b.Bytes()
}

// ParseResolvConf reads the nameserver, search/domain and options lines of
// a resolv.conf; the last search or domain line wins, as in glibc.
func ParseResolvConf(data []byte) ResolvConf {
	var r ResolvConf
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(f) > 1 {
				r.Nameservers = append(r.Nameservers, f[1])
			}
		case "search", "domain":
			r.Searches = append([]string(nil), f[1:]...)
		case "options":
			r.Options = append(r.Options, f[1:]...)
		}
	}
	return r
}

// Warning is something about a pod's DNS the kubelet reports as an event
// (reason DNSConfigForming or MissingClusterDNS) without refusing the pod.
type Warning struct {
	Reason, Message string
}

// PodResolvConf returns the resolv.conf of pod, and the warnings upstream
// would report as events.
func PodResolvConf(pod *corev1.Pod, cfg Config) (ResolvConf, []Warning) {
	var warnings []Warning
	var r ResolvConf
	switch policy(pod) {
	case "none":
	case "cluster":
		if len(cfg.ClusterDNS) == 0 {
			warnings = append(warnings, Warning{"MissingClusterDNS", fmt.Sprintf(
				"pod: %q. kubelet does not have ClusterDNS IP configured and cannot create Pod using %q policy. Falling back to %q policy.",
				pod.Namespace+"/"+pod.Name, pod.Spec.DNSPolicy, corev1.DNSDefault)})
			r = ParseResolvConf(cfg.HostResolvConf)
			break
		}
		host := ParseResolvConf(cfg.HostResolvConf)
		r.Nameservers = slices.Clone(cfg.ClusterDNS)
		if d := cfg.ClusterDomain; d != "" {
			r.Searches = []string{pod.Namespace + ".svc." + d, "svc." + d, d}
		}
		r.Searches = append(r.Searches, host.Searches...)
		r.Options = []string{clusterNdots}
	default:
		r = ParseResolvConf(cfg.HostResolvConf)
	}
	if c := pod.Spec.DNSConfig; c != nil {
		r.Nameservers = append(r.Nameservers, c.Nameservers...)
		r.Searches = append(r.Searches, c.Searches...)
		r.Options = mergeOptions(r.Options, c.Options)
	}
	r.Nameservers = dedupe(r.Nameservers)
	r.Searches = dedupe(r.Searches)
	if len(r.Nameservers) > MaxNameservers {
		warnings = append(warnings, Warning{"DNSConfigForming", fmt.Sprintf(
			"Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: %s",
			strings.Join(r.Nameservers[:MaxNameservers], " "))})
		r.Nameservers = r.Nameservers[:MaxNameservers]
	}
	if trimmed, ok := trimSearches(r.Searches); !ok {
		warnings = append(warnings, Warning{"DNSConfigForming", fmt.Sprintf(
			"Search Line limits were exceeded, some search paths have been omitted, the applied search line is: %s",
			strings.Join(trimmed, " "))})
		r.Searches = trimmed
	}
	return r, warnings
}

// policy is the kind of resolv.conf pod gets: "cluster", "host" or "none".
func policy(pod *corev1.Pod) string {
	switch pod.Spec.DNSPolicy {
	case corev1.DNSNone:
		return "none"
	case corev1.DNSClusterFirstWithHostNet:
		return "cluster"
	case corev1.DNSDefault:
		return "host"
	default: // ClusterFirst, and unset as the apiserver defaults it
		if pod.Spec.HostNetwork {
			return "host"
		}
		return "cluster"
	}
}

// mergeOptions adds the pod's options; one with a name already present
// replaces it.
func mergeOptions(base []string, extra []corev1.PodDNSConfigOption) []string {
	out := []string{}
	index := map[string]int{}
	add := func(name, opt string) {
		if i, ok := index[name]; ok {
			out[i] = opt
			return
		}
		index[name] = len(out)
		out = append(out, opt)
	}
	for _, o := range base {
		name, _, _ := strings.Cut(o, ":")
		add(name, o)
	}
	for _, o := range extra {
		opt := o.Name
		if o.Value != nil {
			opt += ":" + *o.Value
		}
		add(o.Name, opt)
	}
	return out
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	out := in[:0:0]
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// trimSearches keeps the search paths within upstream's limits; ok is false
// when some were dropped.
func trimSearches(s []string) ([]string, bool) {
	ok := true
	if len(s) > MaxSearchPaths {
		s, ok = s[:MaxSearchPaths], false
	}
	for len(s) > 0 && len(strings.Join(s, " ")) > MaxSearchListChars {
		s, ok = s[:len(s)-1], false
	}
	return s, ok
}

// Hostname returns the pod's hostname and, when it has a subdomain and the
// cluster a domain, its fully qualified name: spec.hostname (or the pod's
// name, cut to 63 characters) and hostname.subdomain.namespace.svc.domain.
func Hostname(pod *corev1.Pod, clusterDomain string) (hostname, fqdn string) {
	hostname = pod.Spec.Hostname
	if hostname == "" {
		hostname = pod.Name
		if len(hostname) > 63 {
			hostname = strings.TrimRight(hostname[:63], "-.")
		}
	}
	if pod.Spec.Subdomain != "" && clusterDomain != "" {
		fqdn = fmt.Sprintf("%s.%s.%s.svc.%s", hostname, pod.Spec.Subdomain, pod.Namespace, clusterDomain)
	}
	return hostname, fqdn
}

// HostsFile is the kubelet-managed /etc/hosts of a pod that has its own
// network namespace: localhost, the pod's IPs with its names, and its
// hostAliases.
func HostsFile(pod *corev1.Pod, podIPs []string, clusterDomain string) []byte {
	var b bytes.Buffer
	b.WriteString("# Kubernetes-managed hosts file.\n")
	b.WriteString("127.0.0.1\tlocalhost\n")
	b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
	b.WriteString("fe00::0\tip6-localnet\n")
	b.WriteString("fe00::0\tip6-mcastprefix\n")
	b.WriteString("fe00::1\tip6-allnodes\n")
	b.WriteString("fe00::2\tip6-allrouters\n")
	hostname, fqdn := Hostname(pod, clusterDomain)
	for _, ip := range podIPs {
		if fqdn != "" {
			fmt.Fprintf(&b, "%s\t%s\t%s\n", ip, fqdn, hostname)
		} else {
			fmt.Fprintf(&b, "%s\t%s\n", ip, hostname)
		}
	}
	writeAliases(&b, pod.Spec.HostAliases)
	return b.Bytes()
}

// HostNetworkHostsFile is the /etc/hosts of a hostNetwork pod: the host's
// own file, with the pod's hostAliases added.
func HostNetworkHostsFile(pod *corev1.Pod, hostHosts []byte) []byte {
	var b bytes.Buffer
	b.Write(hostHosts)
	if len(hostHosts) > 0 && hostHosts[len(hostHosts)-1] != '\n' {
		b.WriteByte('\n')
	}
	writeAliases(&b, pod.Spec.HostAliases)
	return b.Bytes()
}

func writeAliases(b *bytes.Buffer, aliases []corev1.HostAlias) {
	if len(aliases) == 0 {
		return
	}
	b.WriteString("\n# Entries added by HostAliases.\n")
	for _, a := range aliases {
		fmt.Fprintf(b, "%s\t%s\n", a.IP, strings.Join(a.Hostnames, "\t"))
	}
}
