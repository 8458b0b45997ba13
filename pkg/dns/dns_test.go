package dns

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

const hostResolv = `# written by the installer
domain corp.example
search corp.example lab.example
nameserver 192.0.2.53
nameserver 192.0.2.54 ; second
options timeout:2 rotate
`

func pod(mutate func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "shop"}}
	if mutate != nil {
		mutate(p)
	}
	return p
}

func TestPodResolvConf(t *testing.T) {
	cluster := Config{ClusterDNS: []string{"10.96.0.10"}, ClusterDomain: "cluster.local", HostResolvConf: []byte(hostResolv)}
	clusterSearch := []string{"shop.svc.cluster.local", "svc.cluster.local", "cluster.local", "corp.example", "lab.example"}
	host := ResolvConf{Nameservers: []string{"192.0.2.53", "192.0.2.54"}, Searches: []string{"corp.example", "lab.example"}, Options: []string{"timeout:2", "rotate"}}
	tests := []struct {
		name     string
		pod      *corev1.Pod
		cfg      Config
		want     ResolvConf
		warnings []string
	}{
		{name: "ClusterFirst", pod: pod(func(p *corev1.Pod) { p.Spec.DNSPolicy = corev1.DNSClusterFirst }), cfg: cluster,
			want: ResolvConf{Nameservers: []string{"10.96.0.10"}, Searches: clusterSearch, Options: []string{"ndots:5"}}},
		{name: "unset policy is ClusterFirst", pod: pod(nil), cfg: cluster,
			want: ResolvConf{Nameservers: []string{"10.96.0.10"}, Searches: clusterSearch, Options: []string{"ndots:5"}}},
		{name: "ClusterFirst with hostNetwork uses the host's", pod: pod(func(p *corev1.Pod) { p.Spec.HostNetwork = true }), cfg: cluster, want: host},
		{name: "ClusterFirstWithHostNet", pod: pod(func(p *corev1.Pod) {
			p.Spec.HostNetwork, p.Spec.DNSPolicy = true, corev1.DNSClusterFirstWithHostNet
		}), cfg: cluster, want: ResolvConf{Nameservers: []string{"10.96.0.10"}, Searches: clusterSearch, Options: []string{"ndots:5"}}},
		{name: "Default", pod: pod(func(p *corev1.Pod) { p.Spec.DNSPolicy = corev1.DNSDefault }), cfg: cluster, want: host},
		{name: "ClusterFirst without cluster DNS falls back", pod: pod(nil), cfg: Config{HostResolvConf: []byte(hostResolv)}, want: host,
			warnings: []string{"MissingClusterDNS"}},
		{name: "None takes dnsConfig only", pod: pod(func(p *corev1.Pod) {
			p.Spec.DNSPolicy = corev1.DNSNone
			p.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"1.2.3.4"}, Searches: []string{"a.example"},
				Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("2")}, {Name: "edns0"}}}
		}), cfg: cluster, want: ResolvConf{Nameservers: []string{"1.2.3.4"}, Searches: []string{"a.example"}, Options: []string{"ndots:2", "edns0"}}},
		{name: "dnsConfig merges: options by name, duplicates dropped", pod: pod(func(p *corev1.Pod) {
			p.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"10.96.0.10", "1.1.1.1"}, Searches: []string{"cluster.local", "x.example"},
				Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("1")}, {Name: "single-request"}}}
		}), cfg: cluster, want: ResolvConf{Nameservers: []string{"10.96.0.10", "1.1.1.1"},
			Searches: append(append([]string{}, clusterSearch...), "x.example"), Options: []string{"ndots:1", "single-request"}}},
		{name: "more than three nameservers", pod: pod(func(p *corev1.Pod) {
			p.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"1.1.1.1", "2.2.2.2", "3.3.3.3"}}
		}), cfg: cluster, want: ResolvConf{Nameservers: []string{"10.96.0.10", "1.1.1.1", "2.2.2.2"}, Searches: clusterSearch, Options: []string{"ndots:5"}},
			warnings: []string{"DNSConfigForming"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, warnings := PodResolvConf(tc.pod, tc.cfg)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("PodResolvConf =\n%#v\nwant\n%#v", got, tc.want)
			}
			var reasons []string
			for _, w := range warnings {
				reasons = append(reasons, w.Reason)
			}
			if !reflect.DeepEqual(reasons, tc.warnings) {
				t.Errorf("warnings = %v, want reasons %v", warnings, tc.warnings)
			}
		})
	}
}

func TestSearchLimits(t *testing.T) {
	var many []string
	for i := range 40 {
		many = append(many, fmt.Sprintf("d%02d.example", i))
	}
	p := pod(func(p *corev1.Pod) {
		p.Spec.DNSPolicy = corev1.DNSNone
		p.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"1.1.1.1"}, Searches: many}
	})
	got, warnings := PodResolvConf(p, Config{})
	if len(got.Searches) != MaxSearchPaths || got.Searches[0] != "d00.example" || len(warnings) != 1 {
		t.Errorf("searches = %d (%v), warnings %v; want the first %d and one warning", len(got.Searches), got.Searches, warnings, MaxSearchPaths)
	}
	long := []string{strings.Repeat("a", 250) + ".example"}
	for range 10 {
		long = append(long, long[0])
		long[len(long)-1] = fmt.Sprintf("%d%s", len(long), long[0])
	}
	p.Spec.DNSConfig.Searches = long
	got, _ = PodResolvConf(p, Config{})
	if n := len(strings.Join(got.Searches, " ")); n > MaxSearchListChars || len(got.Searches) == 0 {
		t.Errorf("search line has %d characters in %d paths, want at most %d", n, len(got.Searches), MaxSearchListChars)
	}
}

func TestResolvConfRoundTrip(t *testing.T) {
	r := ResolvConf{Nameservers: []string{"10.96.0.10"}, Searches: []string{"a", "b"}, Options: []string{"ndots:5"}}
	want := "search a b\nnameserver 10.96.0.10\noptions ndots:5\n"
	if got := string(r.Bytes()); got != want {
		t.Errorf("Bytes() = %q, want %q", got, want)
	}
	if back := ParseResolvConf(r.Bytes()); !reflect.DeepEqual(back, r) {
		t.Errorf("ParseResolvConf(Bytes()) = %#v, want %#v", back, r)
	}
}

func TestHostsFile(t *testing.T) {
	p := pod(func(p *corev1.Pod) {
		p.Spec.Hostname, p.Spec.Subdomain = "db", "backend"
		p.Spec.HostAliases = []corev1.HostAlias{{IP: "192.0.2.10", Hostnames: []string{"foo.local", "bar.local"}}}
	})
	got := string(HostsFile(p, []string{"10.244.0.7"}, "cluster.local"))
	for _, want := range []string{
		"# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n",
		"::1\tlocalhost ip6-localhost ip6-loopback\n",
		"10.244.0.7\tdb.backend.shop.svc.cluster.local\tdb\n",
		"\n# Entries added by HostAliases.\n192.0.2.10\tfoo.local\tbar.local\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("hosts file:\n%s\nlacks %q", got, want)
		}
	}
	plain := string(HostsFile(pod(nil), []string{"10.244.0.8"}, "cluster.local"))
	if !strings.Contains(plain, "10.244.0.8\tweb-0\n") || strings.Contains(plain, "HostAliases") {
		t.Errorf("hosts file of a plain pod:\n%s", plain)
	}
	hn := string(HostNetworkHostsFile(p, []byte("127.0.0.1 localhost\n10.0.0.5 node-a")))
	if !strings.HasPrefix(hn, "127.0.0.1 localhost\n10.0.0.5 node-a\n") || !strings.Contains(hn, "192.0.2.10\tfoo.local\tbar.local\n") {
		t.Errorf("hostNetwork hosts file:\n%s", hn)
	}
}

func TestHostname(t *testing.T) {
	long := pod(func(p *corev1.Pod) { p.Name = strings.Repeat("a", 62) + "-bcd" })
	if h, fqdn := Hostname(long, "cluster.local"); h != strings.Repeat("a", 62) || fqdn != "" {
		t.Errorf("Hostname of a 66-character pod = %q, %q; want the first 63 characters without the trailing dash", h, fqdn)
	}
}
