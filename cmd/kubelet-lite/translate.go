package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"

	"github.com/kubelet-lite/kubelet-lite/pkg/config"
	"github.com/kubelet-lite/kubelet-lite/pkg/podsource"
	"github.com/kubelet-lite/kubelet-lite/pkg/translate"
)

// translateOptions are the flags of "kubelet-lite translate".
type translateOptions struct {
	file         string
	output       string
	podPidsLimit int64
	nodeName     string
}

func newTranslateCmd() *cobra.Command {
	// The defaults are run's, so that translate predicts what run does.
	def := config.Default()
	o := translateOptions{output: "tree", podPidsLimit: def.PodPidsLimit, nodeName: def.NodeName}
	cmd := &cobra.Command{
		Use:   "translate -f pod.yaml",
		Short: "Print the QoS class, cgroups and cgroup v2 values a pod manifest becomes",
		Args:  cobra.NoArgs,
		// A bad manifest is not a usage mistake.
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTranslate(cmd.InOrStdin(), cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.file, "filename", "f", "", `pod manifest (YAML or JSON); "-" reads stdin`)
	f.StringVarP(&o.output, "output", "o", o.output, "output format: tree or json")
	f.Int64Var(&o.podPidsLimit, "pod-pids-limit", o.podPidsLimit, "pod pids.max; -1 for max, 0 to leave it unset")
	f.StringVar(&o.nodeName, "hostname-override", o.nodeName, "node name for the static pod UID of a manifest without metadata.uid")
	_ = cmd.MarkFlagRequired("filename")
	return cmd
}

func runTranslate(stdin io.Reader, out io.Writer, o translateOptions) error {
	if o.output != "tree" && o.output != "json" {
		return fmt.Errorf("output %q: must be tree or json", o.output)
	}
	data, err := readManifest(stdin, o.file)
	if err != nil {
		return err
	}
	pod, err := podsource.DecodePod(data)
	if err != nil {
		return fmt.Errorf("decode %s: %w", o.file, err)
	}
	if pod.UID == "" {
		if o.nodeName == "" {
			return fmt.Errorf("%s has no metadata.uid and the node name is unknown: set --hostname-override", o.file)
		}
		pod.UID = podsource.StaticPodUID(pod, o.nodeName)
	}
	res, err := translate.Pod(pod, translate.Node{PodPidsLimit: o.podPidsLimit})
	if err != nil {
		return fmt.Errorf("translate %s: %w", o.file, err)
	}
	if o.output == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(newTranslateJSON(res))
	}
	return writeTree(out, res)
}

func readManifest(stdin io.Reader, file string) ([]byte, error) {
	if file == "-" {
		data, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("read stdin: %w", err)
		}
		return data, nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	return data, nil
}

// translateJSON is the -o json shape.
type translateJSON struct {
	QOSClass   corev1.PodQOSClass    `json:"qosClass"`
	Pod        cgroupJSON            `json:"pod"`
	Containers []containerCgroupJSON `json:"containers"`
}

type cgroupJSON struct {
	Cgroup string            `json:"cgroup"`
	Files  map[string]string `json:"files"`
}

type containerCgroupJSON struct {
	Name   string            `json:"name"`
	Init   bool              `json:"init"`
	Cgroup string            `json:"cgroup"`
	Files  map[string]string `json:"files"`
}

func newTranslateJSON(res *translate.Result) translateJSON {
	out := translateJSON{
		QOSClass:   res.QOSClass,
		Pod:        cgroupJSON{Cgroup: res.Pod.Path, Files: res.Pod.Resources.V2Files()},
		Containers: make([]containerCgroupJSON, 0, len(res.Containers)),
	}
	for _, c := range res.Containers {
		out.Containers = append(out.Containers, containerCgroupJSON{
			Name: c.Name, Init: c.Init, Cgroup: c.Path, Files: c.Resources.V2Files(),
		})
	}
	return out
}

// writeTree prints the pod cgroup, its files, and its containers below it.
func writeTree(out io.Writer, res *translate.Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "QoS: %s\n%s\n", res.QOSClass, res.Pod.Path)
	writeFiles(&b, "  ", res.Pod.Resources.V2Files())
	for i, c := range res.Containers {
		branch, indent := "├─", "│  "
		if i == len(res.Containers)-1 {
			branch, indent = "└─", "   "
		}
		kind := "container"
		if c.Init {
			kind = "init container"
		}
		fmt.Fprintf(&b, "  %s %s (%s)\n", branch, c.Name, kind)
		writeFiles(&b, "  "+indent, c.Resources.V2Files())
	}
	_, err := io.WriteString(out, b.String())
	return err
}

func writeFiles(b *strings.Builder, indent string, files map[string]string) {
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(b, "%s%s = %s\n", indent, name, files[name])
	}
}
