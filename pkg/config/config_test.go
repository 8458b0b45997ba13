package config

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestParseReserved(t *testing.T) {
	got, err := ParseReserved(map[string]string{"cpu": "250m", "memory": "1Gi"})
	if err != nil {
		t.Fatal(err)
	}
	if cpu, mem := got[corev1.ResourceCPU], got[corev1.ResourceMemory]; cpu.MilliValue() != 250 || mem.Value() != 1<<30 || len(got) != 2 {
		t.Errorf("ParseReserved = %v, want cpu 250m and memory 1Gi only", got)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{name: "defaults", mutate: func(*Config) {}},
		{name: "relative root dir", mutate: func(c *Config) { c.RootDir = "state" }, wantErr: `--root-dir "state" is not an absolute path`},
		{name: "relative manifest dir", mutate: func(c *Config) { c.PodManifestPath = "pods" }, wantErr: "--pod-manifest-path"},
		{name: "cgroup root not clean", mutate: func(c *Config) { c.CgroupRoot = "/a/../b" }, wantErr: "--cgroup-root"},
		{name: "cgroup root relative", mutate: func(c *Config) { c.CgroupRoot = "kubelet" }, wantErr: "--cgroup-root"},
		{name: "pids limit zero", mutate: func(c *Config) { c.PodPidsLimit = 0 }, wantErr: "--pod-pids-limit 0"},
		{name: "pids limit unlimited", mutate: func(c *Config) { c.PodPidsLimit = -1 }},
		{name: "no node name", mutate: func(c *Config) { c.NodeName = "" }, wantErr: "node name is empty"},
		{name: "no pod source", mutate: func(c *Config) { c.PodManifestPath = "" }, wantErr: "no pod source"},
		{name: "api only", mutate: func(c *Config) { c.PodManifestPath, c.Kubeconfig = "", "/etc/kubelet.conf" }},
		{name: "bad node ip", mutate: func(c *Config) { c.NodeIP = "10.0.0" }, wantErr: `--node-ip "10.0.0"`},
		{name: "cert without key", mutate: func(c *Config) { c.TLSCertFile = "/a.crt" }, wantErr: "go together"},
		{name: "bootstrap", mutate: func(c *Config) {
			c.Kubeconfig, c.BootstrapKubeconfig, c.CertDir = "/etc/kubelet.conf", "/etc/bootstrap.conf", "/var/lib/kl/pki"
			c.RotateCertificates, c.RotateServerCertificates = true, true
		}},
		{name: "bootstrap without kubeconfig", mutate: func(c *Config) { c.BootstrapKubeconfig = "/etc/bootstrap.conf" }, wantErr: "--bootstrap-kubeconfig needs --kubeconfig"},
		{name: "rotation without kubeconfig", mutate: func(c *Config) { c.RotateCertificates = true }, wantErr: "--rotate-certificates needs --kubeconfig"},
		{name: "server rotation and serving files", mutate: func(c *Config) {
			c.Kubeconfig, c.RotateServerCertificates, c.TLSCertFile, c.TLSKeyFile = "/k", true, "/a.crt", "/a.key"
		}, wantErr: "exclude each other"},
		{name: "relative cert dir", mutate: func(c *Config) { c.CertDir = "pki" }, wantErr: `--cert-dir "pki"`},
		{name: "seccomp profile root", mutate: func(c *Config) { c.SeccompProfileRoot = "/etc/seccomp" }},
		{name: "relative seccomp profile root", mutate: func(c *Config) { c.SeccompProfileRoot = "seccomp" }, wantErr: `--seccomp-profile-root "seccomp"`},
		{name: "no pods", mutate: func(c *Config) { c.MaxPods = 0 }, wantErr: "--max-pods 0"},
		{name: "log max size", mutate: func(c *Config) { c.ContainerLogMaxSize = "64Ki" }},
		{name: "log max size not a quantity", mutate: func(c *Config) { c.ContainerLogMaxSize = "ten megs" }, wantErr: `--container-log-max-size "ten megs"`},
		{name: "log max size zero", mutate: func(c *Config) { c.ContainerLogMaxSize = "0" }, wantErr: "--container-log-max-size"},
		{name: "one log file", mutate: func(c *Config) { c.ContainerLogMaxFiles = 1 }, wantErr: "--container-log-max-files 1"},
		{name: "no parallel starts", mutate: func(c *Config) { c.MaxParallelStarts = 0 }, wantErr: "--max-parallel-starts"},
		{name: "reserved", mutate: func(c *Config) {
			c.SystemReserved = map[string]string{"cpu": "100m", "memory": "256Mi", "ephemeral-storage": "1Gi", "pid": "100"}
			c.KubeReserved = map[string]string{"memory": "128Mi"}
		}},
		{name: "reserved unknown resource", mutate: func(c *Config) { c.SystemReserved = map[string]string{"gpu": "1"} }, wantErr: `--system-reserved: unknown resource "gpu"`},
		{name: "reserved bad quantity", mutate: func(c *Config) { c.KubeReserved = map[string]string{"memory": "lots"} }, wantErr: "--kube-reserved: memory=lots"},
		{name: "reserved negative", mutate: func(c *Config) { c.KubeReserved = map[string]string{"cpu": "-1"} }, wantErr: "negative"},
		{name: "node labels", mutate: func(c *Config) { c.NodeLabels = map[string]string{"node-role.kubernetes.io/worker": "", "zone": "a"} }},
		{name: "node label bad key", mutate: func(c *Config) { c.NodeLabels = map[string]string{"a b": "x"} }, wantErr: `--node-labels: key "a b"`},
		{name: "network none by default", mutate: func(c *Config) {
			if c.NetworkPlugin != NetworkPluginNone {
				c.NetworkPlugin = "default was " + c.NetworkPlugin
			}
		}},
		{name: "cni network", mutate: func(c *Config) {
			c.NetworkPlugin, c.PodCIDR, c.ClusterDNS = NetworkPluginCNI, "10.88.0.0/24", []string{"10.96.0.10", "fd00::a"}
		}},
		{name: "unknown network plugin", mutate: func(c *Config) { c.NetworkPlugin = "kubenet" }, wantErr: `--network-plugin "kubenet"`},
		{name: "relative cni bin dir", mutate: func(c *Config) { c.NetworkPlugin, c.CNIBinDir = NetworkPluginCNI, "cni/bin" }, wantErr: `--cni-bin-dir "cni/bin"`},
		{name: "relative cni cache dir", mutate: func(c *Config) { c.CNICacheDir = "cache" }, wantErr: `--cni-cache-dir "cache"`},
		{name: "pod cidr not a network", mutate: func(c *Config) { c.PodCIDR = "10.88.0.1/24" }, wantErr: `--pod-cidr "10.88.0.1/24"`},
		{name: "pod cidr no prefix", mutate: func(c *Config) { c.PodCIDR = "10.88.0.0" }, wantErr: `--pod-cidr "10.88.0.0"`},
		{name: "cluster dns not an ip", mutate: func(c *Config) { c.ClusterDNS = []string{"dns.local"} }, wantErr: `--cluster-dns "dns.local"`},
		{name: "cluster domain bad", mutate: func(c *Config) { c.ClusterDomain = "Cluster_Local" }, wantErr: `--cluster-domain "Cluster_Local"`},
		{name: "proxy none by default", mutate: func(c *Config) {
			if c.ProxyMode != ProxyModeNone {
				c.ProxyMode = "default was " + c.ProxyMode
			}
		}},
		{name: "ipvs proxy", mutate: func(c *Config) {
			c.ProxyMode, c.Kubeconfig, c.ClusterCIDR = ProxyModeIPVS, "/etc/kubelet.conf", "10.244.0.0/16"
		}},
		{name: "ipvs proxy without a cluster", mutate: func(c *Config) { c.ProxyMode = ProxyModeIPVS }, wantErr: "--proxy-mode ipvs needs --kubeconfig"},
		{name: "unknown proxy mode", mutate: func(c *Config) { c.ProxyMode = "iptables" }, wantErr: `--proxy-mode "iptables"`},
		{name: "cluster cidr not a network", mutate: func(c *Config) { c.ClusterCIDR = "10.244.1.1/16" }, wantErr: `--cluster-cidr "10.244.1.1/16"`},
		{name: "cluster cidr ipv6", mutate: func(c *Config) { c.ClusterCIDR = "fd00::/64" }, wantErr: `--cluster-cidr "fd00::/64"`},
		{name: "node label bad value", mutate: func(c *Config) { c.NodeLabels = map[string]string{"zone": "a b"} }, wantErr: `--node-labels: value "a b"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			c.NodeName = "node-a"
			c.PodManifestPath = "/etc/kubernetes/manifests"
			tc.mutate(&c)
			err := c.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestContainerLogMaxBytes(t *testing.T) {
	cases := []struct {
		size string
		want int64
	}{
		{"10Mi", 10 * 1024 * 1024},
		{"64Ki", 65536},
		{"1M", 1000000},
		{"junk", 0},
	}
	for _, tc := range cases {
		c := Config{ContainerLogMaxSize: tc.size}
		if got := c.ContainerLogMaxBytes(); got != tc.want {
			t.Errorf("ContainerLogMaxBytes(%q) = %d, want %d", tc.size, got, tc.want)
		}
	}
}

func TestSeccompDir(t *testing.T) {
	c := Default()
	if !c.SeccompDefault {
		t.Error("--seccomp-default is off by default, want on")
	}
	if got := c.SeccompDir(); got != "/var/lib/kubelet-lite/seccomp" {
		t.Errorf("default SeccompDir %q, want /var/lib/kubelet-lite/seccomp", got)
	}
	c.SeccompProfileRoot = "/etc/kubelet-lite/seccomp"
	if got := c.SeccompDir(); got != "/etc/kubelet-lite/seccomp" {
		t.Errorf("SeccompDir %q, want /etc/kubelet-lite/seccomp", got)
	}
}
