package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	cliflag "k8s.io/component-base/cli/flag"
	"k8s.io/klog/v2"

	"github.com/kubelet-lite/kubelet-lite/pkg/cgroup"
	"github.com/kubelet-lite/kubelet-lite/pkg/config"
	"github.com/kubelet-lite/kubelet-lite/pkg/image"
	"github.com/kubelet-lite/kubelet-lite/pkg/node"
	"github.com/kubelet-lite/kubelet-lite/pkg/podworker"
	"github.com/kubelet-lite/kubelet-lite/pkg/prober"
	"github.com/kubelet-lite/kubelet-lite/pkg/sandbox"
	"github.com/kubelet-lite/kubelet-lite/pkg/version"
	"github.com/kubelet-lite/kubelet-lite/pkg/volume"
)

func newRunCmd() *cobra.Command {
	cfg := config.Default()
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the node agent: the pods of --pod-manifest-path, on this machine's kernel",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cfg.Validate(); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return run(ctx, cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.PodManifestPath, "pod-manifest-path", cfg.PodManifestPath, "directory of static pod manifests")
	f.StringVar(&cfg.NodeName, "hostname-override", cfg.NodeName, "this node's name")
	f.StringVar(&cfg.RootDir, "root-dir", cfg.RootDir, "state directory (images, sandboxes, containers)")
	f.StringVar(&cfg.LogDir, "log-dir", cfg.LogDir, "container log directory")
	f.StringVar(&cfg.CgroupRoot, "cgroup-root", cfg.CgroupRoot, "cgroup under which kubepods is made")
	f.Int64Var(&cfg.PodPidsLimit, "pod-pids-limit", cfg.PodPidsLimit, "pids.max of every pod; -1 for unlimited")
	f.StringVar(&cfg.Kubeconfig, "kubeconfig", cfg.Kubeconfig, "kubeconfig of the cluster this node joins; none runs static pods only")
	f.StringVar(&cfg.BootstrapKubeconfig, "bootstrap-kubeconfig", cfg.BootstrapKubeconfig, "kubeconfig (a bootstrap token) that asks the cluster for the node's client certificate when --kubeconfig has no valid one; --kubeconfig is then written")
	f.StringVar(&cfg.CertDir, "cert-dir", cfg.CertDir, "directory of the certificates the cluster issues to the node (default: <root-dir>/pki)")
	f.BoolVar(&cfg.RotateCertificates, "rotate-certificates", cfg.RotateCertificates, "renew the client certificate through a CSR before it expires")
	f.BoolVar(&cfg.RotateServerCertificates, "rotate-server-certificates", cfg.RotateServerCertificates, "get the kubelet API's serving certificate from the cluster through a CSR (signer kubernetes.io/kubelet-serving) and renew it")
	f.StringVar(&cfg.NodeIP, "node-ip", cfg.NodeIP, "the node's address (default: the host's first non-loopback IPv4)")
	f.StringVar(&cfg.Address, "address", cfg.Address, "address of the kubelet API")
	f.IntVar(&cfg.Port, "port", cfg.Port, "port of the kubelet API")
	f.StringVar(&cfg.HealthzAddr, "healthz-address", cfg.HealthzAddr, "host:port of the plain-HTTP /healthz")
	f.StringVar(&cfg.TLSCertFile, "tls-cert-file", cfg.TLSCertFile, "serving certificate of the kubelet API (default: self-signed)")
	f.StringVar(&cfg.TLSKeyFile, "tls-private-key-file", cfg.TLSKeyFile, "key of --tls-cert-file")
	f.StringVar(&cfg.ClientCAFile, "client-ca-file", cfg.ClientCAFile, "CA that signs the client certificates the kubelet API accepts")
	f.IntVar(&cfg.MaxPods, "max-pods", cfg.MaxPods, "how many pods the node admits")
	f.BoolVar(&cfg.AllowPrivileged, "allow-privileged", cfg.AllowPrivileged, "admit pods with privileged containers")
	f.StringSliceVar(&cfg.AllowedUnsafeSysctls, "allowed-unsafe-sysctls", cfg.AllowedUnsafeSysctls, "unsafe sysctls (or patterns ending in *, e.g. kernel.msg*,net.core.somaxconn) pods may set besides the safe ones; only namespaced ones")
	f.IntVar(&cfg.MaxParallelStarts, "max-parallel-starts", cfg.MaxParallelStarts, "pods set up at once")
	f.Var(cliflag.NewMapStringString(&cfg.SystemReserved), "system-reserved", "resources held back for the system, e.g. cpu=200m,memory=500Mi,ephemeral-storage=1Gi,pid=1000")
	f.Var(cliflag.NewMapStringString(&cfg.KubeReserved), "kube-reserved", "resources held back for Kubernetes' own daemons, as --system-reserved")
	f.Var(cliflag.NewMapStringString(&cfg.NodeLabels), "node-labels", "labels the node registers with, key=value,...")
	f.StringVar(&cfg.ContainerLogMaxSize, "container-log-max-size", cfg.ContainerLogMaxSize, "size (a quantity such as 10Mi) beyond which a container's log is rotated")
	f.IntVar(&cfg.ContainerLogMaxFiles, "container-log-max-files", cfg.ContainerLogMaxFiles, "how many files of a container's log are kept, the live one included")
	f.StringVar(&cfg.NetworkPlugin, "network-plugin", cfg.NetworkPlugin, "cni (pods get an IP on the node's CNI network) or none (pods have loopback only)")
	f.StringVar(&cfg.CNIBinDir, "cni-bin-dir", cfg.CNIBinDir, "directory of the CNI plugins")
	f.StringVar(&cfg.CNIConfDir, "cni-conf-dir", cfg.CNIConfDir, "directory of the CNI network configuration; when it holds none, a bridge network over the pod CIDR is written there")
	f.StringVar(&cfg.CNICacheDir, "cni-cache-dir", cfg.CNICacheDir, "libcni's cache of the pods' attachments (default: <root-dir>/cni/cache)")
	f.StringVar(&cfg.PodCIDR, "pod-cidr", cfg.PodCIDR, "the pods' IP range, for the default CNI network (a cluster node takes its spec.podCIDR when this is empty)")
	f.StringSliceVar(&cfg.ClusterDNS, "cluster-dns", cfg.ClusterDNS, "IPs of the cluster DNS servers, the nameservers of pods with dnsPolicy ClusterFirst")
	f.StringVar(&cfg.ClusterDomain, "cluster-domain", cfg.ClusterDomain, "the cluster's DNS domain, searched by pods with dnsPolicy ClusterFirst")
	f.StringVar(&cfg.ProxyMode, "proxy-mode", cfg.ProxyMode, "ipvs (a cluster node serves Service VIPs through the kernel's IPVS, on kube-ipvs0, with an nftables masquerade table) or none")
	f.StringVar(&cfg.ClusterCIDR, "cluster-cidr", cfg.ClusterCIDR, "the cluster's pod network; the service proxy masquerades Service traffic from outside it (empty: all of it)")
	f.StringVar(&cfg.SeccompProfileRoot, "seccomp-profile-root", cfg.SeccompProfileRoot, "directory of the Localhost seccomp profiles, JSON runtime-spec LinuxSeccomp files that a pod's seccompProfile.localhostProfile names relative to it (default: <root-dir>/seccomp)")
	f.BoolVar(&cfg.SeccompDefault, "seccomp-default", cfg.SeccompDefault, "give the RuntimeDefault seccomp profile to containers whose pod asks for none; on by default, unlike upstream's kubelet (--seccomp-default=false runs them Unconfined)")
	f.DurationVar(&cfg.FileCheckFrequency, "file-check-frequency", cfg.FileCheckFrequency, "how often the manifest directory is read again without an event")
	return cmd
}

// run wires the agent together and blocks until ctx ends. Pods keep running
// when the agent stops.
func run(ctx context.Context, cfg config.Config) error {
	tree := cgroup.NewTree(cfg.CgroupRoot)
	klog.InfoS("Starting kubelet-lite", "version", version.String(), "node", cfg.NodeName,
		"cgroupVersion", tree.Version(), "cgroupRoot", tree.Root(), "rootDir", cfg.RootDir, "cluster", cfg.Kubeconfig != "")
	a := &agent{cfg: cfg, tree: tree}
	if err := a.build(ctx); err != nil {
		return err
	}
	defer a.broadcaster.Shutdown()
	a.start(ctx)
	healthz := ""
	if a.cluster != nil {
		healthz = cfg.HealthzAddr // served with the kubelet API
	}
	go notifyReady(ctx, healthz)
	a.workers.Run(ctx)
	klog.InfoS("kubelet-lite stopped; pods keep running")
	return nil
}

// nodeAllocatable is the cpu and memory pods are admitted against: the
// machine's, less the reservations, as the Node reports it.
func nodeAllocatable(cfg config.Config) (corev1.ResourceList, error) {
	system, err := config.ParseReserved(cfg.SystemReserved)
	if err != nil {
		return nil, err
	}
	kube, err := config.ParseReserved(cfg.KubeReserved)
	if err != nil {
		return nil, err
	}
	all, err := node.Allocatable(nil, cfg.RootDir, cfg.MaxPods, system, kube)
	if err != nil {
		return nil, fmt.Errorf("node allocatable: %w", err)
	}
	klog.InfoS("Pods are admitted against", "cpu", all.Cpu(), "memory", all.Memory(), "pods", cfg.MaxPods)
	return corev1.ResourceList{corev1.ResourceCPU: all[corev1.ResourceCPU], corev1.ResourceMemory: all[corev1.ResourceMemory]}, nil
}

// images adapts the image store to what the pod workers ask of it.
type images struct{ store *image.Store }

func (i images) Ensure(ctx context.Context, ref string, policy corev1.PullPolicy, onPull func()) (podworker.Image, bool, error) {
	img, pulled, err := i.store.Ensure(ctx, ref, policy, authn.Anonymous, onPull)
	if err != nil {
		return podworker.Image{}, false, err
	}
	return podworker.Image{
		Ref: img.Ref, ID: img.ID, RepoDigest: img.RepoDigest,
		Entrypoint: img.Entrypoint, Cmd: img.Cmd, Env: img.Env,
		WorkingDir: img.WorkingDir, User: img.User, Layers: img.Layers, Size: img.Size,
	}, pulled, nil
}

// volumes adds the volume package's admission check to its manager.
type volumes struct{ *volume.Manager }

func (volumes) Supported(pod *corev1.Pod) error { return volume.Supported(pod) }

// podNetwork reaches a pod from inside its sandbox's network namespace;
// pods have no address on the node yet.
func podNetwork(rt *sandbox.Runtime) func(types.UID) (prober.PodNetwork, error) {
	return func(uid types.UID) (prober.PodNetwork, error) {
		pods, err := rt.ListPods()
		if err != nil {
			return prober.PodNetwork{}, err
		}
		for _, p := range pods {
			if p.UID == uid && p.SandboxPID > 0 {
				return prober.PodNetwork{Dialer: prober.NetnsDialer(p.SandboxPID)}, nil
			}
		}
		return prober.PodNetwork{}, fmt.Errorf("pod %s has no running sandbox", uid)
	}
}
