package podworker

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubelet-lite/kubelet-lite/pkg/dns"
	"github.com/kubelet-lite/kubelet-lite/pkg/sandbox"
)

func TestPodEtc(t *testing.T) {
	hostResolv := []byte("search corp.example\nnameserver 192.0.2.53\n")
	hostHosts := []byte("127.0.0.1 localhost\n192.0.2.10 node-a\n")
	aliases := []corev1.HostAlias{{IP: "192.0.2.99", Hostnames: []string{"db"}}}
	cases := []struct {
		name      string
		spec      corev1.PodSpec
		ips       []string
		cfg       dns.Config
		want      map[string]string
		wantWarns []string
	}{
		{name: "pod network, cluster DNS",
			spec: corev1.PodSpec{HostAliases: aliases}, ips: []string{"10.88.0.5"},
			cfg: dns.Config{ClusterDNS: []string{"10.96.0.10"}, ClusterDomain: "cluster.local", HostResolvConf: hostResolv},
			want: map[string]string{
				"resolv.conf": "search ns1.svc.cluster.local svc.cluster.local cluster.local corp.example\nnameserver 10.96.0.10\noptions ndots:5\n",
				"hosts": "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
					"fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n" +
					"10.88.0.5\tweb\n\n# Entries added by HostAliases.\n192.0.2.99\tdb\n",
				"hostname": "web\n",
			}},
		{name: "no network plugin, no cluster DNS: the host's resolv.conf and no pod IP",
			cfg: dns.Config{ClusterDomain: "cluster.local", HostResolvConf: hostResolv},
			want: map[string]string{
				"resolv.conf": "search corp.example\nnameserver 192.0.2.53\n",
				"hosts": "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
					"fe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n",
				"hostname": "web\n",
			},
			wantWarns: []string{"MissingClusterDNS"}},
		{name: "host network: the host's hosts file and the node's name",
			spec: corev1.PodSpec{HostNetwork: true, DNSPolicy: corev1.DNSDefault}, ips: []string{"10.88.0.5"},
			cfg: dns.Config{ClusterDNS: []string{"10.96.0.10"}, HostResolvConf: hostResolv},
			want: map[string]string{
				"resolv.conf": "search corp.example\nnameserver 192.0.2.53\n",
				"hosts":       string(hostHosts),
				"hostname":    "node-a\n",
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns1"}, Spec: tc.spec}
			files, warns := podEtc(pod, tc.ips, tc.cfg, hostHosts, "node-a")
			got := map[string]string{}
			for k, v := range files {
				got[k] = string(v)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("files:\n%q\nwant\n%q", got, tc.want)
			}
			var reasons []string
			for _, w := range warns {
				reasons = append(reasons, w.Reason)
			}
			if !reflect.DeepEqual(reasons, tc.wantWarns) {
				t.Errorf("warnings %v, want %v", reasons, tc.wantWarns)
			}
		})
	}
}

func TestWithEtcMounts(t *testing.T) {
	etc := []sandbox.Mount{{Source: "/r/hosts", Destination: "/etc/hosts"}, {Source: "/r/resolv.conf", Destination: "/etc/resolv.conf"}}
	vol := sandbox.Mount{Source: "/v/hosts", Destination: "/etc/hosts/"}
	got := withEtcMounts([]sandbox.Mount{vol}, etc)
	want := []sandbox.Mount{vol, etc[1]}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mounts %+v, want %+v (a volume at /etc/hosts wins)", got, want)
	}
}

// TestEtcFilesWrite checks that the files are written in the pod's dir and
// rewritten in place, so that running containers see the new content.
func TestEtcFilesWrite(t *testing.T) {
	dir := t.TempDir()
	e := &EtcFiles{Dir: dir, DNS: dns.Config{ClusterDNS: []string{"10.96.0.10"}}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns1", UID: "u1"}}
	mounts, _, err := e.write(pod, []string{"10.88.0.5"})
	if err != nil {
		t.Fatal(err)
	}
	want := []sandbox.Mount{
		{Source: filepath.Join(dir, "u1", "hosts"), Destination: "/etc/hosts"},
		{Source: filepath.Join(dir, "u1", "resolv.conf"), Destination: "/etc/resolv.conf"},
		{Source: filepath.Join(dir, "u1", "hostname"), Destination: "/etc/hostname"},
	}
	if !reflect.DeepEqual(mounts, want) {
		t.Fatalf("mounts %+v, want %+v", mounts, want)
	}
	before, _ := os.Stat(want[0].Source)
	if _, _, err := e.write(pod, []string{"10.88.0.6"}); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(want[0].Source)
	b, _ := os.ReadFile(want[0].Source)
	if !strings.Contains(string(b), "10.88.0.6\tweb") {
		t.Errorf("hosts after the IP changed:\n%s", b)
	}
	if before.Sys().(*syscall.Stat_t).Ino != after.Sys().(*syscall.Stat_t).Ino {
		t.Errorf("hosts was replaced by another file; a bind mount of it would keep the old one")
	}
}

func TestRemoveOrphanEtc(t *testing.T) {
	dir := t.TempDir()
	for _, uid := range []string{"wanted", "running", "gone"} {
		if err := os.MkdirAll(filepath.Join(dir, uid), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	w := &Workers{cfg: Config{Etc: &EtcFiles{Dir: dir}}}
	w.removeOrphanEtc(map[types.UID]*corev1.Pod{"wanted": {}}, []sandbox.PodState{{UID: "running"}})
	entries, _ := os.ReadDir(dir)
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if want := []string{"running", "wanted"}; !reflect.DeepEqual(left, want) {
		t.Errorf("left %v, want %v", left, want)
	}
}
