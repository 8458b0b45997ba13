package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubelet-lite/kubelet-lite/pkg/config"
	"github.com/kubelet-lite/kubelet-lite/pkg/sandbox"
	"github.com/kubelet-lite/kubelet-lite/pkg/status"
)

// psPod is one line of `ps -o json`: what the runtime runs for a pod, and the
// status the agent last reported for it.
type psPod struct {
	sandbox.PodState
	Status *corev1.PodStatus `json:",omitempty"`
}

func newPsCmd() *cobra.Command {
	cfg := config.Default()
	var output string
	cmd := &cobra.Command{
		Use:   "ps",
		Short: "List the pods and containers on this node with their state, restarts, cgroup and pid",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return fmt.Errorf("--output %q: want table or json", output)
			}
			pods, err := listPods(cfg)
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(pods)
			}
			return printPods(cmd.OutOrStdout(), pods)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	cmd.Flags().StringVar(&cfg.RootDir, "root-dir", cfg.RootDir, "the agent's state directory")
	return cmd
}

// listPods joins the runtime's state with the reported statuses; a pod the
// node refused has a status and nothing in the runtime.
func listPods(cfg config.Config) ([]psPod, error) {
	rt, err := sandbox.New(sandbox.Config{Root: cfg.SandboxDir(), CgroupRoot: cfg.CgroupRoot, ReadOnly: true})
	if err != nil {
		return nil, err
	}
	running, err := rt.ListPods()
	if err != nil {
		return nil, err
	}
	records, err := status.Files{Dir: cfg.StatusDir()}.List()
	if err != nil {
		return nil, err
	}
	statuses := map[types.UID]status.Record{}
	for _, r := range records {
		statuses[r.UID] = r
	}
	pods := []psPod{}
	for _, p := range running {
		pp := psPod{PodState: p}
		if r, ok := statuses[p.UID]; ok {
			pp.Status = &r.Status
			delete(statuses, p.UID)
		}
		pods = append(pods, pp)
	}
	for _, r := range records {
		if _, ok := statuses[r.UID]; ok {
			pods = append(pods, psPod{PodState: sandbox.PodState{UID: r.UID, Namespace: r.Namespace, Name: r.Name}, Status: &r.Status})
		}
	}
	return pods, nil
}

func printPods(out io.Writer, pods []psPod) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "POD\tCONTAINER\tSTATE\tRESTARTS\tPID\tAGE\tCGROUP")
	for _, p := range pods {
		phase := "-"
		if p.Status != nil {
			phase = string(p.Status.Phase)
			if p.Status.Reason != "" {
				phase += " " + p.Status.Reason + ": " + p.Status.Message
			}
		}
		fmt.Fprintf(w, "%s/%s\t(pod)\t%s\t-\t%d\t-\t-\n", p.Namespace, p.Name, phase, p.SandboxPID)
		seen := map[string]bool{}
		for _, c := range p.Containers {
			seen[c.Name] = true
			fmt.Fprintf(w, "%s/%s\t%s\t%s\t%d\t%d\t%s\t%s\n", p.Namespace, p.Name, c.Name, containerState(c, p.Status), c.Attempt, c.PID, age(c.StartedAt), c.Cgroup)
		}
		if p.Status == nil {
			continue
		}
		for _, cs := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
			if !seen[cs.Name] && cs.State.Waiting != nil {
				fmt.Fprintf(w, "%s/%s\t%s\t%s\t%d\t-\t-\t-\n", p.Namespace, p.Name, cs.Name, waitingText(cs.State.Waiting), cs.RestartCount)
			}
		}
	}
	return w.Flush()
}

// containerState is the runtime's state, or the reported waiting reason when
// the container waits to be (re)started.
func containerState(c sandbox.ContainerStatus, st *corev1.PodStatus) string {
	if st != nil {
		for _, cs := range append(st.InitContainerStatuses, st.ContainerStatuses...) {
			if cs.Name == c.Name && cs.State.Waiting != nil && c.State != sandbox.StateRunning {
				return waitingText(cs.State.Waiting)
			}
		}
	}
	if c.State != sandbox.StateExited {
		return string(c.State)
	}
	s := fmt.Sprintf("%s(%d)", c.State, c.ExitCode)
	if c.Reason != "" {
		s += " " + c.Reason
	}
	return s
}

func waitingText(w *corev1.ContainerStateWaiting) string {
	if w.Message == "" {
		return w.Reason
	}
	return w.Reason + ": " + w.Message
}

func age(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return time.Since(t).Round(time.Second).String()
}
